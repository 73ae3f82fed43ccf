// pgca issue server --dir DIR --name NAME --host H [--host H ...] [--key ALG] [--days N] [--dry-run]
// pgca issue client --dir DIR (--user ROLE [--cn CN] | --users-file FILE) [--key ALG] [--days N] [-j N] [--dry-run]
#include <iostream>
#include <set>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"

namespace pgca::cli {
namespace {

int issue_server(int argc, char** argv) {
    cxxopts::Options options("pgca issue server", "Issue a server certificate and write servers/NAME/.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("name", "server name (the folder under servers/)", cxxopts::value<std::string>())
        ("host", "a host name or IP clients use; repeat for several", cxxopts::value<std::vector<std::string>>())
        ("key", "key algorithm: " + key_alg_names(), cxxopts::value<std::string>())
        ("days", "lifetime in days (default 397)", cxxopts::value<int>());
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    if (r.count("name") == 0) throw Error(ErrorKind::usage, "issue server: --name is required");
    if (r.count("host") == 0) throw Error(ErrorKind::usage, "issue server: at least one --host is required");

    ServerSpec spec;
    spec.name = r["name"].as<std::string>();
    spec.hosts = r["host"].as<std::vector<std::string>>();
    in_context("--name", [&] { validate_simple_name(spec.name, "server name"); });
    for (const auto& h : spec.hosts) in_context("--host", [&] { validate_host(h, "host"); });

    const io::Layout layout(r["dir"].as<std::string>());
    const ops::IssueResult done =
        ops::issue_server(layout.dir(), spec, key_option(r, KeyAlg::ec_p256), days_option(r, 397), open_options);
    if (open_options.dry_run) {
        print_dry_run(done.actions);
        return 0;
    }
    const IssuedLeaf& cert = done.issued.front();
    std::cout << "issued server \"" << spec.name << "\" serial " << cert.serial_hex << ", valid until "
              << format_time(cert.not_after) << "\n"
              << "files: " << layout.server_dir(spec.name)
              << "/{server.crt,server.key,root.crt,root.crl,postgresql.ssl.conf}\n";
    return 0;
}

// The roles of a --users-file: one role name per line, exactly as PostgreSQL spells it; blank
// lines and lines starting with '#' are skipped. Every line is checked before anything is issued.
std::vector<std::string> read_users_file(const std::string& path) {
    std::string text = io::read_file(path, io::kMaxProfileBytes);
    std::vector<std::string> roles;
    std::set<std::string> seen;
    std::size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        std::string where = path + ":" + std::to_string(line_no);
        try {
            validate_role_name(line, "role name");
        } catch (const Error& e) {
            throw Error(ErrorKind::input, where + ": " + e.what());
        }
        if (!seen.insert(line).second) throw Error(ErrorKind::input, where + ": duplicate role \"" + line + "\"");
        roles.push_back(line);
    }
    if (roles.empty()) throw Error(ErrorKind::input, path + ": no role names");
    return roles;
}

int issue_client(int argc, char** argv) {
    cxxopts::Options options("pgca issue client", "Issue client certificates whose CN is the role name.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("user", "the PostgreSQL role name, exactly (case matters)", cxxopts::value<std::string>())
        ("users-file", "issue one certificate per role listed in FILE (one per line, # comments)",
         cxxopts::value<std::string>())
        ("cn", "certificate CN, when it differs from the role (needs a pg_ident.conf map)", cxxopts::value<std::string>())
        ("key", "key algorithm: " + key_alg_names(), cxxopts::value<std::string>())
        ("days", "lifetime in days (default 365)", cxxopts::value<int>())
        ("j,jobs", "threads (default: the number of cores)", cxxopts::value<int>());
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    if ((r.count("user") == 0) == (r.count("users-file") == 0))
        throw Error(ErrorKind::usage, "issue client: give --user ROLE or --users-file FILE");
    if (r.count("users-file") != 0 && r.count("cn") != 0)
        throw Error(ErrorKind::usage, "issue client: --cn goes with --user, not with --users-file");

    std::vector<ClientSpec> specs;
    if (r.count("users-file") != 0) {
        for (auto& role : read_users_file(r["users-file"].as<std::string>())) {
            ClientSpec spec;
            spec.user = std::move(role);
            specs.push_back(std::move(spec));
        }
    } else {
        ClientSpec spec;
        spec.user = r["user"].as<std::string>();
        in_context("--user", [&] { validate_role_name(spec.user, "role name"); });
        if (r.count("cn") != 0 && r["cn"].as<std::string>() != spec.user) {
            spec.cn = r["cn"].as<std::string>();
            warn("CN \"" + spec.cn + "\" is not the role name: PostgreSQL will only accept this certificate for \"" +
                 spec.user + "\" through a pg_ident.conf map (map=… on a cert rule)");
        }
        specs.push_back(std::move(spec));
    }

    const KeyAlg alg = key_option(r, KeyAlg::ec_p256);
    const int days = days_option(r, 365);
    const io::Layout layout(r["dir"].as<std::string>());
    const ops::IssueResult done =
        ops::issue_clients(layout.dir(), specs, alg, days, jobs_option(r), open_options, progress_bar("issuing"));
    if (open_options.dry_run) {
        print_dry_run(done.actions);
        return 0;
    }
    const std::vector<IssuedLeaf>& certs = done.issued;
    if (certs.size() == 1) {
        std::cout << "issued client \"" << specs[0].user << "\" serial " << certs[0].serial_hex << ", valid until "
                  << format_time(certs[0].not_after) << "\n"
                  << "files: " << layout.client_dir(specs[0].user)
                  << "/{postgresql.crt,postgresql.key,root.crt,pg_service.conf}\n";
    } else {
        std::cout << "issued " << certs.size() << " client certificates under " << layout.clients_dir() << "\n";
    }
    return 0;
}

}  // namespace

int run_issue(int argc, char** argv) {
    std::string kind = argc >= 2 ? argv[1] : "";
    if (kind == "server") return issue_server(argc - 1, argv + 1);
    if (kind == "client") return issue_client(argc - 1, argv + 1);
    if (kind == "-h" || kind == "--help") {
        std::cout << "usage: pgca issue server --dir DIR --name NAME --host H [--host H ...] [--key ALG] [--days N] [--dry-run]\n"
                     "       pgca issue client --dir DIR (--user ROLE [--cn CN] | --users-file FILE) [--key ALG] [--days N] [-j N] [--dry-run]\n";
        return 0;
    }
    throw Error(ErrorKind::usage, "issue: say what to issue: `pgca issue server …` or `pgca issue client …`");
}

}  // namespace pgca::cli
