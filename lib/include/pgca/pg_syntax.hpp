// PostgreSQL's configuration syntax: what pg_hba.conf, postgresql.conf and pg_service.conf
// accept, how they quote, and PostgreSQL 15's limits (hba.c, guc-file.l, fe-connect.c, checked
// against a real server by the integration tests). Knows nothing of profiles: the profile
// decoder validates with it, the access rules and renderers quote with it.
#pragma once

#include <string>
#include <string_view>

namespace pgca::pg {

/// True for the connection types of a pg_hba.conf record (local, host, hostssl, hostnossl,
/// hostgssenc, hostnogssenc).
[[nodiscard]] bool is_connection_type(std::string_view type);
/// True for the methods PostgreSQL 15's pg_hba.conf accepts.
[[nodiscard]] bool is_auth_method(std::string_view method);
[[nodiscard]] std::string auth_method_names();
/// True for the methods pg_hba.conf accepts a `map=` option with (ident, peer, gss, sspi, cert).
[[nodiscard]] bool takes_map(std::string_view method);

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

/// The PostgreSQL (and libpq) major versions pgca writes for: `targets` in a profile.
inline constexpr int kOldestMajor = 15;
inline constexpr int kNewestMajor = 18;

/// Throws Error(policy) unless `name = value` is an ssl setting pgca may write into the server
/// include (ssl_min/max_protocol_version, ssl_ciphers, ssl_prefer_server_ciphers, ssl_ecdh_curve,
/// ssl_dh_params_file; ssl_groups and ssl_tls13_ciphers, colon-separated lists) with a value the
/// server that has it accepts at reload. Settings pgca manages itself (ssl, ssl_cert_file,
/// ssl_key_file, ssl_ca_file, ssl_crl_*) are refused.
void validate_server_setting(std::string_view name, std::string_view value);
/// The first PostgreSQL major version that reads server setting `name` (one
/// validate_server_setting accepts): 18 for ssl_groups and ssl_tls13_ciphers, else kOldestMajor.
/// An older server refuses the whole include (`unrecognized configuration parameter`).
[[nodiscard]] int server_setting_since(std::string_view name);

/// Throws Error(policy) unless `name = value` is a libpq keyword pgca may write into a service
/// entry, with a value the libpq that has it accepts. sslrootcert/sslcert/sslkey are managed by
/// pgca.
void validate_client_setting(std::string_view name, std::string_view value);
/// The first libpq major version that knows keyword `name` (one validate_client_setting
/// accepts): 17 for sslnegotiation, 16 for sslcertmode and require_auth, else kOldestMajor. An
/// older libpq refuses the whole service file (`syntax error in service file`).
[[nodiscard]] int client_setting_since(std::string_view name);

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

}  // namespace pgca::pg
