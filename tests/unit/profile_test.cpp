#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/profile.hpp"
#include "profile_support.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

const auto& minimal = pgca::test::minimal_profile_doc;
const auto& error_of = pgca::test::profile_error_of;

}  // namespace

TEST_CASE("the bundled profiles parse", "[profile]") {
    for (auto name : {"local-dev", "seed-blog", "ha-cluster"}) {
        INFO(name);
        Profile p = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/" + name + ".json");
        CHECK(p.name == name);
        CHECK_FALSE(p.servers.empty());
        CHECK_FALSE(p.clients.empty());
        CHECK(p.client_settings.at("sslmode") == "verify-full");
    }
    Profile ha = load_profile(std::string(PGCA_SOURCE_DIR) + "/profiles/ha-cluster.json");
    REQUIRE(ha.ca.intermediate);
    CHECK(ha.ca.key == KeyAlg::ec_p384);
    CHECK(ha.client_key(*ha.find_client("app_billing")) == KeyAlg::rsa_2048);
}

TEST_CASE("defaults apply where the profile is silent", "[profile]") {
    Profile p = parse_profile(minimal().dump(), "p.json");
    CHECK(p.ca.key == KeyAlg::ec_p256);
    CHECK(p.ca.days == 3650);
    CHECK(p.defaults.server_days == 397);
    CHECK(p.defaults.client_days == 365);
    CHECK(p.defaults.renew_before_days == 30);
    CHECK(p.clients[0].common_name() == "alice");
}

TEST_CASE("profile errors name the JSON path and the cause", "[profile]") {
    json d = minimal();
    d["hba"][0]["clientcerts"] = "verify-full";
    CHECK_THAT(error_of(d), Catch::Contains("hba[0]: unknown key \"clientcerts\""));

    d = minimal();
    d["clients"][0]["cn"] = "alice@example.com";
    CHECK_THAT(error_of(d), Catch::Contains("clients[0]: \"cn\" differs from the role name, so \"map\" is required"));

    d = minimal();
    d["ca"]["key"] = "ed25519";
    CHECK_THAT(error_of(d), Catch::Contains("ca.key: a CA key must not be Ed25519"));

    d = minimal();
    d["defaults"] = {{"key", "rsa-1024"}};
    CHECK_THAT(error_of(d), Catch::Contains("defaults.key: unknown key algorithm \"rsa-1024\""));

    d = minimal();
    d["servers"][0]["hosts"][1] = "db_1";
    CHECK_THAT(error_of(d), Catch::Contains("servers[0].hosts[1]:"));

    d = minimal();
    d["clients"].push_back({{"user", "alice"}});
    CHECK_THAT(error_of(d), Catch::Contains("clients[1].user: duplicate user \"alice\""));

    d = minimal();
    d["clients"][0]["user"] = "evil\nhostssl all all 0.0.0.0/0 trust";
    CHECK_THAT(error_of(d), Catch::Contains("clients[0].user: role name: contains a control character"));

    d = minimal();
    d["clients"][0]["user"] = std::string(64, 'r');
    CHECK_THAT(error_of(d), Catch::Contains("63-byte identifier limit"));

    d = minimal();
    d["clients"][0]["user"] = "../x";
    CHECK_THAT(error_of(d), Catch::Contains("cannot be a folder name"));

    d = minimal();
    d["hba"][0]["address"] = "127.0.0.1";
    CHECK_THAT(error_of(d), Catch::Contains("hba[0].address: \"127.0.0.1\" has no mask"));

    d = minimal();
    d["hba"][0]["method"] = "scram-sha-256-plus";
    CHECK_THAT(error_of(d), Catch::Contains("hba[0].method: unknown authentication method \"scram-sha-256-plus\""));

    d = minimal();
    d["hba"][0]["user"] = json::array();
    CHECK_THAT(error_of(d), Catch::Contains("hba[0].user: must not be an empty list"));

    d = minimal();
    d["pgca_profile"] = 2;
    CHECK_THAT(error_of(d), Catch::Contains("pgca_profile: unsupported profile version"));

    d = minimal();
    d["server_settings"] = {{"ssl_ecdh_curve", "P-384"}};
    CHECK_THAT(error_of(d), Catch::Contains("server_settings.ssl_ecdh_curve:"));

    d = minimal();
    d["server_settings"] = {{"ssl_cert_file", "/x"}};
    CHECK_THAT(error_of(d), Catch::Contains("written by pgca itself"));

    d = minimal();
    d["client_settings"] = {{"sslmode", "prefer"}};
    CHECK_THAT(error_of(d), Catch::Contains("client_settings.sslmode:"));

    d = minimal();
    d.erase("ca");
    CHECK_THAT(error_of(d), Catch::Contains("missing required key \"ca\""));

    d = minimal();
    d["ca"]["subject"].erase("CN");
    d["ca"]["subject"]["O"] = "x";
    CHECK_THAT(error_of(d), Catch::Contains("ca.subject: missing required attribute \"CN\""));
}

TEST_CASE("invalid JSON is a profile error with the position", "[profile]") {
    try {
        (void)parse_profile("{\"pgca_profile\": 1,,}", "broken.json");
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::profile);
        CHECK_THAT(e.what(), Catch::StartsWith("broken.json: invalid JSON:") && Catch::Contains("line 1"));
    }
}

TEST_CASE("a missing profile file is an input error naming the path", "[profile]") {
    try {
        (void)load_profile("/nonexistent/profile.json");
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/profile.json"));
    }
}

TEST_CASE("a number too large for JSON is a profile error, not a crash (found by fuzz_profile)", "[profile]") {
    try {
        (void)parse_profile("{\"pgca_profile\": 1" + std::string(400, '0') + "e999999}", "huge.json");
        FAIL("accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::profile);
        CHECK_THAT(e.what(), Catch::StartsWith("huge.json: invalid JSON:"));
    }
}

TEST_CASE("a duplicate JSON key is refused with its path", "[ownership][profile]") {
    auto fails_with = [](const std::string& text, const std::string& what) {
        try {
            (void)parse_profile(text, "d.json");
            FAIL("no error for " << text);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::profile);
            CHECK_THAT(e.what(), Catch::StartsWith("d.json: " + what + ": duplicate key"));
        }
    };
    const std::string head = R"({"pgca_profile": 1, "name": "d", "ca": {"subject": {"CN": "R"}}, )";
    fails_with(head + R"("clients": [{"user": "a"}], "clients": []})", "clients");
    fails_with(head + R"("servers": [{"name": "s", "hosts": ["h"], "hosts": ["h2"]}]})", "servers[0].hosts");
    fails_with(head + R"("clients": [{"user": "a"}, {"user": "b", "user": "c"}]})", "clients[1].user");
    fails_with(R"({"pgca_profile": 1, "name": "d", "ca": {"subject": {"CN": "R", "CN": "S"}}})", "ca.subject.CN");
    std::string many = R"("server_settings": {)";
    for (int i = 0; i < 40; ++i) many += "\"k" + std::to_string(i) + "\": 1, ";
    fails_with(head + many + R"("k5": 2}})", "server_settings.k5");  // past the first 32 keys of an object
    // The same key in different objects is fine.
    CHECK_NOTHROW(parse_profile(head + R"("clients": [{"user": "a"}, {"user": "b"}]})", "d.json"));
}
