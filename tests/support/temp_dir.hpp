// Test support: a temporary directory that removes itself.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pgca::test {

// Creates a fresh directory /tmp/<prefix>XXXXXX and removes it recursively on
// destruction, unless the environment variable PGCA_KEEP_TEST_DIRS is set (the
// kept path is then printed to stderr for post-mortem inspection).
//
// /tmp is used on purpose instead of $TMPDIR: a PostgreSQL unix socket path
// (dir + "/.s.PGSQL.<port>") must fit in 107 bytes, and the directory must be
// reachable by the `postgres` OS user when the tests run as root.
//
// When a PgCluster lives inside a TempDir, declare the TempDir first so that
// it is destroyed last (after the server has been stopped).
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "pgca-test-") {
        std::string templ = "/tmp/" + prefix + "XXXXXX";
        std::vector<char> buffer(templ.begin(), templ.end());
        buffer.push_back('\0');
        if (::mkdtemp(buffer.data()) == nullptr)
            throw std::runtime_error("mkdtemp(" + templ + "): " + std::strerror(errno));
        path_ = buffer.data();
        // mkdtemp creates 0700; the postgres user (when we are root) must be able
        // to traverse it to reach its data directory, socket and certificates.
        if (::chmod(path_.c_str(), 0755) != 0) {
            const int error = errno;
            remove_now();
            throw std::runtime_error("chmod(" + path_ + "): " + std::strerror(error));
        }
    }

    ~TempDir() { remove_now(); }

    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, std::string())) {}
    TempDir& operator=(TempDir&& other) noexcept {
        if (this != &other) {
            remove_now();
            path_ = std::exchange(other.path_, std::string());
        }
        return *this;
    }

    const std::string& path() const { return path_; }

    // path() + "/" + name, for brevity in tests.
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    void remove_now() noexcept {
        if (path_.empty()) return;
        try {
            if (std::getenv("PGCA_KEEP_TEST_DIRS") != nullptr) {
                std::cerr << "PGCA_KEEP_TEST_DIRS: keeping " << path_ << '\n';
            } else {
                std::error_code ignored;  // best effort; remove_all does not follow symlinks
                std::filesystem::remove_all(path_, ignored);
            }
        } catch (...) {
            // Only bad_alloc is possible here; a leftover directory is acceptable.
        }
        path_.clear();
    }

    std::string path_;
};

}  // namespace pgca::test
