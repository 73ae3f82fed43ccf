// pgca issue server --dir DIR --name NAME --host H [--host H ...] [--key ALG] [--days N]
// pgca issue client --dir DIR --user ROLE [--cn CN] [--key ALG] [--days N]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"

namespace pgca::cli {
namespace {

// A profile for files written outside `apply`: the folder's own name for the service.
Profile standalone_profile(PkiDir& pki) {
    Profile p;
    p.name = pki.ledger().get_meta("profile_name").value_or("pgca");
    p.client_settings["sslmode"] = "verify-full";
    return p;
}

int issue_server(int argc, char** argv) {
    cxxopts::Options options("pgca issue server", "Issue a server certificate and write servers/NAME/.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("name", "server name (the folder under servers/)", cxxopts::value<std::string>())
        ("host", "a host name or IP clients use; repeat for several", cxxopts::value<std::vector<std::string>>())
        ("key", "key algorithm: " + key_alg_names(), cxxopts::value<std::string>())
        ("days", "lifetime in days (default 397)", cxxopts::value<int>());
    auto r = parse(options, argc, argv);
    if (r.count("name") == 0) throw Error(ErrorKind::usage, "issue server: --name is required");
    if (r.count("host") == 0) throw Error(ErrorKind::usage, "issue server: at least one --host is required");

    ServerSpec spec;
    spec.name = r["name"].as<std::string>();
    spec.hosts = r["host"].as<std::vector<std::string>>();
    in_context("--name", [&] { validate_simple_name(spec.name, "server name"); });
    for (const auto& h : spec.hosts) in_context("--host", [&] { validate_host(h, "host"); });

    auto pki = PkiDir::open(r["dir"].as<std::string>(), false);
    ServerRequest req{spec.name, spec.hosts, key_option(r, KeyAlg::ec_p256), days_option(r, 397), false};
    Certificate cert = pki->transact([&] {
        Certificate c = pki->issue_server(req);
        pki->write_server_conf(standalone_profile(*pki), spec);
        (void)pki->refresh_crls(pki->setting("crl_days", kDefaultCrlDays), false);  // root.crl for the new folder
        return c;
    });
    std::cout << "issued server \"" << spec.name << "\" serial " << cert.serial_hex() << ", valid until "
              << format_time(cert.not_after()) << "\n"
              << "files: " << pki->layout().server_dir(spec.name)
              << "/{server.crt,server.key,root.crt,root.crl,postgresql.ssl.conf}\n";
    return 0;
}

int issue_client(int argc, char** argv) {
    cxxopts::Options options("pgca issue client", "Issue a client certificate whose CN is the role name.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("user", "the PostgreSQL role name, exactly (case matters)", cxxopts::value<std::string>())
        ("cn", "certificate CN, when it differs from the role (needs a pg_ident.conf map)", cxxopts::value<std::string>())
        ("key", "key algorithm: " + key_alg_names(), cxxopts::value<std::string>())
        ("days", "lifetime in days (default 365)", cxxopts::value<int>());
    auto r = parse(options, argc, argv);
    if (r.count("user") == 0) throw Error(ErrorKind::usage, "issue client: --user is required");

    ClientSpec spec;
    spec.user = r["user"].as<std::string>();
    in_context("--user", [&] { validate_role_name(spec.user, "role name"); });
    if (r.count("cn") != 0 && r["cn"].as<std::string>() != spec.user) {
        spec.cn = r["cn"].as<std::string>();
        warn("CN \"" + spec.cn + "\" is not the role name: PostgreSQL will only accept this certificate for \"" +
             spec.user + "\" through a pg_ident.conf map (map=… on a cert rule)");
    }

    auto pki = PkiDir::open(r["dir"].as<std::string>(), false);
    ClientRequest req{spec.user, spec.cn, key_option(r, KeyAlg::ec_p256), days_option(r, 365)};
    Certificate cert = pki->transact([&] {
        Certificate c = pki->issue_client(req);
        pki->write_client_service(standalone_profile(*pki), spec);
        return c;
    });
    std::cout << "issued client \"" << spec.user << "\" serial " << cert.serial_hex() << ", valid until "
              << format_time(cert.not_after()) << "\n"
              << "files: " << pki->layout().client_dir(spec.user)
              << "/{postgresql.crt,postgresql.key,root.crt,pg_service.conf}\n";
    return 0;
}

}  // namespace

int run_issue(int argc, char** argv) {
    std::string kind = argc >= 2 ? argv[1] : "";
    if (kind == "server") return issue_server(argc - 1, argv + 1);
    if (kind == "client") return issue_client(argc - 1, argv + 1);
    if (kind == "-h" || kind == "--help") {
        std::cout << "usage: pgca issue server --dir DIR --name NAME --host H [--host H ...] [--key ALG] [--days N]\n"
                     "       pgca issue client --dir DIR --user ROLE [--cn CN] [--key ALG] [--days N]\n";
        return 0;
    }
    throw Error(ErrorKind::usage, "issue: say what to issue: `pgca issue server …` or `pgca issue client …`");
}

}  // namespace pgca::cli
