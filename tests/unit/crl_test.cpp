#include <catch2/catch.hpp>

#include <ctime>

#include "pgca/ca.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

DistinguishedName cn(const std::string& name) { return DistinguishedName::with_cn(name); }

}  // namespace

TEST_CASE("RFC 5280 reason names round-trip", "[crl]") {
    for (auto name : {"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
                      "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"}) {
        auto r = parse_revocation_reason(name);
        REQUIRE(r);
        CHECK(to_string(*r) == name);
    }
    CHECK_FALSE(parse_revocation_reason("removeFromCRL"));
    CHECK_FALSE(parse_revocation_reason("keycompromise"));
}

TEST_CASE("a CRL made by pgca is what openssl expects", "[crl][interop]") {
    test::TempDir tmp;
    auto root = CertificateAuthority::create_root(cn("CRL Root"), KeyAlg::ec_p256, 3650);
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    Certificate a = root.issue_client(key, cn("a"), 30);
    Certificate b = root.issue_client(key, cn("b"), 30);
    std::time_t now = std::time(nullptr);
    Crl crl = make_crl(root, {{a.serial_hex(), now - 60, RevocationReason::key_compromise},
                              {b.serial_hex(), now - 30, RevocationReason::unspecified}},
                       7, now - 300, now + 90 * 86400);
    CHECK(crl.number() == 7);
    CHECK(crl.next_update() == now + 90 * 86400);
    CHECK(crl.issued_by(root.certificate()));
    CHECK(crl.revoked_serials().size() == 2);
    CHECK(crl.issuer_rfc2253() == "CN=CRL Root");

    test::write_file(tmp.path() + "/root.crt", root.certificate().to_pem());
    test::write_file(tmp.path() + "/root.crl", crl.to_pem());
    test::write_file(tmp.path() + "/a.crt", a.to_pem());
    auto r = test::run({"openssl", "crl", "-in", tmp.path() + "/root.crl", "-CAfile", tmp.path() + "/root.crt",
                        "-noout", "-text", "-hash"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err + r.out, Catch::Contains("verify OK"));
    CHECK_THAT(r.out, Catch::Contains("Key Compromise"));
    CHECK_THAT(r.out, Catch::Contains("X509v3 Authority Key Identifier"));
    // `openssl crl -hash` prints the name ssl_crl_dir looks the CRL up under.
    CHECK_THAT(r.out, Catch::StartsWith(crl.hashed_name().substr(0, 8)));
    // openssl verify with CRL checking refuses the revoked certificate.
    auto v = test::run({"openssl", "verify", "-crl_check", "-CAfile", tmp.path() + "/root.crt", "-CRLfile",
                        tmp.path() + "/root.crl", tmp.path() + "/a.crt"});
    CHECK(v.exit_code != 0);
    CHECK_THAT(v.out + v.err, Catch::Contains("certificate revoked"));
}

TEST_CASE("a CRL whose nextUpdate is not after lastUpdate is refused", "[crl]") {
    auto root = CertificateAuthority::create_root(cn("CRL Root"), KeyAlg::ec_p256, 3650);
    std::time_t now = std::time(nullptr);
    CHECK_THROWS_AS(make_crl(root, {}, 1, now, now), Error);
}
