// What the commands say matches what the ledger holds: a revocation committed but not published
// is reported as exactly that, and an expired certificate is never listed as valid.
#include <catch2/catch.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "pgca/crl.hpp"
#include "pgca/io.hpp"
#include "pgca/ledger.hpp"
#include "pgca/pki.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;
using Catch::Contains;

namespace {

using test::pgca_run;

std::string issue_alice(const std::string& dir) {
    auto r = pgca_run({"init", "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    r = pgca_run({"issue", "client", "--dir", dir, "--user", "alice"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = open_ledger("sqlite:" + dir + "/pgca.db", {true})->by_name(CertKind::client, "alice");
    REQUIRE(rows.size() == 1);
    return rows.front().serial;
}

}  // namespace

TEST_CASE("a revocation committed but not published says so, and `pgca crl` publishes it", "[revoke]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    const std::string serial = issue_alice(dir);

    // The CRL folder cannot be made: a regular file stands where it goes.
    std::filesystem::remove_all(dir + "/crl");
    test::write_file(dir + "/crl", "not a folder\n");
    auto r = pgca_run({"revoke", "--dir", dir, "--user", "alice", "--reason", "keyCompromise"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::StartsWith("pgca: error: revocation of client \"alice\" serial " + serial +
                                        " recorded; CRL not written: "));
    CHECK_THAT(r.err, Contains(dir + "/crl"));
    CHECK_THAT(r.err, Catch::EndsWith("; run `pgca crl`\n"));

    auto rows = open_ledger("sqlite:" + dir + "/pgca.db", {true})->by_name(CertKind::client, "alice");
    REQUIRE(rows.size() == 1);
    CHECK(rows.front().status == CertStatus::revoked);  // committed, not rolled back
    CHECK(rows.front().revocation_reason == RevocationReason::key_compromise);

    std::filesystem::remove(dir + "/crl");
    r = pgca_run({"crl", "--dir", dir});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    Crl crl = Crl::from_pem(test::read_file(dir + "/crl/root.crl"), dir + "/crl/root.crl");
    auto listed = crl.revoked_serials();
    CHECK(std::find(listed.begin(), listed.end(), serial) != listed.end());
}

TEST_CASE("list shows a certificate past its notAfter as expired, never valid", "[list]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    (void)issue_alice(dir);
    // A ledger row still "valid" whose certificate has expired (nothing changes the status when
    // notAfter passes).
    {
        auto pki = PkiDir::open(dir, false);
        pki->transact([&] {
            LedgerEntry e = pki->ledger().by_name(CertKind::client, "alice").front();
            e.serial = "0BADC0DE";
            e.name = "old";
            e.not_before = std::time(nullptr) - 10 * 86400;
            e.not_after = std::time(nullptr) - 86400;
            pki->ledger().record(e);
        });
    }
    auto r = pgca_run({"list", "--dir", dir, "--json"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto rows = nlohmann::json::parse(r.out);
    bool seen = false;
    for (const auto& row : rows) {
        if (row["name"] == "old") {
            seen = true;
            CHECK(row["status"] == "expired");
        }
        if (row["name"] == "alice") CHECK(row["status"] == "valid");
    }
    CHECK(seen);

    r = pgca_run({"list", "--dir", dir});
    REQUIRE(r.exit_code == 0);
    auto at = r.out.find("\nold ");
    REQUIRE(at != std::string::npos);
    std::string line = r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1);
    CHECK_THAT(line, Catch::EndsWith("expired"));

    r = pgca_run({"list", "--dir", dir, "--expiring", "400", "--json"});
    REQUIRE(r.exit_code == 0);
    for (const auto& row : nlohmann::json::parse(r.out)) CHECK(row["name"] != "old");
}

TEST_CASE("list does not migrate a ledger: it asks for a writing command first", "[list]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    (void)issue_alice(dir);
    // An older schema: SQLite keeps PRAGMA user_version in bytes 60-63 of the file's header (the
    // WAL is folded back into the file when the last connection closes).
    REQUIRE_FALSE(io::exists(dir + "/pgca.db-wal"));
    std::string db = test::read_file(dir + "/pgca.db");
    REQUIRE(db.size() > 64);
    const int current = static_cast<unsigned char>(db[63]);  // a few migrations: the low byte alone
    REQUIRE(db.substr(60, 3) == std::string(3, '\0'));
    REQUIRE(current > 1);
    db[63] = static_cast<char>(current - 1);
    test::write_file(dir + "/pgca.db", db, 0600);

    auto r = pgca_run({"list", "--dir", dir});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Contains("has schema version " + std::to_string(current - 1) + " and needs migrating to " +
                               std::to_string(current)));
    CHECK_THAT(r.err, Contains("run a command that writes"));
    CHECK(test::read_file(dir + "/pgca.db") == db);
}
