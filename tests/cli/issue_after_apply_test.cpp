// Files that `issue` writes after an apply are rendered as apply rendered them: from the profile
// the apply recorded in the ledger, not from a made-up one.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

using test::pgca_run;

// A profile whose server lives elsewhere (install_dir), runs PostgreSQL 18 (its curve setting is
// written as ssl_groups), reads CRLs from a folder, has an encrypted key and extra ssl settings,
// and whose clients get client settings; `pooler` adds a PgBouncer pooling alice.
std::string deployed_profile(const std::string& tmp, bool pooler = false) {
    nlohmann::json p = {
        {"pgca_profile", 1},
        {"name", "deployed"},
        {"ca", {{"subject", {{"CN", "Deployed Root CA"}}}}},
        {"servers",
         {{{"name", "db"},
           {"hosts", {"db.example.com"}},
           {"install_dir", "/etc/postgresql/15/main/pgca"},
           {"crl", "dir"},
           {"postgres_version", 18},
           {"key_passphrase", {{"file", tmp + "/server.pass"}}}}}},
        {"clients", {{{"user", "alice"}}}},
        {"hba", {{{"type", "hostssl"}, {"database", "all"}, {"user", "all"}, {"address", "all"}, {"method", "cert"}}}},
        {"server_settings", {{"ssl_min_protocol_version", "TLSv1.3"}, {"ssl_ecdh_curve", "prime256v1"}}},
        {"client_settings", {{"sslmode", "verify-full"}, {"connect_timeout", 7}}},
    };
    if (pooler)
        p["poolers"] = {{{"name", "b1"}, {"hosts", {"pool.example.com"}}, {"port", 6433}, {"upstream", "db"},
                         {"users", {"alice"}}}};
    std::string path = tmp + "/profile.json";
    test::write_file(path, p.dump(2));
    test::write_file(tmp + "/server.pass", "server secret\n", 0600);
    return path;
}

// `text` with every `from` replaced by `to`.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
        text.replace(pos, from.size(), to);
    return text;
}

}  // namespace

TEST_CASE("issue server after apply writes the postgresql.ssl.conf apply wrote", "[issue][plan]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", deployed_profile(tmp.path()), "--dir", dir}).exit_code == 0);
    const std::string conf = dir + "/servers/db/postgresql.ssl.conf";
    const std::string applied = test::read_file(conf);
    REQUIRE_THAT(applied, Catch::Contains("/etc/postgresql/15/main/pgca/server.crt"));
    REQUIRE_THAT(applied, Catch::Contains("ssl_groups = 'X25519:prime256v1'"));

    auto r = pgca_run({"issue", "server", "--dir", dir, "--name", "db", "--host", "db.example.com"});
    REQUIRE(r.exit_code == 0);
    CHECK(test::read_file(conf) == applied);
    // The new key is encrypted as the conf's ssl_passphrase_command expects.
    CHECK_THAT(test::read_file(dir + "/servers/db/server.key"), Catch::Contains("ENCRYPTED"));
}

TEST_CASE("issue client after apply writes a pg_service.conf like apply's", "[issue][plan]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", deployed_profile(tmp.path()), "--dir", dir}).exit_code == 0);
    const std::string alice = test::read_file(dir + "/clients/alice/pg_service.conf");
    REQUIRE_THAT(alice, Catch::Contains("host=db.example.com"));

    REQUIRE(pgca_run({"issue", "client", "--dir", dir, "--user", "bob"}).exit_code == 0);
    CHECK(test::read_file(dir + "/clients/bob/pg_service.conf") == replaced(alice, "alice", "bob"));
}

TEST_CASE("issue client after apply keeps the client's pooler service entry", "[issue][plan][pooler]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", deployed_profile(tmp.path(), true), "--dir", dir}).exit_code == 0);
    const std::string service = dir + "/clients/alice/pg_service.conf";
    const std::string applied = test::read_file(service);
    REQUIRE_THAT(applied, Catch::Contains("[deployed-b1]\nhost=pool.example.com\nport=6433\n"));

    REQUIRE(pgca_run({"issue", "client", "--dir", dir, "--user", "alice"}).exit_code == 0);
    CHECK(test::read_file(service) == applied);
}

TEST_CASE("issue server for a server the applied profile does not name renders for targets.postgres",
          "[issue][plan][targets]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    nlohmann::json p = {
        {"pgca_profile", 1},
        {"name", "t18"},
        {"targets", {{"postgres", 18}}},
        {"ca", {{"subject", {{"CN", "T18 Root CA"}}}}},
        {"servers", {{{"name", "db"}, {"hosts", {"db.example.com"}}}}},
        {"server_settings", {{"ssl_ecdh_curve", "prime256v1"}}},
    };
    test::write_file(tmp.path() + "/p.json", p.dump());
    REQUIRE(pgca_run({"apply", tmp.path() + "/p.json", "--dir", dir}).exit_code == 0);
    REQUIRE_THAT(test::read_file(dir + "/servers/db/postgresql.ssl.conf"), Catch::Contains("ssl_groups = "));

    auto r = pgca_run({"issue", "server", "--dir", dir, "--name", "db9", "--host", "db9.example.com"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string conf = test::read_file(dir + "/servers/db9/postgresql.ssl.conf");
    CHECK_THAT(conf, Catch::Contains("ssl_groups = 'X25519:prime256v1'"));
    CHECK_THAT(conf, !Catch::Contains("\nssl_ecdh_curve ="));
}
