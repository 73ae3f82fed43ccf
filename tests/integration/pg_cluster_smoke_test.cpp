// Proves that the PostgreSQL half of the test harness works, independently of pgca: a throwaway
// server (its own, for each case here: they test starting, stopping and failing to start) doing
// certificate authentication with certificates made by the openssl CLI, and the shared server of
// the process with its reset. Running processes and temporary folders: tests/unit/harness_test.cpp.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pg_cluster.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using pgca::test::describe;
using pgca::test::PgCluster;
using pgca::test::ProcessResult;
using pgca::test::run;
using pgca::test::TempDir;
using pgca::test::trim;

namespace {

// Alive and not a zombie (see pg_cluster.cpp on why zombies can linger).
bool process_exists(int pid) {
    if (pid <= 0 || ::kill(pid, 0) != 0) return false;
    try {
        const std::string stat = pgca::test::read_file("/proc/" + std::to_string(pid) + "/stat");
        const auto paren = stat.rfind(')');
        return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
    } catch (const std::exception&) {
        return false;
    }
}

void openssl(const std::vector<std::string>& args, const std::string& cwd) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    const ProcessResult r = run(argv, {}, "", cwd);
    INFO(describe(argv, r));
    REQUIRE(r.exit_code == 0);
}

// A tiny PKI: a CA, a server certificate for 127.0.0.1/localhost and a client
// certificate for CN=alice, all EC P-256, made with the openssl CLI only.
struct TestPki {
    std::string ca_cert, server_cert, server_key, client_ca_cert, alice_cert, alice_key;
};

TestPki make_pki(const std::string& work_dir, const std::string& server_dir, const std::string& client_dir) {
    pgca::test::write_file(work_dir + "/openssl.cnf",
                           "[req]\n"
                           "distinguished_name = dn\n"
                           "[dn]\n"
                           "[ca]\n"
                           "basicConstraints = critical, CA:TRUE\n"
                           "keyUsage = critical, keyCertSign, cRLSign\n"
                           "subjectKeyIdentifier = hash\n"
                           "[server]\n"
                           "basicConstraints = critical, CA:FALSE\n"
                           "keyUsage = critical, digitalSignature\n"
                           "extendedKeyUsage = serverAuth\n"
                           "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
                           "subjectKeyIdentifier = hash\n"
                           "authorityKeyIdentifier = keyid\n"
                           "[client]\n"
                           "basicConstraints = critical, CA:FALSE\n"
                           "keyUsage = critical, digitalSignature\n"
                           "extendedKeyUsage = clientAuth\n"
                           "subjectKeyIdentifier = hash\n"
                           "authorityKeyIdentifier = keyid\n");
    const auto genkey = [&](const std::string& name) {
        openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name}, work_dir);
    };
    const auto issue = [&](const std::string& name, const std::string& subject, const std::string& section,
                           const std::string& serial) {
        genkey(name + ".key");
        openssl(
            {"req", "-new", "-config", "openssl.cnf", "-key", name + ".key", "-subj", subject, "-out", name + ".csr"},
            work_dir);
        openssl({"x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", serial,
                 "-days", "2", "-extfile", "openssl.cnf", "-extensions", section, "-out", name + ".crt"},
                work_dir);
    };

    genkey("ca.key");
    openssl({"req", "-new", "-x509", "-config", "openssl.cnf", "-extensions", "ca", "-key", "ca.key", "-subj",
             "/CN=pgca harness test CA", "-days", "2", "-out", "ca.crt"},
            work_dir);
    issue("server", "/CN=localhost", "server", "2");
    issue("alice", "/CN=alice", "client", "3");

    namespace fs = std::filesystem;
    fs::create_directories(server_dir);
    fs::create_directories(client_dir);
    TestPki pki{server_dir + "/ca.crt", server_dir + "/server.crt", server_dir + "/server.key",
                client_dir + "/ca.crt", client_dir + "/alice.crt",  client_dir + "/alice.key"};
    using pgca::test::read_file;
    using pgca::test::write_file;
    write_file(pki.ca_cert, read_file(work_dir + "/ca.crt"));
    write_file(pki.server_cert, read_file(work_dir + "/server.crt"));
    // The server refuses a key readable by others (0600 when owned by postgres).
    write_file(pki.server_key, read_file(work_dir + "/server.key"), 0600);
    write_file(pki.client_ca_cert, read_file(work_dir + "/ca.crt"));
    write_file(pki.alice_cert, read_file(work_dir + "/alice.crt"));
    // libpq too refuses a private key that group/others can read.
    write_file(pki.alice_key, read_file(work_dir + "/alice.key"), 0600);
    PgCluster::chown_to_postgres(server_dir);
    return pki;
}

}  // namespace

// ---------------------------------------------------------------------------
// pg_cluster.hpp

TEST_CASE("PgCluster starts, answers queries, reloads and stops", "[pg][harness]") {
    PGCA_REQUIRE_POSTGRES();
    TempDir dir;
    int pid = 0;
    {
        PgCluster pg(dir.path());
        CHECK_FALSE(pg.running());
        CHECK(pg.port() > 0);
        pg.start();
        REQUIRE(pg.running());
        pid = pg.postmaster_pid();
        CHECK(process_exists(pid));

        const ProcessResult one = pg.psql_admin("select 1");
        INFO(describe({"psql_admin", "select 1"}, one));
        REQUIRE(one.exit_code == 0);
        CHECK(trim(one.out) == "1");

        // The harness' settings are in effect.
        CHECK(pg.psql_admin_checked("show listen_addresses") == "127.0.0.1");
        CHECK(pg.psql_admin_checked("show port") == std::to_string(pg.port()));
        CHECK(pg.psql_admin_checked("show unix_socket_directories") == pg.socket_dir());

        // SQL errors come back as a failed exit code with the message on stderr.
        const ProcessResult bad = pg.psql_admin("select * from pgca_no_such_table");
        CHECK(bad.exit_code != 0);
        CHECK_THAT(bad.err, Contains("pgca_no_such_table"));

        // TCP on loopback as the current OS user (initdb's default hba trusts it).
        const ProcessResult tcp =
            pg.psql(pg.conninfo_base() + " dbname=postgres user=postgres sslmode=disable", "select 40 + 2");
        INFO(describe({"psql", "select 40 + 2"}, tcp));
        CHECK(tcp.exit_code == 0);
        CHECK(trim(tcp.out) == "42");

        // reload() waits until the change is live, and refuses a broken pg_hba.conf.
        pg.append_conf("work_mem = '7MB'\n");
        const std::string logged = pg.reload();
        CHECK_THAT(logged, Contains("received SIGHUP"));
        CHECK(pg.psql_admin_checked("show work_mem") == "7MB");
        pg.set_hba("this is not a valid line\n");
        CHECK_THROWS_WITH(pg.reload(), Contains("pg_hba.conf was not reloaded"));
        CHECK(pg.psql_admin_checked("select 2") == "2");  // the old hba is still in force

        pg.stop();
        CHECK_FALSE(pg.running());
        CHECK_FALSE(process_exists(pid));
        CHECK_NOTHROW(pg.stop());  // idempotent

        pg.set_hba("host all all 127.0.0.1/32 trust\n");
        pg.start();  // restart works
        REQUIRE(pg.running());
        pid = pg.postmaster_pid();
        CHECK(pg.psql_admin_checked("select 3") == "3");
    }
    // The destructor stopped the restarted server.
    CHECK_FALSE(process_exists(pid));
}

TEST_CASE("PgCluster never leaves a server behind when a test throws", "[pg][harness]") {
    PGCA_REQUIRE_POSTGRES();
    TempDir dir;
    int pid = 0;
    try {
        PgCluster pg(dir.path());
        pg.start();
        pid = pg.postmaster_pid();
        throw std::runtime_error("simulated test failure");
    } catch (const std::runtime_error& e) {
        CHECK_THAT(e.what(), Contains("simulated"));
    }
    REQUIRE(pid > 0);
    CHECK_FALSE(process_exists(pid));
}

TEST_CASE("PgCluster::start reports the server log when the server cannot start", "[pg][harness]") {
    PGCA_REQUIRE_POSTGRES();
    TempDir dir;
    PgCluster pg(dir.path());
    pg.append_conf("shared_buffers = 'plenty'\n");
    CHECK_THROWS_WITH(pg.start(), Contains("pg_ctl start failed") && Contains("shared_buffers"));
    CHECK_FALSE(pg.running());
    CHECK_FALSE(std::filesystem::exists(pg.data_dir() + "/postmaster.pid"));
}

TEST_CASE("PgCluster does certificate authentication with openssl-made certificates", "[pg][harness]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_OPENSSL();
    TempDir dir;
    const TestPki pki = make_pki(dir.path(), dir.file("server-tls"), dir.file("client-tls"));
    PgCluster pg(dir.file("pg"));

    pg.start();
    pg.psql_admin_checked("create role alice login");
    pg.psql_admin_checked("create role bob login");

    // Turned on by a reload rather than at start, to prove that reload() only
    // returns once new SSL and hba settings are live.
    pg.append_conf(
        "ssl = on\n"
        "ssl_cert_file = '" +
        pki.server_cert + "'\n" + "ssl_key_file = '" + pki.server_key + "'\n" + "ssl_ca_file = '" + pki.ca_cert +
        "'\n");
    pg.set_hba("hostssl all all 127.0.0.1/32 cert\n");
    pg.reload();
    CHECK(pg.psql_admin_checked("show ssl") == "on");

    const std::string tls =
        pg.conninfo_base() + " dbname=postgres sslmode=verify-full sslrootcert=" + pki.client_ca_cert;
    const std::string with_alice_cert = tls + " sslcert=" + pki.alice_cert + " sslkey=" + pki.alice_key;

    // One cluster for all checks (no SECTIONs: each would rebuild PKI and cluster).
    {  // alice's certificate authenticates alice
        const ProcessResult r =
            pg.psql(with_alice_cert + " user=alice",
                    "select current_user, (select ssl from pg_stat_ssl where pid = pg_backend_pid())");
        INFO(describe({"psql", "as alice"}, r));
        CHECK(r.exit_code == 0);
        CHECK(trim(r.out) == "alice|t");
    }

    {  // alice's certificate does not authenticate bob
        const std::size_t offset = pg.log_size();
        const ProcessResult r = pg.psql(with_alice_cert + " user=bob", "select current_user");
        INFO(describe({"psql", "as bob"}, r));
        CHECK(r.exit_code != 0);
        CHECK(r.out.empty());
        CHECK_THAT(r.err, Contains("certificate authentication failed for user \"bob\""));
        CHECK_THAT(pg.log_since(offset),
                   Contains("provided user name (bob) and authenticated user name (alice) do not match"));
    }

    {  // no client certificate, no entry
        // Also proves psql() runs with an empty HOME: no ~/.postgresql/postgresql.crt is picked up.
        const ProcessResult r = pg.psql(tls + " user=alice", "select 1");
        INFO(describe({"psql", "without certificate"}, r));
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Contains("connection requires a valid client certificate"));
    }

    {  // plain TCP is refused
        const ProcessResult r = pg.psql(pg.conninfo_base() + " dbname=postgres user=alice sslmode=disable", "select 1");
        INFO(describe({"psql", "sslmode=disable"}, r));
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Contains("no pg_hba.conf entry"));
    }
}

TEST_CASE("PgCluster::shared is one server per process, put back as it was for each caller", "[pg][harness]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const int pid = pg.postmaster_pid();
    REQUIRE(pid > 0);
    // What a case may leave behind: a role, a database, a session, an hba, a setting.
    pg.psql_admin_checked("CREATE ROLE \"odd \"\"role\" LOGIN");
    pg.psql_admin_checked("CREATE DATABASE scratch OWNER \"odd \"\"role\"");
    pg.psql_admin_checked("CREATE TABLE owned (i int); ALTER TABLE owned OWNER TO \"odd \"\"role\"");
    pg.set_hba("host all all 127.0.0.1/32 reject\n");
    pg.set_case_conf("work_mem = '7MB'\n");
    pg.reload();
    REQUIRE(pg.psql_admin_checked("show work_mem") == "7MB");

    PgCluster& again = PgCluster::shared();
    CHECK(&again == &pg);
    CHECK(again.postmaster_pid() == pid);  // reset, not restarted
    CHECK(pg.psql_admin_checked("show work_mem") == "4MB");
    CHECK(pg.psql_admin_checked("select count(*) from pg_roles where rolname like 'odd%'") == "0");
    CHECK(pg.psql_admin_checked("select count(*) from pg_database where datname = 'scratch'") == "0");
    CHECK(pg.psql_admin_checked("select count(*) from pg_class where relname = 'owned'") == "0");
    // initdb's pg_hba.conf again: TCP on loopback is trusted.
    const ProcessResult tcp =
        pg.psql(pg.conninfo_base() + " dbname=postgres user=postgres sslmode=disable", "select 1");
    INFO(describe({"psql", "select 1"}, tcp));
    CHECK(tcp.exit_code == 0);
}
