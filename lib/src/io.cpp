#include "pgca/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>
#include <random>
#include <map>
#include <set>
#include <utility>

#include "parallel.hpp"
#include "pgca/error.hpp"

namespace pgca::io {
namespace {

[[noreturn]] void io_fail(const std::string& what, const std::string& path, int err) {
    throw Error(ErrorKind::io, what + " \"" + path + "\": " + std::strerror(err));
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

void fsync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) io_fail("cannot open folder", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) io_fail("cannot fsync folder", dir, err);
}

std::string temp_name(const std::string& path) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string suffix;
    auto r = rng();
    for (int i = 0; i < 12; ++i) suffix += digits[(r >> (i * 4)) & 15];
    return parent_of(path) + "/.pgca-tmp-" + suffix;
}

}  // namespace

namespace {

// write_file_atomic without the flushes when `sync` is false (FileBatch flushes everything at
// once with syncfs afterwards).
void replace_file(const std::string& path, std::string_view data, mode_t mode, bool sync) {
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
        tmp = temp_name(path);
        // O_EXCL + mode: the file is private from its first byte; fchmod below undoes the umask.
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno != EEXIST) io_fail("cannot create a temporary file for", path, errno);
    }
    if (fd < 0) io_fail("cannot create a temporary file for", path, EEXIST);
    auto cleanup = [&](const std::string& what, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        io_fail(what, path, err);
    };
    if (::fchmod(fd, mode) != 0) cleanup("cannot set the mode of", errno);
    struct stat old {};
    if (::stat(path.c_str(), &old) == 0 && (old.st_uid != ::geteuid() || old.st_gid != ::getegid())) {
        // Keep the owner an operator gave the file; only root can, and only root needs to.
        if (::fchown(fd, old.st_uid, old.st_gid) != 0 && errno != EPERM) cleanup("cannot set the owner of", errno);
    }
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            cleanup("cannot write", errno);
        }
        off += static_cast<std::size_t>(n);
    }
    if (sync && ::fsync(fd) != 0) cleanup("cannot fsync", errno);
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        io_fail("cannot write", path, err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        io_fail("cannot replace", path, err);
    }
    if (sync) fsync_dir(parent_of(path));
}

// A new file in a folder nobody else writes to: created with its final name and mode.
void create_file(const std::string& path, std::string_view data, mode_t mode, bool chmod_needed = true) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) io_fail("cannot create", path, errno);
    auto fail = [&](const std::string& what, int err) {
        ::close(fd);
        ::unlink(path.c_str());
        io_fail(what, path, err);
    };
    // The umask may have narrowed `mode` at open (never widened it); make it exact.
    if (chmod_needed && ::fchmod(fd, mode) != 0) fail("cannot set the mode of", errno);
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write", errno);
        }
        off += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
        int err = errno;
        ::unlink(path.c_str());
        io_fail("cannot write", path, err);
    }
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    replace_file(path, data, mode, true);
}

bool write_if_changed(const std::string& path, std::string_view data, mode_t mode) {
    if (holds(path, data, mode)) return false;
    write_file_atomic(path, data, mode);
    return true;
}

namespace {

// Opens `name` (relative to folder `dir`, or AT_FDCWD) for reading without updating its access
// time where the file system lets us (O_NOATIME needs the file's owner or CAP_FOWNER): checking
// tens of thousands of files pgca wrote would otherwise dirty every inode once. -1 with errno
// set on failure.
int open_for_reading(int dir, const std::string& name) {
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::openat(dir, name.c_str(), O_RDONLY | O_CLOEXEC);
    return fd;
}

// Reads the rest of `fd` into `out`; returns 0 or the errno of the failed read.
int read_all(int fd, std::string& out, std::size_t size_hint) {
    out.reserve(size_hint + 1);
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return 0;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// io::holds for `name` relative to `dir`; `path` names the file in errors.
bool holds_at(int dir, const std::string& name, const std::string& path, std::string_view data, mode_t mode) {
    int fd = open_for_reading(dir, name);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return false;
        io_fail("cannot read", path, errno);
    }
    struct stat st {};
    bool same = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode &&
                static_cast<std::size_t>(st.st_size) == data.size();
    std::string current;
    int err = same ? read_all(fd, current, data.size()) : 0;
    ::close(fd);
    if (err != 0) io_fail("cannot read", path, err);
    return same && current == data;
}

// io::try_read_file for `name` relative to `dir`; `path` names the file in errors.
std::optional<std::string> try_read_at(int dir, const std::string& name, const std::string& path) {
    int fd = open_for_reading(dir, name);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        io_fail("cannot read", path, errno);
    }
    std::string out;
    int err = read_all(fd, out, 4096);
    ::close(fd);
    if (err != 0) io_fail("cannot read", path, err);
    return out;
}

}  // namespace

bool holds(const std::string& path, std::string_view data, mode_t mode) {
    return holds_at(AT_FDCWD, path, path, data, mode);
}

std::optional<std::string> try_read_file(const std::string& path) { return try_read_at(AT_FDCWD, path, path); }

Folder::Folder(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0 && errno != ENOENT && errno != ENOTDIR) io_fail("cannot open folder", path, errno);
}

Folder::~Folder() {
    if (fd_ >= 0) ::close(fd_);
}

Folder::Folder(Folder&& other) noexcept : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

Folder& Folder::operator=(Folder&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        path_ = std::move(other.path_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

std::optional<mode_t> Folder::mode() const {
    if (fd_ < 0) return std::nullopt;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) io_fail("cannot stat folder", path_, errno);
    return st.st_mode & 07777;
}

std::optional<std::string> Folder::try_read(const std::string& name) const {
    if (fd_ < 0) return std::nullopt;
    return try_read_at(fd_, name, path_ + "/" + name);
}

bool Folder::holds(const std::string& name, std::string_view data, mode_t mode) const {
    return fd_ >= 0 && holds_at(fd_, name, path_ + "/" + name, data, mode);
}

std::string read_file(const std::string& path) {
    try {
        auto data = try_read_file(path);
        if (!data) throw Error(ErrorKind::input, "cannot read \"" + path + "\": " + std::strerror(ENOENT));
        return *data;
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::io) throw Error(ErrorKind::input, e.what());
        throw;
    }
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

void ensure_dir(const std::string& path, mode_t mode) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) throw Error(ErrorKind::io, "\"" + path + "\" exists and is not a folder");
        if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) io_fail("cannot chmod", path, errno);
        return;
    }
    std::string parent = parent_of(path);
    if (parent != path && !exists(parent)) ensure_dir(parent, 0755);
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) io_fail("cannot create folder", path, errno);
    if (::chmod(path.c_str(), mode) != 0) io_fail("cannot chmod", path, errno);
}

void remove_all(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        io_fail("cannot remove", path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
        DIR* d = ::opendir(path.c_str());
        if (d == nullptr) io_fail("cannot open folder", path, errno);
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n == "." || n == "..") continue;
            try {
                remove_all(path + "/" + n);
            } catch (...) {
                ::closedir(d);
                throw;
            }
        }
        ::closedir(d);
        if (::rmdir(path.c_str()) != 0) io_fail("cannot remove folder", path, errno);
    } else if (::unlink(path.c_str()) != 0) {
        io_fail("cannot remove", path, errno);
    }
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
        if (errno == ENOENT) return out;
        io_fail("cannot open folder", dir, errno);
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::string absolute(const std::string& path) {
    std::string out = path;
    if (out.empty() || out.front() != '/') {
        char buf[4096];
        if (::getcwd(buf, sizeof buf) == nullptr) io_fail("cannot read the current folder for", path, errno);
        out = std::string(buf) + "/" + path;
    }
    // Drop "./" segments and trailing slashes so emitted paths are clean.
    std::string clean;
    std::size_t i = 0;
    while (i < out.size()) {
        std::size_t j = out.find('/', i);
        if (j == std::string::npos) j = out.size();
        std::string seg = out.substr(i, j - i);
        if (seg == "..") {
            auto slash = clean.rfind('/');
            clean = slash == std::string::npos ? "" : clean.substr(0, slash);
        } else if (!seg.empty() && seg != ".") {
            clean += "/" + seg;
        }
        i = j + 1;
    }
    return clean.empty() ? "/" : clean;
}

void FileBatch::write(std::string path, std::string data, mode_t mode) {
    writes_.push_back({std::move(path), std::move(data), mode});
}

bool FileBatch::write_if_changed(std::string path, std::string data, mode_t mode) {
    if (holds(path, data, mode)) return false;
    write(std::move(path), std::move(data), mode);
    return true;
}

std::vector<bool> FileBatch::write_if_changed(std::vector<FileWrite> writes, unsigned jobs) {
    // Comparing is a few system calls per file; thousands of them go faster on several threads.
    std::vector<char> same(writes.size(), 0);
    detail::parallel_for(
        writes.size(), jobs,
        [&](std::size_t i, std::size_t) { same[i] = holds(writes[i].path, writes[i].data, writes[i].mode) ? 1 : 0; },
        256);
    std::vector<bool> queued(writes.size());
    for (std::size_t i = 0; i < writes.size(); ++i) {
        queued[i] = same[i] == 0;
        if (queued[i]) writes_.push_back(std::move(writes[i]));
    }
    return queued;
}

bool FileBatch::has_changes() const {
    if (!writes_.empty() || !removals_.empty()) return true;
    for (const auto& d : dirs_) {
        struct stat st {};
        if (::stat(d.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != d.mode) return true;
    }
    return false;
}

void FileBatch::make_dir(std::string path, mode_t mode) {
    if (dir_index_.emplace(path, dirs_.size()).second) dirs_.push_back({std::move(path), mode});
}

void FileBatch::remove(std::string path) { removals_.push_back(std::move(path)); }

void FileBatch::clear() noexcept {
    writes_.clear();
    dirs_.clear();
    dir_index_.clear();
    removals_.clear();
}

void FileBatch::commit(const std::string& anchor, unsigned jobs) {
    if (empty()) return;
    // The umask, read once: when it leaves a mode untouched, no fchmod/chmod is needed, which
    // matters at tens of thousands of files.
    const mode_t mask = ::umask(0);
    ::umask(mask);

    // Work is grouped by folder. A folder that does not exist yet is created by the task that
    // fills it, and its files are created directly (O_EXCL, mode from the first byte) rather than
    // through a temporary file and a rename: nobody else writes there, and a crash mid-write
    // leaves a short file that the next apply finds by its digest. Folders that exist are
    // ensured first, in order, and their files are replaced atomically.
    struct Task {
        const Dir* dir = nullptr;  // a folder to create, or null
        std::vector<const FileWrite*> files;
    };
    std::vector<Task> tasks;
    std::map<std::string, std::size_t> task_of;
    // Folders that hold other queued folders (clients/, servers/NAME when it gets a crl/) are
    // made first, in order; the rest that do not exist yet become tasks.
    std::set<std::string> containers;
    for (const auto& d : dirs_) containers.insert(parent_of(d.path));
    for (const auto& d : dirs_) {
        struct stat st {};
        if (containers.count(d.path) != 0 || ::stat(d.path.c_str(), &st) == 0) {
            ensure_dir(d.path, d.mode);
        } else {
            task_of[d.path] = tasks.size();
            tasks.push_back({&d, {}});
        }
    }
    std::vector<const FileWrite*> replacements;
    for (const auto& w : writes_) {
        auto it = task_of.find(parent_of(w.path));
        if (it != task_of.end())
            tasks[it->second].files.push_back(&w);
        else
            replacements.push_back(&w);
    }

    auto run_task = [&](const Task& t) {
        if (t.dir != nullptr) {
            if (::mkdir(t.dir->path.c_str(), t.dir->mode) != 0) {
                if (errno != EEXIST) io_fail("cannot create folder", t.dir->path, errno);
                ensure_dir(t.dir->path, t.dir->mode);
                for (const FileWrite* w : t.files) replace_file(w->path, w->data, w->mode, false);
                return;
            }
            if ((t.dir->mode & mask) != 0 && ::chmod(t.dir->path.c_str(), t.dir->mode) != 0)
                io_fail("cannot chmod", t.dir->path, errno);
        }
        for (const FileWrite* w : t.files) create_file(w->path, w->data, w->mode, (w->mode & mask) != 0);
    };
    // Spread over threads: creating thousands of small files is kernel-bound.
    const std::size_t units = tasks.size() + replacements.size();
    detail::parallel_for(
        units, jobs,
        [&](std::size_t i, std::size_t) {
            if (i < tasks.size()) {
                run_task(tasks[i]);
            } else {
                const FileWrite* w = replacements[i - tasks.size()];
                replace_file(w->path, w->data, w->mode, false);
            }
        },
        64);
    for (const auto& r : removals_) remove_all(r);
    // One syncfs() makes every file above durable at once: per-file fsync costs ~0.35 ms here,
    // which is most of the time of a bulk issue. It flushes the whole file system that holds
    // `anchor`, so it is never weaker than per-file fsync plus folder fsync.
    detail::PhaseTimer timer("  of which syncfs");
    int fd = ::open(anchor.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) io_fail("cannot open folder", anchor, errno);
    int rc = ::syncfs(fd);
    int err = errno;
    timer.stop();
    ::close(fd);
    if (rc != 0) io_fail("cannot flush the file system of", anchor, err);
    clear();
}

void remove_temp_files(const std::string& dir) {
    for (const auto& name : list_dir(dir))
        if (name.rfind(".pgca-tmp-", 0) == 0) remove_all(dir + "/" + name);
}

namespace {

// What the holder of DIR/.lock writes into it: "pid N", "since EPOCH", "command pgca VERB".
std::string lock_holder_record() {
    std::string command;
    int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[512];
        ssize_t n = ::read(fd, buf, sizeof buf - 1);
        ::close(fd);
        if (n > 0) {
            // argv[0]'s base name and the command verb: "pgca apply".
            std::string args(buf, static_cast<std::size_t>(n));
            std::string argv0 = args.substr(0, args.find('\0'));
            command = argv0.substr(argv0.rfind('/') + 1);
            std::size_t next = args.find('\0');
            if (next != std::string::npos && next + 1 < args.size())
                command += " " + std::string(args.c_str() + next + 1);
        }
    }
    return "pid " + std::to_string(::getpid()) + "\nsince " + std::to_string(std::time(nullptr)) + "\ncommand " +
           command + "\n";
}

// "pid N (pgca apply, since 2026-01-01T00:00:00Z)" from what the holder wrote into `fd`, or
// "another process" when it wrote nothing (yet).
std::string describe_lock_holder(int fd) {
    char buf[1024];
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string text = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    auto field = [&](const std::string& key) {
        std::size_t at = text.rfind(key + " ", 0) == 0 ? 0 : text.find("\n" + key + " ");
        if (at == std::string::npos) return std::string();
        at = text.find(' ', at) + 1;
        return text.substr(at, text.find('\n', at) - at);
    };
    std::string pid = field("pid");
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return "another process";
    std::string since = field("since");
    std::string when;
    if (!since.empty() && since.size() < 19 && since.find_first_not_of("0123456789") == std::string::npos) {
        std::time_t t = static_cast<std::time_t>(std::stoll(since));
        struct tm tm {};
        char stamp[32];
        if (gmtime_r(&t, &tm) != nullptr && std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0)
            when = stamp;
    }
    std::string command = field("command");
    std::string about = command.empty() ? "" : command;
    if (!when.empty()) about += (about.empty() ? "since " : ", since ") + when;
    return "pid " + pid + (about.empty() ? "" : " (" + about + ")");
}

}  // namespace

DirLock::DirLock(const std::string& dir, int timeout_seconds) {
    std::string path = dir + "/.lock";
    // O_NOFOLLOW: the holder writes into this file, so it must be the folder's own, never a
    // planted link; O_NONBLOCK: a planted FIFO cannot block the open.
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd_ < 0) io_fail("cannot open lock file", path, errno);
    auto fail = [&](const std::string& message) {
        ::close(fd_);
        fd_ = -1;
        throw Error(ErrorKind::io, message);
    };
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode))
        fail("lock file \"" + path + "\" is not a regular file; remove it");
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    bool told = false;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err != EWOULDBLOCK) fail("cannot lock \"" + path + "\": " + std::strerror(err));
        auto waited = Clock::now() - start;
        if (timeout_seconds >= 0 && waited >= std::chrono::seconds(timeout_seconds))
            fail("\"" + dir + "\" is locked by " + describe_lock_holder(fd_) + "; gave up after " +
                 std::to_string(timeout_seconds) + " s (--lock-timeout)");
        if (!told && waited >= std::chrono::seconds(1)) {
            std::fprintf(stderr, "pgca: waiting for the lock held by %s on \"%s\"\n", describe_lock_holder(fd_).c_str(),
                         dir.c_str());
            told = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Best effort: the lock itself is what excludes other writers; the record only names us.
    std::string record = lock_holder_record();
    if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, record.data(), record.size(), 0);
}

DirLock::~DirLock() {
    if (fd_ < 0) return;
    (void)!::ftruncate(fd_, 0);  // still held: nobody reads a stale record of ours
    ::close(fd_);
}

}  // namespace pgca::io
