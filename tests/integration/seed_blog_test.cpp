// The PostgreSQL 15 TLS walkthrough pgca starts from (profiles/seed-blog.json), applied by the
// pgca binary and installed into a real PostgreSQL 15 that the test starts. Every rule is
// exercised with the right credentials and the wrong ones, and each refusal asserts the reason
// the server gives.
#include <catch2/catch.hpp>

#include <memory>

#include <nlohmann/json.hpp>

#include "pg_cluster.hpp"
#include "pgca_server.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

// seed-blog.json with its 192.168.1.0/24 addresses moved to loopback, the files used in place
// (no install_dir), and one more client whose CN is not its role name, behind a `cert` rule.
json loopback_seed_profile() {
    json p = json::parse(read_file(std::string(PGCA_SOURCE_DIR) + "/profiles/seed-blog.json"));
    for (auto& r : p["hba"])
        if (r["address"] == "192.168.1.0/24") r["address"] = "127.0.0.1/32";
    p["servers"][0].erase("install_dir");
    p["clients"].push_back({{"user", "mapped"}, {"cn", "mapped@example.com"}, {"map", "certmap"}});
    p["hba"].push_back({{"type", "hostssl"}, {"database", "mydatabase"}, {"user", "mapped"},
                        {"address", "127.0.0.1/32"}, {"method", "cert"}});
    return p;
}

// The seed profile applied and installed (AppliedServer), with the roles, myuser3's password and
// the database the seed's rules name.
class SeedServer {
public:
    SeedServer() : s_(loopback_seed_profile().dump(2)) {
        s_.start("db1", {"myuser", "myuser2", "myuser3", "myuser4", "myuser5", "mapped"});
        s_.pg().psql_admin_checked("ALTER ROLE myuser3 PASSWORD 'secret3'");
        s_.pg().psql_admin_checked("CREATE DATABASE mydatabase");
    }

    PgCluster& pg() { return s_.pg(); }
    const std::string& dir() const { return s_.dir(); }
    const std::string& apply_warnings() const { return s_.applied().err; }

    // Connects as `user` through the client's own pg_service.conf (so the emitted file is what is
    // tested), overriding only the port and pinning the address, plus `extra` keywords.
    ProcessResult connect(const std::string& user, const std::string& extra = "", const std::string& bundle = "",
                          const EnvList& env = {}) {
        return s_.connect("seed-blog", user, "dbname=mydatabase " + extra, bundle, env);
    }

    // A connection refused by the server: what the client saw and what the server logged.
    AppliedServer::Attempt refused(const std::string& user, const std::string& extra = "",
                                   const std::string& bundle = "", const EnvList& env = {}) {
        return s_.attempt("seed-blog", user, "dbname=mydatabase " + extra, bundle, env);
    }

private:
    AppliedServer s_;
};

void require_connected(const ProcessResult& r, const std::string& user) {
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(trim(r.out) == user);
}

}  // namespace

TEST_CASE("seed rules 1-2: trust over TLS, and trust that demands a client certificate", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    // hostssl … myuser trust: any TLS connection, no certificate needed.
    require_connected(s.connect("myuser", "sslcert=/nonexistent sslkey=/nonexistent"), "myuser");
    // …but not without TLS: no line matches.
    auto plain = s.refused("myuser", "sslmode=disable");
    CHECK(plain.client.exit_code != 0);
    CHECK_THAT(plain.client.err, Catch::Contains("no pg_hba.conf entry for host \"127.0.0.1\", user \"myuser\", "
                                                 "database \"mydatabase\", no encryption"));

    // hostssl … myuser2 trust clientcert=verify-ca
    require_connected(s.connect("myuser2"), "myuser2");
    auto no_cert = s.refused("myuser2", "sslcert=/nonexistent sslkey=/nonexistent");
    CHECK(no_cert.client.exit_code != 0);
    CHECK_THAT(no_cert.client.err, Catch::Contains("connection requires a valid client certificate"));
    // verify-ca checks the chain, not the name: another user's certificate is accepted.
    require_connected(s.connect("myuser2", "", "myuser4"), "myuser2");
}

TEST_CASE("seed rule 3: password plus a client certificate", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    require_connected(s.connect("myuser3", "", "", {{"PGPASSWORD", "secret3"}}), "myuser3");
    auto wrong = s.refused("myuser3", "", "", {{"PGPASSWORD", "wrong"}});
    CHECK(wrong.client.exit_code != 0);
    CHECK_THAT(wrong.client.err, Catch::Contains("password authentication failed for user \"myuser3\""));
    auto no_cert = s.refused("myuser3", "sslcert=/nonexistent sslkey=/nonexistent", "", {{"PGPASSWORD", "secret3"}});
    CHECK(no_cert.client.exit_code != 0);
    CHECK_THAT(no_cert.client.err, Catch::Contains("connection requires a valid client certificate"));
}

TEST_CASE("seed rule 4: cert (written without verify-ca) matches the CN to the role", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    CHECK_THAT(s.apply_warnings(), Catch::Contains("pgca: warning: hba[3]: clientcert=verify-ca with method cert"));
    require_connected(s.connect("myuser4"), "myuser4");
    auto other = s.refused("myuser4", "", "myuser2");
    CHECK(other.client.exit_code != 0);
    CHECK_THAT(other.client.err, Catch::Contains("certificate authentication failed for user \"myuser4\""));
    CHECK_THAT(other.server_log, Catch::Contains("provided user name (myuser4) and authenticated user name (myuser2) do not match"));
    auto none = s.refused("myuser4", "sslcert=/nonexistent sslkey=/nonexistent");
    CHECK(none.client.exit_code != 0);
    CHECK_THAT(none.client.err, Catch::Contains("connection requires a valid client certificate"));
}

TEST_CASE("seed rule 5: hostnossl trust refuses TLS", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    require_connected(s.connect("myuser5", "sslmode=disable"), "myuser5");
    auto tls = s.refused("myuser5");
    CHECK(tls.client.exit_code != 0);
    CHECK_THAT(tls.client.err, Catch::Contains("no pg_hba.conf entry for host \"127.0.0.1\", user \"myuser5\", "
                                               "database \"mydatabase\", SSL encryption"));
}

TEST_CASE("cert map=: a CN that is not the role name logs in through pg_ident.conf", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    require_connected(s.connect("mapped"), "mapped");
    // The mapped certificate does not open other roles' cert rules.
    auto other = s.refused("myuser4", "", "mapped");
    CHECK(other.client.exit_code != 0);
    CHECK_THAT(other.client.err, Catch::Contains("certificate authentication failed for user \"myuser4\""));
    // And another role's certificate is not in the map.
    auto unmapped = s.refused("mapped", "", "myuser2");
    CHECK(unmapped.client.exit_code != 0);
    CHECK_THAT(unmapped.client.err, Catch::Contains("certificate authentication failed for user \"mapped\""));
    CHECK_THAT(unmapped.server_log, Catch::Contains("no match in usermap \"certmap\" for user \"mapped\" authenticated as \"myuser2\""));
}

TEST_CASE("verify-full: the certificate's names are checked, a missing name is refused", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    // The service file says host=localhost; the IP SAN works too, and so does the DNS SAN.
    require_connected(s.connect("myuser2"), "myuser2");
    require_connected(s.connect("myuser2", "host=127.0.0.1"), "myuser2");
    require_connected(s.connect("myuser2", "host=db1.example.com"), "myuser2");
    auto wrong = s.refused("myuser2", "host=db2.example.com");
    CHECK(wrong.client.exit_code != 0);
    CHECK_THAT(wrong.client.err, Catch::Contains("server certificate for \"localhost\" (and 2 other names) does not "
                                                 "match host name \"db2.example.com\""));
    // A root the server's certificate does not chain to is refused.
    auto foreign = s.refused("myuser2", "sslrootcert=/etc/ssl/certs/ca-certificates.crt");
    CHECK(foreign.client.exit_code != 0);
    CHECK_THAT(foreign.client.err, Catch::Contains("certificate verify failed"));
}

TEST_CASE("the emitted pg_hba.conf and pg_ident.conf load without a single error", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    SeedServer s;
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_hba_file_rules where error is not null") == "0");
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_ident_file_mappings where error is not null") == "0");
    // pgca's rules, in profile order, behind the harness's own admin line.
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_hba_file_rules") == "7");
    CHECK(s.pg().psql_admin_checked("select auth_method || ' ' || coalesce(array_to_string(options, ','), '') "
                                    "from pg_hba_file_rules where 'myuser4' = any(user_name)") ==
          "cert clientcert=verify-full");
    CHECK(s.pg().psql_admin_checked("select map_name || ' ' || sys_name || ' ' || pg_username "
                                    "from pg_ident_file_mappings") == "certmap mapped@example.com mapped");
    CHECK(s.pg().psql_admin_checked("show ssl") == "on");
}

TEST_CASE("the seed's literal fourth line is refused by PostgreSQL, as pgca warns", "[pg][seed]") {
    PGCA_REQUIRE_POSTGRES();
    TempDir tmp;
    PgCluster pg(tmp.path() + "/pg");
    pg.set_hba("hostssl mydatabase myuser4 127.0.0.1/32 cert clientcert=verify-ca\n");
    // At start an invalid pg_hba.conf is fatal: the server does not come up at all.
    CHECK_THROWS(pg.start());
    CHECK_FALSE(pg.running());
    std::string log = pg.log_since(0);
    CHECK_THAT(log, Catch::Contains("clientcert only accepts \"verify-full\" when using \"cert\" authentication"));
    // 15 names the file "pg_hba.conf", 16 and later by its full path.
    CHECK_THAT(log, Catch::Contains("FATAL:  could not load " +
                                    std::string(pg.server_major() == 15 ? "" : pg.data_dir() + "/") + "pg_hba.conf"));
}
