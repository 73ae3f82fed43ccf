// Every writing command has --dry-run: it prints "would …" for each planned step and changes
// nothing beneath the folder (files, modes, the ledger's bytes), and --json says so.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;
using test::pgca_run;

namespace {

// Runs `args` with --dry-run: exit 0, the folder unchanged; returns stdout.
std::string dry_run(const std::string& dir, std::vector<std::string> args) {
    const auto before = test::tree_snapshot(dir);
    args.push_back("--dry-run");
    const auto r = pgca_run(args);
    INFO(test::describe(args, r));
    CHECK(r.exit_code == 0);
    CHECK(test::tree_snapshot(dir) == before);
    return r.out;
}

}  // namespace

TEST_CASE("init, issue, revoke, crl and rotate have --dry-run, which changes nothing", "[dry-run]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    const std::string out_init = dry_run(dir, {"init", "--dir", dir, "--intermediate"});
    CHECK_THAT(out_init, Catch::Contains("would create   root") && Catch::Contains("would write    crl") &&
                             Catch::Contains("dry run: nothing was changed"));
    const std::string profile = test::write_profile(tmp, test::minimal_profile("dry"));
    REQUIRE(pgca_run({"apply", profile, "--dir", dir}).exit_code == 0);

    CHECK_THAT(dry_run(dir, {"issue", "server", "--dir", dir, "--name", "db2", "--host", "db2.example.com"}),
               Catch::Contains("would issue") && Catch::Contains("db2"));
    CHECK_THAT(dry_run(dir, {"issue", "client", "--dir", dir, "--user", "alice"}),
               Catch::Contains("would reissue") && Catch::Contains("replaces serial"));
    CHECK_THAT(dry_run(dir, {"revoke", "--dir", dir, "--user", "alice", "--reason", "keyCompromise"}),
               Catch::Contains("would revoke") && Catch::Contains("(keyCompromise)"));
    CHECK_THAT(dry_run(dir, {"crl", "--dir", dir}), Catch::Contains("would write    crl"));
    CHECK_THAT(dry_run(dir, {"rotate", "--dir", dir, "--force", "--reload", "false"}),
               Catch::Contains("would rotate") && Catch::Contains("would reload") && Catch::Contains("false"));

    for (const std::vector<std::string>& args : {std::vector<std::string>{"revoke", "--dir", dir, "--user", "alice"},
                                                 std::vector<std::string>{"rotate", "--dir", dir, "--force"}}) {
        std::vector<std::string> with_json = args;
        with_json.push_back("--json");
        const json j = json::parse(dry_run(dir, with_json));
        CHECK(j.at("dry_run") == true);
        CHECK_FALSE(j.at("actions").empty());
    }
}

TEST_CASE("rollover begin, reissue and finish have --dry-run, which changes nothing at any phase", "[dry-run][rollover]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    const std::string profile = test::write_profile(tmp, test::minimal_profile("dry"));
    REQUIRE(pgca_run({"apply", profile, "--dir", dir}).exit_code == 0);
    CHECK_THAT(dry_run(dir, {"rollover", "begin", "--dir", dir}), Catch::Contains("would create   root next-root"));
    REQUIRE(pgca_run({"rollover", "begin", "--dir", dir}).exit_code == 0);
    CHECK_THAT(dry_run(dir, {"rollover", "begin", "--dir", dir}), Catch::Contains("would keep"));
    CHECK_THAT(dry_run(dir, {"rollover", "reissue", "--dir", dir, "--reload", "false"}),
               Catch::Contains("would reissue") && Catch::Contains("would reload"));
    REQUIRE(pgca_run({"rollover", "reissue", "--dir", dir}).exit_code == 0);
    const json j = json::parse(dry_run(dir, {"rollover", "finish", "--dir", dir, "--json"}));
    CHECK(j.at("dry_run") == true);
    CHECK(j.at("phase") == "");
    CHECK_THAT(j.dump(), Catch::Contains("promote"));
}
