// The profile's poolers: strict decoding, and the files pgca renders for PgBouncer 1.18 and for
// PostgreSQL (the end-to-end proof with the real PgBouncer is tests/integration/pgbouncer_test.cpp).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/pooler.hpp"
#include "pgca/profile.hpp"
#include "profile_support.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

json with_pooler(json pooler) {
    json p = json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" } },
      "servers": [ { "name": "db", "hosts": ["db.example.com"], "port": 5433 } ],
      "clients": [ { "user": "alice" }, { "user": "b\"ob" }, { "user": "m", "cn": "m@example.com", "map": "cm" } ]
    })");
    json base = {{"name", "b1"}, {"hosts", {"pool.example.com"}}, {"upstream", "db"}, {"users", {"alice"}}};
    base.update(pooler);
    p["poolers"] = json::array({base});
    return p;
}

const auto& error_of = pgca::test::profile_error_of;

}  // namespace

TEST_CASE("poolers are decoded strictly, with the JSON path of each error", "[profile][pooler]") {
    CHECK_THAT(error_of(with_pooler({{"listen", 1}})), Catch::Contains("p.json: poolers[0]: unknown key \"listen\""));
    CHECK_THAT(error_of(with_pooler({{"upstream", "db2"}})),
               Catch::Contains("poolers[0].upstream: \"db2\" is not a server of this profile (servers: db)"));
    CHECK_THAT(error_of(with_pooler({{"users", {"alice", "zoe"}}})),
               Catch::Contains("poolers[0].users[1]: \"zoe\" is not a client of this profile"));
    CHECK_THAT(error_of(with_pooler({{"users", {"m"}}})),
               Catch::Contains("poolers[0].users[0]: client \"m\" has CN \"m@example.com\": PgBouncer 1.18"));
    CHECK_THAT(error_of(with_pooler({{"port", 70000}})), Catch::Contains("poolers[0].port: must be between 1 and 65535"));
    CHECK_THAT(error_of(with_pooler({{"name", "db"}})), Catch::Contains("poolers[0].name: \"db\" is a server's name"));
    CHECK_THAT(error_of(with_pooler({{"name", "a/b"}})), Catch::Contains("poolers[0].name: pooler name"));
    CHECK_THAT(error_of(with_pooler({{"install_dir", "/etc/pg bouncer"}})),
               Catch::Contains("poolers[0].install_dir: \"/etc/pg bouncer\" cannot be written into pgbouncer.ini"));
    CHECK_THAT(error_of(with_pooler({{"address", "10.0.0.5"}})), Catch::Contains("poolers[0].address"));
    json clash = with_pooler(json::object());
    clash["clients"].push_back({{"user", "pooler:b1"}});
    CHECK_THAT(error_of(clash), Catch::Contains("the pooler's certificate CN \"pooler:b1\" is client \"pooler:b1\""));
}

TEST_CASE("poolers: users \"all\" pools the clients whose CN is their role name and warns about the rest",
          "[profile][pooler]") {
    Profile p = parse_profile(with_pooler({{"users", "all"}}).dump(), "p.json");
    REQUIRE(p.poolers.size() == 1);
    CHECK(p.poolers[0].users == std::vector<std::string>{"alice", "b\"ob"});
    CHECK(p.poolers[0].pools("alice"));
    CHECK_FALSE(p.poolers[0].pools("m"));
    pg::AccessPlan plan;
    pooler::add_access(p, plan);
    REQUIRE(plan.warnings.size() == 1);
    CHECK_THAT(plan.warnings[0], Catch::Contains("poolers[0].users: \"all\" leaves out \"m\""));
}

TEST_CASE("a pooler's files: 1.18 hba dialect, auth_file, the ini fragment without a [pgbouncer] header",
          "[pooler]") {
    Profile p = parse_profile(with_pooler({{"users", {"alice", "b\"ob"}}, {"port", 7000}}).dump(), "p.json");
    const PoolerSpec& b1 = p.poolers[0];
    const std::string hba = pooler::render_hba("t", b1);
    CHECK_THAT(hba, Catch::Contains("\nhostssl all \"alice\",\"b\"\"ob\" 0.0.0.0/0 cert\n"));
    CHECK_THAT(hba, Catch::Contains("\nhostssl all \"alice\",\"b\"\"ob\" ::/0 cert\n"));
    CHECK(pooler::render_users("t", b1).find("\"alice\" \"\"\n\"b\"\"ob\" \"\"\n") != std::string::npos);
    io::Layout layout("/srv/pki");
    const std::string ini = pooler::render_ini("t", b1, p.servers[0], pooler::files_of(layout, b1));
    CHECK(ini.find("\n[pgbouncer]") == std::string::npos);  // only inside comments
    CHECK_THAT(ini, Catch::Contains("\nlisten_port = 7000\n"));
    CHECK_THAT(ini, Catch::Contains("\nauth_type = hba\n"));
    CHECK_THAT(ini, Catch::Contains("\nserver_tls_cert_file = /srv/pki/poolers/b1/client.crt\n"));
    CHECK_THAT(ini, Catch::Contains("\n[databases]\n"));
    CHECK_THAT(ini, Catch::Contains("\n* = host=db.example.com port=5433\n"));
    // PostgreSQL: first line, the pooler's CN mapped to exactly its roles.
    pg::AccessPlan plan = pg::plan_access(p.hba, p.clients);
    pooler::add_access(p, plan);
    REQUIRE_FALSE(plan.hba.empty());
    CHECK(plan.hba[0].fields ==
          std::vector<std::string>{"hostssl", "all", "alice,\"b\"\"ob\"", "all", "cert", "map=pgca-pooler-b1"});
    std::vector<pg::IdentLine> pooler_ident;
    for (const auto& l : plan.ident)
        if (l.map == "pgca-pooler-b1") pooler_ident.push_back(l);
    CHECK(pooler_ident == std::vector<pg::IdentLine>{{"pgca-pooler-b1", "pooler:b1", "alice"},
                                                     {"pgca-pooler-b1", "pooler:b1", "b\"ob"}});
}
