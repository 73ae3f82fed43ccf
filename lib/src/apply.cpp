// apply: make a PKI folder match a profile.
#include <nlohmann/json.hpp>

#include <ctime>
#include <functional>
#include <set>

#include "pgca/error.hpp"
#include "pgca/pg.hpp"
#include "pgca/pki.hpp"

namespace pgca {
namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

// Why an existing certificate must be issued again, or "" when it can stay.
std::string reissue_reason(const LedgerEntry& current, const nlohmann::json& wanted, const std::string& folder,
                           const std::string& cert_file, const std::string& key_file, const PkiDir& pki,
                           int renew_before_days) {
    nlohmann::json have = nlohmann::json::parse(current.detail, nullptr, false);
    for (const auto& [k, v] : wanted.items())
        if (!have.is_object() || !have.contains(k) || have[k] != v)
            return k + " changed (" + (have.is_object() && have.contains(k) ? have[k].dump() : "none") + " → " + v.dump() + ")";
    std::time_t now = std::time(nullptr);
    if (current.not_after - now <= static_cast<std::time_t>(renew_before_days) * kDaySeconds)
        return "expires " + format_time(current.not_after) + ", within renew_before_days (" +
               std::to_string(renew_before_days) + ")";
    auto cert_pem = io::try_read_file(folder + "/" + cert_file);
    auto key_pem = io::try_read_file(folder + "/" + key_file);
    if (!cert_pem || !key_pem) return "its files are missing";
    try {
        Certificate cert = Certificate::from_pem(*cert_pem, cert_file);
        if (cert.sha256_fingerprint() != current.fingerprint) return cert_file + " is not the certificate in the ledger";
        if (!cert.matches(PrivateKey::from_pem(*key_pem, key_file))) return key_file + " does not match " + cert_file;
        if (!cert.issued_by(pki.issuer().certificate())) return "it was not issued by the current CA";
    } catch (const Error& e) {
        return std::string("its files are unreadable: ") + e.what();
    }
    return {};
}

}  // namespace

ApplyResult apply(const Profile& profile, const std::string& dir, const ApplyOptions& options) {
    ApplyResult result;
    // Everything that can be refused is refused here, before the folder is touched.
    pg::AccessPlan access = pg::plan_access(profile);
    result.warnings = access.warnings;
    std::string hba_text = pg::render_hba(profile, access);
    std::string ident_text = pg::render_ident(profile, access);

    io::Layout layout(dir);
    if (options.dry_run && !io::exists(layout.ledger())) {
        result.actions.push_back({"create", "root", "root", "new root CA \"" + profile.ca.subject.get("CN") + "\""});
        if (profile.ca.intermediate) result.actions.push_back({"create", "intermediate", "intermediate", ""});
        for (const auto& s : profile.servers) result.actions.push_back({"issue", "server", s.name, "new"});
        for (const auto& c : profile.clients) result.actions.push_back({"issue", "client", c.user, "new"});
        result.actions.push_back({"write", "file", layout.hba(), ""});
        result.actions.push_back({"write", "file", layout.ident(), ""});
        return result;
    }

    auto pki = PkiDir::open(dir, true);
    Ledger& ledger = pki->ledger();
    in_transaction(ledger, [&](Ledger&) {
        auto note = [&](Action a) { result.actions.push_back(std::move(a)); };

        if (!pki->has_ca()) {
            if (options.dry_run) {
                note({"create", "root", "root", ""});
            } else {
                for (auto& a : pki->create_ca(profile.ca)) note(std::move(a));
            }
        } else {
            std::string have = pki->root().subject_rfc2253();
            std::string want = profile.ca.subject.rfc2253();
            if (have != want)
                result.warnings.push_back("ca.subject: the folder's root CA is \"" + have + "\", the profile says \"" +
                                          want + "\"; pgca keeps the existing root (a new root means new trust on "
                                          "every server and client)");
            if (profile.ca.intermediate && !pki->has_intermediate()) {
                if (options.dry_run)
                    note({"create", "intermediate", "intermediate", ""});
                else
                    note(pki->create_intermediate(*profile.ca.intermediate));
            } else if (!profile.ca.intermediate && pki->has_intermediate()) {
                result.warnings.push_back("ca.intermediate: the folder has an intermediate CA the profile does not "
                                          "mention; pgca keeps issuing from it");
            }
        }
        const bool ca_ready = pki->has_ca();

        // One pass for servers and one for clients: re-issue what the profile changed or what broke.
        auto reconcile = [&](const std::string& kind, const std::string& name, const nlohmann::json& wanted,
                             const std::string& folder, const char* cert_file, const char* key_file,
                             const std::function<Certificate()>& issue) {
            auto current = ledger.current(kind, name);
            std::string why = !current ? "new"
                              : !ca_ready ? "new CA"
                                          : reissue_reason(*current, wanted, folder, cert_file, key_file, *pki,
                                                           profile.defaults.renew_before_days);
            if (why.empty()) {
                note({"keep", kind, name, "serial " + current->serial});
            } else if (options.dry_run) {
                note({current ? "reissue" : "issue", kind, name, why});
            } else {
                Certificate c = issue();
                note({current ? "reissue" : "issue", kind, name, "serial " + c.serial_hex() + " (" + why + ")"});
            }
        };
        for (const auto& s : profile.servers) {
            nlohmann::json wanted = {{"hosts", s.hosts}, {"key", std::string(to_string(profile.server_key(s)))}};
            reconcile("server", s.name, wanted, pki->layout().server_dir(s.name), "server.crt", "server.key", [&] {
                return pki->issue_server({s.name, s.hosts, profile.server_key(s), profile.server_days(s), false});
            });
            if (!options.dry_run && pki->write_server_conf(profile, s))
                note({"write", "file", pki->layout().server_dir(s.name) + "/postgresql.ssl.conf", ""});
        }
        for (const auto& c : profile.clients) {
            nlohmann::json wanted = {{"cn", c.common_name()}, {"key", std::string(to_string(profile.client_key(c)))}};
            reconcile("client", c.user, wanted, pki->layout().client_dir(c.user), "postgresql.crt", "postgresql.key",
                      [&] {
                          return pki->issue_client({c.user, c.cn, profile.client_key(c), profile.client_days(c)});
                      });
            if (!options.dry_run && pki->write_client_service(profile, c))
                note({"write", "file", pki->layout().client_dir(c.user) + "/pg_service.conf", ""});
        }

        // Entries that left the profile: their certificates are revoked and their files removed,
        // so a departed user's copy of the key stops working once the servers load the new CRL.
        std::set<std::pair<std::string, std::string>> gone;
        for (const auto& e : ledger.list()) {
            if ((e.kind != "server" && e.kind != "client") || e.status == "revoked") continue;
            bool listed = e.kind == "server" ? profile.find_server(e.name) != nullptr
                                             : profile.find_client(e.name) != nullptr;
            if (!listed) gone.insert({e.kind, e.name});
        }
        for (const auto& [kind, name] : gone) {
            if (options.dry_run) {
                note({"revoke", kind, name, "no longer in the profile"});
                continue;
            }
            auto serials = pki->retire(kind, name, RevocationReason::cessation_of_operation);
            std::string list;
            for (const auto& sn : serials) list += (list.empty() ? "" : ", ") + sn;
            note({"revoke", kind, name, "no longer in the profile; revoked " + (list.empty() ? "nothing" : list) +
                                            ", folder removed"});
        }

        if (options.dry_run) return;
        for (auto& a : pki->refresh_crls(profile.defaults.crl_days, false)) note(std::move(a));
        if (io::write_if_changed(pki->layout().hba(), hba_text, 0644)) note({"write", "file", pki->layout().hba(), ""});
        if (io::write_if_changed(pki->layout().ident(), ident_text, 0644))
            note({"write", "file", pki->layout().ident(), ""});
        ledger.set_meta("profile_name", profile.name);
        ledger.set_meta("renew_before_days", std::to_string(profile.defaults.renew_before_days));
        ledger.set_meta("crl_days", std::to_string(profile.defaults.crl_days));
    });
    return result;
}

}  // namespace pgca
