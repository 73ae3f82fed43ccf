// Pairs change together. The real pgca binary runs with a fault-injection shim preloaded
// (tests/support/fault_shim.c) that makes the Nth call of one group of file-system functions
// fail (EIO, ENOSPC) or kills the process there, for N = 1, 2, ... until a run never reaches N,
// for every group: write, sync, rename, link, unlink, create, mkdir (the ledger's own writes and
// syncs excepted: SQLite's atomicity is not what is tested here). After each faulty run, every
// server and client folder holds a key and the certificate that belongs to it (the old pair or
// the new one) as the next pgca sees it (a journal left by a kill is completed first, as
// PkiDir::open does), and a clean run completes the change: the ledger's current certificate of
// every name is the one on disk.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/io.hpp"
#include "pgca/key.hpp"
#include "pgca/ledger.hpp"
#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

struct Pair {
    std::string kind, name, folder, cert, key;
};

std::vector<Pair> pairs_of(const std::string& dir) {
    std::vector<Pair> out;
    for (const char* s : {"db1", "db2"})
        out.push_back({"server", s, dir + "/servers/" + s, "server.crt", "server.key"});
    for (const char* c : {"alice", "bob", "carol"})
        out.push_back({"client", c, dir + "/clients/" + c, "postgresql.crt", "postgresql.key"});
    return out;
}

std::string pairs_profile(const test::TempDir& tmp, const std::string& name, const std::string& key) {
    json profile = test::minimal_profile("pairs", {"alice", "bob", "carol"},
                                         {{"db1", {"db1.example.com"}}, {"db2", {"db2.example.com"}}});
    profile["defaults"] = {{"key", key}};
    return test::write_profile(tmp, profile, name);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

// Every folder holds a whole key and the certificate that belongs to it.
void check_pairs(const std::string& dir, const std::string& when) {
    for (const auto& p : pairs_of(dir)) {
        INFO(when << ": " << p.folder);
        const std::string cert_path = p.folder + "/" + p.cert, key_path = p.folder + "/" + p.key;
        REQUIRE(exists(cert_path));
        REQUIRE(exists(key_path));
        auto cert = Certificate::from_pem(test::read_file(cert_path), cert_path);
        CHECK(cert.matches(PrivateKey::from_pem(test::read_file(key_path), key_path)));
    }
}

// The ledger's current certificate of every name is the one on disk.
void check_ledger(const std::string& dir, const std::string& when) {
    auto ledger = open_ledger("sqlite:" + dir + "/pgca.db");
    for (const auto& p : pairs_of(dir)) {
        INFO(when << ": " << p.folder);
        auto current = ledger->current(parse_cert_kind(p.kind).value(), p.name);
        REQUIRE(current);
        auto cert = Certificate::from_pem(test::read_file(p.folder + "/" + p.cert), p.cert);
        CHECK(cert.sha256_fingerprint() == current->fingerprint);
    }
}

test::ProcessResult run_pgca(const std::vector<std::string>& args, const test::EnvList& env = {}) {
    std::vector<std::string> argv{PGCA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv, env);
}

struct Tally {
    int runs = 0, killed = 0, failed = 0, journals = 0;
};

using Args = std::vector<std::string>;

// What a sweep varies and checks. By default: every mode and group, no reset, the pairs checked
// after each faulty run.
struct SweepHooks {
    std::vector<std::string> modes{"crash", "eio", "enospc"};
    std::vector<std::string> groups{"write", "sync", "rename", "link", "unlink", "create", "mkdir"};
    std::function<void()> reset = [] {};  ///< before each run with the fault
    /// After a run with the fault (and the completion of the journal it left), before the clean run.
    std::function<void(const std::string& when)> check;
    std::function<void()> changed = [] {};  ///< whenever the folder has reached what `command` asks for
};

// Runs `command` with the fault at N = 1, 2, ... of every group and mode until a run never
// reaches N; after each, checks the folder (hooks.check), runs `command` again without the
// fault, checks the pairs and the ledger.
Tally sweep(const test::TempDir& tmp, const std::string& dir, const std::function<Args()>& command,
            const SweepHooks& hooks) {
    Tally tally;
    const std::string report = tmp.file("fault-report");
    for (const auto& mode : hooks.modes) {
        for (const auto& group : hooks.groups) {
            if (mode == "enospc" && group != "write") continue;  // ENOSPC is what a full disk gives a write
            for (int n = 1;; ++n) {
                hooks.reset();
                ::unlink(report.c_str());
                const std::string fault = group + ":" + std::to_string(n) + ":" + mode;
                const Args args = command();
                auto r = run_pgca(args, {{"LD_PRELOAD", PGCA_FAULT_SHIM},
                                         {"PGCA_FAULT", fault},
                                         {"PGCA_FAULT_REPORT", report},
                                         {"PGCA_FAULT_SKIP", dir + "/pgca.db"}});
                const bool fired = exists(report);
                INFO(fault << ": " << test::describe(args, r));
                if (!fired) {
                    CHECK(r.exit_code == 0);
                    hooks.changed();
                    break;
                }
                ++tally.runs;
                if (r.exit_code == 137) ++tally.killed;
                else if (r.exit_code != 0) ++tally.failed;
                // What the next pgca sees: a journal left by a kill is completed when it opens DIR.
                if (exists(dir + "/" + io::kJournalName)) {
                    ++tally.journals;
                    io::recover_journal(dir);
                }
                if (hooks.check) hooks.check(fault + " then recovery");
                else check_pairs(dir, fault + " then recovery");
                auto c = run_pgca(args);
                INFO(test::describe(args, c));
                REQUIRE(c.exit_code == 0);
                check_pairs(dir, fault + " then a clean run");
                check_ledger(dir, fault + " then a clean run");
                hooks.changed();
                REQUIRE(n < 500);  // the sweep ends
                if (std::getenv("PGCA_FAULT_TRACE") != nullptr)
                    std::fprintf(stderr, "%s exit %d\n", fault.c_str(), r.exit_code);
            }
        }
    }
    return tally;
}

bool shim_usable() {
    if (PGCA_SANITIZED) {
        WARN("the fault-injection shim is not preloaded under the sanitizer build (ASan must come first in "
             "LD_PRELOAD): skipped; the normal build runs this test");
        return false;
    }
    return true;
}

}  // namespace

TEST_CASE("rotate --force of two servers: every write, sync and rename may fail or kill, pairs stay pairs",
          "[pairs][fault]") {
    if (!shim_usable()) return;
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    const std::string profile = pairs_profile(tmp, "profile.json", "ec-p256");
    REQUIRE(run_pgca({"apply", profile, "--dir", dir}).exit_code == 0);
    Tally t = sweep(tmp, dir, [&] { return Args{"rotate", "--dir", dir, "--force"}; }, {});
    WARN("runs " << t.runs << ", killed " << t.killed << ", failed " << t.failed << ", journals " << t.journals);
    CHECK(t.killed > 0);
    CHECK(t.failed > 0);
    CHECK(t.journals > 0);  // some kills happened between the renames
}

TEST_CASE("an apply that re-issues every certificate: every write, sync and rename may fail or kill, pairs stay pairs",
          "[pairs][fault]") {
    if (!shim_usable()) return;
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    const std::string p256 = pairs_profile(tmp, "p256.json", "ec-p256");
    const std::string p384 = pairs_profile(tmp, "p384.json", "ec-p384");
    REQUIRE(run_pgca({"apply", p256, "--dir", dir}).exit_code == 0);
    // Each round changes the key type: the faulty run and the clean run apply the other one.
    std::string target = p384;
    SweepHooks hooks;
    hooks.changed = [&] { target = target == p384 ? p256 : p384; };
    Tally t = sweep(tmp, dir, [&] { return Args{"apply", target, "--dir", dir}; }, hooks);
    WARN("runs " << t.runs << ", killed " << t.killed << ", failed " << t.failed << ", journals " << t.journals);
    CHECK(t.killed > 0);
    CHECK(t.failed > 0);
    CHECK(t.journals > 0);
}

TEST_CASE("a first apply with an intermediate CA: every write, sync, rename and mkdir may fail or kill, the CA "
          "appears whole or not at all",
          "[pairs][fault]") {
    // A CA's key and certificate cannot be issued again like a leaf's: a run killed while they
    // land must leave all four CA files or none, and the next apply completes the folder.
    if (!shim_usable()) return;
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    const std::string profile = pairs_profile(tmp, "fresh.json", "ec-p256");
    json doc = json::parse(test::read_file(profile));
    doc["ca"]["intermediate"] = {{"subject", {{"CN", "Pairs Issuing"}}}};
    test::write_file(profile, doc.dump());
    const std::vector<std::string> ca_files{"root.crt", "root.key", "intermediate.crt", "intermediate.key"};
    int whole = 0, none = 0;
    auto check_ca = [&] {
        std::size_t present = 0;
        for (const auto& f : ca_files) present += exists(dir + "/ca/" + f) ? 1 : 0;
        INFO("CA files present: " << present);
        CHECK((present == 0 || present == ca_files.size()));
        if (present == 0) {
            ++none;
            return;
        }
        ++whole;
        for (const char* ca : {"root", "intermediate"}) {
            const std::string crt = dir + "/ca/" + ca + ".crt", key = dir + "/ca/" + ca + ".key";
            CHECK(Certificate::from_pem(test::read_file(crt), crt).matches(PrivateKey::from_pem(test::read_file(key), key)));
        }
    };
    SweepHooks hooks;
    hooks.modes = {"crash", "eio"};
    hooks.groups = {"write", "sync", "rename", "create", "mkdir"};
    hooks.reset = [&] { (void)test::run({"rm", "-rf", dir}); };
    hooks.check = [&](const std::string&) { check_ca(); };
    (void)sweep(tmp, dir, [&] { return Args{"apply", profile, "--dir", dir}; }, hooks);
    WARN("faulty first applies: CA whole " << whole << ", CA absent " << none);
    CHECK(whole > 0);
    CHECK(none > 0);
}
