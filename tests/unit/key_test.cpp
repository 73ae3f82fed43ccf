#include <catch2/catch.hpp>

#include "pgca/error.hpp"
#include "pgca/key.hpp"

using namespace pgca;

TEST_CASE("every key algorithm generates, encodes as PKCS#8 PEM and parses back", "[key]") {
    for (KeyAlg alg : {KeyAlg::ec_p256, KeyAlg::ec_p384, KeyAlg::rsa_2048, KeyAlg::ed25519}) {
        INFO(to_string(alg));
        PrivateKey key = PrivateKey::generate(alg);
        CHECK(key.alg() == alg);
        std::string pem = key.to_pem();
        CHECK(pem.rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
        PrivateKey back = PrivateKey::from_pem(pem, "test");
        CHECK(back.alg() == alg);
        CHECK(back.to_pem() == pem);
    }
}

TEST_CASE("key algorithm names round-trip and unknown names are refused", "[key]") {
    for (auto name : {"ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"}) {
        auto alg = parse_key_alg(name);
        REQUIRE(alg);
        CHECK(to_string(*alg) == name);
    }
    CHECK_FALSE(parse_key_alg("rsa-1024"));
    CHECK_FALSE(parse_key_alg("EC-P256"));
    CHECK_FALSE(usable_for_ca(KeyAlg::ed25519));
    CHECK(usable_for_ca(KeyAlg::ec_p384));
}

TEST_CASE("a PEM that is not a private key is an input error naming the source", "[key]") {
    try {
        (void)PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", "bad.key");
        FAIL("no exception");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::Contains("bad.key"));
    }
    CHECK_THROWS_AS(PrivateKey::from_pem("", "empty.key"), Error);
}

TEST_CASE("keys encrypt as PKCS#8 with AES-256 and a wrong passphrase is a clear error", "[key][secret]") {
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    std::string pem = key.to_encrypted_pem("correct horse");
    CHECK(pem.rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    CHECK(PrivateKey::pem_is_encrypted(pem));
    CHECK_FALSE(PrivateKey::pem_is_encrypted(key.to_pem()));
    PrivateKey back = PrivateKey::from_pem(pem, "ca.key", "correct horse");
    CHECK(back.to_pem() == key.to_pem());
    try {
        (void)PrivateKey::from_pem(pem, "ca.key", "wrong horse");
        FAIL("decrypted with the wrong passphrase");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::StartsWith("ca.key: wrong passphrase"));
    }
    CHECK_THROWS_WITH(PrivateKey::from_pem(pem, "ca.key"), Catch::Contains("encrypted and no passphrase source"));
    CHECK_THROWS_AS(key.to_encrypted_pem(""), Error);
}
