// PostgreSQL 15's own limits, proven on a real server and enforced by pgca: how long a
// pg_hba.conf token may be, how postgresql.conf strings are read (backslash escapes), and what
// libpq's pg_service.conf reader changes in a value (blanks at the end of a line).
// One cluster serves every section (a static fixture), so the server starts once.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

// pg_hba.conf tokens exactly at PostgreSQL 15's limits: bare 10239 bytes, bare before a comma
// 10238, quoted (a blank inside) 10238.
const std::string kBareLast(10239, 'd');
const std::string kBareBeforeComma(10238, 'c');
const std::string kQuoted = "a user " + std::string(10238 - 7, 'u');

// Role names whose characters libpq's service-file reader keeps: a leading blank, '=', '#',
// quotes, '[', a backslash. Each logs in through its own clients/ROLE/pg_service.conf.
const std::vector<std::string> kServiceRoles{" lead", "a=b", "#h", "'q'", "\"dq\"", "[br", "x\\y"};

// A backslash followed by 't' (a TAB to PostgreSQL's configuration parser when not escaped), a
// single quote and a blank.
const std::string kInstallDirName = "in st\\tall'dir";

json limits_profile(const std::string& install_dir) {
    json clients = json::array();
    json users = json::array();
    for (const auto& u : kServiceRoles) {
        clients.push_back({{"user", u}});
        users.push_back({{"name", u}});
    }
    json server = {{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}};
    if (!install_dir.empty()) server["install_dir"] = install_dir;
    return {{"pgca_profile", 1},
            {"name", "limits"},
            {"ca", {{"subject", {{"CN", "Limits Root"}}}}},
            {"servers", json::array({server})},
            {"clients", clients},
            {"hba", json::array({{{"type", "hostssl"}, {"database", {kBareBeforeComma, kBareLast}}, {"user", kQuoted},
                                  {"address", "127.0.0.1/32"}, {"method", "cert"}},
                                 {{"type", "hostssl"}, {"database", "all"}, {"user", users},
                                  {"address", "127.0.0.1/32"}, {"method", "cert"}},
                                 {{"type", "hostnossl"}, {"database", "postgres"}, {"user", "bob"},
                                  {"address", "127.0.0.1/32"}, {"method", "trust"}}})}};
}

// The profile applied with install_dir = TMP/kInstallDirName, a symlink to the server folder, so
// the server reads its files through the awkward path the include names.
struct LimitsServer {
    LimitsServer() : s(limits_profile("").dump()) {
        install_dir = s.tmp() + "/" + kInstallDirName;
        auto r = s.reapply(limits_profile(install_dir).dump());
        if (r.exit_code != 0) throw std::runtime_error(describe({"pgca", "apply"}, r));
        std::filesystem::create_directory_symlink(s.dir() + "/servers/db", install_dir);
        std::vector<std::string> roles = kServiceRoles;
        roles.push_back("bob");
        s.start("db", roles);
    }
    AppliedServer s;
    std::string install_dir;
};

LimitsServer& shared_server() {
    static std::unique_ptr<LimitsServer> server;
    if (!server) server = std::make_unique<LimitsServer>();
    return *server;
}

// pgca apply of `profile` into the fixture's folder: refused with exit 2 and `expected`.
void require_refused(LimitsServer& f, const json& profile, const std::string& expected) {
    auto r = f.s.reapply(profile.dump());
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(expected));
}

}  // namespace

TEST_CASE("PostgreSQL 15's limits: hba token length, postgresql.conf escapes, service-file blanks", "[pg][limits]") {
    PGCA_REQUIRE_POSTGRES();
    LimitsServer& f = shared_server();
    PgCluster& pg = f.s.pg();

    SECTION("pg_hba.conf tokens at the limit load; one byte more is refused by the server and by pgca") {
        // pgca's file: no error, and every long token read back at its full length.
        CHECK(pg.psql_admin_checked("select count(*) from pg_hba_file_rules where error is not null") == "0");
        CHECK(pg.psql_admin_checked("select length(database[1]) || ' ' || length(database[2]) || ' ' || "
                                    "length(user_name[1]) from pg_hba_file_rules where array_length(database, 1) = 2") ==
              "10238 10239 10238");
        CHECK_NOTHROW(pg.reload());

        // A hand-written file one byte over each limit: PostgreSQL 15 refuses every line; 16 and
        // later read tokens of any length. pgca keeps 15's limit (the default targets.postgres).
        pg.set_hba("host " + kBareLast + "d all 127.0.0.1/32 trust\n" +
                   "host all \"" + kQuoted + "u\" 127.0.0.1/32 trust\n" +
                   "host " + kBareBeforeComma + "c,x all 127.0.0.1/32 trust\n");
        CHECK(pg.psql_admin_checked("select coalesce(string_agg(error, '; ' order by line_number), 'none') "
                                    "from pg_hba_file_rules where error is not null") ==
              (pg.server_major() == 15 ? "authentication file token too long; authentication file token too long; "
                                         "authentication file token too long"
                                       : "none"));
        f.s.install_access_files();
        CHECK(pg.psql_admin_checked("select count(*) from pg_hba_file_rules where error is not null") == "0");

        // pgca refuses the same three before writing anything.
        json p = limits_profile(f.install_dir);
        p["hba"][0]["database"][1] = kBareLast + "d";
        require_refused(f, p, "hba[0].database[1]: database \"dddddddddddddddddddddddd…\": 10240 bytes; "
                              "PostgreSQL 15 reads at most 10239 bytes in a pg_hba.conf token written bare");
        p = limits_profile(f.install_dir);
        p["hba"][0]["user"] = kQuoted + "u";
        require_refused(f, p, "hba[0].user: user \"a user uuuuuuuuuuuuuuuuu…\": 10239 bytes; PostgreSQL 15 reads at "
                              "most 10238 bytes in a pg_hba.conf token written in quotes");
        p = limits_profile(f.install_dir);
        p["hba"][0]["database"][0] = kBareBeforeComma + "c";
        require_refused(f, p, "hba[0].database[0]: database \"cccccccccccccccccccccccc…\": 10239 bytes; PostgreSQL 15 "
                              "reads at most 10238 bytes in a pg_hba.conf token followed by a list's comma");
    }

    SECTION("an install_dir with a backslash, a quote and a blank reaches the server exactly") {
        const std::string conf = read_file(f.s.dir() + "/servers/db/postgresql.ssl.conf");
        const std::string escaped = "in st\\\\tall''dir";
        CHECK_THAT(conf, Catch::Contains("ssl_cert_file = '" + f.s.tmp() + "/" + escaped + "/server.crt'\n"));
        CHECK_THAT(conf, Catch::Contains("include '" + f.s.tmp() + "/" + escaped + "/postgresql.ssl.conf'\n"));
        CHECK(pg.psql_admin_checked("select count(*) from pg_file_settings where error is not null") == "0");
        CHECK(pg.psql_admin_checked("show ssl_cert_file") == f.install_dir + "/server.crt");
        CHECK(pg.psql_admin_checked("show ssl_key_file") == f.install_dir + "/server.key");
        CHECK(pg.psql_admin_checked("show ssl_ca_file") == f.install_dir + "/root.crt");
        CHECK(pg.psql_admin_checked("show ssl_crl_file") == f.install_dir + "/root.crl");
        // The server serves the certificate it read there: a verify-full login with a client certificate.
        auto r = f.s.connect("limits", "", "", "[br");
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(trim(r.out) == "[br");
    }

    SECTION("libpq's service-file reader drops blanks at the end of a value; pgca refuses such role names") {
        // The fact: `user=bob ` (and a tab) in a hand-written pg_service.conf logs in as "bob",
        // though no role "bob " exists.
        for (const std::string blanks : {" ", "  \t"}) {
            const std::string file = f.s.tmp() + "/hand.pg_service.conf";
            write_file(file, "[x]\nsslmode=disable\nuser=bob" + blanks + "\n");
            auto r = pg.psql("service=x hostaddr=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=postgres",
                             "select current_user", {{"PGSERVICEFILE", file}});
            INFO(r.err);
            CHECK(r.exit_code == 0);
            CHECK(trim(r.out) == "bob");
        }
        json p = limits_profile(f.install_dir);
        p["clients"].push_back({{"user", "bob "}});
        require_refused(f, p, "clients[7].user: role name: \"bob \" ends with a blank, which libpq's pg_service.conf "
                              "reader removes (clients/ROLE/pg_service.conf would log in as \"bob\")");
        p = limits_profile(f.install_dir);
        p["client_settings"] = {{"dbname", "postgres "}};
        require_refused(f, p, "client_settings.dbname: dbname \"postgres \" ends with a blank");

        // What the reader keeps (a leading blank, '=', '#', quotes, '[', '\'): each role logs in
        // with its certificate through the pg_service.conf pgca wrote for it.
        for (const auto& role : kServiceRoles) {
            INFO("role " << role);
            auto r = f.s.connect("limits", "", "", role);
            INFO(r.err);
            CHECK(r.exit_code == 0);
            CHECK(r.out == role + "\n");  // not trimmed: the leading blank counts
        }
    }
}
