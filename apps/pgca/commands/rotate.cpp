// pgca rotate --dir DIR [--server NAME ...] [--within DAYS] [--force] [--keep-key] [--reload CMD]
//             [--verify HOST:PORT] [--verify-name NAME] [--verify-timeout SECONDS] [--json]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/probe.hpp"

namespace pgca::cli {
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
        auto cert = folder.try_read("server.crt");
        auto key = folder.try_read("server.key");
        return !cert || !key || sha256_hex(*cert) != current.cert_file_sha256 ||
               sha256_hex(*key) != current.key_file_sha256;
    } catch (const Error&) {
        return true;  // unreadable, or a link planted in its place: the rotation replaces it
    }
}

}  // namespace

int run_rotate(int argc, char** argv) {
    cxxopts::Options options("pgca rotate",
                             "Renew server certificates that expire soon, replace their files atomically, "
                             "optionally reload the server and check what it now serves.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("server", "server to rotate (repeat; default: every server)", cxxopts::value<std::vector<std::string>>())
        ("within", "rotate what expires within DAYS (default: the profile's renew_before_days, else 30)",
         cxxopts::value<int>())
        ("force", "rotate even fresh certificates")
        ("keep-key", "sign the new certificate for the existing key instead of a new one")
        ("reload", "shell command that makes PostgreSQL re-read its files, e.g. \"pg_ctlcluster 15 main reload\"",
         cxxopts::value<std::string>())
        ("verify", "probe HOST:PORT afterwards and fail unless it serves the new certificate",
         cxxopts::value<std::string>())
        ("verify-name", "host name to check in the served certificate (default: the --verify host)",
         cxxopts::value<std::string>())
        ("verify-timeout", "seconds the whole check may take, retries included, until the server serves the new certificate",
         cxxopts::value<int>()->default_value("15"))
        ("json", "print JSON");
    add_lock_timeout_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r);
    const int verify_timeout = r["verify-timeout"].as<int>();
    if (verify_timeout < 1 || verify_timeout > 3600)
        throw Error(ErrorKind::usage, "--verify-timeout: must be between 1 and 3600 seconds");

    auto pki = PkiDir::open(r["dir"].as<std::string>(), open_options);
    int within = r.count("within") != 0 ? r["within"].as<int>() : pki->setting("renew_before_days", 30);
    if (within < 0) throw Error(ErrorKind::usage, "--within: must not be negative");
    std::vector<std::string> names;
    if (r.count("server") != 0) {
        names = r["server"].as<std::vector<std::string>>();
    } else {
        std::set<std::string> seen;
        for (const auto& e : pki->ledger().list())
            if (e.kind == CertKind::server && e.status == CertStatus::valid && seen.insert(e.name).second)
                names.push_back(e.name);
    }
    if (names.empty()) throw Error(ErrorKind::input, "rotate: the folder has no server certificates");

    const std::time_t now = std::time(nullptr);
    std::vector<Action> actions;
    std::set<std::string> expected;  // serials the servers should serve afterwards
    bool rotated_any = false;
    std::vector<ServerRequest> reqs;
    std::vector<std::string> old_serials;
    pki->transact([&] {
        Ledger& ledger = pki->ledger();
        for (const auto& name : names) {
            auto current = ledger.current(CertKind::server, name);
            if (!current) throw Error(ErrorKind::input, "rotate: no valid certificate for server \"" + name + "\"");
            long days_left = static_cast<long>((current->not_after - now) / 86400);
            bool due = current->not_after - now <= static_cast<std::time_t>(within) * 86400;
            // A run whose files could not be written after its commit (put back to the old pair)
            // left the ledger ahead of the disk: the change is made again, not reported as done.
            const bool stale = files_differ(*pki, *current);
            if (!due && !stale && r.count("force") == 0) {
                actions.push_back({"keep", "server", name, "serial " + current->serial + ", " +
                                                               std::to_string(days_left) + " days left"});
                expected.insert(current->serial);
                continue;
            }
            // Renewed as it was issued (the days included: recorded, though no reason to re-issue).
            const IssueParams& was = current->params;
            ServerRequest req;
            req.name = name;
            if (was.hosts.empty())
                throw Error(ErrorKind::ledger, "rotate: the ledger does not record the hosts of server \"" + name + "\"");
            req.hosts = was.hosts;
            req.key = was.key.value_or(KeyAlg::ec_p256);
            req.days = was.days > 0 ? was.days : 397;
            req.key_passphrase = was.key_passphrase.value_or(PassphraseSource{});
            req.keep_key = r.count("keep-key") != 0;
            reqs.push_back(std::move(req));
            old_serials.push_back(current->serial);
        }
        // The same pipeline as apply: made in memory, recorded, then written after the commit.
        auto certs = pki->issue_batch(reqs, {});
        for (std::size_t i = 0; i < certs.size(); ++i) {
            actions.push_back({"rotate", "server", reqs[i].name,
                               "serial " + old_serials[i] + " -> " + certs[i].serial_hex + ", valid until " +
                                   format_time(certs[i].not_after) +
                                   (reqs[i].keep_key ? " (same key)" : " (new key)")});
            expected.insert(certs[i].serial_hex);
            rotated_any = true;
        }
    });

    for (const auto& a : actions)
        if (r.count("json") == 0) std::cout << format_action(a) << "\n";
    if (rotated_any && r.count("reload") != 0) {
        if (r.count("json") == 0) std::cout << "reload   " << r["reload"].as<std::string>() << "\n";
        run_reload(r["reload"].as<std::string>());
    }

    nlohmann::json verify_json;
    if (r.count("verify") != 0) {
        ProbeOptions po;
        parse_host_port(r["verify"].as<std::string>(), po.host, po.port);
        po.ca_file = pki->layout().root_cert();
        if (r.count("verify-name") != 0) po.server_name = r["verify-name"].as<std::string>();
        using Clock = std::chrono::steady_clock;
        const auto deadline = Clock::now() + std::chrono::seconds(verify_timeout);
        auto left_ms = [&] {
            return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        };
        std::optional<ProbeResult> last;
        // PostgreSQL applies a reload asynchronously (SIGHUP), so poll until the new certificate
        // shows up or the deadline passes. --verify-timeout bounds the whole loop: each probe
        // gets at most the time left, and one cut short by the deadline after an earlier answer
        // leaves that answer to report.
        const std::string context = "verify " + r["verify"].as<std::string>() + " (--verify-timeout " +
                                    std::to_string(verify_timeout) + " s)";
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
        std::string target = r["verify"].as<std::string>();
        if (expected.count(served) == 0) {
            std::string want;
            for (const auto& s : expected) want += (want.empty() ? "" : " or ") + s;
            throw Error(ErrorKind::io, "verify " + target + ": the server still serves serial " + served +
                                           ", not " + want + "; was it reloaded (SELECT pg_reload_conf()), and does "
                                           "its ssl_cert_file point at the rotated files?");
        }
        if (!got.verified) throw Error(ErrorKind::crypto, "verify " + target + ": served chain does not verify: " + got.verify_error);
        if (!got.name_matches)
            throw Error(ErrorKind::crypto, "verify " + target + ": served certificate does not match \"" +
                                               got.name_checked + "\"");
        verify_json = {{"target", target}, {"serial", served}, {"tls_version", got.tls_version},
                       {"days_left", got.days_left}};
        if (r.count("json") == 0)
            std::cout << "verified " << target << " serves serial " << served << " (" << got.tls_version << ", "
                      << got.days_left << " days left)\n";
    }
    if (r.count("json") != 0) {
        nlohmann::json out = {{"actions", nlohmann::json::array()}, {"verify", verify_json}};
        for (const auto& a : actions) out["actions"].push_back(to_json(a));
        std::cout << out.dump(2) << "\n";
    }
    return 0;
}

}  // namespace pgca::cli
