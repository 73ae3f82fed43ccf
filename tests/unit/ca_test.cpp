#include <catch2/catch.hpp>

#include <algorithm>
#include <ctime>

#include "pgca/ca.hpp"
#include "pgca/error.hpp"

using namespace pgca;

namespace {

DistinguishedName cn(const std::string& name) { return DistinguishedName::with_cn(name); }

}  // namespace

TEST_CASE("a root CA is self-signed, marked CA, and may only sign certificates and CRLs", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p256, 3650);
    CertInfo ci = root.certificate().info();
    CHECK(ci.is_ca);
    CHECK(ci.subject == "CN=Test Root");
    CHECK(ci.issuer == ci.subject);
    CHECK(root.certificate().issued_by(root.certificate()));
    CHECK(ci.key_usage == std::vector<std::string>{"keyCertSign", "cRLSign"});
    CHECK(ci.extended_key_usage.empty());
    CHECK_FALSE(ci.subject_key_id.empty());
    CHECK(ci.authority_key_id == ci.subject_key_id);
    CHECK(ci.signature_algorithm == "ecdsa-with-SHA256");
    CHECK(root.certificate().matches(root.key()));
}

TEST_CASE("a CA key is never Ed25519", "[ca]") {
    CHECK_THROWS_WITH(CertificateAuthority::create_root(cn("Ed Root"), KeyAlg::ed25519, 10),
                      Catch::Contains("channel binding"));
}

TEST_CASE("server certificates carry every host as a SAN of the right type", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p384, 3650);
    PrivateKey key = PrivateKey::generate(KeyAlg::rsa_2048);
    Certificate cert = root.issue_server(key, cn("db1.example.com"), {"db1.example.com", "localhost", "127.0.0.1", "::1"}, 397);
    CertInfo ci = cert.info();
    CHECK_FALSE(ci.is_ca);
    CHECK(ci.dns_names == std::vector<std::string>{"db1.example.com", "localhost"});
    CHECK(ci.ip_addresses == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK(ci.extended_key_usage == std::vector<std::string>{"serverAuth"});
    // RSA leaves also need keyEncipherment; everyone needs digitalSignature (Java, .NET enforce it).
    CHECK(ci.key_usage == std::vector<std::string>{"digitalSignature", "keyEncipherment"});
    CHECK(ci.signature_algorithm == "ecdsa-with-SHA384");
    CHECK(ci.authority_key_id == root.certificate().info().subject_key_id);
    CHECK(cert.issued_by(root.certificate()));
    CHECK(cert.matches(key));
    CHECK_FALSE(cert.matches(root.key()));
}

TEST_CASE("client certificates: CN is the role, clientAuth, no SAN", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p256, 3650);
    auto inter = root.create_intermediate(cn("Test Issuing"), KeyAlg::ec_p256, 1825);
    CertInfo ii = inter.certificate().info();
    CHECK(ii.is_ca);
    CHECK(ii.path_len == 0);
    CHECK(inter.certificate().issued_by(root.certificate()));

    PrivateKey key = PrivateKey::generate(KeyAlg::ed25519);
    Certificate cert = inter.issue_client(key, cn("Alice"), 365);
    CertInfo ci = cert.info();
    CHECK(ci.common_name == "Alice");
    CHECK(ci.extended_key_usage == std::vector<std::string>{"clientAuth"});
    CHECK(ci.key_usage == std::vector<std::string>{"digitalSignature"});
    CHECK(ci.dns_names.empty());
    CHECK(ci.ip_addresses.empty());
    CHECK(ci.key_type == "ED25519");
    CHECK(ci.issuer == "CN=Test Issuing");
    CHECK(cert.issued_by(inter.certificate()));
    CHECK_FALSE(cert.issued_by(root.certificate()));
}

TEST_CASE("serials are random, positive and at most 20 octets", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p256, 3650);
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    std::vector<std::string> serials;
    for (int i = 0; i < 50; ++i) serials.push_back(root.issue_client(key, cn("u"), 1).serial_hex());
    for (const auto& s : serials) {
        // Hex of a positive INTEGER: 16 octets, top bit clear, so the first digit is 0-7.
        CHECK(s.size() == 32);
        CHECK(s[0] >= '0');
        CHECK(s[0] <= '7');
        CHECK(s.substr(0, 2) != "00");
    }
    std::sort(serials.begin(), serials.end());
    CHECK(std::adjacent_find(serials.begin(), serials.end()) == serials.end());
}

TEST_CASE("a leaf never outlives its issuer", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Short Root"), KeyAlg::ec_p256, 10);
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    Certificate leaf = root.issue_client(key, cn("bob"), 365);
    CHECK(leaf.not_after() == root.certificate().not_after());
    CHECK(leaf.not_before() >= root.certificate().not_before());
    auto inter = root.create_intermediate(cn("Short Issuing"), KeyAlg::ec_p256, 1825);
    CHECK(inter.certificate().not_after() == root.certificate().not_after());
}

TEST_CASE("a bad host is refused before anything is signed", "[ca]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p256, 3650);
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    CHECK_THROWS_WITH(root.issue_server(key, cn("x"), {"bad host"}, 30), Catch::Contains("not a valid host name"));
    CHECK_THROWS_WITH(root.issue_server(key, cn("x"), {}, 30), Catch::Contains("at least one host"));
}

TEST_CASE("certificates parse from PEM chains and refuse garbage", "[certificate]") {
    auto root = CertificateAuthority::create_root(cn("Test Root"), KeyAlg::ec_p256, 3650);
    auto inter = root.create_intermediate(cn("Test Issuing"), KeyAlg::ec_p256, 1825);
    std::string pem = inter.certificate().to_pem() + root.certificate().to_pem();
    auto chain = Certificate::chain_from_pem(pem, "chain.pem");
    REQUIRE(chain.size() == 2);
    CHECK(chain[0].sha256_fingerprint() == inter.certificate().sha256_fingerprint());
    CHECK(chain[1].subject_rfc2253() == "CN=Test Root");
    CHECK(chain[0].sha256_fingerprint().size() == 32 * 3 - 1);
    CHECK_THROWS_WITH(Certificate::chain_from_pem("hello", "junk.pem"), Catch::Contains("junk.pem"));
    std::string damaged = root.certificate().to_pem() + "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
    CHECK_THROWS_WITH(Certificate::chain_from_pem(damaged, "damaged.pem"), Catch::Contains("damaged PEM certificate after certificate 1"));
}
