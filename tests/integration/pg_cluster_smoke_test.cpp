// Proves that the test harness itself works, independently of pgca:
// running processes, temporary directories and a throwaway PostgreSQL server
// doing certificate authentication with certificates made by the openssl CLI.
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
// process.hpp / temp_dir.hpp

TEST_CASE("run captures exit status, stdout and stderr separately", "[harness][process]") {
    const ProcessResult r = run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(r.exit_code == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
}

TEST_CASE("run reports signals as 128+N and exec failures as 127", "[harness][process]") {
    CHECK(run({"/bin/sh", "-c", "kill -TERM $$"}).exit_code == 128 + SIGTERM);

    const ProcessResult missing = run({"/nonexistent/pgca-no-such-program", "x"});
    CHECK(missing.exit_code == 127);
    CHECK_THAT(missing.err, Contains("cannot execute") && Contains("pgca-no-such-program"));

    const ProcessResult bad_cwd = run({"true"}, {}, "", "/nonexistent/dir");
    CHECK(bad_cwd.exit_code == 127);
    CHECK_THAT(bad_cwd.err, Contains("/nonexistent/dir"));
}

TEST_CASE("run feeds stdin and handles large outputs without deadlock", "[harness][process]") {
    CHECK(run({"cat"}, {}, "hello\nworld").out == "hello\nworld");

    // 1 MiB in while 1 MiB comes out: needs concurrent reading and writing.
    const std::string big(1 << 20, 'x');
    const ProcessResult echoed = run({"cat"}, {}, big);
    CHECK(echoed.exit_code == 0);
    CHECK(echoed.out.size() == big.size());
    CHECK(echoed.out == big);

    // Both pipes filled at once, way beyond the 64 KiB pipe buffer.
    const ProcessResult both = run({"/bin/sh", "-c",
                                    "head -c 1000000 /dev/zero | tr '\\0' a; "
                                    "head -c 1000000 /dev/zero | tr '\\0' b >&2"});
    CHECK(both.exit_code == 0);
    CHECK(both.out == std::string(1000000, 'a'));
    CHECK(both.err == std::string(1000000, 'b'));

    // A child that ignores its stdin must not kill us with SIGPIPE.
    CHECK(run({"true"}, {}, big).exit_code == 0);
}

TEST_CASE("run sets environment and working directory", "[harness][process]") {
    ::setenv("PGCA_HARNESS_INHERITED", "yes", 1);
    ::setenv("PGCA_HARNESS_OVERRIDDEN", "old", 1);
    const ProcessResult r = run({"/bin/sh", "-c",
                                 "printf '%s|%s|%s' \"$PGCA_HARNESS_INHERITED\" "
                                 "\"$PGCA_HARNESS_OVERRIDDEN\" \"$PGCA_HARNESS_NEW\""},
                                {{"PGCA_HARNESS_OVERRIDDEN", "new"}, {"PGCA_HARNESS_NEW", "added"}});
    CHECK(r.out == "yes|new|added");

    pgca::test::RunOptions options;
    options.unset_env = {"PGCA_HARNESS_*"};
    options.env = {{"PGCA_HARNESS_NEW", "kept"}};
    const ProcessResult cleaned = pgca::test::run_with_options(
        {"/bin/sh", "-c", "printf '%s|%s' \"${PGCA_HARNESS_INHERITED-unset}\" \"$PGCA_HARNESS_NEW\""}, options);
    CHECK(cleaned.out == "unset|kept");
    ::unsetenv("PGCA_HARNESS_INHERITED");
    ::unsetenv("PGCA_HARNESS_OVERRIDDEN");

    CHECK(run({"pwd"}, {}, "", "/tmp").out == "/tmp\n");
}

TEST_CASE("TempDir creates a traversable directory and removes it", "[harness][process]") {
    std::string path;
    {
        TempDir dir;
        path = dir.path();
        CHECK_THAT(path, StartsWith("/tmp/pgca-test-"));
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0755);
        std::filesystem::create_directories(dir.file("sub/dir"));
        pgca::test::write_file(dir.file("sub/dir/f"), "y");
        CHECK(pgca::test::read_file(dir.file("sub/dir/f")) == "y");
    }
    if (std::getenv("PGCA_KEEP_TEST_DIRS") == nullptr) CHECK_FALSE(std::filesystem::exists(path));
}

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
