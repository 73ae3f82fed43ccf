// The openssl CLI, not pgca, judges what pgca made.
#include <catch2/catch.hpp>

#include "pgca/io.hpp"
#include "pgca/apply.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

std::string openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = test::run(argv);
    INFO(test::describe(argv, r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

const char* kProfile = R"({
  "pgca_profile": 1, "name": "interop",
  "ca": { "subject": { "CN": "Interop Root", "O": "Acme, Inc." }, "key": "ec-p384",
          "intermediate": { "subject": { "CN": "Interop Issuing" }, "key": "rsa-2048" } },
  "servers": [ { "name": "db", "hosts": ["db.example.com", "127.0.0.1", "::1"] } ],
  "clients": [ { "user": "alice", "key": "ed25519" }, { "user": "Bob" } ],
  "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
})";

}  // namespace

TEST_CASE("openssl verifies the chains pgca writes, for the purpose each is for", "[interop]") {
    PGCA_REQUIRE_OPENSSL();
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    (void)apply(parse_profile(kProfile, "interop.json"), dir, {});
    std::string root = dir + "/ca/root.crt";
    std::string inter = dir + "/ca/intermediate.crt";

    // server.crt holds leaf + intermediate: -untrusted takes the chain from the same file.
    std::string server = dir + "/servers/db/server.crt";
    CHECK_THAT(openssl({"verify", "-CAfile", root, "-untrusted", server, "-purpose", "sslserver", "-x509_strict",
                        "-verify_hostname", "db.example.com", server}),
               Catch::Contains(": OK"));
    CHECK_THAT(openssl({"verify", "-CAfile", root, "-untrusted", server, "-verify_ip", "::1", server}),
               Catch::Contains(": OK"));
    auto bad = test::run({"openssl", "verify", "-CAfile", root, "-untrusted", server, "-verify_hostname",
                          "other.example.com", server});
    CHECK(bad.exit_code != 0);

    std::string client = dir + "/clients/alice/postgresql.crt";
    CHECK_THAT(openssl({"verify", "-CAfile", root, "-untrusted", client, "-purpose", "sslclient", "-x509_strict", client}),
               Catch::Contains(": OK"));
    auto wrong_purpose = test::run({"openssl", "verify", "-CAfile", root, "-untrusted", client, "-purpose",
                                    "sslserver", client});
    CHECK(wrong_purpose.exit_code != 0);

    // The intermediate is a CA under the root, usable with the server's root.crt bundle too.
    CHECK_THAT(openssl({"verify", "-CAfile", root, inter}), Catch::Contains(": OK"));
    CHECK_THAT(openssl({"verify", "-CAfile", dir + "/servers/db/root.crt", client}), Catch::Contains(": OK"));
}

TEST_CASE("openssl reads the same names, extensions and key pairing", "[interop]") {
    PGCA_REQUIRE_OPENSSL();
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    (void)apply(parse_profile(kProfile, "interop.json"), dir, {});
    std::string server = dir + "/servers/db/server.crt";
    std::string client = dir + "/clients/Bob/postgresql.crt";

    std::string text = openssl({"x509", "-in", server, "-noout", "-text"});
    CHECK_THAT(text, Catch::Contains("DNS:db.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"));
    CHECK_THAT(text, Catch::Contains("TLS Web Server Authentication"));
    CHECK_THAT(text, Catch::Contains("CA:FALSE"));
    CHECK_THAT(text, Catch::Contains("Digital Signature"));
    CHECK_THAT(text, Catch::Contains("sha256WithRSAEncryption"));  // signed by the RSA intermediate

    std::string ctext = openssl({"x509", "-in", client, "-noout", "-text"});
    CHECK_THAT(ctext, Catch::Contains("TLS Web Client Authentication"));
    CHECK_THAT(ctext, !Catch::Contains("Subject Alternative Name"));

    // PostgreSQL's clientname=DN form is `openssl x509 -subject -nameopt RFC2253`
    // (docs/postgres-facts.md §2.4).
    std::string root_subject = openssl({"x509", "-in", dir + "/ca/root.crt", "-noout", "-subject", "-nameopt", "RFC2253"});
    CHECK(test::trim(root_subject) == "subject=CN=Interop Root,O=Acme\\, Inc.");
    auto root = Certificate::from_pem(io::read_file(dir + "/ca/root.crt"), "root.crt");
    CHECK("subject=" + root.subject_rfc2253() == test::trim(root_subject));

    // Each key file is the private half of its certificate.
    for (auto [crt, key] : {std::pair{server, dir + "/servers/db/server.key"},
                            std::pair{client, dir + "/clients/Bob/postgresql.key"},
                            std::pair{dir + "/clients/alice/postgresql.crt", dir + "/clients/alice/postgresql.key"},
                            std::pair{dir + "/ca/root.crt", dir + "/ca/root.key"}}) {
        INFO(crt);
        CHECK(openssl({"x509", "-in", crt, "-noout", "-pubkey"}) == openssl({"pkey", "-in", key, "-pubout"}));
    }

    // AKI of a leaf = SKI of its issuer.
    auto leaf = Certificate::from_pem(io::read_file(server), "server.crt").info();
    auto inter = Certificate::from_pem(io::read_file(dir + "/ca/intermediate.crt"), "intermediate.crt").info();
    CHECK(leaf.authority_key_id == inter.subject_key_id);
    CHECK(leaf.serial_hex == test::trim(openssl({"x509", "-in", server, "-noout", "-serial"})).substr(7));
}
