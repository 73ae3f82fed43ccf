// The SQLite ledger backend: the only file that talks to SQLite.
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "ledger/backends.hpp"
#include "ledger/columns.hpp"
#include "ledger/sqlite/migrations.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/ledger.hpp"

namespace pgca {
namespace {

// The numbered migrations (sqlite/migrations/NNNN_*.sql, embedded at build time, in order);
// PRAGMA user_version says how many have run.
const std::size_t kMigrationCount = detail::sqlite_migrations().size();

class Stmt final {
public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
            throw Error(ErrorKind::ledger, std::string("prepare statement: ") + sqlite3_errmsg(db));
    }
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(int i, const std::string& v) {
        check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Stmt& bind(int i, std::int64_t v) {
        check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    /// Binds NULL for std::nullopt.
    Stmt& bind(int i, const std::optional<std::string>& v) {
        if (v) return bind(i, *v);
        check(sqlite3_bind_null(stmt_, i));
        return *this;
    }
    /// True while there is a row.
    bool step() {
        int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw Error(ErrorKind::ledger, std::string(sqlite3_errmsg(db_)));
    }
    std::string text(int col) const {
        const unsigned char* p = sqlite3_column_text(stmt_, col);
        return p != nullptr ? std::string(reinterpret_cast<const char*>(p),
                                          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
                            : std::string();
    }
    std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
    bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
    /// Makes a prepared statement ready to run again with new bindings.
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }

private:
    void check(int rc) {
        if (rc != SQLITE_OK) throw Error(ErrorKind::ledger, std::string("bind: ") + sqlite3_errmsg(db_));
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

class SqliteLedger final : public Ledger {
public:
    SqliteLedger(const std::string& path, bool read_only) : path_(path), read_only_(read_only) {
        if (read_only) {
            open_read_only();
            return;
        }
        // The ledger holds no secrets but lists every identity; keep it private like the keys.
        // Created here with its mode (an empty file is an empty database), not by narrowing the
        // process umask, which other threads share.
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ::close(fd);
        } else if (errno != EEXIST) {
            throw Error(ErrorKind::ledger, "create ledger \"" + path + "\": " + std::strerror(errno));
        }
        int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
        check_open(rc);
        sqlite3_busy_timeout(db_, 30000);
        exec("PRAGMA journal_mode = WAL");
        exec("PRAGMA synchronous = FULL");
        exec("PRAGMA foreign_keys = ON");
        migrate();
    }
    ~SqliteLedger() override {
        insert_.reset();
        update_status_.reset();
        sqlite3_close(db_);
    }

    // A reader's transaction is a snapshot; a writer's takes the write lock at once.
    void begin() override { exec(read_only_ ? "BEGIN" : "BEGIN IMMEDIATE"); }
    void commit() override { exec("COMMIT"); }
    void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

    void record(const LedgerEntry& e) override {
        // Prepared once: a bulk apply records thousands of rows in one transaction.
        if (!insert_)
            insert_ = std::make_unique<Stmt>(
                db_, "INSERT INTO certificates (serial, issuer, kind, name, subject, not_before, not_after, "
                     "fingerprint, status, issued_at, cert_file_sha256, key_file_sha256, "
                     "hosts, cn, key_alg, days, key_passphrase) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'valid', ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
        Stmt& s = *insert_;
        s.reset();
        const std::string kind(to_string(e.kind));
        s.bind(1, e.serial).bind(2, e.issuer).bind(3, kind).bind(4, e.name).bind(5, e.subject);
        s.bind(6, static_cast<std::int64_t>(e.not_before)).bind(7, static_cast<std::int64_t>(e.not_after));
        s.bind(8, e.fingerprint).bind(9, static_cast<std::int64_t>(e.issued_at));
        s.bind(10, e.cert_file_sha256).bind(11, e.key_file_sha256);
        bind_params(s, 12, e.params);
        try {
            s.step();
        } catch (const Error& err) {
            throw Error(ErrorKind::ledger, "record " + kind + " certificate \"" + e.name + "\" (serial " + e.serial +
                                               "): " + err.what());
        }
    }

    void set_status(const std::string& issuer, const std::string& serial, CertStatus status) override {
        if (!update_status_)
            update_status_ = std::make_unique<Stmt>(db_, "UPDATE certificates SET status = ?1 WHERE issuer = ?2 AND serial = ?3");
        Stmt& s = *update_status_;
        s.reset();
        s.bind(1, std::string(to_string(status))).bind(2, issuer).bind(3, serial);
        s.step();
    }

    std::vector<LedgerEntry> valid_entries() override {
        Stmt s(db_, (std::string(kSelect) + " WHERE status = 'valid' ORDER BY id").c_str());
        return rows(s);
    }

    std::optional<LedgerEntry> current(CertKind kind, const std::string& name) override {
        Stmt s(db_, (std::string(kSelect) +
                     " WHERE kind = ?1 AND name = ?2 AND status = 'valid' ORDER BY id DESC LIMIT 1").c_str());
        s.bind(1, std::string(to_string(kind))).bind(2, name);
        if (!s.step()) return std::nullopt;
        return detail::entry_from_row(s);
    }

    std::vector<LedgerEntry> list() override {
        Stmt s(db_, (std::string(kSelect) + " ORDER BY id").c_str());
        return rows(s);
    }

    std::vector<LedgerEntry> by_name(CertKind kind, const std::string& name) override {
        Stmt s(db_, (std::string(kSelect) + " WHERE kind = ?1 AND name = ?2 ORDER BY id").c_str());
        s.bind(1, std::string(to_string(kind))).bind(2, name);
        return rows(s);
    }

    std::vector<LedgerEntry> by_serial(const std::string& serial) override {
        // Serials are stored as whole bytes of upper-case hex ("0F3A…", and "00…" from the fast
        // path when the first byte is zero); an operator may type them in any case, with or
        // without the leading zeros.
        const std::string bare = detail::bare_serial(serial);
        Stmt s(db_, (std::string(kSelect) + " WHERE serial IN (?1, '0' || ?1, '00' || ?1, '000' || ?1) ORDER BY id").c_str());
        s.bind(1, bare);
        return rows(s);
    }

    std::vector<Revocation> revocations(const std::string& issuer, std::time_t now) override {
        // Three columns, not whole rows: a CRL may list 100,000 certificates.
        Stmt s(db_, "SELECT serial, revoked_at, revocation_reason, id FROM certificates "
                    "WHERE issuer = ?1 AND status = 'revoked' AND not_after > ?2 ORDER BY id");
        s.bind(1, issuer).bind(2, static_cast<std::int64_t>(now));
        std::vector<Revocation> out;
        while (s.step())
            out.push_back({s.text(0), static_cast<std::time_t>(s.integer(1)),
                           detail::reason_column(s, 2, s.integer(3)).value_or(RevocationReason::unspecified)});
        return out;
    }

    std::vector<std::string> valid_names(CertKind kind) override {
        Stmt s(db_, "SELECT DISTINCT name FROM certificates WHERE kind = ?1 AND status = 'valid' ORDER BY name");
        s.bind(1, std::string(to_string(kind)));
        std::vector<std::string> out;
        while (s.step()) out.push_back(s.text(0));
        return out;
    }

    bool revoke(const std::string& issuer, const std::string& serial, std::time_t when,
                RevocationReason reason) override {
        Stmt s(db_, "UPDATE certificates SET status = 'revoked', revoked_at = ?1, revocation_reason = ?2 "
                    "WHERE issuer = ?3 AND serial = ?4 AND status <> 'revoked'");
        s.bind(1, static_cast<std::int64_t>(when)).bind(2, std::string(to_string(reason))).bind(3, issuer).bind(4, serial);
        s.step();
        return sqlite3_changes(db_) > 0;
    }

    std::optional<CrlState> crl_state(const std::string& issuer) override {
        Stmt s(db_, "SELECT issuer, number, this_update, next_update, entries FROM crls WHERE issuer = ?1");
        s.bind(1, issuer);
        if (!s.step()) return std::nullopt;
        CrlState c;
        c.issuer = s.text(0);
        c.number = s.integer(1);
        c.this_update = static_cast<std::time_t>(s.integer(2));
        c.next_update = static_cast<std::time_t>(s.integer(3));
        c.entries = s.integer(4);
        return c;
    }

    void record_crl(const CrlState& c) override {
        Stmt s(db_, "INSERT INTO crls (issuer, number, this_update, next_update, entries) VALUES (?1, ?2, ?3, ?4, ?5) "
                    "ON CONFLICT (issuer) DO UPDATE SET number = excluded.number, this_update = excluded.this_update, "
                    "next_update = excluded.next_update, entries = excluded.entries WHERE excluded.number > crls.number");
        s.bind(1, c.issuer).bind(2, c.number).bind(3, static_cast<std::int64_t>(c.this_update));
        s.bind(4, static_cast<std::int64_t>(c.next_update)).bind(5, c.entries);
        s.step();
        if (sqlite3_changes(db_) == 0)
            throw Error(ErrorKind::ledger, "CRL number " + std::to_string(c.number) + " for \"" + c.issuer +
                                               "\" is not greater than the last one");
    }

    // The writers' lock is the folder's DIR/.lock beside the database (flock, with the holder's
    // pid, start time and command written in it): the same file every pgca version takes.
    std::unique_ptr<LedgerLock> lock_exclusive(int timeout_seconds) override {
        class Lock final : public LedgerLock {
        public:
            Lock(const std::string& dir, int timeout) : lock_(dir, timeout) {}

        private:
            io::DirLock lock_;
        };
        const std::size_t slash = path_.rfind('/');
        const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
        return std::make_unique<Lock>(dir, timeout_seconds);
    }

    std::optional<std::string> get_meta(const std::string& key) override {
        Stmt s(db_, "SELECT value FROM meta WHERE key = ?1");
        s.bind(1, key);
        if (!s.step()) return std::nullopt;
        return s.text(0);
    }

    void set_meta(const std::string& key, const std::string& value) override {
        Stmt s(db_, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        s.bind(1, key).bind(2, value);
        s.step();
    }

private:
    static inline const std::string kSelect = std::string("SELECT ") + detail::kSelectColumns + " FROM certificates";

    static std::vector<LedgerEntry> rows(Stmt& s) {
        std::vector<LedgerEntry> out;
        while (s.step()) out.push_back(detail::entry_from_row(s));
        return out;
    }

    // The typed columns of IssueParams, bound from `first` on: hosts, cn, key_alg, days,
    // key_passphrase (NULL where not known or not the kind's).
    static void bind_params(Stmt& s, int first, const IssueParams& p) {
        const detail::ParamColumns c = detail::param_columns(p);
        s.bind(first, c.hosts).bind(first + 1, c.cn).bind(first + 2, c.key_alg);
        s.bind(first + 3, c.days).bind(first + 4, c.key_passphrase);
    }

    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err != nullptr ? err : "unknown error";
            sqlite3_free(err);
            throw Error(ErrorKind::ledger, "ledger \"" + path_ + "\": " + msg);
        }
    }

    void check_open(int rc) {
        if (rc == SQLITE_OK) return;
        std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
        sqlite3_close(db_);
        db_ = nullptr;
        throw Error(ErrorKind::ledger, "open ledger \"" + path_ + "\": " + msg);
    }

    // For commands that only read: never created, never migrated, no write statement allowed
    // (query_only), so no write lock is ever taken and a WAL reader never waits for a writer; the
    // busy timeout only covers the moment a writer's checkpoint or WAL recovery holds the index.
    // Not SQLITE_OPEN_READONLY: such a connection creates pgca.db-wal and -shm when they are
    // missing and cannot remove them when it closes, so a `list` would leave files behind. A
    // file the user may not write is still opened, read-only.
    void open_read_only() {
        check_open(sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr));
        try {
            sqlite3_busy_timeout(db_, 5000);
            exec("PRAGMA query_only = ON");
            const std::size_t version = schema_version();
            if (version < kMigrationCount)
                throw Error(ErrorKind::ledger, "ledger \"" + path_ + "\" has schema version " + std::to_string(version) +
                                                   " and needs migrating to " + std::to_string(kMigrationCount) +
                                                   ", which a read-only command does not do; run a command that "
                                                   "writes (e.g. `pgca crl`) first");
            check_not_newer(version);
        } catch (...) {
            sqlite3_close(db_);
            db_ = nullptr;
            throw;
        }
    }

    std::size_t schema_version() {
        Stmt v(db_, "PRAGMA user_version");
        v.step();
        return static_cast<std::size_t>(v.integer(0));
    }

    void check_not_newer(std::size_t version) const {
        if (version > kMigrationCount)
            throw Error(ErrorKind::ledger, detail::newer_schema_message("\"" + path_ + "\"", version, kMigrationCount));
    }

    // Each migration in its own transaction. The version is read again inside it: another
    // writer may have migrated while this one waited for SQLite's write lock (the folder's lock
    // is taken after the ledger is opened, see lock_exclusive).
    void migrate() {
        check_not_newer(schema_version());
        while (true) {
            exec("BEGIN IMMEDIATE");
            try {
                const std::size_t version = schema_version();
                check_not_newer(version);
                if (version == kMigrationCount) {
                    exec("COMMIT");
                    return;
                }
                exec(detail::sqlite_migrations()[version]);
                exec(("PRAGMA user_version = " + std::to_string(version + 1)).c_str());
                exec("COMMIT");
            } catch (...) {
                rollback();
                throw;
            }
        }
    }

    std::string path_;
    bool read_only_ = false;
    sqlite3* db_ = nullptr;
    std::unique_ptr<Stmt> insert_;
    std::unique_ptr<Stmt> update_status_;
};

}  // namespace

std::unique_ptr<Ledger> detail::open_sqlite_ledger(const std::string& path, bool read_only) {
    return std::make_unique<SqliteLedger>(path, read_only);
}

}  // namespace pgca
