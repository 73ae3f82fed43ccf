// pgca rollover (begin, reissue, finish, status): a root CA replaced in phases, every phase a plan.
#include "pgca/rollover.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <set>

#include "ops_shared.hpp"
#include "pgca/error.hpp"
#include "pgca/plan.hpp"

namespace pgca::ops {
namespace {

constexpr int kDefaultRootDays = 3650;

std::string phase_of(PkiDir& pki) { return pki.ledger().get_meta(kRolloverPhase).value_or(""); }

// The current CA's subject with the next CN; attributes that do not parse back are dropped
// (the CN alone then names the new CA).
DistinguishedName successor_subject(const Certificate& current) {
    const std::string cn = next_root_cn(current.info().common_name);
    DistinguishedName dn;
    try {
        // RFC 2253: TYPE=value pairs split at commas not escaped by a backslash.
        const std::string text = current.subject_rfc2253();
        std::string part;
        auto take = [&] {
            auto eq = part.find('=');
            if (eq != std::string::npos && part.substr(0, eq) != "CN") dn.set(part.substr(0, eq), part.substr(eq + 1));
            part.clear();
        };
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '\\' && i + 1 < text.size()) {
                part += text[++i];
            } else if (text[i] == ',') {
                take();
            } else {
                part += text[i];
            }
        }
        take();
    } catch (const Error&) {
        dn = DistinguishedName();
    }
    in_context("the next CA's CN \"" + cn + "\"", [&] { dn.set("CN", cn); });
    return dn;
}

// A write_trust step for every server, pooler and client folder, and one listed step that says
// what they do (a folder's own step is not listed: a folder's file changes only when it differs).
void plan_trust_files(Plan& plan, const io::Layout& layout, const std::string& holds, bool listed) {
    std::size_t n = 0;
    for (const auto& [parent, kind] : {std::pair{layout.servers_dir(), "server"}, std::pair{layout.poolers_dir(), "pooler"},
                                       std::pair{layout.clients_dir(), "client"}})
        for (const auto& name : io::list_dir(parent)) {
            plan.steps.push_back({StepKind::write_trust, kind, name, holds, false, true});
            ++n;
        }
    if (listed && n != 0)
        plan.steps.push_back({StepKind::write_trust, "file", io::Layout::kTrust,
                              std::to_string(n) + " trust files (servers' ssl_ca_file, clients' sslrootcert, poolers' "
                                                  "CA files): " + holds,
                              true, false});
}

// Carries the plan out (or returns its preview), then runs the reload step after the commit.
RolloverResult run(PkiDir& pki, Plan& plan, const RolloverOptions& options, const OpenOptions& open, std::string phase) {
    RolloverResult result;
    result.phase = std::move(phase);
    if (open.dry_run) {
        result.actions = plan.preview();
        return result;
    }
    const Profile p = shared::execution_profile(shared::crl_days(pki));
    result.actions = pki.transact([&] { return execute(plan, p, pki).actions; });
    for (const auto& a : result.actions)
        if (options.on_action) options.on_action(a);
    for (const auto& step : plan.steps)
        if (step.kind == StepKind::reload) {
            if (options.on_action) options.on_action({verb(step.kind), step.target_kind, step.name, ""});
            shared::run_reload(step.name);
        } else if (step.kind == StepKind::verify) {
            // What the servers should serve now: their current certificates.
            std::set<std::string> expected;
            for (const auto& e : pki.ledger().valid_entries())
                if (is_server_kind(e.kind)) expected.insert(e.serial);
            RotateOptions ro;
            ro.verify = options.verify;
            ro.verify_name = options.verify_name;
            ro.verify_timeout = options.verify_timeout;
            result.verified = shared::verify_served(pki, ro, expected);
        }
    return result;
}

// The reload (when the plan changes anything for the servers) and the verify, after the commit.
void plan_reload(Plan& plan, const RolloverOptions& options, bool changes = true) {
    if (!options.reload.empty() && changes)
        plan.steps.push_back({StepKind::reload, "file", options.reload, "after the commit"});
    if (!options.verify.empty())
        plan.steps.push_back({StepKind::verify, "server", options.verify,
                              "until it serves its current certificate (--verify-timeout " +
                                  std::to_string(options.verify_timeout) + " s)"});
}

std::string no_rollover(const PkiDir& pki) {
    return "\"" + pki.layout().dir() + "\" has no CA rollover in progress; run `pgca rollover begin` first";
}

// Whether the ledger recorded a finish whose files never landed (a run killed after the commit,
// before its journal was durable): the CA the next one replaces is already superseded (a root)
// or revoked (an intermediate) there, while DIR/ca/next still holds the next CA.
bool finish_recorded(PkiDir& pki) {
    const CaStore& ca = pki.ca();
    if (ca.next() == nullptr || !phase_of(pki).empty()) return false;
    const Certificate* replaced = ca.next_is_intermediate() ? ca.intermediate() : &ca.root();
    if (replaced == nullptr) return false;
    for (const auto& e : pki.ledger().by_serial(replaced->serial_hex()))
        if (e.subject == replaced->subject_rfc2253() && e.status != CertStatus::valid) return true;
    return false;
}

// A next CA on disk without a phase in the ledger: only a finish whose files did not land
// leaves one, which finish completes.
void refuse_orphan_next_ca(PkiDir& pki) {
    if (pki.ca().next() == nullptr || !phase_of(pki).empty()) return;
    if (finish_recorded(pki))
        throw Error(ErrorKind::policy, "a rollover finish was recorded but its files did not land (\"" +
                                           pki.layout().next_ca_dir() + "\" still holds the new CA); run "
                                           "`pgca rollover finish` again to complete it");
    throw Error(ErrorKind::policy, "\"" + pki.layout().next_ca_dir() +
                                       "\" holds a CA but the ledger records no rollover; move it away "
                                       "and run `pgca rollover begin` again");
}

// "the new root" / "the new intermediate".
std::string new_ca_name(const CaStore& ca) { return ca.next_is_intermediate() ? "the new intermediate" : "the new root"; }

}  // namespace

std::string next_root_cn(const std::string& current_cn) {
    // " R<n>" at the end: the next number.
    auto pos = current_cn.rfind(" R");
    if (pos != std::string::npos && pos + 2 < current_cn.size() &&
        current_cn.find_first_not_of("0123456789", pos + 2) == std::string::npos && current_cn.size() - pos - 2 < 6)
        return current_cn.substr(0, pos) + " R" + std::to_string(std::stoi(current_cn.substr(pos + 2)) + 1);
    return current_cn + " R2";
}

RolloverResult rollover_begin(const std::string& dir, const RolloverOptions& options, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    CaStore& ca = pki->ca();
    if (!ca.has_ca()) throw Error(ErrorKind::input, "\"" + pki->layout().dir() + "\" has no CA to roll over");
    refuse_orphan_next_ca(*pki);
    const std::string phase = phase_of(*pki);
    Plan plan;
    // A begin whose files never landed (the ledger has the phase, DIR/ca/next no CA) is made again.
    if (!phase.empty() && ca.next() != nullptr) {
        // Idempotent: the same begin again changes nothing; other options are refused.
        auto recorded = nlohmann::json::parse(pki->ledger().get_meta(kRolloverOptions).value_or("{}"), nullptr, false);
        const std::string key = recorded.is_object() ? recorded.value("key", "") : "";
        const int days = recorded.is_object() ? recorded.value("days", 0) : 0;
        const bool intermediate = recorded.is_object() && recorded.value("intermediate", false);
        if ((options.key && std::string(to_string(*options.key)) != key) || (options.days && *options.days != days) ||
            options.intermediate != intermediate)
            throw Error(ErrorKind::policy, "rollover begin: a rollover is already in phase \"" + phase + "\", begun with " +
                                               (intermediate ? "--intermediate " : "") + "--key " + key + " --days " +
                                               std::to_string(days) +
                                               "; finish it (`pgca rollover finish`) before another");
        plan.steps.push_back({StepKind::keep, ca.next_is_intermediate() ? "intermediate" : "root",
                              ca.next_is_intermediate() ? "next-intermediate" : "next-root",
                              "rollover already " + phase + ": \"" + ca.next()->subject_rfc2253() + "\""});
        plan_trust_files(plan, pki->layout(), "", false);
        plan.steps.push_back({StepKind::refresh_crls, "crl", "", "", false, true});
        return run(*pki, plan, options, open, phase);
    }
    if (options.intermediate && !ca.has_intermediate())
        throw Error(ErrorKind::policy, "rollover begin --intermediate: \"" + pki->layout().dir() +
                                           "\" has no intermediate CA; without --intermediate the root is replaced");
    const Certificate& current = options.intermediate ? *ca.intermediate() : ca.root();
    const KeyAlg key = options.key.value_or(current.key_alg().value_or(KeyAlg::ec_p256));
    const int days = options.days.value_or(options.intermediate ? IntermediateSpec{}.days : kDefaultRootDays);
    const char* what = options.intermediate ? "intermediate" : "root";
    plan.next_ca.subject = successor_subject(current);
    plan.next_ca.key = key;
    plan.next_ca.days = days;
    plan.next_intermediate = options.intermediate;
    plan.rollover_options =
        nlohmann::json{{"key", std::string(to_string(key))}, {"days", days}, {"intermediate", options.intermediate}}.dump();
    plan.steps.push_back({StepKind::create_next_ca, what, std::string("next-") + what,
                          std::string("new ") + what + " CA \"" + plan.next_ca.subject.rfc2253() + "\" in " +
                              pki->layout().next_ca_dir() + " (" + std::string(to_string(key)) + ", " +
                              std::to_string(days) + " days" + (options.intermediate ? ", under the same root" : "") + ")"});
    plan.steps.push_back({StepKind::record_phase, "phase", kPhaseBegun, "new leaves are still signed by the old CA"});
    plan_trust_files(plan, pki->layout(),
                     options.intermediate ? "servers' and poolers' with both intermediates (clients' keep the root alone)"
                                          : "both roots",
                     true);
    plan.steps.push_back({StepKind::refresh_crls, "crl", std::string("next-") + what,
                          std::string("the new ") + what + "'s first CRL; every CRL file holds a CRL of each CA"});
    return run(*pki, plan, options, open, kPhaseBegun);
}

RolloverResult rollover_reissue(const std::string& dir, const RolloverOptions& options, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    refuse_orphan_next_ca(*pki);
    const std::string phase = phase_of(*pki);
    if (phase.empty() || pki->ca().next() == nullptr) throw Error(ErrorKind::policy, "rollover reissue: " + no_rollover(*pki));
    Plan plan;
    if (phase == kPhaseBegun)
        plan.steps.push_back({StepKind::record_phase, "phase", kPhaseReissued,
                              "new leaves are signed by " + new_ca_name(pki->ca()) + " from now on"});
    const std::string new_dn = pki->ca().next()->subject_rfc2253();
    const std::time_t now = std::time(nullptr);
    const PassphraseSource p12_pass = applied_profile(*pki).defaults.p12_passphrase;
    std::vector<Step> servers, clients;
    for (const auto& e : pki->ledger().valid_entries()) {
        const bool server = is_server_kind(e.kind);
        if ((!server && !is_client_kind(e.kind)) || e.not_after <= now) continue;
        // A leaf of the new CA stays, unless its files are not the ones recorded (a reissue whose
        // files did not land after its commit).
        const bool lost = e.issuer == new_dn && shared::files_differ(*pki, e);
        if (e.issuer == new_dn && !lost) continue;
        IssueParams params = shared::renewal_params(e);
        Step step{StepKind::reissue, std::string(to_string(e.kind)), e.name,
                  "serial " + e.serial + (lost ? ": its files are not the ones the ledger recorded"
                                               : " of the old CA is superseded"),
                  true, true, e.serial};
        if (server) {
            plan.servers.push_back({std::move(params), false});
            servers.push_back(std::move(step));
        } else {
            // The key files the folder has are made again with the new certificate.
            ClientFormats formats;
            if (e.kind == CertKind::client) {
                formats.pk8 = io::exists(pki->layout().client_file(e.name, io::Layout::kClientPk8));
                formats.p12 = io::exists(pki->layout().client_file(e.name, io::Layout::kClientP12));
            }
            plan.clients.push_back({std::move(params), formats, p12_pass});
            clients.push_back(std::move(step));
        }
    }
    // issue_batch takes the servers first: the steps follow the requests' order.
    for (auto* group : {&servers, &clients})
        for (auto& s : *group) plan.steps.push_back(std::move(s));
    if (plan.servers.empty() && plan.clients.empty())
        plan.steps.push_back({StepKind::keep, "ca", "next", "every valid leaf is signed by " + new_ca_name(pki->ca())});
    plan.steps.push_back({StepKind::refresh_crls, "crl", "", "", false, true});
    plan_reload(plan, options, !plan.servers.empty() || !plan.clients.empty());
    return run(*pki, plan, options, open, kPhaseReissued);
}

RolloverResult rollover_finish(const std::string& dir, const RolloverOptions& options, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    if (!finish_recorded(*pki)) refuse_orphan_next_ca(*pki);
    CaStore& ca = pki->ca();
    Plan plan;
    if (phase_of(*pki).empty() && !finish_recorded(*pki)) {
        plan.steps.push_back({StepKind::keep, "root", "root", "no rollover in progress"});
        plan_reload(plan, options, false);
        return run(*pki, plan, options, open, "");
    }
    if (ca.next() == nullptr) throw Error(ErrorKind::policy, "rollover finish: \"" + pki->layout().next_ca_dir() + "\" holds no CA");
    const bool intermediate = ca.next_is_intermediate();
    // The CA that leaves: the old root with its intermediate, or the old intermediate alone.
    std::set<std::string> old_dns{intermediate ? ca.intermediate()->subject_rfc2253() : ca.root().subject_rfc2253()};
    if (!intermediate && ca.has_intermediate()) old_dns.insert(ca.intermediate()->subject_rfc2253());
    const std::time_t now = std::time(nullptr);
    std::string listed;
    for (const auto& e : pki->ledger().valid_entries()) {
        if ((!is_server_kind(e.kind) && !is_client_kind(e.kind)) || e.not_after <= now || old_dns.count(e.issuer) == 0)
            continue;
        listed += (listed.empty() ? "" : ", ") + std::string(to_string(e.kind)) + " " + e.name + " (serial " + e.serial + ")";
        plan.steps.push_back({StepKind::revoke, std::string(to_string(e.kind)), e.name,
                              "serial " + e.serial + " of the old CA (--force)", true, true, e.serial});
        plan.revocations.push_back(e);
    }
    if (!plan.revocations.empty() && !options.force)
        throw Error(ErrorKind::policy, "rollover finish: " + std::to_string(plan.revocations.size()) +
                                           " valid certificates of the old CA remain: " + listed +
                                           "; run `pgca rollover reissue`, or pass --force to revoke them");
    plan.revocation_reason = RevocationReason::superseded;
    const Certificate& leaving = intermediate ? *ca.intermediate() : ca.root();
    plan.steps.push_back({StepKind::promote_ca, intermediate ? "intermediate" : "root", intermediate ? "intermediate" : "root",
                          "\"" + ca.next()->subject_rfc2253() + "\" becomes " +
                              (intermediate ? pki->layout().intermediate_cert() : pki->layout().root_cert()) +
                              "; the old CA moves to " + pki->layout().retired_ca_dir(leaving.serial_hex()) +
                              (intermediate ? " and is revoked in the root's CRL" : "")});
    plan.steps.push_back({StepKind::record_phase, "phase", "", "rollover finished"});
    plan_trust_files(plan, pki->layout(), intermediate ? "the root and the new intermediate" : "the new root alone", true);
    plan.steps.push_back({StepKind::refresh_crls, "crl", "root",
                          intermediate ? "the root's and the new intermediate's CRLs in every CRL file"
                                       : "the new root's CRL alone in every CRL file"});
    plan_reload(plan, options);
    return run(*pki, plan, options, open, "");
}

RolloverStatus rollover_status(const std::string& dir) {
    OpenOptions open;
    open.read_only = true;
    auto pki = PkiDir::open(dir, open);
    const CaStore& ca = pki->ca();
    RolloverStatus out;
    out.phase = phase_of(*pki);
    if (!ca.has_ca()) throw Error(ErrorKind::input, "\"" + pki->layout().dir() + "\" has no CA");
    const bool rolling = !out.phase.empty() && ca.next() != nullptr;
    const bool intermediate = rolling && ca.next_is_intermediate();
    out.old_ca = (intermediate ? *ca.intermediate() : ca.root()).subject_rfc2253();
    if (rolling) out.new_ca = ca.next()->subject_rfc2253();
    const std::string old_label = rolling ? "old" : "current";
    // A root rollover replaces the root and its intermediate ("old"); an intermediate rollover
    // keeps the root ("root").
    const std::string root_label = intermediate ? "root" : old_label;
    auto label_of = [&](const Certificate& c) -> std::string {
        const std::string fp = c.sha256_fingerprint();
        if (fp == ca.root().sha256_fingerprint()) return root_label;
        if (ca.intermediate() && fp == ca.intermediate()->sha256_fingerprint()) return old_label;
        if (ca.next() != nullptr && fp == ca.next()->sha256_fingerprint()) return "new";
        return c.subject_rfc2253();
    };
    auto chains_to = [&](const Certificate& leaf) -> std::string {
        if (ca.intermediate() && leaf.issued_by(*ca.intermediate())) return old_label;
        if (leaf.issued_by(ca.root())) return root_label;
        if (ca.next() != nullptr && leaf.issued_by(*ca.next())) return "new";
        return "unknown";
    };
    const io::Layout& l = pki->layout();
    for (const auto& [parent, kind] : {std::pair{l.servers_dir(), CertKind::server}, std::pair{l.poolers_dir(), CertKind::pooler},
                                       std::pair{l.clients_dir(), CertKind::client}})
        for (const auto& name : io::list_dir(parent)) {
            TrustView v;
            v.kind = std::string(to_string(kind));
            v.name = name;
            const io::Layout::LeafFiles where = l.leaf_files(kind, name);
            try {
                if (auto pem = io::try_read_file(where.folder + "/" + io::Layout::kTrust))
                    for (const auto& c : Certificate::chain_from_pem(*pem, where.folder + "/" + io::Layout::kTrust))
                        v.trusts.push_back(label_of(c));
                if (auto pem = io::try_read_file(where.folder + "/" + where.cert))
                    v.chains_to = chains_to(Certificate::chain_from_pem(*pem, where.folder + "/" + where.cert).front());
            } catch (const Error& e) {
                v.chains_to = std::string("unreadable: ") + e.what();
            }
            bool has_new = false;
            for (const auto& t : v.trusts) has_new = has_new || t == "new";
            // A client's sslrootcert holds roots alone: an intermediate rollover leaves it as it is.
            v.lacks_new = rolling && !has_new && !(intermediate && kind == CertKind::client);
            out.folders.push_back(std::move(v));
        }
    return out;
}

}  // namespace pgca::ops
