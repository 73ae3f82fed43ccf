// The contract of pgca/ledger.hpp (the cases of tests/support/ledger_conformance.hpp), run
// against the sqlite and memory backends; tests/integration/ledger_postgres_test.cpp runs the
// same cases against PostgreSQL.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>

#include "ledger_conformance.hpp"
#include "pgca/error.hpp"
#include "pgca/ledger.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

struct Backend {
    const char* name;
    // A new, empty ledger; `dir` is a fresh folder the backend may use.
    std::function<std::unique_ptr<Ledger>(const std::string& dir)> open;
};

const Backend kBackends[] = {
    {"sqlite", [](const std::string& dir) { return open_ledger("sqlite:" + dir + "/pgca.db"); }},
    {"memory", [](const std::string&) { return open_ledger("memory:"); }},
};

}  // namespace

TEST_CASE("ledger contract: every case on every embedded backend", "[ledger][conformance]") {
    for (const auto& backend : kBackends)
        for (const auto& c : test::ledger_contract::cases())
            DYNAMIC_SECTION(backend.name << ": " << c.name) {
                test::TempDir tmp;
                auto ledger = backend.open(tmp.path());
                REQUIRE(ledger);
                c.run(*ledger);
            }
}

TEST_CASE("ledger URLs: sqlite:, memory: and PostgreSQL open, anything else is a usage error", "[ledger]") {
    test::TempDir tmp;
    auto refused = [](const std::string& url, const std::string& part) {
        try {
            (void)open_ledger(url);
            FAIL(url << " was opened");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::usage);
            CHECK_THAT(e.what(), Catch::Contains("\"" + url + "\"") && Catch::Contains(part) &&
                                     Catch::Contains("supported: sqlite:PATH, memory:, postgresql://"));
        }
    };
    refused("mysql://db/pgca", "unknown scheme");
    refused("mysql://db/pgca?x=1", "unknown scheme");  // an `=` after a scheme is no conninfo
    refused(tmp.path() + "/pgca.db", "unknown scheme");  // a bare path is not a URL
    try {
        (void)open_ledger("sqlite:");
        FAIL("sqlite: without a file was opened");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::usage);
    }
    CHECK(open_ledger("memory:")->list().empty());
    // A relative path is the working directory's.
    const std::string cwd = std::filesystem::current_path();
    std::filesystem::current_path(tmp.path());
    auto l = open_ledger("sqlite:relative.db");
    l->set_meta("k", "v");
    l.reset();
    std::filesystem::current_path(cwd);
    CHECK(std::filesystem::exists(tmp.path() + "/relative.db"));
    CHECK(open_ledger("sqlite:" + tmp.path() + "/relative.db", {true})->get_meta("k") == std::optional<std::string>("v"));
}

TEST_CASE("ledger URLs: a PostgreSQL ledger that cannot be reached is named without its password", "[ledger]") {
    // Port 1 on loopback: refused at once, no server needed.
    for (const char* url : {"postgresql://ca:s3cret-pw@127.0.0.1:1/pgca?connect_timeout=5",
                                  "postgres://ca:s3cret-pw@127.0.0.1:1/pgca?connect_timeout=5",
                                  "host=127.0.0.1 port=1 dbname=pgca user=ca password=s3cret-pw connect_timeout=5"}) {
        INFO(url);
        try {
            (void)open_ledger(url);
            FAIL("an unreachable ledger was opened");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::ledger);
            CHECK_THAT(e.what(), Catch::Contains("host=127.0.0.1 port=1 dbname=pgca user=ca"));
            CHECK_THAT(e.what(), !Catch::Contains("s3cret-pw"));
        }
    }
    // A conninfo that does not parse is a usage error, and shows nothing of itself.
    try {
        (void)open_ledger("host=127.0.0.1 password='s3cret-pw");
        FAIL("an unparsable conninfo was accepted");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::usage);
        CHECK_THAT(e.what(), !Catch::Contains("s3cret-pw"));
    }
}
