// The ledger: the inventory of every certificate pgca issued, behind an interface so that a
// shared PostgreSQL backend can stand beside the embedded SQLite one.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/crl.hpp"
#include "pgca/issue_params.hpp"

namespace pgca {

/// Where a certificate stands. A "valid" one past its notAfter stays "valid" in the ledger
/// (nothing runs at that moment); readers compare not_after themselves.
enum class CertStatus { valid, revoked, superseded, expired };

/// "valid", "revoked", "superseded", "expired": the ledger's and the CLI's spelling.
[[nodiscard]] std::string_view to_string(CertStatus status) noexcept;
/// Parses the spelling above; std::nullopt if unknown.
[[nodiscard]] std::optional<CertStatus> parse_cert_status(std::string_view text) noexcept;
/// The RFC 5280 name of a revocation reason, "" for none (as the ledger and the CLI show it).
[[nodiscard]] std::string_view to_string(const std::optional<RevocationReason>& reason) noexcept;

/// One issued certificate.
struct LedgerEntry {
    std::int64_t id = 0;
    std::string serial;        ///< upper-case hex
    std::string issuer;        ///< issuer DN (RFC 2253); serials are unique per issuer
    CertKind kind = CertKind::unknown;
    std::string name;          ///< server name, role name, or "root" / "intermediate"
    std::string subject;       ///< RFC 2253
    std::time_t not_before = 0;
    std::time_t not_after = 0;
    std::string fingerprint;   ///< SHA-256 of the DER
    CertStatus status = CertStatus::valid;
    /// What it was issued with (what decides whether to re-issue). Its kind and name are the
    /// entry's: Ledger::record stores `kind` and `name`, and every read fills both.
    IssueParams params;
    std::time_t issued_at = 0;
    std::time_t revoked_at = 0;      ///< 0 unless revoked
    std::optional<RevocationReason> revocation_reason;  ///< std::nullopt unless revoked
    /// SHA-256 (hex) of the certificate file and the key file as written, so that `apply` can
    /// tell in microseconds whether the files on disk are still the ones it issued. "" for
    /// entries recorded before these were kept, and for CAs.
    std::string cert_file_sha256;
    std::string key_file_sha256;
};

/// One revoked certificate, as a CRL lists it.
struct Revocation {
    std::string serial;            ///< upper-case hex
    std::time_t revoked_at = 0;
    RevocationReason reason = RevocationReason::unspecified;
};

/// The newest CRL pgca made for one CA.
struct CrlState {
    std::string issuer;         ///< CA subject DN (RFC 2253)
    std::int64_t number = 0;    ///< cRLNumber, increasing per CA
    std::time_t this_update = 0;
    std::time_t next_update = 0;
    std::int64_t entries = 0;
};

/// A writer's exclusion from every other writer of the same ledger, held while it lives.
class LedgerLock {
public:
    virtual ~LedgerLock() = default;
};

/// Storage for the inventory. Every mutating command runs inside one transaction.
///
/// The contract every backend keeps (tests/unit/ledger_conformance_test.cpp checks it):
///  - a transaction is all or nothing: rollback() restores every row, CRL state and meta value
///    to what begin() saw; ids are assigned increasing, in the order of record();
///  - lists are oldest first (record order) unless said otherwise;
///  - kind, status, revocation reason and IssueParams come back as recorded.
class Ledger {
public:
    virtual ~Ledger() = default;

    /// Takes the writers' lock, waiting at most `timeout_seconds` (negative: no limit) for the
    /// writer that holds it; then throws Error(io) naming the holder. A second lock on the same
    /// ledger, from this process or another, waits like any writer. Readers take none.
    ///
    /// PostgreSQL: only transaction-scoped locks exist there (they work behind PgBouncer in
    /// transaction mode), so the exclusion holds during each transaction (begin() to commit())
    /// of the lock's lifetime, each begin() waiting at most `timeout_seconds`, not between two
    /// of them; lock_exclusive() itself waits once for the current holder. A second lock on the
    /// same Ledger object without limit is refused at once instead of waiting for itself.
    [[nodiscard]] virtual std::unique_ptr<LedgerLock> lock_exclusive(int timeout_seconds) = 0;

    virtual void begin() = 0;
    virtual void commit() = 0;
    virtual void rollback() noexcept = 0;

    /// Records a newly issued certificate with status "valid" (whatever `entry.status` says),
    /// not revoked, under a new id. Throws Error(ledger) when its serial is already known for
    /// the same issuer, and then records nothing.
    ///
    /// PostgreSQL, inside a transaction: rows are buffered and sent in one statement before
    /// the next read and at commit(). A serial already buffered throws here; one already stored
    /// throws Error(ledger) naming it from that later call, and then the transaction records
    /// nothing (its commit() throws): a caller that rolls back on any error (in_transaction,
    /// PkiDir::transact) sees no difference.
    virtual void record(const LedgerEntry& entry) = 0;
    /// Sets the status of the certificate (issuer, serial); nothing when there is none.
    virtual void set_status(const std::string& issuer, const std::string& serial, CertStatus status) = 0;
    /// The newest "valid" certificate of `kind` named `name`, if any.
    [[nodiscard]] virtual std::optional<LedgerEntry> current(CertKind kind, const std::string& name) = 0;
    /// Every certificate, oldest first.
    [[nodiscard]] virtual std::vector<LedgerEntry> list() = 0;
    /// Every certificate whose status is "valid", oldest first.
    [[nodiscard]] virtual std::vector<LedgerEntry> valid_entries() = 0;
    /// Every certificate of `kind` named `name`, oldest first.
    [[nodiscard]] virtual std::vector<LedgerEntry> by_name(CertKind kind, const std::string& name) = 0;
    /// Every certificate whose serial is `serial` (hex in either letter case, with any number of
    /// leading zeros; one per issuer at most).
    [[nodiscard]] virtual std::vector<LedgerEntry> by_serial(const std::string& serial) = 0;
    /// The revoked certificates `issuer` signed that have not expired at `now` (what its CRL
    /// lists), oldest first.
    [[nodiscard]] virtual std::vector<Revocation> revocations(const std::string& issuer, std::time_t now) = 0;
    /// The names of `kind` (server, client) that have a "valid" certificate, sorted.
    [[nodiscard]] virtual std::vector<std::string> valid_names(CertKind kind) = 0;
    /// Marks a certificate revoked at `when` for `reason`. Returns false (and changes nothing)
    /// if it already was, or there is no such certificate.
    virtual bool revoke(const std::string& issuer, const std::string& serial, std::time_t when,
                        RevocationReason reason) = 0;

    /// The last CRL recorded for `issuer`, if any.
    [[nodiscard]] virtual std::optional<CrlState> crl_state(const std::string& issuer) = 0;
    /// Records a newly made CRL. Throws Error(ledger), changing nothing, unless its number is
    /// greater than the last one's for the same issuer.
    virtual void record_crl(const CrlState& state) = 0;

    /// A small key/value store for the folder's own settings (e.g. the profile last applied).
    [[nodiscard]] virtual std::optional<std::string> get_meta(const std::string& key) = 0;
    virtual void set_meta(const std::string& key, const std::string& value) = 0;
};

struct LedgerOptions {
    /// Open an existing ledger for reading only: nothing written, no schema change, no waiting
    /// for a writer (a reader sees the last commit); a ledger that needs a migration is refused
    /// with a request to run a writing command first.
    bool read_only = false;
};

/// Opens the ledger `url` names, creating it if needed (unless read_only) and bringing its
/// schema up to date:
///  - `sqlite:PATH`: the SQLite file PATH (relative to the working directory unless absolute);
///    a ledger whose schema is newer than this pgca is refused naming both versions;
///  - `postgresql://…` or `postgres://…` (a libpq URI), or a libpq conninfo (`host=… dbname=…`:
///    any string with an `=` and no scheme): the tables of that database (the first schema of
///    its search_path), migrated like SQLite's (lib/src/ledger/postgres/migrations) under a
///    transaction-scoped advisory lock, so two machines upgrading at once are safe; a newer
///    schema is refused naming both versions. Authentication is libpq's own (.pgpass, PGPASSFILE,
///    a client certificate, …); errors name the target by host, port, dbname and user only,
///    never a password. See postgres_ledger.cpp for isolation, locking and batching;
///  - `memory:`: a new, empty ledger in memory, gone with the object.
/// Anything else is Error(usage) naming the URL and the schemes supported. Other failures
/// (connection, schema): Error(ledger).
[[nodiscard]] std::unique_ptr<Ledger> open_ledger(const std::string& url, const LedgerOptions& options = {});

/// Whether `url` carries a password (a PostgreSQL URI's user:password@ or a conninfo's
/// password=), which pgca never writes down nor accepts on a command line.
[[nodiscard]] bool ledger_url_has_password(const std::string& url);

/// Runs `fn(ledger)` in one transaction: commit on return, rollback on exception.
template <class Fn>
decltype(auto) in_transaction(Ledger& ledger, Fn&& fn) {
    ledger.begin();
    try {
        if constexpr (std::is_void_v<decltype(fn(ledger))>) {
            fn(ledger);
            ledger.commit();
        } else {
            auto result = fn(ledger);
            ledger.commit();
            return result;
        }
    } catch (...) {
        ledger.rollback();
        throw;
    }
}

}  // namespace pgca
