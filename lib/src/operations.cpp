// init, issue, revoke, crl, rotate and list: each command's decisions and changes, in the library.
#include "pgca/operations.hpp"

#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "pgca/error.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/plan.hpp"
#include "pgca/probe.hpp"

namespace pgca::ops {
namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

// The CRL lifetime the last apply recorded.
int crl_days(PkiDir& pki) { return pki.setting("crl_days", kDefaultCrlDays); }

}  // namespace

std::vector<Action> init(const std::string& dir, const CaSpec& spec, const OpenOptions& open) {
    PassphraseCache passphrases;
    if (!spec.passphrase.empty()) (void)passphrases.get(spec.passphrase);  // fail before creating anything
    auto pki = PkiDir::open(dir, open);
    if (pki->ca().has_ca()) throw Error(ErrorKind::policy, "\"" + pki->layout().dir() + "\" already has a root CA");
    pki->adopt_passphrases(std::move(passphrases));
    if (!spec.passphrase.empty()) pki->ca().set_passphrase(spec.passphrase);
    return pki->transact([&] {
        if (!spec.passphrase.empty()) pki->ledger().set_meta("ca_passphrase", spec.passphrase.to_json());
        auto done = pki->ca().create_ca(spec);
        // Servers include ssl_crl_file from the start, so the CRLs must exist from the start.
        for (auto& a : pki->crl_publisher().refresh(crl_days(*pki), false)) done.push_back(std::move(a));
        return done;
    });
}

IssuedLeaf issue_server(const std::string& dir, const ServerSpec& spec, KeyAlg key, int days, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    const Profile applied = applied_profile(*pki);
    // A server the applied profile names keeps its install_dir, CRL mode and key passphrase.
    ServerSpec server = spec;
    if (const ServerSpec* known = applied.find_server(spec.name)) {
        server.install_dir = known->install_dir;
        server.crl = known->crl;
        server.key_passphrase = known->key_passphrase;
    }
    ServerRequest req{IssueParams::server(server.name, server.hosts, key, days, server.key_passphrase), false};
    return pki->transact([&] {
        auto issued = pki->issuance().issue_batch({req}, {}, pki->jobs());
        pki->issuance().queue_folder(CertKind::server, server.name);
        (void)pki->files().write_if_changed(pg::server_conf_file(pki->layout(), applied, server));
        (void)pki->crl_publisher().refresh(crl_days(*pki), false);  // root.crl for the new folder
        return std::move(issued.front());
    });
}

std::vector<IssuedLeaf> issue_clients(const std::string& dir, const std::vector<ClientSpec>& specs, KeyAlg key,
                                      int days, unsigned jobs, const OpenOptions& open, const Progress& progress) {
    auto pki = PkiDir::open(dir, open);
    if (jobs != 0) pki->set_jobs(jobs);
    std::vector<ClientRequest> reqs;
    reqs.reserve(specs.size());
    for (const auto& spec : specs) reqs.push_back({IssueParams::client(spec.user, spec.cn, key, days)});
    const Profile applied = applied_profile(*pki);
    return pki->transact([&] {
        auto issued = pki->issuance().issue_batch({}, reqs, pki->jobs(), progress);
        std::vector<io::FileWrite> services;
        services.reserve(specs.size());
        for (const auto& spec : specs) {
            pki->issuance().queue_folder(CertKind::client, spec.user);
            services.push_back(pg::service_file(pki->layout(), applied, spec));
        }
        (void)pki->files().write_if_changed(std::move(services), pki->jobs());
        return issued;
    });
}

namespace {

// The ledger spells serials as OpenSSL does: upper case, whole bytes, so "0A12", never "a12".
std::string canonical_serial(std::string serial) {
    for (auto& c : serial) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    serial.erase(0, std::min(serial.find_first_not_of('0'), serial.size() - 1));
    if (serial.size() % 2 != 0 && serial != "0") serial.insert(0, "0");
    return serial;
}

// The certificates `target` names, and how to name them in messages.
std::vector<LedgerEntry> revoke_targets(Ledger& ledger, const RevokeTarget& target, std::string& what) {
    std::vector<LedgerEntry> targets;
    if (!target.serial.empty()) {
        std::string serial = canonical_serial(target.serial);
        what = "serial " + serial;
        for (auto& e : ledger.by_serial(serial))
            if (e.kind == CertKind::server || e.kind == CertKind::client) targets.push_back(std::move(e));
        if (targets.empty()) throw Error(ErrorKind::input, "revoke: no server or client certificate with " + what);
        if (targets.size() > 1) throw Error(ErrorKind::input, "revoke: " + what + " is ambiguous (several issuers)");
        return targets;
    }
    what = std::string(to_string(target.kind)) + " \"" + target.name + "\"";
    auto all = ledger.by_name(target.kind, target.name);
    if (all.empty()) throw Error(ErrorKind::input, "revoke: the ledger has no certificate for " + what);
    // Superseded certificates are still valid until they expire: revoke them too.
    const std::time_t now = std::time(nullptr);
    for (auto& e : all)
        if (e.not_after > now) targets.push_back(std::move(e));
    return targets;
}

}  // namespace

RevokeResult revoke(const std::string& dir, const RevokeTarget& target, RevocationReason reason,
                    const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    RevokeResult out;
    const auto targets = revoke_targets(pki->ledger(), target, out.what);
    try {
        pki->transact([&] {
            for (const auto& e : targets) (pki->issuance().revoke(e, reason) ? out.revoked : out.already).push_back(e.serial);
            out.crls = pki->crl_publisher().refresh(crl_days(*pki), false);
        });
    } catch (const Error&) {
        if (!pki->unwritten() || (out.revoked.empty() && out.already.empty())) throw;
        // The revocation stands (the ledger committed it); only its publication is missing.
        std::string serials;
        for (const auto* list : {&out.revoked, &out.already})
            for (const auto& s : *list) serials += (serials.empty() ? "" : ", ") + s;
        throw Error(ErrorKind::io, "revocation of " + out.what + " serial " + serials + " recorded; CRL not written: " +
                                       pki->unwritten()->what() + "; run `pgca crl`");
    }
    return out;
}

std::vector<Action> refresh_crls(const std::string& dir, int days, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    if (days == 0) days = crl_days(*pki);
    if (!pki->ca().has_ca()) throw Error(ErrorKind::input, "\"" + pki->layout().dir() + "\" has no CA");
    return pki->transact([&] { return pki->crl_publisher().refresh(days, true); });
}

namespace {

// Runs the operator's reload command through /bin/sh, as a cron line or a unit file would.
void run_reload(const std::string& command) {
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

// True when servers/NAME does not hold the certificate and key files the ledger recorded for
// `current` (rows older than those digests are taken as they are).
bool files_differ(const PkiDir& pki, const LedgerEntry& current) {
    if (current.cert_file_sha256.empty() || current.key_file_sha256.empty()) return false;
    try {
        io::Folder folder(pki.layout().server_dir(current.name));
        auto cert = folder.try_read(io::Layout::kServerCert);
        auto key = folder.try_read(io::Layout::kServerKey);
        return !cert || !key || sha256_hex(*cert) != current.cert_file_sha256 ||
               sha256_hex(*key) != current.key_file_sha256;
    } catch (const Error&) {
        return true;  // unreadable, or a link planted in its place: the rotation replaces it
    }
}

// The servers to look at: those named, else every one with a valid certificate.
std::vector<std::string> rotation_names(Ledger& ledger, const RotateOptions& options) {
    std::vector<std::string> names = options.servers;
    if (names.empty()) {
        std::set<std::string> seen;
        for (const auto& e : ledger.list())
            if (e.kind == CertKind::server && e.status == CertStatus::valid && seen.insert(e.name).second)
                names.push_back(e.name);
    }
    if (names.empty()) throw Error(ErrorKind::input, "rotate: the folder has no server certificates");
    return names;
}

// The request that renews `current` as it was issued (hosts, key type, lifetime, passphrase:
// the days included, recorded though never a reason to re-issue).
ServerRequest renewal_of(const LedgerEntry& current, bool keep_key) {
    const IssueParams& was = current.params;
    if (was.hosts.empty())
        throw Error(ErrorKind::ledger, "rotate: the ledger does not record the hosts of server \"" + current.name + "\"");
    return {IssueParams::server(current.name, was.hosts, was.key.value_or(KeyAlg::ec_p256), was.days > 0 ? was.days : 397,
                                was.key_passphrase.value_or(PassphraseSource{})),
            keep_key};
}

// Probes the server until it serves one of `expected` or the deadline passes. PostgreSQL applies a
// reload asynchronously (SIGHUP), so it polls; the timeout bounds the whole loop: each probe gets
// at most the time left, and one cut short by the deadline after an earlier answer leaves that
// answer to report.
VerifyResult verify_served(const PkiDir& pki, const RotateOptions& options, const std::set<std::string>& expected) {
    ProbeOptions po;
    parse_host_port(options.verify, po.host, po.port);
    po.ca_file = pki.layout().root_cert();
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

}  // namespace

RotateResult rotate(const std::string& dir, const RotateOptions& options, const OpenOptions& open) {
    auto pki = PkiDir::open(dir, open);
    const int within = options.within ? *options.within : pki->setting("renew_before_days", 30);
    if (within < 0) throw Error(ErrorKind::usage, "--within: must not be negative");
    const std::vector<std::string> names = rotation_names(pki->ledger(), options);

    const std::time_t now = std::time(nullptr);
    RotateResult result;
    std::set<std::string> expected;  // serials the servers should serve afterwards
    pki->transact([&] {
        std::vector<ServerRequest> reqs;
        std::vector<std::string> old_serials;
        for (const auto& name : names) {
            auto current = pki->ledger().current(CertKind::server, name);
            if (!current) throw Error(ErrorKind::input, "rotate: no valid certificate for server \"" + name + "\"");
            const bool due = current->not_after - now <= static_cast<std::time_t>(within) * kDaySeconds;
            // A run whose files could not be written after its commit (put back to the old pair)
            // left the ledger ahead of the disk: the change is made again, not reported as done.
            const bool stale = files_differ(*pki, *current);
            if (!due && !stale && !options.force) {
                long days_left = static_cast<long>((current->not_after - now) / kDaySeconds);
                result.actions.push_back({"keep", "server", name, "serial " + current->serial + ", " +
                                                                      std::to_string(days_left) + " days left"});
                expected.insert(current->serial);
                continue;
            }
            reqs.push_back(renewal_of(*current, options.keep_key));
            old_serials.push_back(current->serial);
        }
        // The same pipeline as apply: made in memory, recorded, then written after the commit.
        auto certs = pki->issuance().issue_batch(reqs, {}, pki->jobs());
        for (std::size_t i = 0; i < certs.size(); ++i) {
            result.actions.push_back({"rotate", "server", reqs[i].params.name,
                                      "serial " + old_serials[i] + " -> " + certs[i].serial_hex + ", valid until " +
                                          format_time(certs[i].not_after) +
                                          (reqs[i].keep_key ? " (same key)" : " (new key)")});
            expected.insert(certs[i].serial_hex);
        }
    });
    const bool rotated_any = std::any_of(result.actions.begin(), result.actions.end(),
                                         [](const Action& a) { return a.verb == "rotate"; });
    auto report = [&](const Action& a) {
        if (options.on_action) options.on_action(a);
    };
    for (const auto& a : result.actions) report(a);
    if (rotated_any && !options.reload.empty()) {
        report({"reload", "file", options.reload, ""});
        run_reload(options.reload);
    }
    if (!options.verify.empty()) result.verified = verify_served(*pki, options, expected);
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

}  // namespace

ListResult list(const std::string& dir, const ListOptions& options) {
    OpenOptions open;
    open.read_only = true;
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
    return result;
}

}  // namespace pgca::ops
