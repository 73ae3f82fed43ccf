// pgca list --dir DIR [--json] [--expiring DAYS]
#include <ctime>
#include <iomanip>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"

namespace pgca::cli {

int run_list(int argc, char** argv) {
    cxxopts::Options options("pgca list", "List the certificates a PKI folder has issued.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("json", "print JSON")
        ("all", "include superseded certificates")
        ("expiring", "only valid certificates that expire within DAYS", cxxopts::value<int>());
    add_ledger_option(options);
    auto r = parse(options, argc, argv);
    ops::ListOptions list_options;
    list_options.all = r.count("all") != 0;
    list_options.ledger = ledger_option(r);
    if (r.count("expiring") != 0) list_options.expiring = r["expiring"].as<int>();
    const ops::ListResult listed = ops::list(r["dir"].as<std::string>(), list_options);
    const std::time_t now = listed.now;
    const auto& rows = listed.certificates;
    const auto& crl_rows = listed.crls;
    for (const auto& w : listed.warnings) warn(w);
    auto days_left = [&](const LedgerEntry& e) { return static_cast<long>((e.not_after - now) / 86400); };

    if (r.count("json") != 0) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& e : rows)
            out.push_back({{"name", e.name}, {"kind", to_string(e.kind)}, {"serial", e.serial}, {"subject", e.subject},
                           {"issuer", e.issuer}, {"not_before", format_time(e.not_before)},
                           {"not_after", format_time(e.not_after)}, {"days_left", days_left(e)},
                           {"status", to_string(e.status)}, {"sha256_fingerprint", e.fingerprint},
                           {"revoked_at", e.revoked_at != 0 ? format_time(e.revoked_at) : ""},
                           {"revocation_reason", to_string(e.revocation_reason)}});
        for (const auto& c : crl_rows)
            out.push_back({{"name", c.name}, {"kind", "crl"}, {"issuer", c.issuer}, {"number", c.number},
                           {"not_after", format_time(c.next_update)},
                           {"days_left", static_cast<long>((c.next_update - now) / 86400)},
                           {"status", c.next_update > now ? "valid" : "expired"}, {"entries", c.entries}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::size_t name_w = 4;
    for (const auto& e : rows) name_w = std::max(name_w, e.name.size());
    std::cout << std::left << std::setw(static_cast<int>(name_w)) << "NAME" << "  " << std::setw(15) << "KIND"
              << std::setw(34) << "SERIAL" << std::setw(22) << "NOT AFTER" << std::setw(10) << "DAYS LEFT"
              << "STATUS\n";
    for (const auto& e : rows)
        std::cout << std::setw(static_cast<int>(name_w)) << e.name << "  " << std::setw(15) << to_string(e.kind)
                  << std::setw(34) << e.serial << std::setw(22) << format_time(e.not_after) << std::setw(10)
                  << days_left(e) << to_string(e.status) << "\n";
    for (const auto& c : crl_rows)
        std::cout << std::setw(static_cast<int>(name_w)) << c.name << "  " << std::setw(15) << "crl" << std::setw(34)
                  << ("number " + std::to_string(c.number)) << std::setw(22) << format_time(c.next_update)
                  << std::setw(10) << static_cast<long>((c.next_update - now) / 86400)
                  << (c.next_update > now ? "valid" : "expired") << " (" << c.entries << " revoked)\n";
    return 0;
}

}  // namespace pgca::cli
