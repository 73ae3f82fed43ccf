// `targets` and servers[].postgres_version: what the emitted files may hold for the versions a
// deployment runs (docs/postgres-facts.md §1.1, §3.8). The real servers and libpq of every version
// are in tests/integration/versions_test.cpp.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/profile.hpp"
#include "profile_support.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

const auto& minimal = pgca::test::minimal_profile_doc;
const auto& error_of = pgca::test::profile_error_of;

std::string server_conf(const Profile& p, std::size_t server) {
    return pg::render_server_conf(p.name, p.servers.at(server), p.server_settings, {"/c", "/k", "/a", "/l", "/d"});
}

std::string service(const Profile& p) {
    return pg::render_service(p.name, "alice", p.servers, p.client_settings, {"/r", "/c", "/k"});
}

}  // namespace

TEST_CASE("targets default to PostgreSQL 15 and libpq 15 and PgBouncer 1.18 unless a server says otherwise",
          "[profile][targets]") {
    Profile p = parse_profile(minimal().dump(), "p.json");
    CHECK(p.targets.postgres == 15);
    CHECK(p.targets.libpq == 15);
    CHECK(p.targets.pgbouncer == "1.18");
    CHECK(p.servers[0].postgres_version == 15);

    json d = minimal();
    d["targets"] = {{"postgres", 16}, {"libpq", 17}, {"pgbouncer", "1.21"}};
    d["servers"].push_back({{"name", "db2"}, {"hosts", {"db2"}}, {"postgres_version", 18}});
    p = parse_profile(d.dump(), "p.json");
    CHECK(p.targets.libpq == 17);
    CHECK(p.targets.pgbouncer == "1.21");
    CHECK(p.servers[0].postgres_version == 16);  // from targets.postgres
    CHECK(p.servers[1].postgres_version == 18);
}

TEST_CASE("targets outside what pgca writes for are refused with their path", "[profile][targets]") {
    json d = minimal();
    d["targets"] = {{"postgres", 14}};
    CHECK_THAT(error_of(d), Catch::Contains("p.json: targets.postgres: must be between 15 and 18"));
    d["targets"] = {{"postgres", 19}};
    CHECK_THAT(error_of(d), Catch::Contains("targets.postgres: must be between 15 and 18"));
    d["targets"] = {{"postgres", "15"}};
    CHECK_THAT(error_of(d), Catch::Contains("targets.postgres: expected an integer, got string"));
    d["targets"] = {{"libpq", 14}};
    CHECK_THAT(error_of(d), Catch::Contains("targets.libpq: must be between 15 and 18"));
    d["targets"] = {{"pgsql", 15}};
    CHECK_THAT(error_of(d), Catch::Contains("targets: unknown key \"pgsql\" (allowed: postgres, libpq, pgbouncer)"));
    for (const char* bad : {"1.17", "1", "1.", ".18", "1.18.1", "x.y", "1.1234", " 1.18", "0.99"}) {
        d["targets"] = {{"pgbouncer", bad}};
        CHECK_THAT(error_of(d), Catch::Contains("targets.pgbouncer: \"" + std::string(bad) +
                                                "\" is not a PgBouncer version \"MAJOR.MINOR\" from 1.18 on"));
    }
    d["targets"] = {{"pgbouncer", 1.18}};
    CHECK_THAT(error_of(d), Catch::Contains("targets.pgbouncer: expected a string"));
    for (const char* good : {"1.18", "1.24", "2.0"}) {
        d["targets"] = {{"pgbouncer", good}};
        CHECK(parse_profile(d.dump(), "p.json").targets.pgbouncer == good);
    }
    d = minimal();
    d["servers"][0]["postgres_version"] = 13;
    CHECK_THAT(error_of(d), Catch::Contains("servers[0].postgres_version: must be between 15 and 18"));
}

TEST_CASE("ssl_groups and ssl_tls13_ciphers need PostgreSQL 18 on every server they are written for",
          "[profile][targets]") {
    json d = minimal();
    d["server_settings"] = {{"ssl_groups", {"X25519", "prime256v1"}}};
    CHECK_THAT(error_of(d), Catch::Contains("p.json: server_settings.ssl_groups: PostgreSQL 18 added ssl_groups, "
                                            "and an older server refuses the whole include holding it "
                                            "(unrecognized configuration parameter); servers[0] (\"db\") targets "
                                            "PostgreSQL 15 (targets.postgres); set servers[0].postgres_version or "
                                            "targets.postgres to 18, or leave it out"));
    d["targets"] = {{"postgres", 18}};
    Profile p = parse_profile(d.dump(), "p.json");
    CHECK(p.server_settings.at("ssl_groups") == "X25519:prime256v1");
    CHECK_THAT(server_conf(p, 0), Catch::Contains("\nssl_groups = 'X25519:prime256v1'\n"));

    // One older server is enough to refuse it, and the message names where its version comes from.
    d["servers"].push_back({{"name", "old"}, {"hosts", {"old"}}, {"postgres_version", 17}});
    CHECK_THAT(error_of(d), Catch::Contains("servers[1] (\"old\") targets PostgreSQL 17 "
                                            "(servers[1].postgres_version); set servers[1].postgres_version to 18"));
    d["servers"][1]["postgres_version"] = 18;
    d["targets"] = {{"postgres", 15}};
    d["servers"][0]["postgres_version"] = 18;
    CHECK(parse_profile(d.dump(), "p.json").servers[0].postgres_version == 18);

    // Without servers, targets.postgres decides.
    d = minimal();
    d.erase("servers");
    d["server_settings"] = {{"ssl_tls13_ciphers", "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"}};
    CHECK_THAT(error_of(d), Catch::Contains("server_settings.ssl_tls13_ciphers: PostgreSQL 18 added "
                                            "ssl_tls13_ciphers") &&
                                Catch::Contains("targets.postgres is 15; set it to 18, or leave it out"));
    d["targets"] = {{"postgres", 18}};
    CHECK(parse_profile(d.dump(), "p.json").server_settings.at("ssl_tls13_ciphers") ==
          "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
}

TEST_CASE("ssl_groups and ssl_tls13_ciphers hold names OpenSSL knows and each only once", "[profile][targets]") {
    json d = minimal();
    d["targets"] = {{"postgres", 18}};
    const auto with = [&](const char* key, const json& value) {
        d["server_settings"] = {{key, value}};
        return d;
    };
    // 18 refuses the whole TLS configuration for a misspelt group or a comma (measured).
    CHECK_THAT(error_of(with("ssl_groups", {"X25519", "bogus"})),
               Catch::Contains("server_settings.ssl_groups: ssl_groups: unknown name \"bogus\" (known: X25519"));
    CHECK_THAT(error_of(with("ssl_groups", "X25519,prime256v1")),
               Catch::Contains("unknown name \"X25519,prime256v1\""));
    CHECK_THAT(error_of(with("ssl_groups", {"X25519", "X25519"})), Catch::Contains("\"X25519\" is listed twice"));
    CHECK_THAT(error_of(with("ssl_groups", json::array())), Catch::Contains("must not be an empty list"));
    CHECK_THAT(error_of(with("ssl_groups", "")), Catch::Contains("unknown name \"\""));
    CHECK_THAT(error_of(with("ssl_tls13_ciphers", {"TLS_AES_256_GCM_SHA384", "TLS_RSA_WITH_NULL"})),
               Catch::Contains("ssl_tls13_ciphers: unknown name \"TLS_RSA_WITH_NULL\""));
    CHECK_THAT(error_of(with("ssl_ciphers", {"HIGH"})), Catch::Contains("server_settings.ssl_ciphers: expected a "
                                                                        "string, number or boolean, got array"));
    // A string in PostgreSQL's own spelling is the same list.
    CHECK(parse_profile(with("ssl_groups", "X25519:secp384r1").dump(), "p.json").server_settings.at("ssl_groups") ==
          "X25519:secp384r1");
    // Both names for one setting (18 reads ssl_ecdh_curve as ssl_groups) would contradict each other.
    d["server_settings"] = {{"ssl_groups", "X25519"}, {"ssl_ecdh_curve", "prime256v1"}};
    CHECK_THAT(error_of(d), Catch::Contains("server_settings.ssl_ecdh_curve: PostgreSQL 18 reads ssl_ecdh_curve as "
                                            "another name for ssl_groups; give only ssl_groups"));
}

TEST_CASE("ssl_ecdh_curve is written as ssl_groups with X25519 first on 18 and as itself before",
          "[profile][targets]") {
    json d = minimal();
    d["servers"] = {{{"name", "v17"}, {"hosts", {"a"}}, {"postgres_version", 17}},
                    {{"name", "v18"}, {"hosts", {"b"}}, {"postgres_version", 18}}};
    d["server_settings"] = {{"ssl_ecdh_curve", "secp384r1"}};
    Profile p = parse_profile(d.dump(), "p.json");
    const std::string v17 = server_conf(p, 0), v18 = server_conf(p, 1);
    CHECK_THAT(v17, Catch::Contains("\nssl_ecdh_curve = 'secp384r1'\n"));
    CHECK_THAT(v17, !Catch::Contains("ssl_groups"));
    // On 18 one curve alone would narrow the default X25519:prime256v1 to that curve.
    CHECK_THAT(v18, Catch::Contains("\nssl_groups = 'X25519:secp384r1'\n"));
    CHECK_THAT(v18, !Catch::Contains("\nssl_ecdh_curve ="));
}

TEST_CASE("service entries hold sslnegotiation or sslcertmode or require_auth only for a libpq that has them",
          "[profile][targets]") {
    json d = minimal();
    d["client_settings"] = {{"sslcertmode", "require"}};
    CHECK_THAT(error_of(d), Catch::Contains("p.json: client_settings.sslcertmode: libpq 16 added sslcertmode, and "
                                            "targets.libpq is 15: libpq 15 refuses a service file holding it "
                                            "(syntax error in service file); set targets.libpq to 16 once every "
                                            "client runs libpq 16 or later, or leave it out"));
    d["client_settings"] = {{"require_auth", "none"}};
    CHECK_THAT(error_of(d), Catch::Contains("client_settings.require_auth: libpq 16 added require_auth"));
    d["targets"] = {{"libpq", 16}};
    d["client_settings"] = {{"require_auth", "none"}, {"sslcertmode", "require"}};
    Profile p = parse_profile(d.dump(), "p.json");
    CHECK_THAT(service(p), Catch::Contains("\nrequire_auth=none\n") && Catch::Contains("\nsslcertmode=require\n"));

    d["client_settings"] = {{"sslnegotiation", "postgres"}};
    CHECK_THAT(error_of(d), Catch::Contains("client_settings.sslnegotiation: libpq 17 added sslnegotiation, and "
                                            "targets.libpq is 16"));
    d["targets"] = {{"libpq", 17}};
    CHECK_THAT(service(parse_profile(d.dump(), "p.json")), Catch::Contains("\nsslnegotiation=postgres\n"));
    // Direct TLS also needs the server: PostgreSQL 17.
    d["client_settings"] = {{"sslnegotiation", "direct"}};
    CHECK_THAT(error_of(d), Catch::Contains("client_settings.sslnegotiation: \"direct\" needs PostgreSQL 17 on the "
                                            "server") &&
                                Catch::Contains("servers[0] (\"db\") targets PostgreSQL 15 (targets.postgres)"));
    d["servers"][0]["postgres_version"] = 17;
    CHECK_THAT(service(parse_profile(d.dump(), "p.json")), Catch::Contains("\nsslnegotiation=direct\n"));
    // Without targets, nothing newer than libpq 15 reaches a service file.
    CHECK_THAT(service(parse_profile(minimal().dump(), "p.json")),
               !Catch::Contains("sslnegotiation") && !Catch::Contains("sslcertmode") && !Catch::Contains("require_auth"));
}

TEST_CASE("the libpq 16 and 17 keywords take the values libpq accepts", "[profile][targets]") {
    json d = minimal();
    d["targets"] = {{"libpq", 18}, {"postgres", 18}};
    const auto client = [&](const char* key, const char* value) {
        d["client_settings"] = {{key, value}};
        return d;
    };
    CHECK_THAT(error_of(client("sslnegotiation", "requiredirect")),
               Catch::Contains("invalid sslnegotiation value \"requiredirect\" (libpq accepts: postgres, direct)"));
    CHECK_THAT(error_of(client("sslcertmode", "on")),
               Catch::Contains("invalid sslcertmode value \"on\" (libpq accepts: disable, allow, require)"));
    CHECK_THAT(error_of(client("require_auth", "cert")), Catch::Contains("invalid require_auth method \"cert\""));
    CHECK_THAT(error_of(client("require_auth", "scram-sha-256,")), Catch::Contains("invalid require_auth method \"\""));
    CHECK_THAT(error_of(client("require_auth", "!password,md5")),
               Catch::Contains("require_auth cannot mix negated (!) and plain methods"));
    CHECK_THAT(error_of(client("require_auth", "md5,md5")), Catch::Contains("\"md5\" is listed twice"));
    for (const char* good : {"scram-sha-256", "!password,!md5", "none,scram-sha-256"})
        CHECK(parse_profile(client("require_auth", good).dump(), "p.json").client_settings.at("require_auth") == good);
}
