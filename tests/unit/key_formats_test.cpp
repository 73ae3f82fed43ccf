// Client key formats (postgresql.pk8, postgresql.p12) and per-server ports: what apply writes,
// and that a format change rewrites the bundle without issuing a new certificate.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/apply.hpp"
#include "pgca/pkcs12.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

constexpr const char* kPass = "p12 secret";

json formats_profile() {
    ::setenv("PGCA_TEST_P12_PASS", kPass, 1);
    return json::parse(R"({
      "pgca_profile": 1, "name": "kf",
      "ca": { "subject": { "CN": "KF Root" }, "intermediate": { "subject": { "CN": "KF Issuing" } } },
      "defaults": { "p12_passphrase": { "env": "PGCA_TEST_P12_PASS" } },
      "servers": [ { "name": "db", "hosts": ["localhost"] } ],
      "clients": [ { "user": "alice" }, { "user": "bob", "formats": ["pem", "pk8", "p12"] } ]
    })");
}

std::size_t count(const ApplyResult& r, const std::string& verb, const std::string& kind = "") {
    std::size_t n = 0;
    for (const auto& a : r.actions) n += a.verb == verb && (kind.empty() || a.kind == kind) ? 1 : 0;
    return n;
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st;
}

std::string profile_error(const json& j) {
    try {
        (void)parse_profile(j.dump(), "p.json");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::profile);
        return e.what();
    }
    FAIL("the profile was accepted");
    return "";
}

}  // namespace

TEST_CASE("formats pk8 and p12 write postgresql.pk8 and postgresql.p12 (0600) made from the bundle's key", "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    (void)apply(parse_profile(formats_profile().dump(), "kf.json"), dir, {});
    const std::string bob = dir + "/clients/bob/";
    const PrivateKey key = PrivateKey::from_pem(test::read_file(bob + "postgresql.key"), "key");
    CHECK(test::read_file(bob + "postgresql.pk8") == key.to_pkcs8_der());
    const std::string chain = test::read_file(bob + "postgresql.crt");
    CHECK(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, chain, "user", kPass));
    CHECK_FALSE(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, chain, "user", "wrong"));
    CHECK_FALSE(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, chain, "other", kPass));
    for (const char* f : {"postgresql.pk8", "postgresql.p12"}) CHECK((stat_of(bob + f).st_mode & 07777) == 0600);
    // PEM only for alice: no other key file.
    CHECK_FALSE(io::exists(dir + "/clients/alice/postgresql.pk8"));
    CHECK_FALSE(io::exists(dir + "/clients/alice/postgresql.p12"));
}

TEST_CASE("openssl reads postgresql.pk8 as the bundle's key and finds the key of postgresql.p12 under \"user\"",
          "[formats][interop]") {
    PGCA_REQUIRE_OPENSSL();
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    (void)apply(parse_profile(formats_profile().dump(), "kf.json"), dir, {});
    const std::string bob = dir + "/clients/bob/";
    auto der = test::run({"openssl", "pkey", "-inform", "DER", "-in", bob + "postgresql.pk8", "-pubout"});
    auto pem = test::run({"openssl", "pkey", "-in", bob + "postgresql.key", "-pubout"});
    REQUIRE(der.exit_code == 0);
    CHECK(der.out == pem.out);
    auto info = test::run({"openssl", "pkcs12", "-in", bob + "postgresql.p12", "-info", "-nokeys", "-passin",
                           std::string("pass:") + kPass});
    REQUIRE(info.exit_code == 0);
    CHECK(info.out.find("friendlyName: user") != std::string::npos);
    CHECK(info.err.find("MAC: sha256") != std::string::npos);
}

TEST_CASE("a format change rewrites the key files without a new certificate, and a second apply changes nothing",
          "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    (void)apply(parse_profile(j.dump(), "kf.json"), dir, {});
    const std::string alice = dir + "/clients/alice/";
    const std::string cert = test::read_file(alice + "postgresql.crt");

    j["clients"][0]["formats"] = {"pk8", "p12"};
    auto r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "reissue") == 0);
    CHECK(count(r, "issue") == 0);
    CHECK(test::read_file(alice + "postgresql.crt") == cert);
    const PrivateKey key = PrivateKey::from_pem(test::read_file(alice + "postgresql.key"), "key");
    CHECK(test::read_file(alice + "postgresql.pk8") == key.to_pkcs8_der());
    CHECK(pkcs12_holds(test::read_file(alice + "postgresql.p12"), key, cert, "user", kPass));

    // Same profile again: nothing written (the PKCS#12 is checked, not compared byte for byte).
    const auto before = stat_of(alice + "postgresql.p12");
    r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "write") == 0);
    CHECK(stat_of(alice + "postgresql.p12").st_ino == before.st_ino);

    // A damaged or loosened key file is made again; the certificate stays.
    test::write_file(alice + "postgresql.p12", "garbage", 0600);
    ::chmod((alice + "postgresql.pk8").c_str(), 0644);
    r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "reissue") == 0);
    CHECK(count(r, "write", "file") == 2);
    CHECK(pkcs12_holds(test::read_file(alice + "postgresql.p12"), key, cert, "user", kPass));
    CHECK((stat_of(alice + "postgresql.pk8").st_mode & 07777) == 0600);

    // Back to PEM only: the other files go, the certificate stays.
    j["clients"][0].erase("formats");
    r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "reissue") == 0);
    CHECK(count(r, "remove") == 2);
    CHECK_FALSE(io::exists(alice + "postgresql.pk8"));
    CHECK_FALSE(io::exists(alice + "postgresql.p12"));
    CHECK(test::read_file(alice + "postgresql.crt") == cert);
}

TEST_CASE("a re-issued client gets key files made from its new key", "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    (void)apply(parse_profile(j.dump(), "kf.json"), dir, {});
    const std::string bob = dir + "/clients/bob/";
    const std::string old_pk8 = test::read_file(bob + "postgresql.pk8");
    j["clients"][1]["key"] = "ec-p384";
    auto r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "reissue") == 1);
    const PrivateKey key = PrivateKey::from_pem(test::read_file(bob + "postgresql.key"), "key");
    CHECK(test::read_file(bob + "postgresql.pk8") == key.to_pkcs8_der());
    CHECK(test::read_file(bob + "postgresql.pk8") != old_pk8);
    CHECK(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, test::read_file(bob + "postgresql.crt"), "user",
                       kPass));
}

TEST_CASE("p12 without defaults.p12_passphrase, and an unknown format, are refused naming the key", "[formats]") {
    json j = formats_profile();
    j["defaults"].erase("p12_passphrase");
    CHECK_THAT(profile_error(j), Catch::Contains("clients[1].formats: \"p12\" needs defaults.p12_passphrase"));
    j["clients"][1].erase("formats");
    j["defaults"]["client_formats"] = {"p12"};
    CHECK_THAT(profile_error(j), Catch::Contains("defaults.client_formats: \"p12\" needs defaults.p12_passphrase"));
    j = formats_profile();
    j["clients"][1]["formats"] = {"der"};
    CHECK_THAT(profile_error(j), Catch::Contains("clients[1].formats: unknown key format \"der\" (known: pem, pk8, p12)"));
}

TEST_CASE("a missing p12 passphrase source stops apply before anything is written", "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    j["defaults"]["p12_passphrase"] = {{"env", "PGCA_TEST_P12_UNSET"}};
    ::unsetenv("PGCA_TEST_P12_UNSET");
    CHECK_THROWS_WITH(apply(parse_profile(j.dump(), "kf.json"), dir, {}), Catch::Contains("defaults.p12_passphrase"));
    CHECK_FALSE(io::exists(dir));
}

TEST_CASE("servers[].port reaches the service entries, and a port out of range is refused", "[formats][port]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    j["servers"] = json::parse(R"([{ "name": "db", "hosts": ["localhost"], "port": 6543 },
                                   { "name": "db2", "hosts": ["db2.example"] }])");
    j["client_settings"] = {{"port", "7000"}};
    (void)apply(parse_profile(j.dump(), "kf.json"), dir, {});
    const std::string service = test::read_file(dir + "/clients/alice/pg_service.conf");
    CHECK_THAT(service, Catch::Contains("[kf-db]\nhost=localhost\nport=6543\nuser=alice\nsslmode=verify-full\n"));
    CHECK_THAT(service, Catch::Contains("[kf-db2]\nhost=db2.example\nuser=alice\nport=7000\n"));
    for (int bad : {0, 65536}) {
        j["servers"][0]["port"] = bad;
        CHECK_THAT(profile_error(j), Catch::Contains("servers[0].port: must be between 1 and 65535"));
    }
}

TEST_CASE("a link planted where a key file goes is replaced by the file, its target untouched", "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    (void)apply(parse_profile(j.dump(), "kf.json"), dir, {});
    const std::string outside = tmp.path() + "/outside";
    test::write_file(outside, "not a key\n", 0644);
    const std::string bob = dir + "/clients/bob/";
    for (const char* f : {"postgresql.pk8", "postgresql.p12"}) {
        REQUIRE(::unlink((bob + f).c_str()) == 0);
        REQUIRE(::symlink(outside.c_str(), (bob + f).c_str()) == 0);
    }
    auto r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "reissue") == 0);
    CHECK(test::read_file(outside) == "not a key\n");
    const PrivateKey key = PrivateKey::from_pem(test::read_file(bob + "postgresql.key"), "key");
    struct stat st {};
    REQUIRE(::lstat((bob + "postgresql.pk8").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(test::read_file(bob + "postgresql.pk8") == key.to_pkcs8_der());
    CHECK(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, test::read_file(bob + "postgresql.crt"), "user",
                       kPass));

    // Formats no longer wanted: a planted link is removed, never followed.
    REQUIRE(::unlink((bob + "postgresql.pk8").c_str()) == 0);
    REQUIRE(::symlink(outside.c_str(), (bob + "postgresql.pk8").c_str()) == 0);
    j["clients"][1]["formats"] = {"pem"};
    r = apply(parse_profile(j.dump(), "kf.json"), dir, {});
    CHECK(count(r, "remove") == 2);
    CHECK(::lstat((bob + "postgresql.pk8").c_str(), &st) != 0);
    CHECK_FALSE(io::exists(bob + "postgresql.p12"));
    CHECK(test::read_file(outside) == "not a key\n");
}

TEST_CASE("with a root CA alone (no intermediate in the bundle) a second apply leaves postgresql.p12 as it is",
          "[formats]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    json j = formats_profile();
    j["ca"].erase("intermediate");
    const Profile profile = parse_profile(j.dump(), "kf.json");
    (void)apply(profile, dir, {});
    const std::string bob = dir + "/clients/bob/";
    const PrivateKey key = PrivateKey::from_pem(test::read_file(bob + "postgresql.key"), "key");
    // A PKCS#12 with no CA certificates at all, its leaf alone.
    CHECK(pkcs12_holds(test::read_file(bob + "postgresql.p12"), key, test::read_file(bob + "postgresql.crt"), "user",
                       kPass));
    const auto before = stat_of(bob + "postgresql.p12");
    const auto r = apply(profile, dir, {});
    CHECK(count(r, "write") == 0);
    CHECK(stat_of(bob + "postgresql.p12").st_ino == before.st_ino);
}
