// The contract of pgca/ledger.hpp as a list of cases, each run against a new, empty ledger of
// every backend: tests/unit/ledger_conformance_test.cpp (sqlite, memory) and
// tests/integration/ledger_postgres_test.cpp (PostgreSQL). A new backend runs them all.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgca/error.hpp"
#include "pgca/ledger.hpp"

namespace pgca::test::ledger_contract {

using namespace pgca;

inline LedgerEntry leaf(CertKind kind, const std::string& name, const std::string& serial,
                 const std::string& issuer = "CN=Issuing") {
    LedgerEntry e;
    e.serial = serial;
    e.issuer = issuer;
    e.kind = kind;
    e.name = name;
    e.subject = "CN=" + name;
    e.not_before = 1000;
    e.not_after = 5000;
    e.fingerprint = "F" + serial;
    e.issued_at = 1000;
    e.params = kind == CertKind::server
                   ? IssueParams::server(name, {name + ".example.com", "10.0.0.1"}, KeyAlg::ec_p256, 90, {})
                   : IssueParams::client(name, "", KeyAlg::ec_p384, 365);
    return e;
}

inline std::vector<std::string> serials(const std::vector<LedgerEntry>& rows) {
    std::vector<std::string> out;
    for (const auto& e : rows) out.push_back(e.serial);
    return out;
}

inline std::vector<std::string> serials_of(const std::vector<Revocation>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.serial);
    return out;
}


// record assigns increasing ids, status valid, and lists oldest first
inline void record_assigns_ids(Ledger& l) {
    LedgerEntry a = leaf(CertKind::client, "alice", "01");
    a.status = CertStatus::revoked;  // ignored: a new record is valid
    l.record(a);
    l.record(leaf(CertKind::server, "db", "02"));
    l.record(leaf(CertKind::client, "bob", "03"));
    auto all = l.list();
    REQUIRE(all.size() == 3);
    CHECK(serials(all) == std::vector<std::string>{"01", "02", "03"});
    CHECK(all[0].id < all[1].id);
    CHECK(all[1].id < all[2].id);
    for (const auto& e : all) {
        CHECK(e.status == CertStatus::valid);
        CHECK_FALSE(e.revocation_reason);
        CHECK(e.revoked_at == 0);
    }
    CHECK(serials(l.valid_entries()) == std::vector<std::string>{"01", "02", "03"});
}

// typed fields and IssueParams round-trip
inline void typed_fields_round_trip(Ledger& l) {
    PassphraseSource pass;
    pass.kind = PassphraseSource::Kind::file;
    pass.value = "/etc/pgca/db.pass";
    LedgerEntry db = leaf(CertKind::server, "db", "0A");
    db.params = IssueParams::server("db", {"db.example.com", "::1"}, KeyAlg::rsa_4096, 45, pass);
    db.cert_file_sha256 = "C0";
    db.key_file_sha256 = "K0";
    LedgerEntry root = leaf(CertKind::root, "root", "0B", "CN=Root");
    root.params = IssueParams::ca(CertKind::root, KeyAlg::ec_p384, 3650);
    LedgerEntry lost = leaf(CertKind::unknown, "(no certificate on disk)", "0C");
    lost.params = IssueParams{};
    lost.params.key_passphrase.reset();
    for (const auto& e : {db, root, lost}) l.record(e);

    auto got = l.list();
    REQUIRE(got.size() == 3);
    const LedgerEntry& d = got[0];
    CHECK(d.kind == CertKind::server);
    CHECK(d.name == "db");
    CHECK(d.issuer == "CN=Issuing");
    CHECK(d.subject == "CN=db");
    CHECK(d.not_before == 1000);
    CHECK(d.not_after == 5000);
    CHECK(d.fingerprint == "F0A");
    CHECK(d.issued_at == 1000);
    CHECK(d.cert_file_sha256 == "C0");
    CHECK(d.key_file_sha256 == "K0");
    CHECK(d.params.kind == CertKind::server);
    CHECK(d.params.name == "db");
    CHECK(d.params.hosts == std::vector<std::string>{"db.example.com", "::1"});
    CHECK(d.params.key == KeyAlg::rsa_4096);
    CHECK(d.params.days == 45);
    REQUIRE(d.params.key_passphrase);
    CHECK(d.params.key_passphrase->kind == PassphraseSource::Kind::file);
    CHECK(d.params.key_passphrase->value == "/etc/pgca/db.pass");
    CHECK(d.params.fingerprint() == db.params.fingerprint());
    CHECK(got[1].kind == CertKind::root);
    CHECK(got[1].params.fingerprint() == root.params.fingerprint());
    CHECK(got[1].params.days == 3650);
    CHECK(got[2].kind == CertKind::unknown);
    CHECK_FALSE(got[2].params.key);
    CHECK_FALSE(got[2].params.key_passphrase);
    CHECK(got[2].params.fingerprint() == lost.params.fingerprint());

    auto alice = leaf(CertKind::client, "alice", "0D");
    alice.params = IssueParams::client("alice", "alice@example.com", KeyAlg::ed25519, 30);
    l.record(alice);
    auto a = l.current(CertKind::client, "alice");
    REQUIRE(a);
    CHECK(a->params.common_name() == "alice@example.com");
    CHECK(a->params.key == KeyAlg::ed25519);
    CHECK(a->params.days == 30);
}

// a duplicate serial per issuer throws and records nothing
inline void duplicate_serial(Ledger& l) {
    l.record(leaf(CertKind::client, "alice", "0A"));
    try {
        l.record(leaf(CertKind::client, "bob", "0A"));
        FAIL("a duplicate serial was recorded");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::ledger);
        CHECK_THAT(e.what(), Catch::Contains("bob") && Catch::Contains("0A"));
    }
    CHECK(l.list().size() == 1);
    CHECK(l.by_name(CertKind::client, "bob").empty());
    CHECK_NOTHROW(l.record(leaf(CertKind::client, "carol", "0A", "CN=Other")));  // another issuer
    CHECK(l.by_serial("0A").size() == 2);
}

// current, by_name, valid_names and set_status
inline void current_by_name_set_status(Ledger& l) {
    l.record(leaf(CertKind::client, "alice", "01"));
    l.record(leaf(CertKind::server, "alice", "02"));
    l.record(leaf(CertKind::client, "alice", "03"));
    l.record(leaf(CertKind::client, "bob", "04"));
    l.record(leaf(CertKind::server, "db", "05"));
    // The newest valid one of that kind and name.
    CHECK(l.current(CertKind::client, "alice")->serial == "03");
    l.set_status("CN=Issuing", "03", CertStatus::superseded);
    CHECK(l.current(CertKind::client, "alice")->serial == "01");
    l.set_status("CN=Issuing", "01", CertStatus::expired);
    CHECK_FALSE(l.current(CertKind::client, "alice"));
    CHECK(l.current(CertKind::server, "alice")->serial == "02");
    CHECK_FALSE(l.current(CertKind::client, "nobody"));
    l.set_status("CN=Issuing", "99", CertStatus::revoked);  // no such certificate: nothing

    CHECK(serials(l.by_name(CertKind::client, "alice")) == std::vector<std::string>{"01", "03"});
    CHECK(l.by_name(CertKind::client, "alice")[1].status == CertStatus::superseded);
    CHECK(l.valid_names(CertKind::client) == std::vector<std::string>{"bob"});
    CHECK(l.valid_names(CertKind::server) == std::vector<std::string>{"alice", "db"});
    CHECK(serials(l.valid_entries()) == std::vector<std::string>{"02", "04", "05"});
}

// by_serial matches however many leading zeros are typed, in either case
inline void by_serial_leading_zeros(Ledger& l) {
    l.record(leaf(CertKind::client, "alice", "0F12AB"));
    l.record(leaf(CertKind::client, "bob", "000E34"));
    l.record(leaf(CertKind::client, "carol", "7F"));
    for (const char* typed : {"0F12AB", "F12AB", "000F12AB", "f12ab", "0f12Ab"}) {
        INFO(typed);
        auto found = l.by_serial(typed);
        REQUIRE(found.size() == 1);
        CHECK(found[0].name == "alice");
    }
    for (const char* typed : {"E34", "0E34", "000E34"}) CHECK(l.by_serial(typed).size() == 1);
    CHECK(l.by_serial("7F").size() == 1);
    CHECK(l.by_serial("7f").size() == 1);
    CHECK(l.by_serial("F12A").empty());
    CHECK(l.by_serial("12AB").empty());
}

// revoke once, and revocations filter by issuer and expiry
inline void revoke_and_revocations(Ledger& l) {
    l.record(leaf(CertKind::client, "alice", "01"));
    LedgerEntry old = leaf(CertKind::client, "bob", "02");
    old.not_after = 2000;
    l.record(old);
    l.record(leaf(CertKind::client, "carol", "03", "CN=Other"));
    l.record(leaf(CertKind::client, "dave", "04"));
    CHECK(l.revoke("CN=Issuing", "04", 1600, RevocationReason::cessation_of_operation));
    CHECK(l.revoke("CN=Issuing", "01", 1500, RevocationReason::key_compromise));
    CHECK_FALSE(l.revoke("CN=Issuing", "01", 1700, RevocationReason::superseded));  // already: unchanged
    CHECK(l.revoke("CN=Issuing", "02", 1500, RevocationReason::affiliation_changed));
    CHECK(l.revoke("CN=Other", "03", 1500, RevocationReason::unspecified));
    CHECK_FALSE(l.revoke("CN=Issuing", "99", 1500, RevocationReason::unspecified));  // no such one

    auto alice = l.current(CertKind::client, "alice");
    CHECK_FALSE(alice);  // revoked is not current
    auto rows = l.by_name(CertKind::client, "alice");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == CertStatus::revoked);
    CHECK(rows[0].revoked_at == 1500);
    CHECK(rows[0].revocation_reason == RevocationReason::key_compromise);

    // What the CRL of CN=Issuing lists at 1800: unexpired revocations, in record order.
    auto listed = l.revocations("CN=Issuing", 1800);
    REQUIRE(listed.size() == 3);
    CHECK(listed[0].serial == "01");
    CHECK(listed[0].revoked_at == 1500);
    CHECK(listed[0].reason == RevocationReason::key_compromise);
    CHECK(listed[1].serial == "02");
    CHECK(listed[2].serial == "04");
    CHECK(listed[2].reason == RevocationReason::cessation_of_operation);
    // Once bob's certificate expired (not_after 2000, excluded at 2000), the CRL drops it.
    CHECK(serials_of(l.revocations("CN=Issuing", 2000)) == std::vector<std::string>{"01", "04"});
    CHECK(l.revocations("CN=Other", 1800).size() == 1);
    CHECK(l.revocations("CN=Nobody", 0).empty());
}

// CRL numbers strictly increase per issuer
inline void crl_numbers_increase(Ledger& l) {
    CHECK_FALSE(l.crl_state("CN=Root"));
    l.record_crl({"CN=Root", 1, 100, 200, 0});
    l.record_crl({"CN=Issuing", 1, 100, 200, 0});  // per issuer
    l.record_crl({"CN=Root", 5, 300, 400, 2});
    for (std::int64_t stale : {5, 4}) {
        try {
            l.record_crl({"CN=Root", stale, 500, 600, 9});
            FAIL("CRL number " << stale << " was accepted after 5");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::ledger);
        }
    }
    auto root = l.crl_state("CN=Root");
    REQUIRE(root);
    CHECK(root->issuer == "CN=Root");
    CHECK(root->number == 5);
    CHECK(root->this_update == 300);
    CHECK(root->next_update == 400);
    CHECK(root->entries == 2);
    CHECK(l.crl_state("CN=Issuing")->number == 1);
}

// meta values are replaced, missing keys are absent
inline void meta_values(Ledger& l) {
    CHECK_FALSE(l.get_meta("profile_name"));
    l.set_meta("profile_name", "a");
    l.set_meta("profile_name", "b");
    l.set_meta("crl_days", "");
    CHECK(l.get_meta("profile_name") == std::optional<std::string>("b"));
    CHECK(l.get_meta("crl_days") == std::optional<std::string>(""));
}

// rollback undoes everything, commit keeps it
inline void rollback_and_commit(Ledger& l) {
    in_transaction(l, [](Ledger& t) {
        t.record(leaf(CertKind::client, "alice", "01"));
        t.record_crl({"CN=Issuing", 1, 100, 200, 0});
        t.set_meta("k", "before");
    });
    const auto id_before = l.list().back().id;
    CHECK_THROWS_AS(in_transaction(l,
                                   [](Ledger& t) {
                                       t.record(leaf(CertKind::client, "bob", "02"));
                                       t.set_status("CN=Issuing", "01", CertStatus::superseded);
                                       CHECK(t.revoke("CN=Issuing", "01", 1500, RevocationReason::superseded));
                                       t.record_crl({"CN=Issuing", 2, 300, 400, 1});
                                       t.set_meta("k", "after");
                                       t.set_meta("new", "x");
                                       throw Error(ErrorKind::internal, "boom");
                                   }),
                    Error);
    auto all = l.list();
    REQUIRE(all.size() == 1);
    CHECK(all[0].serial == "01");
    CHECK(all[0].status == CertStatus::valid);
    CHECK_FALSE(all[0].revocation_reason);
    CHECK(l.revocations("CN=Issuing", 0).empty());
    CHECK(l.crl_state("CN=Issuing")->number == 1);
    CHECK(l.get_meta("k") == std::optional<std::string>("before"));
    CHECK_FALSE(l.get_meta("new"));
    // A failed record inside a transaction that then commits leaves the rest.
    in_transaction(l, [](Ledger& t) {
        t.record(leaf(CertKind::client, "carol", "03"));
        CHECK_THROWS_AS(t.record(leaf(CertKind::client, "dave", "03")), Error);
    });
    all = l.list();
    REQUIRE(all.size() == 2);
    CHECK(all[1].name == "carol");
    CHECK(all[1].id > id_before);
}

// one writer's lock at a time
inline void one_writer_lock(Ledger& l) {
    {
        auto held = l.lock_exclusive(0);
        REQUIRE(held);
        try {
            (void)l.lock_exclusive(0);
            FAIL("a second writer's lock was granted");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::io);
            CHECK_THAT(e.what(), Catch::Contains("locked by") && Catch::Contains("gave up after 0 s"));
        }
    }
    CHECK(l.lock_exclusive(0));  // released with its object
}

struct Case {
    const char* name;
    void (*run)(Ledger&);
};

/// Every case of the contract, in a fixed order.
inline const std::vector<Case>& cases() {
    static const std::vector<Case> all{
        {"record assigns increasing ids, status valid, and lists oldest first", record_assigns_ids},
        {"typed fields and IssueParams round-trip", typed_fields_round_trip},
        {"a duplicate serial per issuer throws and records nothing", duplicate_serial},
        {"current, by_name, valid_names and set_status", current_by_name_set_status},
        {"by_serial matches however many leading zeros are typed, in either case", by_serial_leading_zeros},
        {"revoke once, and revocations filter by issuer and expiry", revoke_and_revocations},
        {"CRL numbers strictly increase per issuer", crl_numbers_increase},
        {"meta values are replaced, missing keys are absent", meta_values},
        {"rollback undoes everything, commit keeps it", rollback_and_commit},
        {"one writer's lock at a time", one_writer_lock},
    };
    return all;
}

}  // namespace pgca::test::ledger_contract
