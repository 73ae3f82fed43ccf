// pgca rollover (begin|reissue|finish|status) --dir DIR [--intermediate] [--key ALG] [--days N] [--reload CMD]
//               [--force] [--dry-run] [--json]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/rollover.hpp"

namespace pgca::cli {
namespace {

int rollover_status(const cxxopts::ParseResult& r) {
    const ops::RolloverStatus s = ops::rollover_status(r["dir"].as<std::string>());
    if (r.count("json") != 0) {
        nlohmann::json out = {{"phase", s.phase}, {"old_ca", s.old_ca}, {"new_ca", s.new_ca},
                              {"folders", nlohmann::json::array()}};
        for (const auto& f : s.folders)
            out["folders"].push_back({{"kind", f.kind}, {"name", f.name}, {"trusts", f.trusts},
                                      {"chains_to", f.chains_to}, {"lacks_new", f.lacks_new}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << "phase: " << (s.phase.empty() ? std::string("none") : s.phase) << "\n";
    if (s.new_ca.empty()) {
        std::cout << "CA: " << s.old_ca << "\n";
    } else {
        std::cout << "old CA: " << s.old_ca << "\nnew CA: " << s.new_ca << "\n";
    }
    for (const auto& f : s.folders) {
        std::string trusts;
        for (const auto& t : f.trusts) trusts += (trusts.empty() ? "" : "+") + t;
        std::cout << f.kind << " " << f.name << ": trusts " << (trusts.empty() ? std::string("nothing") : trusts)
                  << ", certificate from " << (f.chains_to.empty() ? std::string("none") : f.chains_to)
                  << (f.lacks_new ? " (its trust file lacks the new CA: deploy its files)" : "") << "\n";
    }
    return 0;
}

}  // namespace

int run_rollover(int argc, char** argv) {
    const std::string usage = "usage: pgca rollover (begin|reissue|finish|status) --dir DIR [--intermediate] [--key ALG] "
                              "[--days N] [--reload CMD] [--verify HOST:PORT] [--force] [--dry-run] [--json]";
    if (argc < 2) throw Error(ErrorKind::usage, usage);
    const std::string step = argv[1];
    if (step == "-h" || step == "--help") {
        std::cout << usage << "\n";
        return 0;
    }
    if (step != "begin" && step != "reissue" && step != "finish" && step != "status")
        throw Error(ErrorKind::usage, "rollover: unknown step \"" + step + "\"; " + usage);
    cxxopts::Options options("pgca rollover " + step,
                             "Replace the folder's root CA in phases, with both roots trusted in between "
                             "(README \"CA rollover\").");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("json", "print JSON");
    if (step == "begin")
        options.add_options()
            ("intermediate", "a new intermediate under the same root instead of a new root")
            ("key", "the new CA's key: " + key_alg_names() + " (default: the replaced CA's)", cxxopts::value<std::string>())
            ("days", "the new CA's lifetime in days (default 3650 for a root, 1825 for an intermediate)",
             cxxopts::value<int>());
    if (step == "reissue" || step == "finish") add_reload_verify_options(options);
    if (step == "finish") options.add_options()("force", "revoke the old CA's valid certificates first (reason superseded)");
    if (step != "status") {
        add_ledger_option(options);
        add_lock_timeout_option(options);
        add_dry_run_option(options);
    }
    auto r = parse(options, argc - 1, argv + 1);
    if (step == "status") return rollover_status(r);

    ops::RolloverOptions ro;
    if (r.count("key") != 0) ro.key = key_option(r, KeyAlg::ec_p256);
    if (r.count("days") != 0) ro.days = days_option(r, 3650);
    if (r.count("reload") != 0) ro.reload = r["reload"].as<std::string>();
    if (r.count("verify") != 0) ro.verify = r["verify"].as<std::string>();
    if (r.count("verify-name") != 0) ro.verify_name = r["verify-name"].as<std::string>();
    if (r.count("verify-timeout") != 0) ro.verify_timeout = verify_timeout_option(r);
    ro.force = r.count("force") != 0;
    ro.intermediate = r.count("intermediate") != 0;
    const OpenOptions open = writer_open_options(r);
    const bool json = r.count("json") != 0;
    if (!json && !open.dry_run) ro.on_action = [](const Action& a) { std::cout << format_action(a) << "\n"; };
    const std::string dir = r["dir"].as<std::string>();
    const ops::RolloverResult result = step == "begin"     ? ops::rollover_begin(dir, ro, open)
                                       : step == "reissue" ? ops::rollover_reissue(dir, ro, open)
                                                           : ops::rollover_finish(dir, ro, open);
    if (const auto& v = result.verified; v && !json)
        std::cout << "verified " << v->target << " serves serial " << v->serial << " (" << v->tls_version << ", "
                  << v->days_left << " days left)\n";
    if (json) {
        nlohmann::json out = {{"phase", result.phase}, {"actions", nlohmann::json::array()}};
        if (const auto& v = result.verified)
            out["verify"] = {{"target", v->target}, {"serial", v->serial}, {"tls_version", v->tls_version},
                             {"days_left", v->days_left}};
        if (open.dry_run) out["dry_run"] = true;
        for (const auto& a : result.actions) out["actions"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
    } else if (open.dry_run) {
        print_dry_run(result.actions);
    } else {
        std::cout << "rollover phase: " << (result.phase.empty() ? std::string("none") : result.phase) << "\n";
    }
    return 0;
}

}  // namespace pgca::cli
