#include "pgca/io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

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

void write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
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
    if (::fsync(fd) != 0) cleanup("cannot fsync", errno);
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
    fsync_dir(parent_of(path));
}

bool write_if_changed(const std::string& path, std::string_view data, mode_t mode) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 07777) == mode) {
        auto current = try_read_file(path);
        if (current && *current == data) return false;
    }
    write_file_atomic(path, data, mode);
    return true;
}

std::optional<std::string> try_read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        io_fail("cannot read", path, errno);
    }
    std::string out;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            io_fail("cannot read", path, err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
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

DirLock::DirLock(const std::string& dir) {
    std::string path = dir + "/.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) io_fail("cannot open lock file", path, errno);
    while (::flock(fd_, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd_);
        io_fail("cannot lock", path, err);
    }
}

DirLock::~DirLock() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace pgca::io
