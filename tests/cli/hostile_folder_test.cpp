// A server folder handed to the `postgres` account (the documented deployment) is writable by an
// account pgca must not trust. Whatever that account plants there - links to folders and files
// outside DIR - pgca run as root changes nothing outside its folder, and a folder another
// account can change is refused before anything is read from it.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* const kAttacker = "postgres";

bool can_play_the_attacker() {
    return ::geteuid() == 0 && ::getpwnam(kAttacker) != nullptr && ::access("/usr/sbin/runuser", X_OK) == 0;
}

// Runs a shell command as the attacker.
void as_attacker(const std::string& command) {
    auto r = test::run({"/usr/sbin/runuser", "-u", kAttacker, "--", "/bin/sh", "-ec", command});
    INFO(test::describe({"runuser", command}, r));
    REQUIRE(r.exit_code == 0);
}

test::ProcessResult run_pgca(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PGCA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run(argv);
}

// Everything about a file tree that pgca must not change: per path, type and mode, owner, bytes.
using Snapshot = std::map<std::string, std::tuple<unsigned, unsigned, std::string>>;

Snapshot snapshot(const std::string& root) {
    Snapshot out;
    auto one = [&](const std::string& p) {
        struct stat st {};
        REQUIRE(::lstat(p.c_str(), &st) == 0);
        std::string bytes = S_ISREG(st.st_mode) ? test::read_file(p) : std::string();
        out[p] = {static_cast<unsigned>(st.st_mode), static_cast<unsigned>(st.st_uid), bytes};
    };
    one(root);
    if (fs::is_directory(fs::symlink_status(root)))
        for (const auto& e : fs::recursive_directory_iterator(root)) one(e.path().string());
    return out;
}

std::string hostile_profile(const test::TempDir& tmp) { return test::write_profile(tmp, test::minimal_profile("hostile")); }

bool is_link(const std::string& p) { return fs::is_symlink(fs::symlink_status(p)); }

}  // namespace

TEST_CASE("links planted in a postgres-owned server folder never reach outside DIR", "[hostile]") {
    PGCA_REQUIRE_TOOL(can_play_the_attacker(), "root, runuser and a postgres account");
    test::TempDir tmp;
    const std::string dir = tmp.file("pki"), db1 = dir + "/servers/db1";
    const std::string profile = hostile_profile(tmp);
    REQUIRE(run_pgca({"apply", profile, "--dir", dir}).exit_code == 0);
    REQUIRE(test::run({"chown", "-R", "postgres:postgres", db1}).exit_code == 0);

    // What the attacker points at: a root-only folder holding a file, a file, a postgres file.
    const std::string outside = tmp.file("root-only"), outside_file = tmp.file("outside.crl");
    const std::string postgres_file = tmp.file("postgres-owned");
    REQUIRE(::mkdir(outside.c_str(), 0700) == 0);
    test::write_file(outside + "/secret", "root's secret\n", 0600);
    test::write_file(outside_file, "not a CRL\n", 0644);
    test::write_file(postgres_file, "postgres's file\n", 0600);
    REQUIRE(::chown(postgres_file.c_str(), ::getpwnam(kAttacker)->pw_uid, ::getpwnam(kAttacker)->pw_gid) == 0);
    const Snapshot before = snapshot(tmp.path() + "/root-only"), before_file = snapshot(outside_file),
                   before_pg = snapshot(postgres_file);
    auto outside_unchanged = [&] {
        CHECK(snapshot(outside) == before);
        CHECK(snapshot(outside_file) == before_file);
        CHECK(snapshot(postgres_file) == before_pg);
    };

    SECTION("a linked crl/ folder is refused by crl and apply, and left alone") {
        as_attacker("rm -rf '" + db1 + "/crl' && ln -s '" + outside + "' '" + db1 + "/crl'");
        // rotate does not touch crl/ while the CRLs are fresh; when it does, it refuses too.
        for (const auto& args : std::vector<std::vector<std::string>>{{"crl", "--dir", dir},
                                                                      {"rotate", "--dir", dir, "--force"},
                                                                      {"apply", profile, "--dir", dir}}) {
            auto r = run_pgca(args);
            INFO(test::describe(args, r));
            if (args.front() != "rotate" || r.exit_code != 0) {
                CHECK(r.exit_code == 2);
                CHECK_THAT(r.err, Catch::Contains(db1 + "/crl") && Catch::Contains("does not follow links"));
            }
            outside_unchanged();
            CHECK(is_link(db1 + "/crl"));
        }
    }

    SECTION("linked files are replaced by real files, their targets untouched") {
        as_attacker("rm -f '" + db1 + "/root.crl' '" + db1 + "/server.key' && ln -s '" + outside_file + "' '" + db1 +
                    "/root.crl' && ln -s '" + postgres_file + "' '" + db1 + "/server.key'");
        auto crl = run_pgca({"crl", "--dir", dir});
        INFO(crl.err);
        CHECK(crl.exit_code == 0);
        outside_unchanged();
        CHECK_FALSE(is_link(db1 + "/root.crl"));
        auto rotate = run_pgca({"rotate", "--dir", dir, "--force"});
        INFO(rotate.err);
        CHECK(rotate.exit_code == 0);
        outside_unchanged();
        REQUIRE_FALSE(is_link(db1 + "/server.key"));
        struct stat st {};
        REQUIRE(::lstat((db1 + "/server.key").c_str(), &st) == 0);
        CHECK((st.st_uid == 0 || st.st_uid == ::getpwnam(kAttacker)->pw_uid));
        CHECK((st.st_mode & 07777) == 0600);
        auto apply = run_pgca({"apply", profile, "--dir", dir});
        INFO(apply.err);
        CHECK(apply.exit_code == 0);
        outside_unchanged();
        auto cert = Certificate::from_pem(test::read_file(db1 + "/server.crt"), "server.crt");
        CHECK(cert.matches(PrivateKey::from_pem(test::read_file(db1 + "/server.key"), "server.key")));
    }
}

TEST_CASE("a planted ca/root.key link in a folder postgres can write is refused by the ownership check", "[hostile]") {
    PGCA_REQUIRE_TOOL(can_play_the_attacker(), "root, runuser and a postgres account");
    test::TempDir tmp;
    const std::string dir = tmp.file("pki"), profile = hostile_profile(tmp);
    REQUIRE(run_pgca({"apply", profile, "--dir", dir}).exit_code == 0);
    REQUIRE(::chmod(dir.c_str(), 0777) == 0);  // a careless operator
    const std::string postgres_file = tmp.file("postgres-owned");
    test::write_file(postgres_file, "postgres's file\n", 0600);
    REQUIRE(::chown(postgres_file.c_str(), ::getpwnam(kAttacker)->pw_uid, ::getpwnam(kAttacker)->pw_gid) == 0);
    as_attacker("mv '" + dir + "/ca' '" + dir + "/ca.old' && mkdir '" + dir +
                "/ca' && ln -s '" + postgres_file + "' '" + dir + "/ca/root.key'");
    const Snapshot before = snapshot(postgres_file);
    auto r = run_pgca({"apply", profile, "--dir", dir});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("\"" + dir + "\" is owned by root") && Catch::Contains("0777") &&
                          Catch::Contains("chmod go-w " + dir));
    CHECK(snapshot(postgres_file) == before);
    CHECK(is_link(dir + "/ca/root.key"));

    // With DIR fixed, the CA folder postgres made is refused the same way.
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    r = run_pgca({"apply", profile, "--dir", dir});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("\"" + dir + "/ca\" is owned by postgres") && Catch::Contains("chown root"));
    CHECK(snapshot(postgres_file) == before);
}

TEST_CASE("a linked clients/ folder makes apply refuse, and the link's target keeps its folders", "[hostile]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki"), profile = hostile_profile(tmp);
    REQUIRE(run_pgca({"apply", profile, "--dir", dir}).exit_code == 0);
    const std::string victim = tmp.file("victim");
    REQUIRE(::mkdir(victim.c_str(), 0755) == 0);
    for (const char* sub : {"/projects", "/backups"}) {
        REQUIRE(::mkdir((victim + sub).c_str(), 0700) == 0);
        test::write_file(victim + sub + "/data", "precious\n", 0600);
    }
    fs::rename(dir + "/clients", tmp.file("clients.moved"));
    fs::create_directory_symlink(victim, dir + "/clients");
    const Snapshot before = snapshot(victim);
    auto r = run_pgca({"apply", profile, "--dir", dir});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(dir + "/clients") && Catch::Contains("symbolic link"));
    CHECK(snapshot(victim) == before);
}
