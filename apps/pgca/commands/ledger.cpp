// pgca ledger rebuild --dir DIR [--json]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/rebuild.hpp"

namespace pgca::cli {
namespace {

int ledger_rebuild(int argc, char** argv) {
    cxxopts::Options options("pgca ledger rebuild",
                             "Rebuild a lost ledger (pgca.db) from the certificates and CRLs in a PKI folder.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("json", "print JSON");
    auto r = parse(options, argc, argv);
    RebuildResult result = rebuild_ledger(r["dir"].as<std::string>());

    for (const auto& w : result.warnings) warn(w);
    for (const auto& s : result.skipped) warn("skipped " + s);
    if (r.count("json") != 0) {
        nlohmann::json out = {{"dir", io::absolute(r["dir"].as<std::string>())}, {"recorded", nlohmann::json::array()},
                              {"crls", nlohmann::json::array()}, {"skipped", result.skipped},
                              {"warnings", result.warnings}};
        for (const auto& e : result.recorded)
            out["recorded"].push_back({{"kind", to_string(e.kind)}, {"name", e.name}, {"serial", e.serial},
                                       {"issuer", e.issuer}, {"not_after", format_time(e.not_after)},
                                       {"status", to_string(e.status)},
                                       {"revoked_at", e.revoked_at != 0 ? format_time(e.revoked_at) : ""},
                                       {"revocation_reason", to_string(e.revocation_reason)}});
        for (const auto& c : result.crls) out["crls"].push_back({{"issuer", c.issuer}, {"number", c.number}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    for (const auto& e : result.recorded)
        std::cout << format_action({"record", std::string(to_string(e.kind)), e.name,
                                    "serial " + e.serial + " " + std::string(to_string(e.status)) +
                                        (e.revocation_reason ? " (" + std::string(to_string(e.revocation_reason)) + ")" : "")})
                  << "\n";
    for (const auto& c : result.crls)
        std::cout << "crl      " << c.issuer << "  number " << c.number << " (the next CRL gets a higher one)\n";
    std::cout << result.recorded.size() << " certificate(s) recorded, " << result.skipped.size() << " file(s) skipped\n";
    return 0;
}

}  // namespace

int run_ledger(int argc, char** argv) {
    std::string verb = argc >= 2 ? argv[1] : "";
    if (verb == "rebuild") return ledger_rebuild(argc - 1, argv + 1);
    if (verb == "-h" || verb == "--help") {
        std::cout << "usage: pgca ledger rebuild --dir DIR [--json]\n";
        return 0;
    }
    throw Error(ErrorKind::usage, "ledger: say what to do: `pgca ledger rebuild --dir DIR`");
}

}  // namespace pgca::cli
