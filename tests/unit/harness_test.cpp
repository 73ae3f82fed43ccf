// Proves that the test harness itself works, independently of pgca: running processes and
// temporary directories (tests/support/process.hpp, temp_dir.hpp). The PostgreSQL half of the
// harness is proven in tests/integration/pg_cluster_smoke_test.cpp.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "process.hpp"
#include "temp_dir.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using pgca::test::ProcessResult;
using pgca::test::run;
using pgca::test::TempDir;

TEST_CASE("run captures exit status, stdout and stderr separately", "[harness][process]") {
    const ProcessResult r = run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(r.exit_code == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
}

TEST_CASE("run reports signals as 128+N and exec failures as 127", "[harness][process]") {
    CHECK(run({"/bin/sh", "-c", "kill -TERM $$"}).exit_code == 128 + SIGTERM);

    const ProcessResult missing = run({"/nonexistent/pgca-no-such-program", "x"});
    CHECK(missing.exit_code == 127);
    CHECK_THAT(missing.err, Contains("cannot execute") && Contains("pgca-no-such-program"));

    const ProcessResult bad_cwd = run({"true"}, {}, "", "/nonexistent/dir");
    CHECK(bad_cwd.exit_code == 127);
    CHECK_THAT(bad_cwd.err, Contains("/nonexistent/dir"));
}

TEST_CASE("run feeds stdin and handles large outputs without deadlock", "[harness][process]") {
    CHECK(run({"cat"}, {}, "hello\nworld").out == "hello\nworld");

    // 1 MiB in while 1 MiB comes out: needs concurrent reading and writing.
    const std::string big(1 << 20, 'x');
    const ProcessResult echoed = run({"cat"}, {}, big);
    CHECK(echoed.exit_code == 0);
    CHECK(echoed.out.size() == big.size());
    CHECK(echoed.out == big);

    // Both pipes filled at once, way beyond the 64 KiB pipe buffer.
    const ProcessResult both = run({"/bin/sh", "-c",
                                    "head -c 1000000 /dev/zero | tr '\\0' a; "
                                    "head -c 1000000 /dev/zero | tr '\\0' b >&2"});
    CHECK(both.exit_code == 0);
    CHECK(both.out == std::string(1000000, 'a'));
    CHECK(both.err == std::string(1000000, 'b'));

    // A child that ignores its stdin must not kill us with SIGPIPE.
    CHECK(run({"true"}, {}, big).exit_code == 0);
}

TEST_CASE("run sets environment and working directory", "[harness][process]") {
    ::setenv("PGCA_HARNESS_INHERITED", "yes", 1);
    ::setenv("PGCA_HARNESS_OVERRIDDEN", "old", 1);
    const ProcessResult r = run({"/bin/sh", "-c",
                                 "printf '%s|%s|%s' \"$PGCA_HARNESS_INHERITED\" "
                                 "\"$PGCA_HARNESS_OVERRIDDEN\" \"$PGCA_HARNESS_NEW\""},
                                {{"PGCA_HARNESS_OVERRIDDEN", "new"}, {"PGCA_HARNESS_NEW", "added"}});
    CHECK(r.out == "yes|new|added");

    pgca::test::RunOptions options;
    options.unset_env = {"PGCA_HARNESS_*"};
    options.env = {{"PGCA_HARNESS_NEW", "kept"}};
    const ProcessResult cleaned = pgca::test::run_with_options(
        {"/bin/sh", "-c", "printf '%s|%s' \"${PGCA_HARNESS_INHERITED-unset}\" \"$PGCA_HARNESS_NEW\""}, options);
    CHECK(cleaned.out == "unset|kept");
    ::unsetenv("PGCA_HARNESS_INHERITED");
    ::unsetenv("PGCA_HARNESS_OVERRIDDEN");

    CHECK(run({"pwd"}, {}, "", "/tmp").out == "/tmp\n");
}

TEST_CASE("TempDir creates a traversable directory and removes it", "[harness][process]") {
    std::string path;
    {
        TempDir dir;
        path = dir.path();
        CHECK_THAT(path, StartsWith("/tmp/pgca-test-"));
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0755);
        std::filesystem::create_directories(dir.file("sub/dir"));
        pgca::test::write_file(dir.file("sub/dir/f"), "y");
        CHECK(pgca::test::read_file(dir.file("sub/dir/f")) == "y");
    }
    if (std::getenv("PGCA_KEEP_TEST_DIRS") == nullptr) CHECK_FALSE(std::filesystem::exists(path));
}
