// The JSON profile (version 1): one deployment's CA, servers, clients and access rules.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/key.hpp"
#include "pgca/name.hpp"
#include "pgca/secret.hpp"

namespace pgca {

struct IntermediateSpec {
    DistinguishedName subject;
    KeyAlg key = KeyAlg::ec_p256;
    int days = 1825;
};

struct CaSpec {
    DistinguishedName subject;
    KeyAlg key = KeyAlg::ec_p256;
    int days = 3650;
    std::optional<IntermediateSpec> intermediate;
    /// When set, the CA keys are stored encrypted (PKCS#8, AES-256) with this passphrase.
    PassphraseSource passphrase;
};

struct Defaults {
    KeyAlg key = KeyAlg::ec_p256;
    int server_days = 397;
    int client_days = 365;
    int renew_before_days = 30;
    /// CRL lifetime. PostgreSQL refuses every client certificate once a CRL's nextUpdate has
    /// passed, so pgca makes long-lived CRLs and refreshes them when a third of this is left.
    int crl_days = 90;
};

/// The oldest versions the deployment runs (`targets`): emitted files use only what these accept.
struct Targets {
    int postgres = 15;               ///< servers[].postgres_version unless a server says otherwise
    int libpq = 15;                  ///< the oldest libpq reading the service files
    std::string pgbouncer = "1.18";  ///< the oldest PgBouncer, "MAJOR.MINOR"
};

struct ServerSpec {
    std::string name;                ///< folder name under servers/; [A-Za-z0-9_.-]
    /// The PostgreSQL major version it runs (servers[].postgres_version, else targets.postgres):
    /// decides what its postgresql.ssl.conf may hold.
    int postgres_version = 15;
    std::vector<std::string> hosts;  ///< SANs; IP literals become iPAddress SANs
    std::string install_dir;         ///< where the files live on the database host; "" = here
    std::optional<KeyAlg> key;
    std::optional<int> days;
    /// "file": ssl_crl_file (needs a reload after a revocation); "dir": ssl_crl_dir with hashed
    /// names, which PostgreSQL reads per connection, so a revocation takes effect without reload.
    std::string crl = "file";
    /// When set, server.key is stored encrypted and the include sets ssl_passphrase_command
    /// (with ssl_passphrase_command_supports_reload = on) to read this source on the host.
    PassphraseSource key_passphrase;
};

struct ClientSpec {
    std::string user;  ///< the PostgreSQL role name, exactly (case-sensitive)
    std::string cn;    ///< certificate CN when it differs from the role name; "" = the role name
    std::string map;   ///< pg_ident map name; required when cn differs from user
    std::optional<KeyAlg> key;
    std::optional<int> days;

    /// The CN the certificate carries.
    [[nodiscard]] const std::string& common_name() const noexcept { return cn.empty() ? user : cn; }
};

/// One pg_hba.conf record as the profile states it (before pgca adds maps or rewrites options).
struct HbaRule {
    std::string type;                   ///< local, host, hostssl, hostnossl, hostgssenc, hostnogssenc
    std::vector<std::string> database;  ///< names or keywords (all, sameuser, samerole, replication)
    std::vector<std::string> user;      ///< names, keywords (all) or +group
    std::vector<bool> database_literal; ///< per database entry: given as {"name": …}, never a keyword
    std::vector<bool> user_literal;     ///< per user entry: given as {"name": …}, never a keyword
    std::string address;                ///< CIDR, all, samehost, samenet, or host name; "" for local
    std::string method;
    std::string clientcert;  ///< "", verify-ca, verify-full
    std::string clientname;  ///< "", CN, DN
    std::string map;

    /// True when the user field holds the keyword `all` (not a role literally named "all").
    [[nodiscard]] bool all_users() const;
    /// True when the user field names `role` (literally, or as a plain name).
    [[nodiscard]] bool names_user(std::string_view role) const;
};

struct Profile {
    std::string source;  ///< where it was read from (for messages), e.g. "profiles/local-dev.json"
    std::string name;
    Targets targets;
    CaSpec ca;
    Defaults defaults;
    std::vector<ServerSpec> servers;
    std::vector<ClientSpec> clients;
    std::vector<HbaRule> hba;
    std::map<std::string, std::string> server_settings;  ///< extra ssl_* GUCs, validated
    std::map<std::string, std::string> client_settings;  ///< libpq keywords, validated

    [[nodiscard]] const ClientSpec* find_client(std::string_view user) const;
    [[nodiscard]] const ServerSpec* find_server(std::string_view name) const;
    [[nodiscard]] KeyAlg server_key(const ServerSpec& s) const { return s.key.value_or(defaults.key); }
    [[nodiscard]] int server_days(const ServerSpec& s) const { return s.days.value_or(defaults.server_days); }
    [[nodiscard]] KeyAlg client_key(const ClientSpec& c) const { return c.key.value_or(defaults.key); }
    [[nodiscard]] int client_days(const ClientSpec& c) const { return c.days.value_or(defaults.client_days); }
};

/// Parses and validates a profile. Unknown keys, wrong types and invalid values throw
/// Error(profile) whose message starts with `source` and the JSON path
/// ("profile.json: hba[3].clientcert: …").
[[nodiscard]] Profile parse_profile(std::string_view json_text, std::string_view source);

/// Reads and parses the profile at `path`. Throws Error(io) if it cannot be read.
[[nodiscard]] Profile load_profile(const std::string& path);

/// Throws Error(policy) naming `what` unless `role` can be a client certificate's role: a
/// PostgreSQL identifier of 1–63 bytes (longer ones are truncated by the server, so a
/// certificate could never match), printable UTF-8, not ending with a blank (libpq's service
/// file reader strips it), and usable as a folder name (no '/', not "." or "..").
void validate_role_name(std::string_view role, std::string_view what);

/// Throws Error(policy) unless `name` is a safe folder or service name: [A-Za-z0-9_.-], not
/// starting with '.', 1–64 bytes.
void validate_simple_name(std::string_view name, std::string_view what);

}  // namespace pgca
