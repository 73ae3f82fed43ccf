// --ledger LEDGER (and PGCA_LEDGER): a folder whose ledger lives elsewhere remembers it in
// DIR/ledger.url, so that later commands need no flag; a second, different ledger and a URL with
// a password are refused.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "pgca/ledger.hpp"
#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using Catch::Contains;
using test::pgca_run;

TEST_CASE("ledger option, sqlite:OTHER: init, apply and list use it, later commands without the flag too",
          "[cli][ledger]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    const std::string other = tmp.path() + "/shared/ledger.db";
    std::filesystem::create_directories(tmp.path() + "/shared");
    const std::string profile = test::write_profile(tmp, test::minimal_profile("acme", {"alice", "bob"}));

    auto r = pgca_run({"init", "--dir", dir, "--ledger", "sqlite:" + other});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(dir + "/pgca.db"));
    CHECK(test::read_file(dir + "/ledger.url") == "sqlite:" + other + "\n");
    struct stat st {};
    REQUIRE(::stat((dir + "/ledger.url").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);

    r = pgca_run({"apply", profile, "--dir", dir, "--ledger", "sqlite:" + other});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    r = pgca_run({"list", "--dir", dir, "--ledger", "sqlite:" + other});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("alice") && Contains("bob"));

    // Without the flag: the folder's remembered ledger, still no pgca.db in the folder.
    r = pgca_run({"list", "--dir", dir});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("alice") && Contains("bob"));
    r = pgca_run({"apply", profile, "--dir", dir, "--dry-run"});  // plans against that ledger
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, !Contains("would issue"));
    r = pgca_run({"apply", profile, "--dir", dir});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    r = pgca_run({"issue", "client", "--dir", dir, "--user", "carol"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(dir + "/pgca.db"));
    auto ledger = open_ledger("sqlite:" + other, {true});
    CHECK(ledger->by_name(CertKind::client, "alice").size() == 1);  // apply twice issued once
    CHECK(ledger->by_name(CertKind::client, "carol").size() == 1);
}

TEST_CASE("ledger option: another ledger than the folder's, or a password in the URL, is refused", "[cli][ledger]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    auto r = pgca_run({"init", "--dir", dir});
    REQUIRE(r.exit_code == 0);
    // The folder has its own pgca.db: pointing it at another ledger would lose it.
    r = pgca_run({"list", "--dir", dir, "--ledger", "sqlite:" + tmp.path() + "/other.db"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Contains("keeps its ledger in sqlite:" + dir + "/pgca.db") && Contains("one ledger"));
    CHECK_FALSE(std::filesystem::exists(tmp.path() + "/other.db"));
    // Its own, named explicitly, is fine and writes nothing.
    r = pgca_run({"list", "--dir", dir, "--ledger", "sqlite:" + dir + "/pgca.db"});
    CHECK(r.exit_code == 0);
    CHECK_FALSE(std::filesystem::exists(dir + "/ledger.url"));

    const std::string fresh = tmp.path() + "/fresh";
    for (const std::string url : {"postgresql://ca:hunter2@127.0.0.1:1/pgca", "host=127.0.0.1 port=1 password=hunter2"}) {
        r = pgca_run({"init", "--dir", fresh, "--ledger", url});
        INFO(r.err);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Contains("holds a password"));
        CHECK_THAT(r.err, !Contains("hunter2"));
        CHECK_FALSE(std::filesystem::exists(fresh));
    }
}
