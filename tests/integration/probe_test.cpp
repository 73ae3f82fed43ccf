// pgca probe against a real PostgreSQL (every version of the matrix): the certificate `pgca apply`
// made is the one the server serves, it verifies against the pgca root and not against another,
// its names match as libpq's verify-full would match them, and a server without SSL and a direct
// TLS hello (which PostgreSQL 15 and 16 do not understand, 17 and later do) are reported as such. What a real server cannot be made to
// do (answer 'E', stuff bytes after 'S', show the ClientHello, speak PG17 direct TLS) is played by
// a loopback stand-in or by openssl s_server in tests/unit/probe_standin_test.cpp; a closed port
// is tests/cli/probe_cli_test.cpp.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "pg_cluster.hpp"
#include "pgca/certificate.hpp"
#include "pgca/error.hpp"
#include "pgca/probe.hpp"
#include "probe_support.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

json probe_profile() {
    return {
        {"pgca_profile", 1},
        {"name", "probe-test"},
        {"ca", {{"subject", {{"CN", "pgca probe test root"}, {"O", "pgca tests"}}}, {"key", "ec-p256"}, {"days", 3650}}},
        {"defaults", {{"key", "ec-p256"}, {"server_days", 397}}},
        {"servers", json::array({{{"name", "db1"}, {"hosts", {"localhost", "127.0.0.1"}}}})},
        {"server_settings", {{"ssl_min_protocol_version", "TLSv1.2"}}},
    };
}

// The process's PostgreSQL 15 (PgCluster::shared()) serving the certificate `pgca apply` made
// for server "db1".
class TlsServer {
public:
    TlsServer() {
        dir_ = tmp_.path() + "/pki";
        write_file(tmp_.path() + "/profile.json", probe_profile().dump(2));
        auto r = run({PGCA_BIN, "apply", tmp_.path() + "/profile.json", "--dir", dir_});
        INFO(describe({"pgca", "apply"}, r));
        REQUIRE(r.exit_code == 0);
        pg_ = &PgCluster::shared();
        PgCluster::chown_to_postgres(dir_ + "/servers/db1");
        pg_->set_case_conf("include '" + dir_ + "/servers/db1/postgresql.ssl.conf'\n");
        pg_->reload();
    }

    PgCluster& pg() { return *pg_; }
    int port() const { return pg_->port(); }
    std::string root() const { return dir_ + "/ca/root.crt"; }
    pgca::Certificate root_cert() const { return pgca::Certificate::from_pem(read_file(root()), "root.crt"); }
    pgca::Certificate leaf() const {
        return pgca::Certificate::from_pem(read_file(dir_ + "/servers/db1/server.crt"), "server.crt");
    }
    std::string scratch(const std::string& name) const { return tmp_.file(name); }

private:
    TempDir tmp_;
    std::string dir_;
    PgCluster* pg_ = nullptr;
};

}  // namespace

TEST_CASE("probe reports the certificate PostgreSQL serves, verified and name-checked", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    TlsServer s;
    pgca::CertInfo want = s.leaf().info();
    const std::size_t fds = open_fds();

    auto r = pgca::probe(options_for("127.0.0.1", s.port(), s.root()));
    CHECK(r.tls_version == "TLSv1.3");
    CHECK_FALSE(r.cipher.empty());
    CHECK(r.alpn.empty());  // SSLRequest mode offers no ALPN
    REQUIRE_FALSE(r.chain.empty());
    CHECK(r.chain[0].serial_hex() == want.serial_hex);
    CHECK(r.chain[0].sha256_fingerprint() == want.sha256_fingerprint);
    // server.crt holds only the leaf, but ssl_ca_file holds its issuer, so the server's OpenSSL
    // builds the chain from that store and serves the root as well (docs/postgres-facts.md §1.6).
    REQUIRE(r.chain.size() == 2);
    CHECK(r.chain[1].sha256_fingerprint() == s.root_cert().sha256_fingerprint());
    CHECK(r.verified);
    CHECK(r.verify_error.empty());
    CHECK(r.name_checked == "127.0.0.1");
    CHECK(r.name_matches);
    CHECK(r.days_left >= 396);
    CHECK(r.days_left <= 397);

    // By name: "localhost" may resolve to ::1 first, where nothing listens; the next address is tried.
    auto by_name = pgca::probe(options_for("localhost", s.port(), s.root()));
    CHECK(by_name.name_checked == "localhost");
    CHECK(by_name.name_matches);
    CHECK(by_name.verified);
    CHECK(by_name.chain[0].serial_hex() == want.serial_hex);

    // A name the certificate does not carry, pinned to the same address (host= plus hostaddr=).
    auto other = pgca::probe(options_for("127.0.0.1", s.port(), s.root(), "db.example.org"));
    CHECK(other.name_checked == "db.example.org");
    CHECK_FALSE(other.name_matches);
    CHECK(other.verified);

    // Without a CA file nothing is verified, but everything else is reported.
    auto unverified = pgca::probe(options_for("127.0.0.1", s.port()));
    CHECK_FALSE(unverified.verified);
    CHECK(unverified.verify_error.empty());
    CHECK(unverified.name_matches);
    CHECK(unverified.chain[0].serial_hex() == want.serial_hex);
    CHECK(open_fds() == fds);
}

TEST_CASE("pgca probe prints what the server serves and exits 0 only when every check passes", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    TlsServer s;
    pgca::CertInfo want = s.leaf().info();
    const std::string address = "127.0.0.1:" + std::to_string(s.port());

    auto ok = pgca_probe({address, "--ca", s.root(), "--name", "localhost"});
    INFO(ok.out << ok.err);
    CHECK(ok.exit_code == 0);
    CHECK_THAT(ok.out, Contains("TLSv1.3"));
    CHECK_THAT(ok.out, Contains("subject:   CN=localhost"));
    CHECK_THAT(ok.out, Contains("issuer:    CN=pgca probe test root,O=pgca tests"));
    CHECK_THAT(ok.out, Contains(want.serial_hex));
    CHECK_THAT(ok.out, Contains(pgca::format_time(want.not_after)));
    CHECK_THAT(ok.out, Contains("verified against " + s.root() + ": yes"));
    CHECK_THAT(ok.out, Contains("name localhost: matches"));
    CHECK_THAT(ok.out, Contains("days left:"));
    CHECK(ok.err.empty());

    auto js = pgca_probe({address, "--ca", s.root(), "--json"});
    INFO(js.out << js.err);
    CHECK(js.exit_code == 0);
    json j = json::parse(js.out);
    CHECK(j["host"] == "127.0.0.1");
    CHECK(j["port"] == s.port());
    CHECK(j["tls_version"] == "TLSv1.3");
    CHECK(j["alpn"] == "");
    REQUIRE(j["chain"].size() == 2);  // leaf, then the root the server's OpenSSL added
    CHECK(j["chain"][0]["serial"] == want.serial_hex);
    CHECK(j["chain"][0]["sha256_fingerprint"] == want.sha256_fingerprint);
    CHECK(j["chain"][0]["subject"] == "CN=localhost");
    CHECK(j["chain"][0]["not_after"] == pgca::format_time(want.not_after));
    CHECK(j["verified"] == true);
    CHECK(j["verify_error"] == "");
    CHECK(j["name"] == "127.0.0.1");
    CHECK(j["name_matches"] == true);
    CHECK(j["days_left"].get<long>() >= 396);

    // A name the certificate lacks: the report is printed, then the failed check, exit 1.
    auto wrong = pgca_probe({address, "--ca", s.root(), "--name", "db.example.org"});
    CHECK(wrong.exit_code == 1);
    CHECK_THAT(wrong.out, Contains("name db.example.org: does not match"));
    CHECK_THAT(wrong.err, Contains("pgca: error: "));
    CHECK_THAT(wrong.err, Contains("does not match the name \"db.example.org\""));
    CHECK_THAT(wrong.err, !Contains("verify against"));

    auto wrong_json = pgca_probe({address, "--json", "--name", "db.example.org"});
    CHECK(wrong_json.exit_code == 1);
    CHECK(json::parse(wrong_json.out)["name_matches"] == false);
}

TEST_CASE("a chain that does not lead to the given root is reported, with OpenSSL's reason", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    TlsServer s;
    const std::string other_root = s.scratch("other-root.crt");
    auto made = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", s.scratch("other-root.key"), "-out", other_root, "-subj", "/CN=Some Other Root",
                     "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
    INFO(describe({"openssl", "req"}, made));
    REQUIRE(made.exit_code == 0);

    auto r = pgca::probe(options_for("127.0.0.1", s.port(), other_root));
    CHECK_FALSE(r.verified);
    // The served chain ends in pgca's self-signed root, which this store does not trust.
    CHECK(r.verify_error == "self-signed certificate in certificate chain");
    CHECK(r.name_matches);  // the name is still checked, independently
    CHECK(r.chain.size() == 2);

    auto cli = pgca_probe({"127.0.0.1:" + std::to_string(s.port()), "--ca", other_root});
    CHECK(cli.exit_code == 1);
    CHECK_THAT(cli.out, Contains("verified against " + other_root + ": no (self-signed certificate in certificate chain)"));
    CHECK_THAT(cli.err, Contains("does not verify against " + other_root));
    CHECK_THAT(cli.err, !Contains("does not match the name"));

    // A CA file that holds no certificate is refused before anything is sent.
    write_file(s.scratch("empty.pem"), "");
    auto bad = probe_error(options_for("127.0.0.1", s.port(), s.scratch("empty.pem")));
    CHECK(bad.kind() == pgca::ErrorKind::input);
    CHECK_THAT(bad.what(), Contains(s.scratch("empty.pem")));
}

TEST_CASE("a server with ssl = off answers 'N', which probe reports as such", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();  // reset: ssl is off again
    REQUIRE(pg.psql_admin_checked("show ssl") == "off");

    const std::size_t fds = open_fds();
    auto e = probe_error(options_for("127.0.0.1", pg.port()));
    CHECK(open_fds() == fds);
    CHECK(e.kind() == pgca::ErrorKind::policy);
    CHECK_THAT(e.what(), Contains("127.0.0.1:" + std::to_string(pg.port()) + ": the server does not accept SSL"));

    auto cli = pgca_probe({"127.0.0.1:" + std::to_string(pg.port())});
    CHECK(cli.exit_code != 0);
    CHECK_THAT(cli.err, Contains("does not accept SSL"));
    CHECK(cli.out.empty());
}

TEST_CASE("direct TLS works from PostgreSQL 17 on, and is not understood before", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    TlsServer s;
    auto o = options_for("127.0.0.1", s.port(), s.root());
    o.direct = true;
    std::size_t offset = s.pg().log_size();
    const std::size_t fds = open_fds();
    if (s.pg().server_major() >= 17) {
        // The TLS handshake at once, with ALPN "postgresql" (docs/postgres-facts.md §4).
        const auto report = pgca::probe(o);
        CHECK(open_fds() == fds);
        CHECK(report.verified);
        CHECK(report.alpn == "postgresql");
        REQUIRE_FALSE(report.chain.empty());
        CHECK(report.chain.front().serial_hex() == s.leaf().serial_hex());
        auto cli = pgca_probe({"127.0.0.1:" + std::to_string(s.port()), "--ca", s.root(), "--direct"});
        INFO(cli.err);
        CHECK(cli.exit_code == 0);
        return;
    }
    CHECK_THROWS_AS(pgca::probe(o), pgca::Error);
    CHECK(open_fds() == fds);
    // The server read the ClientHello as a startup packet (docs/postgres-facts.md §4).
    std::string log;
    for (int i = 0; i < 50 && log.find("invalid length of startup packet") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        log = s.pg().log_since(offset);
    }
    CHECK_THAT(log, Contains("invalid length of startup packet"));
    // The server is still fine for a normal probe afterwards.
    CHECK(pgca::probe(options_for("127.0.0.1", s.port(), s.root())).verified);
}

