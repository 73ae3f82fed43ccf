// pgca crl --dir DIR [--days N] [--dry-run]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"

namespace pgca::cli {

int run_crl(int argc, char** argv) {
    cxxopts::Options options("pgca crl", "Make fresh CRLs for every CA and copy them to every server folder.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("days", "CRL lifetime (default: the profile's crl_days, else 90)", cxxopts::value<int>());
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    int days = 0;  // what the last apply recorded
    if (r.count("days") != 0) {
        days = r["days"].as<int>();
        if (days < 1 || days > 3650) throw Error(ErrorKind::usage, "--days: must be between 1 and 3650");
    }
    auto actions = ops::refresh_crls(r["dir"].as<std::string>(), days, open_options);
    if (open_options.dry_run) {
        print_dry_run(actions);
        return 0;
    }
    for (const auto& a : actions) std::cout << format_action(a) << "\n";
    std::cout << "servers using ssl_crl_file need SELECT pg_reload_conf() to read them\n";
    return 0;
}

}  // namespace pgca::cli
