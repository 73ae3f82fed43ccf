#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <ctime>
#include <fstream>
#include <iterator>

#include "pgca/error.hpp"
#include "pgca/ledger.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

LedgerEntry entry(const std::string& serial, const std::string& name) {
    LedgerEntry e;
    e.serial = serial;
    e.issuer = "CN=Root";
    e.kind = CertKind::client;
    e.name = name;
    e.params = IssueParams::client(name, "", KeyAlg::ec_p256, 365);
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
        auto l = open_ledger("sqlite:" + path);
        in_transaction(*l, [](Ledger& t) {
            t.record(entry("01", "alice"));
            t.record(entry("02", "bob"));
            t.set_status("CN=Root", "01", CertStatus::superseded);
            t.record(entry("03", "alice"));
        });
        REQUIRE(l->current(CertKind::client, "alice"));
        CHECK(l->current(CertKind::client, "alice")->serial == "03");
        CHECK_FALSE(l->current(CertKind::server, "alice"));
    }
    auto l = open_ledger("sqlite:" + path);  // migrations run once; reopening is fine
    auto all = l->list();
    REQUIRE(all.size() == 3);
    CHECK(all[0].status == CertStatus::superseded);
    CHECK(all[2].status == CertStatus::valid);
    l->set_meta("k", "v1");
    l->set_meta("k", "v2");
    CHECK(l->get_meta("k") == std::optional<std::string>("v2"));
    CHECK_FALSE(l->get_meta("missing"));
}

TEST_CASE("a serial is unique per issuer: the constraint, not a hope", "[ledger]") {
    test::TempDir tmp;
    auto l = open_ledger("sqlite:" + tmp.path() + "/pgca.db");
    l->record(entry("0A", "alice"));
    CHECK_THROWS_AS(l->record(entry("0A", "bob")), Error);
    LedgerEntry other = entry("0A", "carol");
    other.issuer = "CN=Other";
    CHECK_NOTHROW(l->record(other));
}

TEST_CASE("a rolled-back transaction leaves nothing", "[ledger]") {
    test::TempDir tmp;
    auto l = open_ledger("sqlite:" + tmp.path() + "/pgca.db");
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
    auto l = open_ledger("sqlite:" + tmp.path() + "/pgca.db");
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

TEST_CASE("typed fields and IssueParams come back as recorded", "[ledger]") {
    test::TempDir tmp;
    auto l = open_ledger("sqlite:" + tmp.path() + "/pgca.db");
    PassphraseSource pass;
    pass.kind = PassphraseSource::Kind::command;
    pass.value = "cat /run/pass";
    LedgerEntry server = entry("10", "db");
    server.kind = CertKind::server;
    server.params = IssueParams::server("db", {"localhost", "::1", "db.example.com"}, KeyAlg::rsa_3072, 30, pass);
    LedgerEntry client = entry("11", "alice");
    client.params = IssueParams::client("alice", "alice@example.com", KeyAlg::ed25519, 365);
    LedgerEntry root = entry("12", "root");
    root.kind = CertKind::root;
    root.params = IssueParams::ca(CertKind::root, KeyAlg::ec_p384, 3650);
    LedgerEntry lost = entry("13", "(no certificate on disk)");
    lost.kind = CertKind::unknown;
    lost.params = IssueParams{};
    lost.params.key_passphrase.reset();
    in_transaction(*l, [&](Ledger& t) {
        for (const auto& e : {server, client, root, lost}) t.record(e);
        CHECK(t.revoke("CN=Root", "11", 1500, RevocationReason::key_compromise));
        CHECK_FALSE(t.revoke("CN=Root", "11", 1600, RevocationReason::superseded));
    });
    auto all = l->list();
    REQUIRE(all.size() == 4);
    const IssueParams& s = all[0].params;
    CHECK(all[0].kind == CertKind::server);
    CHECK(s.kind == CertKind::server);
    CHECK(s.name == "db");
    CHECK(s.hosts == std::vector<std::string>{"localhost", "::1", "db.example.com"});
    CHECK(s.key == KeyAlg::rsa_3072);
    CHECK(s.days == 30);
    REQUIRE(s.key_passphrase);
    CHECK(s.key_passphrase->kind == PassphraseSource::Kind::command);
    CHECK(s.key_passphrase->value == "cat /run/pass");
    CHECK(s.fingerprint() == server.params.fingerprint());
    CHECK_FALSE(all[0].revocation_reason);

    CHECK(all[1].status == CertStatus::revoked);
    CHECK(all[1].revoked_at == 1500);
    CHECK(all[1].revocation_reason == RevocationReason::key_compromise);
    CHECK(all[1].params.cn == "alice@example.com");
    CHECK(all[1].params.key == KeyAlg::ed25519);
    CHECK(all[1].params.fingerprint() == client.params.fingerprint());
    auto revoked = l->revocations("CN=Root", 1000);
    REQUIRE(revoked.size() == 1);
    CHECK(revoked[0].reason == RevocationReason::key_compromise);

    CHECK(all[2].kind == CertKind::root);
    CHECK(all[2].params.key == KeyAlg::ec_p384);
    CHECK(all[2].params.days == 3650);
    CHECK(all[3].kind == CertKind::unknown);
    CHECK_FALSE(all[3].params.key);
    CHECK_FALSE(all[3].params.key_passphrase);
    CHECK(l->valid_names(CertKind::server) == std::vector<std::string>{"db"});
    CHECK(l->valid_names(CertKind::client).empty());
}

namespace {

// Runs `sql` on the SQLite file at `path` directly, as another program (or an older pgca) would.
void raw_sql(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    INFO((err != nullptr ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

// The schema of version 4 (the last with the JSON `detail`), as pgca 4's migrations left it.
constexpr const char* kVersion4Schema = R"sql(
CREATE TABLE certificates (
    id          INTEGER PRIMARY KEY,
    serial      TEXT    NOT NULL,
    issuer      TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('root', 'intermediate', 'server', 'client', 'unknown')),
    name        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('valid', 'revoked', 'superseded', 'expired')),
    detail      TEXT    NOT NULL DEFAULT '{}',
    issued_at   INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    revocation_reason TEXT NOT NULL DEFAULT '',
    cert_file_sha256  TEXT NOT NULL DEFAULT '',
    key_file_sha256   TEXT NOT NULL DEFAULT '',
    UNIQUE (issuer, serial)
);
CREATE INDEX certificates_by_name ON certificates (kind, name, status);
CREATE INDEX certificates_revoked ON certificates (issuer, status);
CREATE INDEX certificates_by_serial ON certificates (serial);
CREATE INDEX certificates_by_status ON certificates (status);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE crls (issuer TEXT PRIMARY KEY, number INTEGER NOT NULL, this_update INTEGER NOT NULL,
                   next_update INTEGER NOT NULL, entries INTEGER NOT NULL);
PRAGMA user_version = 4;
)sql";

}  // namespace

TEST_CASE("a version-4 ledger is upgraded: its JSON detail becomes typed columns", "[ledger][migration]") {
    test::TempDir tmp;
    const std::string path = tmp.path() + "/pgca.db";
    raw_sql(path, kVersion4Schema);
    // What pgca 4 wrote: pki.cpp's server and client detail, a CA's, a rebuilt unusual key
    // ("key": ""), the '{}' of an unknown serial, and a rebuilt encrypted server (no key_passphrase).
    raw_sql(path, R"sql(
INSERT INTO certificates (serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status, detail,
                          issued_at, revoked_at, revocation_reason) VALUES
 ('01', 'CN=R', 'root', 'root', 'CN=R', 0, 9000000000, 'F1', 'valid', '{"key":"ec-p384"}', 0, 0, ''),
 ('02', 'CN=R', 'server', 'db', 'CN=localhost', 0, 9000000000, 'F2', 'valid',
  '{"days":30,"hosts":["localhost","127.0.0.1"],"key":"rsa-2048","key_passphrase":"{\"env\":\"DB_PASS\"}"}', 0, 0, ''),
 ('03', 'CN=R', 'client', 'alice', 'CN=a@x', 0, 9000000000, 'F3', 'revoked', '{"cn":"a@x","key":"ed25519"}',
  0, 77, 'keyCompromise'),
 ('04', 'CN=R', 'server', 'old', 'CN=old', 0, 9000000000, 'F4', 'valid',
  '{"days":397,"hosts":["old.example.com"],"key":"","key_passphrase":""}', 0, 0, ''),
 ('07', 'CN=R', 'server', 'enc', 'CN=enc', 0, 9000000000, 'F7', 'valid',
  '{"days":397,"hosts":["enc.example.com"],"key":"ec-p256"}', 0, 0, ''),
 ('05', 'CN=R', 'unknown', '(no certificate on disk)', '', 0, 9000000000, '', 'revoked', '{}', 0, 5, 'superseded');
)sql");
    auto l = open_ledger("sqlite:" + path);
    auto all = l->list();
    REQUIRE(all.size() == 6);
    CHECK(all[0].params.key == KeyAlg::ec_p384);

    const IssueParams& db = all[1].params;
    CHECK(db.hosts == std::vector<std::string>{"localhost", "127.0.0.1"});
    CHECK(db.key == KeyAlg::rsa_2048);
    CHECK(db.days == 30);
    REQUIRE(db.key_passphrase);
    CHECK(db.key_passphrase->kind == PassphraseSource::Kind::env);
    CHECK(db.key_passphrase->value == "DB_PASS");
    // The same parameters from a profile: nothing to re-issue after the upgrade.
    PassphraseSource pass = db.key_passphrase.value();
    CHECK(db.fingerprint() ==
          IssueParams::server("db", {"localhost", "127.0.0.1"}, KeyAlg::rsa_2048, 397, pass).fingerprint());

    CHECK(all[2].params.common_name() == "a@x");
    CHECK(all[2].params.key == KeyAlg::ed25519);
    CHECK(all[2].status == CertStatus::revoked);
    CHECK(all[2].revocation_reason == RevocationReason::key_compromise);
    CHECK(all[2].params.fingerprint() == IssueParams::client("alice", "a@x", KeyAlg::ed25519, 365).fingerprint());

    CHECK_FALSE(all[3].params.key);             // "" was an unknown key type
    REQUIRE(all[3].params.key_passphrase);
    CHECK(all[3].params.key_passphrase->empty());
    CHECK_FALSE(all[4].params.key_passphrase);  // absent: a rebuild did not know it
    CHECK_FALSE(all[1].params.hosts.empty());
    CHECK(all[5].kind == CertKind::unknown);
    CHECK(all[5].params.hosts.empty());
    CHECK(l->revocations("CN=R", 0).size() == 2);

    // The upgraded ledger takes new rows like a new one, and is at the newest version on reopen.
    LedgerEntry e = entry("08", "bob");
    e.issuer = "CN=R";
    CHECK_NOTHROW(l->record(e));
    l.reset();
    CHECK(open_ledger("sqlite:" + path, {true})->list().size() == 7);
}

TEST_CASE("a stored value this pgca cannot read names its row and column", "[ledger]") {
    test::TempDir tmp;
    const std::string path = tmp.path() + "/pgca.db";
    {
        auto l = open_ledger("sqlite:" + path);
        l->record(entry("01", "alice"));
        l->record(entry("02", "bob"));
    }
    auto refused = [&](const char* sql, const std::string& message) {
        raw_sql(path, sql);
        try {
            (void)open_ledger("sqlite:" + path)->list();
            FAIL("read " << sql);
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::ledger);
            CHECK(std::string(e.what()) == message);
        }
    };
    refused("UPDATE certificates SET revocation_reason = 'bored' WHERE serial = '02'",
            "ledger row 2, column revocation_reason: \"bored\" is not an RFC 5280 reason name");
    refused("UPDATE certificates SET revocation_reason = '', key_alg = 'dsa' WHERE serial = '02'",
            "ledger row 2, column key_alg: \"dsa\" is not a key type");
    refused("UPDATE certificates SET key_alg = NULL, key_passphrase = '{\"vault\":\"x\"}' WHERE serial = '01'",
            "ledger row 1, column key_passphrase: \"{\"vault\":\"x\"}\" is not a passphrase source");
    // The CHECK constraints keep kind and status to the known texts; a ledger written with them
    // off (another tool) is refused on reading all the same.
    refused("PRAGMA ignore_check_constraints = ON; UPDATE certificates SET key_passphrase = '', kind = 'robot', "
            "status = 'valid' WHERE serial = '01'",
            "ledger row 1, column kind: \"robot\" is not a certificate kind");
    refused("PRAGMA ignore_check_constraints = ON; UPDATE certificates SET kind = 'client', status = 'gone' "
            "WHERE serial = '01'",
            "ledger row 1, column status: \"gone\" is not a certificate status");
}

TEST_CASE("the benchmark's revoked rows fit the current schema and are what a CRL lists", "[ledger][bench]") {
    test::TempDir tmp;
    const std::string path = tmp.file("pgca.db");
    (void)open_ledger("sqlite:" + path);  // the schema of this pgca
    std::ifstream in(std::string(PGCA_SOURCE_DIR) + "/bench/revoked_rows.sql");
    REQUIRE(in);
    const std::string sql((std::istreambuf_iterator<char>(in)), {});
    const std::time_t epoch = std::time(nullptr);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    const int prepared = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
    INFO(sqlite3_errmsg(db));
    REQUIRE(prepared == SQLITE_OK);
    sqlite3_bind_int(st, sqlite3_bind_parameter_index(st, ":entries"), 50);
    sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":issuer"), "CN=Bench Root", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":epoch"), epoch);
    const int stepped = sqlite3_step(st);
    INFO(sqlite3_errmsg(db));
    CHECK(stepped == SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);

    auto ledger = open_ledger("sqlite:" + path);
    const auto listed = ledger->revocations("CN=Bench Root", epoch);
    CHECK(listed.size() == 50);
    for (const auto& r : listed) {
        CHECK(r.serial.size() == 32);
        CHECK(r.serial.front() == '4');
    }
}
