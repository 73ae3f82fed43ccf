// pgca-matrix: 15
// The ledger on PostgreSQL (lib/src/ledger/postgres_ledger.cpp): every case of the contract
// (tests/support/ledger_conformance.hpp) against a fresh database of the shared server, then
// what only a shared ledger has to survive: connections racing for serials and CRL numbers,
// migrations run at once, a schema newer than this pgca, the writers' lock across connections, a
// connection dropped before COMMIT.
#include <libpq-fe.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ledger_conformance.hpp"
#include "pg_cluster.hpp"
#include "process.hpp"
#include "profiles.hpp"
#include "temp_dir.hpp"
#include "pgca/error.hpp"
#include "pgca/ledger.hpp"

using namespace pgca;
using pgca::test::PgCluster;
using pgca::test::ledger_contract::leaf;
using pgca::test::ledger_contract::serials;

namespace {

constexpr const char* kDb = "ledger";

// A new, empty database on the shared server (reset by shared(): no database but postgres);
// the conninfo of it (trust over loopback, as the harness's initdb set up).
std::string fresh_database(PgCluster& pg) {
    pg.psql_admin_checked(std::string("CREATE DATABASE ") + kDb);
    return pg.conninfo_base() + " user=postgres dbname=" + kDb;
}

// The first value `sql` returns in the ledger's database, run as the superuser over loopback.
std::string admin_in_db(PgCluster& pg, const std::string& sql) {
    PGconn* c = PQconnectdb((pg.conninfo_base() + " user=postgres dbname=" + kDb).c_str());
    PGresult* r = PQexec(c, sql.c_str());
    const ExecStatusType status = PQresultStatus(r);
    std::string out = status == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    const std::string error = PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw std::runtime_error(sql + ": " + error);
    return out;
}

}  // namespace

TEST_CASE("ledger on PostgreSQL: every case of the contract", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    for (const auto& c : test::ledger_contract::cases())
        DYNAMIC_SECTION(c.name) {
            auto ledger = open_ledger(fresh_database(PgCluster::shared()));
            REQUIRE(ledger);
            c.run(*ledger);
        }
}

TEST_CASE("ledger on PostgreSQL: URIs and conninfo strings open the same database", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string conninfo = fresh_database(pg);
    open_ledger(conninfo)->set_meta("k", "v");
    const std::string port = std::to_string(pg.port());
    for (const std::string& url : {"postgresql://postgres@127.0.0.1:" + port + "/" + kDb,
                                  "postgres://postgres@127.0.0.1:" + port + "/" + kDb})
        CHECK(open_ledger(url, {true})->get_meta("k") == std::optional<std::string>("v"));
    CHECK(admin_in_db(pg, "SELECT version FROM pgca_schema_version") == "1");
}

TEST_CASE("ledger on PostgreSQL: two connections racing keep serials unique and CRL numbers increasing",
          "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string url = fresh_database(PgCluster::shared());
    (void)open_ledger(url);  // migrated once, so that the race below is about the rows
    constexpr int kSerials = 150;
    constexpr int kCrls = 40;
    struct Outcome {
        int recorded = 0, refused = 0, other_errors = 0;
        std::vector<std::int64_t> crl_numbers;
        std::string error;
    };
    Outcome outcome[2];
    std::atomic<int> ready{0};
    auto racer = [&](int who) {
        Outcome& out = outcome[who];
        try {
            auto l = open_ledger(url);
            ++ready;
            while (ready < 2) std::this_thread::yield();
            // Both try every serial, each in its own transaction: the constraint lets one win.
            for (int i = 0; i < kSerials; ++i) {
                try {
                    in_transaction(*l, [&](Ledger& t) {
                        t.record(leaf(CertKind::client, "c" + std::to_string(who) + "-" + std::to_string(i),
                                      "0A" + std::to_string(1000 + i)));
                    });
                    ++out.recorded;
                } catch (const Error& e) {
                    if (e.kind() == ErrorKind::ledger && std::string(e.what()).find("already recorded") != std::string::npos)
                        ++out.refused;
                    else
                        ++out.other_errors, out.error = e.what();
                }
            }
            // CRLs under the writers' lock: each takes the next number.
            auto lock = l->lock_exclusive(60);
            for (int i = 0; i < kCrls; ++i)
                in_transaction(*l, [&](Ledger& t) {
                    auto last = t.crl_state("CN=Issuing");
                    const std::int64_t next = last ? last->number + 1 : 1;
                    t.record_crl({"CN=Issuing", next, 100 + next, 200 + next, 0});
                    out.crl_numbers.push_back(next);
                });
        } catch (const std::exception& e) {
            ++out.other_errors;
            out.error = e.what();
        }
    };
    std::thread a(racer, 0), b(racer, 1);
    a.join();
    b.join();
    for (const auto& o : outcome) {
        INFO(o.error);
        CHECK(o.other_errors == 0);
        CHECK(o.recorded + o.refused == kSerials);
    }
    CHECK(outcome[0].recorded + outcome[1].recorded == kSerials);
    auto l = open_ledger(url);
    CHECK(l->list().size() == static_cast<std::size_t>(kSerials));
    std::set<std::int64_t> numbers(outcome[0].crl_numbers.begin(), outcome[0].crl_numbers.end());
    numbers.insert(outcome[1].crl_numbers.begin(), outcome[1].crl_numbers.end());
    CHECK(numbers.size() == static_cast<std::size_t>(2 * kCrls));  // no number handed out twice
    CHECK(l->crl_state("CN=Issuing")->number == 2 * kCrls);

    // Without the writers' lock the row lock still refuses a number that is not greater.
    std::atomic<int> accepted{0}, stale{0};
    auto unlocked = [&] {
        auto c = open_ledger(url);
        for (int i = 0; i < kCrls; ++i) {
            try {
                in_transaction(*c, [&](Ledger& t) {
                    const std::int64_t next = t.crl_state("CN=Issuing")->number + 1;
                    t.record_crl({"CN=Issuing", next, 0, 0, 0});
                });
                ++accepted;
            } catch (const Error&) {
                ++stale;
            }
        }
    };
    std::thread c1(unlocked), c2(unlocked);
    c1.join();
    c2.join();
    CHECK(accepted + stale == 2 * kCrls);
    CHECK(l->crl_state("CN=Issuing")->number == 2 * kCrls + accepted);
}

TEST_CASE("ledger on PostgreSQL: migrations run at once from several connections run once", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string url = fresh_database(pg);
    std::vector<std::string> errors(4);
    std::vector<std::thread> openers;
    for (std::size_t i = 0; i < errors.size(); ++i)
        openers.emplace_back([&, i] {
            try {
                open_ledger(url)->set_meta("opener" + std::to_string(i), "x");
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : openers) t.join();
    for (const auto& e : errors) CHECK(e == "");
    CHECK(admin_in_db(pg, "SELECT version FROM pgca_schema_version") == "1");
    CHECK(admin_in_db(pg, "SELECT count(*) FROM meta") == "4");
}

TEST_CASE("ledger on PostgreSQL: a schema newer than this pgca is refused naming both versions", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string url = fresh_database(pg);
    (void)open_ledger(url);
    admin_in_db(pg, "UPDATE pgca_schema_version SET version = 42");
    for (bool read_only : {false, true}) {
        INFO("read_only " << read_only);
        try {
            (void)open_ledger(url, {read_only});
            FAIL("a newer ledger was opened");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::ledger);
            CHECK_THAT(e.what(), Catch::Contains("has schema version 42, newer than this pgca understands (1)") &&
                                     Catch::Contains("dbname=ledger"));
        }
    }
    CHECK(admin_in_db(pg, "SELECT version FROM pgca_schema_version") == "42");  // untouched
}

TEST_CASE("ledger on PostgreSQL: a read-only open neither creates nor migrates", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string url = fresh_database(pg);
    try {
        (void)open_ledger(url, {true});
        FAIL("an empty database was opened read-only");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::ledger);
        CHECK_THAT(e.what(), Catch::Contains("schema version 0 and needs migrating to 1"));
    }
    CHECK(admin_in_db(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0");
    open_ledger(url)->record(leaf(CertKind::client, "alice", "01"));
    auto reader = open_ledger(url, {true});
    CHECK(reader->list().size() == 1);
    CHECK_THROWS_AS(reader->set_meta("k", "v"), Error);
}

TEST_CASE("ledger on PostgreSQL: the writers' lock excludes another connection's transaction", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string url = fresh_database(PgCluster::shared());
    auto a = open_ledger(url);
    auto b = open_ledger(url);
    auto lock_a = a->lock_exclusive(5);
    a->begin();
    a->record(leaf(CertKind::client, "alice", "01"));
    for (int timeout : {0, 1}) {
        try {
            (void)b->lock_exclusive(timeout);
            FAIL("a second writer's lock was granted during the first one's transaction");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::io);
            CHECK_THAT(e.what(), Catch::Contains("is locked by another writer (pgca ") &&
                                     Catch::Contains("gave up after " + std::to_string(timeout) + " s"));
        }
    }
    a->commit();
    // Between the holder's transactions another writer runs; its own transactions exclude a's.
    auto lock_b = b->lock_exclusive(0);
    b->begin();
    CHECK(b->list().size() == 1);
    try {
        a->begin();
        FAIL("a began a transaction while b's held the writers' lock");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::io);
        CHECK_THAT(e.what(), Catch::Contains("gave up after 5 s"));
    }
    b->commit();
    in_transaction(*a, [](Ledger& t) { t.record(leaf(CertKind::client, "bob", "02")); });
    CHECK(b->list().size() == 2);
}

TEST_CASE("ledger on PostgreSQL: a buffered record of a stored serial fails the transaction whole",
          "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string url = fresh_database(PgCluster::shared());
    auto l = open_ledger(url);
    l->record(leaf(CertKind::client, "alice", "0A"));
    l->begin();
    l->record(leaf(CertKind::client, "bob", "0B"));
    l->record(leaf(CertKind::client, "carol", "0A"));  // buffered: the server has not seen it yet
    try {
        (void)l->list();
        FAIL("a duplicate serial was flushed");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::ledger);
        CHECK_THAT(e.what(), Catch::Contains("carol") && Catch::Contains("0A"));
    }
    CHECK_THROWS_AS(l->commit(), Error);  // bob's row went with the batch: no commit of the rest
    CHECK(serials(l->list()) == std::vector<std::string>{"0A"});
    CHECK(l->list()[0].name == "alice");
}

TEST_CASE("ledger on PostgreSQL: a bulk transaction is recorded in order", "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    const std::string url = fresh_database(PgCluster::shared());
    auto l = open_ledger(url);
    constexpr int kRows = 5000;  // more than one flush (kFlushRows)
    in_transaction(*l, [&](Ledger& t) {
        for (int i = 0; i < kRows; ++i) {
            LedgerEntry e = leaf(CertKind::server, "db" + std::to_string(i), "7F" + std::to_string(100000 + i));
            e.params = IssueParams::server(e.name, {"a\"b\\c,{x}", "10.0.0.1"}, KeyAlg::ec_p256, 90, {});
            t.record(e);
            if (i == 10) t.set_status(e.issuer, e.serial, CertStatus::superseded);  // still buffered
            if (i == 20) t.set_status("CN=Issuing", "7F100001", CertStatus::expired);
        }
    });
    auto all = l->list();
    REQUIRE(all.size() == static_cast<std::size_t>(kRows));
    for (int i = 1; i < kRows; ++i) {
        INFO(i);
        REQUIRE(all[i - 1].id < all[i].id);
        REQUIRE(all[i].name == "db" + std::to_string(i));
    }
    CHECK(all[10].status == CertStatus::superseded);
    CHECK(all[1].status == CertStatus::expired);
    CHECK(all[4999].params.hosts == std::vector<std::string>{"a\"b\\c", "{x}", "10.0.0.1"});
}

TEST_CASE("ledger on PostgreSQL: a connection dropped before COMMIT records nothing, the next transaction works",
          "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string url = fresh_database(pg);
    auto l = open_ledger(url);
    l->begin();
    l->record(leaf(CertKind::client, "alice", "01"));
    l->set_meta("k", "v");
    pg.psql_admin_checked("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'ledger'");
    try {
        l->commit();
        FAIL("a commit over a dropped connection succeeded");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::ledger);
        CHECK_THAT(e.what(), Catch::Contains("dbname=ledger"));
    }
    l->rollback();
    auto fresh = open_ledger(url);
    CHECK(fresh->list().empty());
    CHECK_FALSE(fresh->get_meta("k"));
    in_transaction(*l, [](Ledger& t) { t.record(leaf(CertKind::client, "bob", "02")); });  // reconnected
    CHECK(fresh->list().size() == 1);
}

TEST_CASE("ledger on PostgreSQL: init, apply, revoke and list with --ledger, then without the flag",
          "[ledger][postgres]") {
    PGCA_REQUIRE_POSTGRES();
    PgCluster& pg = PgCluster::shared();
    const std::string url = fresh_database(pg);
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    const std::string profile = test::write_profile(tmp, test::minimal_profile("acme", {"alice", "bob"}));
    auto run = [](const std::vector<std::string>& args) {
        auto r = test::pgca_run(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        return r;
    };
    run({"init", "--dir", dir, "--ledger", url});
    CHECK(test::read_file(dir + "/ledger.url") == url + "\n");
    run({"apply", profile, "--dir", dir});
    run({"revoke", "--dir", dir, "--user", "bob", "--reason", "keyCompromise"});
    auto listed = run({"list", "--dir", dir, "--all"});
    CHECK_THAT(listed.out, Catch::Contains("alice") && Catch::Contains("revoked"));
    CHECK(admin_in_db(pg, "SELECT count(*) FROM certificates WHERE kind = 'client'") == "2");
    CHECK(admin_in_db(pg, "SELECT count(*) FROM certificates WHERE status = 'revoked'") == "1");
    CHECK(admin_in_db(pg, "SELECT count(*) FROM crls") == "1");
    CHECK_FALSE(std::filesystem::exists(dir + "/pgca.db"));
    run({"apply", profile, "--dir", dir});  // re-issues revoked bob
    CHECK(admin_in_db(pg, "SELECT count(*) FROM certificates WHERE kind = 'client'") == "3");
    run({"apply", profile, "--dir", dir});  // and then nothing
    CHECK(admin_in_db(pg, "SELECT count(*) FROM certificates WHERE kind = 'client'") == "3");
}
