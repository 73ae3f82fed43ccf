// kill -9 at random moments of `pgca apply`, then one more apply: the folder must end up exactly
// as the profile says, consistent with the ledger. The invariants checked here are the ones
// stated at the top of lib/src/apply.cpp.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "pgca/io.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

extern char** environ;

using namespace pgca;
using nlohmann::json;

namespace {

json crash_profile(const std::string& key, std::size_t clients) {
    json list = json::array();
    for (std::size_t i = 0; i < clients; ++i) list.push_back({{"user", "user" + std::to_string(i)}});
    return {{"pgca_profile", 1},
            {"name", "crash"},
            {"ca", {{"subject", {{"CN", "Crash Root"}}}, {"intermediate", {{"subject", {{"CN", "Crash Issuing"}}}}}}},
            {"defaults", {{"key", key}}},
            {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}}})},
            {"clients", list},
            {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "all"},
                                  {"address", "127.0.0.1/32"}, {"method", "cert"}}})}};
}

// Starts `pgca apply`, kills it with SIGKILL after `delay`, and reports whether it was still running.
bool apply_and_kill(const std::string& profile, const std::string& dir, std::chrono::microseconds delay) {
    std::vector<std::string> args{PGCA_BIN, "apply", profile, "--dir", dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, PGCA_BIN, &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    std::this_thread::sleep_for(delay);
    bool alive = ::kill(pid, SIGKILL) == 0;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return alive && WIFSIGNALED(status);
}

std::chrono::microseconds time_full_apply(const std::string& profile, const std::string& dir) {
    auto start = std::chrono::steady_clock::now();
    auto r = test::run({PGCA_BIN, "apply", profile, "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
}

// Every invariant of a folder that `apply` of `profile` completed.
void check_consistent(const json& profile, const std::string& dir) {
    auto pki = PkiDir::open(dir, false);
    Ledger& ledger = pki->ledger();
    std::set<std::string> wanted;
    for (const auto& c : profile["clients"]) wanted.insert(c["user"].get<std::string>());

    // Folders: exactly the profile's clients, each with a key matching a certificate that is the
    // ledger's current one for that role and was issued by the current issuing CA.
    auto folders = io::list_dir(dir + "/clients");
    CHECK(std::set<std::string>(folders.begin(), folders.end()) == wanted);
    std::map<std::string, std::set<std::string>> serials_by_issuer;
    for (const auto& e : ledger.list()) {
        INFO("serial " << e.serial);
        CHECK(serials_by_issuer[e.issuer].insert(e.serial).second);  // never used twice
    }
    for (const auto& role : folders) {
        INFO("client " << role);
        std::string folder = dir + "/clients/" + role;
        auto cert = Certificate::from_pem(io::read_file(folder + "/postgresql.crt"), "postgresql.crt");
        auto key = PrivateKey::from_pem(io::read_file(folder + "/postgresql.key"), "postgresql.key");
        CHECK(cert.matches(key));
        CHECK(cert.issued_by(pki->ca().issuer().certificate()));
        auto current = ledger.current(CertKind::client, role);
        REQUIRE(current);
        CHECK(current->serial == cert.serial_hex());
        CHECK(key.alg() == *parse_key_alg(profile["defaults"]["key"].get<std::string>()));
    }
    // Everything the ledger still calls valid is in the profile; the rest was revoked or superseded.
    for (const auto& e : ledger.valid_entries())
        if (e.kind == CertKind::client) CHECK(wanted.count(e.name) == 1);
    // No temporary file and no marker anywhere.
    auto r = test::run({"sh", "-c", "find '" + dir + "' -name '.pgca-tmp-*' -o -name '.pgca-writing'"});
    INFO("left behind: " << r.out);
    CHECK(test::trim(r.out).empty());
}

}  // namespace

TEST_CASE("kill -9 at random points of apply (400 clients): the next apply completes consistently", "[crash]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    std::string profile = tmp.path() + "/profile.json";
    std::mt19937_64 rng(std::random_device{}());

    // Measure a whole run once so that kills land anywhere in one, from CA creation to the
    // last file; the key type flips each round so that every round re-issues all 400.
    test::write_file(profile, crash_profile("ec-p256", 400).dump());
    auto full = time_full_apply(profile, tmp.path() + "/measure");
    // At least 12 rounds, and more until 4 kills landed while apply ran (bounded): under load a
    // run's length varies, and a kill after the run finished proves nothing. A kill that came
    // too late shrinks the window to the delay it came at, so the next ones land inside a run.
    constexpr int kRounds = 12, kKills = 4, kMaxRounds = 60;
    int killed = 0;
    int round = 0;
    const char* keys[] = {"ec-p384", "ec-p256"};
    for (; round < kMaxRounds && (round < kRounds || killed < kKills); ++round) {
        json p = crash_profile(keys[round % 2], round % 3 == 2 ? 350 : 400);  // some rounds also remove users
        test::write_file(profile, p.dump());
        std::uniform_int_distribution<long> when(0, full.count() * 9 / 10);
        std::chrono::microseconds delay(round == 0 ? when(rng) / 4 : when(rng));
        if (apply_and_kill(profile, dir, delay))
            ++killed;
        else
            full = std::min(full, std::max(delay, std::chrono::microseconds(1000)));
    }
    INFO("runs killed mid-way: " << killed << " of " << round);
    CHECK(killed >= kKills);  // the rest finished before their kill, which is fine too

    json final_profile = crash_profile("ec-p384", 400);
    test::write_file(profile, final_profile.dump());
    auto r = test::run({PGCA_BIN, "apply", profile, "--dir", dir});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_consistent(final_profile, dir);
    r = test::run({PGCA_BIN, "apply", profile, "--dir", dir});
    CHECK_THAT(r.out, Catch::Contains("nothing to do"));
}

TEST_CASE("eight parallel issue client on one folder: all succeed, serials unique, ledger matches files",
          "[concurrency]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    REQUIRE(test::run({PGCA_BIN, "init", "--dir", dir, "--intermediate"}).exit_code == 0);
    std::vector<std::thread> threads;
    std::vector<test::ProcessResult> results(8);
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&, i] {
            results[i] = test::run({PGCA_BIN, "issue", "client", "--dir", dir, "--user", "worker" + std::to_string(i)});
        });
    for (auto& t : threads) t.join();
    for (const auto& r : results) {
        INFO(r.err);
        CHECK(r.exit_code == 0);
    }
    auto pki = PkiDir::open(dir, false);
    std::set<std::string> serials;
    std::size_t clients = 0;
    for (const auto& e : pki->ledger().list()) {
        CHECK(serials.insert(e.serial).second);
        if (e.kind != CertKind::client) continue;
        ++clients;
        auto cert = Certificate::from_pem(io::read_file(dir + "/clients/" + e.name + "/postgresql.crt"), e.name);
        CHECK(cert.serial_hex() == e.serial);
        CHECK(cert.matches(PrivateKey::from_pem(io::read_file(dir + "/clients/" + e.name + "/postgresql.key"), e.name)));
    }
    CHECK(clients == 8);
}

// The marker itself is written through a temporary file in DIR: a kill between creating that file
// and renaming it into place left `.pgca-tmp-*` with no marker and no journal, which no later run
// swept (found by the kill test above, under CI load).
TEST_CASE("a kill while the writing marker was being made leaves nothing the next writer keeps", "[crash]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(test::run({PGCA_BIN, "init", "--dir", dir}).exit_code == 0);
    const std::string stray = dir + "/.pgca-tmp-killedmarker";
    test::write_file(stray, "pgca was writing files\n");
    REQUIRE_FALSE(io::exists(dir + "/.pgca-writing"));
    auto r = test::run({PGCA_BIN, "crl", "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(io::exists(stray));
}
