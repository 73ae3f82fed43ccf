// pgca revoke --dir DIR (--serial HEX | --user ROLE | --server NAME | --pooler NAME) [--reason REASON]
//             [--json] [--dry-run]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"

namespace pgca::cli {

int run_revoke(int argc, char** argv) {
    cxxopts::Options options("pgca revoke", "Revoke certificates and refresh the CRLs every server reads.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("serial", "the certificate with this serial (hex)", cxxopts::value<std::string>())
        ("user", "every unexpired certificate of this role", cxxopts::value<std::string>())
        ("server", "every unexpired certificate of this server", cxxopts::value<std::string>())
        ("pooler", "every unexpired certificate of this pooler (its server and client certificates)",
         cxxopts::value<std::string>())
        ("reason", "RFC 5280 reason: " + revocation_reason_names(),
         cxxopts::value<std::string>()->default_value("unspecified"))
        ("json", "print JSON");
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    int chosen = static_cast<int>(r.count("serial") + r.count("user") + r.count("server") + r.count("pooler"));
    if (chosen != 1) throw Error(ErrorKind::usage, "revoke: give exactly one of --serial, --user, --server, --pooler");
    std::string reason_text = r["reason"].as<std::string>();
    auto reason = parse_revocation_reason(reason_text);
    if (!reason)
        throw Error(ErrorKind::usage, "--reason: unknown reason \"" + reason_text + "\" (RFC 5280: " +
                                          revocation_reason_names() + ")");

    ops::RevokeTarget target;
    if (r.count("serial") != 0) {
        target.serial = r["serial"].as<std::string>();
    } else {
        for (const auto& [option, kind] : {std::pair{"user", CertKind::client}, std::pair{"server", CertKind::server},
                                           std::pair{"pooler", CertKind::pooler}})
            if (r.count(option) != 0) {
                target.kind = kind;
                target.name = r[option].as<std::string>();
            }
    }
    const ops::RevokeResult done = ops::revoke(r["dir"].as<std::string>(), target, *reason, open_options);
    const auto& [what, revoked, already, crl_actions, actions] = done;
    if (open_options.dry_run) {
        if (r.count("json") == 0) {
            print_dry_run(actions);
            return 0;
        }
        nlohmann::json out = {{"dry_run", true}, {"actions", nlohmann::json::array()}};
        for (const auto& a : actions) out["actions"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    if (r.count("json") != 0) {
        nlohmann::json out = {{"revoked", revoked}, {"already_revoked", already}, {"crls", nlohmann::json::array()}};
        for (const auto& a : crl_actions) out["crls"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    for (const auto& s : revoked) std::cout << "revoked  " << what << " serial " << s << " (" << reason_text << ")\n";
    for (const auto& s : already) std::cout << "already revoked: " << what << " serial " << s << "\n";
    if (revoked.empty() && already.empty()) std::cout << "nothing to revoke: " << what << " has no unexpired certificate\n";
    for (const auto& a : crl_actions) std::cout << format_action(a) << "\n";
    if (!revoked.empty())
        std::cout << "servers using ssl_crl_file: copy servers/NAME/root.crl and run SELECT pg_reload_conf(); "
                     "servers using ssl_crl_dir see the new CRL on their next connection\n";
    return 0;
}

}  // namespace pgca::cli
