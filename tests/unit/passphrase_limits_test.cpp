// A passphrase command is bounded: in time (PGCA_PASSPHRASE_TIMEOUT, default 30 s) and in output
// (64 KiB); past either it is killed, with its process group, and the error says which limit.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>

#include "pgca/error.hpp"
#include "pgca/secret.hpp"

using namespace pgca;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {

// Far beyond the limits set here, far below a hang.
constexpr auto kHangGuard = std::chrono::seconds(15);

}  // namespace

TEST_CASE("a passphrase command is bounded in output and in time", "[secret][limits]") {
    ::unsetenv("PGCA_PASSPHRASE_TIMEOUT");
    const PassphraseSource yes{PassphraseSource::Kind::command, "yes"};
    auto started = Clock::now();
    CHECK_THROWS_WITH(read_passphrase(yes), Contains("command `yes` printed more than 64 KiB; stopped it"));
    CHECK(Clock::now() - started < kHangGuard);

    ::setenv("PGCA_PASSPHRASE_TIMEOUT", "1", 1);
    for (const char* command : {"sleep 100", "exec >&-; sleep 100", "echo early; sleep 100 & wait"}) {
        INFO(command);
        started = Clock::now();
        CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::command, command}),
                          Contains("did not finish within 1 s; stopped it (PGCA_PASSPHRASE_TIMEOUT sets the limit)"));
        CHECK(Clock::now() - started < kHangGuard);
    }
    CHECK(read_passphrase({PassphraseSource::Kind::command, "printf 'from command\\nmore\\n'"}) == "from command");
    ::setenv("PGCA_PASSPHRASE_TIMEOUT", "soon", 1);
    CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::command, "echo x"}),
                      Contains("PGCA_PASSPHRASE_TIMEOUT=\"soon\": must be a whole number of seconds"));
    ::unsetenv("PGCA_PASSPHRASE_TIMEOUT");
    CHECK(read_passphrase({PassphraseSource::Kind::command, "echo ok"}) == "ok");
}
