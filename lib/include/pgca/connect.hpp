// `pgca connect`: the one line a driver needs to reach a server with a client bundle, over TLS
// with the bundle's certificate. Each driver has its own syntax (conninfo, URL, connection
// string), escaping rules and set of settings; some ignore libpq's service files entirely.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgca {

enum class Driver { libpq, jdbc, psycopg, asyncpg, node, pgx, npgsql };

/// "libpq", "jdbc", … — the spelling of --driver.
[[nodiscard]] std::string_view to_string(Driver driver) noexcept;
[[nodiscard]] std::optional<Driver> parse_driver(std::string_view text) noexcept;
/// Every spelling, comma-separated, for messages and --help.
[[nodiscard]] std::string driver_names();

/// Where a client connects: resolved from a server of the applied profile (a pooler is another
/// source of the same thing).
struct Endpoint {
    std::string kind;                ///< "server"
    std::string name;
    std::vector<std::string> hosts;  ///< the names its certificate holds; clients use the first, as service entries do
    int port = 5432;
};

/// A client bundle's files (absolute paths). pk8 and p12 are "" when the bundle lacks them.
struct ClientBundle {
    std::string user;
    std::string root_cert;
    std::string cert;
    std::string key;  ///< PEM
    std::string pk8;
    std::string p12;
    std::string p12_passphrase;  ///< what decrypts p12 (only read when a driver needs it)
};

struct ConnectLine {
    std::string line;
    std::vector<std::string> warnings;  ///< settings the driver cannot take, a secret in the line
};

/// The line `driver` needs to connect to `endpoint` as `bundle.user` with `bundle`'s files:
/// sslmode from `settings` (the profile's client_settings, validated), the database `dbname`,
/// and every other setting the driver understands (in its own spelling); the others are left
/// out with a warning. Throws Error(input) when the driver cannot use the bundle (pgjdbc needs
/// postgresql.pk8 or postgresql.p12).
[[nodiscard]] ConnectLine render_connect(Driver driver, const Endpoint& endpoint, const ClientBundle& bundle,
                                         const std::string& dbname, const std::map<std::string, std::string>& settings);

namespace ops {

struct ConnectOptions {
    std::string user;
    std::string server;  ///< "" = the first server of the applied profile
    std::string pooler;  ///< "" = none; else connect through this pooler
    Driver driver = Driver::libpq;
};

struct ConnectResult {
    Endpoint endpoint;
    std::string dbname;
    ConnectLine line;
};

/// `pgca connect`: reads the applied profile of `dir` (read-only, no lock) and the bundle
/// clients/USER, resolves the endpoint and renders the line. Throws Error(input) for a role
/// without a bundle, an unknown server or pooler, or a folder no apply has described.
[[nodiscard]] ConnectResult connect(const std::string& dir, const ConnectOptions& options);

}  // namespace ops
}  // namespace pgca
