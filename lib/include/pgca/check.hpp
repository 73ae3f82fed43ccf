// `pgca check`: a doctor for a PostgreSQL TLS deployment. It reads a pgca folder, or any PGDATA
// (postgresql.conf and its includes), and the live server (the TLS handshake, and
// pg_file_settings / pg_hba_file_rules when it can log in), and reports what PostgreSQL or libpq
// would refuse, or will soon. Findings are data; only bad use of the call itself throws.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace pgca::check {

enum class Severity { error, warning };
[[nodiscard]] std::string_view to_string(Severity s) noexcept;

/// One problem found. `code` is stable (README lists every code); `object` names the file,
/// server, role or line; `fix` says what to do about it.
struct Finding {
    std::string code;
    Severity severity = Severity::error;
    std::string object;
    std::string message;
    std::string fix;
};

struct Options {
    std::string dir;      ///< a pgca folder ("" = none)
    std::string pgdata;   ///< a PGDATA folder or a postgresql.conf ("" = none)
    std::string server;   ///< only this server of `dir` ("" = every server)
    std::string connect;  ///< HOST:PORT of the live server ("" = none)
    /// Log in to the live server (libpq: the PG* environment, e.g. PGSERVICEFILE + PGSERVICE of a
    /// pgca client bundle) to read pg_file_settings and pg_hba_file_rules.
    bool login = false;
    int expiring_days = 30;    ///< certificates and CRLs ending within this are warnings
    int timeout_ms = 10000;    ///< the probe's and the login's bound each
    unsigned jobs = 0;         ///< threads for client bundles (0 = the cores)
    std::time_t now = 0;       ///< 0 = the current time
};

struct Result {
    std::vector<Finding> findings;  ///< errors first, then warnings, each in the order found
    std::size_t servers = 0;        ///< server file sets checked
    std::size_t clients = 0;        ///< client bundles checked
    [[nodiscard]] bool has_error() const noexcept;
};

/// Runs every check `options` make possible. Throws Error(usage) when it names nothing to check
/// (or --server without --dir), Error(input) when `dir` is not a pgca folder or `pgdata` has no
/// postgresql.conf; everything else wrong becomes a finding.
[[nodiscard]] Result run(const Options& options);

}  // namespace pgca::check
