// init, issue, revoke, rotate and crl plan first (plan.hpp): a dry run returns the plan and
// changes nothing beneath the folder (files, modes and the ledger's bytes), and the real run then
// does the steps the plan listed, in that order.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "pgca/apply.hpp"
#include "pgca/io.hpp"
#include "pgca/operations.hpp"
#include "pgca/profile.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
namespace fs = std::filesystem;

namespace {

using Step = std::tuple<std::string, std::string, std::string>;  // verb, kind, name

// The steps of `actions`. A plan does not list the writes decided against the content they
// would hold (a conf or service file, a CRL that may be current): those are left out of the
// real run's actions too, unless the plan lists CRLs (init and crl, which always make them).
std::vector<Step> steps_of(const std::vector<Action>& actions, bool crls_listed) {
    std::vector<Step> out;
    for (const auto& a : actions) {
        if (a.verb == "write" && (a.kind == "file" || (a.kind == "crl" && !crls_listed))) continue;
        out.emplace_back(a.verb, a.kind, a.name);
    }
    return out;
}

bool lists_crls(const std::vector<Action>& planned) {
    for (const auto& a : planned)
        if (a.kind == "crl") return true;
    return false;
}

OpenOptions with_dry_run(bool dry) {
    OpenOptions o;
    o.dry_run = dry;
    return o;
}

// Runs `op` as a dry run, checks that nothing beneath `dir` changed, then runs it for real and
// checks that it did what the dry run planned. Returns the plan.
template <class Op>
std::vector<Action> planned_then_done(const std::string& dir, Op op) {
    const auto before = test::tree_snapshot(dir);
    const std::vector<Action> planned = op(with_dry_run(true));
    CHECK(test::tree_snapshot(dir) == before);
    REQUIRE_FALSE(planned.empty());
    const std::vector<Action> done = op(with_dry_run(false));
    CHECK(steps_of(done, lists_crls(planned)) == steps_of(planned, true));
    CHECK(test::tree_snapshot(dir) != before);
    return planned;
}

// A folder with a root, an intermediate, server db1 and clients alice and bob.
std::string applied_folder(const test::TempDir& tmp) {
    nlohmann::json j = test::minimal_profile("plans", {"alice", "bob"});
    j["ca"]["intermediate"] = {{"subject", {{"CN", "Plans Issuing"}}}};
    const std::string dir = tmp.file("pki");
    (void)apply(parse_profile(j.dump(), "plans.json"), dir, {});
    return dir;
}

std::string reason_of(const std::vector<Action>& actions, const std::string& verb, const std::string& name) {
    for (const auto& a : actions)
        if (a.verb == verb && a.name == name) return a.detail;
    FAIL("no " << verb << " " << name);
    return {};
}

}  // namespace

TEST_CASE("init plans its CA and first CRLs, and its dry run creates no folder", "[plan][init]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    CaSpec spec;
    spec.subject.set("CN", "Plans Root");
    IntermediateSpec in;
    in.subject.set("CN", "Plans Issuing");
    spec.intermediate = in;
    const auto planned = planned_then_done(dir, [&](const OpenOptions& o) {
        OpenOptions open = o;
        open.create = true;
        return ops::init(dir, spec, open);
    });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"create", "root", "root"},
                                                       {"create", "intermediate", "intermediate"},
                                                       {"write", "crl", "root"},
                                                       {"write", "crl", "intermediate"}});
    // A second init is refused, dry run included, and still changes nothing.
    const auto before = test::tree_snapshot(dir);
    OpenOptions dry = with_dry_run(true);
    dry.create = true;
    CHECK_THROWS_WITH(ops::init(dir, spec, dry), Catch::Contains("already has a root CA"));
    CHECK(test::tree_snapshot(dir) == before);
}

TEST_CASE("issue plans a first certificate or the one that replaces the current", "[plan][issue]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    ServerSpec db2;
    db2.name = "db2";
    db2.hosts = {"db2.example.com"};
    auto planned = planned_then_done(dir, [&](const OpenOptions& o) {
        return ops::issue_server(dir, db2, KeyAlg::ec_p256, 30, o).actions;
    });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"issue", "server", "db2"}});
    CHECK(fs::exists(dir + "/servers/db2/postgresql.ssl.conf"));

    std::vector<ClientSpec> clients(2);
    clients[0].user = "alice";
    clients[1].user = "carol";
    planned = planned_then_done(dir, [&](const OpenOptions& o) {
        return ops::issue_clients(dir, clients, KeyAlg::ec_p256, 30, 2, o, {}).actions;
    });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"reissue", "client", "alice"}, {"issue", "client", "carol"}});
    CHECK_THAT(reason_of(planned, "reissue", "alice"), Catch::StartsWith("replaces serial "));
    CHECK(fs::exists(dir + "/clients/carol/pg_service.conf"));
}

TEST_CASE("revoke plans each certificate it revokes, and keeps what already is", "[plan][revoke]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    ops::RevokeTarget alice;
    alice.kind = CertKind::client;
    alice.name = "alice";
    auto planned = planned_then_done(dir, [&](const OpenOptions& o) {
        return ops::revoke(dir, alice, RevocationReason::key_compromise, o).actions;
    });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"revoke", "client", "alice"}});
    CHECK_THAT(reason_of(planned, "revoke", "alice"), Catch::EndsWith("(keyCompromise)"));

    // Again: nothing left to revoke; the dry run says so and changes nothing.
    const auto before = test::tree_snapshot(dir);
    const ops::RevokeResult again = ops::revoke(dir, alice, RevocationReason::key_compromise, with_dry_run(true));
    CHECK(test::tree_snapshot(dir) == before);
    CHECK(steps_of(again.actions, true) == std::vector<Step>{{"keep", "client", "alice"}});
    CHECK(again.already.size() == 1);
    CHECK(again.revoked.empty());
}

TEST_CASE("crl plans a new CRL for every CA", "[plan][crl]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    const auto planned = planned_then_done(dir, [&](const OpenOptions& o) { return ops::refresh_crls(dir, 0, o); });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"write", "crl", "root"}, {"write", "crl", "intermediate"}});
}

TEST_CASE("rotate plans each renewal, the reload and the verify, and a dry run runs neither", "[plan][rotate]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);
    const std::string marker = tmp.file("reloaded");
    ops::RotateOptions ro;
    ro.force = true;
    ro.reload = "touch " + marker;
    std::vector<Action> reported;
    ro.on_action = [&](const Action& a) { reported.push_back(a); };
    const auto before = test::tree_snapshot(dir);
    const ops::RotateResult dry = ops::rotate(dir, ro, with_dry_run(true));
    CHECK(test::tree_snapshot(dir) == before);
    CHECK_FALSE(fs::exists(marker));
    CHECK(reported.empty());
    CHECK(steps_of(dry.actions, true) == std::vector<Step>{{"rotate", "server", "db1"}, {"reload", "file", ro.reload}});
    CHECK_THAT(dry.actions.front().detail, Catch::EndsWith("--force"));

    const ops::RotateResult done = ops::rotate(dir, ro, with_dry_run(false));
    CHECK(steps_of(reported, true) == steps_of(dry.actions, true));
    CHECK(fs::exists(marker));
    CHECK_THAT(reason_of(done.actions, "rotate", "db1"), Catch::Contains(" -> "));

    // Fresh now: the plan keeps it, and nothing is reloaded.
    ro.force = false;
    ro.within = 0;
    const ops::RotateResult fresh = ops::rotate(dir, ro, with_dry_run(true));
    CHECK(steps_of(fresh.actions, true) == std::vector<Step>{{"keep", "server", "db1"}});
}

TEST_CASE("rotate renews a pooler's two certificates: with the servers by default, or alone with --pooler",
          "[plan][rotate][pooler]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    nlohmann::json j = test::minimal_profile("plans", {"alice", "bob"});
    j["poolers"] = nlohmann::json::array(
        {{{"name", "b1"}, {"hosts", {"pool.example.com"}}, {"port", 6432}, {"upstream", "db1"}, {"users", {"alice"}}}});
    const Profile profile = parse_profile(j.dump(), "plans.json");
    (void)apply(profile, dir, {});
    const std::string b1 = dir + "/poolers/b1/";
    const std::string server_crt = io::read_file(b1 + "server.crt");
    const std::string client_crt = io::read_file(b1 + "client.crt");

    ops::RotateOptions ro;
    ro.force = true;
    const auto planned = planned_then_done(dir, [&](const OpenOptions& o) { return ops::rotate(dir, ro, o).actions; });
    CHECK(steps_of(planned, true) == std::vector<Step>{{"rotate", "server", "db1"},
                                                       {"rotate", "pooler", "b1"},
                                                       {"rotate", "pooler_client", "b1"}});
    CHECK(io::read_file(b1 + "server.crt") != server_crt);
    CHECK(io::read_file(b1 + "client.crt") != client_crt);
    // The rotated files are the ones the ledger holds: the next apply keeps them.
    for (const auto& a : apply(profile, dir, {}).actions) {
        INFO(a.verb << " " << a.kind << " " << a.name << ": " << a.detail);
        CHECK((a.verb != "issue" && a.verb != "reissue"));
    }

    // --pooler alone, --keep-key: the pooler's server key stays (its path is the pooler's folder).
    ro.poolers = {"b1"};
    ro.keep_key = true;
    const std::string key = io::read_file(b1 + "server.key");
    const auto alone = planned_then_done(dir, [&](const OpenOptions& o) { return ops::rotate(dir, ro, o).actions; });
    CHECK(steps_of(alone, true) == std::vector<Step>{{"rotate", "pooler", "b1"}, {"rotate", "pooler_client", "b1"}});
    CHECK(io::read_file(b1 + "server.key") == key);
    ro.keep_key = false;
    ro.force = false;
    ro.within = 0;
    ro.poolers.clear();
    const ops::RotateResult fresh = ops::rotate(dir, ro, with_dry_run(true));
    CHECK(steps_of(fresh.actions, true) ==
          std::vector<Step>{{"keep", "server", "db1"}, {"keep", "pooler", "b1"}, {"keep", "pooler_client", "b1"}});

    ro.poolers = {"b2"};
    CHECK_THROWS_WITH(ops::rotate(dir, ro, with_dry_run(true)), Catch::Contains("pooler \"b2\""));
}
