#include "pgca/secret.hpp"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"

namespace pgca {
namespace {

// PostgreSQL's ssl_passphrase_command reads only the first line and strips "\n" / "\r\n".
std::string first_line(std::string text) {
    auto nl = text.find('\n');
    if (nl != std::string::npos) {
        std::string line = text.substr(0, nl);
        wipe(text);
        text = std::move(line);
    }
    if (!text.empty() && text.back() == '\r') text.pop_back();
    return text;
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

// PostgreSQL replaces %p with the prompt and %% with %: a literal % must be doubled.
std::string escape_percent(const std::string& s) {
    std::string out;
    for (char c : s) {
        out += c;
        if (c == '%') out += '%';
    }
    return out;
}

// ---- the passphrase command: bounded in time and in output ------------------------------------

constexpr std::size_t kMaxCommandOutput = 64 * 1024;
constexpr int kDefaultCommandSeconds = 30;

// PGCA_PASSPHRASE_TIMEOUT (whole seconds), else 30.
int command_time_limit() {
    const char* text = std::getenv("PGCA_PASSPHRASE_TIMEOUT");
    if (text == nullptr || *text == '\0') return kDefaultCommandSeconds;
    std::string value = text;
    if (value.size() > 5 || value.find_first_not_of("0123456789") != std::string::npos || std::stoi(value) < 1 ||
        std::stoi(value) > 86400)
        throw Error(ErrorKind::usage, "PGCA_PASSPHRASE_TIMEOUT=\"" + value +
                                          "\": must be a whole number of seconds between 1 and 86400");
    return std::stoi(value);
}

// The command in its own process group (so that what it starts can be stopped with it), its
// standard output on a pipe; stdin and stderr are pgca's, for a command that asks on a terminal.
pid_t start_command(const std::string& command, int& out_fd) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw Error(ErrorKind::io, "passphrase: cannot run command: pipe: " + std::string(std::strerror(errno)));
    pid_t pid = ::fork();
    if (pid < 0) {
        int err = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw Error(ErrorKind::io, "passphrase: cannot run command: fork: " + std::string(std::strerror(err)));
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        if (::dup2(fds[1], STDOUT_FILENO) < 0) ::_exit(127);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so that the group exists before anything is killed
    ::close(fds[1]);
    out_fd = fds[0];
    return pid;
}

// Stops the command and everything it started, and reaps it.
void kill_command(pid_t pid) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

// Reads the command's output until EOF, the size limit or the deadline. Returns "" when it
// finished in time and within the limit, else why not.
template <class Deadline>
std::string read_command_output(int fd, std::string& out, const Deadline& deadline, int limit_seconds) {
    char buf[4096];
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return "did not finish within " + std::to_string(limit_seconds) + " s";
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return std::string("poll: ") + std::strerror(errno);
        if (rc == 0) continue;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::string("read: ") + std::strerror(errno);
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxCommandOutput) {
            OPENSSL_cleanse(buf, sizeof buf);
            return "printed more than " + std::to_string(kMaxCommandOutput / 1024) + " KiB";
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return {};
}

// The exit status once the command has exited, waiting until the deadline at most (it may have
// closed its output and kept running). std::nullopt when it is still running.
template <class Deadline>
std::optional<int> wait_command(pid_t pid, const Deadline& deadline) {
    while (true) {
        int status = 0;
        pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) return status;
        if (done < 0 && errno != EINTR) return -1;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Runs the operator's shell command (the profile chose it) and returns everything it printed.
// It gets PGCA_PASSPHRASE_TIMEOUT seconds (default 30) and 64 KiB of output; past either, it and
// its process group are killed and the error says which limit it hit.
std::string run_passphrase_command(const PassphraseSource& source) {
    const int limit = command_time_limit();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limit);
    int fd = -1;
    pid_t pid = start_command(source.value, fd);
    std::string out;
    std::string why = read_command_output(fd, out, deadline, limit);
    ::close(fd);
    std::optional<int> status;
    if (why.empty()) {
        status = wait_command(pid, deadline);
        if (!status) why = "did not finish within " + std::to_string(limit) + " s";
    }
    if (!why.empty()) {
        kill_command(pid);
        wipe(out);
        std::string hint = why.rfind("did not finish", 0) == 0 ? " (PGCA_PASSPHRASE_TIMEOUT sets the limit)" : "";
        throw Error(ErrorKind::input, "passphrase: " + source.describe() + " " + why + "; stopped it" + hint);
    }
    if (*status == -1 || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
        wipe(out);
        throw Error(ErrorKind::input, "passphrase: " + source.describe() + " failed" +
                                          (*status != -1 && WIFEXITED(*status)
                                               ? " (exit " + std::to_string(WEXITSTATUS(*status)) + ")"
                                               : std::string()));
    }
    return out;
}

}  // namespace

std::string PassphraseSource::describe() const {
    switch (kind) {
        case Kind::env: return "environment variable " + value;
        case Kind::file: return "file " + value;
        case Kind::command: return "command `" + value + "`";
        case Kind::none: break;
    }
    return "no passphrase source";
}

std::string PassphraseSource::to_json() const {
    switch (kind) {
        case Kind::env: return nlohmann::json{{"env", value}}.dump();
        case Kind::file: return nlohmann::json{{"file", value}}.dump();
        case Kind::command: return nlohmann::json{{"command", value}}.dump();
        case Kind::none: break;
    }
    return {};
}

PassphraseSource PassphraseSource::from_json(std::string_view text) {
    PassphraseSource s;
    if (text.empty()) return s;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || j.size() != 1 || !j.begin().value().is_string())
        throw Error(ErrorKind::ledger, "malformed passphrase source in the ledger");
    const std::string key = j.begin().key();
    s.value = j.begin().value().get<std::string>();
    if (key == "env") s.kind = Kind::env;
    else if (key == "file") s.kind = Kind::file;
    else if (key == "command") s.kind = Kind::command;
    else throw Error(ErrorKind::ledger, "malformed passphrase source in the ledger");
    return s;
}

std::string read_passphrase(const PassphraseSource& source) {
    std::string pass;
    switch (source.kind) {
        case PassphraseSource::Kind::none:
            throw Error(ErrorKind::input, "no passphrase source is configured");
        case PassphraseSource::Kind::env: {
            const char* v = std::getenv(source.value.c_str());
            if (v == nullptr) throw Error(ErrorKind::input, "passphrase: environment variable " + source.value + " is not set");
            pass = v;
            break;
        }
        case PassphraseSource::Kind::file:
            try {
                pass = first_line(io::read_file(source.value, io::kMaxPassphraseFileBytes));
            } catch (const Error& e) {
                throw Error(ErrorKind::input, std::string("passphrase: ") + e.what());
            }
            break;
        case PassphraseSource::Kind::command:
            pass = first_line(run_passphrase_command(source));
            break;
    }
    if (pass.empty()) throw Error(ErrorKind::input, "passphrase: " + source.describe() + " gave an empty passphrase");
    return pass;
}

std::string passphrase_command(const PassphraseSource& source) {
    switch (source.kind) {
        case PassphraseSource::Kind::env:
            // The postmaster's environment (systemd Environment=, or the pg_ctl caller's).
            return escape_percent("printf '%s\\n' \"$" + source.value + "\"");
        case PassphraseSource::Kind::file:
            return escape_percent("cat " + shell_quote(source.value));
        case PassphraseSource::Kind::command:
            return escape_percent(source.value);
        case PassphraseSource::Kind::none:
            break;
    }
    return {};
}

PassphraseCache::PassphraseCache(PassphraseCache&& other) noexcept : entries_(std::move(other.entries_)) {
    other.entries_.clear();
}

PassphraseCache& PassphraseCache::operator=(PassphraseCache&& other) noexcept {
    if (this != &other) {
        clear();
        entries_ = std::move(other.entries_);
        other.entries_.clear();
    }
    return *this;
}

const std::string& PassphraseCache::get(const PassphraseSource& source) {
    for (const auto& e : entries_)
        if (e.source.kind == source.kind && e.source.value == source.value) return e.passphrase;
    std::string pass = read_passphrase(source);
    entries_.push_back({source, std::move(pass)});
    return entries_.back().passphrase;
}

void PassphraseCache::clear() noexcept {
    for (auto& e : entries_) wipe(e.passphrase);
    entries_.clear();
}

}  // namespace pgca
