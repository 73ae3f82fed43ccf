// pgca check against a real PostgreSQL 15: a working deployment (a pgca folder with an
// intermediate CA, the server's PGDATA including its files, the live server read through a
// superuser's client bundle) has no finding; then each fault is planted into a fresh copy of it,
// one per case, and found with its code.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include <nlohmann/json.hpp>

#include "pgca/ca.hpp"
#include "pgca/certificate.hpp"
#include "pgca/check.hpp"
#include "pgca/crl.hpp"
#include "pgca/key.hpp"
#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

json profile() {
    return {
        {"pgca_profile", 1},
        {"name", "chk"},
        {"ca", {{"subject", {{"CN", "Check Root"}}}, {"intermediate", {{"subject", {{"CN", "Check Issuing"}}}}}}},
        {"servers", json::array({{{"name", "db1"}, {"hosts", {"127.0.0.1", "localhost"}}}})},
        {"clients", json::array({{{"user", "alice"}}, {{"user", "bob"}}, {{"user", "postgres"}}})},
        {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "all"},
                              {"address", "127.0.0.1/32"}, {"method", "cert"}}})},
    };
}

// The deployment every case starts from: applied, served by the shared PostgreSQL, alice and
// bob able to log in.
struct Deployment {
    AppliedServer s{profile().dump()};
    Deployment() {
        s.start("db1", {"alice", "bob"});
        auto r = s.connect("chk", "alice");
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    std::string file(const std::string& rel) const { return s.dir() + "/" + rel; }
    std::string target() { return "127.0.0.1:" + std::to_string(s.pg().port()); }

    struct Checked {
        int exit_code = -1;
        json findings;
        std::string err;
        [[nodiscard]] std::set<std::string> codes() const {
            std::set<std::string> out;
            for (const auto& f : findings) out.insert(f.at("code").get<std::string>());
            return out;
        }
        [[nodiscard]] bool has(const std::string& code, const std::string& severity = "error") const {
            return std::any_of(findings.begin(), findings.end(), [&](const json& f) {
                return f.at("code") == code && f.at("severity") == severity;
            });
        }
    };
    // pgca check --json with `args`; the live login through the postgres role's bundle.
    Checked check(std::vector<std::string> args, bool login = true) {
        args.insert(args.begin(), {"check", "--json"});
        EnvList env;
        if (login) {
            env = {{"PGSERVICEFILE", file("clients/postgres/pg_service.conf")}, {"PGSERVICE", "chk"}};
        }
        std::vector<std::string> argv{PGCA_BIN};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run(argv, env);
        Checked c;
        c.exit_code = r.exit_code;
        c.err = r.err;
        INFO(describe(argv, r));
        REQUIRE_NOTHROW(c.findings = json::parse(r.out));
        return c;
    }
    Checked check_all() { return check({"--dir", s.dir(), "--pgdata", s.pg().data_dir(), "--connect", target()}); }
};

pgca::CertificateAuthority intermediate(const std::string& dir) {
    return pgca::CertificateAuthority(
        pgca::Certificate::from_pem(read_file(dir + "/ca/intermediate.crt"), "intermediate.crt"),
        pgca::PrivateKey::from_pem(read_file(dir + "/ca/intermediate.key"), "intermediate.key"));
}

void chmod_file(const std::string& path, mode_t mode) { REQUIRE(::chmod(path.c_str(), mode) == 0); }

}  // namespace

TEST_CASE("check: a working deployment on PostgreSQL 15 has no finding", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    auto c = d.check_all();
    INFO(c.findings.dump(2) << c.err);
    CHECK(c.exit_code == 0);
    CHECK(c.findings.empty());
    // The text form says so too.
    auto text = run_pgca({"check", "--dir", d.s.dir()});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Matchers::Contains("0 errors, 0 warnings (1 servers, 3 client bundles checked)"));
}

TEST_CASE("check: key modes the server and libpq refuse", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    chmod_file(d.file("servers/db1/server.key"), 0640);
    chmod_file(d.file("clients/bob/postgresql.key"), 0644);
    auto c = d.check_all();
    INFO(c.findings.dump(2));
    CHECK(c.exit_code == 1);
    CHECK(c.has("server-key-mode"));
    CHECK(c.has("client-key-mode"));
    // libpq agrees about bob's key.
    auto bob = d.s.connect("chk", "bob");
    CHECK(bob.exit_code != 0);
    CHECK_THAT(bob.err, Catch::Matchers::Contains("has group or world access"));
    chmod_file(d.file("servers/db1/server.key"), 0600);
    chmod_file(d.file("clients/bob/postgresql.key"), 0600);
    if (PgCluster::running_as_root()) {
        // Owned by neither the database user nor root: the server refuses it.
        REQUIRE(::chown(d.file("servers/db1/server.key").c_str(), 65534, 65534) == 0);
        auto owner = d.check({"--pgdata", d.s.pg().data_dir()}, false);
        INFO(owner.findings.dump(2));
        CHECK(owner.has("server-key-owner"));
    }
}

TEST_CASE("check: a key that does not belong to its certificate", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    const std::string key = d.file("servers/db1/server.key");
    write_file(key, pgca::PrivateKey::generate(pgca::KeyAlg::ec_p256).to_pem(), 0600);
    PgCluster::chown_to_postgres(key);
    write_file(d.file("clients/alice/postgresql.key"), read_file(d.file("clients/bob/postgresql.key")), 0600);
    auto c = d.check({"--dir", d.s.dir()});
    INFO(c.findings.dump(2));
    CHECK(c.exit_code == 1);
    std::size_t mismatches = 0;
    for (const auto& f : c.findings) mismatches += f.at("code") == "key-cert-mismatch" ? 1 : 0;
    CHECK(mismatches == 2);
}

TEST_CASE("check: a server chain that does not reach the clients' root", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    // A pair from another CA: the key matches, the chain does not reach this folder's root.
    json other = profile();
    other["name"] = "other";
    other["ca"] = {{"subject", {{"CN", "Other Root"}}}};
    TempDir tmp;
    write_file(tmp.file("p.json"), other.dump());
    REQUIRE(run_pgca({"apply", tmp.file("p.json"), "--dir", tmp.file("pki")}).exit_code == 0);
    write_file(d.file("servers/db1/server.crt"), read_file(tmp.file("pki/servers/db1/server.crt")), 0644);
    write_file(d.file("servers/db1/server.key"), read_file(tmp.file("pki/servers/db1/server.key")), 0600);
    PgCluster::chown_to_postgres(d.file("servers/db1"));
    auto c = d.check({"--dir", d.s.dir()});
    INFO(c.findings.dump(2));
    CHECK(c.exit_code == 1);
    CHECK(c.codes() == std::set<std::string>{"chain-untrusted"});
    // Served after a reload, the live check says the same.
    d.s.pg().reload();
    auto live = d.check({"--dir", d.s.dir(), "--connect", d.target()}, false);
    INFO(live.findings.dump(2));
    CHECK(live.codes() == std::set<std::string>{"chain-untrusted"});
    CHECK(live.findings.size() == 2);  // the file and the served chain
}

TEST_CASE("check: ssl_ca_file without a CA of the client chains", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    write_file(d.file("servers/db1/root.crt"), read_file(d.file("ca/root.crt")), 0644);
    auto c = d.check({"--dir", d.s.dir()});
    INFO(c.findings.dump(2));
    CHECK(c.has("ca-file-missing-ca", "warning"));
    CHECK(c.exit_code == 0);
    write_file(d.file("servers/db1/root.crt"), read_file(d.file("ca/intermediate.crt")), 0644);
    auto no_root = d.check({"--dir", d.s.dir()});
    INFO(no_root.findings.dump(2));
    CHECK(no_root.has("ca-file-missing-ca", "error"));
    CHECK(no_root.exit_code == 1);
}

TEST_CASE("check: a CRL missing for the intermediate locks its clients out, and check says so", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    write_file(d.file("servers/db1/root.crl"), read_file(d.file("crl/root.crl")), 0644);
    d.s.pg().reload();
    auto alice = d.s.connect("chk", "alice");
    CHECK(alice.exit_code != 0);  // the fault is real
    auto c = d.check_all();
    INFO(c.findings.dump(2));
    CHECK(c.exit_code == 1);
    CHECK(c.has("crl-missing"));
}

TEST_CASE("check: CRLs expired and expiring", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    const auto ca = intermediate(d.s.dir());
    const std::time_t now = std::time(nullptr);
    const std::string root = read_file(d.file("crl/root.crl"));
    auto plant = [&](std::time_t this_update, std::time_t next_update) {
        auto crl = pgca::make_crl(ca, {}, 1000, this_update, next_update);
        write_file(d.file("servers/db1/root.crl"), root + crl.to_pem(), 0644);
    };
    plant(now - 10 * 86400, now - 86400);
    auto expired = d.check({"--dir", d.s.dir()});
    INFO(expired.findings.dump(2));
    CHECK(expired.has("crl-expired"));
    CHECK(expired.exit_code == 1);
    plant(now - 80 * 86400, now + 5 * 86400);
    auto expiring = d.check({"--dir", d.s.dir()});
    INFO(expiring.findings.dump(2));
    CHECK(expiring.codes() == std::set<std::string>{"crl-expiring"});
    CHECK(expiring.has("crl-expiring", "warning"));
    CHECK(expiring.exit_code == 0);
}

TEST_CASE("check: certificates expiring and expired", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    // The leaves are good for a year: within 400 days they are expiring (warnings, exit 0).
    auto c = d.check({"--dir", d.s.dir(), "--expiring", "400"});
    INFO(c.findings.dump(2));
    CHECK(c.exit_code == 0);
    std::size_t expiring = 0;
    for (const auto& f : c.findings) expiring += f.at("code") == "cert-expiring" ? 1 : 0;
    CHECK(expiring == 4);  // the server and three clients
    // Two years on, they have expired (the library call takes the clock).
    pgca::check::Options o;
    o.dir = d.s.dir();
    o.now = std::time(nullptr) + 2 * 366 * 86400;
    auto later = pgca::check::run(o);
    std::size_t expired = 0;
    for (const auto& f : later.findings) expired += f.code == "cert-expired" ? 1 : 0;
    CHECK(expired == 4);
    CHECK(later.has_error());
}

TEST_CASE("check: the server serves another certificate than the file (not reloaded)", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    auto r = run_pgca({"rotate", "--dir", d.s.dir(), "--server", "db1", "--force"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto c = d.check_all();
    INFO(c.findings.dump(2));
    CHECK(c.codes() == std::set<std::string>{"served-cert-differs"});
    CHECK(c.exit_code == 1);
    d.s.pg().reload();
    CHECK(d.check_all().findings.empty());
}

TEST_CASE("check: clients connect to a name the server certificate does not carry", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    const std::string service = d.file("clients/bob/pg_service.conf");
    const std::string original = read_file(service);
    std::string text = original;
    const auto at = text.find("host=127.0.0.1");
    REQUIRE(at != std::string::npos);
    text.replace(at, 14, "host=db.elsewhere.example");
    write_file(service, text, 0644);
    auto c = d.check({"--dir", d.s.dir()});
    INFO(c.findings.dump(2));
    CHECK(c.codes() == std::set<std::string>{"host-name-mismatch"});
    CHECK_THAT(c.findings.dump(), Catch::Matchers::Contains("db.elsewhere.example"));
    write_file(service, original, 0644);

    // A server certificate of the same CA for other names, served: every name clients use fails,
    // in the files and live.
    auto issued = run_pgca({"issue", "server", "--dir", d.s.dir(), "--name", "db2", "--host", "db2.example"});
    INFO(issued.err);
    REQUIRE(issued.exit_code == 0);
    for (const char* f : {"server.crt", "server.key"})
        write_file(d.file(std::string("servers/db1/") + f), read_file(d.file(std::string("servers/db2/") + f)), 0600);
    PgCluster::chown_to_postgres(d.file("servers/db1"));
    d.s.pg().reload();
    auto live = d.check({"--dir", d.s.dir(), "--server", "db1", "--connect", d.target()}, false);
    INFO(live.findings.dump(2));
    CHECK(live.codes() == std::set<std::string>{"host-name-mismatch"});
    std::set<std::string> objects;
    for (const auto& f : live.findings) objects.insert(f.at("object").get<std::string>());
    CHECK(objects == std::set<std::string>{"server db1", d.target()});
}

TEST_CASE("check: hba lines PostgreSQL refuses, in the files and as the live server reads them", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    const std::string bad = "hostssl all all 127.0.0.1/32 cert clientcert=verify-ca\n"
                            "host all all 10.0.0.1 trust\n"
                            "hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=1\n";
    write_file(d.file("pg_hba.conf"), read_file(d.file("pg_hba.conf")) + bad, 0644);
    auto files = d.check({"--dir", d.s.dir()});
    INFO(files.findings.dump(2));
    std::size_t invalid = 0;
    for (const auto& f : files.findings) invalid += f.at("code") == "hba-invalid" ? 1 : 0;
    CHECK(invalid == 3);
    // The server's own file, not reloaded: pg_hba_file_rules shows the errors, and so does check.
    // PostgreSQL 15 leaves `clientcert=1` out of the view (it logs "invalid value for clientcert"
    // and refuses the file, but sets no error text), so only the files show all three.
    d.s.pg().set_hba("hostssl all all 127.0.0.1/32 cert\n" + bad);
    auto live = d.check({"--connect", d.target()});
    INFO(live.findings.dump(2));
    invalid = 0;
    for (const auto& f : live.findings) invalid += f.at("code") == "hba-invalid" ? 1 : 0;
    CHECK(invalid == 2);
    CHECK_THAT(live.findings.dump(), Catch::Matchers::Contains("invalid IP mask"));
    auto pgdata = d.check({"--pgdata", d.s.pg().data_dir()}, false);
    INFO(pgdata.findings.dump(2));
    invalid = 0;
    for (const auto& f : pgdata.findings) invalid += f.at("code") == "hba-invalid" ? 1 : 0;
    CHECK(invalid == 3);
}

TEST_CASE("check: an ssl setting changed in the files but not reloaded, and one the server refuses", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    Deployment d;
    auto& pg = d.s.pg();
    const std::string include = "include '" + d.file("servers/db1/postgresql.ssl.conf") + "'\n";
    pg.set_case_conf(include + "ssl_min_protocol_version = 'TLSv1.3'\n");
    auto c = d.check({"--connect", d.target()});
    INFO(c.findings.dump(2));
    CHECK(c.codes() == std::set<std::string>{"conf-not-reloaded"});
    pg.set_case_conf(include + "ssl_min_protocol_version = 'TLSv9'\n");
    auto refused = d.check({"--connect", d.target()});
    INFO(refused.findings.dump(2));
    CHECK(refused.has("conf-invalid"));
}

TEST_CASE("check: a server certificate signed with EdDSA (SCRAM channel binding breaks)", "[pg][check]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    Deployment d;
    TempDir tmp;
    auto ossl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "openssl");
        auto r = run(args);
        INFO(describe(args, r));
        REQUIRE(r.exit_code == 0);
    };
    ossl({"req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", tmp.file("ca.key"), "-out", tmp.file("ca.crt"),
          "-subj", "/CN=EdDSA Root", "-days", "30"});
    ossl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp.file("s.key"), "-out",
          tmp.file("s.csr"), "-subj", "/CN=localhost"});
    write_file(tmp.file("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    ossl({"x509", "-req", "-in", tmp.file("s.csr"), "-CA", tmp.file("ca.crt"), "-CAkey", tmp.file("ca.key"),
          "-CAcreateserial", "-days", "30", "-extfile", tmp.file("ext"), "-out", tmp.file("s.crt")});
    write_file(d.file("servers/db1/server.crt"), read_file(tmp.file("s.crt")) + read_file(tmp.file("ca.crt")), 0644);
    write_file(d.file("servers/db1/server.key"), read_file(tmp.file("s.key")), 0600);
    PgCluster::chown_to_postgres(d.file("servers/db1"));
    auto c = d.check({"--dir", d.s.dir()});
    INFO(c.findings.dump(2));
    CHECK(c.has("server-cert-eddsa"));
    CHECK(c.exit_code == 1);
}
