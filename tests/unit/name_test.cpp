#include <catch2/catch.hpp>

#include "pgca/error.hpp"
#include "pgca/name.hpp"

using namespace pgca;

TEST_CASE("subjects keep the conventional order whatever order they were given in", "[name]") {
    DistinguishedName a;
    a.set("CN", "bob");
    a.set("C", "US");
    a.set("OU", "DBA");
    a.set("O", "Example Org");
    // RFC 2253 lists the most specific RDN first, exactly as PostgreSQL's clientname=DN does.
    CHECK(a.rfc2253() == "CN=bob,OU=DBA,O=Example Org,C=US");
}

TEST_CASE("RFC 2253 escaping matches what PostgreSQL compares (docs/postgres-facts.md §2.4)", "[name]") {
    DistinguishedName frank;
    frank.set("O", "Acme, Inc.");
    frank.set("CN", "frank");
    CHECK(frank.rfc2253() == "CN=frank,O=Acme\\, Inc.");

    DistinguishedName jose;
    jose.set("O", "Caf\xc3\xa9 Ltd");
    jose.set("CN", "jos\xc3\xa9");
    CHECK(jose.rfc2253() == "CN=jos\\C3\\A9,O=Caf\\C3\\A9 Ltd");
}

TEST_CASE("subject values that could inject a line or an RDN are refused", "[name]") {
    DistinguishedName dn;
    CHECK_THROWS_WITH(dn.set("CN", "alice\nhostssl all all 0.0.0.0/0 trust"), Catch::Contains("control character"));
    CHECK_THROWS_WITH(dn.set("CN", std::string("a\0b", 3)), Catch::Contains("control character"));
    CHECK_THROWS_WITH(dn.set("CN", "\xff\xfe"), Catch::Contains("UTF-8"));
    CHECK_THROWS_WITH(dn.set("CN", ""), Catch::Contains("empty"));
    CHECK_THROWS_WITH(dn.set("CN", std::string(65, 'x')), Catch::Contains("64"));
    CHECK_THROWS_WITH(dn.set("C", "USA"), Catch::Contains("two-letter"));
    CHECK_THROWS_WITH(dn.set("XX", "y"), Catch::Contains("unknown subject attribute"));
    CHECK(dn.empty());
}

TEST_CASE("hosts: IP literals, RFC 1123 names and wildcards", "[name]") {
    CHECK(is_ip_literal("127.0.0.1"));
    CHECK(is_ip_literal("::1"));
    CHECK_FALSE(is_ip_literal("localhost"));
    CHECK_NOTHROW(validate_host("db1.example.com", "host"));
    CHECK_NOTHROW(validate_host("*.db.example.com", "host"));
    CHECK_NOTHROW(validate_host("10.0.0.1", "host"));
    CHECK_THROWS_WITH(validate_host("db_1.example.com", "host"), Catch::Contains("'_'"));
    CHECK_THROWS_WITH(validate_host("-db.example.com", "host"), Catch::Contains("'-'"));
    CHECK_THROWS_WITH(validate_host("db..example.com", "host"), Catch::Contains("empty label"));
    CHECK_THROWS_WITH(validate_host("db.example.com\n", "host"), Catch::Contains("control character"));
    CHECK_THROWS(validate_host(std::string(64, 'a') + ".com", "host"));
}
