// Time limits are real: a probe and a rotate --verify end when their time is up, whatever the
// server does; readers never wait for a writer; writers wait at most --lock-timeout and name the
// holder.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "loopback.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {

// Far beyond every limit the tests set, far below a hang: the stand-ins give up by then, so a
// pgca that does not keep its limit fails the test instead of hanging it.
constexpr auto kHangGuard = std::chrono::seconds(15);

using test::pgca_run;

// A server on 127.0.0.1 (a free port) that answers every connection one byte every half second,
// for 20 s at most: after an 'S' for the SSLRequest (unless `direct`), the header of a TLS
// handshake record of 16,000 bytes, then its body, byte by byte. Every single read succeeds
// within half a second, so only a limit on the whole exchange ends a client.
class DripServer {
public:
    explicit DripServer(bool direct) : direct_(direct) {
        fd_ = test::bind_loopback(4, port_);
        thread_ = std::thread([this] { serve(); });
    }
    ~DripServer() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    DripServer(const DripServer&) = delete;
    DripServer& operator=(const DripServer&) = delete;

    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            drip(c);
            ::close(c);
        }
    }

    void drip(int c) {
        std::string bytes = direct_ ? "" : "S";
        bytes += std::string("\x16\x03\x03\x3e\x80", 5) + std::string(16000, '\x02');
        if (!direct_) {
            char request[8];
            std::size_t got = 0;
            const auto until = Clock::now() + std::chrono::seconds(5);
            while (got < sizeof request && !stop_ && Clock::now() < until) {
                pollfd p{c, POLLIN, 0};
                if (::poll(&p, 1, 100) <= 0) continue;
                ssize_t n = ::recv(c, request + got, sizeof request - got, 0);
                if (n <= 0) return;
                got += static_cast<std::size_t>(n);
            }
        }
        const auto until = Clock::now() + std::chrono::seconds(20);
        for (std::size_t i = 0; i < bytes.size() && !stop_ && Clock::now() < until; ++i) {
            if (::send(c, &bytes[i], 1, MSG_NOSIGNAL) != 1) return;
            for (int slice = 0; slice < 5 && !stop_; ++slice) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

    bool direct_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Another process holding DIR's lock exactly as a pgca writer does (io::DirLock, which records
// its pid), until it is killed or 20 s have passed.
class LockHolder {
public:
    explicit LockHolder(const std::string& dir) {
        int ready[2];
        if (::pipe(ready) != 0) throw std::runtime_error("pipe");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork");
        if (pid_ == 0) {
            ::close(ready[0]);
            try {
                io::DirLock lock(dir);
                (void)!::write(ready[1], "x", 1);
                ::sleep(20);
            } catch (...) {
            }
            ::_exit(0);
        }
        ::close(ready[1]);
        char c = 0;
        bool locked = ::read(ready[0], &c, 1) == 1;
        ::close(ready[0]);
        if (!locked) throw std::runtime_error("the lock holder could not take the lock");
    }
    ~LockHolder() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    LockHolder(const LockHolder&) = delete;
    LockHolder& operator=(const LockHolder&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

// A folder with a root CA and one server certificate.
std::string make_pki(const test::TempDir& tmp) {
    std::string dir = tmp.path() + "/pki";
    auto r = pgca_run({"init", "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    r = pgca_run({"issue", "server", "--dir", dir, "--name", "db1", "--host", "localhost"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return dir;
}

}  // namespace

TEST_CASE("probe --timeout bounds the whole exchange, not each read", "[probe][limits]") {
    for (bool direct : {false, true}) {
        INFO((direct ? "--direct" : "SSLRequest"));
        DripServer server(direct);
        std::vector<std::string> args{"probe", server.address(), "--timeout", "2"};
        if (direct) args.push_back("--direct");
        const auto started = Clock::now();
        auto r = pgca_run(args);
        const auto took = Clock::now() - started;
        INFO(r.err);
        CHECK(took < kHangGuard);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.err, Contains(server.address() + ": timed out during the TLS handshake after"));
        CHECK_THAT(r.err, Contains("(the whole probe may take 2000 ms)"));
    }
}

TEST_CASE("rotate --verify-timeout bounds the whole verify loop", "[rotate][limits]") {
    test::TempDir tmp;
    std::string dir = make_pki(tmp);
    DripServer server(false);
    const auto started = Clock::now();
    auto r = pgca_run({"rotate", "--dir", dir, "--force", "--verify", server.address(), "--verify-name", "localhost",
                       "--verify-timeout", "2"});
    const auto took = Clock::now() - started;
    INFO(r.out << r.err);
    CHECK(took < kHangGuard);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("verify " + server.address() + " (--verify-timeout 2 s)"));
    CHECK_THAT(r.err, Contains("timed out during the TLS handshake"));
    // The probe got the time left of the two seconds, not a limit of its own.
    auto at = r.err.find("may take ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoi(r.err.substr(at + 9)) <= 2000);
    CHECK_THAT(r.out, Contains("rotate   server db1"));  // the rotation itself was done
}

TEST_CASE("list answers while a writer holds the folder's lock, and changes nothing", "[list][limits]") {
    test::TempDir tmp;
    std::string dir = make_pki(tmp);
    // What a killed writer leaves: a reader must not sweep it (only the next writer does).
    test::write_file(dir + "/.pgca-writing", "pgca was writing files\n", 0600);
    test::write_file(dir + "/.pgca-tmp-0123456789ab", "half", 0600);
    LockHolder holder(dir);
    const auto started = Clock::now();
    auto r = pgca_run({"list", "--dir", dir});
    const auto took = Clock::now() - started;
    INFO(r.err);
    CHECK(took < kHangGuard);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Contains("db1"));
    CHECK(r.err.empty());  // no wait, so no "waiting for the lock" line
    CHECK(io::exists(dir + "/.pgca-writing"));
    CHECK(io::exists(dir + "/.pgca-tmp-0123456789ab"));
    CHECK_FALSE(io::exists(dir + "/pgca.db-wal"));  // nor does the ledger keep files of the reader's
    CHECK_FALSE(io::exists(dir + "/pgca.db-shm"));
}

TEST_CASE("a writer waits at most --lock-timeout, then names the holder", "[lock][limits]") {
    test::TempDir tmp;
    std::string dir = make_pki(tmp);
    LockHolder holder(dir);
    const std::string pid = std::to_string(holder.pid());
    const auto started = Clock::now();
    auto r = pgca_run({"issue", "client", "--dir", dir, "--user", "bob", "--lock-timeout", "2"});
    const auto took = Clock::now() - started;
    INFO(r.err);
    CHECK(took < kHangGuard);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("pgca: waiting for the lock held by pid " + pid + " ("));
    CHECK_THAT(r.err, Contains("is locked by pid " + pid + " ("));
    CHECK_THAT(r.err, Contains(", since "));
    CHECK_THAT(r.err, Contains("gave up after 2 s (--lock-timeout)"));
    CHECK_FALSE(io::exists(dir + "/clients/bob"));

    for (auto args : std::vector<std::vector<std::string>>{
             {"crl", "--dir", dir, "--lock-timeout", "0"},
             {"revoke", "--dir", dir, "--server", "db1", "--lock-timeout", "0"},
             {"rotate", "--dir", dir, "--force", "--lock-timeout", "0"},
             {"init", "--dir", dir, "--lock-timeout", "0"},
             {"apply", std::string(PGCA_SOURCE_DIR) + "/profiles/local-dev.json", "--dir", dir, "--lock-timeout", "0"}}) {
        auto w = pgca_run(args);
        INFO(args.front() << ": " << w.err);
        CHECK(w.exit_code == 1);
        CHECK_THAT(w.err, Contains("is locked by pid " + pid));
    }
    CHECK(pgca_run({"crl", "--dir", dir, "--lock-timeout", "-1"}).exit_code == 2);
}

TEST_CASE("a writer takes the lock once its holder is gone", "[lock][limits]") {
    test::TempDir tmp;
    std::string dir = make_pki(tmp);
    {
        LockHolder holder(dir);
    }
    auto r = pgca_run({"crl", "--dir", dir, "--lock-timeout", "0"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
}
