// A pooler of the profile (`poolers`) in front of a real PostgreSQL 15, run by Debian's
// PgBouncer 1.18 from pgca's files as emitted: the operator's own pgbouncer.ini includes
// poolers/NAME/pgbouncer.ini the way README "PgBouncer" says. Both legs are verify-full with
// certificate authentication: clients → PgBouncer with their own certificates, PgBouncer →
// PostgreSQL with the pooler's, which pg_ident.conf maps to exactly the pooled roles.
#include <catch2/catch.hpp>

#include <csignal>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "loopback.hpp"
#include "pg_cluster.hpp"
#include "pgca_server.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

const char* const kPgBouncer = "/usr/sbin/pgbouncer";

bool pgbouncer_available() { return ::access(kPgBouncer, X_OK) == 0; }

int free_loopback_port() {
    int port = 0;
    ::close(bind_loopback(0, port));
    return port;
}

json pooler_profile(int pg_port, int pooler_port) {
    return json{
        {"pgca_profile", 1},
        {"name", "pool"},
        {"ca", {{"subject", {{"CN", "Pooler Test Root"}}}, {"intermediate", {{"subject", {{"CN", "Pooler Test Issuing"}}}}}}},
        {"servers", {{{"name", "db1"}, {"hosts", {"127.0.0.1", "localhost"}}, {"port", pg_port}}}},
        {"clients", {{{"user", "alice"}}, {{"user", "bob"}}, {{"user", "carol"}},
                     {{"user", "mapped"}, {"cn", "mapped@example.com"}, {"map", "certmap"}}}},
        {"hba", {{{"type", "hostssl"}, {"database", "all"}, {"user", "all"}, {"address", "127.0.0.1/32"},
                  {"method", "cert"}}}},
        {"poolers", {{{"name", "b1"}, {"hosts", {"127.0.0.1"}}, {"port", pooler_port}, {"upstream", "db1"},
                      {"users", "all"}, {"address", "127.0.0.1/32"}}}},
    };
}

// A PgBouncer started (as postgres when root) from an operator's ini in `folder` that includes
// `fragment`, stopped on destruction. Waits at most 10 s for it to listen.
class PgBouncer {
public:
    PgBouncer(const std::string& folder, const std::string& fragment, int port) : folder_(folder), port_(port) {
        write_file(ini(), "[pgbouncer]\npidfile = " + pidfile() + "\nlogfile = " + folder + "/pgbouncer.log\n" +
                                   "listen_addr = 127.0.0.1\nunix_socket_dir =\n%include " + fragment + "\n",
                        0644);
        result_ = start(ini());
        if (result_.exit_code != 0) return;
        for (int i = 0; i < 100 && !listening(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ~PgBouncer() {
        const int pid = this->pid();
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (::kill(pid, 0) == 0) ::kill(pid, SIGKILL);
    }
    PgBouncer(const PgBouncer&) = delete;
    PgBouncer& operator=(const PgBouncer&) = delete;

    // `pgbouncer -d INI` (as postgres when root).
    static ProcessResult start(const std::string& ini) {
        if (PgCluster::running_as_root()) return run({"/usr/sbin/runuser", "-u", "postgres", "--", kPgBouncer, "-d", ini});
        return run({kPgBouncer, "-d", ini});
    }
    const ProcessResult& started() const { return result_; }
    std::string ini() const { return folder_ + "/operator.ini"; }
    std::string pidfile() const { return folder_ + "/pgbouncer.pid"; }
    std::string log() const {
        std::ifstream in(folder_ + "/pgbouncer.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    int pid() const {
        std::ifstream in(pidfile());
        int pid = 0;
        in >> pid;
        return pid;
    }
    bool listening() const {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port_));
        const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }

private:
    std::string folder_;
    int port_;
    ProcessResult result_;
};

}  // namespace

TEST_CASE("PgBouncer 1.18 pools every pooled user with certificates on both legs", "[pg][pgbouncer]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_TOOL(pgbouncer_available(), "PgBouncer (/usr/sbin/pgbouncer)");
    const int pg_port = PgCluster::shared().port();
    const int pooler_port = free_loopback_port();
    AppliedServer s(pooler_profile(pg_port, pooler_port).dump());
    // "all" leaves out the client whose CN is not its role name, and says why.
    CHECK_THAT(s.applied().err, Catch::Contains("\"all\" leaves out \"mapped\""));
    s.start("db1", {"alice", "bob", "carol", "mapped"});

    const std::string pooler_dir = s.dir() + "/poolers/b1";
    TempDir run_dir;
    PgCluster::chown_to_postgres(pooler_dir);
    PgCluster::chown_to_postgres(run_dir.path());
    PgBouncer bouncer(run_dir.path(), pooler_dir + "/pgbouncer.ini", pooler_port);
    INFO(bouncer.started().err << bouncer.started().out << bouncer.log());
    REQUIRE(bouncer.started().exit_code == 0);
    REQUIRE(bouncer.listening());

    // Through the client's own [pool-b1] service entry: the pooler's host and port, verify-full.
    auto through = [&](const std::string& user) {
        return s.pg().psql("service=pool-b1 dbname=postgres",
                           "SELECT current_user || ' ' || client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                           {{"PGSERVICEFILE", s.dir() + "/clients/" + user + "/pg_service.conf"}});
    };
    for (const char* user : {"alice", "bob"}) {
        auto r = through(user);
        INFO(user << ": " << r.err << bouncer.log());
        REQUIRE(r.exit_code == 0);
        // PostgreSQL sees the pooler's client certificate, logged in as the pooled role.
        CHECK(trim(r.out) == std::string(user) + " /CN=pooler:b1");
    }

    // `pgca connect --pooler` gives the line that reaches the same pooler (its host and port,
    // verify-full against the pooler's server certificate), and refuses a role it does not pool.
    {
        auto line = run_pgca({"connect", "--dir", s.dir(), "--user", "carol", "--pooler", "b1"});
        INFO(line.err);
        REQUIRE(line.exit_code == 0);
        CHECK_THAT(line.out, Catch::Contains("port=" + std::to_string(pooler_port)));
        // The database the line names is the role's by default; this pool serves every database.
        auto r = s.pg().psql(trim(line.out) + " dbname=postgres",
                             "SELECT current_user || ' ' || client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        INFO(r.err << bouncer.log());
        REQUIRE(r.exit_code == 0);
        CHECK(trim(r.out) == "carol /CN=pooler:b1");
        auto refused = run_pgca({"connect", "--dir", s.dir(), "--user", "mapped", "--pooler", "b1"});
        CHECK(refused.exit_code == 2);
        CHECK_THAT(refused.err, Catch::Contains("pooler \"b1\" does not pool role \"mapped\""));
    }

    // One PgBouncer for every check below (no SECTION: each would start it again).
    // A role the pooler does not pool is refused by PgBouncer.
    s.pg().psql_admin_checked("CREATE ROLE dave LOGIN");
    {
        auto r = s.pg().psql("service=pool-b1 dbname=postgres user=dave", "SELECT 1",
                             {{"PGSERVICEFILE", s.dir() + "/clients/alice/pg_service.conf"}});
        INFO(r.err);
        CHECK(r.exit_code != 0);
        CHECK_THAT(r.err, Catch::Contains("login rejected"));
    }

    // The pooler's certificate cannot log in as a role it does not pool: used directly as dave.
    {
        auto direct = s.pg().psql(s.pg().conninfo_base() + " dbname=postgres user=dave sslmode=verify-full sslrootcert=" +
                                      pooler_dir + "/root.crt sslcert=" + pooler_dir + "/client.crt sslkey=" +
                                      pooler_dir + "/client.key host=localhost",
                                  "SELECT 1");
        INFO(direct.err);
        CHECK(direct.exit_code != 0);
        CHECK_THAT(direct.err, Catch::Contains("certificate authentication failed for user \"dave\""));
    }

    // `pgca rotate --pooler` renews both of the pooler's certificates; PgBouncer re-reads them on
    // SIGHUP: the clients' leg is verified as serving the new one, and a new server connection
    // (a database not pooled yet) logs in to PostgreSQL with the new client certificate.
    {
        const std::string serial_sql = "SELECT client_serial FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
        auto via = [&](const std::string& db) {
            return s.pg().psql("service=pool-b1 dbname=" + db, serial_sql,
                               {{"PGSERVICEFILE", s.dir() + "/clients/alice/pg_service.conf"}});
        };
        auto before = via("postgres");
        REQUIRE(before.exit_code == 0);
        s.pg().psql_admin_checked("CREATE DATABASE rotated");
        auto rotated = run_pgca({"rotate", "--dir", s.dir(), "--pooler", "b1", "--force", "--reload",
                                 "kill -HUP " + std::to_string(bouncer.pid()), "--verify",
                                 "127.0.0.1:" + std::to_string(pooler_port)});
        INFO(rotated.out << rotated.err << bouncer.log());
        REQUIRE(rotated.exit_code == 0);
        CHECK_THAT(rotated.out, Catch::Contains("pooler_client b1  serial"));
        CHECK_THAT(rotated.out, Catch::Contains("verified 127.0.0.1:" + std::to_string(pooler_port)));
        auto after = via("rotated");
        INFO(after.err);
        REQUIRE(after.exit_code == 0);
        CHECK(trim(after.out) != trim(before.out));
    }

    // A revoked client still passes PgBouncer 1.18, which has no CRL setting (a fact pinned).
    {
        auto revoked = run_pgca({"revoke", "--dir", s.dir(), "--user", "bob"});
        REQUIRE(revoked.exit_code == 0);
        auto r = through("bob");
        INFO(r.err);
        CHECK(r.exit_code == 0);
    }

    // Revoking the pooler reaches PostgreSQL's CRL: a new pool (another database) cannot log in.
    {
        auto revoked = run_pgca({"revoke", "--dir", s.dir(), "--pooler", "b1"});
        INFO(revoked.out << revoked.err);
        REQUIRE(revoked.exit_code == 0);
        CHECK_THAT(revoked.out, Catch::Contains("pooler \"b1\""));
        s.pg().reload();
        auto pg_log = s.pg().log_size();
        auto r = s.pg().psql("service=pool-b1 dbname=template1", "SELECT 1",
                             {{"PGSERVICEFILE", s.dir() + "/clients/alice/pg_service.conf"}});
        INFO(r.err << bouncer.log());
        CHECK(r.exit_code != 0);
        // The server refuses the pooler's TLS handshake (its certificate is on the CRL now).
        CHECK_THAT(s.pg().log_since(pg_log), Catch::Contains("could not accept SSL connection"));
    }
}

TEST_CASE("PgBouncer 1.18: a fragment that opens its own [pgbouncer] section loses the operator's pidfile",
          "[pg][pgbouncer]") {
    PGCA_REQUIRE_TOOL(pgbouncer_available(), "PgBouncer (/usr/sbin/pgbouncer)");
    TempDir run_dir;
    write_file(run_dir.path() + "/fragment.ini", "[pgbouncer]\nlisten_port = " +
                                                          std::to_string(free_loopback_port()) + "\nauth_type = trust\n",
                    0644);
    write_file(run_dir.path() + "/operator.ini",
                    "[pgbouncer]\npidfile = " + run_dir.path() + "/p.pid\nlisten_addr = 127.0.0.1\nunix_socket_dir =\n"
                    "%include " + run_dir.path() + "/fragment.ini\n",
                    0644);
    PgCluster::chown_to_postgres(run_dir.path());
    auto r = PgBouncer::start(run_dir.path() + "/operator.ini");
    INFO(r.out << r.err);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.out + r.err, Catch::Contains("daemon needs pidfile configured"));
}
