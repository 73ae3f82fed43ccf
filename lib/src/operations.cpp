// init, issue, revoke, crl, rotate and list: each command's decisions and changes, in the library.
#include "pgca/operations.hpp"

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>
#include <unordered_map>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/ownership.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/plan.hpp"
#include "pgca/probe.hpp"
#include "ops_shared.hpp"

namespace pgca::ops {
using shared::crl_days;
using shared::execution_profile;
using shared::run_reload;
using shared::files_differ;
using shared::verify_served;

namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

}  // namespace

int shared::crl_days(PkiDir& pki) { return pki.setting("crl_days", kDefaultCrlDays); }

namespace {

// init's plan: the passphrase source recorded, the CA the spec describes, the first CRL of each
// of its CAs (servers name them from the start).
Plan plan_init(const CaSpec& spec, const io::Layout& layout) {
    Plan plan;
    if (!spec.passphrase.empty())
        plan.steps.push_back({StepKind::record_passphrase, "file", layout.ledger(), "where the CA keys' passphrase comes from"});
    plan.steps.push_back({StepKind::create_root, "root", "root", "new root CA \"" + spec.subject.get("CN") + "\""});
    if (spec.intermediate)
        plan.steps.push_back({StepKind::create_intermediate, "intermediate", "intermediate",
                              "new intermediate CA \"" + spec.intermediate->subject.get("CN") + "\"", true, false});
    plan.steps.push_back({StepKind::refresh_crls, "crl", "root", "the first CRL"});
    if (spec.intermediate) plan.steps.push_back({StepKind::refresh_crls, "crl", "intermediate", "the first CRL", true, false});
    return plan;
}

}  // namespace

Profile shared::execution_profile(int crl_lifetime, const CaSpec& ca) {
    Profile p;
    p.ca = ca;
    p.defaults.crl_days = crl_lifetime;
    return p;
}

std::vector<Action> init(const std::string& dir, const CaSpec& spec, const OpenOptions& open) {
    PassphraseCache passphrases;
    if (!spec.passphrase.empty()) (void)passphrases.get(spec.passphrase);  // fail before creating anything
    if (open.dry_run && !io::exists(io::Layout(dir).ledger()) && !io::exists(io::Layout(dir).ledger_url())) {
        refuse_unowned_folder(dir, true);  // what the real run would refuse
        return plan_init(spec, io::Layout(dir)).preview();
    }
    auto pki = PkiDir::open(dir, open);
    if (pki->ca().has_ca()) throw Error(ErrorKind::policy, "\"" + pki->layout().dir() + "\" already has a root CA");
    Plan plan = plan_init(spec, pki->layout());
    if (open.dry_run) return plan.preview();
    pki->adopt_passphrases(std::move(passphrases));
    if (!spec.passphrase.empty()) pki->ca().set_passphrase(spec.passphrase);
    const Profile p = execution_profile(crl_days(*pki), spec);
    return pki->transact([&] { return execute(plan, p, *pki).actions; });
}

namespace {

// The serial of each valid certificate of `kind`, by name.
std::unordered_map<std::string, std::string> current_serials(Ledger& ledger, CertKind kind) {
    std::unordered_map<std::string, std::string> out;
    for (auto& e : ledger.valid_entries())
        if (e.kind == kind) out[e.name] = e.serial;
    return out;
}

// An issue step for each request: a first certificate, or one that replaces the current one.
void plan_issue_step(Plan& plan, const std::unordered_map<std::string, std::string>& current, CertKind kind,
                     const std::string& name) {
    auto it = current.find(name);
    if (it == current.end())
        plan.steps.push_back({StepKind::issue, std::string(to_string(kind)), name, "new"});
    else
        plan.steps.push_back({StepKind::reissue, std::string(to_string(kind)), name,
                              "replaces serial " + it->second + " (which stays valid until it expires)", true, true,
                              it->second});
}

IssueResult run_issue(PkiDir& pki, Plan& plan, const Profile& applied, const OpenOptions& open,
                      const Progress& progress = {}) {
    if (open.dry_run) return {plan.preview(), {}};
    Executed done = pki.transact([&] { return execute(plan, applied, pki, progress); });
    return {std::move(done.actions), std::move(done.issued)};
}

}  // namespace

IssueResult issue_server(const std::string& dir, const ServerSpec& spec, KeyAlg key, int days, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    Profile applied = applied_profile(*pki);
    // A server the applied profile names keeps its install_dir, CRL mode and key passphrase; its
    // postgresql.ssl.conf is rendered from the applied profile with this server in it.
    ServerSpec server = spec;
    ServerSpec* known = nullptr;
    for (auto& s : applied.servers)
        if (s.name == spec.name) known = &s;
    if (known != nullptr) {
        server.install_dir = known->install_dir;
        server.crl = known->crl;
        server.key_passphrase = known->key_passphrase;
        server.port = known->port;
        server.postgres_version = known->postgres_version;
        *known = server;
    } else {
        server.postgres_version = applied.targets.postgres;  // what a server the profile named would get
        applied.servers.push_back(server);
    }
    Plan plan;
    plan_issue_step(plan, current_serials(pki->ledger(), CertKind::server), CertKind::server, server.name);
    plan.servers.push_back({IssueParams::server(server.name, server.hosts, key, days, server.key_passphrase), false});
    plan.steps.push_back({StepKind::write_server_conf, "server", server.name, "", false, true});
    plan.steps.push_back({StepKind::refresh_crls, "crl", "", "root.crl for the new folder", false, true});
    applied.defaults.crl_days = crl_days(*pki);
    return run_issue(*pki, plan, applied, open);
}

IssueResult issue_clients(const std::string& dir, const std::vector<ClientSpec>& specs, KeyAlg key, int days,
                          unsigned jobs, const OpenOptions& open, const Progress& progress) {
    auto pki = PkiDir::open(dir, open);
    if (jobs != 0) pki->set_jobs(jobs);
    const Profile applied = applied_profile(*pki);
    Plan plan;
    const auto current = current_serials(pki->ledger(), CertKind::client);
    plan.clients.reserve(specs.size());
    for (const auto& spec : specs) {
        plan_issue_step(plan, current, CertKind::client, spec.user);
        plan.clients.push_back({IssueParams::client(spec.user, spec.cn, key, days), {}, {}});
    }
    // Each pg_service.conf that differs from what it must hold (compared on jobs() threads).
    std::vector<std::optional<io::FileWrite>> services(specs.size());
    detail::parallel_for(
        specs.size(), pki->jobs(),
        [&](std::size_t i, std::size_t) {
            io::FileWrite w = pg::service_file(pki->layout(), applied, specs[i]);
            if (!io::Folder(pki->layout().client_dir(specs[i].user)).holds(io::Layout::kClientService, w.data, w.mode))
                services[i] = std::move(w);
        },
        256);
    for (std::size_t i = 0; i < specs.size(); ++i)
        if (services[i]) {
            plan.steps.push_back({StepKind::write_service, "client", specs[i].user, "", false, true});
            plan.writes.push_back(std::move(*services[i]));
        }
    return run_issue(*pki, plan, applied, open, progress);
}

namespace {

// The certificates `target` names, and how to name them in messages.
std::vector<LedgerEntry> revoke_targets(Ledger& ledger, const RevokeTarget& target, std::string& what) {
    std::vector<LedgerEntry> targets;
    if (!target.serial.empty()) {
        // by_serial takes the serial as typed (any case, any leading zeros).
        what = "serial " + target.serial;
        for (auto& e : ledger.by_serial(target.serial))
            if (is_server_kind(e.kind) || is_client_kind(e.kind)) targets.push_back(std::move(e));
        if (targets.empty()) throw Error(ErrorKind::input, "revoke: no server, client or pooler certificate with " + what);
        if (targets.size() > 1) throw Error(ErrorKind::input, "revoke: " + what + " is ambiguous (several issuers)");
        what = "serial " + targets.front().serial;  // as the ledger spells it
        return targets;
    }
    what = std::string(to_string(target.kind)) + " \"" + target.name + "\"";
    auto all = ledger.by_name(target.kind, target.name);
    if (target.kind == CertKind::pooler)  // a pooler's two certificates together
        for (auto& e : ledger.by_name(CertKind::pooler_client, target.name)) all.push_back(std::move(e));
    if (all.empty()) throw Error(ErrorKind::input, "revoke: the ledger has no certificate for " + what);
    // Superseded certificates are still valid until they expire: revoke them too.
    const std::time_t now = std::time(nullptr);
    for (auto& e : all)
        if (e.not_after > now) targets.push_back(std::move(e));
    return targets;
}

}  // namespace

namespace {

// revoke's plan: each target revoked (or kept, when it already is), then the CRLs refreshed.
Plan plan_revoke(const std::vector<LedgerEntry>& targets, RevocationReason reason, RevokeResult& out) {
    Plan plan;
    plan.revocation_reason = reason;
    for (const auto& e : targets) {
        const std::string kind(to_string(e.kind));
        if (e.status == CertStatus::revoked) {
            plan.steps.push_back({StepKind::keep, kind, e.name, "serial " + e.serial + " already revoked", true, true, e.serial});
            out.already.push_back(e.serial);
        } else {
            plan.steps.push_back({StepKind::revoke, kind, e.name, "serial " + e.serial + " (" + std::string(to_string(reason)) + ")",
                                  true, true, e.serial});
            plan.revocations.push_back(e);
        }
    }
    // Which CRLs are made is decided against what they would hold, as in apply: not listed.
    plan.steps.push_back({StepKind::refresh_crls, "crl", "", "", false, true});
    return plan;
}

}  // namespace

RevokeResult revoke(const std::string& dir, const RevokeTarget& target, RevocationReason reason,
                    const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    RevokeResult out;
    const auto targets = revoke_targets(pki->ledger(), target, out.what);
    Plan plan = plan_revoke(targets, reason, out);
    if (open.dry_run) {
        out.actions = plan.preview();
        return out;
    }
    const Profile p = execution_profile(crl_days(*pki));
    try {
        out.actions = pki->transact([&] { return execute(plan, p, *pki).actions; });
    } catch (const Error&) {
        if (!pki->unwritten() || targets.empty()) throw;
        // The revocation stands (the ledger committed it); only its publication is missing.
        std::string serials;
        for (const auto& e : targets) serials += (serials.empty() ? "" : ", ") + e.serial;
        throw Error(ErrorKind::io, "revocation of " + out.what + " serial " + serials + " recorded; CRL not written: " +
                                       pki->unwritten()->what() + "; run `pgca crl`");
    }
    for (const auto& e : plan.revocations) out.revoked.push_back(e.serial);
    for (const auto& a : out.actions)
        if (a.kind == "crl") out.crls.push_back(a);
    return out;
}

std::vector<Action> refresh_crls(const std::string& dir, int days, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    if (days == 0) days = crl_days(*pki);
    if (!pki->ca().has_ca()) throw Error(ErrorKind::input, "\"" + pki->layout().dir() + "\" has no CA");
    // A new CRL for every CA: each is one step (the first makes them all).
    Plan plan;
    plan.fresh_crls = true;
    const std::string why = "requested, next update in " + std::to_string(days) + " days";
    plan.steps.push_back({StepKind::refresh_crls, "crl", "root", why});
    if (pki->ca().has_intermediate()) plan.steps.push_back({StepKind::refresh_crls, "crl", "intermediate", why, true, false});
    if (pki->ca().next() != nullptr)
        plan.steps.push_back({StepKind::refresh_crls, "crl", pki->ca().next_is_intermediate() ? "next-intermediate" : "next-root",
                              why, true, false});
    if (open.dry_run) return plan.preview();
    const Profile p = execution_profile(days);
    return pki->transact([&] { return execute(plan, p, *pki).actions; });
}

void shared::run_reload(const std::string& command) {
    pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorKind::io, "reload command: fork failed");
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw Error(ErrorKind::io, "reload command: waitpid failed");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw Error(ErrorKind::io, "reload command `" + command + "` failed (" +
                                       (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                          : std::string("killed by a signal")) +
                                       "); the new files are in place but the server may still serve the old "
                                       "certificate");
}

// True when the leaf's folder does not hold the certificate and key files the ledger recorded for
// `current` (rows older than those digests are taken as they are).
IssueParams shared::renewal_params(const LedgerEntry& current) {
    IssueParams params = current.params;
    if (!params.key) params.key = KeyAlg::ec_p256;
    if (params.days <= 0) params.days = Defaults{}.server_days;
    if (is_server_kind(current.kind) && !params.key_passphrase) params.key_passphrase = PassphraseSource{};
    return params;
}

bool shared::files_differ(const PkiDir& pki, const LedgerEntry& current) {
    if (current.cert_file_sha256.empty() || current.key_file_sha256.empty()) return false;
    try {
        const io::Layout::LeafFiles where = pki.layout().leaf_files(current.kind, current.name);
        io::Folder folder(where.folder);
        auto cert = folder.try_read(where.cert);
        auto key = folder.try_read(where.key);
        return !cert || !key || sha256_hex(*cert) != current.cert_file_sha256 ||
               sha256_hex(*key) != current.key_file_sha256;
    } catch (const Error&) {
        return true;  // unreadable, or a link planted in its place: the re-issue replaces it
    }
}

namespace {

// What rotate looks at: the servers named and both certificates of the poolers named, else every
// server and pooler with a valid certificate. Servers first (record order), then poolers.
std::vector<std::pair<CertKind, std::string>> rotation_targets(Ledger& ledger, const RotateOptions& options) {
    std::vector<std::pair<CertKind, std::string>> targets;
    const bool all = options.servers.empty() && options.poolers.empty();
    std::vector<std::string> servers = options.servers;
    if (all) {
        std::set<std::string> seen;
        for (const auto& e : ledger.list())
            if (e.kind == CertKind::server && e.status == CertStatus::valid && seen.insert(e.name).second)
                servers.push_back(e.name);
    }
    for (auto& name : servers) targets.emplace_back(CertKind::server, std::move(name));
    std::vector<std::string> poolers = options.poolers;
    if (all) {
        std::set<std::string> names;
        for (CertKind kind : {CertKind::pooler, CertKind::pooler_client})
            for (auto& name : ledger.valid_names(kind)) names.insert(std::move(name));
        poolers.assign(names.begin(), names.end());
    }
    for (const auto& name : poolers)
        for (CertKind kind : {CertKind::pooler, CertKind::pooler_client}) targets.emplace_back(kind, name);
    if (targets.empty()) throw Error(ErrorKind::input, "rotate: the folder has no server or pooler certificates");
    return targets;
}

// The request that renews `current` as it was issued (hosts, key type, lifetime, passphrase:
// the days included, recorded though never a reason to re-issue). A pooler's server certificate
// is renewed with everything it recorded.
ServerRequest renewal_of(const LedgerEntry& current, bool keep_key) {
    const IssueParams& was = current.params;
    if (was.hosts.empty())
        throw Error(ErrorKind::ledger, "rotate: the ledger does not record the hosts of " +
                                           std::string(to_string(current.kind)) + " \"" + current.name + "\"");
    if (current.kind == CertKind::pooler) return {was, keep_key};
    return {shared::renewal_params(current), keep_key};
}

}  // namespace

// PostgreSQL applies a reload asynchronously (SIGHUP), so this polls; the timeout bounds the whole
// loop: each probe gets at most the time left, and one cut short by the deadline after an earlier
// answer leaves that answer to report.
VerifyResult shared::verify_served(const PkiDir& pki, const RotateOptions& options, const std::set<std::string>& expected) {
    ProbeOptions po;
    parse_host_port(options.verify, po.host, po.port);
    // After `rollover reissue` the servers serve leaves of the next root.
    po.ca_file = pki.ca().issues_from_next() && pki.ca().next_root() != nullptr ? pki.layout().next_root_cert()
                                                                               : pki.layout().root_cert();
    po.server_name = options.verify_name;
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(options.verify_timeout);
    auto left_ms = [&] {
        return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    };
    std::optional<ProbeResult> last;
    const std::string context =
        "verify " + options.verify + " (--verify-timeout " + std::to_string(options.verify_timeout) + " s)";
    while (true) {
        po.timeout_ms = std::max(1, left_ms());
        const auto probe_deadline = Clock::now() + std::chrono::milliseconds(po.timeout_ms);
        try {
            last = probe(po);
        } catch (const Error& e) {
            if (!last || Clock::now() < probe_deadline) throw e.with_context(context);
            break;
        }
        if (!last->chain.empty() && expected.count(last->chain.front().serial_hex()) != 0) break;
        if (left_ms() <= 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(250, left_ms())));
        if (left_ms() <= 0) break;
    }
    const ProbeResult& got = *last;
    std::string served = got.chain.empty() ? std::string("nothing") : got.chain.front().serial_hex();
    const std::string& target = options.verify;
    if (expected.count(served) == 0) {
        std::string want;
        for (const auto& s : expected) want += (want.empty() ? "" : " or ") + s;
        throw Error(ErrorKind::io, "verify " + target + ": the server still serves serial " + served + ", not " + want +
                                       "; was it reloaded (SELECT pg_reload_conf()), and does its ssl_cert_file "
                                       "point at the rotated files?");
    }
    if (!got.verified) throw Error(ErrorKind::crypto, "verify " + target + ": served chain does not verify: " + got.verify_error);
    if (!got.name_matches)
        throw Error(ErrorKind::crypto, "verify " + target + ": served certificate does not match \"" + got.name_checked + "\"");
    return {target, served, got.tls_version, got.days_left};
}

namespace {

// rotate's plan: a keep step for each certificate that is fresh, then a rotate step for each that
// is due (or stale on disk, or forced) — servers' and poolers' server certificates first, then
// the poolers' client certificates, the order issue_batch makes them in — then the reload and
// the verify that run after the commit.
Plan plan_rotate(PkiDir& pki, const std::vector<std::pair<CertKind, std::string>>& targets, int within,
                 const RotateOptions& options) {
    const std::time_t now = std::time(nullptr);
    Plan plan;
    std::vector<Step> rotations, client_rotations;
    for (const auto& [kind, name] : targets) {
        const std::string kind_name(to_string(kind));
        auto current = pki.ledger().current(kind, name);
        if (!current)
            throw Error(ErrorKind::input, "rotate: no valid certificate for " +
                                              std::string(kind == CertKind::server ? "server" : "pooler") + " \"" +
                                              name + "\"" + (kind == CertKind::pooler_client ? " (its client certificate)" : ""));
        const bool due = current->not_after - now <= static_cast<std::time_t>(within) * kDaySeconds;
        // A run whose files could not be written after its commit (put back to the old pair)
        // left the ledger ahead of the disk: the change is made again, not reported as done.
        const bool stale = files_differ(pki, *current);
        if (!due && !stale && !options.force) {
            long days_left = static_cast<long>((current->not_after - now) / kDaySeconds);
            plan.steps.push_back({StepKind::keep, kind_name, name,
                                  "serial " + current->serial + ", " + std::to_string(days_left) + " days left", true,
                                  true, current->serial});
            continue;
        }
        const std::string why = due     ? "expires " + format_time(current->not_after) + ", within " +
                                              std::to_string(within) + " days"
                                : stale ? "its files are not the ones the ledger recorded"
                                        : "--force";
        Step step{StepKind::rotate, kind_name, name, "serial " + current->serial + ": " + why, true, true, current->serial};
        if (kind == CertKind::pooler_client) {
            client_rotations.push_back(std::move(step));
            plan.clients.push_back({current->params, {}, {}});
        } else {
            rotations.push_back(std::move(step));
            plan.servers.push_back(renewal_of(*current, options.keep_key));
        }
    }
    for (auto& r : client_rotations) rotations.push_back(std::move(r));
    for (auto& r : rotations) plan.steps.push_back(std::move(r));
    if ((!plan.servers.empty() || !plan.clients.empty()) && !options.reload.empty())
        plan.steps.push_back({StepKind::reload, "file", options.reload, ""});
    if (!options.verify.empty())
        plan.steps.push_back({StepKind::verify, "server", options.verify,
                              "until it serves the new certificates (--verify-timeout " +
                                  std::to_string(options.verify_timeout) + " s)"});
    return plan;
}

}  // namespace

RotateResult rotate(const std::string& dir, const RotateOptions& options, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    const int within = options.within ? *options.within : pki->setting("renew_before_days", 30);
    if (within < 0) throw Error(ErrorKind::usage, "--within: must not be negative");
    const auto targets = rotation_targets(pki->ledger(), options);

    RotateResult result;
    Plan plan = plan_rotate(*pki, targets, within, options);
    if (open.dry_run) {
        result.actions = plan.preview();
        return result;
    }
    // The same pipeline as apply: made in memory, recorded, then written after the commit.
    const Profile p = execution_profile(crl_days(*pki));
    Executed done = pki->transact([&] { return execute(plan, p, *pki); });
    result.actions = std::move(done.actions);
    std::set<std::string> expected;  // serials the servers should serve afterwards
    for (const auto& step : plan.steps)
        if (step.kind == StepKind::keep) expected.insert(step.serial);
    for (const auto& leaf : done.issued) expected.insert(leaf.serial_hex);
    auto report = [&](const Action& a) {
        if (options.on_action) options.on_action(a);
    };
    for (const auto& a : result.actions) report(a);
    // After the commit, in plan order: the reload, then the check of what the server serves.
    for (const auto& step : plan.steps) {
        if (step.kind == StepKind::reload) {
            report({verb(step.kind), step.target_kind, step.name, ""});
            run_reload(step.name);
        } else if (step.kind == StepKind::verify) {
            result.verified = verify_served(*pki, options, expected);
        }
    }
    return result;
}

namespace {

// Whether `t` is more than `days` days after `now`.
bool beyond(std::time_t t, std::time_t now, int days) { return t - now > static_cast<std::time_t>(days) * kDaySeconds; }

std::vector<LedgerEntry> listed_certificates(PkiDir& pki, const ListOptions& options, std::time_t now) {
    std::vector<LedgerEntry> rows;
    for (auto& e : pki.ledger().list()) {
        // The ledger keeps "valid" past notAfter (nothing runs at that moment to change it); no
        // client or server accepts such a certificate, so it is shown as what it is.
        if (e.status == CertStatus::valid && e.not_after <= now) e.status = CertStatus::expired;
        if (!options.all && e.status == CertStatus::superseded) continue;
        if (options.expiring && (e.status != CertStatus::valid || beyond(e.not_after, now, *options.expiring)))
            continue;
        rows.push_back(std::move(e));
    }
    return rows;
}

// A CA within its rollover lead time: less of its life left than the longest leaf lifetime the
// folder issues (a leaf cannot outlive its issuer, so every leaf it signs from then on is cut
// short). README "CA rollover" says when to start one.
void ca_lead_time_warnings(PkiDir& pki, std::time_t now, std::vector<std::string>& warnings) {
    if (!pki.ca().has_ca()) return;
    int lead_days = 0;
    for (const auto& e : pki.ledger().valid_entries())
        if ((is_server_kind(e.kind) || is_client_kind(e.kind)) && e.params.days > lead_days) lead_days = e.params.days;
    if (lead_days == 0) lead_days = Defaults{}.server_days;
    const bool rolling = !pki.ledger().get_meta(kRolloverPhase).value_or("").empty();
    for (const auto& [cert, name] : {std::pair{&pki.ca().root(), "root"}, std::pair{pki.ca().intermediate(), "intermediate"}}) {
        if (cert == nullptr || beyond(cert->not_after(), now, lead_days)) continue;
        const long left = static_cast<long>((cert->not_after() - now) / kDaySeconds);
        warnings.push_back(std::string("the ") + name + " CA \"" + cert->subject_rfc2253() + "\" expires " +
                           format_time(cert->not_after()) + " (" + std::to_string(left) +
                           " days), within its rollover lead time of " + std::to_string(lead_days) +
                           " days (the longest leaf lifetime): every leaf it signs now ends with it; " +
                           (rolling ? std::string("a rollover is in progress (`pgca rollover status`)")
                                    : std::string("start a rollover (`pgca rollover begin") +
                                          (std::string(name) == "intermediate" ? " --intermediate" : "") + "`)"));
    }
}

}  // namespace

ListResult list(const std::string& dir, const ListOptions& options) {
    OpenOptions open;
    open.read_only = true;
    open.ledger = options.ledger;
    auto pki = PkiDir::open(dir, open);
    ListResult result;
    result.now = std::time(nullptr);
    const std::time_t now = result.now;
    result.certificates = listed_certificates(*pki, options, now);
    // CRLs expire too, and an expired one locks every certificate user out (PostgreSQL answers
    // "sslv3 alert certificate expired"), so they are listed beside the certificates.
    const int days = crl_days(*pki);
    for (const auto& [path, crl] : pki->crl_publisher().crls()) {
        std::string name = path.substr(path.rfind('/') + 1);
        name = name.substr(0, name.find('.'));
        if (options.expiring && beyond(crl.next_update(), now, *options.expiring)) continue;
        result.crls.push_back({name, crl.issuer_rfc2253(), crl.number(), crl.next_update(), crl.revoked_serials().size()});
        long left = static_cast<long>((crl.next_update() - now) / kDaySeconds);
        if (crl.next_update() <= now)
            result.warnings.push_back("the " + name + " CRL expired " + format_time(crl.next_update()) +
                                      ": PostgreSQL now refuses every client certificate; run `pgca crl` and reload "
                                      "the servers");
        else if (left < days / 3)
            result.warnings.push_back("the " + name + " CRL expires in " + std::to_string(left) +
                                      " days; run `pgca crl` (or `pgca apply`)");
    }
    if (options.expiring) ca_lead_time_warnings(*pki, now, result.warnings);
    return result;
}

}  // namespace pgca::ops
