#include "pgca/pooler.hpp"

#include "pgca/error.hpp"
#include "pgca/pg_syntax.hpp"
#include "pgca/pki.hpp"

namespace pgca::pooler {
namespace {

KeyAlg key_of(const Profile& profile, const PoolerSpec& p) { return p.key.value_or(profile.defaults.key); }
int days_of(const Profile& profile, const PoolerSpec& p) { return p.days.value_or(profile.defaults.server_days); }

std::string header(std::string_view profile_name, const PoolerSpec& p, std::string_view comment,
                   std::string_view what) {
    std::string c(comment);
    return c + " " + std::string(what) + " of pooler \"" + p.name + "\" (PgBouncer 1.18), written by pgca from profile \"" +
           std::string(profile_name) + "\".\n" + c + " Edit the profile and run `pgca apply`, not this file.\n";
}

// A name in double quotes, a quote inside doubled: what PgBouncer's hba tokenizer and its
// auth_file reader both read back as the name itself (a quoted "all" is a name, not the keyword).
std::string quoted(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

}  // namespace

IssueParams server_params(const Profile& profile, const PoolerSpec& p) {
    IssueParams params = IssueParams::server(p.name, p.hosts, key_of(profile, p), days_of(profile, p), {});
    params.kind = CertKind::pooler;
    return params;
}

IssueParams client_params(const Profile& profile, const PoolerSpec& p) {
    IssueParams params = IssueParams::client(p.name, p.common_name(), key_of(profile, p), days_of(profile, p));
    params.kind = CertKind::pooler_client;
    return params;
}

ServerRequest server_request(const Profile& profile, const PoolerSpec& p) { return {server_params(profile, p), false}; }

ClientRequest client_request(const Profile& profile, const PoolerSpec& p) { return {client_params(profile, p), {}, {}}; }

std::string map_name(const PoolerSpec& p) { return "pgca-pooler-" + p.name; }

void add_access(const Profile& profile, pg::AccessPlan& plan) {
    std::vector<pg::AccessPlan::HbaLine> lines;
    for (std::size_t i = 0; i < profile.poolers.size(); ++i) {
        const PoolerSpec& p = profile.poolers[i];
        if (!p.left_out.empty()) {
            std::string names;
            for (const auto& u : p.left_out) names += (names.empty() ? "\"" : ", \"") + u + "\"";
            plan.warnings.push_back("poolers[" + std::to_string(i) + "].users: \"all\" leaves out " + names +
                                    ": a CN that is not the role name cannot log in through PgBouncer 1.18 (it "
                                    "compares the certificate's CN with the user name and has no maps)");
        }
        std::string roles;
        for (const auto& u : p.users) {
            roles += roles.empty() ? "" : ",";
            roles += pg::hba_token(u, false, true);
            plan.ident.push_back({map_name(p), p.common_name(), u});
        }
        pg::AccessPlan::HbaLine line;
        line.rule = profile.hba.size() + i;
        line.fields = {"hostssl", "all", roles, p.address, "cert", "map=" + map_name(p)};
        line.notes.push_back("pgca: pooler \"" + p.name + "\" (poolers[" + std::to_string(i) + "]): its certificate (CN \"" +
                             p.common_name() + "\") logs in as its pooled roles only;");
        line.notes.push_back("pgca: written first (the first matching line wins): these roles' logins from " +
                             p.address + " must present it.");
        lines.push_back(std::move(line));
    }
    plan.hba.insert(plan.hba.begin(), lines.begin(), lines.end());
}

Files files_of(const io::Layout& layout, const PoolerSpec& p) {
    const std::string base = (p.install_dir.empty() ? layout.pooler_dir(p.name) : p.install_dir) + "/";
    using L = io::Layout;
    return {base + L::kServerCert, base + L::kServerKey, base + L::kPoolerClientCert, base + L::kPoolerClientKey,
            base + L::kTrust,      base + L::kPoolerHba, base + L::kPoolerUsers};
}

std::string render_ini(std::string_view profile_name, const PoolerSpec& p, const ServerSpec& upstream,
                       const Files& f) {
    std::string out = header(profile_name, p, ";;", "PgBouncer settings");
    out += ";; Include it as the last line of the [pgbouncer] section of your own pgbouncer.ini, and make that\n"
           ";; section the last one of your file:\n"
           ";;   [pgbouncer]\n"
           ";;   pidfile = ...\n"
           ";;   %include " + (p.install_dir.empty() ? std::string("…/poolers/") + p.name : p.install_dir) +
           "/pgbouncer.ini\n"
           ";; It opens no [pgbouncer] section itself: PgBouncer 1.18 resets every [pgbouncer] setting read so far\n"
           ";; when it meets a second [pgbouncer] header, across %include too.\n";
    out += "listen_port = " + std::to_string(p.port) + "\n";
    // Clients: TLS with a certificate from this CA whose CN is the user name (hba: cert), and
    // only the users of auth_file are known at all.
    out += "auth_type = hba\n";
    out += "auth_hba_file = " + f.hba + "\n";
    out += "auth_file = " + f.users + "\n";
    out += "client_tls_sslmode = verify-full\n";
    out += "client_tls_cert_file = " + f.server_cert + "\n";
    out += "client_tls_key_file = " + f.server_key + "\n";
    out += "client_tls_ca_file = " + f.ca + "\n";
    // PostgreSQL: verify-full against the upstream's name, logging in with the pooler's certificate.
    out += "server_tls_sslmode = verify-full\n";
    out += "server_tls_cert_file = " + f.client_cert + "\n";
    out += "server_tls_key_file = " + f.client_key + "\n";
    out += "server_tls_ca_file = " + f.ca + "\n";
    out += "\n[databases]\n";
    out += ";; every database, by its own name, on server \"" + upstream.name + "\"\n";
    out += "* = host=" + upstream.hosts.front() + " port=" + std::to_string(upstream.port.value_or(5432)) + "\n";
    return out;
}

std::string render_hba(std::string_view profile_name, const PoolerSpec& p) {
    std::string out = header(profile_name, p, "#", "auth_hba_file");
    out += "# PgBouncer 1.18 reads IP/mask addresses only and refuses any option after the method.\n";
    std::string roles;
    for (const auto& u : p.users) roles += (roles.empty() ? "" : ",") + quoted(u);
    for (const char* net : {"0.0.0.0/0", "::/0"}) out += "hostssl all " + roles + " " + net + " cert\n";
    return out;
}

std::string render_users(std::string_view profile_name, const PoolerSpec& p) {
    std::string out = header(profile_name, p, ";", "auth_file");
    for (const auto& u : p.users) out += quoted(u) + " \"\"\n";
    return out;
}

std::vector<std::string> queue_files(PkiDir& pki, const Profile& profile, const PoolerSpec& p) {
    const io::Layout& l = pki.layout();
    const ServerSpec* upstream = profile.find_server(p.upstream);
    if (upstream == nullptr)  // the profile decoder refuses this
        throw Error(ErrorKind::internal, "pooler \"" + p.name + "\": upstream \"" + p.upstream + "\" is not a server");
    pki.files().make_dir(l.poolers_dir(), io::Layout::kPublicDir);
    pki.files().make_dir(l.pooler_dir(p.name), io::Layout::kPrivateDir);
    const std::pair<const char*, std::string> files[] = {
        {io::Layout::kPoolerIni, render_ini(profile.name, p, *upstream, files_of(l, p))},
        {io::Layout::kPoolerHba, render_hba(profile.name, p)},
        {io::Layout::kPoolerUsers, render_users(profile.name, p)},
        // root + intermediate: the CAs that sign client certificates (client_tls_ca_file) and
        // the upstream's certificate (server_tls_ca_file).
        {io::Layout::kTrust, pki.ca().trust_pem(true)},
    };
    std::vector<std::string> queued;
    for (const auto& [name, text] : files)
        if (pki.files().write_if_changed(l.pooler_file(p.name, name), text, io::Layout::kPublicFile))
            queued.push_back(l.pooler_file(p.name, name));
    return queued;
}

}  // namespace pgca::pooler
