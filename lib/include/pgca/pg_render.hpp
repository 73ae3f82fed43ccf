// The files pgca writes for PostgreSQL, one function each: pg_hba.conf (render_hba),
// pg_ident.conf (render_ident), a server's postgresql.ssl.conf (render_server_conf) and a
// client's pg_service.conf (render_service). Each takes only what its file shows;
// server_conf_file and service_file say where in a PKI folder the last two go, and what paths
// they name.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/io.hpp"
#include "pgca/pg_access.hpp"
#include "pgca/profile.hpp"

namespace pgca::pg {

/// Extra settings written as `name = value` (server) or `name=value` (client), in key order.
using Settings = std::map<std::string, std::string>;

/// pg_hba.conf for `plan`, headed with the profile's name.
[[nodiscard]] std::string render_hba(std::string_view profile_name, const AccessPlan& plan);
/// pg_ident.conf for `plan`, headed with the profile's name.
[[nodiscard]] std::string render_ident(std::string_view profile_name, const AccessPlan& plan);

/// Absolute paths the server include names (on this machine, or under install_dir).
struct ServerFiles {
    std::string cert;     ///< ssl_cert_file: leaf + intermediate
    std::string key;      ///< ssl_key_file
    std::string ca;       ///< ssl_ca_file: CAs trusted for client certificates
    std::string crl_file; ///< ssl_crl_file: one PEM with the CRL of every CA in the chain
    std::string crl_dir;  ///< ssl_crl_dir: the same CRLs under their hashed names
};

/// The `postgresql.ssl.conf` include for one server of profile `profile_name`, with the extra
/// ssl_* `settings` (validated when the profile was decoded, also against the server's
/// postgres_version). On 18, ssl_ecdh_curve C is written as ssl_groups 'X25519:C'.
[[nodiscard]] std::string render_server_conf(std::string_view profile_name, const ServerSpec& server,
                                             const Settings& settings, const ServerFiles& files);

/// Absolute paths a client's service entry names.
struct ClientFiles {
    std::string root_cert;  ///< sslrootcert
    std::string cert;       ///< sslcert
    std::string key;        ///< sslkey
};

/// A pg_service.conf for role `user`: a section named after the profile for the first of
/// `servers`, and, when there are several, one `[PROFILE-SERVER]` section per server, then one
/// `[PROFILE-POOLER]` section per pooler of `poolers` (its first host and its port), each with
/// the libpq `settings` (validated when the profile was decoded; a server's or pooler's own port
/// replaces settings' port).
[[nodiscard]] std::string render_service(std::string_view profile_name, std::string_view user,
                                         const std::vector<ServerSpec>& servers, const Settings& settings,
                                         const ClientFiles& files, const std::vector<const PoolerSpec*>& poolers = {});

/// servers/NAME/postgresql.ssl.conf of `server` of `profile` in the folder `layout`: the text
/// render_server_conf makes, naming the server's files under its install_dir when set (else in
/// the folder), with the mode pgca gives it.
[[nodiscard]] io::FileWrite server_conf_file(const io::Layout& layout, const Profile& profile,
                                             const ServerSpec& server);

/// clients/ROLE/pg_service.conf of `client` of `profile` in the folder `layout`: the text
/// render_service makes, naming the client's files in the folder, with the mode pgca gives it.
[[nodiscard]] io::FileWrite service_file(const io::Layout& layout, const Profile& profile, const ClientSpec& client);

}  // namespace pgca::pg
