// libpq's verify-full host name rules (docs/postgres-facts.md §3.7) as pgca probe applies them, on
// certificate facts written by hand; and the HOST:PORT syntax of `pgca probe`.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgca/error.hpp"
#include "pgca/probe.hpp"

using pgca::CertInfo;
using pgca::libpq_name_matches;

namespace {

CertInfo leaf(std::vector<std::string> dns, std::vector<std::string> ips, std::string cn = "") {
    CertInfo ci;
    ci.dns_names = std::move(dns);
    ci.ip_addresses = std::move(ips);
    ci.common_name = std::move(cn);
    return ci;
}

}  // namespace

TEST_CASE("DNS names compare case-insensitively", "[probe][name]") {
    auto ci = leaf({"db1.Example.com", "localhost"}, {"127.0.0.1"});
    CHECK(libpq_name_matches(ci, "db1.example.com"));
    CHECK(libpq_name_matches(ci, "DB1.EXAMPLE.COM"));
    CHECK(libpq_name_matches(ci, "LocalHost"));
    CHECK_FALSE(libpq_name_matches(ci, "db2.example.com"));
    CHECK_FALSE(libpq_name_matches(ci, "db1.example.com."));
    CHECK_FALSE(libpq_name_matches(ci, "example.com"));
    CHECK_FALSE(libpq_name_matches(ci, ""));
}

TEST_CASE("a wildcard covers exactly one left-most label", "[probe][name]") {
    auto ci = leaf({"*.example.test"}, {});
    CHECK(libpq_name_matches(ci, "a.example.test"));
    CHECK(libpq_name_matches(ci, "A.EXAMPLE.TEST"));
    CHECK(libpq_name_matches(ci, "db-1.example.test"));
    CHECK_FALSE(libpq_name_matches(ci, "a.b.example.test"));
    CHECK_FALSE(libpq_name_matches(ci, "example.test"));
    CHECK_FALSE(libpq_name_matches(ci, ".example.test"));
    CHECK_FALSE(libpq_name_matches(ci, "a.example.testx"));
    // Only a leading "*." is a wildcard.
    CHECK_FALSE(libpq_name_matches(leaf({"db*.example.test"}, {}), "db1.example.test"));
    CHECK_FALSE(libpq_name_matches(leaf({"a.*.example.test"}, {}), "a.b.example.test"));
    CHECK_FALSE(libpq_name_matches(leaf({"*"}, {}), "localhost"));
    // The host is never a pattern.
    CHECK_FALSE(libpq_name_matches(leaf({"a.example.test"}, {}), "*.example.test"));
}

TEST_CASE("an IP host compares bytes with iPAddress SANs, and strings with dNSName SANs", "[probe][name]") {
    auto ci = leaf({"localhost"}, {"127.0.0.1", "::1"});
    CHECK(libpq_name_matches(ci, "127.0.0.1"));
    CHECK(libpq_name_matches(ci, "::1"));
    CHECK(libpq_name_matches(ci, "0:0:0:0:0:0:0:1"));  // the same 16 bytes
    CHECK_FALSE(libpq_name_matches(ci, "127.0.0.2"));
    CHECK_FALSE(libpq_name_matches(ci, "::2"));
    // libpq parses IPv4 with inet_aton, so the short notations are the same address.
    CHECK(libpq_name_matches(ci, "127.1"));
    // No IPv4-mapped IPv6 equivalence, in either direction.
    CHECK_FALSE(libpq_name_matches(leaf({}, {"::ffff:127.0.0.1"}), "127.0.0.1"));
    CHECK_FALSE(libpq_name_matches(leaf({}, {"127.0.0.1"}), "::ffff:127.0.0.1"));
    // DNS:127.0.0.1 matches host 127.0.0.1, as a string.
    CHECK(libpq_name_matches(leaf({"127.0.0.1"}, {}), "127.0.0.1"));
    CHECK(libpq_name_matches(leaf({"127.0.0.1"}, {"10.0.0.1"}), "127.0.0.1"));
    // An IP SAN never matches a DNS host, even one spelled like its text.
    CHECK_FALSE(libpq_name_matches(leaf({}, {"127.0.0.1"}, "db"), "localhost.invalid"));
}

TEST_CASE("the CN counts only when there is no SAN of the host's own type", "[probe][name]") {
    // A DNS host: DNS SANs present, so the CN is ignored.
    CHECK_FALSE(libpq_name_matches(leaf({"other.example.com"}, {}, "db.example.com"), "db.example.com"));
    // A DNS host with only IP SANs falls back to the CN (verified against libpq 15).
    CHECK(libpq_name_matches(leaf({}, {"127.0.0.1"}, "localhost"), "localhost"));
    CHECK(libpq_name_matches(leaf({}, {}, "LOCALHOST"), "localhost"));
    CHECK(libpq_name_matches(leaf({}, {}, "*.example.com"), "db.example.com"));
    CHECK_FALSE(libpq_name_matches(leaf({}, {}, "*.example.com"), "a.db.example.com"));
    // An IP host with only DNS SANs falls back to the CN, against RFC 6125, like libpq.
    CHECK(libpq_name_matches(leaf({"db.example.com"}, {}, "127.0.0.1"), "127.0.0.1"));
    // An IP host with an IP SAN: the CN is ignored.
    CHECK_FALSE(libpq_name_matches(leaf({}, {"10.0.0.1"}, "127.0.0.1"), "127.0.0.1"));
    // An unparsable iPAddress SAN still counts as one.
    CHECK_FALSE(libpq_name_matches(leaf({}, {"<5-byte address>"}, "127.0.0.1"), "127.0.0.1"));
    // No names at all.
    CHECK_FALSE(libpq_name_matches(leaf({}, {}, ""), "localhost"));
}

TEST_CASE("a name with an embedded NUL never matches", "[probe][name]") {
    std::string evil("db.example.com\0.evil.test", 25);
    CHECK_FALSE(libpq_name_matches(leaf({evil}, {}), "db.example.com"));
    CHECK_FALSE(libpq_name_matches(leaf({}, {}, evil), "db.example.com"));
}

TEST_CASE("parse_host_port", "[probe]") {
    std::string host;
    int port = 0;
    pgca::parse_host_port("db.example.com:5433", host, port);
    CHECK(host == "db.example.com");
    CHECK(port == 5433);
    pgca::parse_host_port("localhost", host, port);
    CHECK(host == "localhost");
    CHECK(port == 5432);
    pgca::parse_host_port("[::1]:5433", host, port);
    CHECK(host == "::1");
    CHECK(port == 5433);
    pgca::parse_host_port("[::1]", host, port);
    CHECK(host == "::1");
    CHECK(port == 5432);
    pgca::parse_host_port("::1", host, port);
    CHECK(host == "::1");
    CHECK(port == 5432);
    pgca::parse_host_port("127.0.0.1:65535", host, port);
    CHECK(host == "127.0.0.1");
    CHECK(port == 65535);

    for (const char* bad : {"", ":5432", "host:", "host:0", "host:65536", "host:99999999999", "host:54x",
                            "host:-1", "host:+5", "[::1", "[::1]x", "[::1]:", "[]:5432"}) {
        INFO(bad);
        try {
            pgca::parse_host_port(bad, host, port);
            FAIL("accepted");
        } catch (const pgca::Error& e) {
            CHECK(e.kind() == pgca::ErrorKind::usage);
        }
    }
}
