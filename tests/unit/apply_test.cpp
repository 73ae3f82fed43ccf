#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/lint.hpp"
#include "pgca/apply.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

json base_profile() {
    return json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" }, "intermediate": { "subject": { "CN": "T Issuing" } } },
      "servers": [ { "name": "db", "hosts": ["localhost", "127.0.0.1"] } ],
      "clients": [ { "user": "alice" }, { "user": "bob", "cn": "bob@example.com", "map": "m" } ],
      "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
    })");
}

std::size_t count(const ApplyResult& r, const std::string& verb) {
    std::size_t n = 0;
    for (const auto& a : r.actions) n += a.verb == verb ? 1 : 0;
    return n;
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("apply creates the layout of docs/design.md §3 with private keys", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    Profile p = parse_profile(base_profile().dump(), "t.json");
    auto r = apply(p, dir, {});
    CHECK(count(r, "create") == 2);
    CHECK(count(r, "issue") == 3);
    for (auto f : {"/pgca.db", "/ca/root.crt", "/ca/intermediate.crt", "/servers/db/server.crt",
                   "/servers/db/root.crt", "/servers/db/postgresql.ssl.conf", "/clients/alice/postgresql.crt",
                   "/clients/alice/root.crt", "/clients/alice/pg_service.conf", "/pg_hba.conf", "/pg_ident.conf"})
        CHECK(io::exists(dir + f));
    for (auto f : {"/ca/root.key", "/ca/intermediate.key", "/servers/db/server.key", "/clients/alice/postgresql.key"})
        CHECK(mode_of(dir + f) == 0600);
    CHECK(mode_of(dir + "/ca") == 0700);

    // server.crt = leaf + intermediate; the client's root.crt = the root alone (libpq needs the
    // self-signed root); the server's root.crt = root + intermediate.
    auto server_chain = Certificate::chain_from_pem(io::read_file(dir + "/servers/db/server.crt"), "server.crt");
    REQUIRE(server_chain.size() == 2);
    CHECK(server_chain[1].subject_rfc2253() == "CN=T Issuing");
    CHECK(Certificate::chain_from_pem(io::read_file(dir + "/clients/alice/root.crt"), "root.crt").size() == 1);
    CHECK(Certificate::chain_from_pem(io::read_file(dir + "/servers/db/root.crt"), "root.crt").size() == 2);
    CHECK(io::read_file(dir + "/pg_ident.conf").find("m bob@example.com bob") != std::string::npos);

    // Every certificate in every .crt file keeps the rules of docs/design.md §5, checked against its issuer.
    Certificate root = Certificate::from_pem(io::read_file(dir + "/ca/root.crt"), "root.crt");
    Certificate inter = Certificate::from_pem(io::read_file(dir + "/ca/intermediate.crt"), "intermediate.crt");
    std::size_t linted = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".crt") continue;
        const std::string path = entry.path().string();
        for (const auto& cert : Certificate::chain_from_pem(io::read_file(path), path)) {
            const Certificate& issuer = cert.info().issuer == inter.subject_rfc2253() ? inter : root;
            std::string findings;
            for (const auto& f : lint_certificate(cert, issuer)) findings += f.code + ": " + f.message + "\n";
            INFO(path << ": " << cert.subject_rfc2253() << "\n" << findings);
            REQUIRE(findings.empty());
            ++linted;
        }
    }
    CHECK(linted == 12);  // root, intermediate, server (2+2), alice (2+1), bob (2+1)
}

TEST_CASE("a second apply issues nothing and rewrites nothing", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    Profile p = parse_profile(base_profile().dump(), "t.json");
    (void)apply(p, dir, {});
    std::string before = test::run({"sh", "-c", "cd '" + dir + "' && find . -type f ! -name '.lock' ! -name 'pgca.db*' | sort | xargs stat -c '%n %Y %i %s'"}).out;
    auto r = apply(p, dir, {});
    CHECK(count(r, "keep") == 3);
    CHECK(r.actions.size() == 3);
    std::string after = test::run({"sh", "-c", "cd '" + dir + "' && find . -type f ! -name '.lock' ! -name 'pgca.db*' | sort | xargs stat -c '%n %Y %i %s'"}).out;
    CHECK(before == after);  // same inode: not even rewritten with the same bytes
}

TEST_CASE("apply re-issues what changed or broke, and only that", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    json doc = base_profile();
    (void)apply(parse_profile(doc.dump(), "t.json"), dir, {});
    auto pki_serial = [&](CertKind kind, const std::string& name) {
        return open_ledger("sqlite:" + dir + "/pgca.db")->current(kind, name)->serial;
    };
    std::string db_serial = pki_serial(CertKind::server, "db");
    std::string alice_serial = pki_serial(CertKind::client, "alice");

    doc["servers"][0]["hosts"].push_back("db.example.com");
    ::unlink((dir + "/clients/alice/postgresql.key").c_str());
    auto r = apply(parse_profile(doc.dump(), "t.json"), dir, {});
    CHECK(count(r, "reissue") == 2);
    CHECK(pki_serial(CertKind::server, "db") != db_serial);
    CHECK(pki_serial(CertKind::client, "alice") != alice_serial);
    auto ci = Certificate::from_pem(io::read_file(dir + "/servers/db/server.crt"), "server.crt").info();
    CHECK(ci.dns_names == std::vector<std::string>{"localhost", "db.example.com"});
    // The replaced certificates are marked superseded in the ledger.
    std::size_t superseded = 0;
    for (const auto& e : open_ledger("sqlite:" + dir + "/pgca.db")->list()) superseded += e.status == CertStatus::superseded ? 1 : 0;
    CHECK(superseded == 2);
}

TEST_CASE("a profile that cannot be made valid changes nothing", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    json doc = base_profile();
    doc["hba"][0]["method"] = "scram-sha-256";
    doc["hba"][0]["map"] = "m";
    CHECK_THROWS_AS(apply(parse_profile(doc.dump(), "t.json"), dir, {}), Error);
    CHECK_FALSE(io::exists(dir));
}

TEST_CASE("a dry run of a fresh folder creates nothing", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    ApplyOptions o;
    o.dry_run = true;
    auto r = apply(parse_profile(base_profile().dump(), "t.json"), dir, o);
    CHECK(count(r, "issue") == 3);
    CHECK_FALSE(io::exists(dir));
}

TEST_CASE("a dry run on an existing folder shows renewals and revocations but changes nothing", "[apply]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    json doc = base_profile();
    (void)apply(parse_profile(doc.dump(), "t.json"), dir, {});
    std::string before = test::run({"sh", "-c", "cd '" + dir + "' && find . -type f ! -name '.lock' ! -name 'pgca.db*' | sort | xargs sha256sum"}).out;

    doc["clients"].erase(1);                          // bob leaves
    doc["servers"][0]["hosts"].push_back("db.example.com");  // db changes
    ApplyOptions o;
    o.dry_run = true;
    auto r = apply(parse_profile(doc.dump(), "t.json"), dir, o);
    CHECK(count(r, "revoke") == 1);
    CHECK(count(r, "reissue") == 1);
    CHECK(count(r, "keep") == 1);
    std::string after = test::run({"sh", "-c", "cd '" + dir + "' && find . -type f ! -name '.lock' ! -name 'pgca.db*' | sort | xargs sha256sum"}).out;
    CHECK(before == after);
    auto ledger = open_ledger("sqlite:" + dir + "/pgca.db");
    for (const auto& e : ledger->list()) CHECK(e.status == CertStatus::valid);

    // The real run does it: bob's certificates are revoked, his folder is gone, the CRL lists him.
    std::string bob_serial = ledger->current(CertKind::client, "bob")->serial;
    r = apply(parse_profile(doc.dump(), "t.json"), dir, {});
    CHECK(count(r, "revoke") == 1);
    CHECK_FALSE(io::exists(dir + "/clients/bob"));
    auto crl = Crl::from_pem(io::read_file(dir + "/crl/intermediate.crl"), "intermediate.crl");
    CHECK(crl.revoked_serials() == std::vector<std::string>{bob_serial});
    CHECK(crl.number() == 2);
    // Every server folder carries both CAs' CRLs.
    CHECK(test::split_pem_blocks(io::read_file(dir + "/servers/db/root.crl")).size() == 2);
}

TEST_CASE("apply over many clients repairs exactly the folders that differ", "[apply]") {
    // 300 clients: the checks run on several threads (from 256 clients on).
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    json doc = base_profile();
    for (int i = 0; i < 298; ++i) doc["clients"].push_back({{"user", "u" + std::to_string(i)}});
    Profile p = parse_profile(doc.dump(), "t.json");
    (void)apply(p, dir, {});
    const std::string u7 = dir + "/clients/u7", u150 = dir + "/clients/u150", u297 = dir + "/clients/u297";
    const std::string u7_service = io::read_file(u7 + "/pg_service.conf");
    test::write_file(u7 + "/pg_service.conf", "[edited by hand]\n");
    REQUIRE(::chmod(u297.c_str(), 0755) == 0);
    REQUIRE(::unlink((u150 + "/postgresql.key").c_str()) == 0);

    auto r = apply(p, dir, {});
    CHECK(count(r, "keep") == 300);  // 1 server + 300 clients, less u150
    CHECK(count(r, "reissue") == 1);
    CHECK(count(r, "write") == 1);
    for (const auto& a : r.actions) {
        if (a.verb == "reissue") CHECK(a.name == "u150");
        if (a.verb == "write") CHECK(a.name == u7 + "/pg_service.conf");
    }
    CHECK(io::read_file(u7 + "/pg_service.conf") == u7_service);
    CHECK(mode_of(u297) == 0700);
    CHECK(io::exists(u150 + "/postgresql.key"));
    // And now nothing differs.
    auto again = apply(p, dir, {});
    CHECK(count(again, "keep") == 301);
    CHECK(again.actions.size() == 301);
}

TEST_CASE("a bulk issue that fails part-way records nothing and writes nothing", "[apply]") {
    // The leaves are made on other threads while this one records them: a failure in the middle
    // (here: a validity of 0 days for the 150th client) must still leave the ledger and the
    // folder as they were.
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    (void)apply(parse_profile(base_profile().dump(), "t.json"), dir, {});
    const std::size_t rows = open_ledger("sqlite:" + dir + "/pgca.db")->list().size();
    std::vector<ClientRequest> reqs;
    for (int i = 0; i < 300; ++i) reqs.push_back({IssueParams::client("bulk" + std::to_string(i), "", KeyAlg::ec_p256, i == 150 ? 0 : 30)});
    auto pki = PkiDir::open(dir, false);
    try {
        pki->transact([&] { (void)pki->issuance().issue_batch({}, reqs, pki->jobs()); });
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK_THAT(e.what(), Catch::Contains("bulk150"));
    }
    CHECK(pki->ledger().list().size() == rows);
    CHECK_FALSE(io::exists(dir + "/clients/bulk0"));
    CHECK_FALSE(io::exists(dir + "/clients/bulk299"));
    // The folder is still usable.
    reqs[150].params.days = 30;
    auto issued = pki->transact([&] { return pki->issuance().issue_batch({}, reqs, pki->jobs()); });
    CHECK(issued.size() == 300);
    CHECK(io::exists(dir + "/clients/bulk150/postgresql.key"));
}
