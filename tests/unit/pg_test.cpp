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
        (void)pg::plan_access(p.hba, p.clients, p.source);
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
    auto plan = pg::plan_access(p.hba, p.clients, p.source);
    REQUIRE(plan.hba.size() == 1);
    CHECK(plan.hba[0].fields == std::vector<std::string>{"hostssl", "all", "myuser4", "127.0.0.1/32", "cert"});
    REQUIRE(plan.warnings.size() == 1);
    CHECK_THAT(plan.warnings[0], Catch::StartsWith("hba[0]:") && Catch::Contains("clientcert only accepts"));
    CHECK_THAT(pg::render_hba(p.name, plan), Catch::Contains("# pgca: profile asked for \"cert clientcert=verify-ca\""));
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
    auto plan = pg::plan_access(p.hba, p.clients, p.source);
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
    auto plan = pg::plan_access(p.hba, p.clients, p.source);
    REQUIRE(plan.ident.size() == 1);
    CHECK(plan.ident[0] == pg::IdentLine{"dnmap", "CN=carol", "carol"});
    CHECK_THAT(pg::render_ident(p.name, plan), Catch::Contains("dnmap \"CN=carol\" carol"));
}

TEST_CASE("the seed example renders as PostgreSQL 15 accepts it", "[pg]") {
    Profile p = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/seed-blog.json");
    auto plan = pg::plan_access(p.hba, p.clients, p.source);
    std::string hba = pg::render_hba(p.name, plan);
    CHECK_THAT(hba, Catch::Contains("hostssl   mydatabase myuser2 192.168.1.0/24 trust    clientcert=verify-ca\n"));
    CHECK_THAT(hba, Catch::Contains("hostssl   mydatabase myuser4 192.168.1.0/24 cert\n"));
    CHECK_THAT(hba, Catch::Contains("hostnossl mydatabase myuser5 127.0.0.1/32   trust\n"));
    CHECK(plan.warnings.size() == 1);
}

TEST_CASE("server include and service file", "[pg]") {
    Profile p = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/seed-blog.json");
    pg::ServerFiles files{"/t/server.crt", "/t/server.key", "/t/root.crt", "/t/root.crl", "/t/crl"};
    std::string conf = pg::render_server_conf(p.name, p.servers[0], p.server_settings, files);
    CHECK_THAT(conf, Catch::Contains("\nssl_crl_file = '/t/root.crl'\n"));
    CHECK_THAT(conf, !Catch::Contains("ssl_crl_dir"));
    ServerSpec dir_mode = p.servers[0];
    dir_mode.crl = "dir";
    std::string dir_conf = pg::render_server_conf(p.name, dir_mode, p.server_settings, files);
    CHECK_THAT(dir_conf, Catch::Contains("\nssl_crl_dir = '/t/crl'\n"));
    CHECK_THAT(dir_conf, !Catch::Contains("ssl_crl_file"));
    CHECK_THAT(conf, Catch::Contains("\nssl = on\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_cert_file = '/t/server.crt'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_key_file = '/t/server.key'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_ca_file = '/t/root.crt'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_min_protocol_version = 'TLSv1.2'\n"));
    std::string svc = pg::render_service(p.name, p.clients[1].user, p.servers, p.client_settings, {"/c/root.crt", "/c/postgresql.crt", "/c/postgresql.key"});
    CHECK_THAT(svc, Catch::Contains("[seed-blog]\nhost=localhost\nuser=myuser2\n"));
    CHECK_THAT(svc, Catch::Contains("\nsslmode=verify-full\n"));
    CHECK_THAT(svc, Catch::Contains("\nsslrootcert=/c/root.crt\nsslcert=/c/postgresql.crt\nsslkey=/c/postgresql.key\n"));
}

TEST_CASE("hba tokens may be as long as PostgreSQL 15 reads them, and no longer", "[pg][limits]") {
    // Bare: 10239 bytes (hba.c's MAX_TOKEN buffer of 10240 keeps a byte for its '\0').
    CHECK_NOTHROW(pg::validate_hba_token(std::string(10239, 'a'), "user"));
    CHECK_THROWS_WITH(pg::validate_hba_token(std::string(10240, 'a'), "user"),
                      Catch::Contains("10240 bytes; PostgreSQL 15 reads at most 10239 bytes in a pg_hba.conf token "
                                      "written bare") &&
                          Catch::Contains("authentication file token too long"));
    // Quoted (the closing quote needs room too), doubled quotes counted once, as read.
    CHECK_NOTHROW(pg::validate_hba_token("a b" + std::string(10235, 'a'), "user"));
    CHECK_THROWS_WITH(pg::validate_hba_token("a b" + std::string(10236, 'a'), "user"),
                      Catch::Contains("at most 10238 bytes in a pg_hba.conf token written in quotes"));
    CHECK_NOTHROW(pg::validate_hba_token("\"" + std::string(10237, 'a'), "user"));
    CHECK_THROWS(pg::validate_hba_token("\"" + std::string(10238, 'a'), "user"));
    // A keyword or +group written as a literal name is quoted; a bare +group is not.
    CHECK_NOTHROW(pg::validate_hba_token("+" + std::string(10238, 'g'), "user"));
    CHECK_THROWS(pg::validate_hba_token("+" + std::string(10238, 'g'), "user", true));
    CHECK_THROWS(pg::validate_hba_token("+" + std::string(10238, 'g'), "database"));  // quoted there
    // Bare before a list's comma: the comma is checked for room like a character.
    CHECK_NOTHROW(pg::validate_hba_token(std::string(10238, 'a'), "database", false, true));
    CHECK_THROWS_WITH(pg::validate_hba_token(std::string(10239, 'a'), "database", false, true),
                      Catch::Contains("at most 10238 bytes in a pg_hba.conf token followed by a list's comma"));
    CHECK_NOTHROW(pg::validate_hba_token("a b" + std::string(10235, 'a'), "database", false, true));

    // In a profile, the list position decides and the error names the entry.
    json users = json::array({{{"user", "u"}}});
    json long_list = rule("hostssl", "u", "cert");
    long_list["database"] = json::array({std::string(10239, 'd'), "x"});
    CHECK_THROWS_WITH(profile_with(users, json::array({long_list})),
                      Catch::StartsWith("t.json: hba[0].database[0]: database \"dddddddddddddddddddddddd…\": 10239 bytes"));
    long_list["database"] = json::array({"x", std::string(10239, 'd')});
    CHECK_NOTHROW(profile_with(users, json::array({long_list})));
}

TEST_CASE("postgresql.conf strings are escaped as PostgreSQL's configuration parser reads them", "[pg][limits]") {
    // guc-file.l: \t is a TAB, \\ a backslash, '' or \' a quote.
    CHECK(pg::conf_string("/srv/in st\\tall'dir") == "'/srv/in st\\\\tall''dir'");
    CHECK(pg::conf_string("\\") == "'\\\\'");
    CHECK(pg::conf_string("") == "''");
    CHECK_THROWS_WITH(pg::conf_string("/a\nb"), Catch::Contains("control character (byte 0x0a)") &&
                                                     Catch::Contains("ends a setting at a newline"));
    CHECK_THROWS_WITH(pg::conf_string(std::string("/a\0b", 4)), Catch::Contains("byte 0x00"));
    CHECK_THROWS_WITH(pg::conf_string("/a\tb"), Catch::Contains("byte 0x09"));

    Profile p = profile_with(json::array({{{"user", "u"}}}), json::array({rule("hostssl", "u", "cert")}));
    p.servers[0].install_dir = "/srv/in st\\tall'dir";
    p.server_settings["ssl_ciphers"] = "HIGH:\\!aNULL";
    std::string conf = pg::render_server_conf(p.name, p.servers[0], p.server_settings, {"/srv/in st\\tall'dir/server.crt", "/k", "/c", "/l", "/d"});
    CHECK_THAT(conf, Catch::Contains("\nssl_cert_file = '/srv/in st\\\\tall''dir/server.crt'\n"));
    CHECK_THAT(conf, Catch::Contains("include '/srv/in st\\\\tall''dir/postgresql.ssl.conf'\n"));
    CHECK_THAT(conf, Catch::Contains("\nssl_ciphers = 'HIGH:\\\\!aNULL'\n"));

    // What no postgresql.conf string can hold is refused in the profile, with the JSON path.
    json server = {{"name", "db"}, {"hosts", {"localhost"}}, {"install_dir", "/srv/a\nb"}};
    json d = {{"pgca_profile", 1}, {"name", "t"}, {"ca", {{"subject", {{"CN", "T Root"}}}}},
              {"servers", json::array({server})}, {"clients", json::array()}, {"hba", json::array()}};
    CHECK_THROWS_WITH(parse_profile(d.dump(), "t.json"),
                      Catch::StartsWith("t.json: servers[0].install_dir: install_dir: contains a control character") &&
                          Catch::Contains("ends a setting at a newline"));
}

TEST_CASE("values libpq's service-file reader would change are refused, the others written as they are",
          "[pg][limits]") {
    json hba = json::array({rule("hostssl", "all", "cert")});
    CHECK_THROWS_WITH(profile_with(json::array({{{"user", "bob "}}}), hba),
                      Catch::Equals("t.json: clients[0].user: role name: \"bob \" ends with a blank, which libpq's "
                                    "pg_service.conf reader removes (clients/ROLE/pg_service.conf would log in as "
                                    "\"bob\")"));
    CHECK_THROWS_WITH(profile_with(json::array({{{"user", "   "}}}), hba), Catch::Contains("log in as the OS user"));
    CHECK_THROWS_WITH(profile_with(json::array({{{"user", "bob\t"}}}), hba), Catch::Contains("control character"));
    CHECK_THROWS_WITH(validate_role_name("bob ", "--user"), Catch::StartsWith("--user: \"bob \" ends with a blank"));

    // A leading blank, '=', '#', quotes, '[' and '\' survive the reader (tested on libpq 15).
    Profile p = profile_with(json::array({{{"user", " lead"}}, {{"user", "a=b#'\"[\\"}}}), hba);
    std::string svc = pg::render_service(p.name, p.clients[0].user, p.servers, p.client_settings, {"/c/root.crt", "/c/postgresql.crt", "/c/postgresql.key"});
    CHECK_THAT(svc, Catch::Contains("\nuser= lead\n"));
    svc = pg::render_service(p.name, p.clients[1].user, p.servers, p.client_settings, {"/c/root.crt", "/c/postgresql.crt", "/c/postgresql.key"});
    CHECK_THAT(svc, Catch::Contains("\nuser=a=b#'\"[\\\n"));

    // Client settings: a blank at the end, and a line longer than libpq's 1024-byte buffer allows.
    CHECK_THROWS_WITH(pg::validate_client_setting("dbname", "db "), Catch::Contains("ends with a blank"));
    CHECK_NOTHROW(pg::validate_client_setting("application_name", " app"));
    CHECK_NOTHROW(pg::validate_client_setting("sslcrl", "/" + std::string(1021 - 8, 'c')));
    CHECK_THROWS_WITH(pg::validate_client_setting("sslcrl", "/" + std::string(1022 - 8, 'c')),
                      Catch::Contains("a line of 1022 bytes in pg_service.conf; libpq 15 reads at most 1021"));
}
