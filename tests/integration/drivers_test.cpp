// Every driver `pgca connect` knows, connecting with exactly the line it printed: over
// verify-full with the bundle's client certificate (pg_stat_ssl.client_dn), as the bundle's role,
// to a server on a port of its own (servers[].port), with the PKI folder at a path full of
// characters each driver's syntax must escape. Drivers: libpq (psql), psycopg2, psycopg 3,
// asyncpg (Debian's python3-*), pgjdbc (Debian's postgresql.jar, Java 17), pgx v4 (Debian's Go
// sources, built offline) and node-postgres (npm, installed by scripts/install-deps.sh).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "pg_cluster.hpp"
#include "pgca_server.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

// The role has a quote and a blank, so does the database; the folder has everything a conninfo,
// a URL or a query string treats specially.
const std::string kRole = "o'k u";
const std::string kDb = "my db";
const std::string kSql = "SELECT current_user || '|' || client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

std::string cache_dir() {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    return (xdg != nullptr && *xdg != '\0' ? std::string(xdg) : std::string(home != nullptr ? home : "/root") + "/.cache") +
           "/pgca";
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

bool python_has(const std::string& module) {
    return readable("/usr/bin/python3") && run({"/usr/bin/python3", "-c", "import " + module}).exit_code == 0;
}

// pgca applied into a folder with an awkward path, and the shared server using its files on a
// port the profile states.
class DriverSetup {
public:
    DriverSetup() : pg_(PgCluster::shared()) {
        dir_ = tmp_.path() + "/p k'i \\ &#%+?=;";
        json p = json::parse(R"({
          "pgca_profile": 1, "name": "drv",
          "ca": { "subject": { "CN": "Drivers Root" }, "intermediate": { "subject": { "CN": "Drivers Issuing" } } },
          "defaults": { "p12_passphrase": { "env": "PGCA_DRIVERS_P12" } },
          "servers": [ { "name": "db", "hosts": ["127.0.0.1", "localhost"] } ],
          "clients": [ { "user": "alice", "formats": ["pem", "pk8"] }, { "user": "carol", "formats": ["p12"] } ],
          "hba": [ { "type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "cert" } ]
        })");
        p["servers"][0]["port"] = pg_.port();
        p["clients"].push_back({{"user", kRole}, {"formats", {"pk8"}}});
        p["client_settings"] = {{"dbname", kDb}, {"application_name", "pgca-drivers"}};
        write_file(tmp_.path() + "/profile.json", p.dump(2));
        ::setenv("PGCA_DRIVERS_P12", "p12 & secret", 1);
        auto applied = run_pgca({"apply", tmp_.path() + "/profile.json", "--dir", dir_});
        if (applied.exit_code != 0) throw std::runtime_error(describe({"pgca", "apply"}, applied));
        PgCluster::chown_to_postgres(dir_ + "/servers/db");
        std::string conf = dir_ + "/servers/db/postgresql.ssl.conf";
        pg_.set_case_conf("include '" + replace_all(replace_all(conf, "\\", "\\\\"), "'", "''") + "'\n");
        pg_.set_hba(read_file(dir_ + "/pg_hba.conf"));
        pg_.set_ident(read_file(dir_ + "/pg_ident.conf"));
        pg_.reload();
        pg_.psql_admin_checked("CREATE ROLE alice LOGIN; CREATE ROLE carol LOGIN; CREATE ROLE " + quote_ident(kRole) +
                               " LOGIN");
        pg_.psql_admin_checked("CREATE DATABASE " + quote_ident(kDb));
        home_ = tmp_.path() + "/home";
        run({"mkdir", "-p", home_});
    }

    // What `pgca connect` prints for `driver` (the line alone).
    std::string line(const std::string& driver, const std::string& user = kRole) {
        auto r = run_pgca({"connect", "--dir", dir_, "--user", user, "--driver", driver});
        INFO(describe({"pgca", "connect", "--driver", driver}, r));
        REQUIRE(r.exit_code == 0);
        std::string out = r.out;
        REQUIRE(out.size() > 1);
        REQUIRE(out.back() == '\n');
        out.pop_back();
        REQUIRE(out.find('\n') == std::string::npos);
        return out;
    }

    // Runs a driver program with an empty HOME (no ~/.postgresql) and no PG* variables.
    ProcessResult run_driver(const std::vector<std::string>& argv, EnvList env = {}) {
        RunOptions o;
        o.unset_env = {"PG*"};
        env.emplace_back("HOME", home_);
        o.env = std::move(env);
        o.cwd = tmp_.path();
        return run_with_options(argv, o);
    }

    const std::string& tmp() const { return tmp_.path(); }
    const std::string& dir() const { return dir_; }
    PgCluster& pg() { return pg_; }

private:
    TempDir tmp_;
    PgCluster& pg_;
    std::string dir_;
    std::string home_;
};

void require_logged_in(const ProcessResult& r, const std::string& line, const std::string& role = kRole) {
    INFO("line: " << line << "\nstdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(trim(r.out) == role + "|/CN=" + role);
}

const char* kPython = R"(import sys
def show(row): print(row[0])
)";

}  // namespace

TEST_CASE("libpq (psql) connects with the conninfo pgca connect prints", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    DriverSetup s;
    const std::string line = s.line("libpq");
    require_logged_in(s.run_driver({"/usr/bin/psql", "-X", "-w", "-At", "-d", line, "-c", kSql}), line);
}

TEST_CASE("psycopg2 and psycopg 3 connect with the conninfo pgca connect prints", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_TOOL(python_has("psycopg2"), "psycopg2 (python3-psycopg2)");
    PGCA_REQUIRE_TOOL(python_has("psycopg"), "psycopg 3 (python3-psycopg)");
    DriverSetup s;
    const std::string line = s.line("psycopg");
    require_logged_in(s.run_driver({"/usr/bin/python3", "-c",
                                    std::string(kPython) + "import psycopg2\nc = psycopg2.connect(sys.argv[1])\n"
                                                           "cur = c.cursor(); cur.execute(sys.argv[2]); show(cur.fetchone())",
                                    line, kSql}),
                      line);
    require_logged_in(s.run_driver({"/usr/bin/python3", "-c",
                                    std::string(kPython) + "import psycopg\nc = psycopg.connect(sys.argv[1])\n"
                                                           "show(c.execute(sys.argv[2]).fetchone())",
                                    line, kSql}),
                      line);
}

TEST_CASE("asyncpg connects with the DSN pgca connect prints", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_TOOL(python_has("asyncpg"), "asyncpg (python3-asyncpg)");
    DriverSetup s;
    const std::string line = s.line("asyncpg");
    require_logged_in(s.run_driver({"/usr/bin/python3", "-c",
                                    std::string(kPython) +
                                        "import asyncio, asyncpg\n"
                                        "async def main():\n"
                                        "    c = await asyncpg.connect(dsn=sys.argv[1], timeout=20)\n"
                                        "    show(await c.fetchrow(sys.argv[2]))\n"
                                        "    await c.close()\n"
                                        "asyncio.run(main())",
                                    line, kSql}),
                      line);
}

TEST_CASE("pgjdbc connects with the URL pgca connect prints, with postgresql.pk8 or postgresql.p12", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string jar = "/usr/share/java/postgresql.jar";
    PGCA_REQUIRE_TOOL(readable(jar) && on_path("java"), "pgjdbc (libpostgresql-jdbc-java) and Java");
    DriverSetup s;
    write_file(s.tmp() + "/Main.java", R"(import java.sql.*;
public class Main {
    public static void main(String[] a) throws Exception {
        DriverManager.setLoginTimeout(20);
        try (Connection c = DriverManager.getConnection(a[0]); ResultSet r = c.createStatement().executeQuery(a[1])) {
            r.next();
            System.out.println(r.getString(1));
        }
    }
}
)");
    const std::string pk8 = s.line("jdbc");
    CHECK_THAT(pk8, Catch::Contains("/postgresql.pk8"));
    require_logged_in(s.run_driver({"java", "-cp", jar, s.tmp() + "/Main.java", pk8, kSql}), pk8);
    const std::string p12 = s.line("jdbc", "carol");
    CHECK_THAT(p12, Catch::Contains("/postgresql.p12&sslpassword="));
    require_logged_in(s.run_driver({"java", "-cp", jar, s.tmp() + "/Main.java", p12, kSql}), p12, "carol");
}

TEST_CASE("pgx v4 connects with the URL pgca connect prints", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string gopath = "/usr/share/gocode";
    PGCA_REQUIRE_TOOL(on_path("go") && readable(gopath + "/src/github.com/jackc/pgx/v4/conn.go"),
                      "pgx v4 (golang-go, golang-github-jackc-pgx-v4-dev)");
    DriverSetup s;
    write_file(s.tmp() + "/main.go", R"(package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v4"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close(ctx)
	var row string
	if err := c.QueryRow(ctx, os.Args[2]).Scan(&row); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(row)
}
)");
    // Offline, from Debian's sources; the build cache outside the repository makes later runs quick.
    const EnvList go_env{{"GO111MODULE", "off"}, {"GOPATH", gopath}, {"GOFLAGS", ""}, {"GOPROXY", "off"},
                         {"GOCACHE", cache_dir() + "/go-build"}};
    auto built = s.run_driver({"go", "build", "-o", s.tmp() + "/pgx-connect", s.tmp() + "/main.go"}, go_env);
    INFO(built.err);
    REQUIRE(built.exit_code == 0);
    const std::string line = s.line("pgx");
    require_logged_in(s.run_driver({s.tmp() + "/pgx-connect", line, kSql}), line);
}

TEST_CASE("node-postgres connects with the connection string pgca connect prints", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string modules = cache_dir() + "/node/node_modules";
    PGCA_REQUIRE_TOOL(on_path("node") && readable(modules + "/pg/package.json"),
                      "node and node-postgres (npm pg, scripts/install-deps.sh)");
    DriverSetup s;
    const std::string line = s.line("node");
    require_logged_in(s.run_driver({"node", "-e",
                                    "const { Client } = require('pg');"
                                    "const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 20000 });"
                                    "c.connect().then(() => c.query(process.argv[2]))"
                                    ".then(r => { console.log(Object.values(r.rows[0])[0]); return c.end(); })"
                                    ".catch(e => { console.error(e); process.exit(1); });",
                                    line, kSql},
                                   {{"NODE_PATH", modules}}),
                      line);
}

// README's "reads pg_service.conf?" column, pinned: given the bundle's own service entry
// (PGSERVICEFILE, PGSERVICE) and the server's address in PGHOST/PGPORT, libpq connects with the
// entry's certificate, while asyncpg and node-postgres read neither variable and connect without
// it: the server refuses them. This is why `pgca connect` gives them every setting explicitly.
TEST_CASE("asyncpg and node-postgres ignore pg_service.conf, which libpq reads", "[pg][drivers]") {
    PGCA_REQUIRE_POSTGRES();
    PGCA_REQUIRE_TOOL(python_has("asyncpg"), "asyncpg (python3-asyncpg)");
    const std::string modules = cache_dir() + "/node/node_modules";
    PGCA_REQUIRE_TOOL(on_path("node") && readable(modules + "/pg/package.json"),
                      "node and node-postgres (npm pg, scripts/install-deps.sh)");
    DriverSetup s;
    const EnvList env = {{"PGSERVICEFILE", s.dir() + "/clients/" + kRole + "/pg_service.conf"},
                         {"PGSERVICE", "drv"},
                         {"PGHOST", "127.0.0.1"},
                         {"PGPORT", std::to_string(s.pg().port())},
                         {"PGUSER", kRole},
                         {"PGDATABASE", kDb},
                         {"PGCONNECT_TIMEOUT", "20"}};
    require_logged_in(s.run_driver({"psql", "-XAtqc", kSql}, env), "psql with PGSERVICE=drv");

    {
        auto r = s.run_driver({"/usr/bin/python3", "-c",
                               "import asyncio, asyncpg\n"
                               "async def main():\n"
                               "    c = await asyncpg.connect(timeout=20)\n"
                               "    await c.close()\n"
                               "asyncio.run(main())"},
                              env);
        INFO("asyncpg: " << r.out << r.err);
        CHECK(r.exit_code != 0);
        // asyncpg's default sslmode is prefer: TLS without a client certificate is refused, and
        // its retry without TLS is refused too (0.27 reports the last: no encryption).
        CHECK_THAT(r.err, Catch::Contains("no encryption") || Catch::Contains("valid client certificate"));
    }
    {
        EnvList node_env = env;
        node_env.emplace_back("NODE_PATH", modules);
        auto r = s.run_driver({"node", "-e",
                               "const { Client } = require('pg');"
                               "const c = new Client({ connectionTimeoutMillis: 20000 });"
                               "c.connect().then(() => c.end())"
                               ".catch(e => { console.error(e.message); process.exit(1); });"},
                              node_env);
        INFO("node-postgres: " << r.out << r.err);
        CHECK(r.exit_code != 0);
        // No TLS at all (node-postgres's default), which no hostssl line accepts.
        CHECK_THAT(r.err, Catch::Contains("no encryption"));
    }
}
