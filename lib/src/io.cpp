#include "pgca/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>
#include <random>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <utility>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/wipe.hpp"

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

std::string base_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// An owned file descriptor.
class Fd final {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

// --- where a path lies: beneath a PKI folder, or elsewhere ------------------------------------

std::mutex& registry_mutex() {
    static std::mutex mu;
    return mu;
}

std::vector<const Tree*>& registry() {
    static std::vector<const Tree*> trees;
    return trees;
}

std::atomic<bool> g_openat2{true};

// A path as the io functions open it: relative to a Tree's descriptor when it lies beneath one.
struct Place {
    const Tree* tree = nullptr;
    std::string path;  // as given: what messages show
    std::string rel;   // relative to tree->root() ("" = the root), when `tree` is set
};

Place place_of(const std::string& path) {
    Place p{nullptr, path, {}};
    const std::string abs = !path.empty() && path.front() == '/' ? path : absolute(path);
    std::lock_guard<std::mutex> lock(registry_mutex());
    std::size_t best = 0;
    for (const Tree* t : registry()) {
        const std::string& root = t->root();
        const std::size_t n = root == "/" ? 1 : root.size() + 1;
        if (abs.size() > n && abs.compare(0, root.size(), root) == 0 && abs[n - 1] == '/' && n > best) {
            best = n;
            p.tree = t;
            p.rel = abs.substr(n);
        }
    }
    return p;
}

// The components of a relative path, without "" and ".".
std::vector<std::string> components(const std::string& rel) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i <= rel.size()) {
        std::size_t j = rel.find('/', i);
        if (j == std::string::npos) j = rel.size();
        std::string c = rel.substr(i, j - i);
        if (!c.empty() && c != ".") out.push_back(std::move(c));
        i = j + 1;
    }
    return out;
}

// openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS by hand: every folder on the way opened with
// O_NOFOLLOW, ".." refused. -1 with errno set on failure.
int walk_open(int root, const std::string& rel, int flags, mode_t mode) {
    auto parts = components(rel);
    if (parts.empty()) return ::openat(root, ".", flags, mode);
    Fd cur;
    int at = root;
    for (std::size_t k = 0; k < parts.size(); ++k) {
        if (parts[k] == "..") {
            errno = EXDEV;
            return -1;
        }
        if (k + 1 == parts.size()) return ::openat(at, parts[k].c_str(), flags, mode);
        int fd = ::openat(at, parts[k].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return -1;
        cur = Fd(fd);
        at = fd;
    }
    return -1;  // not reached
}

// Opens `rel` beneath `tree` without following any link. -1 with errno set on failure.
int open_beneath(const Tree& tree, const std::string& rel, int flags, mode_t mode = 0) {
    flags |= O_NOFOLLOW | O_CLOEXEC;
    const int root = tree.try_fd();
    if (root < 0) return -1;
    if (g_openat2.load(std::memory_order_relaxed)) {
        open_how how{};
        how.flags = static_cast<std::uint64_t>(flags);
        how.mode = (flags & O_CREAT) != 0 ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        long fd = ::syscall(SYS_openat2, root, rel.empty() ? "." : rel.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
        g_openat2 = false;  // an old kernel: walk from now on
    }
    return walk_open(root, rel, flags, mode);
}

// Opens `p` beneath its tree, or (outside every PKI folder) as the operator named it.
int open_place(const Place& p, int flags, mode_t mode = 0) {
    if (p.tree != nullptr) return open_beneath(*p.tree, p.rel, flags, mode);
    return ::open(p.path.c_str(), flags | O_CLOEXEC, mode);
}

std::string what_it_is(mode_t m) {
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISDIR(m)) return "a folder";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISREG(m)) return "a regular file";
    return "not a regular file";
}

Error link_error(const std::string& path) {
    return Error(ErrorKind::policy, "\"" + path + "\" is a symbolic link; pgca does not follow links inside its "
                                    "folder (remove the link)");
}

// What stands in the way of `rel` beneath `tree` once the kernel said ELOOP, ENOTDIR or EXDEV:
// the first component that is a link, or not a folder where one is needed. `final` says
// whether it is the last component.
struct Obstacle {
    Error error;
    bool final;
};

std::optional<Obstacle> obstacle(const Tree& tree, const std::string& rel, bool want_dir) {
    auto parts = components(rel);
    std::string walked = tree.root();
    Fd cur;
    int at = tree.try_fd();
    if (at < 0) return std::nullopt;
    for (std::size_t k = 0; k < parts.size(); ++k) {
        const bool last = k + 1 == parts.size();
        walked += "/" + parts[k];
        if (parts[k] == "..")
            return Obstacle{Error(ErrorKind::policy, "\"" + walked + "\" leaves pgca's folder \"" + tree.root() + "\""),
                            last};
        struct stat st {};
        if (::fstatat(at, parts[k].c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
        if (S_ISLNK(st.st_mode)) return Obstacle{link_error(walked), last};
        if (!S_ISDIR(st.st_mode)) {
            if (last && !want_dir) return std::nullopt;
            return Obstacle{Error(ErrorKind::policy, "\"" + walked + "\" is " + what_it_is(st.st_mode) +
                                                         ", where pgca keeps a folder (remove it)"),
                            last};
        }
        if (last) return std::nullopt;
        int fd = ::openat(at, parts[k].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return std::nullopt;
        cur = Fd(fd);
        at = fd;
    }
    return std::nullopt;
}

bool is_link_errno(int err) { return err == ELOOP || err == ENOTDIR || err == EXDEV; }

// Throws the right error for a failed open of `p`: the link or non-folder in the way when
// there is one, else Error(io) with `what`.
[[noreturn]] void open_fail(const Place& p, int err, const std::string& what, bool want_dir) {
    if (p.tree != nullptr && is_link_errno(err))
        if (auto o = obstacle(*p.tree, p.rel, want_dir)) throw o->error;
    if (err == ENOTDIR && want_dir) throw Error(ErrorKind::io, "\"" + p.path + "\" exists and is not a folder");
    io_fail(what, p.path, err);
}

// Opens folder `p` for *at() calls (O_RDONLY: fsync and readdir work on it). -1/ENOENT when it
// is missing; throws for other errors.
Fd open_dir(const Place& p, int extra = 0) {
    int fd = open_place(p, O_RDONLY | O_DIRECTORY | extra);
    if (fd < 0 && errno != ENOENT) open_fail(p, errno, "cannot open folder", true);
    return Fd(fd);
}

// The folder holding `path`, opened for *at() calls on its last component `name`. The fd is
// empty when the folder is missing and `allow_missing`; otherwise that throws Error(io).
struct Parent {
    Fd fd;
    std::string name;
};

Parent open_parent(const std::string& path, bool allow_missing) {
    Place p = place_of(path);
    Place dir{p.tree, parent_of(path), {}};
    if (p.tree != nullptr) {
        auto slash = p.rel.rfind('/');
        dir.rel = slash == std::string::npos ? std::string() : p.rel.substr(0, slash);
    }
    Parent out{open_dir(dir), base_of(path)};
    if (!out.fd && !allow_missing) io_fail("cannot open the folder of", path, ENOENT);
    return out;
}

// The process umask, read without changing it (umask() would, for a moment, for every thread).
// 0777 when unknown: then every mode is set explicitly.
mode_t process_umask() {
    FILE* f = std::fopen("/proc/self/status", "re");
    if (f == nullptr) return 0777;
    char line[256];
    mode_t mask = 0777;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        unsigned value = 0;
        if (std::sscanf(line, "Umask: %o", &value) == 1) {
            mask = static_cast<mode_t>(value);
            break;
        }
    }
    std::fclose(f);
    return mask;
}

// --- reading ----------------------------------------------------------------------------------

// O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused after fstat). O_NOATIME
// where the file system lets us (it needs the file's owner or CAP_FOWNER): checking tens of
// thousands of files pgca wrote would otherwise dirty every inode once.
constexpr int kReadFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOATIME;

int open_read_at(int dir, const std::string& name) {
    int fd = ::openat(dir, name.c_str(), kReadFlags | O_NOFOLLOW);
    if (fd < 0 && errno == EPERM) fd = ::openat(dir, name.c_str(), (kReadFlags & ~O_NOATIME) | O_NOFOLLOW);
    return fd;
}

int open_read(const Place& p) {
    int fd = open_place(p, kReadFlags);
    if (fd < 0 && errno == EPERM) fd = open_place(p, kReadFlags & ~O_NOATIME);
    return fd;
}

Error too_large(const std::string& path, std::size_t limit) {
    return Error(ErrorKind::input, "\"" + path + "\" is larger than " + std::to_string(limit) +
                                       " bytes, the most pgca reads for it");
}

// The regular file open on `fd`, whole, at most `limit` bytes; `path` names it in errors.
std::string read_regular(int fd, const std::string& path, std::size_t limit) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) io_fail("cannot stat", path, errno);
    if (!S_ISREG(st.st_mode))
        throw Error(ErrorKind::input, "\"" + path + "\" is " + what_it_is(st.st_mode) +
                                          ", not a regular file; pgca reads only regular files");
    if (static_cast<std::uint64_t>(st.st_size) > limit) throw too_large(path, limit);
    std::string out;
    out.reserve(static_cast<std::size_t>(st.st_size) + 1);
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            io_fail("cannot read", path, errno);
        }
        if (n == 0) return out;
        if (out.size() + static_cast<std::size_t>(n) > limit) throw too_large(path, limit);  // it grew
        out.append(buf, static_cast<std::size_t>(n));
    }
}

// Whether the open regular file `fd` holds exactly `data` with exactly `mode`.
bool fd_holds(int fd, const std::string& path, std::string_view data, mode_t mode) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != mode ||
        static_cast<std::size_t>(st.st_size) != data.size())
        return false;
    return read_regular(fd, path, data.size() + 1) == data;
}

// io::holds for `name` in folder `dir`; `path` names the file in errors. A link there holds
// nothing (it is replaced, never followed).
bool holds_at(int dir, const std::string& name, const std::string& path, std::string_view data, mode_t mode) {
    Fd fd(open_read_at(dir, name));
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return false;
        io_fail("cannot read", path, errno);
    }
    return fd_holds(fd.get(), path, data, mode);
}

std::optional<std::string> try_read_at(int dir, const std::string& name, const std::string& path, std::size_t limit) {
    Fd fd(open_read_at(dir, name));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        if (errno == ELOOP) throw link_error(path);
        io_fail("cannot read", path, errno);
    }
    return read_regular(fd.get(), path, limit);
}

// --- writing ----------------------------------------------------------------------------------

const char kTempPrefix[] = ".pgca-tmp-";
const char kOldPrefix[] = ".pgca-old-";

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string suffix;
    auto r = rng();
    for (int i = 0; i < 12; ++i) suffix += digits[(r >> (i * 4)) & 15];
    return suffix;
}

int write_all(int fd, std::string_view data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        off += static_cast<std::size_t>(n);
    }
    return 0;
}

// Writes `data` as a new temporary file in folder `dir`, beside `name` (which `path` names in
// errors): `mode` from its first byte (O_EXCL, and fchmod unless `mask` left it alone), the
// owner and group of `name` when that is a regular file (never a link's target's). Returns the
// temporary name; nothing is left on failure.
std::string write_temp(int dir, const std::string& name, const std::string& path, std::string_view data, mode_t mode,
                       mode_t mask, bool sync) {
    std::string tmp;
    Fd fd;
    for (int attempt = 0; attempt < 8 && !fd; ++attempt) {
        tmp = kTempPrefix + random_suffix();
        fd = Fd(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
        if (!fd && errno != EEXIST) io_fail("cannot create a temporary file for", path, errno);
    }
    if (!fd) io_fail("cannot create a temporary file for", path, EEXIST);
    auto fail = [&](const std::string& what, int err) {
        fd.reset();
        ::unlinkat(dir, tmp.c_str(), 0);
        io_fail(what, path, err);
    };
    if ((mode & mask) != 0 && ::fchmod(fd.get(), mode) != 0) fail("cannot set the mode of", errno);
    struct stat old {};
    if (::fstatat(dir, name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(old.st_mode) &&
        (old.st_uid != ::geteuid() || old.st_gid != ::getegid())) {
        // Keep the owner an operator gave the file; only root can, and only root needs to.
        if (::fchown(fd.get(), old.st_uid, old.st_gid) != 0 && errno != EPERM) fail("cannot set the owner of", errno);
    }
    if (int err = write_all(fd.get(), data)) fail("cannot write", err);
    if (sync && ::fsync(fd.get()) != 0) fail("cannot fsync", errno);
    if (::close(fd.release()) != 0) fail("cannot write", errno);
    return tmp;
}

// write_file_atomic without the flushes when `sync` is false.
void replace_file(const std::string& path, std::string_view data, mode_t mode, bool sync) {
    Parent par = open_parent(path, false);
    std::string tmp = write_temp(par.fd.get(), par.name, path, data, mode, process_umask(), sync);
    if (::renameat(par.fd.get(), tmp.c_str(), par.fd.get(), par.name.c_str()) != 0) {
        int err = errno;
        ::unlinkat(par.fd.get(), tmp.c_str(), 0);
        io_fail("cannot replace", path, err);
    }
    if (sync && ::fsync(par.fd.get()) != 0) io_fail("cannot fsync folder", parent_of(path), errno);
}

// A new file `name` in folder `dir`, which nobody else writes to: created with its final name
// and mode.
void create_file(int dir, const std::string& name, const std::string& path, std::string_view data, mode_t mode,
                 mode_t mask) {
    Fd fd(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
    if (!fd) io_fail("cannot create", path, errno);
    auto fail = [&](const std::string& what, int err) {
        fd.reset();
        ::unlinkat(dir, name.c_str(), 0);
        io_fail(what, path, err);
    };
    // The umask may have narrowed `mode` at open (never widened it); make it exact.
    if ((mode & mask) != 0 && ::fchmod(fd.get(), mode) != 0) fail("cannot set the mode of", errno);
    if (int err = write_all(fd.get(), data)) fail("cannot write", err);
    if (::close(fd.release()) != 0) fail("cannot write", errno);
}

// Opens folder `path`, creating it (and missing parents, 0755) first, and gives it `mode`.
Fd ensure_dir_fd(const std::string& path, mode_t mode) {
    Place p = place_of(path);
    Fd fd = open_dir(p);
    if (!fd) {
        Fd parent = ensure_dir_fd(parent_of(path), 0755);
        const std::string name = base_of(path);
        if (::mkdirat(parent.get(), name.c_str(), mode) != 0 && errno != EEXIST)
            io_fail("cannot create folder", path, errno);
        fd = Fd(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            if (errno == ELOOP) throw link_error(path);
            open_fail(p, errno, "cannot open folder", true);
        }
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) io_fail("cannot stat folder", path, errno);
    if ((st.st_mode & 07777) != mode && ::fchmod(fd.get(), mode) != 0) io_fail("cannot chmod", path, errno);
    return fd;
}

// Removes `name` in folder `dir` (`path` in errors), a folder with everything in it; a link is
// removed, never followed.
void remove_at(int dir, const std::string& name, const std::string& path) {
    struct stat st {};
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        io_fail("cannot remove", path, errno);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) io_fail("cannot remove", path, errno);
        return;
    }
    int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) io_fail("cannot open folder", path, errno);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        int err = errno;
        ::close(fd);
        io_fail("cannot open folder", path, err);
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(std::move(n));
    }
    try {
        for (const auto& n : names) remove_at(::dirfd(d), n, path + "/" + n);
    } catch (...) {
        ::closedir(d);
        throw;
    }
    ::closedir(d);
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) io_fail("cannot remove folder", path, errno);
}

std::vector<std::string> names_in(int fd, const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
        int err = errno;
        ::close(fd);
        io_fail("cannot open folder", dir, err);
    }
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

// --- Tree -------------------------------------------------------------------------------------

Tree::Tree(const std::string& root) : root_(absolute(root)) {
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().push_back(this);
}

Tree::~Tree() {
    {
        std::lock_guard<std::mutex> lock(registry_mutex());
        auto& r = registry();
        r.erase(std::remove(r.begin(), r.end(), this), r.end());
    }
    int fd = fd_.load();
    if (fd >= 0) ::close(fd);
}

int Tree::fd() const {
    int fd = try_fd();
    if (fd < 0) io_fail("cannot open folder", root_, errno);
    return fd;
}

int Tree::try_fd() const noexcept {
    int fd = fd_.load(std::memory_order_acquire);
    if (fd >= 0) return fd;
    // The folder itself as the operator named it (it may be reached through a link).
    int mine = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mine < 0) return -1;
    int expected = -1;
    if (fd_.compare_exchange_strong(expected, mine, std::memory_order_acq_rel)) return mine;
    ::close(mine);
    return expected;
}

void detail::use_openat2(bool on) noexcept { g_openat2 = on; }

void check_private_owner(const std::string& path, const std::string& what) {
    Place p = place_of(path);
    Fd fd(open_place(p, O_PATH | O_DIRECTORY));
    if (!fd) {
        if (errno == ENOENT) return;
        open_fail(p, errno, "cannot open folder", true);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) io_fail("cannot stat folder", path, errno);
    const uid_t me = ::geteuid();
    const bool owner_ok = st.st_uid == me || st.st_uid == 0;
    const bool mode_ok = (st.st_mode & 022) == 0;
    if (owner_ok && mode_ok) return;
    auto name_of = [](uid_t uid) {
        struct passwd pw {};
        struct passwd* found = nullptr;
        char buf[4096];
        std::string id = "uid " + std::to_string(uid);
        if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
            return std::string(found->pw_name) + " (" + id + ")";
        return id;
    };
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::string fix;
    if (!owner_ok) {
        std::string me_name = name_of(me);
        fix = "`chown " + me_name.substr(0, me_name.find(' ')) + " " + path + "`";
    }
    if (!mode_ok) fix += (fix.empty() ? "" : " and ") + std::string("`chmod go-w ") + path + "`";
    throw Error(ErrorKind::policy, what + " \"" + path + "\" is owned by " + name_of(st.st_uid) + " with mode " + mode +
                                       "; pgca keeps private keys there and refuses a folder that another account "
                                       "can change: run " + fix);
}

// --- path functions ---------------------------------------------------------------------------

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    replace_file(path, data, mode, true);
}

bool write_if_changed(const std::string& path, std::string_view data, mode_t mode) {
    if (holds(path, data, mode)) return false;
    write_file_atomic(path, data, mode);
    return true;
}

bool holds(const std::string& path, std::string_view data, mode_t mode) {
    Place p = place_of(path);
    Fd fd(open_read(p));
    if (!fd) {
        const int err = errno;
        if (err == ENOENT) return false;
        if (p.tree != nullptr && is_link_errno(err)) {
            auto o = obstacle(*p.tree, p.rel, false);
            if (o && !o->final) throw o->error;
            return false;  // a link (or nothing) where the file goes: it is replaced
        }
        if (err == ENOTDIR) return false;
        io_fail("cannot read", path, err);
    }
    return fd_holds(fd.get(), path, data, mode);
}

std::optional<std::string> try_read_file(const std::string& path, std::size_t limit) {
    Place p = place_of(path);
    Fd fd(open_read(p));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        open_fail(p, errno, "cannot read", false);
    }
    return read_regular(fd.get(), path, limit);
}

std::string read_file(const std::string& path, std::size_t limit) {
    try {
        auto data = try_read_file(path, limit);
        if (!data) throw Error(ErrorKind::input, "cannot read \"" + path + "\": " + std::strerror(ENOENT));
        return std::move(*data);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::io) throw Error(ErrorKind::input, e.what());
        throw;
    }
}

Folder::Folder(const std::string& path) : path_(path) {
    Place p = place_of(path);
    fd_ = open_place(p, O_PATH | O_DIRECTORY);
    if (fd_ < 0 && errno != ENOENT) {
        if (p.tree == nullptr && errno == ENOTDIR) return;
        open_fail(p, errno, "cannot open folder", true);
    }
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

std::optional<std::string> Folder::try_read(const std::string& name, std::size_t limit) const {
    if (fd_ < 0) return std::nullopt;
    return try_read_at(fd_, name, path_ + "/" + name, limit);
}

bool Folder::holds(const std::string& name, std::string_view data, mode_t mode) const {
    return fd_ >= 0 && holds_at(fd_, name, path_ + "/" + name, data, mode);
}

bool exists(const std::string& path) {
    Place p = place_of(path);
    if (p.tree == nullptr) {
        struct stat st {};
        return ::lstat(path.c_str(), &st) == 0;
    }
    Parent par = open_parent(path, true);
    struct stat st {};
    return par.fd && ::fstatat(par.fd.get(), par.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

void ensure_dir(const std::string& path, mode_t mode) { (void)ensure_dir_fd(path, mode); }

void remove_all(const std::string& path) {
    Parent par = open_parent(path, true);
    if (par.fd) remove_at(par.fd.get(), par.name, path);
}

std::vector<std::string> list_dir(const std::string& dir) {
    Fd fd = open_dir(place_of(dir));
    if (!fd) return {};
    return names_in(fd.release(), dir);
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

// --- FileBatch --------------------------------------------------------------------------------

void FileBatch::write(std::string path, std::string data, mode_t mode) {
    writes_.push_back({std::move(path), std::move(data), mode});
}

void FileBatch::write_together(std::string path, std::string data, mode_t mode) {
    writes_.push_back({std::move(path), std::move(data), mode, true});
}

bool FileBatch::write_if_changed(std::string path, std::string data, mode_t mode) {
    if (holds(path, data, mode)) return false;
    write(std::move(path), std::move(data), mode);
    return true;
}

std::vector<bool> FileBatch::write_if_changed(std::vector<FileWrite> writes, unsigned jobs) {
    // Comparing is a few system calls per file; thousands of them go faster on several threads.
    std::vector<char> same(writes.size(), 0);
    pgca::detail::parallel_for(
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
    for (const auto& d : dirs_)
        if (Folder(d.path).mode() != d.mode) return true;
    return false;
}

void FileBatch::make_dir(std::string path, mode_t mode) {
    if (dir_index_.emplace(path, dirs_.size()).second) dirs_.push_back({std::move(path), mode});
}

void FileBatch::remove(std::string path) { removals_.push_back(std::move(path)); }

void FileBatch::clear() noexcept {
    for (auto& w : writes_)
        if ((w.mode & 077) == 0) wipe(w.data);
    writes_.clear();
    dirs_.clear();
    dir_index_.clear();
    removals_.clear();
}

namespace {

// A temporary file written by FileBatch::commit, to be renamed over `name` in `folder`.
struct Rename {
    std::string folder;  // absolute
    std::string name;
    std::string temp;
    std::string backup;  // the replaced file's second name while the batch runs, or ""
};

// The folders of a list of renames, each opened once while the renames of that folder follow
// one another (the usual order: one folder's files are queued together).
class FolderCursor final {
public:
    int open(const std::string& folder) {
        if (!fd_ || folder != folder_) {
            fd_ = Fd();
            Fd fd = open_dir(place_of(folder));
            if (!fd) io_fail("cannot open folder", folder, ENOENT);
            fd_ = std::move(fd);
            folder_ = folder;
        }
        return fd_.get();
    }

private:
    std::string folder_;
    Fd fd_;
};

void sync_fs(const Tree& tree) {
    pgca::detail::PhaseTimer timer("  of which syncfs");
    if (::syncfs(tree.fd()) != 0) io_fail("cannot flush the file system of", tree.root(), errno);
}

std::string journal_path(const Tree& tree) { return tree.root() + "/" + kJournalName; }

std::string rel_of(const Tree& tree, const std::string& folder) {
    return folder == tree.root() ? std::string(".") : folder.substr(tree.root().size() + 1);
}

// Removes what is left of renames that will not happen (best effort: the next run sweeps what
// stays). Returns false, and removes nothing, when the journal cannot be removed: then the
// next run completes the renames instead.
bool abandon(const Tree& tree, const std::vector<Rename>& renames, bool journal_written) {
    if (journal_written) {
        if (::unlinkat(tree.fd(), kJournalName, 0) != 0 && errno != ENOENT) return false;
        if (::fsync(tree.fd()) != 0) return false;
    }
    try {
        FolderCursor cursor;
        for (const auto& r : renames) {
            int fd = cursor.open(r.folder);
            ::unlinkat(fd, r.temp.c_str(), 0);
            if (!r.backup.empty()) ::unlinkat(fd, r.backup.c_str(), 0);
        }
    } catch (const Error&) {
        // The next run sweeps them.
    }
    return true;
}

// Puts renames [0, done) back: each new file back to its temporary name, the kept old file
// back in place. False when that failed part-way (the journal then completes them instead).
bool roll_back(const std::vector<Rename>& renames, std::size_t done) {
    try {
        FolderCursor cursor;
        for (std::size_t i = done; i-- > 0;) {
            const Rename& r = renames[i];
            int fd = cursor.open(r.folder);
            if (::renameat(fd, r.name.c_str(), fd, r.temp.c_str()) != 0) return false;
            if (!r.backup.empty() && ::renameat(fd, r.backup.c_str(), fd, r.name.c_str()) != 0) return false;
        }
    } catch (const Error&) {
        return false;
    }
    return true;
}

// Renames every temporary file into place, keeping each replaced file under a second name.
// On an error the renames already done are undone (old files back) and the error is thrown.
void rename_all(const Tree& tree, std::vector<Rename>& renames, bool journal_written) {
    FolderCursor cursor;
    std::size_t done = 0;
    try {
        for (; done < renames.size(); ++done) {
            Rename& r = renames[done];
            const std::string path = r.folder + "/" + r.name;
            int fd = cursor.open(r.folder);
            std::string backup = kOldPrefix + r.temp.substr(sizeof kTempPrefix - 1);
            if (::linkat(fd, r.name.c_str(), fd, backup.c_str(), 0) == 0)
                r.backup = std::move(backup);
            else if (errno != ENOENT)
                io_fail("cannot keep the old file while replacing", path, errno);
            if (::renameat(fd, r.temp.c_str(), fd, r.name.c_str()) != 0) {
                int err = errno;
                if (!r.backup.empty()) ::unlinkat(fd, r.backup.c_str(), 0);
                r.backup.clear();
                io_fail("cannot replace", path, err);
            }
        }
    } catch (const Error&) {
        if (roll_back(renames, done)) abandon(tree, renames, journal_written);
        throw;
    }
}

void write_journal(const Tree& tree, const std::vector<Rename>& renames) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : renames) j.push_back({rel_of(tree, r.folder), r.temp, r.name});
    write_file_atomic(journal_path(tree), j.dump() + "\n", 0600);
}

}  // namespace

void FileBatch::commit(const std::string& anchor, unsigned jobs) {
    if (empty()) return;
    Tree tree(anchor);  // every path below is resolved beneath the PKI folder
    // The umask, read without changing it: when it leaves a mode untouched, no fchmod is needed,
    // which matters at tens of thousands of files.
    const mode_t mask = process_umask();

    // Work is grouped by folder. A folder that does not exist yet is created by the task that
    // fills it, and its public files are created directly (O_EXCL, mode from the first byte):
    // nobody else writes there, and a crash mid-write leaves a short file that the next apply
    // finds by its digest. Its private files (keys) go through a temporary name and are renamed
    // in last, so a key is never visible beside a certificate that is not whole. Every file in
    // a folder that exists replaces the old one through a temporary file.
    struct Task {
        const Dir* dir = nullptr;
        std::vector<FileWrite*> files;
    };
    std::vector<Task> tasks;
    std::map<std::string, std::size_t> task_of;
    // Folders that hold other queued folders (clients/, servers/NAME when it gets a crl/) are
    // made first, in order; the rest that do not exist yet become tasks.
    std::set<std::string> containers;
    for (const auto& d : dirs_) containers.insert(parent_of(d.path));
    for (const auto& d : dirs_) {
        if (containers.count(d.path) != 0 || Folder(d.path).mode()) {
            ensure_dir(d.path, d.mode);
        } else {
            task_of[d.path] = tasks.size();
            tasks.push_back({&d, {}});
        }
    }
    std::vector<FileWrite*> replacements;
    for (auto& w : writes_) {
        auto it = task_of.find(parent_of(w.path));
        if (it != task_of.end())
            tasks[it->second].files.push_back(&w);
        else
            replacements.push_back(&w);
    }

    const std::size_t units = tasks.size() + replacements.size();
    std::vector<std::vector<Rename>> staged(units);  // per unit: its temporary files
    auto stage = [&](int dir, const std::string& folder, FileWrite& w, std::vector<Rename>& out) {
        const std::string name = base_of(w.path);
        out.push_back({folder, name, write_temp(dir, name, w.path, w.data, w.mode, mask, false), {}});
        if ((w.mode & 077) == 0) wipe(w.data);
    };
    auto run_task = [&](const Task& t, std::vector<Rename>& out) {
        Parent par = open_parent(t.dir->path, false);
        if (::mkdirat(par.fd.get(), par.name.c_str(), t.dir->mode) != 0) {
            if (errno != EEXIST) io_fail("cannot create folder", t.dir->path, errno);
            Fd dir = ensure_dir_fd(t.dir->path, t.dir->mode);  // made meanwhile: replace as usual
            for (FileWrite* w : t.files) stage(dir.get(), t.dir->path, *w, out);
            return;
        }
        Fd dir(::openat(par.fd.get(), par.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) io_fail("cannot open folder", t.dir->path, errno);
        if ((t.dir->mode & mask) != 0 && ::fchmod(dir.get(), t.dir->mode) != 0)
            io_fail("cannot chmod", t.dir->path, errno);
        for (FileWrite* w : t.files) {
            if ((w->mode & 077) == 0 || w->together) {
                stage(dir.get(), t.dir->path, *w, out);
            } else {
                create_file(dir.get(), base_of(w->path), w->path, w->data, w->mode, mask);
            }
        }
    };
    auto all_staged = [&] {
        std::vector<Rename> all;
        for (auto& s : staged)
            for (auto& r : s) all.push_back(std::move(r));
        return all;
    };
    pgca::detail::PhaseTimer timer_create("  of which files");
    try {
        // Spread over threads: creating thousands of small files is kernel-bound.
        pgca::detail::parallel_for(
            units, jobs,
            [&](std::size_t i, std::size_t) {
                if (i < tasks.size()) {
                    run_task(tasks[i], staged[i]);
                } else {
                    FileWrite& w = *replacements[i - tasks.size()];
                    Parent par = open_parent(w.path, false);
                    stage(par.fd.get(), parent_of(w.path), w, staged[i]);
                }
            },
            64);
    } catch (const Error&) {
        abandon(tree, all_staged(), false);
        throw;
    }
    timer_create.stop();
    std::vector<Rename> renames = all_staged();
    // One syncfs() makes every file above durable at once: per-file fsync costs ~0.35 ms here,
    // which is most of the time of a bulk issue. It flushes the whole file system that holds
    // `anchor`, so it is never weaker than per-file fsync plus folder fsync.
    bool journal = false;
    if (!renames.empty()) {
        try {
            sync_fs(tree);
            // One rename is atomic by itself; more need the journal to finish them after a crash.
            if (renames.size() > 1) {
                journal = true;
                write_journal(tree, renames);
            }
        } catch (const Error&) {
            abandon(tree, renames, journal);
            throw;
        }
        pgca::detail::PhaseTimer timer_renames("  of which renames");
        rename_all(tree, renames, journal);
    }
    for (const auto& r : removals_) remove_all(r);
    sync_fs(tree);
    if (journal && ::unlinkat(tree.fd(), kJournalName, 0) != 0)
        io_fail("cannot remove", journal_path(tree), errno);
    // The replaced files go last. Unlinking the last name of thousands of files is kernel-bound
    // (ext4 frees their blocks, with online discard), so it is spread over threads like the
    // creation, in runs of renames that share a folder cursor.
    pgca::detail::PhaseTimer timer_old("  of which old copies");
    constexpr std::size_t kRun = 64;
    pgca::detail::parallel_for(
        (renames.size() + kRun - 1) / kRun, jobs,
        [&](std::size_t chunk, std::size_t) {
            FolderCursor cursor;
            for (std::size_t i = chunk * kRun; i < std::min(renames.size(), (chunk + 1) * kRun); ++i) {
                const Rename& r = renames[i];
                if (!r.backup.empty() && ::unlinkat(cursor.open(r.folder), r.backup.c_str(), 0) != 0 && errno != ENOENT)
                    io_fail("cannot remove the old copy of", r.folder + "/" + r.name, errno);
            }
        });
    timer_old.stop();
    clear();
}

bool recover_journal(const std::string& dir) {
    Tree tree(dir);
    const std::string path = journal_path(tree);
    auto text = try_read_file(path, kMaxProfileBytes);
    if (!text) return false;
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (!j.is_array()) throw Error(ErrorKind::io, "\"" + path + "\" is damaged; the interrupted run's files cannot be "
                                                  "completed (remove it and run `pgca apply`)");
    for (const auto& e : j) {
        if (!e.is_array() || e.size() != 3 || !e[0].is_string() || !e[1].is_string() || !e[2].is_string()) continue;
        const std::string folder = e[0].get<std::string>();
        const std::string temp = e[1].get<std::string>();
        const std::string name = e[2].get<std::string>();
        if (temp.rfind(kTempPrefix, 0) != 0 || name.find('/') != std::string::npos || name.empty()) continue;
        const std::string abs = folder == "." ? tree.root() : tree.root() + "/" + folder;
        Fd fd = open_dir(place_of(abs));
        struct stat st {};
        if (!fd || ::fstatat(fd.get(), temp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (::renameat(fd.get(), temp.c_str(), fd.get(), name.c_str()) != 0)
            io_fail("cannot complete the interrupted replacement of", abs + "/" + name, errno);
    }
    sync_fs(tree);
    if (::unlinkat(tree.fd(), kJournalName, 0) != 0) io_fail("cannot remove", path, errno);
    return true;
}

void remove_temp_files(const std::string& dir) {
    for (const auto& name : list_dir(dir))
        if (name.rfind(kTempPrefix, 0) == 0 || name.rfind(kOldPrefix, 0) == 0) remove_all(dir + "/" + name);
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
