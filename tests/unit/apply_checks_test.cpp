// Everything is checked before anything is written, and a dry run changes nothing at all.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/apply.hpp"
#include "pgca/pki.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json small_profile() {
    return json::parse(R"({
      "pgca_profile": 1, "name": "checks",
      "ca": { "subject": { "CN": "Checks Root" }, "intermediate": { "subject": { "CN": "Checks Issuing" } } },
      "servers": [ { "name": "db", "hosts": ["localhost", "127.0.0.1"] } ],
      "clients": [ { "user": "alice" }, { "user": "bob" } ],
      "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
    })");
}

Profile profile_of(const json& j) { return parse_profile(j.dump(), "checks.json"); }

ApplyOptions dry_run() {
    ApplyOptions o;
    o.dry_run = true;
    return o;
}

// Every entry under `dir` (without following links): its type and mode, and its contents for a
// file or its target for a link. Two equal snapshots mean nothing was created, removed or changed.
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    if (!fs::exists(fs::symlink_status(dir))) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        struct stat st {};
        REQUIRE(::lstat(e.path().c_str(), &st) == 0);
        std::string what = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " ";
        if (S_ISREG(st.st_mode)) {
            std::ifstream in(e.path(), std::ios::binary);
            what += std::string(std::istreambuf_iterator<char>(in), {});
        } else if (S_ISLNK(st.st_mode)) {
            what += fs::read_symlink(e.path()).string();
        }
        out[fs::relative(e.path(), dir).string()] = what;
    }
    return out;
}

}  // namespace

TEST_CASE("apply reads every passphrase source before it creates the folder", "[apply][checks]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = small_profile();

    SECTION("a server key_passphrase file that does not exist") {
        j["servers"][0]["key_passphrase"] = {{"file", tmp.path() + "/no-such-passphrase"}};
    }
    SECTION("a CA passphrase variable that is not set") {
        ::unsetenv("PGCA_TEST_NO_SUCH_VARIABLE");
        j["ca"]["passphrase"] = {{"env", "PGCA_TEST_NO_SUCH_VARIABLE"}};
    }
    SECTION("a passphrase command that fails") {
        j["servers"][0]["key_passphrase"] = {{"command", "exit 3"}};
    }
    try {
        (void)apply(profile_of(j), dir, {});
        FAIL("apply accepted an unreadable passphrase source");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::Contains("passphrase"));
    }
    // Not the folder, not a ledger, not a CA key without a ledger row.
    CHECK_FALSE(fs::exists(fs::symlink_status(dir)));
}

TEST_CASE("a failing source leaves an existing folder exactly as it was", "[apply][checks]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = small_profile();
    (void)apply(profile_of(j), dir, {});
    const auto before = snapshot(dir);

    j["servers"].push_back({{"name", "db2"}, {"hosts", {"db2.example.com"}},
                            {"key_passphrase", {{"file", tmp.path() + "/missing"}}}});
    j["clients"].push_back({{"user", "carol"}});
    CHECK_THROWS_AS(apply(profile_of(j), dir, {}), Error);
    CHECK(snapshot(dir) == before);
}

TEST_CASE("the CA is written through the same transaction as the leaves", "[apply][checks]") {
    // A CA created by a run that then fails must not stay on disk without its ledger row: the
    // files of the CA go through the file batch that is written only after the commit.
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    auto pki = PkiDir::open(dir, true);
    CaSpec spec = profile_of(small_profile()).ca;
    CHECK_THROWS_AS(pki->transact([&] {
                        (void)pki->ca().create_ca(spec);
                        throw Error(ErrorKind::input, "a later step failed");
                    }),
                    Error);
    CHECK_FALSE(io::exists(dir + "/ca/root.key"));
    CHECK_FALSE(io::exists(dir + "/ca/root.crt"));
    CHECK_FALSE(io::exists(dir + "/ca/intermediate.key"));
    CHECK(pki->ledger().list().empty());
}

TEST_CASE("a folder path the emitted files cannot hold is refused before anything is made", "[apply][checks]") {
    // DIR's path is written into postgresql.ssl.conf and each pg_service.conf: a control character
    // there would end the setting early.
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki\tx";
    try {
        (void)apply(profile_of(small_profile()), dir, {});
        FAIL("apply accepted a folder path with a TAB");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK_THAT(e.what(), Catch::Contains("the PKI folder"));
    }
    CHECK_FALSE(fs::exists(fs::symlink_status(dir)));
}

TEST_CASE("a dry run changes nothing at all", "[apply][checks][dry-run]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = small_profile();

    SECTION("on a folder that does not exist") {
        auto r = apply(profile_of(j), dir, dry_run());
        CHECK_FALSE(r.actions.empty());
        CHECK_FALSE(fs::exists(fs::symlink_status(dir)));
    }
    SECTION("on an existing folder, with traces of an interrupted run") {
        (void)apply(profile_of(j), dir, {});
        // What an interrupted run leaves (a real run sweeps them), and no lock file.
        std::ofstream(dir + "/.pgca-writing") << "pgca was writing files\n";
        std::ofstream(dir + "/clients/alice/.pgca-tmp-0123456789ab") << "half";
        fs::remove(dir + "/.lock");
        const auto before = snapshot(dir);

        j["clients"] = json::array({{{"user", "alice"}}, {{"user", "carol"}}});  // bob leaves, carol comes
        j["ca"].erase("intermediate");
        auto r = apply(profile_of(j), dir, dry_run());
        bool revoke_bob = false, issue_carol = false;
        for (const auto& a : r.actions) {
            revoke_bob = revoke_bob || (a.verb == "revoke" && a.name == "bob");
            issue_carol = issue_carol || (a.verb == "issue" && a.name == "carol");
        }
        CHECK(revoke_bob);
        CHECK(issue_carol);
        auto after = snapshot(dir);
        // SQLite may leave its WAL index beside a ledger it read; the ledger itself is unchanged.
        after.erase("pgca.db-shm");
        after.erase("pgca.db-wal");
        auto expected = before;
        expected.erase("pgca.db-shm");
        expected.erase("pgca.db-wal");
        CHECK(after == expected);
    }
}
