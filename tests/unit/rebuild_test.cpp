// `pgca ledger rebuild` locks the folder as every writer does, through the ledger.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "pgca/apply.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/profile.hpp"
#include "pgca/rebuild.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
namespace fs = std::filesystem;

TEST_CASE("ledger rebuild waits for the folder's lock at most its timeout, and leaves nothing when it gets none",
          "[rebuild]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    (void)apply(parse_profile(test::minimal_profile("rebuild").dump(), "rebuild.json"), dir, {});
    fs::remove(dir + "/pgca.db");
    // What a rebuild killed earlier left aside is swept once the lock is held.
    test::write_file(dir + "/pgca.db.rebuild-999999999", "left by a kill");
    {
        io::DirLock held(dir, 0);  // another pgca writing the folder
        const auto before = test::tree_snapshot(dir);
        CHECK_THROWS_MATCHES(rebuild_ledger(dir, 0), Error,
                             Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::io; }));
        CHECK(test::tree_snapshot(dir) == before);
    }
    const RebuildResult done = rebuild_ledger(dir, 0);
    CHECK_FALSE(done.recorded.empty());
    CHECK(fs::exists(dir + "/pgca.db"));
    for (const auto& e : fs::directory_iterator(dir))
        CHECK(e.path().filename().string().rfind("pgca.db.rebuild", 0) == std::string::npos);
}

TEST_CASE("ledger rebuild records a pooler's two certificates, so the next apply issues nothing", "[rebuild]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    nlohmann::json p = test::minimal_profile("rebuild", {"alice", "bob"});
    p["poolers"] = nlohmann::json::array(
        {{{"name", "b1"}, {"hosts", {"localhost"}}, {"port", 6432}, {"upstream", "db1"}, {"users", {"alice"}}}});
    const Profile profile = parse_profile(p.dump(), "rebuild.json");
    (void)apply(profile, dir, {});
    fs::remove(dir + "/pgca.db");

    const RebuildResult done = rebuild_ledger(dir, 0);
    CHECK(done.skipped.empty());
    std::set<std::pair<CertKind, std::string>> kinds;
    for (const auto& e : done.recorded) kinds.insert({e.kind, e.name});
    CHECK(kinds.count({CertKind::pooler, "b1"}) == 1);
    CHECK(kinds.count({CertKind::pooler_client, "b1"}) == 1);

    // Before the pooler folder was scanned, this apply issued both pooler certificates again.
    const auto before = test::tree_snapshot(dir + "/poolers");
    for (const auto& a : apply(profile, dir, {}).actions) {
        INFO(a.verb << " " << a.kind << " " << a.name << ": " << a.detail);
        CHECK((a.verb != "issue" && a.verb != "reissue" && a.verb != "renew"));
    }
    CHECK(test::tree_snapshot(dir + "/poolers") == before);
}
