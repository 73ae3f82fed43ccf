#include <catch2/catch.hpp>

#include "pgca/error.hpp"
#include "pgca/ledger.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

LedgerEntry entry(const std::string& serial, const std::string& name) {
    LedgerEntry e;
    e.serial = serial;
    e.issuer = "CN=Root";
    e.kind = "client";
    e.name = name;
    e.subject = "CN=" + name;
    e.not_before = 1000;
    e.not_after = 2000;
    e.fingerprint = "AA";
    e.issued_at = 1000;
    return e;
}

}  // namespace

TEST_CASE("the ledger records, finds the current certificate and survives reopening", "[ledger]") {
    test::TempDir tmp;
    std::string path = tmp.path() + "/pgca.db";
    {
        auto l = open_sqlite_ledger(path);
        in_transaction(*l, [](Ledger& t) {
            t.record(entry("01", "alice"));
            t.record(entry("02", "bob"));
            t.set_status("CN=Root", "01", "superseded");
            t.record(entry("03", "alice"));
        });
        REQUIRE(l->current("client", "alice"));
        CHECK(l->current("client", "alice")->serial == "03");
        CHECK_FALSE(l->current("server", "alice"));
    }
    auto l = open_sqlite_ledger(path);  // migrations run once; reopening is fine
    auto all = l->list();
    REQUIRE(all.size() == 3);
    CHECK(all[0].status == "superseded");
    CHECK(all[2].status == "valid");
    l->set_meta("k", "v1");
    l->set_meta("k", "v2");
    CHECK(l->get_meta("k") == std::optional<std::string>("v2"));
    CHECK_FALSE(l->get_meta("missing"));
}

TEST_CASE("a serial is unique per issuer: the constraint, not a hope", "[ledger]") {
    test::TempDir tmp;
    auto l = open_sqlite_ledger(tmp.path() + "/pgca.db");
    l->record(entry("0A", "alice"));
    CHECK_THROWS_AS(l->record(entry("0A", "bob")), Error);
    LedgerEntry other = entry("0A", "carol");
    other.issuer = "CN=Other";
    CHECK_NOTHROW(l->record(other));
}

TEST_CASE("a rolled-back transaction leaves nothing", "[ledger]") {
    test::TempDir tmp;
    auto l = open_sqlite_ledger(tmp.path() + "/pgca.db");
    CHECK_THROWS(in_transaction(*l, [](Ledger& t) {
        t.record(entry("01", "alice"));
        throw Error(ErrorKind::internal, "boom");
    }));
    CHECK(l->list().empty());
}

TEST_CASE("a serial is found with or without its leading zeros", "[ledger]") {
    // One serial in eight starts with a byte below 0x10 ("0F…"): `revoke --serial` strips leading
    // zeros from what the operator typed, and used to miss those certificates.
    test::TempDir tmp;
    auto l = open_sqlite_ledger(tmp.path() + "/pgca.db");
    in_transaction(*l, [](Ledger& t) {
        t.record(entry("0F12AB", "alice"));
        t.record(entry("000E34", "bob"));
    });
    for (const char* typed : {"0F12AB", "F12AB", "000F12AB"}) {
        auto found = l->by_serial(typed);
        REQUIRE(found.size() == 1);
        CHECK(found[0].name == "alice");
    }
    for (const char* typed : {"E34", "0E34", "000E34"}) {
        auto found = l->by_serial(typed);
        REQUIRE(found.size() == 1);
        CHECK(found[0].name == "bob");
    }
    CHECK(l->by_serial("F12A").empty());
}
