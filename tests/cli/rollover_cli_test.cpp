// pgca rollover as scripts use it: each phase's files, its refusals, its dry runs, and the
// commands that keep to the phase (apply, issue, crl).
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;
using test::pgca_run;
using test::read_file;

namespace {

json profile(bool intermediate = false) {
    json p = json::parse(R"({
      "pgca_profile": 1, "name": "roll",
      "ca": { "subject": { "CN": "Roll Root", "O": "pgca tests" } },
      "servers": [ { "name": "db", "hosts": ["db.example.com"] } ],
      "clients": [ { "user": "alice" }, { "user": "bob" } ],
      "poolers": [ { "name": "pool", "hosts": ["pool.example.com"], "upstream": "db", "users": ["alice"] } ]
    })");
    if (intermediate) p["ca"]["intermediate"] = {{"subject", {{"CN", "Roll Issuing"}}}};
    return p;
}

struct Folder {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    std::string profile_file = tmp.path() + "/p.json";
    explicit Folder(const json& p = profile()) {
        test::write_file(profile_file, p.dump());
        run_ok({"apply", profile_file, "--dir", dir});
    }
    test::ProcessResult run_ok(std::vector<std::string> args) const {
        auto r = pgca_run(std::move(args));
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        return r;
    }
    std::vector<std::string> subjects(const std::string& rel) const {
        std::vector<std::string> out;
        for (const auto& c : Certificate::chain_from_pem(read_file(dir + "/" + rel), rel)) out.push_back(c.info().common_name);
        return out;
    }
    std::vector<std::string> crl_issuers(const std::string& rel) const {
        std::vector<std::string> out;
        const std::string pem = read_file(dir + "/" + rel);
        for (std::size_t at = pem.find("-----BEGIN X509 CRL-----"); at != std::string::npos;
             at = pem.find("-----BEGIN X509 CRL-----", at + 1)) {
            const std::size_t end = pem.find("-----END X509 CRL-----", at) + 23;
            out.push_back(Crl::from_pem(pem.substr(at, end - at), rel).issuer_rfc2253());
        }
        return out;
    }
    std::string issuer_dn(const std::string& rel) const {
        return Certificate::chain_from_pem(read_file(dir + "/" + rel), rel).front().info().issuer;
    }
};

const std::vector<std::string> kBoth{"Roll Root", "Roll Root R2"};
const std::vector<std::string> kOld{"Roll Root"};
const std::vector<std::string> kNew{"Roll Root R2"};
const std::string kOldDn = "CN=Roll Root,O=pgca tests";
const std::string kNewDn = "CN=Roll Root R2,O=pgca tests";

}  // namespace

TEST_CASE("rollover begin puts both roots in every trust file and a CRL of each in every CRL file",
          "[cli][rollover]") {
    Folder f;
    const std::string before = read_file(f.dir + "/clients/alice/root.crt");
    // A dry run shows the plan and changes nothing.
    auto r = f.run_ok({"rollover", "begin", "--dir", f.dir, "--dry-run"});
    CHECK_THAT(r.out, Catch::Contains("would create   root next-root  new root CA \"" + kNewDn + "\""));
    CHECK_THAT(r.out, Catch::Contains("4 trust files"));
    CHECK(read_file(f.dir + "/clients/alice/root.crt") == before);
    CHECK(test::run({"test", "-e", f.dir + "/ca/next"}).exit_code != 0);

    r = f.run_ok({"rollover", "begin", "--dir", f.dir, "--days", "4000", "--json"});
    CHECK(json::parse(r.out)["phase"] == "begun");
    CHECK(f.subjects("ca/next/root.crt") == kNew);
    CHECK(f.subjects("ca/root.crt") == kOld);
    for (const char* file : {"servers/db/root.crt", "clients/alice/root.crt", "clients/bob/root.crt", "poolers/pool/root.crt"}) {
        INFO(file);
        CHECK(f.subjects(file) == kBoth);
    }
    CHECK(f.crl_issuers("servers/db/root.crl") == std::vector<std::string>{kOldDn, kNewDn});
    CHECK(f.crl_issuers("crl/next-root.crl") == std::vector<std::string>{kNewDn});

    // Idempotent: the same begin again changes nothing; other options are refused, naming the phase.
    r = f.run_ok({"rollover", "begin", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("keep     root next-root  rollover already begun"));
    CHECK_THAT(r.out, !Catch::Contains("write"));
    r = pgca_run({"rollover", "begin", "--dir", f.dir, "--days", "100"});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("already in phase \"begun\", begun with --key ec-p256 --days 4000"));

    // issue, crl and apply keep to the phase.
    f.run_ok({"issue", "client", "--dir", f.dir, "--user", "carol"});
    CHECK(f.subjects("clients/carol/root.crt") == kBoth);
    CHECK(f.issuer_dn("clients/carol/postgresql.crt") == kOldDn);
    r = f.run_ok({"crl", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("crl next-root"));
    CHECK(f.crl_issuers("servers/db/root.crl") == std::vector<std::string>{kOldDn, kNewDn});
    test::write_file(f.dir + "/clients/bob/root.crt", read_file(f.dir + "/ca/root.crt"));  // an old file put back
    f.run_ok({"apply", f.profile_file, "--dir", f.dir});
    CHECK(f.subjects("clients/bob/root.crt") == kBoth);

    // status: the phase, and per folder what it trusts and where its certificate comes from.
    r = f.run_ok({"rollover", "status", "--dir", f.dir, "--json"});
    json s = json::parse(r.out);
    CHECK(s["phase"] == "begun");
    CHECK(s["old_ca"] == kOldDn);
    CHECK(s["new_ca"] == kNewDn);
    bool saw_alice = false;
    for (const auto& folder : s["folders"])
        if (folder["name"] == "alice") {
            saw_alice = true;
            CHECK(folder["trusts"] == json::array({"old", "new"}));
            CHECK(folder["chains_to"] == "old");
            CHECK(folder["lacks_new"] == false);
        }
    CHECK(saw_alice);
}

TEST_CASE("rollover reissue signs every leaf with the new root and finish refuses while an old leaf remains", "[cli][rollover]") {
    Folder f;
    auto r = pgca_run({"rollover", "reissue", "--dir", f.dir});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("no CA rollover in progress; run `pgca rollover begin` first"));
    f.run_ok({"rollover", "begin", "--dir", f.dir});

    // finish before reissue: refused, listing the old CA's leaves; nothing changed.
    r = pgca_run({"rollover", "finish", "--dir", f.dir});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("valid certificates of the old CA remain: server db (serial"));
    CHECK_THAT(r.err, Catch::Contains("client alice (serial"));
    CHECK_THAT(r.err, Catch::Contains("--force"));
    CHECK(f.subjects("ca/root.crt") == kOld);

    r = f.run_ok({"rollover", "reissue", "--dir", f.dir, "--dry-run"});
    CHECK_THAT(r.out, Catch::Contains("would reissue  client alice"));
    CHECK(f.issuer_dn("clients/alice/postgresql.crt") == kOldDn);
    const std::string marker = f.tmp.path() + "/reloaded";
    r = f.run_ok({"rollover", "reissue", "--dir", f.dir, "--reload", "touch " + marker});
    CHECK(test::run({"test", "-e", marker}).exit_code == 0);
    for (const char* file : {"servers/db/server.crt", "clients/alice/postgresql.crt", "clients/bob/postgresql.crt",
                             "poolers/pool/server.crt", "poolers/pool/client.crt"}) {
        INFO(file);
        CHECK(f.issuer_dn(file) == kNewDn);
    }
    CHECK(f.subjects("clients/alice/root.crt") == kBoth);  // still both, until finish
    // pgca check trusts the new root beside the old one during the rollover.
    r = pgca_run({"check", "--dir", f.dir});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    // A second reissue has nothing to do; a new leaf now comes from the new root.
    r = f.run_ok({"rollover", "reissue", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("every valid leaf is signed by the new root"));
    f.run_ok({"issue", "client", "--dir", f.dir, "--user", "carol"});
    CHECK(f.issuer_dn("clients/carol/postgresql.crt") == kNewDn);
    // apply keeps them: they are from the CA that signs now.
    r = f.run_ok({"apply", f.profile_file, "--dir", f.dir});
    CHECK_THAT(r.out, !Catch::Contains("reissue"));

    r = f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK(f.subjects("ca/root.crt") == kNew);
    CHECK(test::run({"test", "-e", f.dir + "/ca/next"}).exit_code != 0);
    CHECK(test::run({"test", "-e", f.dir + "/crl/next-root.crl"}).exit_code != 0);
    for (const char* file : {"servers/db/root.crt", "clients/alice/root.crt", "poolers/pool/root.crt"}) {
        INFO(file);
        CHECK(f.subjects(file) == kNew);
    }
    CHECK(f.crl_issuers("servers/db/root.crl") == std::vector<std::string>{kNewDn});
    CHECK(f.crl_issuers("crl/root.crl") == std::vector<std::string>{kNewDn});
    r = f.run_ok({"rollover", "status", "--dir", f.dir, "--json"});
    CHECK(json::parse(r.out)["phase"] == "");
    // Finished: a second finish has nothing to do; a new rollover can begin (R3).
    r = f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("no rollover in progress"));
    r = f.run_ok({"rollover", "begin", "--dir", f.dir, "--dry-run"});
    CHECK_THAT(r.out, Catch::Contains("\"CN=Roll Root R3,O=pgca tests\""));
}

TEST_CASE("rollover finish --force revokes the old CA's leaves first and the intermediate leaves with the old root",
          "[cli][rollover]") {
    Folder f(profile(true));
    f.run_ok({"rollover", "begin", "--dir", f.dir});
    // The server's ssl_ca_file: the old root, its intermediate and the new root; CRLs for all three.
    CHECK(f.subjects("servers/db/root.crt") == std::vector<std::string>{"Roll Root", "Roll Issuing", "Roll Root R2"});
    CHECK(f.subjects("clients/alice/root.crt") == kBoth);
    CHECK(f.crl_issuers("servers/db/root.crl").size() == 3);
    auto r = f.run_ok({"rollover", "finish", "--dir", f.dir, "--force", "--dry-run"});
    CHECK_THAT(r.out, Catch::Contains("would revoke   client alice"));
    r = f.run_ok({"rollover", "finish", "--dir", f.dir, "--force"});
    CHECK(test::run({"test", "-e", f.dir + "/ca/intermediate.crt"}).exit_code != 0);
    CHECK(test::run({"test", "-e", f.dir + "/crl/intermediate.crl"}).exit_code != 0);
    CHECK(f.subjects("servers/db/root.crt") == kNew);
    r = f.run_ok({"list", "--dir", f.dir, "--json"});
    json listed = json::parse(r.out);
    int revoked = 0;
    for (const auto& c : listed)
        if (c["status"] == "revoked") {
            ++revoked;
            CHECK(c["revocation_reason"] == "superseded");
        }
    CHECK(revoked == 5);  // db, alice, bob, and the pooler's two
}

TEST_CASE("rollover begin --intermediate makes a new intermediate under the same root", "[cli][rollover]") {
    {
        Folder plain;
        auto r = pgca_run({"rollover", "begin", "--dir", plain.dir, "--intermediate"});
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("has no intermediate CA; without --intermediate the root is replaced"));
    }
    Folder f(profile(true));
    f.run_ok({"rollover", "begin", "--dir", f.dir, "--intermediate"});
    CHECK(f.subjects("ca/next/intermediate.crt") == std::vector<std::string>{"Roll Issuing R2"});
    // Servers and poolers trust both intermediates (a client may send its leaf alone); a client's
    // sslrootcert keeps the root alone; every CRL file has a CRL of each of the three CAs.
    const std::vector<std::string> server_trust{"Roll Root", "Roll Issuing", "Roll Issuing R2"};
    CHECK(f.subjects("servers/db/root.crt") == server_trust);
    CHECK(f.subjects("poolers/pool/root.crt") == server_trust);
    CHECK(f.subjects("clients/alice/root.crt") == kOld);
    CHECK(f.crl_issuers("servers/db/root.crl") ==
          std::vector<std::string>{kOldDn, "CN=Roll Issuing", "CN=Roll Issuing R2"});
    auto r = pgca_run({"rollover", "begin", "--dir", f.dir});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("begun with --intermediate --key"));

    f.run_ok({"rollover", "reissue", "--dir", f.dir});
    CHECK(f.issuer_dn("clients/alice/postgresql.crt") == "CN=Roll Issuing R2");
    CHECK(f.subjects("clients/alice/postgresql.crt") == std::vector<std::string>{"alice", "Roll Issuing R2"});
    r = f.run_ok({"rollover", "status", "--dir", f.dir, "--json"});
    const json status = json::parse(r.out);  // a range-for over a temporary's member would dangle
    for (const auto& folder : status["folders"]) {
        INFO(folder.dump());
        CHECK(folder["chains_to"] == "new");
        CHECK(folder["lacks_new"] == false);
    }

    f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK(f.subjects("ca/intermediate.crt") == std::vector<std::string>{"Roll Issuing R2"});
    CHECK(f.subjects("ca/root.crt") == kOld);
    CHECK(f.subjects("servers/db/root.crt") == std::vector<std::string>{"Roll Root", "Roll Issuing R2"});
    CHECK(f.crl_issuers("servers/db/root.crl") == std::vector<std::string>{kOldDn, "CN=Roll Issuing R2"});
    CHECK(test::run({"test", "-e", f.dir + "/crl/next-intermediate.crl"}).exit_code != 0);
    // The old intermediate is revoked in the root's CRL.
    const Crl root_crl = Crl::from_pem(read_file(f.dir + "/crl/root.crl"), "root.crl");
    CHECK(root_crl.revoked_serials().size() == 1);
    r = f.run_ok({"check", "--dir", f.dir});
}

TEST_CASE("ledger rebuild during a rollover keeps its next CA and phase", "[cli][rollover]") {
    Folder f;
    f.run_ok({"rollover", "begin", "--dir", f.dir});
    f.run_ok({"rollover", "reissue", "--dir", f.dir});
    std::filesystem::remove(f.dir + "/pgca.db");
    auto r = f.run_ok({"ledger", "rebuild", "--dir", f.dir});
    CHECK_THAT(r.err, Catch::Contains("a CA rollover is in progress (" + kNewDn + "), recorded in phase reissued"));
    r = f.run_ok({"rollover", "status", "--dir", f.dir, "--json"});
    json s = json::parse(r.out);
    CHECK(s["phase"] == "reissued");
    CHECK(s["new_ca"] == kNewDn);
    // The rebuilt ledger knows the leaves of the new root: finish goes ahead.
    f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK(f.subjects("ca/root.crt") == kNew);
    CHECK(f.subjects("clients/alice/root.crt") == kNew);
}

namespace {

// Runs `args` on f's folder, then puts every file but the ledger back as it was before: what a
// kill -9 after the ledger's commit and before the file journal was durable leaves.
test::ProcessResult run_losing_files(const Folder& f, const std::vector<std::string>& args) {
    const std::string saved = f.tmp.path() + "/saved";
    REQUIRE(test::run({"sh", "-c", "rm -rf '" + saved + "' && cp -a '" + f.dir + "' '" + saved + "' && rm -f '" + saved +
                                       "'/pgca.db*"})
                .exit_code == 0);
    auto r = f.run_ok(args);
    REQUIRE(test::run({"sh", "-c", "cd '" + f.dir + "' && find . -mindepth 1 -maxdepth 1 ! -name 'pgca.db*' -exec rm -rf {} + && cp -a '" +
                                       saved + "'/. ."})
                .exit_code == 0);
    return r;
}

}  // namespace

TEST_CASE("each rollover step whose files did not land after its commit is completed by running it again",
          "[cli][rollover][crash]") {
    Folder f;
    // begin: the ledger has the phase, DIR/ca/next nothing; begin makes the next root again.
    run_losing_files(f, {"rollover", "begin", "--dir", f.dir});
    CHECK(test::run({"test", "-e", f.dir + "/ca/next"}).exit_code != 0);
    auto r = f.run_ok({"rollover", "begin", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("create   root next-root"));
    CHECK(f.subjects("clients/alice/root.crt") == kBoth);
    int valid_roots = 0;
    for (const auto& c : json::parse(f.run_ok({"list", "--dir", f.dir, "--json"}).out))
        valid_roots += c["kind"] == "root" && c["status"] == "valid" ? 1 : 0;
    CHECK(valid_roots == 2);  // the old root and the next one; the lost one superseded

    // reissue: the ledger has leaves of the new root, the folders the old ones.
    run_losing_files(f, {"rollover", "reissue", "--dir", f.dir});
    CHECK(f.issuer_dn("clients/alice/postgresql.crt") == kOldDn);
    r = f.run_ok({"rollover", "reissue", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("its files are not the ones the ledger recorded"));
    CHECK(f.issuer_dn("clients/alice/postgresql.crt") == kNewDn);
    CHECK(f.issuer_dn("servers/db/server.crt") == kNewDn);

    // finish: the ledger has no phase any more, DIR/ca/next still the new root.
    run_losing_files(f, {"rollover", "finish", "--dir", f.dir});
    CHECK(f.subjects("ca/next/root.crt") == kNew);
    r = pgca_run({"rollover", "reissue", "--dir", f.dir});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("run `pgca rollover finish` again to complete it"));
    f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK(f.subjects("ca/root.crt") == kNew);
    CHECK(f.subjects("clients/alice/root.crt") == kNew);
    CHECK(f.crl_issuers("servers/db/root.crl") == std::vector<std::string>{kNewDn});
    CHECK(test::run({"test", "-e", f.dir + "/ca/next"}).exit_code != 0);
    r = f.run_ok({"rollover", "finish", "--dir", f.dir});
    CHECK_THAT(r.out, Catch::Contains("no rollover in progress"));
}
