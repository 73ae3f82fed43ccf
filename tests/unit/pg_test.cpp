#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/pg.hpp"
#include "pgca/profile.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

Profile profile_with(const json& clients, const json& hba) {
    json d = {{"pgca_profile", 1},
              {"name", "t"},
              {"ca", {{"subject", {{"CN", "T Root"}}}}},
              {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost"}}}})},
              {"clients", clients},
              {"hba", hba}};
    return parse_profile(d.dump(), "t.json");
}

json rule(const std::string& type, const json& user, const std::string& method, json extra = json::object()) {
    json r = {{"type", type}, {"database", "all"}, {"user", user}, {"method", method}};
    if (type != "local") r["address"] = "127.0.0.1/32";
    for (auto& [k, v] : extra.items()) r[k] = v;
    return r;
}

std::string error_of(const Profile& p) {
    try {
        (void)pg::plan_access(p);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::profile);
        return e.what();
    }
    FAIL("plan accepted");
    return {};
}

}  // namespace

TEST_CASE("names are quoted exactly where PostgreSQL's tokenizer needs it", "[pg]") {
    CHECK(pg::quote_name("alice") == "alice");
    CHECK(pg::quote_name("Mixed") == "Mixed");  // no case folding in pg_hba: quoting is not needed
    CHECK(pg::quote_name("my user") == "\"my user\"");
    CHECK(pg::quote_name("a,b") == "\"a,b\"");
    CHECK(pg::quote_name("quo\"te") == "\"quo\"\"te\"");
    CHECK(pg::quote_name("has#hash") == "\"has#hash\"");
    CHECK(pg::quote_name("all") == "\"all\"");
    CHECK(pg::quote_name("replication") == "\"replication\"");
    CHECK(pg::quote_name("+admins") == "\"+admins\"");
    CHECK(pg::hba_token("all", false) == "all");
    CHECK(pg::hba_token("+admins", false) == "+admins");
    CHECK(pg::hba_token("replication", true) == "replication");
    CHECK(pg::hba_token("replication", false) == "\"replication\"");
    CHECK(pg::conf_string("/a/it's") == "'/a/it''s'");
}

TEST_CASE("hba tokens that cannot be written safely are refused", "[pg]") {
    CHECK_THROWS_WITH(pg::validate_hba_token("/^app_.*$", "user"), Catch::Contains("regular expressions"));
    CHECK_THROWS_WITH(pg::validate_hba_token("+my group", "user"), Catch::Contains("quoting removes"));
    CHECK_THROWS_WITH(pg::validate_hba_token("a\nb", "user"), Catch::Contains("control character"));
    CHECK_NOTHROW(pg::validate_hba_token("my user", "user"));
    CHECK_THROWS_WITH(pg::validate_hba_address("10.0.0.0/33"), Catch::Contains("CIDR"));
    CHECK_NOTHROW(pg::validate_hba_address("::1/128"));
    CHECK_NOTHROW(pg::validate_hba_address("samenet"));
    CHECK_NOTHROW(pg::validate_hba_address(".example.com"));
}

TEST_CASE("cert with clientcert=verify-ca is written as plain cert, with a warning", "[pg]") {
    Profile p = profile_with(json::array({{{"user", "myuser4"}}}),
                             json::array({rule("hostssl", "myuser4", "cert", {{"clientcert", "verify-ca"}})}));
    auto plan = pg::plan_access(p);
    REQUIRE(plan.hba.size() == 1);
    CHECK(plan.hba[0].fields == std::vector<std::string>{"hostssl", "all", "myuser4", "127.0.0.1/32", "cert"});
    REQUIRE(plan.warnings.size() == 1);
    CHECK_THAT(plan.warnings[0], Catch::StartsWith("hba[0]:") && Catch::Contains("clientcert only accepts"));
    CHECK_THAT(pg::render_hba(p, plan), Catch::Contains("# pgca: profile asked for \"cert clientcert=verify-ca\""));
}

TEST_CASE("options PostgreSQL would refuse at reload are profile errors with the reason", "[pg]") {
    json users = json::array({{{"user", "u"}}});
    CHECK_THAT(error_of(profile_with(users, json::array({rule("host", "u", "trust", {{"clientcert", "verify-full"}})}))),
               Catch::Contains("hba[0].clientcert: PostgreSQL refuses it on \"host\" rows"));
    CHECK_THAT(error_of(profile_with(users, json::array({rule("hostssl", "u", "trust", {{"clientcert", "1"}})}))),
               Catch::Contains("PostgreSQL 14 removed 1, 0 and no-verify"));
    CHECK_THAT(error_of(profile_with(users, json::array({rule("host", "u", "cert")}))),
               Catch::Contains("cert needs a \"hostssl\" row"));
    CHECK_THAT(error_of(profile_with(users, json::array({rule("hostssl", "u", "scram-sha-256", {{"map", "m"}})}))),
               Catch::Contains("authentication option \"map\" is only valid"));
    CHECK_THAT(error_of(profile_with(users, json::array({rule("hostssl", "u", "cert", {{"clientname", "dn"}})}))),
               Catch::Contains("clientname: invalid value \"dn\""));
    CHECK_THAT(error_of(profile_with(users, json::array({rule("hostssl", "u", "cert", {{"clientname", "DN"}})}))),
               Catch::Contains("needs \"map\""));
}

TEST_CASE("cert rules covering a client whose CN is not its role get map= and pg_ident lines", "[pg]") {
    json clients = json::array({{{"user", "alice"}, {"cn", "alice@example.com"}, {"map", "certmap"}}, {{"user", "bob"}}});
    Profile p = profile_with(clients, json::array({rule("hostssl", json::array({"alice", "bob"}), "cert"),
                                                   rule("hostssl", "bob", "cert")}));
    auto plan = pg::plan_access(p);
    CHECK(plan.hba[0].fields.back() == "map=certmap");
    CHECK(plan.hba[1].fields.back() == "cert");  // bob alone needs no map
    REQUIRE(plan.ident.size() == 2);
    CHECK(plan.ident[0] == pg::IdentLine{"certmap", "alice@example.com", "alice"});
    // With a map on the rule, bob's login is looked up in it too, so he needs an identity line.
    CHECK(plan.ident[1] == pg::IdentLine{"certmap", "bob", "bob"});
}

TEST_CASE("two maps on one cert rule are refused", "[pg]") {
    json clients = json::array({{{"user", "a"}, {"cn", "a@x"}, {"map", "m1"}}, {{"user", "b"}, {"cn", "b@x"}, {"map", "m2"}}});
    CHECK_THAT(error_of(profile_with(clients, json::array({rule("hostssl", "all", "cert")}))),
               Catch::Contains("different maps (m1, m2)"));
}

TEST_CASE("clientname=DN maps the RFC 2253 DN PostgreSQL will compare", "[pg]") {
    json clients = json::array({{{"user", "carol"}}});
    Profile p = profile_with(clients, json::array({rule("hostssl", "carol", "cert", {{"clientname", "DN"}, {"map", "dnmap"}})}));
    auto plan = pg::plan_access(p);
    REQUIRE(plan.ident.size() == 1);
    CHECK(plan.ident[0] == pg::IdentLine{"dnmap", "CN=carol", "carol"});
    CHECK_THAT(pg::render_ident(p, plan), Catch::Contains("dnmap \"CN=carol\" carol"));
}

TEST_CASE("the seed example renders as PostgreSQL 15 accepts it", "[pg]") {
    Profile p = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/seed-blog.json");
    auto plan = pg::plan_access(p);
    std::string hba = pg::render_hba(p, plan);
    CHECK_THAT(hba, Catch::Contains("hostssl   mydatabase myuser2 192.168.1.0/24 trust    clientcert=verify-ca\n"));
    CHECK_THAT(hba, Catch::Contains("hostssl   mydatabase myuser4 192.168.1.0/24 cert\n"));
    CHECK_THAT(hba, Catch::Contains("hostnossl mydatabase myuser5 127.0.0.1/32   trust\n"));
    CHECK(plan.warnings.size() == 1);
}

TEST_CASE("server include and service file", "[pg]") {
    Profile p = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/seed-blog.json");
    pg::ServerFiles files{"/t/server.crt", "/t/server.key", "/t/root.crt", "/t/root.crl", "/t/crl"};
    std::string conf = pg::render_server_conf(p, p.servers[0], files);
    CHECK_THAT(conf, Catch::Contains("\nssl_crl_file = '/t/root.crl'\n"));
    CHECK_THAT(conf, !Catch::Contains("ssl_crl_dir"));
    ServerSpec dir_mode = p.servers[0];
    dir_mode.crl = "dir";
    std::string dir_conf = pg::render_server_conf(p, dir_mode, files);
    CHECK_THAT(dir_conf, Catch::Contains("\nssl_crl_dir = '/t/crl'\n"));
    CHECK_THAT(dir_conf, !Catch::Contains("ssl_crl_file"));
    CHECK_THAT(conf, Catch::Contains("\nssl = on\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_cert_file = '/t/server.crt'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_key_file = '/t/server.key'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_ca_file = '/t/root.crt'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_min_protocol_version = 'TLSv1.2'\n"));
    std::string svc = pg::render_service(p, p.clients[1], {"/c/root.crt", "/c/postgresql.crt", "/c/postgresql.key"});
    CHECK_THAT(svc, Catch::Contains("[seed-blog]\nhost=localhost\nuser=myuser2\n"));
    CHECK_THAT(svc, Catch::Contains("\nsslmode=verify-full\n"));
    CHECK_THAT(svc, Catch::Contains("\nsslrootcert=/c/root.crt\nsslcert=/c/postgresql.crt\nsslkey=/c/postgresql.key\n"));
}
