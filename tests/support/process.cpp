#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace pgca::test {
namespace {

[[noreturn]] void throw_errno(const std::string& what, int error) {
    throw std::runtime_error(what + ": " + std::strerror(error));
}

// Owns a file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

struct Pipe {
    Fd read;
    Fd write;
};

// O_CLOEXEC everywhere: a pipe end leaking into an unrelated child (e.g. a
// postmaster started by pg_ctl) would keep our reader from ever seeing EOF.
Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2", errno);
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// Writing to a pipe whose reader is gone raises SIGPIPE, which would kill the
// whole test binary when a child exits without reading its stdin. Instead of
// changing the process-wide disposition (ignored dispositions survive exec
// and would leak into every child), SIGPIPE is blocked in this thread for the
// duration of run() and a SIGPIPE we caused is consumed before unblocking.
class SigpipeBlocker {
public:
    SigpipeBlocker() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    ~SigpipeBlocker() {
        sigset_t pending;
        sigpending(&pending);
        if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGPIPE);
            const timespec no_wait{0, 0};
            sigtimedwait(&set, nullptr, &no_wait);
        }
        pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    }
    SigpipeBlocker(const SigpipeBlocker&) = delete;
    SigpipeBlocker& operator=(const SigpipeBlocker&) = delete;

    const sigset_t& old_mask() const { return old_mask_; }

private:
    sigset_t old_mask_{};
    bool was_pending_ = false;
};

bool name_matches(const std::string& name, const std::vector<std::string>& patterns) {
    for (const auto& pattern : patterns) {
        if (!pattern.empty() && pattern.back() == '*') {
            const auto prefix_len = pattern.size() - 1;
            if (name.compare(0, prefix_len, pattern, 0, prefix_len) == 0) return true;
        } else if (name == pattern) {
            return true;
        }
    }
    return false;
}

std::vector<std::string> build_environment(const RunOptions& options) {
    // Overrides, last one wins if a name is given twice.
    EnvList overrides;
    for (const auto& [name, value] : options.env) {
        if (name.empty() || name.find('=') != std::string::npos)
            throw std::runtime_error("run: invalid environment variable name '" + name + "'");
        bool replaced = false;
        for (auto& existing : overrides) {
            if (existing.first == name) {
                existing.second = value;
                replaced = true;
            }
        }
        if (!replaced) overrides.emplace_back(name, value);
    }

    std::vector<std::string> env;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string text(*entry);
        const std::string name = text.substr(0, text.find('='));
        if (name_matches(name, options.unset_env)) continue;
        bool overridden = false;
        for (const auto& override_entry : overrides) overridden = overridden || override_entry.first == name;
        if (!overridden) env.push_back(text);
    }
    for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);
    return env;
}

// What the child reports through the status pipe when it cannot exec.
struct ChildFailure {
    int stage;  // one of the values below
    int error;  // errno
};
constexpr int kStageDup = 1;
constexpr int kStageChdir = 2;
constexpr int kStageExec = 3;

// Runs in the forked child: only async-signal-safe calls allowed.
[[noreturn]] void child_fail(int status_fd, int stage, int error) {
    const ChildFailure failure{stage, error};
    ssize_t ignored = ::write(status_fd, &failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
}

// Runs in the forked child. dup2 onto the same number would keep O_CLOEXEC,
// so that case clears the flag explicitly.
bool move_fd(int from, int to) {
    if (from == to) return ::fcntl(to, F_SETFD, 0) == 0;
    return ::dup2(from, to) == to;
}

int decode_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw_errno("waitpid", errno);
    }
    return decode_wait_status(status);
}

std::string joined(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& arg : argv) {
        if (!text.empty()) text += ' ';
        text += arg;
    }
    return text;
}

// Reads what is available on `fd` into `sink`; returns false once the fd hit EOF.
bool drain_some(int fd, std::string& sink) {
    std::array<char, 65536> buffer{};
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
        sink.append(buffer.data(), static_cast<std::size_t>(n));
        return true;
    }
    if (n == 0) return false;
    if (errno == EINTR || errno == EAGAIN) return true;
    throw_errno("read from child pipe", errno);
}

}  // namespace

ProcessResult run(const std::vector<std::string>& argv, const EnvList& extra_env, const std::string& stdin_data,
                  const std::string& cwd) {
    RunOptions options;
    options.env = extra_env;
    options.stdin_data = stdin_data;
    options.cwd = cwd;
    return run_with_options(argv, options);
}

ProcessResult run_with_options(const std::vector<std::string>& argv, const RunOptions& options) {
    if (argv.empty()) throw std::runtime_error("run: empty argv");

    // Everything the child needs is prepared before fork(): between fork and
    // exec only async-signal-safe functions may be called (no allocation).
    std::vector<std::string> env_strings = build_environment(options);
    std::vector<char*> c_env;
    c_env.reserve(env_strings.size() + 1);
    for (auto& entry : env_strings) c_env.push_back(entry.data());
    c_env.push_back(nullptr);

    std::vector<std::string> argv_copy = argv;
    std::vector<char*> c_argv;
    c_argv.reserve(argv_copy.size() + 1);
    for (auto& arg : argv_copy) c_argv.push_back(arg.data());
    c_argv.push_back(nullptr);

    const char* c_cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

    Pipe in = make_pipe();
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    Pipe status = make_pipe();  // closed by exec on success, carries ChildFailure otherwise

    SigpipeBlocker sigpipe_blocker;

    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", errno);
    if (pid == 0) {
        ::sigprocmask(SIG_SETMASK, &sigpipe_blocker.old_mask(), nullptr);
        if (!move_fd(in.read.get(), STDIN_FILENO) || !move_fd(out.write.get(), STDOUT_FILENO) ||
            !move_fd(err.write.get(), STDERR_FILENO))
            child_fail(status.write.get(), kStageDup, errno);
        if (c_cwd != nullptr && ::chdir(c_cwd) != 0) child_fail(status.write.get(), kStageChdir, errno);
        // execvpe searches PATH of *this* process' environment, then installs c_env.
        ::execvpe(c_argv[0], c_argv.data(), c_env.data());
        child_fail(status.write.get(), kStageExec, errno);
    }

    // Parent.
    in.read.reset();
    out.write.reset();
    err.write.reset();
    status.write.reset();

    ChildFailure failure{0, 0};
    ssize_t got = 0;
    do {
        got = ::read(status.read.get(), &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof failure)) {
        ProcessResult result;
        result.exit_code = wait_for(pid);
        std::string what;
        if (failure.stage == kStageExec)
            what = "cannot execute '" + argv[0] + "'";
        else if (failure.stage == kStageChdir)
            what = "cannot change directory to '" + options.cwd + "' to run '" + argv[0] + "'";
        else
            what = "cannot set up stdin/stdout/stderr to run '" + argv[0] + "'";
        result.err = "pgca::test::run: " + what + ": " + std::strerror(failure.error) + "\n";
        return result;
    }

    ProcessResult result;
    std::size_t stdin_offset = 0;
    if (options.stdin_data.empty()) {
        in.write.reset();
    } else if (::fcntl(in.write.get(), F_SETFL, O_NONBLOCK) != 0) {
        throw_errno("fcntl(O_NONBLOCK)", errno);
    }

    bool out_open = true;
    bool err_open = true;
    bool exited = false;
    int wait_status = 0;
    while (out_open || err_open) {
        std::array<pollfd, 3> fds{};
        nfds_t count = 0;
        int out_index = -1, err_index = -1, in_index = -1;
        if (out_open) {
            fds[count] = pollfd{out.read.get(), POLLIN, 0};
            out_index = static_cast<int>(count++);
        }
        if (err_open) {
            fds[count] = pollfd{err.read.get(), POLLIN, 0};
            err_index = static_cast<int>(count++);
        }
        if (in.write.valid()) {
            fds[count] = pollfd{in.write.get(), POLLOUT, 0};
            in_index = static_cast<int>(count++);
        }

        // The timeout only matters when the child has exited but a grandchild
        // still holds our pipes open: then we stop as soon as nothing is readable.
        const int ready = ::poll(fds.data(), count, exited ? 0 : 100);
        if (ready < 0) {
            if (errno == EINTR) continue;
            throw_errno("poll", errno);
        }
        if (ready == 0 && exited) break;

        if (out_index >= 0 && fds[out_index].revents != 0) out_open = drain_some(out.read.get(), result.out);
        if (err_index >= 0 && fds[err_index].revents != 0) err_open = drain_some(err.read.get(), result.err);
        if (in_index >= 0 && fds[in_index].revents != 0) {
            if ((fds[in_index].revents & POLLOUT) != 0) {
                const std::size_t remaining = options.stdin_data.size() - stdin_offset;
                const ssize_t n = ::write(in.write.get(), options.stdin_data.data() + stdin_offset, remaining);
                if (n > 0) {
                    stdin_offset += static_cast<std::size_t>(n);
                    if (stdin_offset == options.stdin_data.size()) in.write.reset();
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                    in.write.reset();  // EPIPE: the child does not want (more) input; fine.
                }
            } else {
                in.write.reset();  // POLLERR/POLLHUP: reader gone.
            }
        }

        if (!exited) {
            const pid_t r = ::waitpid(pid, &wait_status, WNOHANG);
            if (r == pid) {
                exited = true;
                in.write.reset();
            } else if (r < 0 && errno != EINTR) {
                throw_errno("waitpid", errno);
            }
        }
    }

    result.exit_code = exited ? decode_wait_status(wait_status) : wait_for(pid);
    return result;
}

std::string describe(const std::vector<std::string>& argv, const ProcessResult& result) {
    std::string text = "command: " + joined(argv) + "\nexit code: " + std::to_string(result.exit_code) + "\n";
    text += "--- stdout ---\n" + result.out;
    if (!result.out.empty() && result.out.back() != '\n') text += '\n';
    text += "--- stderr ---\n" + result.err;
    if (!result.err.empty() && result.err.back() != '\n') text += '\n';
    return text;
}

std::string shell_quote(const std::string& s) {
    std::string quoted = "'";
    for (const char c : s) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    quoted += '\'';
    return quoted;
}

std::string trim(const std::string& s) {
    const char* const whitespace = " \t\r\n\v\f";
    const auto first = s.find_first_not_of(whitespace);
    if (first == std::string::npos) return {};
    const auto last = s.find_last_not_of(whitespace);
    return s.substr(first, last - first + 1);
}

std::string read_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) throw_errno("cannot open '" + path + "' for reading", errno);
    std::string data;
    std::array<char, 65536> buffer{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n > 0) {
            data.append(buffer.data(), static_cast<std::size_t>(n));
        } else if (n == 0) {
            return data;
        } else if (errno != EINTR) {
            throw_errno("cannot read '" + path + "'", errno);
        }
    }
}

namespace {

void write_all(int fd, const std::string& data, const std::string& path) {
    std::size_t offset = 0;
    while (offset < data.size()) {
        const ssize_t n = ::write(fd, data.data() + offset, data.size() - offset);
        if (n > 0) {
            offset += static_cast<std::size_t>(n);
        } else if (n < 0 && errno != EINTR) {
            throw_errno("cannot write '" + path + "'", errno);
        }
    }
}

void close_checked(Fd& fd, const std::string& path) {
    if (::close(fd.release()) != 0) throw_errno("cannot close '" + path + "'", errno);
}

}  // namespace

void write_file(const std::string& path, const std::string& data, mode_t mode) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd.valid()) throw_errno("cannot open '" + path + "' for writing", errno);
    // open() applies the umask and leaves an existing file's mode alone.
    if (::fchmod(fd.get(), mode) != 0) throw_errno("cannot chmod '" + path + "'", errno);
    write_all(fd.get(), data, path);
    close_checked(fd, path);
}

void append_file(const std::string& path, const std::string& data) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!fd.valid()) throw_errno("cannot open '" + path + "' for appending", errno);
    write_all(fd.get(), data, path);
    close_checked(fd, path);
}

std::vector<std::string> split_pem_blocks(const std::string& pem) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while ((pos = pem.find("-----BEGIN ", pos)) != std::string::npos) {
        std::size_t end = pem.find("-----END ", pos);
        if (end == std::string::npos) break;
        end = pem.find("-----", end + 9);
        if (end == std::string::npos) break;
        end += 5;
        if (end < pem.size() && pem[end] == '\n') ++end;
        out.push_back(pem.substr(pos, end - pos));
        pos = end;
    }
    return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    std::size_t pos = 0;
    while (!from.empty() && (pos = text.find(from, pos)) != std::string::npos) {
        text.replace(pos, from.size(), to);
        pos += to.size();
    }
    return text;
}

bool under_ci() {
    const char* ci = std::getenv("CI");
    if (ci == nullptr) return false;
    const std::string value = ci;
    return !value.empty() && value != "0" && value != "false";
}

bool on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string folders = path == nullptr ? "" : path;
    std::size_t start = 0;
    while (start <= folders.size()) {
        std::size_t end = folders.find(':', start);
        if (end == std::string::npos) end = folders.size();
        const std::string folder = end == start ? "." : folders.substr(start, end - start);
        if (::access((folder + "/" + name).c_str(), X_OK) == 0) return true;
        start = end + 1;
    }
    return false;
}

}  // namespace pgca::test
