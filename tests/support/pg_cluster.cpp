#include "pg_cluster.hpp"

#include "temp_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace pgca::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kPreferredBinDir = "/usr/lib/postgresql/15/bin";
// The test matrix: Debian's PostgreSQL 15, and 16 to 18 from scripts/install-deps.sh.
constexpr int kDefaultMajor = 15;
constexpr int kNewestMajor = 18;
constexpr const char* kServerUser = "postgres";
// Locale of every PostgreSQL tool we start: English messages (tests match on
// them) and UTF-8 client encoding. glibc >= 2.35 always provides C.UTF-8.
constexpr const char* kLocale = "C.UTF-8";

[[noreturn]] void throw_errno(const std::string& what, int error) {
    throw std::runtime_error(what + ": " + std::strerror(error));
}

bool is_executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

std::string first_executable(const std::vector<std::string>& candidates) {
    for (const auto& candidate : candidates)
        if (is_executable(candidate)) return candidate;
    return {};
}

std::string runuser_path() { return first_executable({"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}); }

// The psql used by psql(): Debian's /usr/bin/psql (pg_wrapper), as a user of
// the CLI would run it. The admin connection uses the server's own psql.
std::string client_psql_path(const std::string& bin) {
    const std::string path = first_executable({"/usr/bin/psql", bin + "/psql"});
    return path.empty() ? "psql" : path;
}

// The server's own psql; the npm builds of 16–18 ship none, and Debian's psql 15 serves them.
std::string admin_psql_path(const std::string& bin) {
    const std::string path = first_executable({bin + "/psql", "/usr/bin/psql"});
    return path.empty() ? "psql" : path;
}

// The major version `BIN/postgres --version` reports ("postgres (PostgreSQL) 18.4" → 18); 0 if
// it does not run. The check keeps a folder of another version from passing for the one asked.
int reported_major(const std::string& bin) {
    try {
        const ProcessResult r = run({bin + "/postgres", "--version"});
        const auto pos = r.out.find(") ");
        if (r.exit_code == 0 && pos != std::string::npos) return std::atoi(r.out.c_str() + pos + 2);
    } catch (const std::exception&) {
    }
    return 0;
}

struct ServerAccount {
    uid_t uid;
    gid_t gid;
};

ServerAccount server_account() {
    const passwd* pw = ::getpwnam(kServerUser);
    if (pw == nullptr) throw std::runtime_error(std::string("OS user '") + kServerUser + "' does not exist");
    return ServerAccount{pw->pw_uid, pw->pw_gid};
}

// Asks the kernel for a free port by binding port 0 on loopback. The socket is
// closed again before the server binds, so another process could grab the
// port meanwhile; start() retries with a fresh port in that (rare) case.
int pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket", errno);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const int error = errno;
        ::close(fd);
        throw_errno("cannot pick a free port on 127.0.0.1", error);
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

void make_dir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir " + path, errno);
    if (::chmod(path.c_str(), mode) != 0) throw_errno("chmod " + path, errno);
}

// A string literal for postgresql.conf.
std::string conf_quote(const std::string& value) {
    std::string quoted = "'";
    for (const char c : value) {
        if (c == '\'') quoted += '\'';
        quoted += c;
    }
    return quoted + "'";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Whether `pid` still runs. A zombie counts as gone: the postmaster is
// reparented to PID 1 once pg_ctl exits, and in some containers PID 1 never
// reaps orphans, so kill(pid, 0) alone would report it alive forever.
bool process_alive(int pid) {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    try {
        const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        const auto paren = stat.rfind(')');
        if (paren != std::string::npos && paren + 2 < stat.size()) {
            const char state = stat[paren + 2];
            if (state == 'Z' || state == 'X') return false;
        }
    } catch (const std::exception&) {
        return false;  // /proc entry vanished: it just exited
    }
    return true;
}

// ---------------------------------------------------------------------------
// Emergency stop. Destructors stop the server on normal exits and exceptions,
// but when the test binary is interrupted (Ctrl-C, SIGTERM) or aborts, no
// destructor runs, and the postmaster, which pg_ctl detaches into its own
// session, would outlive us. So while a cluster runs, fatal signals first
// send SIGQUIT (immediate shutdown) to every registered postmaster and then
// re-raise the signal for the previous handler (e.g. Catch's reporter).
// SIGKILL (e.g. a ctest timeout) cannot be handled; a postmaster left behind
// then still shuts itself down within about a minute once the TempDir holding
// its data directory is removed (it periodically re-checks postmaster.pid).
constexpr std::array<int, 5> kFatalSignals{SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV};
std::array<std::atomic<int>, 32> g_postmasters{};  // static storage: zero-initialized
std::array<struct sigaction, NSIG> g_previous_actions{};

extern "C" void emergency_stop_postmasters(int sig) {
    for (auto& slot : g_postmasters) {
        const int pid = slot.load();
        if (pid > 0) ::kill(pid, SIGQUIT);
    }
    // The signal is blocked while we run, so it is delivered to the previous
    // disposition right after we return.
    ::sigaction(sig, &g_previous_actions[static_cast<std::size_t>(sig)], nullptr);
    ::raise(sig);
}

void install_emergency_handlers() {
    for (const int sig : kFatalSignals) {
        struct sigaction current {};
        if (::sigaction(sig, nullptr, &current) != 0) continue;
        if ((current.sa_flags & SA_SIGINFO) == 0 &&
            (current.sa_handler == emergency_stop_postmasters || current.sa_handler == SIG_IGN))
            continue;
        struct sigaction ours {};
        ours.sa_handler = emergency_stop_postmasters;
        sigemptyset(&ours.sa_mask);
        ours.sa_flags = SA_ONSTACK;  // harmless without an alternate stack; Catch sets one up
        g_previous_actions[static_cast<std::size_t>(sig)] = current;
        ::sigaction(sig, &ours, nullptr);
    }
}

void register_postmaster(int pid) {
    for (auto& slot : g_postmasters) {
        int expected = 0;
        if (slot.compare_exchange_strong(expected, pid)) return;
    }
    // More than 32 concurrent clusters: simply not covered by the emergency stop.
}

void unregister_postmaster(int pid) {
    for (auto& slot : g_postmasters) {
        int expected = pid;
        slot.compare_exchange_strong(expected, 0);
    }
}

}  // namespace

// ---------------------------------------------------------------------------

int PgCluster::major() {
    static const int major = [] {
        const char* v = std::getenv("PGCA_PG_VERSION");
        if (v == nullptr || *v == '\0') return kDefaultMajor;
        const std::string text(v);
        for (int m = kDefaultMajor; m <= kNewestMajor; ++m)
            if (text == std::to_string(m)) return m;
        return 0;
    }();
    return major;
}

std::string PgCluster::pg_cache_dir() {
    const auto env = [](const char* name) {
        const char* v = std::getenv(name);
        return v == nullptr ? std::string() : std::string(v);
    };
    if (!env("PGCA_PG_CACHE").empty()) return env("PGCA_PG_CACHE");
    if (running_as_root()) return "/var/cache/pgca/pg";
    if (!env("XDG_CACHE_HOME").empty()) return env("XDG_CACHE_HOME") + "/pgca/pg";
    return env("HOME") + "/.cache/pgca/pg";
}

std::string PgCluster::bin_dir(int major) {
    static std::mutex mutex;
    static std::map<int, std::string> found;
    const std::lock_guard<std::mutex> lock(mutex);
    const auto known = found.find(major);
    if (known != found.end()) return known->second;

    std::vector<std::string> candidates;
    if (major == kDefaultMajor) {
        if (const char* forced = std::getenv("PGCA_PG_BINDIR")) {
            candidates.emplace_back(forced);
        } else {
            candidates.emplace_back(kPreferredBinDir);
            try {
                const ProcessResult r = run({"pg_config", "--bindir"});
                if (r.exit_code == 0) candidates.push_back(trim(r.out));
            } catch (const std::exception&) {
            }
        }
    } else if (major > kDefaultMajor && major <= kNewestMajor) {
        candidates.push_back(pg_cache_dir() + "/" + std::to_string(major) + "/bin");
    }
    std::string dir;
    for (const auto& candidate : candidates) {
        if (is_executable(candidate + "/initdb") && reported_major(candidate) == major) {
            dir = candidate;
            break;
        }
    }
    found[major] = dir;
    return dir;
}

std::string PgCluster::libpq_dir(int major) {
    if (major == kDefaultMajor) return {};
    const std::string bin = bin_dir(major);
    if (bin.empty()) return {};
    const std::string lib = fs::path(bin).parent_path().string() + "/lib";
    return fs::exists(lib + "/libpq.so.5") ? lib : std::string();
}

bool PgCluster::running_as_root() { return ::geteuid() == 0; }

bool PgCluster::available(int major) {
    const std::string bin = bin_dir(major);
    if (bin.empty() || !is_executable(bin + "/pg_ctl") || !is_executable(bin + "/postgres")) return false;
    if (!is_executable(bin + "/psql") && !is_executable("/usr/bin/psql")) return false;
    if (running_as_root() && (runuser_path().empty() || ::getpwnam(kServerUser) == nullptr)) return false;
    return true;
}

std::string PgCluster::describe_server(int major) {
    if (major == 0)
        return "PostgreSQL (PGCA_PG_VERSION is set to something other than " + std::to_string(kDefaultMajor) +
               " to " + std::to_string(kNewestMajor) + ")";
    const std::string where = major == kDefaultMajor
                                  ? std::string("Debian's postgresql-15 and psql, or $PGCA_PG_BINDIR")
                                  : pg_cache_dir() + "/" + std::to_string(major) + "/bin, from scripts/install-deps.sh";
    return "PostgreSQL " + std::to_string(major) + " server binaries (" + where + ")";
}

PgCluster::PgCluster(std::string base_dir, int major) : major_(major), bin_(bin_dir(major)) {
    if (!available(major))
        throw std::runtime_error("PgCluster: " + describe_server(major) + " not found (check PgCluster::available())");

    std::string absolute = fs::absolute(fs::path(base_dir)).lexically_normal().string();
    while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    base_dir_ = absolute;
    fs::create_directories(base_dir_);

    port_ = pick_free_port();

    // initdb accepts an existing empty directory, so we create the directories
    // ourselves and hand them over instead of making base_dir itself writable
    // for the server user.
    make_dir(data_dir(), 0700);
    // Our own socket directory: Debian's compiled-in default
    // /var/run/postgresql may be missing or belong to a system cluster, and a
    // private directory also keeps parallel test clusters from colliding.
    make_dir(socket_dir(), 0755);
    make_dir(home_dir(), 0755);
    // pg_ctl -l opens the log as the server user via the shell (">> log").
    write_file(log_file(), "", 0644);
    if (running_as_root()) {
        chown_to_postgres(data_dir());
        chown_to_postgres(socket_dir());
        chown_to_postgres(log_file());
    }

    const std::vector<std::string> initdb{bin_ + "/initdb", "-D", data_dir(), "-U", kServerUser, "-A", "trust",
                                          "--no-sync", "--encoding", "UTF8", "--locale", "C"};
    const ProcessResult r = run_as_server_user(initdb);
    if (r.exit_code != 0) {
        std::string hint;
        if (running_as_root())
            hint = "(as root, every directory above " + base_dir_ + " must be searchable by the postgres user)\n";
        throw std::runtime_error("PgCluster: initdb failed\n" + hint + describe(initdb, r));
    }
    initial_hba_ = read_file(data_dir() + "/pg_hba.conf");
    initial_ident_ = read_file(data_dir() + "/pg_ident.conf");
    set_case_conf("");

    std::string conf = "\n# Added by the pgca test harness (tests/support/pg_cluster.cpp)\n";
    conf += "listen_addresses = '127.0.0.1'\n";
    conf += "port = " + std::to_string(port_) + "\n";
    conf += "unix_socket_directories = " + conf_quote(socket_dir()) + "\n";
    conf += "fsync = off\n";
    conf += "logging_collector = off\n";
    conf += "log_connections = on\n";
    conf += "shared_buffers = 16MB\n";
    conf += "max_connections = 20\n";
    conf += "include_if_exists = " + conf_quote(case_conf_file()) + "\n";
    append_conf(conf);
}

PgCluster::~PgCluster() {
    try {
        stop();
    } catch (...) {
        // Last resort; never let a postmaster outlive the test.
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            unregister_postmaster(pid_);
        }
    }
}

std::string PgCluster::conninfo_base() const { return "host=127.0.0.1 port=" + std::to_string(port_); }

void PgCluster::append_conf(const std::string& text) {
    // Appending keeps the file's owner (postgres) and mode.
    append_file(data_dir() + "/postgresql.conf", text.empty() || text.back() == '\n' ? text : text + "\n");
}

void PgCluster::set_case_conf(const std::string& text) {
    write_file(case_conf_file(), text.empty() || text.back() == '\n' ? text : text + "\n", 0644);
}

void PgCluster::reset() {
    psql_admin_checked(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    // DROP DATABASE cannot run in the transaction a DO block is, hence one statement each.
    const std::string databases = psql_admin_checked(
        "SELECT string_agg(format('%I', datname), E'\\n') FROM pg_database "
        "WHERE datname NOT IN ('postgres', 'template0', 'template1')");
    std::size_t start = 0;
    while (start < databases.size()) {
        std::size_t end = databases.find('\n', start);
        if (end == std::string::npos) end = databases.size();
        psql_admin_checked("DROP DATABASE " + databases.substr(start, end - start) + " WITH (FORCE)");
        start = end + 1;
    }
    psql_admin_checked(
        "DO $$ DECLARE r record; BEGIN "
        "FOR r IN SELECT rolname FROM pg_roles WHERE rolname <> 'postgres' AND left(rolname, 3) <> 'pg_' LOOP "
        "EXECUTE format('DROP OWNED BY %I', r.rolname); EXECUTE format('DROP ROLE %I', r.rolname); "
        "END LOOP; END $$");
    write_server_file(data_dir() + "/pg_hba.conf", initial_hba_);
    write_server_file(data_dir() + "/pg_ident.conf", initial_ident_);
    set_case_conf("");
    reload();
}

PgCluster& PgCluster::shared() {
    // Destroyed at exit in reverse order: the server stops before its folder goes.
    struct Shared {
        TempDir dir{"pgca-shared-pg-"};
        PgCluster pg{dir.path()};
    };
    static Shared shared;
    if (!shared.pg.running()) shared.pg.start();
    shared.pg.reset();
    return shared.pg;
}

void PgCluster::set_hba(const std::string& text) {
    write_server_file(data_dir() + "/pg_hba.conf",
                      "# Added by the pgca test harness so that psql_admin() always works:\n"
                      "local all postgres trust\n" +
                          text + (text.empty() || text.back() == '\n' ? "" : "\n"));
}

void PgCluster::set_ident(const std::string& text) {
    write_server_file(data_dir() + "/pg_ident.conf", text + (text.empty() || text.back() == '\n' ? "" : "\n"));
}

void PgCluster::write_server_file(const std::string& path, const std::string& text) {
    write_file(path, text, 0600);
    chown_to_postgres(path);
}

void PgCluster::start() {
    if (running()) return;
    if (pid_ > 0) {  // the previous postmaster died on its own (crash)
        unregister_postmaster(pid_);
        pid_ = 0;
    }
    install_emergency_handlers();

    for (int attempt = 1;; ++attempt) {
        const std::size_t log_offset = log_size();
        const std::vector<std::string> pg_ctl{
            bin_ + "/pg_ctl", "-D", data_dir(), "-l", log_file(), "-w", "-t", "60",
            // pg_ctl pastes -o into a /bin/sh command line, hence the quoting.
            "-o", "-c config_file=" + shell_quote(data_dir() + "/postgresql.conf"), "start"};
        const ProcessResult r = run_as_server_user(pg_ctl);

        int pid = 0;
        try {
            pid = std::stoi(read_file(data_dir() + "/postmaster.pid"));
        } catch (const std::exception&) {
            pid = 0;
        }

        if (r.exit_code == 0 && process_alive(pid)) {
            pid_ = pid;
            register_postmaster(pid_);
            return;
        }

        // pg_ctl may have given up while a postmaster is still starting: make
        // sure nothing is left running before reporting the failure.
        if (process_alive(pid)) {
            run_as_server_user({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "-t", "10", "stop"});
            wait_until_gone(pid);
            if (process_alive(pid)) ::kill(pid, SIGKILL);
        }

        // The port picked at construction was taken by someone else meanwhile.
        if (attempt < 3 && contains(log_since(log_offset), "Address already in use")) {
            port_ = pick_free_port();
            append_conf("port = " + std::to_string(port_) + "\n");
            continue;
        }
        throw std::runtime_error("PgCluster: pg_ctl start failed\n" + describe(pg_ctl, r) +
                                 "--- server log (last 40 lines) ---\n" + log_tail(40));
    }
}

void PgCluster::stop() {
    if (pid_ <= 0) return;
    const int pid = pid_;
    if (process_alive(pid)) {
        run_as_server_user({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "fast", "-w", "-t", "60", "stop"});
        // pg_ctl returns once postmaster.pid is gone; the process exits right after.
        wait_until_gone(pid);
        if (process_alive(pid)) {
            run_as_server_user({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "-t", "10", "stop"});
            wait_until_gone(pid);
        }
        if (process_alive(pid)) {
            ::kill(pid, SIGKILL);
            wait_until_gone(pid);
        }
    }
    unregister_postmaster(pid);
    pid_ = 0;
    if (process_alive(pid)) throw std::runtime_error("PgCluster: could not stop postmaster " + std::to_string(pid));
}

bool PgCluster::running() const { return process_alive(pid_); }

int PgCluster::postmaster_pid() const { return running() ? pid_ : 0; }

void PgCluster::wait_until_gone(int pid) const {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (process_alive(pid) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

std::string PgCluster::reload() {
    if (!running()) throw std::runtime_error("PgCluster::reload: server is not running");
    const std::size_t offset = log_size();
    const std::string reloaded = psql_admin_checked("SELECT pg_reload_conf()");
    if (reloaded != "t") throw std::runtime_error("PgCluster::reload: pg_reload_conf() returned '" + reloaded + "'");

    // pg_reload_conf() only sends SIGHUP to the postmaster and returns at once.
    const std::string marker = "received SIGHUP, reloading configuration files";
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!contains(log_since(offset), marker)) {
        if (Clock::now() >= deadline)
            throw std::runtime_error(
                "PgCluster::reload: the server did not log a reload within 5 s\n"
                "--- server log (last 40 lines) ---\n" +
                log_tail(40));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The marker is logged at the *start* of the reload. The postmaster does
    // the whole reload (config, pg_hba, pg_ident, SSL) before it accepts
    // another connection (15: inside its SIGHUP handler; 16 and later: in its
    // event loop, before the loop's accept), so one more connection is a
    // barrier: once it succeeded, the reload is complete and its error
    // messages, if any, are in the log.
    psql_admin_checked("SELECT 1");

    const std::string logged = log_since(offset);
    if (contains(logged, "was not reloaded") || contains(logged, "contains errors"))
        throw std::runtime_error("PgCluster::reload: the server rejected the new configuration\n" + logged);
    return logged;
}

ProcessResult PgCluster::psql_admin(const std::string& sql) const {
    return run_as_server_user({admin_psql_path(bin_), "-h", socket_dir(), "-p", std::to_string(port_), "-U", kServerUser,
                               "-d", "postgres", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql},
                              {{"PGCONNECT_TIMEOUT", "10"}});
}

std::string PgCluster::psql_admin_checked(const std::string& sql) const {
    const ProcessResult r = psql_admin(sql);
    if (r.exit_code != 0)
        throw std::runtime_error("PgCluster::psql_admin failed\n" + describe({"psql", "(admin)", "-c", sql}, r));
    return trim(r.out);
}

ProcessResult PgCluster::psql(const std::string& conninfo, const std::string& sql, const EnvList& env) const {
    RunOptions options;
    // No PG* variable of the caller's environment (PGSSLMODE, PGUSER,
    // PGPASSWORD, ...) may leak in; only what the test passes explicitly.
    options.unset_env = {"PG*"};
    options.env = {{"HOME", home_dir()}, {"PGCONNECT_TIMEOUT", "10"}, {"LC_ALL", kLocale}};
    options.env.insert(options.env.end(), env.begin(), env.end());
    return run_with_options(
        {client_psql_path(bin_), "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql}, options);
}

std::size_t PgCluster::log_size() const {
    struct stat st {};
    if (::stat(log_file().c_str(), &st) != 0) return 0;
    return static_cast<std::size_t>(st.st_size);
}

std::string PgCluster::log_since(std::size_t offset) const {
    std::string log;
    try {
        log = read_file(log_file());
    } catch (const std::exception&) {
        return {};
    }
    return offset >= log.size() ? std::string() : log.substr(offset);
}

std::string PgCluster::log_tail(std::size_t lines) const {
    const std::string log = log_since(0);
    std::size_t start = log.size();
    // Skip a trailing newline, then walk back `lines` line breaks.
    if (start > 0 && log[start - 1] == '\n') --start;
    std::size_t found = 0;
    while (start > 0 && found < lines) {
        --start;
        if (log[start] == '\n') {
            ++found;
            if (found == lines) {
                ++start;
                break;
            }
        }
    }
    return log.substr(start);
}

void PgCluster::chown_to_postgres(const std::string& path) {
    if (!running_as_root()) return;
    const ServerAccount account = server_account();
    auto change = [&](const std::string& p) {
        if (::lchown(p.c_str(), account.uid, account.gid) != 0) throw_errno("chown " + p, errno);
    };
    change(path);
    if (fs::is_directory(fs::symlink_status(path))) {
        for (const auto& entry : fs::recursive_directory_iterator(path)) change(entry.path().string());
    }
}

// Why runuser: PostgreSQL refuses to run as root, and runuser(1) (util-linux,
// present on every Debian) switches user without a password, a PAM prompt or
// a shell, unlike su/sudo. It keeps the environment (except HOME, SHELL, USER,
// LOGNAME), so PGCONNECT_TIMEOUT and LC_ALL still reach the tool. The command
// runs in base_dir because PostgreSQL tools fail when the working directory
// (e.g. /root) is not accessible to the postgres user.
ProcessResult PgCluster::run_as_server_user(const std::vector<std::string>& argv, const EnvList& env) const {
    RunOptions options;
    options.cwd = base_dir_;
    options.unset_env = {"PG*"};  // e.g. PGDATA, PGPORT, PGOPTIONS of the caller
    options.env = {{"LC_ALL", kLocale}};
    options.env.insert(options.env.end(), env.begin(), env.end());
    std::vector<std::string> full;
    if (running_as_root()) full = {runuser_path(), "-u", kServerUser, "--"};
    full.insert(full.end(), argv.begin(), argv.end());
    return run_with_options(full, options);
}

}  // namespace pgca::test
