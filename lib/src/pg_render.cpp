#include "pgca/pg_render.hpp"

#include <algorithm>
#include <optional>

#include "pgca/pg_syntax.hpp"

namespace pgca::pg {
namespace {

std::string header(std::string_view profile_name, std::string_view file) {
    return "# " + std::string(file) + " written by pgca from profile \"" + std::string(profile_name) +
           "\".\n# Edit the profile and run `pgca apply`, not this file.\n";
}

// Display width of UTF-8 text: its code points (continuation bytes do not count).
std::size_t text_width(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
    return n;
}

// Pads columns so the file reads like a hand-written one; options stay in the last column.
std::string render_columns(const std::vector<std::vector<std::string>>& rows, std::size_t padded_columns) {
    std::vector<std::size_t> width(padded_columns, 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size() && c < padded_columns; ++c) width[c] = std::max(width[c], text_width(row[c]));
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c != 0) line += ' ';
            line += row[c];
            if (c + 1 < row.size() && c < padded_columns) line.append(width[c] - text_width(row[c]), ' ');
        }
        out += line + "\n";
    }
    return out;
}

}  // namespace

std::string render_hba(std::string_view profile_name, const AccessPlan& plan) {
    std::string out = header(profile_name, "pg_hba.conf");
    out += "# The first matching line wins.\n";
    // Normalise rows to TYPE DATABASE USER ADDRESS METHOD [OPTIONS] so that columns line up
    // across the whole file; local rows get an empty address column.
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : plan.hba) {
        std::vector<std::string> row = line.fields;
        if (row[0] == "local") row.insert(row.begin() + 3, "");
        std::vector<std::string> compact(row.begin(), row.begin() + 5);
        std::string opts;
        for (std::size_t k = 5; k < row.size(); ++k) opts += (opts.empty() ? "" : " ") + row[k];
        if (!opts.empty()) compact.push_back(opts);
        rows.push_back(std::move(compact));
    }
    std::string table = render_columns(rows, 5);
    std::size_t pos = 0;
    for (const auto& line : plan.hba) {
        for (const auto& n : line.notes) out += "# " + n + "\n";
        std::size_t end = table.find('\n', pos);
        out += table.substr(pos, end + 1 - pos);
        pos = end + 1;
    }
    return out;
}

std::string render_ident(std::string_view profile_name, const AccessPlan& plan) {
    std::string out = header(profile_name, "pg_ident.conf");
    out += "# MAPNAME  SYSTEM-USERNAME (certificate CN, or RFC 2253 DN for clientname=DN)  PG-USERNAME\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : plan.ident) {
        // DNs (anything with '=') are always quoted, as docs/postgres-facts.md §2.5 advises; quoting never
        // makes a system-user a regex (only a leading '/' does, which plan_access refuses).
        std::string system_user = quote_name(l.system_user);
        if (system_user.front() != '"' && l.system_user.find('=') != std::string::npos)
            system_user = "\"" + system_user + "\"";
        rows.push_back({l.map, system_user, quote_name(l.pg_user)});
    }
    out += render_columns(rows, 2);
    return out;
}

std::string render_server_conf(std::string_view profile_name, const ServerSpec& server, const Settings& settings,
                               const ServerFiles& files) {
    std::string out = "# ssl settings for server \"" + server.name + "\", written by pgca from profile \"" +
                      std::string(profile_name) + "\".\n# Use it from postgresql.conf with:  include " +
                      conf_string((server.install_dir.empty() ? std::string("…") : server.install_dir) +
                                  "/postgresql.ssl.conf") +
                      "\n# then `SELECT pg_reload_conf();` (no restart is needed).\n";
    out += "ssl = on\n";
    out += "ssl_cert_file = " + conf_string(files.cert) + "\n";
    out += "ssl_key_file = " + conf_string(files.key) + "\n";
    out += "ssl_ca_file = " + conf_string(files.ca) + "\n";
    // PostgreSQL sets CRL_CHECK_ALL once any CRL is configured: every CA in the chain needs one,
    // which is what pgca writes. The file needs a reload after a revocation; the hashed
    // directory is read per connection.
    if (server.crl == "dir")
        out += "ssl_crl_dir = " + conf_string(files.crl_dir) + "\n";
    else
        out += "ssl_crl_file = " + conf_string(files.crl_file) + "\n";
    if (!server.key_passphrase.empty()) {
        // An encrypted key: PostgreSQL runs this command at start and, with supports_reload,
        // at every reload (otherwise a reload fails with "cannot be reloaded because it
        // requires a passphrase" and rotation would need a restart).
        out += "ssl_passphrase_command = " + conf_string(passphrase_command(server.key_passphrase)) + "\n";
        out += "ssl_passphrase_command_supports_reload = on\n";
    }
    for (const auto& [k, v] : settings) {
        // 18 renamed ssl_ecdh_curve to ssl_groups (the old name stays as an alias), whose default
        // X25519:prime256v1 one curve would narrow: X25519 stays first, the profile's curve follows.
        if (k == "ssl_ecdh_curve" && server.postgres_version >= 18)
            out += "# ssl_ecdh_curve " + conf_string(v) + " from the profile; PostgreSQL 18 has ssl_groups\n"
                   "ssl_groups = " + conf_string("X25519:" + v) + "\n";
        else
            out += k + " = " + conf_string(v) + "\n";
    }
    return out;
}

std::string render_service(std::string_view profile_name, std::string_view user, const std::vector<ServerSpec>& servers,
                           const Settings& settings, const ClientFiles& files,
                           const std::vector<const PoolerSpec*>& poolers) {
    // libpq's parseServiceFile takes everything after the first '=' up to the end of the line,
    // with no quoting, and drops the blanks at its end, so values are written as they are
    // (validated to hold no control characters and to end with no blank).
    // A host's own port replaces client_settings.port.
    auto section = [&](const std::string& name, const std::vector<std::string>* hosts, std::optional<int> port) {
        std::string out = "[" + name + "]\n";
        if (hosts != nullptr) out += "host=" + hosts->front() + "\n";
        if (port) out += "port=" + std::to_string(*port) + "\n";
        out += "user=" + std::string(user) + "\n";
        for (const auto& [k, v] : settings)
            if (!port || k != "port") out += k + "=" + v + "\n";
        out += "sslrootcert=" + files.root_cert + "\n";
        out += "sslcert=" + files.cert + "\n";
        out += "sslkey=" + files.key + "\n";
        return out;
    };
    const std::string name(profile_name);
    std::string out = "# libpq service file for role \"" + std::string(user) + "\", written by pgca from profile \"" +
                      name + "\".\n# Use: PGSERVICEFILE=<this file> psql \"service=" + name + " dbname=…\"\n";
    out += servers.empty() ? section(name, nullptr, std::nullopt)
                           : section(name, &servers.front().hosts, servers.front().port);
    if (servers.size() > 1)
        for (const auto& s : servers) out += "\n" + section(name + "-" + s.name, &s.hosts, s.port);
    for (const PoolerSpec* p : poolers) out += "\n" + section(name + "-" + p->name, &p->hosts, p->port);
    return out;
}

io::FileWrite server_conf_file(const io::Layout& layout, const Profile& profile, const ServerSpec& server) {
    using L = io::Layout;
    const std::string base = (server.install_dir.empty() ? layout.server_dir(server.name) : server.install_dir) + "/";
    const ServerFiles files{base + L::kServerCert, base + L::kServerKey, base + L::kTrust, base + L::kServerCrl,
                            base + L::kServerCrlDir};
    return {layout.server_conf(server.name), render_server_conf(profile.name, server, profile.server_settings, files),
            L::kPublicFile};
}

namespace {

// The poolers that pool `user`, in profile order (each looked up in a set: this runs per client).
std::vector<const PoolerSpec*> poolers_of(const Profile& profile, const std::string& user) {
    std::vector<const PoolerSpec*> out;
    for (const auto& p : profile.poolers)
        if (p.pools(user)) out.push_back(&p);
    return out;
}

}  // namespace

io::FileWrite service_file(const io::Layout& layout, const Profile& profile, const ClientSpec& client) {
    using L = io::Layout;
    const std::string& role = client.user;
    const ClientFiles files{layout.client_file(role, L::kTrust), layout.client_file(role, L::kClientCert),
                            layout.client_file(role, L::kClientKey)};
    return {layout.client_service(role),
            render_service(profile.name, client.user, profile.servers, profile.client_settings, files,
                           poolers_of(profile, client.user)),
            L::kPublicFile};
}

}  // namespace pgca::pg
