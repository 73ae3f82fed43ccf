#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/stat.h>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::size_t entries(const std::string& dir) {
    std::size_t n = 0;
    DIR* d = ::opendir(dir.c_str());
    while (dirent* e = ::readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    ::closedir(d);
    return n;
}

}  // namespace

TEST_CASE("private files get their mode whatever the umask, and no temporary file is left", "[io]") {
    test::TempDir tmp;
    mode_t old = ::umask(0);
    io::write_file_atomic(tmp.path() + "/a.key", "secret", 0600);
    ::umask(old);
    CHECK(mode_of(tmp.path() + "/a.key") == 0600);
    CHECK(io::read_file(tmp.path() + "/a.key") == "secret");
    io::write_file_atomic(tmp.path() + "/a.key", "newer", 0600);
    CHECK(io::read_file(tmp.path() + "/a.key") == "newer");
    CHECK(entries(tmp.path()) == 1);
}

TEST_CASE("write_if_changed leaves identical files alone", "[io]") {
    test::TempDir tmp;
    std::string p = tmp.path() + "/f.conf";
    CHECK(io::write_if_changed(p, "x = 1\n", 0644));
    CHECK_FALSE(io::write_if_changed(p, "x = 1\n", 0644));
    CHECK(io::write_if_changed(p, "x = 2\n", 0644));
    CHECK(io::write_if_changed(p, "x = 2\n", 0600));  // a mode change is a change
    CHECK(mode_of(p) == 0600);
}

TEST_CASE("a write into a missing folder fails with the path and leaves nothing", "[io]") {
    test::TempDir tmp;
    try {
        io::write_file_atomic(tmp.path() + "/missing/f", "x", 0644);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::io);
        CHECK_THAT(e.what(), Catch::Contains(tmp.path() + "/missing/f"));
    }
    CHECK(entries(tmp.path()) == 0);
}

TEST_CASE("absolute paths are clean", "[io]") {
    CHECK(io::absolute("/a/./b//c/") == "/a/b/c");
    CHECK(io::absolute("/a/b/../c") == "/a/c");
    CHECK(io::absolute("rel").front() == '/');
}
