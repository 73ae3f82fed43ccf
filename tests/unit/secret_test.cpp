#include <catch2/catch.hpp>

#include <cstdlib>

#include "pgca/error.hpp"
#include "pgca/secret.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca;

TEST_CASE("passphrase sources: environment, file, command", "[secret]") {
    test::TempDir tmp;
    ::setenv("PGCA_TEST_PASS", "from env", 1);
    CHECK(read_passphrase({PassphraseSource::Kind::env, "PGCA_TEST_PASS"}) == "from env");
    ::unsetenv("PGCA_TEST_PASS");
    CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::env, "PGCA_TEST_PASS"}),
                      Catch::Contains("environment variable PGCA_TEST_PASS is not set"));

    test::write_file(tmp.path() + "/pass", "from file\r\nsecond line ignored\n", 0600);
    CHECK(read_passphrase({PassphraseSource::Kind::file, tmp.path() + "/pass"}) == "from file");
    CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::file, tmp.path() + "/missing"}),
                      Catch::Contains(tmp.path() + "/missing"));
    test::write_file(tmp.path() + "/empty", "\n", 0600);
    CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::file, tmp.path() + "/empty"}),
                      Catch::Contains("empty passphrase"));

    CHECK(read_passphrase({PassphraseSource::Kind::command, "echo from command"}) == "from command");
    CHECK_THROWS_WITH(read_passphrase({PassphraseSource::Kind::command, "exit 3"}), Catch::Contains("failed (exit 3)"));
}

TEST_CASE("ssl_passphrase_command for each source, with % doubled for PostgreSQL", "[secret]") {
    CHECK(passphrase_command({PassphraseSource::Kind::file, "/etc/tls/it's.pass"}) == "cat '/etc/tls/it'\\''s.pass'");
    CHECK(passphrase_command({PassphraseSource::Kind::env, "PG_KEY_PASS"}) == "printf '%%s\\n' \"$PG_KEY_PASS\"");
    CHECK(passphrase_command({PassphraseSource::Kind::command, "vault read -field=p x"}) == "vault read -field=p x");
    // The file source's command really prints the passphrase (run through sh, with %% undone as
    // PostgreSQL does).
    test::TempDir tmp;
    test::write_file(tmp.path() + "/p", "s3cret\n", 0600);
    auto r = test::run({"sh", "-c", "cat '" + tmp.path() + "/p'"});
    CHECK(test::trim(r.out) == "s3cret");
}

TEST_CASE("sources round-trip through the ledger's JSON", "[secret]") {
    PassphraseSource s{PassphraseSource::Kind::command, "pass show pgca"};
    auto back = PassphraseSource::from_json(s.to_json());
    CHECK(back.kind == s.kind);
    CHECK(back.value == s.value);
    CHECK(PassphraseSource::from_json("").empty());
    CHECK_THROWS_AS(PassphraseSource::from_json("{\"smoke\": \"signals\"}"), Error);
}
