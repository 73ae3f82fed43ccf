// pgca reads only regular files, opened so that a FIFO cannot block, and at most a fixed size:
// a FIFO, a device or a huge file where a key, a profile or a PEM file belongs is refused at
// once with exit 2. Each run has a hang guard (timeout 20 s: exit 124), not a speed check.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using nlohmann::json;

namespace {

// pgca with a hang guard, and with its memory bounded (a read of /dev/zero must not take the
// machine down when it is not refused). Not under ASan, which reserves terabytes of address
// space for its shadow memory and cannot start below such a limit.
test::ProcessResult guarded(const std::vector<std::string>& args) {
    std::string cmd = std::string(PGCA_SANITIZED ? "" : "ulimit -v 4000000; ") + "exec timeout 20 " +
                      test::shell_quote(PGCA_BIN);
    for (const auto& a : args) cmd += " " + test::shell_quote(a);
    return test::run({"/bin/sh", "-c", cmd});
}

std::string small_profile(const test::TempDir& tmp) { return test::write_profile(tmp, test::minimal_profile("bounded")); }

void fifo_instead_of(const std::string& path) {
    REQUIRE(::unlink(path.c_str()) == 0);
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
}

void refused(const test::ProcessResult& r, const std::string& what) {
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(what));
}

}  // namespace

TEST_CASE("a FIFO planted as a client key or as a server key for --keep-key is refused at once", "[io][bounded]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki"), profile = small_profile(tmp);
    REQUIRE(guarded({"apply", profile, "--dir", dir}).exit_code == 0);

    fifo_instead_of(dir + "/clients/alice/postgresql.key");
    refused(guarded({"apply", profile, "--dir", dir}), "\"" + dir + "/clients/alice/postgresql.key\" is a FIFO");

    fifo_instead_of(dir + "/servers/db1/server.key");
    refused(guarded({"rotate", "--dir", dir, "--force", "--keep-key"}),
            "\"" + dir + "/servers/db1/server.key\" is a FIFO");
}

TEST_CASE("inspect refuses a device, a FIFO and a file larger than the PEM limit", "[io][bounded]") {
    test::TempDir tmp;
    refused(guarded({"inspect", "/dev/zero"}), "\"/dev/zero\" is a character device, not a regular file");
    const std::string fifo = tmp.file("fifo.pem");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    refused(guarded({"inspect", fifo}), "is a FIFO");
    const std::string big = tmp.file("big.pem");
    test::write_file(big, "");
    REQUIRE(::truncate(big.c_str(), static_cast<off_t>(io::kMaxPemBytes) + 1) == 0);
    refused(guarded({"inspect", big}), "is larger than " + std::to_string(io::kMaxPemBytes) + " bytes");
}

TEST_CASE("a profile or users file on a FIFO is refused at once", "[io][bounded]") {
    test::TempDir tmp;
    const std::string fifo = tmp.file("profile.json");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    refused(guarded({"apply", fifo, "--dir", tmp.file("pki")}), "is a FIFO");
    refused(guarded({"issue", "client", "--dir", tmp.file("pki"), "--users-file", fifo}), "is a FIFO");
}

