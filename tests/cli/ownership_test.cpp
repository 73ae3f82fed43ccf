// A folder is pgca's only when pgca made it, and destructive changes are deliberate: the pgca
// binary refuses foreign and ledger-less folders, rebuilds a lost ledger, refuses another
// profile's name and mass revocations, and its dry run lists every removal.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/ledger.hpp"
#include "pgca/profile.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

using test::pgca_run;

// A profile with an intermediate, one server and `clients` clients (c0, c1, …).
json profile(const std::string& name, int clients) {
    json doc = json::parse(R"({
      "pgca_profile": 1,
      "ca": { "subject": { "CN": "O Root" }, "intermediate": { "subject": { "CN": "O Issuing" } } },
      "servers": [ { "name": "db", "hosts": ["localhost", "127.0.0.1"] } ],
      "clients": [],
      "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
    })");
    doc["name"] = name;
    for (int i = 0; i < clients; ++i) doc["clients"].push_back({{"user", "c" + std::to_string(i)}});
    return doc;
}

// Writes `path`, creating its folders.
void put(const std::string& path, const std::string& data) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    test::write_file(path, data);
}

std::string write_profile(const test::TempDir& tmp, const json& doc, const std::string& file = "p.json") {
    std::string path = tmp.path() + "/" + file;
    test::write_file(path, doc.dump(2));
    return path;
}

// serial → status, as `pgca list --json` shows the certificates.
std::map<std::string, std::string> listed(const std::string& dir) {
    auto r = pgca_run({"list", "--dir", dir, "--json"});
    REQUIRE(r.exit_code == 0);
    std::map<std::string, std::string> out;
    for (const auto& row : json::parse(r.out))
        if (row["kind"] != "crl") out[row["serial"].get<std::string>()] = row["status"].get<std::string>();
    return out;
}

// `args` as given and with --dry-run: both must give the same answer.
std::vector<std::vector<std::string>> real_and_dry(const std::vector<std::string>& args) {
    auto dry = args;
    dry.push_back("--dry-run");
    return {args, dry};
}

std::size_t count_actions(const std::string& out, const std::string& verb) {
    std::size_t n = 0;
    const json doc = json::parse(out);
    for (const auto& a : doc["actions"]) n += a["action"] == verb ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("a non-empty folder without a ledger is refused by apply, its dry run and init", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    const std::string p = write_profile(tmp, profile("o", 1));
    put(dir + "/notes.txt", "mine\n");
    put(dir + "/pg_hba.conf", "local all all peer\n");
    put(dir + "/clients/someone/README", "not pgca's\n");

    for (const auto& args : real_and_dry({"apply", p, "--dir", dir})) {
        auto r = pgca_run(args);
        INFO(test::describe(args, r));
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("is not empty and has no pgca ledger") && Catch::Contains("notes.txt") &&
                              Catch::Contains("pg_hba.conf") && Catch::Contains("clients"));
    }
    auto r = pgca_run({"init", "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("is not empty"));
    // Nothing was touched.
    CHECK(test::read_file(dir + "/pg_hba.conf") == "local all all peer\n");
    CHECK(io::exists(dir + "/clients/someone/README"));
    CHECK_FALSE(io::exists(dir + "/pgca.db"));
    CHECK_FALSE(io::exists(dir + "/ca"));

    // Many entries: the first few are named, with the count.
    const std::string many = tmp.path() + "/many";
    for (int i = 0; i < 12; ++i) put(many + "/f" + std::to_string(i + 10), "x");
    r = pgca_run({"apply", p, "--dir", many});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("f10, f11") && Catch::Contains("12 entries") && !Catch::Contains("f21"));

    // A missing or empty folder is fine.
    const std::string empty = tmp.path() + "/empty";
    REQUIRE(::mkdir(empty.c_str(), 0755) == 0);
    CHECK(pgca_run({"apply", p, "--dir", empty}).exit_code == 0);
    CHECK(pgca_run({"apply", p, "--dir", tmp.path() + "/fresh"}).exit_code == 0);
    CHECK(pgca_run({"init", "--dir", tmp.path() + "/fresh-init"}).exit_code == 0);
}

TEST_CASE("a lost ledger is refused by every command and `pgca ledger rebuild` restores it", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    const std::string p = write_profile(tmp, profile("o", 3));
    REQUIRE(pgca_run({"apply", p, "--dir", dir}).exit_code == 0);
    // c1 is revoked, and the next apply gives it a new certificate: the revoked one is then only
    // in the ledger and the CRL.
    REQUIRE(pgca_run({"revoke", "--dir", dir, "--user", "c1", "--reason", "keyCompromise"}).exit_code == 0);
    REQUIRE(pgca_run({"apply", p, "--dir", dir}).exit_code == 0);
    const auto before = listed(dir);
    std::string revoked_c1;
    for (const auto& [serial, status] : before)
        if (status == "revoked") revoked_c1 = serial;
    REQUIRE_FALSE(revoked_c1.empty());
    const Crl old_crl = Crl::from_pem(io::read_file(dir + "/crl/intermediate.crl"), "intermediate.crl");
    REQUIRE(old_crl.revoked_serials() == std::vector<std::string>{revoked_c1});
    const std::string c0_serial =
        Certificate::from_pem(io::read_file(dir + "/clients/c0/postgresql.crt"), "c0").serial_hex();

    for (auto f : {"/pgca.db", "/pgca.db-wal", "/pgca.db-shm"}) ::unlink((dir + f).c_str());

    const std::vector<std::vector<std::string>> commands{
        {"apply", p, "--dir", dir},
        {"apply", p, "--dir", dir, "--dry-run"},
        {"init", "--dir", dir},
        {"list", "--dir", dir},
        {"revoke", "--dir", dir, "--serial", c0_serial},
        {"crl", "--dir", dir},
        {"issue", "client", "--dir", dir, "--user", "zed"},
        {"issue", "server", "--dir", dir, "--name", "db2", "--host", "db2.example.com"},
        {"rotate", "--dir", dir, "--force"},
    };
    for (const auto& args : commands) {
        auto r = pgca_run(args);
        INFO(test::describe(args, r));
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("no ledger (pgca.db)") && Catch::Contains("pgca ledger rebuild --dir " + dir));
    }
    CHECK_FALSE(io::exists(dir + "/pgca.db"));
    CHECK_FALSE(io::exists(dir + "/clients/zed"));

    auto r = pgca_run({"ledger", "rebuild", "--dir", dir, "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const json rebuilt = json::parse(r.out);
    CHECK(rebuilt["recorded"].size() == before.size());
    CHECK(rebuilt["skipped"].empty());
    CHECK(listed(dir) == before);

    // The same profile again: nothing is issued, nothing is rewritten.
    r = pgca_run({"apply", p, "--dir", dir, "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(count_actions(r.out, "keep") == 4);
    CHECK(json::parse(r.out)["actions"].size() == 4);

    // Every old certificate stays revocable, and the next CRL continues the numbering.
    r = pgca_run({"revoke", "--dir", dir, "--serial", c0_serial});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(pgca_run({"crl", "--dir", dir}).exit_code == 0);
    const Crl crl = Crl::from_pem(io::read_file(dir + "/crl/intermediate.crl"), "intermediate.crl");
    CHECK(crl.number() > old_crl.number());
    auto serials = crl.revoked_serials();
    CHECK(std::set<std::string>(serials.begin(), serials.end()) == std::set<std::string>{revoked_c1, c0_serial});

    // Only a lost ledger is rebuilt.
    r = pgca_run({"ledger", "rebuild", "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("only replaces a lost ledger"));
}

TEST_CASE("ledger rebuild skips a certificate another CA issued and keeps revocation times", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki", other = tmp.path() + "/other";
    const std::string p = write_profile(tmp, profile("o", 2));
    REQUIRE(pgca_run({"apply", p, "--dir", dir}).exit_code == 0);
    REQUIRE(pgca_run({"apply", p, "--dir", other}).exit_code == 0);
    REQUIRE(pgca_run({"revoke", "--dir", dir, "--user", "c0", "--reason", "affiliationChanged"}).exit_code == 0);
    auto before = json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    // c1's files now come from another folder's CA.
    for (auto f : {"/postgresql.crt", "/postgresql.key"})
        test::write_file(dir + "/clients/c1" + f, io::read_file(other + "/clients/c1" + f));
    for (auto f : {"/pgca.db", "/pgca.db-wal", "/pgca.db-shm"}) ::unlink((dir + f).c_str());

    auto r = pgca_run({"ledger", "rebuild", "--dir", dir});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("skipped " + dir + "/clients/c1/postgresql.crt: not issued by the folder's CA"));
    auto after = json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    for (const auto& row : before) {
        if (row["kind"] != "client" || row["name"] != "c0") continue;
        bool found = false;
        for (const auto& a : after)
            if (a["kind"] != "crl" && a["serial"] == row["serial"]) {
                found = true;
                CHECK(a["status"] == "revoked");
                CHECK(a["revocation_reason"] == "affiliationChanged");
                CHECK(a["revoked_at"] == row["revoked_at"]);
            }
        CHECK(found);
    }
    // The next apply gives c1 a certificate of this folder's CA.
    r = pgca_run({"apply", p, "--dir", dir, "--json"});
    REQUIRE(r.exit_code == 0);
    CHECK(count_actions(r.out, "issue") == 2);  // c0 (revoked) and c1 (skipped)
}

TEST_CASE("a profile of another name is refused unless --rename", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", write_profile(tmp, profile("alpha", 2), "a.json"), "--dir", dir}).exit_code == 0);
    json beta = profile("beta", 0);
    const std::string b = write_profile(tmp, beta, "b.json");
    const auto before = listed(dir);
    for (const auto& args : real_and_dry({"apply", b, "--dir", dir})) {
        auto r = pgca_run(args);
        INFO(test::describe(args, r));
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("\"beta\"") && Catch::Contains("\"alpha\"") && Catch::Contains("--rename"));
    }
    CHECK(listed(dir) == before);
    CHECK(io::exists(dir + "/clients/c0"));

    auto r = pgca_run({"apply", b, "--dir", dir, "--rename"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_FALSE(io::exists(dir + "/clients/c0"));
    CHECK(pgca_run({"apply", b, "--dir", dir}).exit_code == 0);  // the new name is the folder's now
    CHECK(pgca_run({"apply", write_profile(tmp, profile("alpha", 2), "a.json"), "--dir", dir}).exit_code == 2);
}

TEST_CASE("an apply that would revoke most of the folder needs --allow-mass-revocation", "[ownership]") {
    test::TempDir tmp;
    // 1 server + 9 clients = 10 leaves.
    auto keeping = [&](int clients) {
        json doc = profile("o", 9);
        doc["clients"].erase(doc["clients"].begin(), doc["clients"].begin() + (9 - clients));
        return write_profile(tmp, doc, "keep" + std::to_string(clients) + ".json");
    };
    SECTION("6 of 10 leaving is refused, and changes nothing") {
        const std::string dir = tmp.path() + "/pki";
        REQUIRE(pgca_run({"apply", keeping(9), "--dir", dir}).exit_code == 0);
        const auto before = listed(dir);
        for (const auto& args : real_and_dry({"apply", keeping(3), "--dir", dir})) {
            auto r = pgca_run(args);
            INFO(test::describe(args, r));
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.err, Catch::Contains("would revoke 6 of the folder's 10") && Catch::Contains("client c0") &&
                                  Catch::Contains("client c5") && !Catch::Contains("client c6") &&
                                  Catch::Contains("--allow-mass-revocation"));
        }
        CHECK(listed(dir) == before);
        CHECK(io::exists(dir + "/clients/c0/postgresql.key"));
        auto r = pgca_run({"apply", keeping(3), "--dir", dir, "--allow-mass-revocation", "--json"});
        REQUIRE(r.exit_code == 0);
        CHECK(count_actions(r.out, "revoke") == 6);
        CHECK_FALSE(io::exists(dir + "/clients/c0"));
    }
    SECTION("half of the leaves is not more than half") {
        const std::string dir = tmp.path() + "/pki";
        REQUIRE(pgca_run({"apply", keeping(9), "--dir", dir}).exit_code == 0);
        auto r = pgca_run({"apply", keeping(4), "--dir", dir, "--json"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(count_actions(r.out, "revoke") == 5);
    }
    SECTION("fewer than 5 may go, even most of a small folder") {
        const std::string dir = tmp.path() + "/pki";
        json doc = profile("o", 4);
        REQUIRE(pgca_run({"apply", write_profile(tmp, doc, "four.json"), "--dir", dir}).exit_code == 0);
        doc["clients"] = json::array();
        auto r = pgca_run({"apply", write_profile(tmp, doc, "none.json"), "--dir", dir, "--json"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(count_actions(r.out, "revoke") == 4);
    }
}

TEST_CASE("the dry run lists every folder and file apply would remove", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", write_profile(tmp, profile("o", 2)), "--dir", dir}).exit_code == 0);
    const std::string c1_serial =
        Certificate::from_pem(io::read_file(dir + "/clients/c1/postgresql.crt"), "c1").serial_hex();
    put(dir + "/clients/stray/file", "x");
    put(dir + "/servers/db/crl/0badc0de.r0", "stale");
    const std::string p = write_profile(tmp, profile("o", 1), "less.json");  // c1 leaves

    auto r = pgca_run({"apply", p, "--dir", dir, "--dry-run"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("would revoke   client c1") && Catch::Contains(c1_serial));
    CHECK_THAT(r.out, Catch::Contains("would remove   " + dir + "/clients/c1 "));
    CHECK_THAT(r.out, Catch::Contains("would remove   " + dir + "/clients/stray "));
    CHECK_THAT(r.out, Catch::Contains("would remove   " + dir + "/servers/db/crl/0badc0de.r0 "));

    r = pgca_run({"apply", p, "--dir", dir, "--dry-run", "--json"});
    REQUIRE(r.exit_code == 0);
    std::set<std::string> removals;
    const json planned = json::parse(r.out);
    for (const auto& a : planned["actions"])
        if (a["action"] == "remove") removals.insert(a["name"].get<std::string>());
    CHECK(removals == std::set<std::string>{dir + "/clients/c1", dir + "/clients/stray",
                                            dir + "/servers/db/crl/0badc0de.r0"});
    CHECK(io::exists(dir + "/clients/c1/postgresql.key"));

    // What the dry run listed is what the real run removes.
    REQUIRE(pgca_run({"apply", p, "--dir", dir}).exit_code == 0);
    for (const auto& path : removals) CHECK_FALSE(io::exists(path));
}

TEST_CASE("revoke --serial finds a serial whose first hex digit is 0", "[ownership]") {
    // One serial in eight starts with a 0 nibble ("0A…"): with the leading zero stripped, the
    // ledger lookup missed it, so a rebuilt ledger's old certificates were not always revocable.
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", write_profile(tmp, profile("o", 1)), "--dir", dir}).exit_code == 0);
    const std::string serial = "0A" + std::string(30, 'B');
    {
        auto ledger = open_ledger("sqlite:" + dir + "/pgca.db");
        LedgerEntry e = ledger->current(CertKind::client, "c0").value();
        e.serial = serial;
        e.name = "zed";
        ledger->record(e);
    }
    for (const std::string& given : {std::string("0a") + std::string(30, 'b'), "000" + serial}) {
        auto r = pgca_run({"revoke", "--dir", dir, "--serial", given});
        INFO(given << "\n" << r.err);
        CHECK(r.exit_code == 0);
    }
    auto serials = Crl::from_pem(io::read_file(dir + "/crl/intermediate.crl"), "intermediate.crl").revoked_serials();
    CHECK(serials == std::vector<std::string>{serial});
}

TEST_CASE("ledger rebuild keeps the folder guards: ownership, and no link followed", "[ownership]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki", other = tmp.path() + "/other";
    const std::string p = write_profile(tmp, profile("g", 2));
    REQUIRE(pgca_run({"apply", p, "--dir", dir}).exit_code == 0);
    REQUIRE(pgca_run({"apply", p, "--dir", other}).exit_code == 0);
    for (auto f : {"/pgca.db", "/pgca.db-wal", "/pgca.db-shm"}) ::unlink((dir + f).c_str());

    // A folder anyone may write is refused, as by every other command.
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);
    auto r = pgca_run({"ledger", "rebuild", "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("the PKI folder"));
    CHECK_FALSE(io::exists(dir + "/pgca.db"));
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);

    // c1's certificate replaced by a link to a certificate elsewhere: never read through it.
    const std::string c1 = dir + "/clients/c1/postgresql.crt";
    REQUIRE(::unlink(c1.c_str()) == 0);
    REQUIRE(::symlink((other + "/clients/c1/postgresql.crt").c_str(), c1.c_str()) == 0);
    r = pgca_run({"ledger", "rebuild", "--dir", dir});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c1) && Catch::Contains("symbolic link"));
    CHECK_FALSE(io::exists(dir + "/pgca.db"));
    // Once the link is gone, the rebuild goes ahead without c1.
    REQUIRE(::unlink(c1.c_str()) == 0);
    r = pgca_run({"ledger", "rebuild", "--dir", dir});
    REQUIRE(r.exit_code == 0);
    auto rows = json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    for (const auto& row : rows) CHECK_FALSE((row["kind"] == "client" && row["name"] == "c1"));
}
