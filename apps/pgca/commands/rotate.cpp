// pgca rotate --dir DIR [--server NAME ...] [--pooler NAME ...] [--within DAYS] [--force] [--keep-key] [--reload CMD]
//             [--verify HOST:PORT] [--verify-name NAME] [--verify-timeout SECONDS] [--json] [--dry-run]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"

namespace pgca::cli {

int run_rotate(int argc, char** argv) {
    cxxopts::Options options("pgca rotate",
                             "Renew server and pooler certificates that expire soon, replace their files atomically, "
                             "optionally reload the server and check what it now serves.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("server", "server to rotate (repeat; default: every server and pooler)", cxxopts::value<std::vector<std::string>>())
        ("pooler", "pooler whose two certificates to rotate (repeat; default: every server and pooler)",
         cxxopts::value<std::vector<std::string>>())
        ("within", "rotate what expires within DAYS (default: the profile's renew_before_days, else 30)",
         cxxopts::value<int>())
        ("force", "rotate even fresh certificates")
        ("keep-key", "sign the new server certificate for the existing key instead of a new one (a pooler's client key is new)")
        ("json", "print JSON");
    add_reload_verify_options(options);
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    const int verify_timeout = verify_timeout_option(r);

    ops::RotateOptions ro;
    if (r.count("server") != 0) ro.servers = r["server"].as<std::vector<std::string>>();
    if (r.count("pooler") != 0) ro.poolers = r["pooler"].as<std::vector<std::string>>();
    if (r.count("within") != 0) ro.within = r["within"].as<int>();
    ro.force = r.count("force") != 0;
    ro.keep_key = r.count("keep-key") != 0;
    if (r.count("reload") != 0) ro.reload = r["reload"].as<std::string>();
    if (r.count("verify") != 0) ro.verify = r["verify"].as<std::string>();
    if (r.count("verify-name") != 0) ro.verify_name = r["verify-name"].as<std::string>();
    ro.verify_timeout = verify_timeout;
    const bool json = r.count("json") != 0;
    if (!json && !open_options.dry_run) ro.on_action = [](const Action& a) { std::cout << format_action(a) << "\n"; };
    const ops::RotateResult result = ops::rotate(r["dir"].as<std::string>(), ro, open_options);
    if (open_options.dry_run && !json) {
        print_dry_run(result.actions);
        return 0;
    }

    if (const auto& v = result.verified; v && !json)
        std::cout << "verified " << v->target << " serves serial " << v->serial << " (" << v->tls_version << ", "
                  << v->days_left << " days left)\n";
    if (json) {
        nlohmann::json verify_json;
        if (const auto& v = result.verified)
            verify_json = {{"target", v->target}, {"serial", v->serial}, {"tls_version", v->tls_version},
                           {"days_left", v->days_left}};
        nlohmann::json out = {{"actions", nlohmann::json::array()}, {"verify", verify_json}};
        if (open_options.dry_run) out["dry_run"] = true;
        for (const auto& a : result.actions) out["actions"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
    }
    return 0;
}

}  // namespace pgca::cli
