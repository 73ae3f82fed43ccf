// PgBouncer poolers (profile `poolers`): their certificates' parameters, the files of
// poolers/NAME (rendered here, one function each), and the PostgreSQL access lines that let a
// pooler's client certificate log in as exactly its pooled roles. The shape of pgbouncer.ini and
// its hba dialect follow what PgBouncer 1.18 accepts (docs/postgres-facts.md §9).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pgca/io.hpp"
#include "pgca/issuance.hpp"
#include "pgca/pg_access.hpp"
#include "pgca/profile.hpp"

namespace pgca {

class PkiDir;

namespace pooler {

/// What the pooler's server certificate (clients → pooler) and client certificate (pooler →
/// PostgreSQL, CN PoolerSpec::common_name()) are issued with: the IssueParams fingerprint rules
/// of servers and clients.
[[nodiscard]] IssueParams server_params(const Profile& profile, const PoolerSpec& pooler);
[[nodiscard]] IssueParams client_params(const Profile& profile, const PoolerSpec& pooler);
[[nodiscard]] ServerRequest server_request(const Profile& profile, const PoolerSpec& pooler);
[[nodiscard]] ClientRequest client_request(const Profile& profile, const PoolerSpec& pooler);

/// The pg_ident.conf map of a pooler: its CN to each pooled role, and nothing else.
[[nodiscard]] std::string map_name(const PoolerSpec& pooler);

/// Puts, before the profile's own rules (PostgreSQL takes the first matching line), one
/// `hostssl all ROLES ADDRESS cert map=MAP` line per pooler whose upstream is among the servers,
/// and the map's pg_ident lines; warns about clients `"users": "all"` left out.
void add_access(const Profile& profile, pg::AccessPlan& plan);

/// Absolute paths pgbouncer.ini names (under DIR, or under the pooler's install_dir).
struct Files {
    std::string server_cert, server_key;  ///< client_tls_cert_file / client_tls_key_file
    std::string client_cert, client_key;  ///< server_tls_cert_file / server_tls_key_file
    std::string ca;                       ///< client_tls_ca_file and server_tls_ca_file
    std::string hba, users;               ///< auth_hba_file, auth_file
};
[[nodiscard]] Files files_of(const io::Layout& layout, const PoolerSpec& pooler);

/// pgbouncer.ini: settings for the operator's [pgbouncer] section (no section header of its own:
/// PgBouncer 1.18 resets every [pgbouncer] setting read so far at a second header), then a
/// [databases] entry `* = host=UPSTREAM port=PORT`.
[[nodiscard]] std::string render_ini(std::string_view profile_name, const PoolerSpec& pooler,
                                     const ServerSpec& upstream, const Files& files);
/// pgbouncer_hba.conf in PgBouncer 1.18's dialect (IP/mask addresses, no option after the
/// method): `hostssl all "ROLE",… 0.0.0.0/0 cert` and the same for ::/0.
[[nodiscard]] std::string render_hba(std::string_view profile_name, const PoolerSpec& pooler);
/// userlist.txt (auth_file): each pooled role with an empty password (PgBouncer knows only the
/// users listed; the password is never asked for with cert).
[[nodiscard]] std::string render_users(std::string_view profile_name, const PoolerSpec& pooler);

/// Queues poolers/NAME/{pgbouncer.ini, pgbouncer_hba.conf, userlist.txt, root.crt} where their
/// content differs. Returns the paths queued.
std::vector<std::string> queue_files(PkiDir& pki, const Profile& profile, const PoolerSpec& pooler);

}  // namespace pooler
}  // namespace pgca
