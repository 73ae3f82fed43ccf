// apply's plan: what the profile asks for, against what the ledger and the files say.
#include "pgca/plan.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/pg_access.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/pkcs12.hpp"
#include "pgca/wipe.hpp"
#include "pgca/pooler.hpp"

namespace pgca {
namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

// The issuing CA as the plan sees it: the one that signs once the plan's CA steps are done.
struct IssuingCa {
    bool ready = false;      // a CA exists before the plan runs
    std::string dn;          // "" when the plan makes a new issuing CA (a new intermediate)
    std::time_t not_after = 0;
};

// Why an existing certificate must be issued again, or "" when it can stay.
std::string reissue_reason(const LedgerEntry& current, const IssueParams& wanted, const io::Folder& folder,
                           const std::string& cert_file, const std::string& key_file, const IssuingCa& ca,
                           const PkiDir& pki, int renew_before_days) {
    // Equal fingerprints mean nothing that decides a re-issue changed (this runs per client);
    // otherwise the first difference is the reason (none when only unknown fields differ).
    if (current.params.fingerprint() != wanted.fingerprint()) {
        auto why = current.params.differences(wanted);
        if (!why.empty()) return why.front();
    }
    std::time_t now = std::time(nullptr);
    // Renewing only helps when the new certificate would end later: one already ending with its
    // issuer (leaves are clamped to the CA's notAfter) stays, or every apply would re-issue it.
    if (current.not_after - now <= static_cast<std::time_t>(renew_before_days) * kDaySeconds &&
        current.not_after < ca.not_after)
        return "expires " + format_time(current.not_after) + ", within renew_before_days (" +
               std::to_string(renew_before_days) + ")";
    if (current.issuer != ca.dn) return "it was not issued by the current CA";
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
        if (!cert.issued_by(pki.ca().issuer_certificate())) return "it was not issued by the current CA";
    } catch (const Error& e) {
        return std::string("its files are unreadable: ") + e.what();
    }
    return {};
}

// The key formats some client had in the last apply: only then can a client folder hold a
// postgresql.pk8 or .p12 that its formats no longer ask for (a PEM-only folder is not searched).
ClientFormats formats_in_use(Ledger& ledger) {
    ClientFormats used;
    auto text = ledger.get_meta("applied_profile");
    if (!text) return used;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object() && j.contains("client_formats_used") && j["client_formats_used"].is_object()) {
        used.pk8 = j["client_formats_used"].value("pk8", false);
        used.p12 = j["client_formats_used"].value("p12", false);
    }
    return used;
}

// A client's key files: whether one it wants is missing or not made from its kept key and
// certificate (a new certificate brings new ones), and which unwanted ones `maybe` (the formats
// of the last apply) may have left.
KeyFilesChange check_key_files(const std::string& dir, const io::Folder& folder, const ClientFormats& want,
                               const ClientFormats& maybe, bool kept, const std::string* p12_pass) {
    KeyFilesChange out;
    for (const auto& [wanted, present, name] : {std::tuple{want.pk8, maybe.pk8, io::Layout::kClientPk8},
                                                 std::tuple{want.p12, maybe.p12, io::Layout::kClientP12}})
        if (!wanted && present && io::exists(dir + "/" + name)) out.remove.push_back(name);  // a link too
    if (!kept || !want.any()) return out;
    auto key_pem = folder.try_read(io::Layout::kClientKey);
    auto cert_pem = folder.try_read(io::Layout::kClientCert);
    if (!key_pem || !cert_pem) return out;  // not kept after all: reissue_reason saw them
    try {
        const PrivateKey key = PrivateKey::from_pem(*key_pem, io::Layout::kClientKey);
        if (want.pk8) out.write = out.write || !folder.holds(io::Layout::kClientPk8, key.to_pkcs8_der(), 0600);
        if (want.p12) {
            auto p12 = folder.try_read(io::Layout::kClientP12);
            // Its salts differ at every write: what it holds is checked, then its mode.
            out.write = out.write || !p12 || !pkcs12_holds(*p12, key, *cert_pem, kPkcs12Alias, *p12_pass) ||
                        !folder.holds(io::Layout::kClientP12, *p12, 0600);
        }
    } catch (const Error&) {
        out.write = true;
    }
    return out;
}

// The servers and clients a profile lists, looked up in sets: Profile::find_client is a linear
// scan, and these run per ledger entry.
class Listed {
public:
    explicit Listed(const Profile& profile) {
        for (const auto& s : profile.servers) servers_.insert(s.name);
        for (const auto& c : profile.clients) clients_.insert(c.user);
        for (const auto& p : profile.poolers) poolers_.insert(p.name);
    }
    bool operator()(CertKind kind, std::string_view name) const {
        if (kind == CertKind::pooler || kind == CertKind::pooler_client) return poolers_.count(name) != 0;
        return kind == CertKind::server ? servers_.count(name) != 0 : clients_.count(name) != 0;
    }

private:
    std::unordered_set<std::string_view> servers_, clients_, poolers_;
};

// The servers, clients and poolers with a valid certificate that left the profile: apply retires them.
bool is_leaf(CertKind kind) { return is_server_kind(kind) || is_client_kind(kind); }

std::set<std::pair<CertKind, std::string>> leaving(const std::vector<LedgerEntry>& valid, const Listed& listed) {
    std::set<std::pair<CertKind, std::string>> gone;
    for (const auto& e : valid)
        if (is_leaf(e.kind) && !listed(e.kind, e.name)) gone.insert({e.kind, e.name});
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
    std::set<std::pair<CertKind, std::string>> leaves;
    for (const auto& e : valid)
        if (is_leaf(e.kind)) leaves.insert({e.kind, e.name});
    auto gone = leaving(valid, Listed(profile));
    if (gone.size() < kMassRevocation || gone.size() * 2 <= leaves.size()) return;
    std::string list;
    for (const auto& [kind, name] : gone) list += (list.empty() ? "" : ", ") + std::string(to_string(kind)) + " " + name;
    throw Error(ErrorKind::policy, "profile \"" + profile.name + "\" would revoke " + std::to_string(gone.size()) +
                                       " of the folder's " + std::to_string(leaves.size()) +
                                       " servers and clients (no longer in the profile: " + list +
                                       "); nothing was changed; pass --allow-mass-revocation if that is intended");
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? std::string("nothing") : out;
}

// A leaf that left the profile: each certificate retire() revokes, and the folder it removes.
void plan_retire(Plan& plan, Ledger& ledger, const io::Layout& layout, CertKind kind, const std::string& name) {
    const std::time_t now = std::time(nullptr);
    const std::string kind_name(to_string(kind));
    std::vector<std::string> serials;
    for (const auto& e : ledger.by_name(kind, name))
        if (e.status != CertStatus::revoked && e.not_after > now) serials.push_back(e.serial);
    plan.steps.push_back({StepKind::retire, kind_name, name, "no longer in the profile; would revoke " + joined(serials)});
    std::string folder = layout.leaf_files(kind, name).folder;
    if (io::exists(folder) && (kind != CertKind::pooler_client || ledger.by_name(CertKind::pooler, name).empty()))
        plan.steps.push_back({StepKind::remove, "file", folder, kind_name + " no longer in the profile", true, false});
}

// The CRL folders of the servers that stay: the files refresh_crls removes because they are not
// a current CA's hashed CRL name.
void plan_stale_crl_files(Plan& plan, const PkiDir& pki, const Profile& profile) {
    if (!pki.ca().has_ca()) return;
    std::set<std::string> names;
    for (const auto& t : pki.ca().trusted()) names.insert(hashed_crl_name(*t.cert));
    for (const auto& s : profile.servers) {
        std::string dir = pki.layout().server_crl_dir(s.name);
        for (const auto& f : io::list_dir(dir))
            if (names.count(f) == 0)
                plan.steps.push_back({StepKind::remove, "file", dir + "/" + f, "not a current CA's CRL", true, false});
    }
}

// The CA steps, and the warnings about a CA the profile describes otherwise.
IssuingCa plan_ca(Plan& plan, const Profile& profile, PkiDir& pki) {
    IssuingCa ca;
    if (!pki.ca().has_ca()) {
        plan.steps.push_back({StepKind::create_root, "root", "root", ""});
        return ca;
    }
    ca.ready = true;
    std::string have = pki.ca().root().subject_rfc2253();
    std::string want = profile.ca.subject.rfc2253();
    if (have != want)
        plan.warnings.push_back("ca.subject: the folder's root CA is \"" + have + "\", the profile says \"" + want +
                                "\"; pgca keeps the existing root (a new root means new trust on every server and "
                                "client)");
    ca.dn = pki.ca().issuer().certificate().subject_rfc2253();
    ca.not_after = pki.ca().issuer_certificate().not_after();
    if (profile.ca.intermediate && !pki.ca().has_intermediate()) {
        plan.steps.push_back({StepKind::create_intermediate, "intermediate", "intermediate", ""});
        ca.dn.clear();  // every leaf the root signed is issued again by the new intermediate
    } else if (!profile.ca.intermediate && pki.ca().has_intermediate()) {
        plan.warnings.push_back("ca.intermediate: the folder has an intermediate CA the profile does not mention; "
                                "pgca keeps issuing from it");
    }
    if (ca.not_after - std::time(nullptr) <= static_cast<std::time_t>(profile.defaults.renew_before_days) * kDaySeconds)
        plan.warnings.push_back("the issuing CA expires " + format_time(ca.not_after) +
                                ", within renew_before_days: certificates cannot outlive it, so they are not renewed; "
                                "plan a new CA");
    return ca;
}

// The ledger's current certificates, by kind and name (hashed: names never hold a newline).
class Current {
public:
    explicit Current(std::vector<LedgerEntry>&& valid) {
        map_.reserve(valid.size());
        for (auto& e : valid) {
            std::string k = key(e.kind, e.name);
            map_[std::move(k)] = std::move(e);
        }
    }
    const LedgerEntry* find(CertKind kind, std::string_view name) const {
        auto it = map_.find(key(kind, name));
        return it == map_.end() ? nullptr : &it->second;
    }

private:
    static std::string key(CertKind kind_enum, std::string_view name) {
        const std::string_view kind = to_string(kind_enum);
        std::string k;
        k.reserve(kind.size() + 1 + name.size());
        k.append(kind).append(1, '\n').append(name);
        return k;
    }
    std::unordered_map<std::string, LedgerEntry> map_;
};

// The certificate steps: keep, issue or reissue, servers then clients, keeps first.
class LeafPlanner {
public:
    LeafPlanner(Plan& plan, const Profile& profile, PkiDir& pki, const Current& current, const IssuingCa& ca)
        : plan_(plan), profile_(profile), pki_(pki), current_(current), ca_(ca) {}

    void servers() {
        for (const auto& s : profile_.servers) {
            IssueParams wanted =
                IssueParams::server(s.name, s.hosts, profile_.server_key(s), profile_.server_days(s), s.key_passphrase);
            const io::Layout& l = pki_.layout();
            std::string why = reason(wanted, io::Folder(l.server_dir(s.name)), io::Layout::kServerCert,
                                     io::Layout::kServerKey);
            // What decided is what is issued (and recorded).
            if (decide(CertKind::server, s.name, std::move(why))) plan_.servers.push_back({std::move(wanted), false});
        }
        // A pooler's server certificate is a server's (issue_batch takes them with the servers).
        for (const auto& p : profile_.poolers)
            if (decide_pooler(pooler::server_params(profile_, p)))
                plan_.servers.push_back(pooler::server_request(profile_, p));
    }

    // Checking a client reads and hashes its certificate and key files and compares its
    // pg_service.conf: with one folder lookup per client, and on several threads, because a
    // profile may list thousands of them.
    void clients() {
        // A pooler's client certificate is a client's, issued before the profile's clients.
        for (const auto& p : profile_.poolers)
            if (decide_pooler(pooler::client_params(profile_, p)))
                plan_.clients.push_back(pooler::client_request(profile_, p));
        checks_.resize(profile_.clients.size());
        const ClientFormats in_use = formats_in_use(pki_.ledger());
        const std::string* p12_pass = nullptr;
        for (const auto& c : profile_.clients)
            if (profile_.client_formats(c).p12) {
                p12_pass = &pki_.passphrase(profile_.defaults.p12_passphrase);
                break;
            }
        detail::PhaseTimer timer_check("check clients");
        detail::parallel_for(
            profile_.clients.size(), pki_.jobs(),
            [&](std::size_t i, std::size_t) {
                const ClientSpec& c = profile_.clients[i];
                io::Folder folder(pki_.layout().client_dir(c.user));
                checks_[i].wanted = IssueParams::client(c.user, c.cn, profile_.client_key(c), profile_.client_days(c));
                checks_[i].why = reason(checks_[i].wanted, folder, io::Layout::kClientCert, io::Layout::kClientKey);
                const ClientFormats formats = profile_.client_formats(c);
                if (formats.any() || in_use.any())
                    checks_[i].key_files = check_key_files(pki_.layout().client_dir(c.user), folder, formats, in_use,
                                                           checks_[i].why.empty(), p12_pass);
                io::FileWrite service = pg::service_file(pki_.layout(), profile_, c);
                if (!folder.holds(io::Layout::kClientService, service.data, service.mode))
                    checks_[i].service = std::move(service);
                checks_[i].folder_ok = folder.mode() == io::Layout::kPrivateDir;
            },
            256);
        timer_check.stop();
        for (std::size_t i = 0; i < profile_.clients.size(); ++i) {
            const ClientSpec& c = profile_.clients[i];
            if (decide(CertKind::client, c.user, std::move(checks_[i].why)))
                plan_.clients.push_back(
                    {std::move(checks_[i].wanted), profile_.client_formats(c), profile_.defaults.p12_passphrase});
        }
    }

    // The issue steps (after every keep), every server's postgresql.ssl.conf (written when it
    // differs), then each client's pg_service.conf that differs or the folder whose mode is to be
    // restored.
    void finish() {
        for (auto& step : issues_) plan_.steps.push_back(std::move(step));
        for (const auto& s : profile_.servers)
            plan_.steps.push_back({StepKind::write_server_conf, "server", s.name, "", false, true});
        for (const auto& p : profile_.poolers)
            plan_.steps.push_back({StepKind::write_pooler_files, "pooler", p.name, "", false, true});
        for (std::size_t i = 0; i < checks_.size(); ++i) {
            const std::string& user = profile_.clients[i].user;
            if (checks_[i].service) {
                plan_.steps.push_back({StepKind::write_service, "client", user, "", false, true});
                plan_.writes.push_back(std::move(*checks_[i].service));
            } else if (!checks_[i].folder_ok) {
                plan_.steps.push_back({StepKind::ensure_folder, "client", user, "", false, true});
            }
            if (checks_[i].key_files.needed()) {
                plan_.steps.push_back({StepKind::write_key_files, "client", user, "", false, true});
                plan_.key_files.push_back(std::move(checks_[i].key_files));
            }
        }
    }

private:
    struct ClientCheck {
        IssueParams wanted;                    // what it is (or would be) issued with
        std::string why;                       // "" when its certificate stays
        std::optional<io::FileWrite> service;  // pg_service.conf, when it differs
        bool folder_ok = false;                // the folder exists with its mode
        KeyFilesChange key_files;              // postgresql.pk8 / .p12 to write or remove
    };

    std::string reason(const IssueParams& wanted, const io::Folder& folder, const char* cert_file,
                       const char* key_file) const {
        const LedgerEntry* e = current_.find(wanted.kind, wanted.name);
        if (e == nullptr) return "new";
        if (!ca_.ready) return "new CA";
        return reissue_reason(*e, wanted, folder, cert_file, key_file, ca_, pki_, profile_.defaults.renew_before_days);
    }

    bool decide_pooler(const IssueParams& wanted) {
        const io::Layout::LeafFiles where = pki_.layout().leaf_files(wanted.kind, wanted.name);
        return decide(wanted.kind, wanted.name, reason(wanted, io::Folder(where.folder), where.cert, where.key));
    }

    // A keep step now, or an issue step queued after every keep. True when it issues.
    bool decide(CertKind kind, const std::string& name, std::string why) {
        const LedgerEntry* e = current_.find(kind, name);
        const std::string kind_name(to_string(kind));
        if (why.empty()) {
            plan_.steps.push_back({StepKind::keep, kind_name, name, "serial " + e->serial});
            return false;
        }
        issues_.push_back({e != nullptr ? StepKind::reissue : StepKind::issue, kind_name, name, std::move(why)});
        return true;
    }

    Plan& plan_;
    const Profile& profile_;
    PkiDir& pki_;
    const Current& current_;
    const IssuingCa& ca_;
    std::vector<ClientCheck> checks_;
    std::vector<Step> issues_;
};

}  // namespace

const char* verb(StepKind kind) noexcept {
    switch (kind) {
        case StepKind::protect_ca_keys: return "encrypt";
        case StepKind::create_root:
        case StepKind::create_intermediate: return "create";
        case StepKind::issue: return "issue";
        case StepKind::reissue: return "reissue";
        case StepKind::keep: return "keep";
        case StepKind::write_server_conf:
        case StepKind::write_pooler_files:
        case StepKind::write_service:
        case StepKind::refresh_crls:
        case StepKind::write_file: return "write";
        case StepKind::ensure_folder: return "ensure";
        case StepKind::write_key_files: return "write";
        case StepKind::retire: return "revoke";
        case StepKind::remove: return "remove";
        case StepKind::record_settings:
        case StepKind::record_passphrase: return "record";
        case StepKind::revoke: return "revoke";
        case StepKind::rotate: return "rotate";
        case StepKind::reload: return "reload";
        case StepKind::verify: return "verify";
        case StepKind::create_next_ca: return "create";
        case StepKind::write_trust: return "write";
        case StepKind::promote_ca: return "promote";
        case StepKind::record_phase: return "record";
    }
    return "?";
}

std::vector<Action> Plan::preview() const {
    std::vector<Action> out;
    for (const auto& s : steps)
        if (s.listed) out.push_back({verb(s.kind), s.target_kind, s.name, s.reason});
    return out;
}

AccessFiles render_access(const Profile& profile) {
    pg::AccessPlan access = pg::plan_access(profile.hba, profile.clients, profile.source);
    pooler::add_access(profile, access);
    return {pg::render_hba(profile.name, access), pg::render_ident(profile.name, access), access.warnings};
}

Plan plan_fresh_apply(const Profile& profile, const AccessFiles& access, const io::Layout& layout) {
    Plan plan;
    plan.steps.push_back({StepKind::create_root, "root", "root", "new root CA \"" + profile.ca.subject.get("CN") + "\""});
    if (profile.ca.intermediate)
        plan.steps.push_back({StepKind::create_intermediate, "intermediate", "intermediate", "", true, false});
    for (const auto& s : profile.servers) plan.steps.push_back({StepKind::issue, "server", s.name, "new"});
    for (const auto& p : profile.poolers) plan.steps.push_back({StepKind::issue, "pooler", p.name, "new"});
    for (const auto& p : profile.poolers) plan.steps.push_back({StepKind::issue, "pooler_client", p.name, "new"});
    for (const auto& c : profile.clients) plan.steps.push_back({StepKind::issue, "client", c.user, "new"});
    plan.steps.push_back({StepKind::write_file, "file", layout.hba(), ""});
    plan.writes.push_back({layout.hba(), access.hba, io::Layout::kPublicFile});
    plan.steps.push_back({StepKind::write_file, "file", layout.ident(), ""});
    plan.writes.push_back({layout.ident(), access.ident, io::Layout::kPublicFile});
    return plan;
}

Plan plan_apply(const Profile& profile, const AccessFiles& access, PkiDir& pki, const ApplyOptions& options) {
    Plan plan;
    // What the ledger says is current, in one query rather than one per entry.
    detail::PhaseTimer timer_ledger("read ledger");
    std::vector<LedgerEntry> valid = pki.ledger().valid_entries();
    timer_ledger.stop();
    refuse_surprises(profile, pki.ledger(), valid, options);
    // A wrong or missing passphrase stops here, before anything changes; keys still stored in
    // the clear are encrypted once the profile names a source.
    if (!profile.ca.passphrase.empty() && pki.ca().has_ca()) {
        pki.ca().unlock_keys();
        plan.steps.push_back({StepKind::protect_ca_keys, "root", "root", "", false, true});
    }
    const IssuingCa ca = plan_ca(plan, profile, pki);

    const Listed listed(profile);
    const auto gone = leaving(valid, listed);
    const Current current(std::move(valid));
    LeafPlanner leaves(plan, profile, pki, current, ca);
    leaves.servers();
    leaves.clients();
    leaves.finish();
    // During a CA rollover every trust file holds both roots, a kept leaf's too (begin wrote
    // them; this restores one that was replaced).
    if (pki.ca().next() != nullptr) {
        for (const auto& s : profile.servers) plan.steps.push_back({StepKind::write_trust, "server", s.name, "", false, true});
        for (const auto& p : profile.poolers) plan.steps.push_back({StepKind::write_trust, "pooler", p.name, "", false, true});
        for (const auto& c : profile.clients) plan.steps.push_back({StepKind::write_trust, "client", c.user, "", false, true});
    }

    // Entries that left the profile: their certificates are revoked and their files removed,
    // so a departed user's copy of the key stops working once the servers load the new CRL.
    for (const auto& [kind, name] : gone) plan_retire(plan, pki.ledger(), pki.layout(), kind, name);
    // Folders nobody accounts for (left by a killed run, or by hand): removed.
    for (const auto& [parent, kind] : {std::pair{pki.layout().servers_dir(), CertKind::server},
                                       std::pair{pki.layout().clients_dir(), CertKind::client},
                                       std::pair{pki.layout().poolers_dir(), CertKind::pooler}})
        for (const auto& name : io::list_dir(parent))
            if (!listed(kind, name) && gone.count({kind, name}) == 0 && gone.count({CertKind::pooler_client, name}) == 0)
                plan.steps.push_back({StepKind::remove, "file", parent + "/" + name, "not in the profile"});
    plan_stale_crl_files(plan, pki, profile);

    plan.steps.push_back({StepKind::refresh_crls, "crl", "", "", false, true});
    for (const auto& [path, text] : {std::pair{pki.layout().hba(), &access.hba}, {pki.layout().ident(), &access.ident}}) {
        plan.steps.push_back({StepKind::write_file, "file", path, "", false, true});
        plan.writes.push_back({path, *text, io::Layout::kPublicFile});
    }
    plan.steps.push_back({StepKind::record_settings, "file", pki.layout().ledger(), "", false, true});
    return plan;
}

namespace {

// Carries out one plan, step by step, reporting what each did.
class Executor {
public:
    Executor(Plan& plan, const Profile& profile, PkiDir& pki, const Progress& progress)
        : plan_(plan), profile_(profile), pki_(pki), progress_(progress) {}

    Executed run() {
        for (auto& step : plan_.steps)
            if (step.executes) one(step);
        return {std::move(done_), std::move(leaves_)};
    }

private:
    void add(std::vector<Action>&& actions) {
        for (auto& a : actions) done_.push_back(std::move(a));
    }

    void one(Step& step) {
        switch (step.kind) {
            case StepKind::protect_ca_keys: return add(pki_.ca().protect_keys());
            case StepKind::record_passphrase:
                pki_.ledger().set_meta("ca_passphrase", profile_.ca.passphrase.to_json());
                return done_.push_back({verb(step.kind), step.target_kind, step.name, step.reason});
            case StepKind::create_root: return add(pki_.ca().create_ca(profile_.ca));
            case StepKind::create_intermediate: return done_.push_back(pki_.ca().create_intermediate(*profile_.ca.intermediate));
            case StepKind::keep: return done_.push_back({verb(step.kind), step.target_kind, step.name, step.reason});
            case StepKind::issue:
            case StepKind::reissue:
            case StepKind::rotate: return issued(step);
            case StepKind::revoke: {
                const LedgerEntry& e = plan_.revocations[next_revocation_++];
                if (pki_.issuance().revoke(e, plan_.revocation_reason))
                    done_.push_back({"revoke", step.target_kind, step.name, "serial " + e.serial});
                return;
            }
            case StepKind::reload:
            case StepKind::verify: return;  // after the commit, by the caller
            case StepKind::write_server_conf: {
                const ServerSpec* s = profile_.find_server(step.name);
                if (s == nullptr) return;
                pki_.issuance().queue_folder(CertKind::server, s->name);
                if (pki_.files().write_if_changed(pg::server_conf_file(pki_.layout(), profile_, *s)))
                    done_.push_back({"write", "file", pki_.layout().server_conf(step.name), ""});
                return;
            }
            case StepKind::write_pooler_files: {
                const PoolerSpec* p = profile_.find_pooler(step.name);
                if (p != nullptr)
                    for (auto& path : pooler::queue_files(pki_, profile_, *p)) done_.push_back({"write", "file", path, ""});
                return;
            }
            case StepKind::write_service: {
                io::FileWrite& w = plan_.writes[next_write_++];
                pki_.issuance().queue_folder(CertKind::client, step.name);
                done_.push_back({"write", "file", w.path, ""});
                return pki_.files().write(std::move(w.path), std::move(w.data), w.mode);
            }
            case StepKind::ensure_folder: return pki_.issuance().queue_folder(CertKind::client, step.name);
            case StepKind::write_key_files: return write_key_files(step);
            case StepKind::retire: {
                const CertKind kind = parse_cert_kind(step.target_kind).value_or(CertKind::server);
                auto serials = pki_.issuance().retire(kind, step.name, RevocationReason::cessation_of_operation);
                done_.push_back({"revoke", step.target_kind, step.name,
                                 "no longer in the profile; revoked " + joined(serials) + ", folder removed"});
                return;
            }
            case StepKind::remove:
                pki_.files().remove(step.name);
                return done_.push_back({"remove", "file", step.name, step.reason});
            case StepKind::refresh_crls: {
                detail::PhaseTimer timer_crls("crls");
                return add(pki_.crl_publisher().refresh(profile_.defaults.crl_days, plan_.fresh_crls));
            }
            case StepKind::write_file: {
                io::FileWrite& w = plan_.writes[next_write_++];
                if (pki_.files().write_if_changed(w.path, std::move(w.data), w.mode))
                    done_.push_back({"write", "file", w.path, ""});
                return;
            }
            case StepKind::record_settings: return record_settings();
            case StepKind::create_next_ca:
                return done_.push_back(pki_.ca().create_next(plan_.next_ca.subject, plan_.next_ca.key, plan_.next_ca.days,
                                                             plan_.next_intermediate));
            case StepKind::promote_ca: return add(pki_.ca().promote_next());
            case StepKind::write_trust: return write_trust(step);
            case StepKind::record_phase: return record_phase(step);
        }
    }

    // A leaf folder's root.crt, as the CAs are now (after this plan's CA steps).
    void write_trust(const Step& step) {
        const CertKind kind = parse_cert_kind(step.target_kind).value_or(CertKind::server);
        const std::string path = pki_.layout().leaf_files(kind, step.name).folder + "/" + io::Layout::kTrust;
        if (!io::exists(pki_.layout().leaf_files(kind, step.name).folder)) return;  // nothing deployed there
        if (pki_.files().write_if_changed(path, pki_.ca().trust_pem(kind != CertKind::client), io::Layout::kPublicFile))
            done_.push_back({"write", "file", path, step.reason});
    }

    void record_phase(const Step& step) {
        Ledger& ledger = pki_.ledger();
        CaStore& ca = pki_.ca();
        ledger.set_meta(kRolloverPhase, step.name);
        if (step.name == "begun") {
            ledger.set_meta(kRolloverOld, (ca.next_is_intermediate() ? *ca.intermediate() : ca.root()).subject_rfc2253());
            ledger.set_meta(kRolloverNew, ca.next() != nullptr ? ca.next()->subject_rfc2253() : "");
            ledger.set_meta(kRolloverOptions, plan_.rollover_options);
        } else if (step.name.empty()) {
            for (const char* key : {kRolloverOld, kRolloverNew, kRolloverOptions}) ledger.set_meta(key, "");
        }
        ca.set_issues_from_next(step.name == "reissued");
        done_.push_back({verb(step.kind), "file", "rollover_phase",
                         step.name.empty() ? std::string("no rollover in progress") : step.name});
    }

    // A kept client's postgresql.pk8/.p12, made again from the key and certificate on disk (the
    // plan checked them in this transaction, under the folder lock); unwanted ones removed.
    void write_key_files(const Step& step) {
        const KeyFilesChange& change = plan_.key_files[next_key_files_++];
        const ClientSpec* c = profile_.find_client(step.name);
        if (c == nullptr) return;
        const io::Layout& l = pki_.layout();
        for (const char* name : change.remove) {
            pki_.files().remove(l.client_file(step.name, name));
            done_.push_back({"remove", "file", l.client_file(step.name, name), "not in the client's formats"});
        }
        if (!change.write) return;
        const ClientFormats want = profile_.client_formats(*c);
        in_context("client \"" + step.name + "\" key formats", [&] {
            const std::string key_path = l.client_file(step.name, io::Layout::kClientKey);
            const std::string cert = io::read_file(l.client_file(step.name, io::Layout::kClientCert));
            std::string key_pem = io::read_file(key_path);
            const PrivateKey key = PrivateKey::from_pem(key_pem, key_path);
            wipe(key_pem);
            const std::string none;
            const std::string& pass = want.p12 ? pki_.passphrase(profile_.defaults.p12_passphrase) : none;
            pki_.issuance().queue_folder(CertKind::client, step.name);
            for (auto& f : client_key_files(want, key, cert, pass)) {
                std::string path = l.client_file(step.name, f.name);
                if (pki_.files().write_if_changed(path, std::move(f.data), io::Layout::kPrivateFile))
                    done_.push_back({"write", "file", std::move(path), "key format, certificate kept"});
            }
        });
    }

    // Every issue and reissue is made in one batch, at the first of them.
    // Every issue, reissue and rotation is made in one batch, at the first of them.
    void issued(const Step& step) {
        if (!made_) {
            leaves_ = pki_.issuance().issue_batch(plan_.servers, plan_.clients, pki_.jobs(), progress_);
            made_ = true;
        }
        const std::size_t i = next_leaf_++;
        const IssuedLeaf& leaf = leaves_[i];
        if (step.kind == StepKind::rotate) {
            const bool same_key = i < plan_.servers.size() && plan_.servers[i].keep_key;
            done_.push_back({verb(step.kind), step.target_kind, step.name,
                             "serial " + step.serial + " -> " + leaf.serial_hex + ", valid until " +
                                 format_time(leaf.not_after) + (same_key ? " (same key)" : " (new key)")});
            return;
        }
        done_.push_back({verb(step.kind), step.target_kind, step.name, "serial " + leaf.serial_hex + " (" + step.reason + ")"});
    }

    void record_settings() {
        Ledger& ledger = pki_.ledger();
        ledger.set_meta("profile_name", profile_.name);
        ledger.set_meta("renew_before_days", std::to_string(profile_.defaults.renew_before_days));
        ledger.set_meta("crl_days", std::to_string(profile_.defaults.crl_days));
        ledger.set_meta("ca_passphrase", profile_.ca.passphrase.to_json());
        ledger.set_meta("applied_profile", applied_profile_json(profile_));
    }

    Plan& plan_;
    const Profile& profile_;
    PkiDir& pki_;
    const Progress& progress_;
    std::vector<Action> done_;
    std::vector<IssuedLeaf> leaves_;
    bool made_ = false;
    std::size_t next_leaf_ = 0;
    std::size_t next_write_ = 0;
    std::size_t next_revocation_ = 0;
    std::size_t next_key_files_ = 0;
};

}  // namespace

Executed execute(Plan& plan, const Profile& profile, PkiDir& pki, const Progress& progress) {
    return Executor(plan, profile, pki, progress).run();
}

std::string applied_profile_json(const Profile& profile) {
    nlohmann::json servers = nlohmann::json::array();
    for (const auto& s : profile.servers) {
        servers.push_back({{"name", s.name},
                           {"hosts", s.hosts},
                           {"install_dir", s.install_dir},
                           {"crl", s.crl},
                           {"key_passphrase", s.key_passphrase.to_json()}});
        if (s.port) servers.back()["port"] = *s.port;
        servers.back()["postgres_version"] = s.postgres_version;  // how its include is written
    }
    ClientFormats used = profile.defaults.client_formats;
    for (const auto& c : profile.clients) {
        used.pk8 = used.pk8 || profile.client_formats(c).pk8;
        used.p12 = used.p12 || profile.client_formats(c).p12;
    }
    // Poolers as resolved (users "all" already expanded): issue's service entries and connect
    // --pooler need them.
    nlohmann::json poolers = nlohmann::json::array();
    for (const auto& p : profile.poolers)
        poolers.push_back({{"name", p.name},
                           {"hosts", p.hosts},
                           {"port", p.port},
                           {"upstream", p.upstream},
                           {"users", p.users},
                           {"address", p.address},
                           {"install_dir", p.install_dir}});
    nlohmann::json j = {{"name", profile.name},
                        {"targets", {{"postgres", profile.targets.postgres},
                                     {"libpq", profile.targets.libpq},
                                     {"pgbouncer", profile.targets.pgbouncer}}},
                        {"servers", servers},
                        {"poolers", poolers},
                        {"client_formats_used", {{"pk8", used.pk8}, {"p12", used.p12}}},
                        {"p12_passphrase", profile.defaults.p12_passphrase.to_json()},
                        {"server_settings", profile.server_settings},
                        {"client_settings", profile.client_settings}};
    return j.dump();
}

Profile applied_profile(PkiDir& pki) {
    Profile p;
    p.name = pki.ledger().get_meta("profile_name").value_or("pgca");
    auto text = pki.ledger().get_meta("applied_profile");
    if (!text) {
        // A folder made by init alone (or by a pgca that did not record the profile).
        p.client_settings["sslmode"] = "verify-full";
        return p;
    }
    try {
        auto j = nlohmann::json::parse(*text);
        p.name = j.at("name").get<std::string>();
        if (j.contains("targets")) {  // folders applied before targets were recorded: the defaults
            const auto& t = j.at("targets");
            p.targets.postgres = t.at("postgres").get<int>();
            p.targets.libpq = t.at("libpq").get<int>();
            p.targets.pgbouncer = t.at("pgbouncer").get<std::string>();
        }
        for (const auto& s : j.at("servers")) {
            ServerSpec spec;
            spec.name = s.at("name").get<std::string>();
            spec.hosts = s.at("hosts").get<std::vector<std::string>>();
            spec.install_dir = s.at("install_dir").get<std::string>();
            spec.crl = s.at("crl").get<std::string>();
            spec.key_passphrase = PassphraseSource::from_json(s.at("key_passphrase").get<std::string>());
            if (s.contains("port")) spec.port = s.at("port").get<int>();
            if (s.contains("postgres_version")) spec.postgres_version = s.at("postgres_version").get<int>();
            p.servers.push_back(std::move(spec));
        }
        if (j.contains("poolers"))
            for (const auto& q : j.at("poolers")) {
                PoolerSpec spec;
                spec.name = q.at("name").get<std::string>();
                spec.hosts = q.at("hosts").get<std::vector<std::string>>();
                spec.port = q.at("port").get<int>();
                spec.upstream = q.at("upstream").get<std::string>();
                spec.users = q.at("users").get<std::vector<std::string>>();
                spec.user_set.insert(spec.users.begin(), spec.users.end());
                spec.address = q.at("address").get<std::string>();
                spec.install_dir = q.at("install_dir").get<std::string>();
                p.poolers.push_back(std::move(spec));
            }
        if (j.contains("p12_passphrase"))
            p.defaults.p12_passphrase = PassphraseSource::from_json(j.at("p12_passphrase").get<std::string>());
        p.server_settings = j.at("server_settings").get<std::map<std::string, std::string>>();
        p.client_settings = j.at("client_settings").get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::ledger, std::string("ledger meta \"applied_profile\" is malformed: ") + e.what());
    }
    return p;
}

}  // namespace pgca
