// PostgreSQL knowledge: what its configuration files accept, how they quote, and how pgca turns
// a profile into pg_hba.conf, pg_ident.conf, the server's ssl_* include and libpq service files.
// Facts and error strings come from PostgreSQL 15 (hba.c, guc.c, fe-connect.c) and were checked
// against a real server (see the integration tests).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgca {
struct Profile;
struct ServerSpec;
struct ClientSpec;
}  // namespace pgca

namespace pgca::pg {

/// True for the methods PostgreSQL 15's pg_hba.conf accepts.
[[nodiscard]] bool is_auth_method(std::string_view method);
[[nodiscard]] std::string auth_method_names();

/// Throws Error(policy) unless `token` can be written as one pg_hba.conf database or user token:
/// printable UTF-8, no longer than PostgreSQL 15 reads a token (10239 bytes written bare, 10238
/// written in quotes or bare before a list's comma: hba.c's MAX_TOKEN buffer holds 10240 with
/// its '\0'), not a `/regex` (PostgreSQL 16 reads those as regular expressions even when
/// quoted), and not a `+group` or `@file` whose name would need quoting (quoting removes their
/// meaning). `field` is "database" or "user"; `before_comma` when another token follows it in
/// the same list.
void validate_hba_token(std::string_view token, std::string_view field, bool literal = false,
                        bool before_comma = false);

/// Throws Error(policy) unless `address` is a CIDR (a.b.c.d/n, x::y/n), `all`, `samehost`,
/// `samenet`, a host name or a `.domain` suffix. A bare IP is refused: PostgreSQL needs the mask.
void validate_hba_address(std::string_view address);

/// Throws Error(policy) unless `path` can be written into postgresql.conf / pg_service.conf:
/// printable UTF-8 with no control characters (a newline would end the setting).
void validate_conf_path(std::string_view path, std::string_view what);

/// Throws Error(policy) unless `name = value` is an ssl setting pgca may write into the server
/// include (ssl_min/max_protocol_version, ssl_ciphers, ssl_prefer_server_ciphers, ssl_ecdh_curve,
/// ssl_dh_params_file) with a value PostgreSQL 15 accepts at reload. Settings pgca manages itself
/// (ssl, ssl_cert_file, ssl_key_file, ssl_ca_file, ssl_crl_*) are refused.
void validate_server_setting(std::string_view name, std::string_view value);

/// Throws Error(policy) unless `name = value` is a libpq keyword pgca may write into a service
/// entry, with a value libpq 15 accepts. sslrootcert/sslcert/sslkey are managed by pgca.
void validate_client_setting(std::string_view name, std::string_view value);

/// `token` as pg_hba.conf / pg_ident.conf must spell it to mean the literal name: bare when
/// that is unambiguous, otherwise in double quotes with `"` doubled.
[[nodiscard]] std::string quote_name(std::string_view token);

/// `token` from a profile's database/user field as written in pg_hba.conf: keywords (all,
/// sameuser, samerole, samegroup, replication for databases; all for users) and `+group`
/// stay bare, everything else is quoted as a literal name where needed. With `literal`, the
/// token is always the literal name (keywords quoted, a leading + or @ quoted).
[[nodiscard]] std::string hba_token(std::string_view token, bool database_field, bool literal = false);

/// A postgresql.conf string literal that PostgreSQL's configuration parser reads back as
/// `value`: '…' with ' and \ doubled (the parser reads \t as a TAB and \\ as a backslash).
/// Throws Error(policy) for a control character, which no such string can hold.
[[nodiscard]] std::string conf_string(std::string_view value);

/// One line of pg_ident.conf.
struct IdentLine {
    std::string map;
    std::string system_user;  ///< the certificate CN, or its RFC 2253 DN for clientname=DN
    std::string pg_user;
    bool operator==(const IdentLine& o) const {
        return map == o.map && system_user == o.system_user && pg_user == o.pg_user;
    }
};

/// pg_hba.conf and pg_ident.conf for a profile, with what pgca changed and why.
struct AccessPlan {
    struct HbaLine {
        std::size_t rule;               ///< index in profile.hba
        std::vector<std::string> fields;  ///< type, database, user, [address], method, options…
        std::vector<std::string> notes;   ///< comments written above the line
    };
    std::vector<HbaLine> hba;
    std::vector<IdentLine> ident;
    std::vector<std::string> warnings;  ///< "hba[3]: …" — also written into the files as comments
};

/// Turns the profile's access rules into lines PostgreSQL 15 accepts at reload. Rewrites what has
/// a valid equivalent (`cert clientcert=verify-ca` → `cert`, with a warning); adds `map=` to
/// `cert` rules covering clients whose CN is not their role name, and the pg_ident lines they
/// need. Throws Error(profile) with the JSON path for anything that cannot be made valid.
[[nodiscard]] AccessPlan plan_access(const Profile& profile);

[[nodiscard]] std::string render_hba(const Profile& profile, const AccessPlan& plan);
[[nodiscard]] std::string render_ident(const Profile& profile, const AccessPlan& plan);

/// Absolute paths the server include names (on this machine, or under install_dir).
struct ServerFiles {
    std::string cert;     ///< ssl_cert_file: leaf + intermediate
    std::string key;      ///< ssl_key_file
    std::string ca;       ///< ssl_ca_file: CAs trusted for client certificates
    std::string crl_file; ///< ssl_crl_file: one PEM with the CRL of every CA in the chain
    std::string crl_dir;  ///< ssl_crl_dir: the same CRLs under their hashed names
};

/// The `postgresql.ssl.conf` include for one server.
[[nodiscard]] std::string render_server_conf(const Profile& profile, const ServerSpec& server,
                                             const ServerFiles& files);

/// Absolute paths a client's service entry names.
struct ClientFiles {
    std::string root_cert;  ///< sslrootcert
    std::string cert;       ///< sslcert
    std::string key;        ///< sslkey
};

/// A pg_service.conf for one client: a section named after the profile for the first server,
/// and, when there are several servers, one `[PROFILE-SERVER]` section per server.
[[nodiscard]] std::string render_service(const Profile& profile, const ClientSpec& client, const ClientFiles& files);

}  // namespace pgca::pg
