// The fast EC leaf path must make the same certificates as the generic path, and keys whose
// PEM is byte-identical to PrivateKey::to_pem(); the openssl CLI judges the results.
#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

// The factory is private to the library (lib/src/ossl); its header needs only public headers.
#include "../../lib/src/leaf.hpp"
#include "pgca/ca.hpp"
#include "pgca/error.hpp"
#include "der_parts.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using pgca::detail::Leaf;
using pgca::detail::LeafRequest;
using pgca::detail::make_leaf_builder;

namespace {

DistinguishedName subject_of(const std::string& cn) {
    DistinguishedName dn;
    dn.set("O", "Acme, Inc.");
    dn.set("OU", "Databases");
    dn.set("CN", cn);
    return dn;
}

std::string bytes(const unsigned char* p, int n) {
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

template <class T, int (*I2d)(const T*, unsigned char**)>
std::string der(const T* value) {
    unsigned char* out = nullptr;
    int n = I2d(value, &out);
    REQUIRE(n > 0);
    std::string s = bytes(out, n);
    OPENSSL_free(out);
    return s;
}


std::string name_der(const X509_NAME* n) { return der<X509_NAME, i2d_X509_NAME>(n); }
std::string spki_der(const X509_PUBKEY* k) { return der<X509_PUBKEY, i2d_X509_PUBKEY>(k); }

struct Ext {
    std::string oid;
    bool critical;
    std::string value;
};

std::vector<Ext> extensions(const Certificate& c) {
    std::vector<Ext> out;
    const STACK_OF(X509_EXTENSION)* exts = X509_get0_extensions(c.native());
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
        X509_EXTENSION* e = sk_X509_EXTENSION_value(exts, i);
        char oid[80];
        OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(e), 1);
        const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(e);
        out.push_back({oid, X509_EXTENSION_get_critical(e) == 1,
                       bytes(ASN1_STRING_get0_data(v), ASN1_STRING_length(v))});
    }
    return out;
}

const std::string kSkiOid = "2.5.29.14";
const std::string kAkiOid = "2.5.29.35";

// The encoded public point of a certificate (the subjectPublicKey BIT STRING's contents).
std::string point_of(const Certificate& c) {
    const unsigned char* p = nullptr;
    int n = 0;
    REQUIRE(X509_PUBKEY_get0_param(nullptr, &p, &n, nullptr, X509_get_X509_PUBKEY(c.native())) == 1);
    return bytes(p, n);
}

std::string sha1(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), md, &n, EVP_sha1(), nullptr) == 1);
    return bytes(md, static_cast<int>(n));
}

std::string octet_string_value(const ASN1_OCTET_STRING* s) {
    REQUIRE(s != nullptr);
    return bytes(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
}

// Checks that a fast leaf is what the generic path makes for the same key and subject.
void check_equivalent(const CertificateAuthority& ca, const Leaf& leaf, const DistinguishedName& subject,
                      const std::vector<std::string>* hosts, int days) {
    // The key: parses, matches, and its PEM is byte-identical to PrivateKey::to_pem().
    PrivateKey key = PrivateKey::from_pem(leaf.key_pem, "fast key");
    CHECK(key.to_pem() == leaf.key_pem);
    CHECK(leaf.certificate().matches(key));
    CHECK(leaf.certificate().issued_by(ca.certificate()));
    CHECK(leaf.cert_pem == leaf.certificate().to_pem());

    // Re-parsed through OpenSSL's decoders: the same DER (so it is canonical), still matching,
    // and what the leaf reports about itself is what the certificate says.
    Certificate parsed = Certificate::from_pem(leaf.cert_pem, "fast cert");
    CHECK(parsed.to_der() == leaf.cert_der);
    CHECK(parsed.matches(key));
    CHECK(leaf.serial_hex == parsed.serial_hex());
    CHECK(leaf.subject == parsed.subject_rfc2253());
    CHECK(leaf.not_before == parsed.not_before());
    CHECK(leaf.not_after == parsed.not_after());
    CHECK(leaf.sha256_fingerprint == parsed.sha256_fingerprint());

    Certificate generic = hosts != nullptr ? ca.issue_server(key, subject, *hosts, days)
                                           : ca.issue_client(key, subject, days);
    X509* f = parsed.native();
    X509* g = generic.native();

    // Byte for byte: the generic certificate given the fast one's serial and validity, encoded
    // by OpenSSL (i2d_re_X509_tbs), is the fast TBSCertificate. This covers every field the
    // fast path assembles by hand (version, algorithm, names, times, SPKI, extensions).
    X509* same_fields = X509_dup(g);
    REQUIRE(same_fields != nullptr);
    REQUIRE(X509_set_serialNumber(same_fields, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(f))) == 1);
    REQUIRE(X509_set1_notBefore(same_fields, X509_get0_notBefore(f)) == 1);
    REQUIRE(X509_set1_notAfter(same_fields, X509_get0_notAfter(f)) == 1);
    unsigned char* reencoded = nullptr;
    int reencoded_len = i2d_re_X509_tbs(same_fields, &reencoded);
    REQUIRE(reencoded_len > 0);
    CHECK(bytes(reencoded, reencoded_len) == test::tbs_of(leaf.cert_der));
    OPENSSL_free(reencoded);
    X509_free(same_fields);
    CHECK(X509_get_version(f) == X509_VERSION_3);
    CHECK(name_der(X509_get_subject_name(f)) == name_der(X509_get_subject_name(g)));
    CHECK(name_der(X509_get_issuer_name(f)) == name_der(X509_get_issuer_name(g)));
    CHECK(X509_get_signature_nid(f) == X509_get_signature_nid(g));

    // The SPKI is exactly what X509_set_pubkey (OpenSSL's encoder) makes for the same key.
    X509* reference = X509_new();
    REQUIRE(reference != nullptr);
    REQUIRE(X509_set_pubkey(reference, key.native()) == 1);
    CHECK(spki_der(X509_get_X509_PUBKEY(f)) == spki_der(X509_get_X509_PUBKEY(reference)));
    CHECK(spki_der(X509_get_X509_PUBKEY(f)) == spki_der(X509_get_X509_PUBKEY(g)));
    X509_free(reference);

    // Extensions: same OIDs, order, criticality and values (SKI/AKI checked on their own).
    auto fe = extensions(parsed);
    auto ge = extensions(generic);
    REQUIRE(fe.size() == ge.size());
    for (std::size_t i = 0; i < fe.size(); ++i) {
        INFO("extension " << fe[i].oid);
        CHECK(fe[i].oid == ge[i].oid);
        CHECK(fe[i].critical == ge[i].critical);
        if (fe[i].oid != kSkiOid && fe[i].oid != kAkiOid) CHECK(fe[i].value == ge[i].value);
    }
    // SKI = SHA-1 of the point (RFC 5280 method 1); AKI = the issuer's SKI.
    CHECK(octet_string_value(X509_get0_subject_key_id(f)) == sha1(point_of(parsed)));
    CHECK(octet_string_value(X509_get0_authority_key_id(f)) ==
          octet_string_value(X509_get0_subject_key_id(ca.certificate().native())));
    CHECK(octet_string_value(X509_get0_subject_key_id(f)) == octet_string_value(X509_get0_subject_key_id(g)));

    // What pgca reports about the two is the same but for serial, fingerprint and instants.
    CertInfo fi = leaf.certificate().info();
    CertInfo gi = generic.info();
    CHECK(fi.subject == gi.subject);
    CHECK(fi.issuer == gi.issuer);
    CHECK(fi.common_name == gi.common_name);
    CHECK(fi.dns_names == gi.dns_names);
    CHECK(fi.ip_addresses == gi.ip_addresses);
    CHECK(fi.extended_key_usage == gi.extended_key_usage);
    CHECK(fi.key_usage == gi.key_usage);
    CHECK(fi.is_ca == gi.is_ca);
    CHECK_FALSE(fi.is_ca);
    CHECK(fi.key_type == gi.key_type);
    CHECK(fi.signature_algorithm == gi.signature_algorithm);
    CHECK(fi.subject_key_id == gi.subject_key_id);
    CHECK(fi.authority_key_id == gi.authority_key_id);
    CHECK(fi.serial_hex != gi.serial_hex);

    // Validity: backdated 5 minutes, `days` long (both clamped the same way), same rules.
    std::time_t now = std::time(nullptr);
    CHECK(std::labs(static_cast<long>(fi.not_before - (now - 300))) <= 5);
    CHECK(std::labs(static_cast<long>((fi.not_after - fi.not_before) - (gi.not_after - gi.not_before))) <= 2);

    // Serial: 16 octets, positive.
    const ASN1_INTEGER* serial = X509_get0_serialNumber(f);
    CHECK(ASN1_STRING_length(serial) == 16);
    CHECK((ASN1_STRING_get0_data(serial)[0] & 0x80) == 0);
    CHECK(ASN1_STRING_get0_data(serial)[0] != 0);
}

void write(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

std::string openssl_verify(const std::string& ca_file, const std::string& cert_file, const std::string& purpose,
                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"openssl", "verify", "-CAfile", ca_file, "-purpose", purpose, "-x509_strict"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(cert_file);
    auto r = test::run(argv);
    INFO(test::describe(argv, r));
    CHECK(r.exit_code == 0);
    return r.out;
}

const char* digest_of(KeyAlg ca_alg) { return ca_alg == KeyAlg::ec_p384 ? "ecdsa-with-SHA384" : "ecdsa-with-SHA256"; }

}  // namespace

TEST_CASE("the fast path passes its run-time self-test", "[fast]") {
    CHECK_NOTHROW(detail::fast_path_self_test());
    CHECK_NOTHROW(detail::fast_path_self_test());  // once per process; later calls are free
}

TEST_CASE("fast EC client and server leaves are equivalent to the generic path's", "[fast]") {
    PGCA_REQUIRE_OPENSSL();
    const KeyAlg ca_alg = GENERATE(KeyAlg::ec_p256, KeyAlg::ec_p384);
    const KeyAlg leaf_alg = GENERATE(KeyAlg::ec_p256, KeyAlg::ec_p384);
    INFO("CA " << to_string(ca_alg) << ", leaf " << to_string(leaf_alg));
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Fast Root"), ca_alg, 3650);
    auto factory = make_leaf_builder({ca.certificate(), ca.key()}, leaf_alg);
    REQUIRE(factory->fast());

    const DistinguishedName alice = subject_of("alice");
    auto client = factory->make(LeafRequest::client(alice, 365));
    check_equivalent(ca, client, alice, nullptr, 365);
    CHECK(client.certificate().info().signature_algorithm == digest_of(ca_alg));
    CHECK(client.certificate().info().key_type == (leaf_alg == KeyAlg::ec_p256 ? "EC P-256" : "EC P-384"));
    CHECK(client.certificate().info().extended_key_usage == std::vector<std::string>{"clientAuth"});

    const std::vector<std::string> hosts{"db1.example.com", "*.db.example.com", "localhost", "10.0.0.7", "::1"};
    const DistinguishedName db = DistinguishedName::with_cn("db1.example.com");
    auto server = factory->make(LeafRequest::server(db, hosts, 397));
    check_equivalent(ca, server, db, &hosts, 397);
    CertInfo si = server.certificate().info();
    CHECK(si.dns_names == std::vector<std::string>{"db1.example.com", "*.db.example.com", "localhost"});
    CHECK(si.ip_addresses == std::vector<std::string>{"10.0.0.7", "::1"});
    CHECK(si.extended_key_usage == std::vector<std::string>{"serverAuth"});
    CHECK(si.key_usage == std::vector<std::string>{"digitalSignature"});

    // openssl, not pgca, judges them (strict RFC 5280 checks, the purpose each is for).
    test::TempDir tmp;
    write(tmp.file("ca.crt"), ca.certificate().to_pem());
    write(tmp.file("client.crt"), client.cert_pem);
    write(tmp.file("server.crt"), server.cert_pem);
    CHECK_THAT(openssl_verify(tmp.file("ca.crt"), tmp.file("client.crt"), "sslclient"), Catch::Contains(": OK"));
    CHECK_THAT(openssl_verify(tmp.file("ca.crt"), tmp.file("server.crt"), "sslserver",
                              {"-verify_hostname", "db1.example.com"}),
               Catch::Contains(": OK"));
    CHECK_THAT(openssl_verify(tmp.file("ca.crt"), tmp.file("server.crt"), "sslserver", {"-verify_ip", "10.0.0.7"}),
               Catch::Contains(": OK"));
    auto wrong = test::run({"openssl", "verify", "-CAfile", tmp.file("ca.crt"), "-purpose", "sslserver",
                            tmp.file("client.crt")});
    CHECK(wrong.exit_code != 0);
}

TEST_CASE("fast keys are byte-identical to PrivateKey::to_pem(), short scalars included", "[fast]") {
    // A scalar with a leading zero octet (1 in 256 keys) must still be written at the order's
    // full length, as OpenSSL's encoder does: keep issuing until one has been seen.
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Fast Root"), KeyAlg::ec_p256, 3650);
    for (KeyAlg alg : {KeyAlg::ec_p256, KeyAlg::ec_p384}) {
        INFO(to_string(alg));
        const int order_bytes = alg == KeyAlg::ec_p256 ? 32 : 48;
        auto factory = make_leaf_builder({ca.certificate(), ca.key()}, alg);
        bool short_scalar_seen = false;
        int issued = 0;
        for (; issued < 6000 && !short_scalar_seen; ++issued) {
            auto leaf = factory->make(LeafRequest::client(DistinguishedName::with_cn("u" + std::to_string(issued)), 30));
            PrivateKey key = PrivateKey::from_pem(leaf.key_pem, "fast key");
            REQUIRE(key.alg() == alg);
            REQUIRE(key.to_pem() == leaf.key_pem);
            REQUIRE(leaf.certificate().matches(key));
            BIGNUM* d = nullptr;
            REQUIRE(EVP_PKEY_get_bn_param(key.native(), OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1);
            short_scalar_seen = BN_num_bytes(d) < order_bytes;
            BN_clear_free(d);
        }
        INFO("issued " << issued);
        CHECK(short_scalar_seen);
    }
}

TEST_CASE("fast leaves follow the generic validity and input rules", "[fast]") {
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Short Root"), KeyAlg::ec_p256, 10);
    auto factory = make_leaf_builder({ca.certificate(), ca.key()}, KeyAlg::ec_p256);
    // Clamped to the issuer: never outlives it, never starts before it.
    auto leaf = factory->make(LeafRequest::client(DistinguishedName::with_cn("alice"), 365));
    CHECK(leaf.certificate().not_after() == ca.certificate().not_after());
    CHECK(leaf.certificate().not_before() >= ca.certificate().not_before());

    auto kind_of = [](auto&& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.kind();
        }
        return ErrorKind::internal;
    };
    CHECK(kind_of([&] { (void)factory->make(LeafRequest::client(DistinguishedName(), 30)); }) == ErrorKind::policy);
    CHECK(kind_of([&] { (void)factory->make(LeafRequest::client(DistinguishedName::with_cn("a"), 0)); }) == ErrorKind::policy);
    CHECK(kind_of([&] { (void)factory->make(LeafRequest::client(DistinguishedName::with_cn("a"), 100 * 366 + 1)); }) ==
          ErrorKind::policy);
    CHECK(kind_of([&] { (void)factory->make(LeafRequest::server(DistinguishedName::with_cn("db"), {}, 30)); }) == ErrorKind::policy);
    // Hosts are validated where they enter (profile, CLI, CertificateAuthority::issue_server:
    // ca_test), not again here. The builder is still usable after refusing a request.
    CHECK(factory->make(LeafRequest::client(DistinguishedName::with_cn("bob"), 1)).certificate().issued_by(ca.certificate()));
}

TEST_CASE("serials of fast leaves are random, positive and 16 octets", "[fast]") {
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Fast Root"), KeyAlg::ec_p256, 3650);
    auto factory = make_leaf_builder({ca.certificate(), ca.key()}, KeyAlg::ec_p256);
    std::set<std::string> serials;
    for (int i = 0; i < 300; ++i) {
        auto leaf = factory->make(LeafRequest::client(DistinguishedName::with_cn("u" + std::to_string(i)), 30));
        Certificate cert = leaf.certificate();
        const ASN1_INTEGER* s = X509_get0_serialNumber(cert.native());
        REQUIRE(ASN1_STRING_length(s) == 16);
        REQUIRE((ASN1_STRING_get0_data(s)[0] & 0x80) == 0);
        serials.insert(leaf.certificate().serial_hex());
    }
    CHECK(serials.size() == 300);
}

TEST_CASE("an RSA CA signs fast EC leaves too", "[fast]") {
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("RSA Root"), KeyAlg::rsa_2048, 3650);
    auto factory = make_leaf_builder({ca.certificate(), ca.key()}, KeyAlg::ec_p256);
    CHECK(factory->fast());
    const DistinguishedName bob = subject_of("bob");
    auto leaf = factory->make(LeafRequest::client(bob, 365));
    check_equivalent(ca, leaf, bob, nullptr, 365);
    CHECK(leaf.certificate().info().signature_algorithm == "sha256WithRSAEncryption");
}

TEST_CASE("RSA and Ed25519 leaves take the generic path and are still valid", "[fast]") {
    PGCA_REQUIRE_OPENSSL();
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Fast Root"), KeyAlg::ec_p256, 3650);
    test::TempDir tmp;
    write(tmp.file("ca.crt"), ca.certificate().to_pem());
    for (KeyAlg alg : {KeyAlg::rsa_2048, KeyAlg::ed25519}) {
        INFO(to_string(alg));
        auto factory = make_leaf_builder({ca.certificate(), ca.key()}, alg);
        CHECK_FALSE(factory->fast());
        auto client = factory->make(LeafRequest::client(DistinguishedName::with_cn("carol"), 365));
        PrivateKey key = PrivateKey::from_pem(client.key_pem, "generic key");
        CHECK(key.alg() == alg);
        CHECK(key.to_pem() == client.key_pem);
        CHECK(client.certificate().matches(key));
        CHECK(client.certificate().issued_by(ca.certificate()));
        CHECK(client.cert_pem == client.certificate().to_pem());
        CertInfo ci = client.certificate().info();
        CHECK(ci.extended_key_usage == std::vector<std::string>{"clientAuth"});
        CHECK(ci.key_usage == (alg == KeyAlg::rsa_2048
                                   ? std::vector<std::string>{"digitalSignature", "keyEncipherment"}
                                   : std::vector<std::string>{"digitalSignature"}));
        auto server = factory->make(LeafRequest::server(DistinguishedName::with_cn("db"), {"db.example.com"}, 397));
        CHECK(server.certificate().info().dns_names == std::vector<std::string>{"db.example.com"});
        write(tmp.file("client.crt"), client.cert_pem);
        write(tmp.file("server.crt"), server.cert_pem);
        CHECK_THAT(openssl_verify(tmp.file("ca.crt"), tmp.file("client.crt"), "sslclient"), Catch::Contains(": OK"));
        CHECK_THAT(openssl_verify(tmp.file("ca.crt"), tmp.file("server.crt"), "sslserver"), Catch::Contains(": OK"));
    }
}

TEST_CASE("one factory per thread: concurrent fast issuance from one CA", "[fast]") {
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Fast Root"), KeyAlg::ec_p384, 3650);
    constexpr int kThreads = 4;
    constexpr int kEach = 50;
    std::vector<std::vector<Leaf>> made(kThreads);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto factory = make_leaf_builder({ca.certificate(), ca.key()}, KeyAlg::ec_p256);
                for (int i = 0; i < kEach; ++i)
                    made[t].push_back(factory->make(LeafRequest::client(
                        DistinguishedName::with_cn("t" + std::to_string(t) + "u" + std::to_string(i)), 30)));
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto& th : threads) th.join();
    std::set<std::string> serials;
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(errors[t].empty());
        REQUIRE(made[t].size() == static_cast<std::size_t>(kEach));
        for (const auto& leaf : made[t]) {
            CHECK(leaf.certificate().issued_by(ca.certificate()));
            serials.insert(leaf.certificate().serial_hex());
        }
        CHECK(made[t].front().certificate().matches(PrivateKey::from_pem(made[t].front().key_pem, "key")));
    }
    CHECK(serials.size() == static_cast<std::size_t>(kThreads * kEach));
}

TEST_CASE("a given key: both builders certify it, return no key PEM, and agree byte for byte", "[fast]") {
    // pki.cpp's kept and encrypted server keys go through the same builders as fresh ones.
    auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("Given Root"), KeyAlg::ec_p256, 3650);
    const DistinguishedName db = subject_of("db");
    const std::vector<std::string> hosts{"db.example.com", "10.0.0.5"};
    for (KeyAlg alg : {KeyAlg::ec_p256, KeyAlg::ec_p384}) {
        INFO(to_string(alg));
        const PrivateKey key = PrivateKey::generate(alg);
        auto fast = make_leaf_builder({ca.certificate(), ca.key()}, alg);
        REQUIRE(fast->fast());
        auto generic = pgca::detail::make_generic_leaf_builder({ca.certificate(), ca.key()}, alg);
        REQUIRE_FALSE(generic->fast());
        const Leaf a = fast->make(LeafRequest::server(db, hosts, 397, &key));
        const Leaf b = generic->make(LeafRequest::server(db, hosts, 397, &key));
        CHECK(a.key_pem.empty());
        CHECK(b.key_pem.empty());
        CHECK(a.certificate().matches(key));
        CHECK(b.certificate().matches(key));
        CHECK(a.certificate().issued_by(ca.certificate()));
        CHECK(a.certificate().san_hosts() == hosts);
        // Same fields but serial, validity and signature: everything after the validity in the
        // TBSCertificate (subject, SPKI, extensions) is the same bytes.
        auto tail = [](const Leaf& l) {
            const Certificate c = l.certificate();
            X509* x = c.native();
            return name_der(X509_get_subject_name(x)) + spki_der(X509_get_X509_PUBKEY(x)) +
                   der<X509_EXTENSIONS, i2d_X509_EXTENSIONS>(X509_get0_extensions(x));
        };
        CHECK(tail(a) == tail(b));
    }
    // A builder is for one key type; a key of another type is a programming error, not a leaf.
    const PrivateKey other = PrivateKey::generate(KeyAlg::ec_p384);
    auto p256 = make_leaf_builder({ca.certificate(), ca.key()}, KeyAlg::ec_p256);
    CHECK_THROWS_WITH(p256->make(LeafRequest::server(db, hosts, 397, &other)), Catch::Contains("was given a ec-p384 key"));
}
