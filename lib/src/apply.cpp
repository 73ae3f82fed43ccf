// apply: make a PKI folder match a profile.
//
// Crash safety. The ledger is the source of truth and the files are its projection:
//  1. every change to the ledger happens in one transaction, and the files are written only after
//     it committed, so every certificate that ever reaches the disk is in the ledger (and can be
//     revoked); serials are unique per issuer by a table constraint;
//  2. every file is replaced whole (temporary file + rename), so a reader never sees half a file;
//  3. the next apply compares each folder with the ledger (SHA-256 of the certificate and key files
//     as written) and issues again whatever does not match; stale CRLs, bundles of removed entries
//     and folders the profile does not name are rewritten or removed; temporary files left by a
//     killed run are swept (PkiDir::open, guided by the .pgca-writing marker).
// So a kill -9 at any point leaves a folder the next apply completes.
#include <nlohmann/json.hpp>

#include <ctime>
#include <functional>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/pg_access.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/pg_syntax.hpp"
#include "pgca/pki.hpp"

namespace pgca {
namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

// Why an existing certificate must be issued again, or "" when it can stay.
std::string reissue_reason(const LedgerEntry& current, const nlohmann::json& wanted, const io::Folder& folder,
                           const std::string& cert_file, const std::string& key_file, const std::string& issuer_dn,
                           const PkiDir& pki, int renew_before_days) {
    // The ledger's detail is the dump of what was wanted at issue time: equal text means nothing
    // changed, without parsing (this runs per client).
    if (current.detail != wanted.dump()) {
        nlohmann::json have = nlohmann::json::parse(current.detail, nullptr, false);
        for (const auto& [k, v] : wanted.items())
            if (!have.is_object() || (!have.contains(k) && v != "") || (have.contains(k) && have[k] != v))
                return k + " changed (" + (have.is_object() && have.contains(k) ? have[k].dump() : "none") + " → " +
                       v.dump() + ")";
    }
    std::time_t now = std::time(nullptr);
    // Renewing only helps when the new certificate would end later: one already ending with its
    // issuer (leaves are clamped to the CA's notAfter) stays, or every apply would re-issue it.
    if (current.not_after - now <= static_cast<std::time_t>(renew_before_days) * kDaySeconds &&
        current.not_after < pki.issuer_certificate().not_after())
        return "expires " + format_time(current.not_after) + ", within renew_before_days (" +
               std::to_string(renew_before_days) + ")";
    if (current.issuer != issuer_dn) return "it was not issued by the current CA";
    auto cert_pem = folder.try_read(cert_file);
    auto key_pem = folder.try_read(key_file);
    if (!cert_pem || !key_pem) return "its files are missing";
    if (!current.cert_file_sha256.empty() && !current.key_file_sha256.empty()) {
        // The ledger knows the files as written: comparing digests is enough, and cheap.
        if (sha256_hex(*cert_pem) != current.cert_file_sha256) return cert_file + " is not the file pgca wrote";
        if (sha256_hex(*key_pem) != current.key_file_sha256) return key_file + " is not the file pgca wrote";
        return {};
    }
    try {
        Certificate cert = Certificate::from_pem(*cert_pem, cert_file);
        if (cert.sha256_fingerprint() != current.fingerprint) return cert_file + " is not the certificate in the ledger";
        if (!cert.matches(PrivateKey::from_pem(*key_pem, key_file))) return key_file + " does not match " + cert_file;
        if (!cert.issued_by(pki.issuer_certificate())) return "it was not issued by the current CA";
    } catch (const Error& e) {
        return std::string("its files are unreadable: ") + e.what();
    }
    return {};
}

// The servers and clients a profile lists, looked up in sets: Profile::find_client is a linear
// scan, and these run per ledger entry.
class Listed {
public:
    explicit Listed(const Profile& profile) {
        for (const auto& s : profile.servers) servers_.insert(s.name);
        for (const auto& c : profile.clients) clients_.insert(c.user);
    }
    bool operator()(std::string_view kind, std::string_view name) const {
        return kind == "server" ? servers_.count(name) != 0 : clients_.count(name) != 0;
    }

private:
    std::unordered_set<std::string_view> servers_, clients_;
};

// The servers and clients with a valid certificate that left the profile: apply retires them.
std::set<std::pair<std::string, std::string>> leaving(const std::vector<LedgerEntry>& valid, const Listed& listed) {
    std::set<std::pair<std::string, std::string>> gone;
    for (const auto& e : valid)
        if ((e.kind == "server" || e.kind == "client") && !listed(e.kind, e.name)) gone.insert({e.kind, e.name});
    return gone;
}

// Destructive changes are deliberate: a profile of another name than the folder's, or one that
// would retire most of the folder at once, is almost always the wrong file. Both stop the apply
// (dry run included) before anything changes, unless the options say it is meant.
void refuse_surprises(const Profile& profile, Ledger& ledger, const std::vector<LedgerEntry>& valid,
                      const ApplyOptions& options) {
    auto have = ledger.get_meta("profile_name");
    if (have && *have != profile.name && !options.rename)
        throw Error(ErrorKind::policy, "profile \"" + profile.name + "\": the folder belongs to profile \"" + *have +
                                           "\"; applying another profile would revoke every certificate it does not "
                                           "list; pass --rename if \"" + profile.name + "\" replaces \"" + *have + "\"");
    if (options.allow_mass_revocation) return;
    constexpr std::size_t kMassRevocation = 5;
    std::set<std::pair<std::string, std::string>> leaves;
    for (const auto& e : valid)
        if (e.kind == "server" || e.kind == "client") leaves.insert({e.kind, e.name});
    auto gone = leaving(valid, Listed(profile));
    if (gone.size() < kMassRevocation || gone.size() * 2 <= leaves.size()) return;
    std::string list;
    for (const auto& [kind, name] : gone) list += (list.empty() ? "" : ", ") + kind + " " + name;
    throw Error(ErrorKind::policy, "profile \"" + profile.name + "\" would revoke " + std::to_string(gone.size()) +
                                       " of the folder's " + std::to_string(leaves.size()) +
                                       " servers and clients (no longer in the profile: " + list +
                                       "); nothing was changed; pass --allow-mass-revocation if that is intended");
}

// What a dry run reports for an entry that left the profile: each certificate retire() would
// revoke, and the folder it would remove.
void plan_retire(Ledger& ledger, const io::Layout& layout, const std::string& kind, const std::string& name,
                 const std::function<void(Action)>& note) {
    const std::time_t now = std::time(nullptr);
    std::string serials;
    for (const auto& e : ledger.by_name(kind, name))
        if (e.status != "revoked" && e.not_after > now) serials += (serials.empty() ? "" : ", ") + e.serial;
    note({"revoke", kind, name, "no longer in the profile; would revoke " + (serials.empty() ? "nothing" : serials)});
    std::string folder = kind == "client" ? layout.client_dir(name) : layout.server_dir(name);
    if (io::exists(folder)) note({"remove", "file", folder, kind + " no longer in the profile"});
}

// What a dry run reports for the CRL folders of the servers that stay: the files refresh_crls
// removes because they are not a current CA's hashed CRL name.
void plan_stale_crl_files(PkiDir& pki, const Profile& profile, const std::function<void(Action)>& note) {
    if (!pki.has_ca()) return;
    std::set<std::string> names{hashed_crl_name(pki.root())};
    if (pki.has_intermediate()) names.insert(hashed_crl_name(pki.issuer_certificate()));
    for (const auto& s : profile.servers) {
        std::string dir = pki.layout().server_dir(s.name) + "/crl";
        for (const auto& f : io::list_dir(dir))
            if (names.count(f) == 0) note({"remove", "file", dir + "/" + f, "not a current CA's CRL"});
    }
}

}  // namespace

ApplyResult apply(const Profile& profile, const std::string& dir, const ApplyOptions& options) {
    ApplyResult result;
    // Everything that can be refused is refused here, before the folder is touched.
    detail::PhaseTimer timer_plan("plan access");
    pg::AccessPlan access = pg::plan_access(profile.hba, profile.clients, profile.source);
    result.warnings = access.warnings;
    std::string hba_text = pg::render_hba(profile.name, access);
    std::string ident_text = pg::render_ident(profile.name, access);
    timer_plan.stop();
    auto note = [&](Action a) { result.actions.push_back(std::move(a)); };

    io::Layout layout(dir);
    // The folder's own path goes into postgresql.ssl.conf and every pg_service.conf.
    pg::validate_conf_path(layout.dir(), "the PKI folder");

    // Every passphrase source the profile names is read now, before the folder is opened or
    // created: a missing file or a failing command stops the run with nothing on disk.
    PassphraseCache passphrases;
    if (!profile.ca.passphrase.empty())
        (void)in_context("ca.passphrase", [&]() -> const std::string& { return passphrases.get(profile.ca.passphrase); });
    for (const auto& s : profile.servers)
        if (!s.key_passphrase.empty())
            (void)in_context("server \"" + s.name + "\" key_passphrase",
                             [&]() -> const std::string& { return passphrases.get(s.key_passphrase); });

    if (options.dry_run && !io::exists(layout.ledger())) {
        refuse_unowned_folder(dir, true);  // what the real run would refuse
        note({"create", "root", "root", "new root CA \"" + profile.ca.subject.get("CN") + "\""});
        if (profile.ca.intermediate) note({"create", "intermediate", "intermediate", ""});
        for (const auto& s : profile.servers) note({"issue", "server", s.name, "new"});
        for (const auto& c : profile.clients) note({"issue", "client", c.user, "new"});
        note({"write", "file", layout.hba(), ""});
        note({"write", "file", layout.ident(), ""});
        return result;
    }

    OpenOptions open_options;
    open_options.create = !options.dry_run;
    open_options.read_only = options.dry_run;
    open_options.lock_timeout_seconds = options.lock_timeout_seconds;
    auto pki = PkiDir::open(dir, open_options);
    pki->adopt_passphrases(std::move(passphrases));
    // What the ledger says is current, in one query rather than one per entry (under the
    // folder lock, so it stays true for the transaction below).
    detail::PhaseTimer timer_ledger("read ledger");
    std::vector<LedgerEntry> valid = pki->ledger().valid_entries();
    timer_ledger.stop();
    refuse_surprises(profile, pki->ledger(), valid, options);
    if (options.jobs != 0) pki->set_jobs(options.jobs);
    pki->set_ca_passphrase(profile.ca.passphrase);
    // A wrong or missing passphrase stops here, before anything changes; keys still stored in
    // the clear are encrypted once the profile names a source.
    if (!options.dry_run)
        for (auto& a : pki->protect_ca_keys()) note(std::move(a));
    else if (!profile.ca.passphrase.empty() && pki->has_ca())
        (void)pki->issuer();
    if (pki->recovered())
        result.warnings.push_back("the previous run was interrupted while writing files; its temporary files were "
                                  "removed and every folder is checked against the ledger");
    Ledger& ledger = pki->ledger();
    pki->transact([&] {
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
        if (ca_ready && pki->issuer_certificate().not_after() - std::time(nullptr) <=
                            static_cast<std::time_t>(profile.defaults.renew_before_days) * kDaySeconds)
            result.warnings.push_back("the issuing CA expires " + format_time(pki->issuer_certificate().not_after()) +
                                      ", within renew_before_days: certificates cannot outlive it, so they are not "
                                      "renewed; plan a new CA");
        const std::string issuer_dn = ca_ready ? pki->issuer().certificate().subject_rfc2253() : std::string();

        // (Hashed by kind and name: names never hold a newline.)
        auto key_of = [](std::string_view kind, std::string_view name) {
            std::string k;
            k.reserve(kind.size() + 1 + name.size());
            k.append(kind).append(1, '\n').append(name);
            return k;
        };
        std::unordered_map<std::string, LedgerEntry> current;
        const Listed listed(profile);
        const auto gone = leaving(valid, listed);
        current.reserve(valid.size());
        for (auto& e : valid) {
            std::string k = key_of(e.kind, e.name);
            current[std::move(k)] = std::move(e);
        }
        auto reason = [&](const std::string& kind, const std::string& name, const nlohmann::json& wanted,
                          const io::Folder& folder, const char* cert_file, const char* key_file) {
            auto it = current.find(key_of(kind, name));
            if (it == current.end()) return std::string("new");
            if (!ca_ready) return std::string("new CA");
            return reissue_reason(it->second, wanted, folder, cert_file, key_file, issuer_dn, *pki,
                                  profile.defaults.renew_before_days);
        };

        std::vector<ServerRequest> server_reqs;
        std::vector<ClientRequest> client_reqs;
        std::vector<Action> planned;  // issue/reissue actions, in request order
        for (const auto& s : profile.servers) {
            nlohmann::json wanted = {{"hosts", s.hosts},
                                     {"key", std::string(to_string(profile.server_key(s)))},
                                     {"key_passphrase", s.key_passphrase.to_json()}};
            std::string why = reason("server", s.name, wanted, io::Folder(pki->layout().server_dir(s.name)),
                                     "server.crt", "server.key");
            auto it = current.find(key_of("server", s.name));
            if (why.empty()) {
                note({"keep", "server", s.name, "serial " + it->second.serial});
                continue;
            }
            planned.push_back({it != current.end() ? "reissue" : "issue", "server", s.name, why});
            server_reqs.push_back({s.name, s.hosts, profile.server_key(s), profile.server_days(s), false, s.key_passphrase});
        }
        // Checking a client reads and hashes its certificate and key files and compares its
        // pg_service.conf: with one folder lookup per client, and on several threads, because a
        // profile may list thousands of them.
        struct ClientCheck {
            std::string why;                       // "" when its certificate stays
            std::optional<io::FileWrite> service;  // pg_service.conf, when it differs
            bool folder_ok = false;                // the folder exists with its mode
        };
        std::vector<ClientCheck> checks(profile.clients.size());
        detail::PhaseTimer timer_check("check clients");
        detail::parallel_for(
            profile.clients.size(), pki->jobs(),
            [&](std::size_t i, std::size_t) {
                const ClientSpec& c = profile.clients[i];
                io::Folder folder(pki->layout().client_dir(c.user));
                nlohmann::json wanted = {{"cn", c.common_name()},
                                         {"key", std::string(to_string(profile.client_key(c)))}};
                checks[i].why = reason("client", c.user, wanted, folder, "postgresql.crt", "postgresql.key");
                if (options.dry_run) return;
                io::FileWrite service = pki->client_service_file(profile, c);
                if (!folder.holds("pg_service.conf", service.data, service.mode)) checks[i].service = std::move(service);
                checks[i].folder_ok = folder.mode() == PkiDir::kFolderMode;
            },
            256);
        timer_check.stop();
        for (std::size_t i = 0; i < profile.clients.size(); ++i) {
            const ClientSpec& c = profile.clients[i];
            std::string& why = checks[i].why;
            auto it = current.find(key_of("client", c.user));
            if (why.empty()) {
                note({"keep", "client", c.user, "serial " + it->second.serial});
                continue;
            }
            planned.push_back({it != current.end() ? "reissue" : "issue", "client", c.user, std::move(why)});
            client_reqs.push_back({c.user, c.cn, profile.client_key(c), profile.client_days(c)});
        }
        if (options.dry_run) {
            for (auto& a : planned) note(std::move(a));
        } else if (!planned.empty()) {
            auto certs = pki->issue_batch(server_reqs, client_reqs, options.progress);
            for (std::size_t i = 0; i < planned.size(); ++i) {
                planned[i].detail = "serial " + certs[i].serial_hex + " (" + planned[i].detail + ")";
                note(std::move(planned[i]));
            }
        }
        if (!options.dry_run) {
            for (const auto& s : profile.servers)
                if (pki->write_server_conf(profile, s))
                    note({"write", "file", pki->layout().server_dir(s.name) + "/postgresql.ssl.conf", ""});
            for (std::size_t i = 0; i < checks.size(); ++i) {
                const std::string& user = profile.clients[i].user;
                if (checks[i].service) {
                    pki->queue_client_folder(user);
                    note({"write", "file", checks[i].service->path, ""});
                    pki->files().write(std::move(checks[i].service->path), std::move(checks[i].service->data),
                                       checks[i].service->mode);
                } else if (!checks[i].folder_ok) {
                    pki->queue_client_folder(user);
                }
            }
        }

        // Entries that left the profile: their certificates are revoked and their files removed,
        // so a departed user's copy of the key stops working once the servers load the new CRL.
        for (const auto& [kind, name] : gone) {
            if (options.dry_run) {
                plan_retire(ledger, pki->layout(), kind, name, note);
                continue;
            }
            auto serials = pki->retire(kind, name, RevocationReason::cessation_of_operation);
            std::string list;
            for (const auto& sn : serials) list += (list.empty() ? "" : ", ") + sn;
            note({"revoke", kind, name, "no longer in the profile; revoked " + (list.empty() ? "nothing" : list) +
                                            ", folder removed"});
        }
        // Folders nobody accounts for (left by a killed run, or by hand): removed.
        for (const auto& [parent, kind] : {std::pair{pki->layout().servers_dir(), "server"},
                                           std::pair{pki->layout().clients_dir(), "client"}}) {
            for (const auto& name : io::list_dir(parent)) {
                if (listed(kind, name) || gone.count({kind, name}) != 0) continue;
                if (options.dry_run) {
                    note({"remove", "file", parent + "/" + name, "not in the profile"});
                } else {
                    pki->files().remove(parent + "/" + name);
                    note({"remove", "file", parent + "/" + name, "not in the profile"});
                }
            }
        }

        if (options.dry_run) {
            plan_stale_crl_files(*pki, profile, note);
            return;
        }
        detail::PhaseTimer timer_crls("crls + conf files");
        for (auto& a : pki->refresh_crls(profile.defaults.crl_days, false)) note(std::move(a));
        if (pki->files().write_if_changed(pki->layout().hba(), hba_text, 0644))
            note({"write", "file", pki->layout().hba(), ""});
        if (pki->files().write_if_changed(pki->layout().ident(), ident_text, 0644))
            note({"write", "file", pki->layout().ident(), ""});
        ledger.set_meta("profile_name", profile.name);
        ledger.set_meta("renew_before_days", std::to_string(profile.defaults.renew_before_days));
        ledger.set_meta("crl_days", std::to_string(profile.defaults.crl_days));
        ledger.set_meta("ca_passphrase", profile.ca.passphrase.to_json());
    });
    return result;
}

}  // namespace pgca
