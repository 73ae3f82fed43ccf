// pgca revoke --dir DIR (--serial HEX | --user ROLE | --server NAME) [--reason REASON]
#include <cctype>
#include <ctime>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"

namespace pgca::cli {

int run_revoke(int argc, char** argv) {
    cxxopts::Options options("pgca revoke", "Revoke certificates and refresh the CRLs every server reads.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("serial", "the certificate with this serial (hex)", cxxopts::value<std::string>())
        ("user", "every unexpired certificate of this role", cxxopts::value<std::string>())
        ("server", "every unexpired certificate of this server", cxxopts::value<std::string>())
        ("reason", "RFC 5280 reason: " + revocation_reason_names(),
         cxxopts::value<std::string>()->default_value("unspecified"))
        ("json", "print JSON");
    add_lock_timeout_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    int chosen = static_cast<int>(r.count("serial") + r.count("user") + r.count("server"));
    if (chosen != 1) throw Error(ErrorKind::usage, "revoke: give exactly one of --serial, --user, --server");
    std::string reason_text = r["reason"].as<std::string>();
    auto reason = parse_revocation_reason(reason_text);
    if (!reason)
        throw Error(ErrorKind::usage, "--reason: unknown reason \"" + reason_text + "\" (RFC 5280: " +
                                          revocation_reason_names() + ")");

    auto pki = PkiDir::open(r["dir"].as<std::string>(), open_options);
    std::vector<LedgerEntry> targets;
    std::string what;
    const std::time_t now = std::time(nullptr);
    if (r.count("serial") != 0) {
        std::string serial = r["serial"].as<std::string>();
        for (auto& c : serial) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        // The ledger spells serials as OpenSSL does: whole bytes, so "0A12", never "A12".
        serial.erase(0, std::min(serial.find_first_not_of('0'), serial.size() - 1));
        if (serial.size() % 2 != 0 && serial != "0") serial.insert(0, "0");
        what = "serial " + serial;
        for (auto& e : pki->ledger().by_serial(serial))
            if (e.kind == CertKind::server || e.kind == CertKind::client) targets.push_back(std::move(e));
        if (targets.empty()) throw Error(ErrorKind::input, "revoke: no server or client certificate with " + what);
        if (targets.size() > 1) throw Error(ErrorKind::input, "revoke: " + what + " is ambiguous (several issuers)");
    } else {
        const CertKind kind = r.count("user") != 0 ? CertKind::client : CertKind::server;
        std::string name = r.count("user") != 0 ? r["user"].as<std::string>() : r["server"].as<std::string>();
        what = std::string(to_string(kind)) + " \"" + name + "\"";
        auto all = pki->ledger().by_name(kind, name);
        if (all.empty()) throw Error(ErrorKind::input, "revoke: the ledger has no certificate for " + what);
        // Superseded certificates are still valid until they expire: revoke them too.
        for (auto& e : all)
            if (e.not_after > now) targets.push_back(std::move(e));
    }

    std::vector<std::string> revoked, already;
    std::vector<Action> crl_actions;
    try {
        pki->transact([&] {
            for (const auto& e : targets) (pki->revoke(e, *reason) ? revoked : already).push_back(e.serial);
            crl_actions = pki->refresh_crls(pki->setting("crl_days", kDefaultCrlDays), false);
        });
    } catch (const Error&) {
        if (!pki->unwritten() || (revoked.empty() && already.empty())) throw;
        // The revocation stands (the ledger committed it); only its publication is missing.
        std::string serials;
        for (const auto* list : {&revoked, &already})
            for (const auto& s : *list) serials += (serials.empty() ? "" : ", ") + s;
        throw Error(ErrorKind::io, "revocation of " + what + " serial " + serials + " recorded; CRL not written: " +
                                       pki->unwritten()->what() + "; run `pgca crl`");
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
