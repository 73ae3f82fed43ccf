// pgca connect's lines: each driver's syntax and escaping, and the settings it cannot take.
// (tests/integration/drivers_test.cpp connects with every one of them.)
#include <catch2/catch.hpp>

#include "pgca/connect.hpp"
#include "pgca/error.hpp"

using namespace pgca;

namespace {

const std::string kDir = "/tmp/a b/it's \\ & #%+";

ClientBundle bundle(bool pk8 = false) {
    ClientBundle b{"o'k u", kDir + "/root.crt", kDir + "/postgresql.crt", kDir + "/postgresql.key", "", "", ""};
    if (pk8) b.pk8 = kDir + "/postgresql.pk8";
    return b;
}

const Endpoint kServer{"server", "db", {"localhost", "127.0.0.1"}, 6543};

}  // namespace

TEST_CASE("libpq and psycopg get a conninfo with quoted values", "[connect]") {
    for (Driver d : {Driver::libpq, Driver::psycopg}) {
        auto l = render_connect(d, kServer, bundle(), "my db", {{"sslmode", "verify-full"}, {"application_name", "x"}});
        CHECK(l.line ==
              "host=localhost port=6543 dbname='my db' user='o\\'k u' sslmode=verify-full "
              "sslrootcert='/tmp/a b/it\\'s \\\\ & #%+/root.crt' sslcert='/tmp/a b/it\\'s \\\\ & #%+/postgresql.crt' "
              "sslkey='/tmp/a b/it\\'s \\\\ & #%+/postgresql.key' application_name=x");
        CHECK(l.warnings.empty());
    }
}

TEST_CASE("URL drivers get percent-encoded values, IPv6 hosts in brackets", "[connect]") {
    auto l = render_connect(Driver::pgx, kServer, bundle(), "my db", {{"sslmode", "verify-full"}});
    CHECK(l.line ==
          "postgresql://o%27k%20u@localhost:6543/my%20db?sslmode=verify-full"
          "&sslrootcert=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/root.crt"
          "&sslcert=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/postgresql.crt"
          "&sslkey=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/postgresql.key");
    const Endpoint v6{"server", "db", {"::1"}, 5432};
    CHECK_THAT(render_connect(Driver::asyncpg, v6, bundle(), "d", {}).line,
               Catch::StartsWith("postgresql://o%27k%20u@[::1]:5432/d?sslmode=verify-full&"));
}

TEST_CASE("settings a driver would send to the server as parameters are left out with a warning", "[connect]") {
    const std::map<std::string, std::string> s{{"sslmode", "verify-full"}, {"channel_binding", "require"},
                                               {"application_name", "app"}, {"connect_timeout", "5"}};
    auto pgx = render_connect(Driver::pgx, kServer, bundle(), "d", s);
    CHECK_THAT(pgx.line, Catch::EndsWith("&application_name=app&connect_timeout=5"));
    REQUIRE(pgx.warnings.size() == 1);
    CHECK(pgx.warnings[0] == "client_settings.channel_binding is left out: pgx has no such setting");
    auto asyncpg = render_connect(Driver::asyncpg, kServer, bundle(), "d", s);
    CHECK_THAT(asyncpg.line, Catch::EndsWith("&application_name=app"));
    CHECK(asyncpg.warnings.size() == 2);
}

TEST_CASE("jdbc needs postgresql.pk8 or postgresql.p12", "[connect]") {
    CHECK_THROWS_WITH(render_connect(Driver::jdbc, kServer, bundle(false), "d", {}),
                      Catch::Contains("pgjdbc cannot read the PEM key postgresql.key and the bundle has no "
                                      "postgresql.pk8 or postgresql.p12"));
    auto l = render_connect(Driver::jdbc, kServer, bundle(true), "d", {{"connect_timeout", "5"}});
    CHECK(l.line ==
          "jdbc:postgresql://localhost:6543/d?user=o%27k%20u&sslmode=verify-full"
          "&sslrootcert=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/root.crt"
          "&sslcert=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/postgresql.crt"
          "&sslkey=/tmp/a%20b/it%27s%20%5C%20%26%20%23%25%2B/postgresql.pk8&connectTimeout=5");
    ClientBundle p12 = bundle(false);
    p12.p12 = kDir + "/postgresql.p12";
    p12.p12_passphrase = "s&cret";
    l = render_connect(Driver::jdbc, kServer, p12, "d", {});
    CHECK_THAT(l.line, Catch::EndsWith("/postgresql.p12&sslpassword=s%26cret"));
    CHECK(l.warnings.size() == 1);
}

TEST_CASE("npgsql gets a connection string with quoted values", "[connect]") {
    ClientBundle b = bundle();
    b.user = "a;b\"c";
    auto l = render_connect(Driver::npgsql, kServer, b, "d", {{"sslmode", "verify-ca"}});
    CHECK(l.line == "Host=localhost;Port=6543;Database=d;Username=\"a;b\"\"c\";SSL Mode=VerifyCA;"
                    "Root Certificate=\"/tmp/a b/it's \\ & #%+/root.crt\";"
                    "SSL Certificate=\"/tmp/a b/it's \\ & #%+/postgresql.crt\";"
                    "SSL Key=\"/tmp/a b/it's \\ & #%+/postgresql.key\"");
}

TEST_CASE("driver names", "[connect]") {
    CHECK(driver_names() == "libpq, jdbc, psycopg, asyncpg, node, pgx, npgsql");
    CHECK(parse_driver("node") == Driver::node);
    CHECK_FALSE(parse_driver("odbc"));
}
