#include <catch2/catch.hpp>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <vector>

#include "pgca/ca.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "der_parts.hpp"
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
    PGCA_REQUIRE_OPENSSL();
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

namespace {

// The CRL OpenSSL's own objects make of the same data (what make_crl built before it encoded
// the DER itself): X509_REVOKED entries, cRLNumber then AKI, X509_CRL_sort. Returns its
// TBSCertList as OpenSSL encodes it.
std::string openssl_tbs(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries, long number,
                        std::time_t this_update, std::time_t next_update) {
    X509* ca_cert = ca.certificate().native();
    X509_CRL* crl = X509_CRL_new();
    REQUIRE(crl != nullptr);
    REQUIRE(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1);
    REQUIRE(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert)) == 1);
    ASN1_TIME* last = ASN1_TIME_adj(nullptr, this_update, 0, 0);
    ASN1_TIME* next = ASN1_TIME_adj(nullptr, next_update, 0, 0);
    REQUIRE(X509_CRL_set1_lastUpdate(crl, last) == 1);
    REQUIRE(X509_CRL_set1_nextUpdate(crl, next) == 1);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    for (const auto& e : entries) {
        X509_REVOKED* rev = X509_REVOKED_new();
        BIGNUM* bn = nullptr;
        REQUIRE(BN_hex2bn(&bn, e.serial_hex.c_str()) > 0);
        ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn, nullptr);
        BN_free(bn);
        REQUIRE(X509_REVOKED_set_serialNumber(rev, serial) == 1);
        ASN1_INTEGER_free(serial);
        ASN1_TIME* when = ASN1_TIME_adj(nullptr, e.revoked_at, 0, 0);
        REQUIRE(X509_REVOKED_set_revocationDate(rev, when) == 1);
        ASN1_TIME_free(when);
        if (e.reason != RevocationReason::unspecified) {
            ASN1_ENUMERATED* code = ASN1_ENUMERATED_new();
            REQUIRE(ASN1_ENUMERATED_set(code, static_cast<long>(e.reason)) == 1);
            REQUIRE(X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0) == 1);
            ASN1_ENUMERATED_free(code);
        }
        REQUIRE(X509_CRL_add0_revoked(crl, rev) == 1);
    }
    ASN1_INTEGER* n = ASN1_INTEGER_new();
    REQUIRE(ASN1_INTEGER_set(n, number) == 1);
    REQUIRE(X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0) == 1);
    ASN1_INTEGER_free(n);
    AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
    akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(ca_cert));
    REQUIRE(X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0) == 1);
    AUTHORITY_KEYID_free(akid);
    REQUIRE(X509_CRL_sort(crl) == 1);
    // The signature algorithm is part of the TBS: sign with the digest make_crl uses.
    REQUIRE(X509_CRL_sign(crl, ca.key().native(), ca.key().alg() == KeyAlg::ec_p384 ? EVP_sha384() : EVP_sha256()) > 0);
    unsigned char* der = nullptr;
    int len = i2d_re_X509_CRL_tbs(crl, &der);
    REQUIRE(len > 0);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    X509_CRL_free(crl);
    return out;
}


}  // namespace

TEST_CASE("pgca's CRL encoding is byte for byte what OpenSSL's X509_CRL makes of the same list", "[crl]") {
    const KeyAlg alg = GENERATE(KeyAlg::ec_p256, KeyAlg::ec_p384, KeyAlg::rsa_2048);
    INFO(to_string(alg));
    auto root = CertificateAuthority::create_root(cn("CRL Root, Inc."), alg, 3650);
    const std::time_t now = std::time(nullptr);
    // Serials that sort differently by length and octets, need a 0x00 pad (top bit set), have
    // leading zero octets or odd length; every reason; a revocation time past 2049
    // (GeneralizedTime); many entries sharing one time.
    std::vector<RevokedEntry> entries{
        {"4F3A9C0D11223344556677889900AABB", now - 60, RevocationReason::key_compromise},
        {"01", now - 120, RevocationReason::unspecified},
        {"80", now - 120, RevocationReason::ca_compromise},
        {"00FF", now - 3600, RevocationReason::affiliation_changed},
        {"00000042", now - 3600, RevocationReason::unspecified},
        {"ABC", now - 7200, RevocationReason::superseded},
        {"7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", now - 1, RevocationReason::cessation_of_operation},
        {"0123456789ABCDEF", 2600000000, RevocationReason::certificate_hold},
        {"1234", now - 5, RevocationReason::privilege_withdrawn},
        {"2345", now - 5, RevocationReason::aa_compromise},
    };
    for (int i = 0; i < 300; ++i) {
        char hex[40];
        std::snprintf(hex, sizeof hex, "%02X%030d", 0x10 + i % 0x60, i * 7919);
        entries.push_back({hex, now - 86400, RevocationReason::unspecified});
    }
    for (const auto& list : {std::vector<RevokedEntry>{}, entries}) {
        INFO(list.size() << " entries");
        EncodedCrl enc = encode_crl(root, list, 42, now - 300, now + 90 * 86400);
        CHECK(test::tbs_of(enc.der) == openssl_tbs(root, list, 42, now - 300, now + 90 * 86400));
        // The PEM is PEM_write_bio_X509_CRL's, the signature verifies, the list is complete.
        Crl parsed = Crl::from_der(enc.der, "encoded CRL");
        CHECK(parsed.to_pem() == enc.pem);
        CHECK(Crl::from_pem(enc.pem, "encoded CRL").number() == 42);
        CHECK(parsed.issued_by(root.certificate()));
        CHECK(parsed.revoked_serials().size() == list.size());
        CHECK(parsed.hashed_name() == hashed_crl_name(root.certificate()));
    }
}

TEST_CASE("a serial that is not hex is a ledger error naming it", "[crl]") {
    auto root = CertificateAuthority::create_root(cn("CRL Root"), KeyAlg::ec_p256, 3650);
    std::time_t now = std::time(nullptr);
    try {
        (void)encode_crl(root, {{"12G4", now, RevocationReason::unspecified}}, 1, now - 60, now + 60);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::ledger);
        CHECK_THAT(e.what(), Catch::Contains("12G4"));
    }
}
