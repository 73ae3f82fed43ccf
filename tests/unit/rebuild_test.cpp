// `pgca ledger rebuild` locks the folder as every writer does, through the ledger.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "pgca/apply.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/profile.hpp"
#include "pgca/rebuild.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"

using namespace pgca;
namespace fs = std::filesystem;

TEST_CASE("ledger rebuild waits for the folder's lock at most its timeout, and leaves nothing when it gets none",
          "[rebuild]") {
    test::TempDir tmp;
    const std::string dir = tmp.file("pki");
    (void)apply(parse_profile(test::minimal_profile("rebuild").dump(), "rebuild.json"), dir, {});
    fs::remove(dir + "/pgca.db");
    // What a rebuild killed earlier left aside is swept once the lock is held.
    test::write_file(dir + "/pgca.db.rebuild-999999999", "left by a kill");
    {
        io::DirLock held(dir, 0);  // another pgca writing the folder
        const auto before = test::tree_snapshot(dir);
        CHECK_THROWS_MATCHES(rebuild_ledger(dir, 0), Error,
                             Catch::Predicate<Error>([](const Error& e) { return e.kind() == ErrorKind::io; }));
        CHECK(test::tree_snapshot(dir) == before);
    }
    const RebuildResult done = rebuild_ledger(dir, 0);
    CHECK_FALSE(done.recorded.empty());
    CHECK(fs::exists(dir + "/pgca.db"));
    for (const auto& e : fs::directory_iterator(dir))
        CHECK(e.path().filename().string().rfind("pgca.db.rebuild", 0) == std::string::npos);
}
