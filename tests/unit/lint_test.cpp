// The certificate lint: everything pgca issues is clean, and certificates made with the openssl
// CLI that break one rule each produce that rule's code.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pgca/ca.hpp"
#include "pgca/lint.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

std::string describe(const std::vector<LintFinding>& findings) {
    std::string out;
    for (const auto& f : findings) out += f.code + ": " + f.message + "\n";
    return out.empty() ? "(no findings)" : out;
}

std::set<std::string> codes(const std::vector<LintFinding>& findings) {
    std::set<std::string> out;
    for (const auto& f : findings) out.insert(f.code);
    return out;
}

void require_clean(const Certificate& cert, const Certificate& issuer) {
    auto findings = lint_certificate(cert, issuer);
    INFO(cert.subject_rfc2253() << " (" << cert.info().key_type << ") issued by " << issuer.subject_rfc2253());
    INFO(describe(findings));
    CHECK(findings.empty());
}

// Certificates made with the openssl command line, one rule broken at a time.
class OpensslCa {
public:
    OpensslCa() {
        test::write_file(tmp_.file("openssl.cnf"), R"([req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[root_noncritical_bc]
basicConstraints = CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[root_with_eku]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_rsa]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_dns_san]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:alice.example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_email_san]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = email:alice@example.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_ca_true]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_no_aki]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = none
[client_no_ski]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid:always
[client_no_eku]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_two_ekus]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth, serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_ku_noncritical]
basicConstraints = critical, CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client_no_bc]
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:db.example.com, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server_no_san]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
)");
        root_key = key("root", "ec-p256");
        root = self_signed("root", root_key, "/CN=OpenSSL Test Root", 3650, "root");
    }

    // A fresh key of `alg` (ec-p256, rsa-N, ed25519), as a PEM file path.
    std::string key(const std::string& name, const std::string& alg) {
        std::string path = tmp_.file(name + ".key.pem");
        std::vector<std::string> args{"openssl", "genpkey", "-out", path};
        if (alg == "ec-p256") {
            args.insert(args.end(), {"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"});
        } else if (alg.rfind("rsa-", 0) == 0) {
            args.insert(args.end(), {"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:" + alg.substr(4)});
        } else {
            args.insert(args.end(), {"-algorithm", "ED25519"});
        }
        openssl(args);
        return path;
    }

    // `openssl req -x509`: a self-signed certificate with the extensions of config section `ext`.
    std::string self_signed(const std::string& name, const std::string& key_path, const std::string& subject, int days,
                            const std::string& ext, const std::vector<std::string>& extra = {"-sha256"}) {
        std::string path = tmp_.file(name + ".crt");
        std::vector<std::string> args{"openssl", "req", "-x509", "-new", "-key", key_path, "-out", path,
                                      "-subj", subject, "-days", std::to_string(days), "-config",
                                      tmp_.file("openssl.cnf"), "-extensions", ext};
        args.insert(args.end(), extra.begin(), extra.end());
        openssl(args);
        return path;
    }

    // `openssl req -new` + `openssl x509 -req`: a certificate for `key_path` signed by the CA in
    // `ca_cert`/`ca_key`, with the extensions of section `ext` ("" = none: a version 1 certificate).
    std::string signed_by(const std::string& name, const std::string& key_path, const std::string& subject, int days,
                          const std::string& ext, const std::string& ca_cert, const std::string& ca_key,
                          const std::vector<std::string>& extra = {"-sha256"}) {
        std::string csr = tmp_.file(name + ".csr");
        openssl({"openssl", "req", "-new", "-key", key_path, "-subj", subject, "-out", csr, "-config",
                 tmp_.file("openssl.cnf")});
        std::string path = tmp_.file(name + ".crt");
        std::vector<std::string> args{"openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                                      "-out", path, "-days", std::to_string(days),
                                      "-set_serial", "0x5A17C0FFEE0DDBA11DEADBEEF0123456"};
        if (!ext.empty()) args.insert(args.end(), {"-extfile", tmp_.file("openssl.cnf"), "-extensions", ext});
        args.insert(args.end(), extra.begin(), extra.end());
        openssl(args);
        return path;
    }

    // A leaf of the standard test root.
    std::string leaf(const std::string& name, const std::string& subject, const std::string& ext,
                     const std::string& alg = "ec-p256", int days = 30) {
        return signed_by(name, key(name, alg), subject, days, ext, root, root_key);
    }

    static Certificate load(const std::string& path) {
        return Certificate::from_pem(test::read_file(path), path);
    }

    // Runs openssl; returns whether it succeeded (callers that must not fail use openssl()).
    static bool try_openssl(const std::vector<std::string>& args) {
        auto r = test::run(args);
        if (r.exit_code != 0) WARN(test::describe(args, r));
        return r.exit_code == 0;
    }
    static void openssl(const std::vector<std::string>& args) {
        auto r = test::run(args);
        INFO(test::describe(args, r));
        REQUIRE(r.exit_code == 0);
    }

    [[nodiscard]] std::string config() const { return tmp_.file("openssl.cnf"); }

    std::string root_key;
    std::string root;

private:
    test::TempDir tmp_{"pgca-lint-"};
};

// The codes `lint_certificate` reports for the certificate at `path` against `issuer_path`.
std::set<std::string> lint_codes(const std::string& path, const std::string& issuer_path) {
    auto findings = lint_certificate(OpensslCa::load(path), OpensslCa::load(issuer_path));
    INFO(describe(findings));
    return codes(findings);
}

using Codes = std::set<std::string>;

}  // namespace

TEST_CASE("every certificate pgca issues lints clean", "[lint]") {
    for (KeyAlg ca_alg : {KeyAlg::ec_p256, KeyAlg::ec_p384, KeyAlg::rsa_2048}) {
        INFO("CA key " << to_string(ca_alg));
        auto root = CertificateAuthority::create_root(DistinguishedName::with_cn("Lint Root"), ca_alg, 3650);
        auto inter = root.create_intermediate(DistinguishedName::with_cn("Lint Issuing"), ca_alg, 1825);
        require_clean(root.certificate(), root.certificate());
        require_clean(inter.certificate(), root.certificate());
        for (KeyAlg leaf_alg : {KeyAlg::ec_p256, KeyAlg::ec_p384, KeyAlg::rsa_2048, KeyAlg::ed25519}) {
            INFO("leaf key " << to_string(leaf_alg));
            PrivateKey key = PrivateKey::generate(leaf_alg);
            for (const auto* ca : {&root, &inter}) {
                Certificate server = ca->issue_server(key, DistinguishedName::with_cn("db.example.com"),
                                                      {"db.example.com", "127.0.0.1", "::1"}, 397);
                Certificate client = ca->issue_client(key, DistinguishedName::with_cn("alice"), 365);
                require_clean(server, ca->certificate());
                require_clean(client, ca->certificate());
            }
        }
        // A leaf asked to outlive its CA is clamped, so it still lints clean.
        PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
        require_clean(inter.issue_client(key, DistinguishedName::with_cn("long"), 36500), inter.certificate());
    }
}

TEST_CASE("lint checks the issuer it is given", "[lint]") {
    auto root = CertificateAuthority::create_root(DistinguishedName::with_cn("Lint Root"), KeyAlg::ec_p256, 3650);
    auto other = CertificateAuthority::create_root(DistinguishedName::with_cn("Other Root"), KeyAlg::ec_p256, 3650);
    PrivateKey key = PrivateKey::generate(KeyAlg::ec_p256);
    Certificate client = root.issue_client(key, DistinguishedName::with_cn("alice"), 30);
    auto found = codes(lint_certificate(client, other.certificate()));
    CHECK(found.count("issuer-name-mismatch") == 1);
    CHECK(found.count("signature-invalid") == 1);
    CHECK(found.count("aki-mismatch") == 1);
    // Same name, different key: only the signature and the key identifier give it away.
    auto twin = CertificateAuthority::create_root(DistinguishedName::with_cn("Lint Root"), KeyAlg::ec_p256, 3650);
    CHECK(codes(lint_certificate(client, twin.certificate())) == Codes{"signature-invalid", "aki-mismatch"});
}

TEST_CASE("certificates made with openssl: a correct set lints clean", "[lint][openssl]") {
    PGCA_REQUIRE_OPENSSL();
    OpensslCa ca;
    CHECK(lint_codes(ca.root, ca.root).empty());
    CHECK(lint_codes(ca.leaf("client", "/CN=alice", "client"), ca.root).empty());
    CHECK(lint_codes(ca.leaf("server", "/CN=db.example.com", "server"), ca.root).empty());
    CHECK(lint_codes(ca.leaf("client_rsa", "/CN=alice", "client_rsa", "rsa-2048"), ca.root).empty());
    CHECK(lint_codes(ca.leaf("client_ed", "/CN=alice", "client", "ed25519"), ca.root).empty());
}

TEST_CASE("certificates made with openssl: each broken rule has its code", "[lint][openssl]") {
    PGCA_REQUIRE_OPENSSL();
    OpensslCa ca;

    SECTION("serial 0") {
        std::string k = ca.key("zero", "ec-p256");
        std::string c = ca.self_signed("zero", k, "/CN=Zero Root", 30, "root", {"-sha256", "-set_serial", "0"});
        CHECK(lint_codes(c, c) == Codes{"serial-not-positive"});
    }
    SECTION("a small serial has too little entropy") {
        std::string k = ca.key("one", "ec-p256");
        std::string c = ca.self_signed("one", k, "/CN=One Root", 30, "root", {"-sha256", "-set_serial", "1"});
        CHECK(lint_codes(c, c) == Codes{"serial-too-short"});
    }
    SECTION("a serial longer than 20 octets") {
        std::string k = ca.key("long", "ec-p256");
        std::string c = ca.self_signed("long", k, "/CN=Long Root", 30, "root",
                                       {"-sha256", "-set_serial", "0x" + std::string(42, '7')});
        CHECK(lint_codes(c, c) == Codes{"serial-too-long"});
    }
    SECTION("a SHA-1 signature") {
        std::string k = ca.key("sha1", "ec-p256");
        std::string c = ca.self_signed("sha1", k, "/CN=SHA1 Root", 30, "root", {"-sha1"});
        CHECK(lint_codes(c, c) == Codes{"signature-weak-digest"});
    }
    SECTION("an MD5 signature, when this OpenSSL still makes one") {
        std::string k = ca.key("md5", "rsa-2048");
        if (OpensslCa::try_openssl({"openssl", "req", "-x509", "-new", "-key", k, "-out", k + ".crt", "-subj",
                                    "/CN=MD5 Root", "-days", "30", "-config", ca.config(), "-extensions", "root",
                                    "-md5"}))
            CHECK(lint_codes(k + ".crt", k + ".crt") == Codes{"signature-weak-digest"});
        else
            WARN("openssl refuses MD5 signatures at its default level; case skipped");
    }
    SECTION("a client certificate with a DNS SAN") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_dns_san"), ca.root) == Codes{"client-dns-san"});
    }
    SECTION("a client certificate with any SAN") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_email_san"), ca.root) == Codes{"client-san-present"});
    }
    SECTION("a client certificate without CN") {
        CHECK(lint_codes(ca.leaf("c", "/O=Example", "client"), ca.root) == Codes{"client-cn-missing"});
    }
    SECTION("a leaf with CA:TRUE") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_ca_true"), ca.root) == Codes{"leaf-is-ca"});
    }
    SECTION("a leaf outliving its issuer") {
        std::string k = ca.key("short_root", "ec-p256");
        std::string short_root = ca.self_signed("short_root", k, "/CN=Short Root", 10, "root");
        std::string c = ca.signed_by("c", ca.key("c", "ec-p256"), "/CN=alice", 100, "client", short_root, k);
        CHECK(lint_codes(c, short_root) == Codes{"validity-ends-after-issuer"});
    }
    SECTION("a leaf starting before its issuer") {
        // The leaf is signed now; the issuer it is checked against is the same root (same name,
        // same key) signed again a second later. openssl 3.0 has no option to backdate.
        std::string c = ca.leaf("c", "/CN=alice", "client");
        std::time_t leaf_start = OpensslCa::load(c).not_before();
        while (std::time(nullptr) <= leaf_start) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::string later = ca.self_signed("later_root", ca.root_key, "/CN=OpenSSL Test Root", 3650, "root");
        CHECK(lint_codes(c, later) == Codes{"validity-starts-before-issuer"});
    }
    SECTION("a leaf without AKI") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_no_aki"), ca.root) == Codes{"aki-missing"});
    }
    SECTION("a leaf without SKI") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_no_ski"), ca.root) == Codes{"ski-missing"});
    }
    SECTION("a leaf without EKU") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_no_eku"), ca.root) == Codes{"eku-missing"});
    }
    SECTION("a leaf with both serverAuth and clientAuth") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_two_ekus"), ca.root) == Codes{"eku-not-exactly-one"});
    }
    SECTION("a leaf whose keyUsage is not critical") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_ku_noncritical"), ca.root) == Codes{"key-usage-not-critical"});
    }
    SECTION("a leaf without basicConstraints") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_no_bc"), ca.root) == Codes{"basic-constraints-missing"});
    }
    SECTION("an RSA leaf without keyEncipherment") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client", "rsa-2048"), ca.root) ==
              Codes{"leaf-key-usage-no-key-encipherment"});
    }
    SECTION("an RSA key below 2048 bits") {
        CHECK(lint_codes(ca.leaf("c", "/CN=alice", "client_rsa", "rsa-1024"), ca.root) == Codes{"rsa-key-too-small"});
    }
    SECTION("a server certificate without SAN") {
        CHECK(lint_codes(ca.leaf("s", "/CN=db.example.com", "server_no_san"), ca.root) == Codes{"server-san-missing"});
    }
    SECTION("a version 1 certificate") {
        auto found = lint_codes(ca.leaf("v1", "/CN=alice", ""), ca.root);
        CHECK(found.count("version-not-3") == 1);
        CHECK(found.count("basic-constraints-missing") == 1);
    }
    SECTION("a CA whose basicConstraints are not critical") {
        std::string k = ca.key("nc", "ec-p256");
        std::string c = ca.self_signed("nc", k, "/CN=NC Root", 30, "root_noncritical_bc");
        CHECK(lint_codes(c, c) == Codes{"basic-constraints-not-critical"});
    }
    SECTION("a CA with an EKU") {
        std::string k = ca.key("eku", "ec-p256");
        std::string c = ca.self_signed("eku", k, "/CN=EKU Root", 30, "root_with_eku");
        CHECK(lint_codes(c, c) == Codes{"ca-has-eku"});
    }
    SECTION("an Ed25519 CA") {
        std::string k = ca.key("ed", "ed25519");
        std::string c = ca.self_signed("ed", k, "/CN=Ed Root", 30, "root", {});
        CHECK(lint_codes(c, c) == Codes{"ca-key-eddsa", "signature-eddsa"});
        // …and every certificate it signs has an EdDSA signature.
        std::string leaf = ca.signed_by("edleaf", ca.key("edleaf", "ec-p256"), "/CN=alice", 10, "client", c, k, {});
        CHECK(lint_codes(leaf, c) == Codes{"signature-eddsa"});
    }
}
