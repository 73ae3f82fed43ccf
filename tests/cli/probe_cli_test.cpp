// pgca probe (the library and the binary) where nothing listens.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "pgca/error.hpp"
#include "pgca/probe.hpp"
#include "probe_support.hpp"
#include "process.hpp"

using namespace pgca::test;
using Catch::Matchers::Contains;

TEST_CASE("nothing listening is an io error, reported at once", "[probe]") {
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
