#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdio>
#include <vector>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "process.hpp"
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

namespace {

bool is_link(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Runs `fn` and expects Error(policy) naming `path` as a link pgca does not follow.
template <class Fn>
void refuses_link(Fn&& fn, const std::string& path) {
    try {
        fn();
        FAIL("no error for " << path);
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK_THAT(e.what(), Catch::Contains("\"" + path + "\" is a symbolic link") &&
                                 Catch::Contains("does not follow links"));
    }
}

}  // namespace

TEST_CASE("beneath a Tree no link is followed, with openat2 and with the walk that replaces it", "[io][tree]") {
    const bool openat2 = GENERATE(true, false);
    INFO("openat2: " << openat2);
    io::detail::use_openat2(openat2);
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki", outside = tmp.path() + "/outside";
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    REQUIRE(::mkdir(outside.c_str(), 0700) == 0);
    io::write_file_atomic(outside + "/secret", "outside\n", 0600);
    REQUIRE(::symlink(outside.c_str(), (dir + "/linked").c_str()) == 0);
    REQUIRE(::symlink((outside + "/secret").c_str(), (dir + "/file-link").c_str()) == 0);
    io::Tree tree(dir);

    refuses_link([&] { io::write_file_atomic(dir + "/linked/new", "x", 0644); }, dir + "/linked");
    refuses_link([&] { io::ensure_dir(dir + "/linked", 0755); }, dir + "/linked");
    refuses_link([&] { (void)io::list_dir(dir + "/linked"); }, dir + "/linked");
    refuses_link([&] { io::Folder folder(dir + "/linked"); }, dir + "/linked");
    refuses_link([&] { (void)io::try_read_file(dir + "/linked/secret"); }, dir + "/linked");
    refuses_link([&] { (void)io::try_read_file(dir + "/file-link"); }, dir + "/file-link");
    CHECK_FALSE(io::holds(dir + "/file-link", "outside\n", 0600));  // a link holds nothing: it is replaced
    try {
        io::write_file_atomic(dir + "/../outside/secret", "escaped", 0600);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("leaves pgca's folder"));
    }
    CHECK(mode_of(outside) == 0700);

    // A link where a file goes is replaced by the file, never written through.
    io::write_file_atomic(dir + "/file-link", "pgca's\n", 0600);
    CHECK_FALSE(is_link(dir + "/file-link"));
    CHECK(io::read_file(dir + "/file-link") == "pgca's\n");
    // Removal removes the link, not what it points at.
    io::remove_all(dir + "/linked");
    CHECK_FALSE(io::exists(dir + "/linked"));
    CHECK(io::read_file(outside + "/secret") == "outside\n");
    CHECK(mode_of(outside + "/secret") == 0600);

    // A FileBatch below a linked folder changes nothing outside.
    REQUIRE(::symlink(outside.c_str(), (dir + "/linked").c_str()) == 0);
    io::FileBatch batch;
    batch.make_dir(dir + "/linked", 0755);
    batch.write(dir + "/linked/secret", "overwritten", 0644);
    refuses_link([&] { batch.commit(dir, 1); }, dir + "/linked");
    CHECK(io::read_file(outside + "/secret") == "outside\n");
    CHECK(mode_of(outside) == 0700);
    io::detail::use_openat2(true);
}

TEST_CASE("a replaced file keeps the owner of a regular file there, never of a link's target", "[io][tree]") {
    if (::geteuid() != 0) {
        WARN("needs root to give files away: skipped");
        return;
    }
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    io::Tree tree(dir);
    const std::string target = tmp.path() + "/theirs";
    io::write_file_atomic(target, "theirs\n", 0600);
    REQUIRE(::chown(target.c_str(), 4321, 4321) == 0);
    REQUIRE(::symlink(target.c_str(), (dir + "/root.key").c_str()) == 0);
    io::write_file_atomic(dir + "/root.key", "key\n", 0600);
    struct stat st {};
    REQUIRE(::lstat((dir + "/root.key").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(st.st_uid == 0);
    REQUIRE(::chown((dir + "/root.key").c_str(), 4321, 4321) == 0);  // handed over by the operator
    io::write_file_atomic(dir + "/root.key", "rotated\n", 0600);
    REQUIRE(::lstat((dir + "/root.key").c_str(), &st) == 0);
    CHECK(st.st_uid == 4321);
    CHECK(io::read_file(target) == "theirs\n");
}

TEST_CASE("check_private_owner refuses a folder group or others may write, naming the fix", "[io][tree]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    io::check_private_owner(dir, "the PKI folder");  // missing: nothing to check yet
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    io::check_private_owner(dir, "the PKI folder");
    REQUIRE(::chmod(dir.c_str(), 0775) == 0);
    try {
        io::check_private_owner(dir, "the PKI folder");
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::policy);
        CHECK_THAT(e.what(), Catch::Contains("the PKI folder \"" + dir + "\"") && Catch::Contains("mode 0775") &&
                                 Catch::Contains("`chmod go-w " + dir + "`"));
    }
}

TEST_CASE("a journal left by a killed commit is completed: every listed temporary file is renamed in", "[io][tree]") {
    test::TempDir tmp;
    const std::string dir = tmp.path();
    REQUIRE(::mkdir((dir + "/s").c_str(), 0700) == 0);
    io::write_file_atomic(dir + "/s/server.key", "old key\n", 0600);
    io::write_file_atomic(dir + "/s/server.crt", "old cert\n", 0644);
    io::write_file_atomic(dir + "/s/.pgca-tmp-aaaaaaaaaaaa", "new key\n", 0600);
    // The certificate was already renamed when the process died: its temporary file is gone.
    io::write_file_atomic(dir + "/s/server.crt", "new cert\n", 0644);
    io::write_file_atomic(dir + "/" + io::kJournalName,
                          R"([["s",".pgca-tmp-aaaaaaaaaaaa","server.key"],["s",".pgca-tmp-bbbbbbbbbbbb","server.crt"]])",
                          0600);
    CHECK(io::recover_journal(dir));
    CHECK(io::read_file(dir + "/s/server.key") == "new key\n");
    CHECK(io::read_file(dir + "/s/server.crt") == "new cert\n");
    CHECK_FALSE(io::exists(dir + "/" + io::kJournalName));
    CHECK_FALSE(io::exists(dir + "/s/.pgca-tmp-aaaaaaaaaaaa"));
    CHECK_FALSE(io::recover_journal(dir));
}

TEST_CASE("a FileBatch commit never changes the process umask, even for a moment", "[io]") {
    // Another thread may create files meanwhile: a umask of 0 for a moment would give its files
    // whatever mode it asked for. Watched from /proc, which reads it without changing it.
    test::TempDir tmp;
    const mode_t old = ::umask(027);
    std::atomic<bool> done{false};
    std::atomic<int> changed{0};
    std::thread watcher([&] {
        while (!done) {
            FILE* f = std::fopen("/proc/self/status", "re");
            if (f == nullptr) return;
            char line[256];
            while (std::fgets(line, sizeof line, f) != nullptr) {
                unsigned mask = 0;
                if (std::sscanf(line, "Umask: %o", &mask) == 1 && mask != 027) ++changed;
            }
            std::fclose(f);
        }
    });
    for (int i = 0; i < 300; ++i) {
        io::FileBatch batch;
        batch.write(tmp.path() + "/f" + std::to_string(i % 3), "x" + std::to_string(i), 0644);
        batch.commit(tmp.path(), 1);
    }
    done = true;
    watcher.join();
    ::umask(old);
    CHECK(changed == 0);
    CHECK(mode_of(tmp.path() + "/f0") == 0644);
}

TEST_CASE("read_file gives each input its limit and names the path", "[io][bounded]") {
    test::TempDir tmp;
    const std::string pass = tmp.file("pass");
    test::write_file(pass, std::string(io::kMaxPassphraseFileBytes + 1, 'x'), 0600);
    try {
        (void)io::read_file(pass, io::kMaxPassphraseFileBytes);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::Contains(pass) && Catch::Contains("larger than 65536 bytes"));
    }
    CHECK(io::read_file(pass, io::kMaxPemBytes).size() == io::kMaxPassphraseFileBytes + 1);
    try {
        (void)io::read_file(tmp.path());
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::input);
        CHECK_THAT(e.what(), Catch::Contains("is a folder, not a regular file"));
    }
}
