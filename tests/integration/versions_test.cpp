// `targets`, on the real server of every version in the matrix (PgCluster::major(): 15 is
// Debian's, 16–18 the npm builds, which ship their libpq): the include pgca writes for the
// server's version loads, the curve settings mean on the wire what pgca says they mean, and the
// libpq 16/17 keywords work with a libpq that has them and break the one that does not
// (docs/postgres-facts.md §1.1, §3.8, §4).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

// The process's server version; the test's libpq is that version's (LD_LIBRARY_PATH to the npm
// build's lib/) or, for 15, Debian's.
int major() { return PgCluster::major(); }

json profile(const json& targets, const json& server_settings, const json& client_settings = json::object()) {
    return {{"pgca_profile", 1},
            {"name", "versions"},
            {"targets", targets},
            {"ca", {{"subject", {{"CN", "Versions Root"}}}}},
            {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}}})},
            {"clients", json::array({{{"user", "alice"}}})},
            {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "alice"},
                                  {"address", "127.0.0.1/32"}, {"method", "cert"}}})},
            {"server_settings", server_settings},
            {"client_settings", client_settings}};
}

// What `openssl s_client` says about a handshake with the server offering only `groups` (through
// the SSLRequest: -starttls postgres), verified against pgca's root.
ProcessResult handshake(AppliedServer& s, const std::string& groups) {
    return run({"timeout", "20", "openssl", "s_client", "-starttls", "postgres", "-connect",
                "127.0.0.1:" + std::to_string(s.pg().port()), "-groups", groups, "-CAfile", s.dir() + "/ca/root.crt",
                "-verify_hostname", "localhost", "-verify_return_error"});
}

// Debian's psql with the libpq of the server's version (the npm builds ship libpq, no psql).
EnvList newer_libpq() {
    const std::string lib = PgCluster::libpq_dir(major());
    return lib.empty() ? EnvList{} : EnvList{{"LD_LIBRARY_PATH", lib}};
}

void require_login(const ProcessResult& r) {
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(trim(r.out) == "alice");
}

}  // namespace

TEST_CASE("the include written for the server's version loads and negotiates X25519 where it can", "[pg][versions]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    // The one curve setting every version has; on 18 pgca writes it as ssl_groups, X25519 first.
    AppliedServer s(profile({{"postgres", major()}}, {{"ssl_ecdh_curve", "secp384r1"}}).dump());
    s.start("db", {"alice"});
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_file_settings where error is not null") == "0");
    require_login(s.connect("versions", "alice"));

    const std::string conf = read_file(s.dir() + "/servers/db/postgresql.ssl.conf");
    const ProcessResult x25519 = handshake(s, "X25519");
    const ProcessResult p384 = handshake(s, "P-384");
    INFO(x25519.out << x25519.err);
    CHECK_THAT(p384.out, Catch::Contains("Server Temp Key: ECDH, secp384r1"));
    if (major() >= 18) {
        CHECK_THAT(conf, Catch::Contains("\nssl_groups = 'X25519:secp384r1'\n"));
        CHECK(s.pg().psql_admin_checked("show ssl_groups") == "X25519:secp384r1");
        CHECK(x25519.exit_code == 0);
        CHECK_THAT(x25519.out, Catch::Contains("Server Temp Key: X25519"));
    } else {
        // 15–17 allow the one curve: a client offering only X25519 cannot connect.
        CHECK_THAT(conf, Catch::Contains("\nssl_ecdh_curve = 'secp384r1'\n"));
        CHECK(x25519.exit_code != 0);
        CHECK_THAT(x25519.err, Catch::Contains("handshake failure"));
    }
}

TEST_CASE("ssl_groups and ssl_tls13_ciphers load and apply on 18 and pgca refuses them before",
          "[pg][versions]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    const json settings = {{"ssl_groups", {"X25519", "prime256v1"}}, {"ssl_tls13_ciphers", {"TLS_AES_128_GCM_SHA256"}}};
    if (major() < 18) {
        TempDir tmp;
        write_file(tmp.file("p.json"), profile({{"postgres", major()}}, settings).dump());
        const ProcessResult r = run_pgca({"apply", tmp.file("p.json"), "--dir", tmp.file("pki")});
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("server_settings.ssl_groups: PostgreSQL 18 added ssl_groups"));
        // What the server itself does with it: the whole include is refused at reload.
        PgCluster& pg = PgCluster::shared();
        pg.set_case_conf("ssl_groups = 'X25519'\n");
        CHECK_THROWS_WITH(pg.reload(), Catch::Contains("unrecognized configuration parameter \"ssl_groups\""));
        pg.set_case_conf("");
        pg.reload();
        return;
    }
    AppliedServer s(profile({{"postgres", 18}}, settings).dump());
    s.start("db", {"alice"});
    CHECK(s.pg().psql_admin_checked("show ssl_groups") == "X25519:prime256v1");
    CHECK(s.pg().psql_admin_checked("show ssl_tls13_ciphers") == "TLS_AES_128_GCM_SHA256");
    require_login(s.connect("versions", "alice"));
    const ProcessResult x25519 = handshake(s, "X25519");
    INFO(x25519.out << x25519.err);
    CHECK_THAT(x25519.out, Catch::Contains("Server Temp Key: X25519") &&
                               Catch::Contains("Cipher is TLS_AES_128_GCM_SHA256"));
}

TEST_CASE("sslcertmode and require_auth and sslnegotiation work with a libpq that has them and break libpq 15",
          "[pg][versions]") {
    PGCA_REQUIRE_POSTGRES();
    if (major() == 15) {
        // The default targets keep them out, and pgca refuses them (tests/unit/targets_test.cpp);
        // here the measured reason: Debian's libpq 15 refuses the service file that holds one.
        AppliedServer s(profile({{"postgres", 15}}, json::object()).dump());
        s.start("db", {"alice"});
        require_login(s.connect("versions", "alice"));
        const std::string service = s.dir() + "/clients/alice/pg_service.conf";
        append_file(service, "sslcertmode=require\n");
        const ProcessResult r = s.connect("versions", "alice");
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("syntax error in service file \"" + service + "\""));
        return;
    }
    PGCA_REQUIRE_TOOL(!PgCluster::libpq_dir(major()).empty(), "the libpq of the PostgreSQL build under test");
    json client = {{"sslcertmode", "require"}, {"require_auth", "none"}};
    if (major() >= 17) client["sslnegotiation"] = "direct";
    AppliedServer s(profile({{"postgres", major()}, {"libpq", major()}}, json::object(), client).dump());
    s.start("db", {"alice"});
    const std::string service = read_file(s.dir() + "/clients/alice/pg_service.conf");
    CHECK_THAT(service, Catch::Contains("\nsslcertmode=require\n") && Catch::Contains("\nrequire_auth=none\n"));

    // Certificate authentication asks for no password: require_auth=none is met. With
    // sslnegotiation=direct libpq sends no SSLRequest and starts TLS at once (ALPN postgresql); a
    // server before 17 would read that as a startup packet and fail the connection.
    if (major() >= 17) CHECK_THAT(service, Catch::Contains("\nsslnegotiation=direct\n"));
    require_login(s.connect("versions", "alice", "", "", newer_libpq()));
    // The same service file is refused by Debian's libpq 15.
    const ProcessResult old = s.connect("versions", "alice");
    CHECK(old.exit_code != 0);
    CHECK_THAT(old.err, Catch::Contains("syntax error in service file"));
}
