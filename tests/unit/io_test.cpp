#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <vector>

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

TEST_CASE("holds compares contents and mode, and a missing file holds nothing", "[io]") {
    test::TempDir tmp;
    std::string p = tmp.path() + "/f.conf";
    CHECK_FALSE(io::holds(p, "x = 1\n", 0644));
    CHECK_FALSE(io::holds(tmp.path() + "/no/such/folder/f", "", 0644));
    io::write_file_atomic(p, "x = 1\n", 0644);
    CHECK(io::holds(p, "x = 1\n", 0644));
    CHECK_FALSE(io::holds(p, "x = 1\n", 0600));    // another mode
    CHECK_FALSE(io::holds(p, "x = 1\n\n", 0644));  // longer
    CHECK_FALSE(io::holds(p, "x = 2\n", 0644));    // same length, other bytes
    CHECK_FALSE(io::holds(p, "", 0644));
    CHECK_FALSE(io::holds(tmp.path(), "", 0700));  // a folder is not a file
}

TEST_CASE("reading a file pgca wrote does not update its access time", "[io]") {
    // relatime (the usual mount option) updates atime on a read when atime <= mtime: checking
    // thousands of files would dirty every inode. pgca opens them with O_NOATIME.
    test::TempDir tmp;
    std::string p = tmp.path() + "/f.crt";
    auto set_old_atime = [&] {
        io::write_file_atomic(p, "certificate\n", 0644);
        struct timespec times[2] = {{1000000000, 0}, {0, UTIME_OMIT}};  // atime in 2001, mtime now
        REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
    };
    auto atime = [&] {
        struct stat st {};
        REQUIRE(::stat(p.c_str(), &st) == 0);
        return st.st_atim.tv_sec;
    };
    // Control: does a plain read update atime on this file system at all?
    set_old_atime();
    {
        FILE* f = std::fopen(p.c_str(), "r");
        REQUIRE(f != nullptr);
        char buf[64];
        (void)std::fread(buf, 1, sizeof buf, f);
        std::fclose(f);
    }
    if (atime() == 1000000000) {
        WARN("this file system does not update access times on reads (noatime); nothing to check");
        return;
    }
    set_old_atime();
    CHECK(io::holds(p, "certificate\n", 0644));
    CHECK(io::try_read_file(p) == std::string("certificate\n"));
    CHECK(atime() == 1000000000);
}

TEST_CASE("a FileBatch compares many files at once and queues only the changed ones", "[io]") {
    test::TempDir tmp;
    std::vector<io::FileWrite> first;
    for (int i = 0; i < 600; ++i)
        first.push_back({tmp.path() + "/f" + std::to_string(i), "v1 " + std::to_string(i) + "\n", 0644});
    io::FileBatch batch;
    auto queued = batch.write_if_changed(first, 2);
    CHECK(std::count(queued.begin(), queued.end(), true) == 600);
    batch.commit(tmp.path(), 2);

    std::vector<io::FileWrite> second = first;
    second[7].data = "v2\n";
    second[512].mode = 0600;
    queued = batch.write_if_changed(second, 2);
    CHECK(std::count(queued.begin(), queued.end(), true) == 2);
    CHECK(queued[7]);
    CHECK(queued[512]);
    CHECK(batch.size() == 2);
    batch.commit(tmp.path(), 2);
    CHECK(io::read_file(tmp.path() + "/f7") == "v2\n");
    CHECK(mode_of(tmp.path() + "/f512") == 0600);
}

TEST_CASE("a FileBatch of folders that already exist has no changes", "[io]") {
    test::TempDir tmp;
    io::FileBatch batch;
    CHECK_FALSE(batch.has_changes());
    batch.make_dir(tmp.path() + "/a", 0700);
    CHECK(batch.has_changes());  // missing
    batch.commit(tmp.path(), 1);
    batch.make_dir(tmp.path() + "/a", 0700);
    CHECK_FALSE(batch.has_changes());
    CHECK_FALSE(batch.empty());
    batch.clear();
    batch.make_dir(tmp.path() + "/a", 0755);
    CHECK(batch.has_changes());  // another mode
    batch.clear();
    batch.make_dir(tmp.path() + "/a", 0700);
    batch.remove(tmp.path() + "/a/gone");
    CHECK(batch.has_changes());
}
