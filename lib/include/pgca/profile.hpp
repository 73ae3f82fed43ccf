// The JSON profile (version 1): one deployment's CA, servers, clients and access rules.
#pragma once

#include <map>
#include <optional>
#include <set>
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

/// The key files a client bundle holds beside postgresql.key (PEM, always written).
struct ClientFormats {
    bool pk8 = false;  ///< postgresql.pk8: unencrypted PKCS#8 DER, pgjdbc's default key file
    bool p12 = false;  ///< postgresql.p12: PKCS#12 under alias "user", encrypted with defaults.p12_passphrase
    [[nodiscard]] bool any() const noexcept { return pk8 || p12; }
    bool operator==(const ClientFormats& o) const noexcept { return pk8 == o.pk8 && p12 == o.p12; }
};

struct Defaults {
    KeyAlg key = KeyAlg::ec_p256;
    int server_days = 397;
    int client_days = 365;
    int renew_before_days = 30;
    /// CRL lifetime. PostgreSQL refuses every client certificate once a CRL's nextUpdate has
    /// passed, so pgca makes long-lived CRLs and refreshes them when a third of this is left.
    int crl_days = 90;
    ClientFormats client_formats;     ///< for clients without their own "formats"
    PassphraseSource p12_passphrase;  ///< encrypts every postgresql.p12; required when a client has p12
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
    std::optional<int> port;  ///< the port clients connect to; unset = libpq's default (5432)
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
    std::optional<ClientFormats> formats;

    /// The CN the certificate carries.
    [[nodiscard]] const std::string& common_name() const noexcept { return cn.empty() ? user : cn; }
};

/// A PgBouncer in front of one server (README "PgBouncer"): pgca issues its server certificate
/// (clients → pooler, SANs = hosts) and its client certificate (pooler → PostgreSQL, CN =
/// common_name()), which PostgreSQL maps to exactly the pooled roles.
struct PoolerSpec {
    std::string name;                ///< folder name under poolers/; [A-Za-z0-9_.-], no server's name
    std::vector<std::string> hosts;  ///< the names clients reach it by
    int port = 6432;                 ///< listen_port
    std::string upstream;            ///< the servers[].name it connects to
    /// The pooled roles: profile clients whose CN is their role name ("all": every such client).
    std::vector<std::string> users;
    std::set<std::string, std::less<>> user_set;  ///< the same, for pools()
    /// Clients "all" left out because their CN is not their role name (PgBouncer 1.18 compares
    /// the CN with the user name and has no maps): the warning names them.
    std::vector<std::string> left_out;
    std::string address = "all";     ///< where it connects to PostgreSQL from (a pg_hba.conf address)
    std::string install_dir;         ///< where its files live on the pooler's host; "" = here
    std::optional<KeyAlg> key;
    std::optional<int> days;

    /// The CN of its client certificate, which pg_ident.conf maps to the pooled roles.
    [[nodiscard]] std::string common_name() const { return "pooler:" + name; }
    [[nodiscard]] bool pools(std::string_view user) const { return user_set.count(user) != 0; }
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
    std::vector<PoolerSpec> poolers;
    std::map<std::string, std::string> server_settings;  ///< extra ssl_* GUCs, validated
    std::map<std::string, std::string> client_settings;  ///< libpq keywords, validated

    [[nodiscard]] const ClientSpec* find_client(std::string_view user) const;
    [[nodiscard]] const ServerSpec* find_server(std::string_view name) const;
    [[nodiscard]] const PoolerSpec* find_pooler(std::string_view name) const;
    [[nodiscard]] KeyAlg server_key(const ServerSpec& s) const { return s.key.value_or(defaults.key); }
    [[nodiscard]] int server_days(const ServerSpec& s) const { return s.days.value_or(defaults.server_days); }
    [[nodiscard]] KeyAlg client_key(const ClientSpec& c) const { return c.key.value_or(defaults.key); }
    [[nodiscard]] int client_days(const ClientSpec& c) const { return c.days.value_or(defaults.client_days); }
    [[nodiscard]] ClientFormats client_formats(const ClientSpec& c) const {
        return c.formats.value_or(defaults.client_formats);
    }
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
