// `pgca connect`: what it reads from the applied profile (server, port, dbname) and what it
// refuses, with the exit code and a message naming the object.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using test::pgca_run;

namespace {

std::string applied_folder(const test::TempDir& tmp) {
    nlohmann::json p = nlohmann::json::parse(R"({
      "pgca_profile": 1, "name": "cx",
      "ca": { "subject": { "CN": "CX Root" } },
      "servers": [ { "name": "db1", "hosts": ["db1.example"] },
                   { "name": "db2", "hosts": ["::1", "db2.example"], "port": 6432 } ],
      "clients": [ { "user": "alice" }, { "user": "bob", "formats": ["pk8"] } ],
      "client_settings": { "dbname": "app", "port": 5433 }
    })");
    const std::string dir = tmp.path() + "/pki";
    test::write_file(tmp.path() + "/p.json", p.dump());
    auto r = pgca_run({"apply", tmp.path() + "/p.json", "--dir", dir});
    REQUIRE(r.exit_code == 0);
    return dir;
}

}  // namespace

TEST_CASE("connect prints one line from the applied profile: first server, its port, dbname", "[connect]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    auto r = pgca_run({"connect", "--dir", dir, "--user", "alice"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "host=db1.example port=5433 dbname=app user=alice sslmode=verify-full sslrootcert=" + dir +
                       "/clients/alice/root.crt sslcert=" + dir + "/clients/alice/postgresql.crt sslkey=" + dir +
                       "/clients/alice/postgresql.key\n");
    r = pgca_run({"connect", "--dir", dir, "--user", "bob", "--server", "db2", "--driver", "jdbc", "--json"});
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["line"] == "jdbc:postgresql://[::1]:6432/app?user=bob&sslmode=verify-full&sslrootcert=" + dir +
                           "/clients/bob/root.crt&sslcert=" + dir + "/clients/bob/postgresql.crt&sslkey=" + dir +
                           "/clients/bob/postgresql.pk8");
    CHECK(j["endpoint"]["port"] == 6432);
    CHECK(j["endpoint"]["name"] == "db2");
    CHECK(j["driver"] == "jdbc");
}

TEST_CASE("connect refuses what it cannot do, exit 2, naming it", "[connect]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    for (const auto& c : std::vector<Case>{
             {{"--user", "alice", "--pooler", "pgb"}, "no pooler named \"pgb\""},
             {{"--user", "alice", "--server", "db9"}, "no server named \"db9\" in the profile applied to"},
             {{"--user", "carol"}, "no client bundle for role \"carol\""},
             {{"--user", "alice", "--driver", "jdbc"}, "pgjdbc cannot read the PEM key postgresql.key"},
             {{"--user", "alice", "--driver", "odbc"}, "unknown --driver \"odbc\" (known: libpq, jdbc, psycopg"},
             {{"--user", "alice", "--server", "db1", "--pooler", "p"}, "give --server or --pooler, not both"},
             {{"--server", "db1"}, "--user ROLE is required"},
         }) {
        std::vector<std::string> args{"connect", "--dir", dir};
        args.insert(args.end(), c.args.begin(), c.args.end());
        auto r = pgca_run(args);
        INFO(test::describe(args, r));
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains(c.message));
        CHECK(r.out.empty());
    }
}
