// The PostgreSQL ledger backend: the only file that talks to a PostgreSQL ledger (libpq).
//
// Transactions and isolation, per operation:
//  - a writer's transaction is READ COMMITTED. Every writer that holds lock_exclusive() takes the
//    transaction-scoped advisory lock (kLockClass, kWriterLock) as the first statement of each
//    begin(), so writers' transactions run one at a time and READ COMMITTED sees everything the
//    previous writer committed. Serials are unique by the constraint certificates_issuer_serial
//    whatever the lock; record_crl is one INSERT … ON CONFLICT DO UPDATE … WHERE number <
//    EXCLUDED.number, which takes the CA's row lock, so CRL numbers strictly increase even
//    between writers that took no lock;
//  - a reader's transaction (read_only) is REPEATABLE READ READ ONLY: one snapshot, no lock;
//  - a statement outside begin()/commit() runs in its own implicit transaction.
// No session-level lock is ever taken: everything pgca holds ends with its transaction, so the
// ledger works behind PgBouncer in transaction mode. COMMIT failing (a serialization failure, a
// dropped connection) is Error(ledger): a transaction is atomic, nothing is half-recorded.
//
// Batching: inside a transaction record() only buffers the row (a serial already buffered is
// refused at once); the buffer goes to the server as one INSERT … SELECT FROM unnest(arrays)
// before the next statement that reads or changes certificates, every kFlushRows rows, and at
// commit(). set_status() of a stored row is buffered too (one UPDATE … FROM unnest). So a bulk
// apply of 10,000 clients makes a handful of round trips, not 20,000.
#include <libpq-fe.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ledger/backends.hpp"
#include "ledger/columns.hpp"
#include "ledger/postgres/migrations.hpp"
#include "pgca/error.hpp"
#include "pgca/ledger.hpp"

namespace pgca {
namespace {

// The advisory locks pgca takes, always transaction-scoped (pg_advisory_xact_lock(int, int)):
// class 0x70676361 ("pgca" in ASCII), object 1 for the writers' lock, 2 for schema migrations.
// A database holds one ledger, so the keys are constants.
constexpr int kLockClass = 0x70676361;
constexpr int kWriterLock = 1;
constexpr int kMigrationLock = 2;
// Rows buffered by record() before they are sent without waiting for a read or commit().
constexpr std::size_t kFlushRows = 2000;

const std::size_t kMigrationCount = detail::postgres_migrations().size();

const std::string kLockArgs = std::to_string(kLockClass) + ", ";

using Params = std::vector<std::optional<std::string>>;

class Result final {
public:
    explicit Result(PGresult* r) : r_(r) {}
    ~Result() { PQclear(r_); }
    Result(Result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    Result& operator=(Result&&) = delete;

    [[nodiscard]] int rows() const { return PQntuples(r_); }
    [[nodiscard]] bool ok() const {
        const ExecStatusType s = PQresultStatus(r_);
        return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    }
    [[nodiscard]] std::string sqlstate() const {
        const char* s = PQresultErrorField(r_, PG_DIAG_SQLSTATE);
        return s != nullptr ? s : "";
    }
    [[nodiscard]] std::string message() const {
        std::string m = r_ != nullptr ? PQresultErrorMessage(r_) : "out of memory";
        while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
        return m;
    }
    [[nodiscard]] std::string cmd_status() const { return PQcmdStatus(r_); }
    [[nodiscard]] long affected() const { return std::strtol(PQcmdTuples(r_), nullptr, 10); }

    /// One row, with the accessors ledger/columns.hpp reads.
    struct Row {
        const PGresult* r;
        int i;
        [[nodiscard]] std::string text(int col) const {
            return {PQgetvalue(r, i, col), static_cast<std::size_t>(PQgetlength(r, i, col))};
        }
        [[nodiscard]] std::int64_t integer(int col) const { return std::strtoll(PQgetvalue(r, i, col), nullptr, 10); }
        [[nodiscard]] bool null(int col) const { return PQgetisnull(r, i, col) != 0; }
    };
    [[nodiscard]] Row row(int i) const { return {r_, i}; }

private:
    PGresult* r_;
};

// host, hostaddr, port, dbname and user of a URI or conninfo: what an error may show (never the
// password, nor any other option).
std::string describe_target(const std::string& url) {
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (opts == nullptr) {
        std::string why = err != nullptr ? err : "out of memory";
        PQfreemem(err);
        while (!why.empty() && why.back() == '\n') why.pop_back();
        throw Error(ErrorKind::usage, "PostgreSQL ledger: the connection string does not parse: " + why);
    }
    std::string out;
    for (const char* key : {"host", "hostaddr", "port", "dbname", "user"})
        for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
            if (std::strcmp(o->keyword, key) == 0 && o->val != nullptr && *o->val != '\0')
                out += (out.empty() ? "" : " ") + std::string(key) + "=" + o->val;
    PQconninfoFree(opts);
    return "PostgreSQL ledger (" + (out.empty() ? std::string("libpq defaults") : out) + ")";
}

// A PostgreSQL array literal of text values ({"a","b",NULL}).
std::string array_literal(const std::vector<std::optional<std::string>>& values) {
    std::string out = "{";
    for (const auto& v : values) {
        if (out.size() > 1) out += ',';
        if (!v) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char c : *v) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + "}";
}

// What lock_exclusive() leaves for the ledger's begin(): shared, so that a lock object outliving
// its ledger stays harmless.
struct LockState {
    bool held = false;
    int timeout_seconds = 0;
};

class PostgresLedger final : public Ledger {
public:
    PostgresLedger(const std::string& url, bool read_only)
        : target_(describe_target(url)), read_only_(read_only), lock_(std::make_shared<LockState>()) {
        char host[64] = {};
        ::gethostname(host, sizeof host - 1);
        // application_name: who holds the writers' lock, for another writer's error message.
        const std::string app = ("pgca " + std::to_string(::getpid()) + "@" + host).substr(0, 63);
        std::vector<const char*> keys, values;
        if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) {  // every wait has a bound
            keys.push_back("connect_timeout");
            values.push_back("10");
        }
        keys.push_back("fallback_application_name");
        values.push_back(app.c_str());
        keys.push_back("dbname");  // expanded: the URI or conninfo, whose own settings win
        values.push_back(url.c_str());
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_ = PQconnectdbParams(keys.data(), values.data(), 1);
        if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
            const std::string why = connection_message();
            PQfinish(conn_);
            conn_ = nullptr;
            throw Error(ErrorKind::ledger, "connect to " + target_ + ": " + why);
        }
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
        // A refusal below leaves the constructor, so the destructor will not close the connection.
        try {
            if (read_only) {
                exec("SET default_transaction_read_only = on");
                const std::size_t version = schema_version();
                if (version < kMigrationCount)
                    throw Error(ErrorKind::ledger, target_ + " has schema version " + std::to_string(version) +
                                                       " and needs migrating to " + std::to_string(kMigrationCount) +
                                                       ", which a read-only command does not do; run a command that "
                                                       "writes (e.g. `pgca crl`) first");
                check_not_newer(version);
            } else {
                migrate();
            }
        } catch (...) {
            PQfinish(conn_);
            conn_ = nullptr;
            throw;
        }
    }
    ~PostgresLedger() override { PQfinish(conn_); }
    PostgresLedger(const PostgresLedger&) = delete;
    PostgresLedger& operator=(const PostgresLedger&) = delete;

    void begin() override {
        if (in_txn_) throw Error(ErrorKind::ledger, target_ + ": a transaction is already open");
        if (PQstatus(conn_) != CONNECTION_OK) {
            PQreset(conn_);  // a connection lost between transactions: its transaction is over anyway
            if (PQstatus(conn_) != CONNECTION_OK)
                throw Error(ErrorKind::ledger, "reconnect to " + target_ + ": " + connection_message());
        }
        exec(read_only_ ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN ISOLATION LEVEL READ COMMITTED");
        in_txn_ = true;
        failed_.clear();
        if (lock_->held) {
            try {
                take_writer_lock(lock_->timeout_seconds);
            } catch (...) {
                rollback();
                throw;
            }
        }
    }

    void commit() override {
        if (!in_txn_) throw Error(ErrorKind::ledger, target_ + ": no transaction to commit");
        try {
            flush();
        } catch (...) {
            rollback();
            throw;
        }
        if (!failed_.empty()) {
            const std::string why = failed_;
            rollback();
            throw Error(ErrorKind::ledger, target_ + ": nothing of this transaction was recorded: " + why);
        }
        in_txn_ = false;
        Result r(PQexec(conn_, "COMMIT"));
        if (!r.ok() && PQstatus(conn_) != CONNECTION_OK)
            throw Error(ErrorKind::ledger, "commit to " + target_ + ": the connection was lost (" + r.message() +
                                               "); the transaction was recorded whole or not at all, run `pgca "
                                               "list` to see which");
        if (!r.ok() || r.cmd_status() != "COMMIT")  // COMMIT of a failed transaction says ROLLBACK
            throw Error(ErrorKind::ledger, "commit to " + target_ + " failed, nothing of this transaction was "
                                           "recorded: " + (r.ok() ? std::string("the transaction had failed") : r.message()));
    }

    void rollback() noexcept override {
        pending_.clear();
        pending_keys_.clear();
        pending_status_.clear();
        failed_.clear();
        if (!in_txn_) return;
        in_txn_ = false;
        PQclear(PQexec(conn_, "ROLLBACK"));
    }

    void record(const LedgerEntry& e) override {
        const std::string key = e.issuer + '\n' + e.serial;
        if (pending_keys_.count(key) != 0) throw Error(ErrorKind::ledger, detail::duplicate_serial_message(e));
        pending_.push_back(e);
        pending_keys_.insert(key);
        // Outside a transaction the row goes at once, so that its duplicate is refused here.
        if (!in_txn_ || pending_.size() >= kFlushRows) flush();
    }

    void set_status(const std::string& issuer, const std::string& serial, CertStatus status) override {
        const std::string key = issuer + '\n' + serial;
        if (in_txn_ && pending_keys_.count(key) == 0) {
            // A stored row (or none): commutes with the buffered inserts, which never hold it.
            pending_status_[key] = status;
            return;
        }
        flush();
        query("UPDATE certificates SET status = $1 WHERE issuer = $2 AND serial = $3",
              {std::string(to_string(status)), issuer, serial});
    }

    std::optional<LedgerEntry> current(CertKind kind, const std::string& name) override {
        auto r = select(" WHERE kind = $1 AND name = $2 AND status = 'valid' ORDER BY id DESC LIMIT 1",
                        {std::string(to_string(kind)), name});
        if (r.empty()) return std::nullopt;
        return std::move(r.front());
    }

    std::vector<LedgerEntry> list() override { return select(" ORDER BY id", {}); }

    std::vector<LedgerEntry> valid_entries() override { return select(" WHERE status = 'valid' ORDER BY id", {}); }

    std::vector<LedgerEntry> by_name(CertKind kind, const std::string& name) override {
        return select(" WHERE kind = $1 AND name = $2 ORDER BY id", {std::string(to_string(kind)), name});
    }

    std::vector<LedgerEntry> by_serial(const std::string& serial) override {
        // As the SQLite backend: stored serials are whole bytes, up to three zeros longer.
        return select(" WHERE serial IN ($1, '0' || $1, '00' || $1, '000' || $1) ORDER BY id",
                      {detail::bare_serial(serial)});
    }

    std::vector<Revocation> revocations(const std::string& issuer, std::time_t now) override {
        flush();
        Result r = query("SELECT serial, revoked_at, revocation_reason, id FROM certificates "
                         "WHERE issuer = $1 AND status = 'revoked' AND not_after > $2 ORDER BY id",
                         {issuer, std::to_string(now)});
        std::vector<Revocation> out;
        out.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) {
            const auto row = r.row(i);
            out.push_back({row.text(0), static_cast<std::time_t>(row.integer(1)),
                           detail::reason_column(row, 2, row.integer(3)).value_or(RevocationReason::unspecified)});
        }
        return out;
    }

    std::vector<std::string> valid_names(CertKind kind) override {
        flush();
        // COLLATE "C": sorted by bytes like the other backends, whatever the database's collation.
        Result r = query("SELECT DISTINCT name COLLATE \"C\" AS name FROM certificates WHERE kind = $1 AND status = "
                         "'valid' ORDER BY 1",
                         {std::string(to_string(kind))});
        std::vector<std::string> out;
        for (int i = 0; i < r.rows(); ++i) out.push_back(r.row(i).text(0));
        return out;
    }

    bool revoke(const std::string& issuer, const std::string& serial, std::time_t when,
                RevocationReason reason) override {
        flush();
        Result r = query("UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = $2 "
                         "WHERE issuer = $3 AND serial = $4 AND status <> 'revoked'",
                         {std::to_string(when), std::string(to_string(reason)), issuer, serial});
        return r.affected() > 0;
    }

    std::optional<CrlState> crl_state(const std::string& issuer) override {
        Result r = query("SELECT issuer, number, this_update, next_update, entries FROM crls WHERE issuer = $1", {issuer});
        if (r.rows() == 0) return std::nullopt;
        const auto row = r.row(0);
        CrlState c;
        c.issuer = row.text(0);
        c.number = row.integer(1);
        c.this_update = static_cast<std::time_t>(row.integer(2));
        c.next_update = static_cast<std::time_t>(row.integer(3));
        c.entries = row.integer(4);
        return c;
    }

    void record_crl(const CrlState& c) override {
        // ON CONFLICT DO UPDATE locks the CA's row: a concurrent record_crl waits for this
        // transaction and then compares with what it committed.
        Result r = query("INSERT INTO crls (issuer, number, this_update, next_update, entries) VALUES ($1, $2, $3, $4, $5) "
                         "ON CONFLICT (issuer) DO UPDATE SET number = EXCLUDED.number, this_update = "
                         "EXCLUDED.this_update, next_update = EXCLUDED.next_update, entries = EXCLUDED.entries "
                         "WHERE crls.number < EXCLUDED.number RETURNING number",
                         {c.issuer, std::to_string(c.number), std::to_string(c.this_update),
                          std::to_string(c.next_update), std::to_string(c.entries)});
        if (r.rows() == 0)
            throw Error(ErrorKind::ledger, "CRL number " + std::to_string(c.number) + " for \"" + c.issuer +
                                               "\" is not greater than the last one");
    }

    // Transaction-scoped only (see the top of this file): the lock object marks the ledger, and
    // every begin() while it lives first takes the writers' advisory lock, waiting at most
    // `timeout_seconds`. It is also taken once here (in a transaction of its own), so that a
    // writer learns at once that another one holds the ledger. Between two transactions of the
    // holder another writer may run: the exclusion is per transaction, which is what every
    // caller (PkiDir::transact) needs.
    std::unique_ptr<LedgerLock> lock_exclusive(int timeout_seconds) override {
        class Lock final : public LedgerLock {
        public:
            explicit Lock(std::shared_ptr<LockState> state) : state_(std::move(state)) {}
            ~Lock() override { state_->held = false; }

        private:
            std::shared_ptr<LockState> state_;
        };
        if (lock_->held) {
            // The same connection already holds it: only its release (from this thread) can
            // end the wait, so a wait without limit is refused at once.
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(std::max(0, timeout_seconds));
            while (timeout_seconds > 0 && lock_->held && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            if (lock_->held)
                throw Error(ErrorKind::io, target_ + " is locked by another writer's lock on this same connection; "
                                           "gave up after " + std::to_string(std::max(0, timeout_seconds)) +
                                           " s (--lock-timeout)");
        }
        if (in_txn_) {
            take_writer_lock(timeout_seconds);
        } else {
            exec("BEGIN");
            in_txn_ = true;
            try {
                take_writer_lock(timeout_seconds);
            } catch (...) {
                rollback();
                throw;
            }
            in_txn_ = false;
            exec("COMMIT");
        }
        lock_->held = true;
        lock_->timeout_seconds = timeout_seconds;
        return std::make_unique<Lock>(lock_);
    }

    std::optional<std::string> get_meta(const std::string& key) override {
        Result r = query("SELECT value FROM meta WHERE key = $1", {key});
        if (r.rows() == 0) return std::nullopt;
        return r.row(0).text(0);
    }

    void set_meta(const std::string& key, const std::string& value) override {
        query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
              {key, value});
    }

private:
    std::string connection_message() const {
        std::string m = conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory";
        while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
        return m;
    }

    [[noreturn]] void fail(const std::string& what, const Result& r) const {
        throw Error(ErrorKind::ledger, target_ + ": " + what + ": " + (PQstatus(conn_) != CONNECTION_OK
                                                                           ? "connection lost: " + r.message()
                                                                           : r.message()));
    }

    // Runs `sql` (statements without parameters); throws unless it succeeded.
    Result exec(const std::string& sql) {
        Result r(PQexec(conn_, sql.c_str()));
        if (!r.ok()) fail(sql.substr(0, sql.find_first_of(" \n")), r);
        return r;
    }

    Result query_unchecked(const std::string& sql, const Params& params) {
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
        return Result(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                   nullptr, nullptr, 0));
    }

    Result query(const std::string& sql, const Params& params) {
        Result r = query_unchecked(sql, params);
        if (!r.ok()) fail(sql.substr(0, sql.find(' ')) + " (" + r.sqlstate() + ")", r);
        return r;
    }

    std::vector<LedgerEntry> select(const std::string& where, const Params& params) {
        flush();
        Result r = query(std::string("SELECT ") + detail::kSelectColumns + " FROM certificates" + where, params);
        std::vector<LedgerEntry> out;
        out.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) out.push_back(detail::entry_from_row(r.row(i)));
        return out;
    }

    // Sends what record() and set_status() buffered. A serial already stored for its issuer makes
    // the whole buffer unrecorded (rolled back to a savepoint) and the transaction unable to
    // commit: the Error names it.
    void flush() {
        if (!pending_status_.empty()) {
            std::vector<std::optional<std::string>> issuers, serials, statuses;
            for (const auto& [key, status] : pending_status_) {
                const std::size_t nl = key.find('\n');
                issuers.emplace_back(key.substr(0, nl));
                serials.emplace_back(key.substr(nl + 1));
                statuses.emplace_back(std::string(to_string(status)));
            }
            pending_status_.clear();
            query("UPDATE certificates AS c SET status = u.status FROM unnest($1::text[], $2::text[], $3::text[]) "
                  "AS u(issuer, serial, status) WHERE c.issuer = u.issuer AND c.serial = u.serial",
                  {array_literal(issuers), array_literal(serials), array_literal(statuses)});
        }
        if (pending_.empty()) return;
        std::vector<LedgerEntry> rows = std::move(pending_);
        pending_.clear();
        pending_keys_.clear();
        std::vector<std::vector<std::optional<std::string>>> cols(16);
        for (auto& c : cols) c.reserve(rows.size());
        for (const auto& e : rows) {
            const detail::ParamColumns p = detail::param_columns(e.params);
            const std::optional<std::string> values[16] = {
                e.serial, e.issuer, std::string(to_string(e.kind)), e.name, e.subject,
                std::to_string(e.not_before), std::to_string(e.not_after), e.fingerprint,
                std::to_string(e.issued_at), e.cert_file_sha256, e.key_file_sha256,
                p.hosts, p.cn, p.key_alg, std::to_string(p.days), p.key_passphrase};
            for (std::size_t i = 0; i < 16; ++i) cols[i].push_back(values[i]);
        }
        Params params;
        for (const auto& c : cols) params.emplace_back(array_literal(c));
        if (in_txn_) exec("SAVEPOINT pgca_record");
        Result r = query(
            "INSERT INTO certificates (serial, issuer, kind, name, subject, not_before, not_after, fingerprint, "
            "status, issued_at, cert_file_sha256, key_file_sha256, hosts, cn, key_alg, days, key_passphrase) "
            "SELECT serial, issuer, kind, name, subject, not_before, not_after, fingerprint, 'valid', issued_at, "
            "cert_file_sha256, key_file_sha256, hosts, cn, key_alg, days, key_passphrase FROM unnest("
            "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], "
            "$9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::integer[], "
            "$16::text[]) WITH ORDINALITY AS u(serial, issuer, kind, name, subject, not_before, not_after, "
            "fingerprint, issued_at, cert_file_sha256, key_file_sha256, hosts, cn, key_alg, days, key_passphrase, "
            "ord) ORDER BY ord ON CONFLICT ON CONSTRAINT certificates_issuer_serial DO NOTHING RETURNING issuer, serial",
            params);
        if (static_cast<std::size_t>(r.rows()) == rows.size()) {
            if (in_txn_) exec("RELEASE SAVEPOINT pgca_record");
            return;
        }
        std::set<std::pair<std::string, std::string>> stored;
        for (int i = 0; i < r.rows(); ++i) stored.emplace(r.row(i).text(0), r.row(i).text(1));
        std::string why = "a serial is already recorded";
        for (const auto& e : rows)
            if (stored.count({e.issuer, e.serial}) == 0) {
                why = detail::duplicate_serial_message(e);
                break;
            }
        if (in_txn_) {
            exec("ROLLBACK TO SAVEPOINT pgca_record");
            exec("RELEASE SAVEPOINT pgca_record");
            failed_ = why;  // rows record() already returned for are gone: the commit must fail
        }
        throw Error(ErrorKind::ledger, why);
    }

    // The writers' advisory lock for the open transaction, waiting at most `timeout_seconds`
    // (negative: no limit); then Error(io) naming the holder.
    void take_writer_lock(int timeout_seconds) {
        const std::string lock = "(" + kLockArgs + std::to_string(kWriterLock) + ")";
        if (timeout_seconds == 0) {
            Result r = exec("SELECT pg_try_advisory_xact_lock" + lock);
            if (r.row(0).text(0) == "t") return;
        } else {
            // lock_timeout for this statement only: the transaction's own row locks keep the default.
            Result r(PQexec(conn_, ("SET LOCAL lock_timeout = " +
                                    std::to_string(timeout_seconds < 0 ? 0 : timeout_seconds * 1000) +
                                    "; SELECT pg_advisory_xact_lock" + lock + "; SET LOCAL lock_timeout = DEFAULT")
                                       .c_str()));
            if (r.ok()) return;
            if (r.sqlstate() != "55P03") fail("take the writers' lock", r);
        }
        rollback();
        throw Error(ErrorKind::io, target_ + " is locked by " + lock_holder() + "; gave up after " +
                                       std::to_string(std::max(0, timeout_seconds)) + " s (--lock-timeout)");
    }

    // "another writer (pgca 4242@ci-3, user ca, from 10.0.0.7)", as far as this user may see.
    std::string lock_holder() {
        Result r = query_unchecked(
            "SELECT coalesce(a.application_name, ''), coalesce(a.usename::text, ''), "
            "coalesce(host(a.client_addr), 'local'), a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.granted",
            {std::to_string(kLockClass), std::to_string(kWriterLock)});
        if (!r.ok() || r.rows() == 0) return "another writer";
        const auto row = r.row(0);
        std::string who = row.text(0).empty() ? "server pid " + row.text(3) : row.text(0);
        if (!row.text(1).empty()) who += ", user " + row.text(1);
        return "another writer (" + who + ", from " + row.text(2) + ")";
    }

    // Read from pg_class, not with to_regclass(): a scan of the catalog takes its lock and so
    // sees a table another connection created while this one waited for the migration lock
    // (to_regclass may answer from a stale cache entry of this session).
    bool version_table_exists() {
        return exec("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'pgca_schema_version' AND "
                    "relnamespace = current_schema()::regnamespace)")
                   .row(0)
                   .text(0) == "t";
    }

    std::size_t schema_version() {
        if (!version_table_exists()) return 0;
        Result v = exec("SELECT version FROM pgca_schema_version");
        return v.rows() == 0 ? 0 : static_cast<std::size_t>(v.row(0).integer(0));
    }

    void check_not_newer(std::size_t version) const {
        if (version > kMigrationCount)
            throw Error(ErrorKind::ledger, detail::newer_schema_message(target_, version, kMigrationCount));
    }

    // Each migration in one transaction that first takes the migration advisory lock, and then
    // reads the version again: two machines upgrading at once run each migration once.
    void migrate() {
        const std::size_t seen = schema_version();
        check_not_newer(seen);
        if (seen == kMigrationCount) return;
        while (true) {
            exec("BEGIN");
            in_txn_ = true;
            try {
                exec("SELECT pg_advisory_xact_lock(" + kLockArgs + std::to_string(kMigrationLock) + ")");
                if (!version_table_exists())
                    exec("CREATE TABLE pgca_schema_version (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
                         "version integer NOT NULL); INSERT INTO pgca_schema_version (version) VALUES (0)");
                const std::size_t version = schema_version();
                check_not_newer(version);
                if (version == kMigrationCount) {
                    in_txn_ = false;
                    exec("COMMIT");
                    return;
                }
                exec(detail::postgres_migrations()[version]);
                exec("UPDATE pgca_schema_version SET version = " + std::to_string(version + 1));
                in_txn_ = false;
                exec("COMMIT");
            } catch (...) {
                rollback();
                throw;
            }
        }
    }

    std::string target_;
    bool read_only_ = false;
    PGconn* conn_ = nullptr;
    bool in_txn_ = false;
    std::string failed_;  // why the open transaction cannot commit, "" if it can
    std::shared_ptr<LockState> lock_;
    std::vector<LedgerEntry> pending_;
    std::set<std::string> pending_keys_;  // issuer '\n' serial of pending_
    std::map<std::string, CertStatus> pending_status_;
};

}  // namespace

bool ledger_url_has_password(const std::string& url) {
    if (url.compare(0, 7, "sqlite:") == 0 || url == "memory:") return false;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), nullptr);
    if (opts == nullptr) return false;  // not a PostgreSQL URL: open_ledger names what is wrong
    bool found = false;
    for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
        if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr && *o->val != '\0') found = true;
    PQconninfoFree(opts);
    return found;
}

std::unique_ptr<Ledger> detail::open_postgres_ledger(const std::string& url, bool read_only) {
    return std::make_unique<PostgresLedger>(url, read_only);
}

}  // namespace pgca
