// pgca probe against a real PostgreSQL 15: the certificate `pgca apply` made is the one the
// server serves, it verifies against the pgca root and not against another, its names match as
// libpq's verify-full would match them, and a server without SSL, a closed port and a direct TLS
// hello (which PostgreSQL 15 does not understand) are reported as such. What a real server
// cannot be made to do (answer 'E', stuff bytes after 'S', show the ClientHello, speak PG17 direct
// TLS) is played by a loopback stand-in or by openssl s_server; those tests need no PostgreSQL.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg_cluster.hpp"
#include "pgca/certificate.hpp"
#include "pgca/error.hpp"
#include "loopback.hpp"
#include "pgca/probe.hpp"
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

// A PostgreSQL 15 serving the certificate `pgca apply` made for server "db1".
class TlsServer {
public:
    TlsServer() {
        dir_ = tmp_.path() + "/pki";
        write_file(tmp_.path() + "/profile.json", probe_profile().dump(2));
        auto r = run({PGCA_BIN, "apply", tmp_.path() + "/profile.json", "--dir", dir_});
        INFO(describe({"pgca", "apply"}, r));
        REQUIRE(r.exit_code == 0);
        pg_ = std::make_unique<PgCluster>(tmp_.path() + "/pg");
        PgCluster::chown_to_postgres(dir_ + "/servers/db1");
        pg_->append_conf("include '" + dir_ + "/servers/db1/postgresql.ssl.conf'\n");
        pg_->start();
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
    std::unique_ptr<PgCluster> pg_;
};

pgca::ProbeOptions options_for(const std::string& host, int port, const std::string& ca = "",
                               const std::string& name = "") {
    pgca::ProbeOptions o;
    o.host = host;
    o.port = port;
    o.ca_file = ca;
    o.server_name = name;
    o.timeout_ms = 5000;
    return o;
}

ProcessResult pgca_probe(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PGCA_BIN, "probe"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

// A loopback port nobody listens on (the kernel's pick, closed again at once).
int unused_port() {
    int port = 0;
    ::close(bind_loopback(0, port));
    return port;
}

// A one-connection stand-in for a PostgreSQL server on loopback, for what a real one cannot be
// made to do: it records the first 8 bytes, sends `reply`, records what the client sends next
// (the ClientHello, in plaintext) and hangs up; or, with `listen_after` false, hangs up at once.
class FakeServer {
public:
    explicit FakeServer(std::string reply, bool listen_after = true)
        : reply_(std::move(reply)), listen_after_(listen_after) {
        fd_ = bind_loopback(1, port_);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeServer() {
        ::shutdown(fd_, SHUT_RDWR);  // wakes accept() if nobody came
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
    }
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    int port() const { return port_; }
    // Waits for the connection to end; then what the client sent before and after the reply.
    std::string request() {
        finish();
        return request_;
    }
    std::string after_reply() {
        finish();
        return after_;
    }

private:
    void finish() {
        if (thread_.joinable()) thread_.join();
    }
    void serve() {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        timeval tv{5, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        while (request_.size() < 8) {
            ssize_t n = ::recv(c, buf, 8 - request_.size(), 0);
            if (n <= 0) break;
            request_.append(buf, static_cast<std::size_t>(n));
        }
        if (!reply_.empty()) ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        ssize_t n = listen_after_ ? ::recv(c, buf, sizeof buf, 0) : 0;
        if (n > 0) after_.assign(buf, static_cast<std::size_t>(n));
        ::close(c);
    }

    std::string reply_;
    bool listen_after_;
    int fd_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::string request_;
    std::string after_;
};

const std::string kSslRequest("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);

// How many file descriptors this process has open, to show that probe closes its socket.
std::size_t open_fds() {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

pgca::Error probe_error(const pgca::ProbeOptions& o) {
    try {
        (void)pgca::probe(o);
    } catch (const pgca::Error& e) {
        return e;
    }
    FAIL("probe succeeded");
    throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("probe reports the certificate PostgreSQL 15 serves, verified and name-checked", "[pg][probe]") {
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
    TempDir tmp;
    PgCluster pg(tmp.path() + "/pg");
    pg.start();
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

TEST_CASE("nothing listening is an io error, reported at once", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();  // no server is started; kept with the other [pg] tests
    const int port = unused_port();
    auto started = std::chrono::steady_clock::now();
    auto e = probe_error(options_for("127.0.0.1", port));
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(e.kind() == pgca::ErrorKind::io);
    CHECK_THAT(e.what(), Contains("cannot connect"));
    CHECK(took < std::chrono::seconds(2));

    auto cli = pgca_probe({"127.0.0.1:" + std::to_string(port), "--timeout", "2"});
    CHECK(cli.exit_code == 1);
    CHECK_THAT(cli.err, Contains("cannot connect"));
}

TEST_CASE("direct TLS is not understood by PostgreSQL 15", "[pg][probe]") {
    PGCA_REQUIRE_POSTGRES();
    TlsServer s;
    auto o = options_for("127.0.0.1", s.port(), s.root());
    o.direct = true;
    std::size_t offset = s.pg().log_size();
    const std::size_t fds = open_fds();
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

TEST_CASE("the SSLRequest and the one-byte answer, against a stand-in server", "[probe]") {
    SECTION("'N': SSL is off") {
        FakeServer fake("N");
        auto e = probe_error(options_for("127.0.0.1", fake.port()));
        CHECK(e.kind() == pgca::ErrorKind::policy);
        CHECK(std::string(e.what()) == "127.0.0.1:" + std::to_string(fake.port()) +
                                           ": the server does not accept SSL (answered 'N' to SSLRequest; is ssl = on?)");
        CHECK(fake.request() == kSslRequest);
        CHECK(fake.after_reply().empty());  // no StartupMessage in plaintext
    }
    SECTION("'E': an error before TLS is reported without its text (CVE-2024-10977)") {
        static const char error_response[] = "E\0\0\0\x27SFATAL\0Mplease type your password\0";  // + final NUL
        FakeServer fake(std::string(error_response, sizeof error_response));
        auto e = probe_error(options_for("127.0.0.1", fake.port()));
        CHECK(e.kind() == pgca::ErrorKind::io);
        CHECK_THAT(e.what(), Contains("error message"));
        CHECK_THAT(e.what(), !Contains("password"));
        CHECK_THAT(e.what(), !Contains("FATAL"));
    }
    SECTION("anything else is not PostgreSQL") {
        FakeServer fake("HTTP/1.1 400 Bad Request\r\n\r\n");
        auto e = probe_error(options_for("127.0.0.1", fake.port()));
        CHECK(e.kind() == pgca::ErrorKind::io);
        CHECK_THAT(e.what(), Contains("unexpected answer 0x48 to the SSLRequest"));
    }
    SECTION("the server hangs up") {
        FakeServer fake("", false);
        auto e = probe_error(options_for("127.0.0.1", fake.port()));
        CHECK(e.kind() == pgca::ErrorKind::io);
        CHECK_THAT(e.what(), Contains("closed the connection without answering the SSLRequest"));
    }
    SECTION("the server says nothing") {
        FakeServer fake("");
        auto o = options_for("127.0.0.1", fake.port());
        o.timeout_ms = 300;
        auto started = std::chrono::steady_clock::now();
        auto e = probe_error(o);
        CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
        CHECK(e.kind() == pgca::ErrorKind::io);
        CHECK_THAT(e.what(), Contains("timed out waiting for the answer to the SSLRequest after"));
        CHECK_THAT(e.what(), Contains("(the whole probe may take 300 ms)"));
    }
    SECTION("bytes after 'S' are left to TLS, never swallowed (CVE-2021-23222)") {
        // Were they read with the 'S', the handshake would wait and end at EOF instead.
        FakeServer fake("Sinjected plaintext");
        auto e = probe_error(options_for("127.0.0.1", fake.port()));
        CHECK(e.kind() == pgca::ErrorKind::crypto);
        CHECK_THAT(e.what(), Contains("TLS handshake failed"));
        CHECK_THAT(e.what(), !Contains("unexpected eof"));
        CHECK_THAT(e.what(), !Contains("closed the connection"));
    }
    SECTION("after 'S': SNI names the checked host, no ALPN is offered") {
        FakeServer fake("S");
        (void)probe_error(options_for("127.0.0.1", fake.port(), "", "db.example.test"));
        CHECK(fake.request() == kSslRequest);
        std::string hello = fake.after_reply();
        REQUIRE(hello.size() > 5);
        CHECK(hello[0] == '\x16');  // a TLS handshake record
        CHECK_THAT(hello, Contains("db.example.test"));
        CHECK_THAT(hello, !Contains("postgresql"));
    }
    SECTION("after 'S': no SNI for an IP literal") {
        FakeServer fake("S");
        (void)probe_error(options_for("127.0.0.1", fake.port()));
        std::string hello = fake.after_reply();
        REQUIRE(hello.size() > 5);
        CHECK_THAT(hello, !Contains("127.0.0.1"));
    }
    SECTION("direct: no SSLRequest, the ClientHello comes first") {
        FakeServer fake("");
        auto o = options_for("127.0.0.1", fake.port(), "", "localhost");
        o.direct = true;
        (void)probe_error(o);
        std::string first = fake.request();
        REQUIRE_FALSE(first.empty());
        CHECK(first[0] == '\x16');
    }
}

TEST_CASE("direct TLS offers ALPN \"postgresql\" (openssl s_server standing in for PostgreSQL 17)", "[probe]") {
    TempDir tmp;
    auto made = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", tmp.file("server.key"), "-out", tmp.file("server.crt"), "-subj", "/CN=localhost",
                     "-days", "30", "-addext", "subjectAltName=DNS:localhost"});
    INFO(describe({"openssl", "req"}, made));
    REQUIRE(made.exit_code == 0);

    const int port = unused_port();
    ProcessResult server;
    // -www does not read stdin (run() gives it EOF); -naccept 1 ends it after one connection.
    std::thread t([&] {
        server = run({"timeout", "20", "openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                      tmp.file("server.crt"), "-key", tmp.file("server.key"), "-alpn", "postgresql", "-naccept", "1",
                      "-www"});
    });
    auto o = options_for("127.0.0.1", port, tmp.file("server.crt"), "localhost");
    o.direct = true;
    pgca::ProbeResult r;
    bool done = false;
    std::string last_error;
    // A refused connect does not count as one of s_server's accepts, so retry until it listens.
    for (int i = 0; i < 100 && !done; ++i) {
        try {
            r = pgca::probe(o);
            done = true;
        } catch (const pgca::Error& e) {
            last_error = e.what();
            if (last_error.find("cannot connect") == std::string::npos) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    t.join();
    INFO(last_error);
    INFO(describe({"openssl", "s_server"}, server));
    REQUIRE(done);
    CHECK(r.alpn == "postgresql");
    CHECK(r.tls_version == "TLSv1.3");
    CHECK(r.verified);
    CHECK(r.name_matches);
    CHECK_THAT(server.out, Contains("ALPN protocols advertised by the client: postgresql"));
}
