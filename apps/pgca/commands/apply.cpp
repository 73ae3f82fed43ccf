// pgca apply PROFILE [--dir DIR] [--dry-run] [--json] [--rename] [--allow-mass-revocation]
#include <algorithm>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/apply.hpp"
#include "pgca/error.hpp"

namespace pgca::cli {

int run_apply(int argc, char** argv) {
    cxxopts::Options options("pgca apply", "Make a PKI folder match a profile. Running it twice changes nothing.");
    options.positional_help("PROFILE");
    options.add_options()
        ("profile", "the JSON profile", cxxopts::value<std::string>())
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("dry-run", "print what would change, change nothing")
        ("rename", "accept a profile whose name differs from the one the folder was made with")
        ("allow-mass-revocation", "accept revoking more than half of the folder's servers and clients")
        ("j,jobs", "threads for issuing certificates (default: the number of cores)", cxxopts::value<int>())
        ("json", "print the result as JSON");
    add_lock_timeout_option(options);
    add_ledger_option(options);
    options.parse_positional({"profile"});
    auto r = parse(options, argc, argv);
    if (r.count("profile") == 0) throw Error(ErrorKind::usage, "apply: PROFILE is required (see `pgca apply --help`)");

    Profile profile = load_profile(r["profile"].as<std::string>());
    ApplyOptions opts;
    opts.dry_run = r.count("dry-run") != 0;
    opts.rename = r.count("rename") != 0;
    opts.allow_mass_revocation = r.count("allow-mass-revocation") != 0;
    opts.jobs = jobs_option(r);
    const OpenOptions open_options = writer_open_options(r);
    opts.lock_timeout_seconds = open_options.lock_timeout_seconds;
    opts.ledger = open_options.ledger;
    opts.progress = progress_bar("issuing");
    ApplyResult result = apply(profile, r["dir"].as<std::string>(), opts);

    for (const auto& w : result.warnings) warn(w);
    if (r.count("json") != 0) {
        nlohmann::json out = {{"profile", profile.name}, {"dir", io::absolute(r["dir"].as<std::string>())},
                              {"dry_run", opts.dry_run}, {"actions", nlohmann::json::array()},
                              {"warnings", result.warnings}};
        for (const auto& a : result.actions) out["actions"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::size_t changed = 0;
    for (const auto& a : result.actions) {
        if (a.verb == "keep") continue;
        ++changed;
        std::cout << (opts.dry_run ? "would " : "") << format_action(a) << "\n";
    }
    std::size_t kept = result.actions.size() - changed;
    bool revoked = std::any_of(result.actions.begin(), result.actions.end(),
                               [](const Action& a) { return a.verb == "revoke"; });
    if (revoked && !opts.dry_run)
        std::cout << "servers using ssl_crl_file: copy servers/NAME/root.crl and run SELECT pg_reload_conf(); "
                     "servers using ssl_crl_dir see the new CRL on their next connection\n";
    std::cout << (changed == 0 ? "nothing to do" : std::to_string(changed) + (opts.dry_run ? " change(s) planned" : " change(s)"))
              << ", " << kept << " certificate(s) kept\n";
    return 0;
}

}  // namespace pgca::cli
