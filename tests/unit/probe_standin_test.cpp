// pgca::probe against what a real PostgreSQL 15 cannot be made to do: a loopback stand-in that
// answers 'E', stuffs bytes after 'S' or shows the ClientHello, and openssl s_server speaking
// PostgreSQL 17's direct TLS. The probe of a real server: tests/integration/probe_test.cpp.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "pgca/error.hpp"
#include "pgca/probe.hpp"
#include "probe_support.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using Catch::Matchers::Contains;

namespace {

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

}  // namespace

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
    PGCA_REQUIRE_OPENSSL();
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
