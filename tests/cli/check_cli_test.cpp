// pgca check from the command line, without PostgreSQL: usage errors exit 2, a server that does
// not answer is a finding (exit 1), and the findings come out as JSON with every field.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

TEST_CASE("check: usage errors exit 2 and say what is missing", "[check]") {
    auto none = pgca_run({"check"});
    CHECK(none.exit_code == 2);
    CHECK_THAT(none.err, Catch::Matchers::Contains("give --dir, --pgdata or --connect"));
    auto server = pgca_run({"check", "--server", "db1", "--connect", "127.0.0.1:1"});
    CHECK(server.exit_code == 2);
    CHECK_THAT(server.err, Catch::Matchers::Contains("give --dir too"));
    TempDir tmp;
    auto not_pki = pgca_run({"check", "--dir", tmp.path()});
    CHECK(not_pki.exit_code == 2);
    CHECK_THAT(not_pki.err, Catch::Matchers::Contains("no pgca.db"));
}

TEST_CASE("check: a server that does not answer is an error finding, exit 1", "[check]") {
    // Port 1 on the loopback: nothing listens there, the connection is refused at once.
    auto r = pgca_run({"check", "--json", "--connect", "127.0.0.1:1", "--timeout", "5"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    json findings = json::parse(r.out);
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].at("code") == "server-unreachable");
    CHECK(findings[0].at("severity") == "error");
    CHECK(findings[0].at("object") == "127.0.0.1:1");
    CHECK_FALSE(findings[0].at("message").get<std::string>().empty());
    CHECK_FALSE(findings[0].at("fix").get<std::string>().empty());
}

TEST_CASE("check: a pgca folder with an unknown --server is a usage error", "[check]") {
    TempDir tmp;
    REQUIRE(pgca_run({"init", "--dir", tmp.file("pki")}).exit_code == 0);
    auto r = pgca_run({"check", "--dir", tmp.file("pki"), "--server", "nope"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Matchers::Contains("has no such server"));
    auto clean = pgca_run({"check", "--dir", tmp.file("pki")});
    INFO(clean.out << clean.err);
    CHECK(clean.exit_code == 0);
}
