// IssueParams: the one description of what a certificate is issued with, its fingerprint and
// the reasons apply gives when it differs.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca/issue_params.hpp"
#include "pgca/operations.hpp"
#include "pgca/apply.hpp"
#include "pgca/pki.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

PassphraseSource env(const std::string& name) {
    PassphraseSource s;
    s.kind = PassphraseSource::Kind::env;
    s.value = name;
    return s;
}

IssueParams db() { return IssueParams::server("db", {"localhost", "127.0.0.1"}, KeyAlg::ec_p256, 397, {}); }

}  // namespace

TEST_CASE("kinds are spelled as the ledger stores them", "[ledger][params]") {
    for (auto kind : {CertKind::root, CertKind::intermediate, CertKind::server, CertKind::client, CertKind::unknown})
        CHECK(parse_cert_kind(to_string(kind)) == kind);
    CHECK(to_string(CertKind::intermediate) == "intermediate");
    CHECK_FALSE(parse_cert_kind("Server"));
    CHECK_FALSE(parse_cert_kind(""));
}

TEST_CASE("the fingerprint covers what decides a re-issue and nothing else", "[ledger][params]") {
    const std::string base = db().fingerprint();
    CHECK(base.size() == 64);
    CHECK(db().fingerprint() == base);

    IssueParams longer = db();
    longer.days = 30;  // days never re-issue: recorded for rotate only
    CHECK(longer.fingerprint() == base);

    IssueParams hosts = db();
    hosts.hosts = {"127.0.0.1", "localhost"};  // order is the certificate's order
    CHECK(hosts.fingerprint() != base);
    IssueParams joined = db();
    joined.hosts = {"localhost127.0.0.1"};  // no two host lists encode alike
    CHECK(joined.fingerprint() != base);
    IssueParams key = db();
    key.key = KeyAlg::rsa_2048;
    CHECK(key.fingerprint() != base);
    IssueParams pass = db();
    pass.key_passphrase = env("DB_PASS");
    CHECK(pass.fingerprint() != base);
    IssueParams unknown_key = db();
    unknown_key.key.reset();
    CHECK(unknown_key.fingerprint() != base);

    // A client's CN "" is the role name: the same certificate subject, the same fingerprint.
    CHECK(IssueParams::client("alice", "", KeyAlg::ec_p256, 365).fingerprint() ==
          IssueParams::client("alice", "alice", KeyAlg::ec_p256, 30).fingerprint());
    CHECK(IssueParams::client("alice", "", KeyAlg::ec_p256, 365).fingerprint() !=
          IssueParams::client("alice", "alice@example.com", KeyAlg::ec_p256, 365).fingerprint());
    // The kind is part of it.
    CHECK(IssueParams::ca(CertKind::root, KeyAlg::ec_p256, 3650).fingerprint() !=
          IssueParams::ca(CertKind::intermediate, KeyAlg::ec_p256, 3650).fingerprint());
}

TEST_CASE("differences name each changed field as apply reports it", "[ledger][params]") {
    CHECK(db().differences(db()).empty());
    IssueParams wanted = db();
    wanted.hosts.push_back("db.example.com");
    wanted.key = KeyAlg::ec_p384;
    wanted.days = 10;
    CHECK(db().differences(wanted) ==
          std::vector<std::string>{R"(hosts changed (["localhost","127.0.0.1"] → ["localhost","127.0.0.1","db.example.com"]))",
                                   R"(key changed ("ec-p256" → "ec-p384"))"});
    wanted = db();
    wanted.key_passphrase = env("DB_PASS");
    CHECK(db().differences(wanted) ==
          std::vector<std::string>{R"(key_passphrase changed ("" → "{\"env\":\"DB_PASS\"}"))"});

    auto alice = IssueParams::client("alice", "", KeyAlg::ec_p256, 365);
    CHECK(alice.differences(IssueParams::client("alice", "a@example.com", KeyAlg::ec_p256, 365)) ==
          std::vector<std::string>{R"(cn changed ("alice" → "a@example.com"))"});
}

TEST_CASE("a field not known matches only a wanted that is empty", "[ledger][params]") {
    // A rebuilt ledger does not know an encrypted server key's passphrase source, nor an unusual
    // key type: no reason while the profile names none, "none → …" when it does.
    IssueParams rebuilt = db();
    rebuilt.key_passphrase.reset();
    CHECK(rebuilt.fingerprint() != db().fingerprint());
    CHECK(rebuilt.differences(db()).empty());
    IssueParams wanted = db();
    wanted.key_passphrase = env("DB_PASS");
    CHECK(rebuilt.differences(wanted) ==
          std::vector<std::string>{R"(key_passphrase changed (none → "{\"env\":\"DB_PASS\"}"))"});
    rebuilt.key.reset();
    CHECK(rebuilt.differences(db()) == std::vector<std::string>{R"(key changed (none → "ec-p256"))"});
}

namespace {

nlohmann::json one_server_profile() {
    return nlohmann::json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" } },
      "servers": [ { "name": "db", "hosts": ["localhost"], "days": 45 } ],
      "clients": [ { "user": "alice" } ],
      "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
    })");
}

const Action* action_for(const ApplyResult& r, const std::string& kind, const std::string& name) {
    for (const auto& a : r.actions)
        if (a.kind == kind && a.name == name) return &a;
    return nullptr;
}

}  // namespace

TEST_CASE("apply re-issues on what the fingerprint covers, and days are recorded for rotate", "[ledger][params][apply]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    auto doc = one_server_profile();
    (void)apply(parse_profile(doc.dump(), "t.json"), dir, {});
    {
        auto l = open_ledger("sqlite:" + dir + "/pgca.db", {true});
        CHECK(l->current(CertKind::server, "db")->params.days == 45);
        CHECK(l->current(CertKind::client, "alice")->params.days == 365);
    }

    // A changed days alone re-issues nothing.
    doc["servers"][0]["days"] = 60;
    doc["clients"][0]["days"] = 40;
    auto r = apply(parse_profile(doc.dump(), "t.json"), dir, {});
    REQUIRE(action_for(r, "server", "db"));
    CHECK(action_for(r, "server", "db")->verb == "keep");
    CHECK(action_for(r, "client", "alice")->verb == "keep");

    // A changed host does, with the reason apply has always given.
    doc["servers"][0]["hosts"].push_back("db.example.com");
    ApplyOptions dry;
    dry.dry_run = true;
    r = apply(parse_profile(doc.dump(), "t.json"), dir, dry);
    REQUIRE(action_for(r, "server", "db"));
    CHECK(action_for(r, "server", "db")->verb == "reissue");
    CHECK(action_for(r, "server", "db")->detail == R"(hosts changed (["localhost"] → ["localhost","db.example.com"]))");
    r = apply(parse_profile(doc.dump(), "t.json"), dir, {});
    auto l = open_ledger("sqlite:" + dir + "/pgca.db", {true});
    CHECK(l->current(CertKind::server, "db")->params.days == 60);
    l.reset();

    // rotate renews for as long as the ledger says the certificate was issued.
    ops::RotateOptions force;
    force.force = true;
    (void)ops::rotate(dir, force, OpenOptions{});
    auto now = open_ledger("sqlite:" + dir + "/pgca.db", {true})->current(CertKind::server, "db");
    REQUIRE(now);
    CHECK(now->params.days == 60);
    CHECK(now->params.hosts == std::vector<std::string>{"localhost", "db.example.com"});
    const long days = static_cast<long>((now->not_after - now->not_before) / 86400);
    CHECK(days == 60);
}
