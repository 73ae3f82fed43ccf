// Revocation, CRLs and rotation on a real PostgreSQL 15.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>

#include "pgca/crl.hpp"
#include "pgca/io.hpp"
#include "pgca/pki.hpp"
#include "pgca/probe.hpp"
#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

json profile(bool intermediate, const std::string& crl_mode = "file") {
    json p = {
        {"pgca_profile", 1},
        {"name", "life"},
        {"ca", {{"subject", {{"CN", "Life Root"}}}}},
        {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}, {"crl", crl_mode}}})},
        {"clients", json::array({{{"user", "alice"}}, {{"user", "bob"}}, {{"user", "carol"}}})},
        {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "all"},
                              {"address", "127.0.0.1/32"}, {"method", "cert"}}})},
    };
    if (intermediate) p["ca"]["intermediate"] = {{"subject", {{"CN", "Life Issuing"}}}};
    return p;
}

const std::vector<std::string> kRoles{"alice", "bob", "carol"};

void require_login(AppliedServer& s, const std::string& user, const std::string& bundle = "") {
    auto r = s.connect("life", user, "", bundle);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(trim(r.out) == user);
}

std::string current_serial(const std::string& dir, const std::string& kind, const std::string& name) {
    auto pki = pgca::PkiDir::open(dir, false);
    return pki->ledger().current(pgca::parse_cert_kind(kind).value(), name)->serial;
}

}  // namespace

TEST_CASE("a revoked client certificate is refused after a reload; everyone else still logs in", "[pg][lifecycle]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    AppliedServer s(profile(false).dump());
    s.start("db", kRoles);
    for (const auto& u : kRoles) require_login(s, u);

    auto r = run_pgca({"revoke", "--dir", s.dir(), "--user", "alice", "--reason", "keyCompromise"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("revoked  client \"alice\"") && Catch::Contains("(keyCompromise)"));
    // Revoking twice is not an error, and says so.
    r = run_pgca({"revoke", "--dir", s.dir(), "--user", "alice"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("already revoked"));

    s.pg().reload();
    auto refused = s.attempt("life", "alice");
    CHECK(refused.client.exit_code != 0);
    CHECK_THAT(refused.client.err, Catch::Contains("sslv3 alert certificate revoked"));
    CHECK_THAT(refused.server_log, Catch::Contains("certificate revoked") || Catch::Contains("certificate verify failed"));
    require_login(s, "bob");
    require_login(s, "carol");

    // The CRL itself, read by openssl: reason and serial as revoked.
    std::string text = run({"openssl", "crl", "-in", s.dir() + "/crl/root.crl", "-noout", "-text"}).out;
    CHECK_THAT(text, Catch::Contains("Key Compromise"));
    CHECK_THAT(text, Catch::Contains("X509v3 CRL Number"));
}

TEST_CASE("with an intermediate CA, CRLs for both CAs are needed and revocation works", "[pg][lifecycle]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(profile(true).dump());
    s.start("db", kRoles);
    require_login(s, "alice");
    require_login(s, "bob");

    auto bundle = pgca::io::read_file(s.dir() + "/servers/db/root.crl");
    auto crls = split_pem_blocks(bundle);
    REQUIRE(crls.size() == 2);  // root's and intermediate's

    // PostgreSQL checks a CRL for every CA in the chain (X509_V_FLAG_CRL_CHECK_ALL): with only the
    // root's, a client certificate from the intermediate is refused. This is why pgca ships both.
    write_file(s.dir() + "/servers/db/root.crl", crls[0]);
    s.pg().reload();
    auto partial = s.attempt("life", "alice");
    CHECK(partial.client.exit_code != 0);
    CHECK_THAT(partial.client.err, Catch::Contains("tlsv1 alert unknown ca"));

    auto r = run_pgca({"revoke", "--dir", s.dir(), "--user", "bob", "--reason", "affiliationChanged"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    s.pg().reload();
    require_login(s, "alice");
    auto refused = s.attempt("life", "bob");
    CHECK(refused.client.exit_code != 0);
    CHECK_THAT(refused.client.err, Catch::Contains("sslv3 alert certificate revoked"));
}

TEST_CASE("ssl_crl_dir: a revocation takes effect with no reload", "[pg][lifecycle]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(profile(true, "dir").dump());
    CHECK_THAT(read_file(s.dir() + "/servers/db/postgresql.ssl.conf"), Catch::Contains("ssl_crl_dir = '"));
    s.start("db", kRoles);
    require_login(s, "carol");
    REQUIRE(run_pgca({"revoke", "--dir", s.dir(), "--user", "carol"}).exit_code == 0);
    // No reload: the next connection reads the hashed directory.
    auto refused = s.attempt("life", "carol");
    CHECK(refused.client.exit_code != 0);
    CHECK_THAT(refused.client.err, Catch::Contains("sslv3 alert certificate revoked"));
    require_login(s, "alice");
}

TEST_CASE("removing a user from the profile revokes the certificate they still hold", "[pg][lifecycle]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(profile(false).dump());
    s.start("db", kRoles);
    // Bob keeps a copy of his bundle.
    std::string copy = s.tmp() + "/bob-copy";
    REQUIRE(run({"cp", "-a", s.dir() + "/clients/bob", copy}).exit_code == 0);
    write_file(copy + "/pg_service.conf", replace_all(read_file(copy + "/pg_service.conf"), s.dir() + "/clients/bob", copy));
    require_login(s, "bob", copy);

    json p = profile(false);
    p["clients"].erase(1);
    auto r = s.reapply(p.dump());
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("revoke   client bob  no longer in the profile"));
    CHECK_FALSE(pgca::io::exists(s.dir() + "/clients/bob"));
    s.pg().reload();
    auto refused = s.attempt("life", "bob", "", copy);
    CHECK(refused.client.exit_code != 0);
    CHECK_THAT(refused.client.err, Catch::Contains("sslv3 alert certificate revoked"));
    require_login(s, "alice");
    // And a second apply has nothing left to do.
    r = s.reapply(p.dump());
    CHECK_THAT(r.out, Catch::Contains("nothing to do"));
}

TEST_CASE("a CRL past its nextUpdate locks every certificate user out; pgca crl recovers", "[pg][lifecycle]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(profile(false).dump());
    s.start("db", kRoles);
    require_login(s, "alice");

    // A CRL that revokes nothing but whose nextUpdate passed an hour ago.
    {
        auto pki = pgca::PkiDir::open(s.dir(), false);
        std::time_t now = std::time(nullptr);
        auto stale = pgca::make_crl(pki->ca().issuer(), {}, 1000, now - 2 * 86400, now - 3600);
        write_file(s.dir() + "/servers/db/root.crl", stale.to_pem());
        write_file(s.dir() + "/crl/root.crl", stale.to_pem());
    }
    s.pg().reload();
    for (const auto& u : kRoles) {
        auto refused = s.attempt("life", u);
        CHECK(refused.client.exit_code != 0);
        // Misleading but true: the client's certificate is fine, the CRL is stale.
        CHECK_THAT(refused.client.err, Catch::Contains("sslv3 alert certificate expired"));
        CHECK_THAT(refused.server_log, Catch::Contains("certificate verify failed"));
    }
    // pgca says so where operators look...
    auto list = run_pgca({"list", "--dir", s.dir()});
    CHECK_THAT(list.err, Catch::Contains("pgca: warning: the root CRL expired"));
    CHECK_THAT(run_pgca({"list", "--dir", s.dir(), "--expiring", "7"}).out, Catch::Contains("crl"));
    // ...and apply (or pgca crl) replaces it.
    auto r = s.reapply(profile(false).dump());
    CHECK_THAT(r.out, Catch::Contains("write    crl root"));
    s.pg().reload();
    for (const auto& u : kRoles) require_login(s, u);
}

TEST_CASE("rotation: the server serves the new certificate after a reload, open sessions keep working",
          "[pg][lifecycle][rotate]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(profile(true).dump());
    s.start("db", kRoles);
    std::string old_serial = current_serial(s.dir(), "server", "db");

    // A session opened before the rotation, held open with libpq.
    std::string conninfo = "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(s.pg().port()) +
                           " dbname=postgres user=alice sslmode=verify-full sslrootcert=" + s.dir() +
                           "/clients/alice/root.crt sslcert=" + s.dir() + "/clients/alice/postgresql.crt sslkey=" +
                           s.dir() + "/clients/alice/postgresql.key";
    std::unique_ptr<PGconn, decltype(&PQfinish)> session(PQconnectdb(conninfo.c_str()), &PQfinish);
    REQUIRE(PQstatus(session.get()) == CONNECTION_OK);
    int postmaster_pid = s.pg().postmaster_pid();

    // Fresh certificates are left alone without --force.
    auto r = run_pgca({"rotate", "--dir", s.dir(), "--server", "db"});
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("keep     server db"));
    CHECK(current_serial(s.dir(), "server", "db") == old_serial);

    std::string target = "127.0.0.1:" + std::to_string(s.pg().port());
    r = run_pgca({"rotate", "--dir", s.dir(), "--server", "db", "--force", "--reload",
              "kill -HUP " + std::to_string(postmaster_pid), "--verify", target, "--verify-name", "localhost"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    std::string new_serial = current_serial(s.dir(), "server", "db");
    CHECK(new_serial != old_serial);
    CHECK_THAT(r.out, Catch::Contains("verified " + target + " serves serial " + new_serial));

    // No restart happened, the old session still answers, and new logins see the new certificate.
    CHECK(s.pg().postmaster_pid() == postmaster_pid);
    std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(session.get(), "select 2"), &PQclear);
    CHECK(PQresultStatus(res.get()) == PGRES_TUPLES_OK);
    CHECK(std::string(PQgetvalue(res.get(), 0, 0)) == "2");
    pgca::ProbeOptions po;
    po.host = "127.0.0.1";
    po.port = s.pg().port();
    po.ca_file = s.dir() + "/ca/root.crt";
    po.server_name = "localhost";
    auto served = pgca::probe(po);
    REQUIRE_FALSE(served.chain.empty());
    CHECK(served.chain.front().serial_hex() == new_serial);
    CHECK(served.verified);
    require_login(s, "bob");

    // --verify catches a server that was not reloaded.
    std::string key_before = read_file(s.dir() + "/servers/db/server.key");
    r = run_pgca({"rotate", "--dir", s.dir(), "--server", "db", "--force", "--keep-key", "--verify", target,
              "--verify-name", "localhost", "--verify-timeout", "2"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("still serves serial " + new_serial));
    // --keep-key signed a new certificate for the same key.
    CHECK(read_file(s.dir() + "/servers/db/server.key") == key_before);
    auto cert = pgca::Certificate::from_pem(read_file(s.dir() + "/servers/db/server.crt"), "server.crt");
    CHECK(cert.serial_hex() != new_serial);
    CHECK(cert.matches(pgca::PrivateKey::from_pem(key_before, "server.key")));
}

TEST_CASE("an encrypted server key: the server starts and reloads through ssl_passphrase_command",
          "[pg][lifecycle][secret]") {
    PGCA_REQUIRE_POSTGRES();
    json p = profile(false);
    // The passphrase file as the database host sees it: readable by postgres only.
    TempDir secrets;
    std::string pass_file = secrets.path() + "/server.pass";
    write_file(pass_file, "server key passphrase\n", 0600);
    PgCluster::chown_to_postgres(pass_file);
    p["servers"][0]["key_passphrase"] = {{"file", pass_file}};
    // A cluster of its own: the case proves the server *starts* with the encrypted key, which a
    // running shared server would only reload.
    AppliedServer s(p.dump(), AppliedServer::Cluster::own);
    CHECK(read_file(s.dir() + "/servers/db/server.key").rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    std::string conf = read_file(s.dir() + "/servers/db/postgresql.ssl.conf");
    CHECK_THAT(conf, Catch::Contains("ssl_passphrase_command = 'cat ''" + pass_file + "'''"));
    CHECK_THAT(conf, Catch::Contains("ssl_passphrase_command_supports_reload = on"));
    s.start("db", kRoles);
    require_login(s, "alice");

    // Rotation re-encrypts the new key with the same source, and the reload runs the command.
    std::string old_serial = current_serial(s.dir(), "server", "db");
    auto r = run_pgca({"rotate", "--dir", s.dir(), "--force", "--reload",
                       "kill -HUP " + std::to_string(s.pg().postmaster_pid()), "--verify",
                       "127.0.0.1:" + std::to_string(s.pg().port()), "--verify-name", "localhost"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(current_serial(s.dir(), "server", "db") != old_serial);
    CHECK(read_file(s.dir() + "/servers/db/server.key").rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    CHECK_THAT(s.pg().log_since(0), !Catch::Contains("cannot be reloaded because it requires a passphrase"));
    require_login(s, "bob");
}
