// The pgca binary as scripts use it: exit codes, messages, files.
#include <catch2/catch.hpp>

#include <cctype>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/io.hpp"
#include "pgca/key.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

using test::pgca_run;

std::string profile_path(const std::string& name) { return std::string(PGCA_SOURCE_DIR) + "/profiles/" + name + ".json"; }

}  // namespace

TEST_CASE("usage errors exit 2 with a pgca: error: line", "[cli]") {
    auto r = pgca_run({"frobnicate"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("pgca: error: unknown command \"frobnicate\""));
    r = pgca_run({"apply"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("PROFILE is required"));
    r = pgca_run({"issue", "client", "--dir", "/nonexistent", "--bogus"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("bogus"));
    r = pgca_run({"issue", "client", "--dir", "/tmp", "--user", "alice", "--key", "dsa"});
    CHECK(r.exit_code == 2);
}

TEST_CASE("every command has --help and the version prints", "[cli]") {
    for (auto cmd : {"apply", "init", "list", "inspect"}) {
        auto r = pgca_run({cmd, "--help"});
        INFO(cmd);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("--dir") || Catch::Contains("FILE"));
    }
    CHECK(pgca_run({"issue", "server", "--help"}).exit_code == 0);
    CHECK(pgca_run({"issue", "client", "--help"}).exit_code == 0);
    CHECK_THAT(pgca_run({"--version"}).out, Catch::StartsWith("pgca "));
}

TEST_CASE("an invalid profile exits 2 naming the path, and writes nothing", "[cli]") {
    test::TempDir tmp;
    test::write_file(tmp.path() + "/bad.json",
                     R"({"pgca_profile":1,"name":"x","ca":{"subject":{"CN":"R"}},"clients":[{"user":"a","cn":"b"}]})");
    auto r = pgca_run({"apply", tmp.path() + "/bad.json", "--dir", tmp.path() + "/pki"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("bad.json: clients[0]:"));
    CHECK(test::run({"test", "-e", tmp.path() + "/pki"}).exit_code != 0);

    r = pgca_run({"apply", tmp.path() + "/missing.json", "--dir", tmp.path() + "/pki"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("missing.json"));
}

TEST_CASE("apply, apply again, list and inspect", "[cli]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    auto r = pgca_run({"apply", profile_path("seed-blog"), "--dir", dir});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("pgca: warning: hba[3]:"));
    CHECK_THAT(r.out, Catch::Contains("issue    client myuser2"));

    r = pgca_run({"apply", profile_path("seed-blog"), "--dir", dir, "--json"});
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    for (const auto& a : j["actions"]) CHECK(a["action"] == "keep");
    CHECK(j["actions"].size() == 6);

    r = pgca_run({"list", "--dir", dir, "--json"});
    REQUIRE(r.exit_code == 0);
    auto list = nlohmann::json::parse(r.out);
    CHECK(list.size() == 8);  // root + server + 5 clients + the root's CRL
    CHECK(list.back()["kind"] == "crl");
    CHECK(list.back()["days_left"].get<int>() >= 89);
    CHECK(list.back()["days_left"].get<int>() <= 90);
    r = pgca_run({"list", "--dir", dir});
    CHECK_THAT(r.out, Catch::Contains("NAME") && Catch::Contains("myuser5") && Catch::Contains("valid"));
    r = pgca_run({"list", "--dir", dir, "--expiring", "400"});
    CHECK_THAT(r.out, Catch::Contains("db1") && !Catch::Contains("root     root") && Catch::Contains("root     crl"));
    r = pgca_run({"list", "--dir", dir, "--expiring", "30"});
    CHECK_THAT(r.out, !Catch::Contains("db1") && !Catch::Contains("crl"));

    r = pgca_run({"inspect", dir + "/servers/db1/server.crt", "--json"});
    REQUIRE(r.exit_code == 0);
    auto info = nlohmann::json::parse(r.out);
    CHECK(info[0]["ip_addresses"] == nlohmann::json::array({"127.0.0.1"}));
    CHECK(info[0]["extended_key_usage"] == nlohmann::json::array({"serverAuth"}));
    r = pgca_run({"inspect", dir + "/clients/myuser2/postgresql.crt"});
    CHECK_THAT(r.out, Catch::Contains("CN:           myuser2"));

    test::write_file(tmp.path() + "/junk.pem", "not a certificate\n");
    r = pgca_run({"inspect", tmp.path() + "/junk.pem"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("junk.pem: no PEM certificate found"));
}

TEST_CASE("init, then issue server and client by hand", "[cli]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    auto r = pgca_run({"issue", "client", "--dir", dir, "--user", "alice"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("holds no pgca PKI"));

    REQUIRE(pgca_run({"init", "--dir", dir, "--cn", "Hand Root", "--intermediate"}).exit_code == 0);
    r = pgca_run({"init", "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("already has a root CA"));
    CHECK(pgca_run({"init", "--dir", tmp.path() + "/other", "--key", "ed25519"}).exit_code == 2);

    r = pgca_run({"issue", "server", "--dir", dir, "--name", "db", "--host", "localhost", "--host", "127.0.0.1"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    r = pgca_run({"issue", "client", "--dir", dir, "--user", "alice", "--key", "rsa-2048", "--days", "30"});
    REQUIRE(r.exit_code == 0);
    auto info = nlohmann::json::parse(pgca_run({"inspect", dir + "/clients/alice/postgresql.crt", "--json"}).out);
    CHECK(info.size() == 2);  // leaf + intermediate
    CHECK(info[0]["key_type"] == "RSA 2048");
    CHECK(info[1]["subject"] == "CN=Hand Root Issuing CA");

    r = pgca_run({"issue", "client", "--dir", dir, "--user", "bad\nname"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("control character"));
    r = pgca_run({"issue", "server", "--dir", dir, "--name", "../x", "--host", "localhost"});
    CHECK(r.exit_code == 2);
}

TEST_CASE("revoke by serial, user or server: bad requests exit 2", "[cli][revoke]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"apply", profile_path("seed-blog"), "--dir", dir}).exit_code == 0);
    auto list = nlohmann::json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    std::string serial;
    for (const auto& e : list)
        if (e["name"] == "myuser3") serial = e["serial"];
    REQUIRE_FALSE(serial.empty());

    CHECK(pgca_run({"revoke", "--dir", dir}).exit_code == 2);
    CHECK(pgca_run({"revoke", "--dir", dir, "--user", "myuser3", "--server", "db1"}).exit_code == 2);
    auto r = pgca_run({"revoke", "--dir", dir, "--user", "myuser3", "--reason", "stolen"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("unknown reason \"stolen\""));
    r = pgca_run({"revoke", "--dir", dir, "--user", "nobody"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("no certificate for client \"nobody\""));
    r = pgca_run({"revoke", "--dir", dir, "--serial", "DEADBEEF"});
    CHECK(r.exit_code == 2);

    // Lower-case hex and leading zeros are fine.
    std::string lower;
    for (char c : serial) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r = pgca_run({"revoke", "--dir", dir, "--serial", "00" + lower, "--reason", "superseded", "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto out = nlohmann::json::parse(r.out);
    CHECK(out["revoked"] == nlohmann::json::array({serial}));
    list = nlohmann::json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    for (const auto& e : list)
        if (e["name"] == "myuser3") {
            CHECK(e["status"] == "revoked");
            CHECK(e["revocation_reason"] == "superseded");
        }
    // The next apply issues myuser3 a fresh certificate.
    r = pgca_run({"apply", profile_path("seed-blog"), "--dir", dir});
    CHECK_THAT(r.out, Catch::Contains("issue    client myuser3"));
}

TEST_CASE("issue client --users-file issues in bulk, and a bad line issues nothing", "[cli][bulk]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    REQUIRE(pgca_run({"init", "--dir", dir}).exit_code == 0);
    std::string users;
    for (int i = 0; i < 300; ++i) users += "user" + std::to_string(i) + "\n";
    test::write_file(tmp.path() + "/users.txt", "# staff\n\n" + users + "my user\n");
    auto r = pgca_run({"issue", "client", "--dir", dir, "--users-file", tmp.path() + "/users.txt", "-j", "2"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("issued 301 client certificates"));
    auto list = nlohmann::json::parse(pgca_run({"list", "--dir", dir, "--json"}).out);
    std::size_t clients = 0;
    for (const auto& e : list) clients += e["kind"] == "client" ? 1 : 0;
    CHECK(clients == 301);
    CHECK_THAT(test::read_file(dir + "/clients/my user/pg_service.conf"), Catch::Contains("user=my user\n"));

    test::write_file(tmp.path() + "/bad.txt", "fine\nbad/name\n");
    r = pgca_run({"issue", "client", "--dir", dir, "--users-file", tmp.path() + "/bad.txt"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("bad.txt:2: role name"));
    CHECK(test::run({"test", "-e", dir + "/clients/fine"}).exit_code != 0);
    test::write_file(tmp.path() + "/dup.txt", "a\nb\na\n");
    r = pgca_run({"issue", "client", "--dir", dir, "--users-file", tmp.path() + "/dup.txt"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("dup.txt:3: duplicate role \"a\""));
}

namespace {

// Every file of a folder (path, mode, bytes), except the lock file.
std::string snapshot(const std::string& dir) {
    return test::run({"sh", "-c", "cd '" + dir + "' && find . -type f ! -name .lock | sort | "
                                 "while read -r f; do stat -c '%n %a' \"$f\"; sha256sum < \"$f\"; done"}).out;
}

}  // namespace

TEST_CASE("CA keys encrypted at rest: a wrong or missing passphrase changes nothing", "[cli][secret]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    auto with_pass = [&](std::vector<std::string> args, const std::string& pass) {
        args.insert(args.begin(), PGCA_BIN);
        return test::run(args, {{"PGCA_CA_PASS", pass}});
    };
    auto r = with_pass({"init", "--dir", dir, "--intermediate", "--passphrase-env", "PGCA_CA_PASS"}, "right one");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    for (auto key : {"/ca/root.key", "/ca/intermediate.key"})
        CHECK(test::read_file(dir + key).rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);
    REQUIRE(with_pass({"issue", "client", "--dir", dir, "--user", "alice"}, "right one").exit_code == 0);

    std::string before = snapshot(dir);
    r = with_pass({"issue", "client", "--dir", dir, "--user", "bob"}, "wrong one");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("intermediate.key: wrong passphrase"));
    r = pgca_run({"issue", "client", "--dir", dir, "--user", "bob"});  // variable unset
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("environment variable PGCA_CA_PASS is not set"));
    r = with_pass({"revoke", "--dir", dir, "--user", "alice"}, "wrong one");
    CHECK(r.exit_code == 2);
    CHECK(snapshot(dir) == before);
    // Reading needs no passphrase.
    CHECK(pgca_run({"list", "--dir", dir}).exit_code == 0);
}

TEST_CASE("a profile passphrase encrypts new CA keys, and existing clear ones", "[cli][secret]") {
    test::TempDir tmp;
    std::string dir = tmp.path() + "/pki";
    test::write_file(tmp.path() + "/pass", "file passphrase\n", 0600);
    auto doc = nlohmann::json::parse(test::read_file(profile_path("local-dev")));
    REQUIRE(pgca_run({"apply", profile_path("local-dev"), "--dir", dir}).exit_code == 0);
    CHECK(test::read_file(dir + "/ca/root.key").rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);

    doc["ca"]["passphrase"] = {{"file", tmp.path() + "/pass"}};
    test::write_file(tmp.path() + "/p.json", doc.dump());
    auto r = pgca_run({"apply", tmp.path() + "/p.json", "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("encrypt  root root"));
    CHECK(test::read_file(dir + "/ca/root.key").rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) == 0);

    test::write_file(tmp.path() + "/pass", "another passphrase\n", 0600);
    std::string before = snapshot(dir);
    doc["clients"].push_back({{"user", "newcomer"}});
    test::write_file(tmp.path() + "/p.json", doc.dump());
    r = pgca_run({"apply", tmp.path() + "/p.json", "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("root.key: wrong passphrase"));
    CHECK(snapshot(dir) == before);
}

TEST_CASE("rotate makes again a rotation whose files were put back to the old pair", "[cli][rotate]") {
    // When the file writes after a rotation's commit fail, the old key and certificate are put
    // back while the ledger already records the new certificate. A later plain `rotate` must see
    // that the files are not the recorded ones and rotate, not report the server as fresh.
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki", folder = dir + "/servers/db";
    REQUIRE(pgca_run({"init", "--dir", dir}).exit_code == 0);
    REQUIRE(pgca_run({"issue", "server", "--dir", dir, "--name", "db", "--host", "localhost"}).exit_code == 0);
    const std::string old_crt = pgca::io::read_file(folder + "/server.crt");
    const std::string old_key = pgca::io::read_file(folder + "/server.key");
    REQUIRE(pgca_run({"rotate", "--dir", dir, "--force"}).exit_code == 0);
    test::write_file(folder + "/server.crt", old_crt);
    test::write_file(folder + "/server.key", old_key);

    auto r = pgca_run({"rotate", "--dir", dir});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("rotate   server db"));
    auto cert = pgca::Certificate::from_pem(pgca::io::read_file(folder + "/server.crt"), "server.crt");
    auto key = pgca::PrivateKey::from_pem(pgca::io::read_file(folder + "/server.key"), "server.key");
    CHECK(cert.matches(key));
    auto pki = pgca::PkiDir::open(dir, false);
    auto current = pki->ledger().current(CertKind::server, "db");
    REQUIRE(current);
    CHECK(current->fingerprint == cert.sha256_fingerprint());
    // And once the files are the recorded ones, rotate keeps them.
    pki.reset();
    r = pgca_run({"rotate", "--dir", dir});
    CHECK_THAT(r.out, Catch::Contains("keep     server db"));
}
