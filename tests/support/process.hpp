// Test support: running child processes and small file helpers.
//
// Everything here is meant for tests only: errors in the plumbing throw
// std::runtime_error so that a broken harness fails the test loudly instead of
// producing confusing assertions later.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

// At the top of a Catch2 test that needs an external tool: where `available` is false the test
// stops as a visible skip, its output holding PGCA_SKIP_MARKER (tests/CMakeLists.txt gives ctest
// that as SKIP_REGULAR_EXPRESSION), except under CI, where it fails: CI installs every tool the
// tests use, so a missing one means the test would prove nothing.
#define PGCA_SKIP_MARKER "PGCA-SKIPPED:"
#define PGCA_REQUIRE_TOOL(available, what)                                              \
    do {                                                                                \
        if (!(available)) {                                                             \
            if (::pgca::test::under_ci()) FAIL(what << " missing (CI is set)");         \
            WARN(PGCA_SKIP_MARKER " " << what << " not available; skipping this test"); \
            return;                                                                     \
        }                                                                               \
    } while (false)
// The openssl CLI, found on PATH, for the interop tests.
#define PGCA_REQUIRE_OPENSSL() PGCA_REQUIRE_TOOL(::pgca::test::on_path("openssl"), "the openssl CLI")

namespace pgca::test {

// Whether the tests run under CI: CI is set and neither empty, "0" nor "false".
bool under_ci();

// Whether `name` is an executable file in one of the folders of PATH.
bool on_path(const std::string& name);

using EnvList = std::vector<std::pair<std::string, std::string>>;

struct ProcessResult {
    int exit_code = -1;  // exit status, or 128 + signal number if killed by a signal
    std::string out;     // everything the child wrote to stdout
    std::string err;     // everything the child wrote to stderr
};

struct RunOptions {
    // Variables added to (or overriding) the current environment.
    EnvList env;
    // Variables removed from the inherited environment before `env` is applied.
    // An entry ending in '*' is a prefix pattern, e.g. "PG*" drops PGHOST,
    // PGSSLMODE, ... so a developer's shell cannot leak into a test.
    std::vector<std::string> unset_env;
    // Written to the child's stdin, which is then closed (the child always sees EOF).
    std::string stdin_data;
    // Working directory of the child; empty means "inherit".
    std::string cwd;
};

// Runs argv[0] (looked up in PATH when it has no '/') with the given
// arguments; no shell is involved, so arguments need no quoting.
// stdout and stderr are captured separately and read concurrently with
// feeding stdin, so large outputs cannot deadlock.
//
// If the program cannot be started (not found, not executable, bad cwd) the
// result has exit_code 127 and an explanation in `err`, like a shell would.
// Failures of the plumbing itself (pipe, fork, ...) throw std::runtime_error.
//
// Note: the call returns once the child has exited and its pipes are drained.
// Output written afterwards by grandchildren that kept the pipes open (e.g. a
// daemon that did not redirect its output) is discarded.
ProcessResult run(const std::vector<std::string>& argv, const EnvList& extra_env = {},
                  const std::string& stdin_data = "", const std::string& cwd = "");

// Runs the pgca binary under test (PGCA_BIN) with `args`.
inline ProcessResult pgca_run(std::vector<std::string> args) {
    args.insert(args.begin(), PGCA_BIN);
    return run(args);
}

// Same as run(), with every knob available.
ProcessResult run_with_options(const std::vector<std::string>& argv, const RunOptions& options);

// A human-readable summary of a result, for failure messages (INFO/throw).
std::string describe(const std::vector<std::string>& argv, const ProcessResult& result);

// Quotes a string for a POSIX shell: 'it'\''s' style. Only needed where a
// tool insists on a shell command line (e.g. pg_ctl -o).
std::string shell_quote(const std::string& s);

// Removes leading and trailing whitespace (psql -A -t output ends in "\n").
std::string trim(const std::string& s);

// The PEM blocks ("-----BEGIN …" to "-----END …-----\n") of `pem`, in order.
std::vector<std::string> split_pem_blocks(const std::string& pem);

// `text` with every `from` replaced by `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

// Whole file as bytes; throws std::runtime_error if it cannot be read.
std::string read_file(const std::string& path);

// Creates or truncates `path`, writes `data` and sets the permission bits to
// exactly `mode` (also when the file already existed; the umask is ignored).
// The owner of an existing file is kept. Throws std::runtime_error on failure.
void write_file(const std::string& path, const std::string& data, mode_t mode = 0644);

// Appends `data` to an existing file (owner and mode unchanged). Throws on failure.
void append_file(const std::string& path, const std::string& data);

}  // namespace pgca::test
