// pgca::check over a PGDATA's configuration files, without a server: includes (bounded, loops
// refused), the configuration syntax, and pg_hba.conf lines as PostgreSQL 15 splits and judges
// them. What a real server does with the same faults is tests/integration/check_test.cpp.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <string>

#include "pgca/check.hpp"
#include "pgca/error.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;

namespace {

pgca::check::Result check_pgdata(const std::string& path) {
    pgca::check::Options o;
    o.pgdata = path;
    return pgca::check::run(o);
}

std::multiset<std::string> codes(const pgca::check::Result& r) {
    std::multiset<std::string> out;
    for (const auto& f : r.findings) out.insert(f.code);
    return out;
}

std::string dump(const pgca::check::Result& r) {
    std::string out;
    for (const auto& f : r.findings) out += f.code + " " + f.object + ": " + f.message + "\n";
    return out;
}

}  // namespace

TEST_CASE("check: a PGDATA with ssl off and valid access rules has one warning", "[check]") {
    TempDir d;
    write_file(d.file("postgresql.conf"), "# comment\nport = 5433\nlisten_addresses='127.0.0.1' # here\n"
                                          "log_line_prefix = '%m [%p] ''q'' \\\\ '\nssl = off\n");
    write_file(d.file("pg_hba.conf"),
               "local all all peer\n"
               "host all all 127.0.0.1/32 scram-sha-256\n"
               "host all all 192.168.1.0 255.255.255.0 md5\n"
               "hostssl \"my db\",other \"all\",+admins 10.0.0.0/8 cert clientname=DN map=m # trailing\n"
               "hostssl all all ::1/128 scram-sha-256 clientcert=verify-full\n"
               "hostnossl sameuser all samenet reject\n"
               "hostssl db alice .example.com cert\n");
    auto r = check_pgdata(d.path());
    INFO(dump(r));
    CHECK(codes(r) == std::multiset<std::string>{"ssl-off"});
    CHECK_FALSE(r.has_error());
}

TEST_CASE("check: pg_hba.conf lines PostgreSQL 15 refuses are errors naming the line", "[check]") {
    TempDir d;
    write_file(d.file("postgresql.conf"), "ssl = off\n");
    write_file(d.file("pg_hba.conf"),
               "local all all peer\n"
               "hostssl all all 127.0.0.1/32 cert clientcert=verify-ca\n"  // 2: cert refuses verify-ca
               "host all all 127.0.0.1/32 cert\n"                          // 3: cert needs hostssl
               "host all all 127.0.0.1/32 md5 clientcert=verify-full\n"    // 4: clientcert needs hostssl
               "hostssl all all 127.0.0.1/32 scram-sha-256 map=m\n"        // 5: map with scram
               "host all all 127.0.0.1 trust\n"                            // 6: no mask
               "host all all 127.0.0.1/32 password2\n"                     // 7: unknown method
               "hostx all all 127.0.0.1/32 trust\n"                        // 8: unknown type
               "hostssl all all 127.0.0.1/32 cert clientname=cn\n"         // 9: clientname is case-sensitive
               "host all\n");                                              // 10: cut short
    auto r = check_pgdata(d.path());
    INFO(dump(r));
    std::set<std::string> lines;
    for (const auto& f : r.findings)
        if (f.code == "hba-invalid") lines.insert(f.object.substr(f.object.rfind(':') + 1));
    CHECK(lines == std::set<std::string>{"2", "3", "4", "5", "6", "7", "8", "9", "10"});
    CHECK(r.has_error());
}

TEST_CASE("check: includes are followed, bounded, and a loop is refused", "[check]") {
    TempDir d;
    REQUIRE(::mkdir(d.file("conf.d").c_str(), 0755) == 0);
    write_file(d.file("postgresql.conf"), "include_dir 'conf.d'\ninclude_if_exists 'absent.conf'\n");
    write_file(d.file("conf.d/10-ssl.conf"), "ssl = on\nssl_cert_file = 'missing.crt'\n");
    write_file(d.file("conf.d/.hidden.conf"), "ssl = off\n");
    write_file(d.file("pg_hba.conf"), "local all all peer\n");
    auto r = check_pgdata(d.path());
    INFO(dump(r));
    // ssl is on (the hidden file is not read), so the files it names are looked for.
    CHECK(codes(r).count("file-missing") >= 2);  // missing.crt and server.key
    auto found = std::find_if(r.findings.begin(), r.findings.end(),
                              [&](const auto& f) { return f.object == d.file("missing.crt"); });
    CHECK(found != r.findings.end());

    // a.conf includes b.conf includes a.conf (through a link, too).
    write_file(d.file("postgresql.conf"), "include 'a.conf'\n");
    write_file(d.file("a.conf"), "include 'b.conf'\n");
    write_file(d.file("b.conf"), "include 'link.conf'\n");
    REQUIRE(::symlink(d.file("a.conf").c_str(), d.file("link.conf").c_str()) == 0);
    auto loop = check_pgdata(d.file("postgresql.conf"));
    INFO(dump(loop));
    CHECK(codes(loop).count("conf-include-loop") == 1);

    // Deeper than PostgreSQL's 10 levels.
    for (int i = 0; i < 12; ++i)
        write_file(d.file("n" + std::to_string(i) + ".conf"), "include 'n" + std::to_string(i + 1) + ".conf'\n");
    write_file(d.file("n12.conf"), "ssl = off\n");
    write_file(d.file("postgresql.conf"), "include 'n0.conf'\n");
    auto deep = check_pgdata(d.path());
    INFO(dump(deep));
    CHECK(codes(deep).count("conf-include-depth") == 1);
}

TEST_CASE("check: configuration lines PostgreSQL cannot parse", "[check]") {
    TempDir d;
    write_file(d.file("postgresql.conf"), "ssl = off\nport = 5432 5433\nshared_buffers = '128MB\n= 3\n");
    write_file(d.file("pg_hba.conf"), "local all all peer\n");
    auto r = check_pgdata(d.path());
    INFO(dump(r));
    CHECK(codes(r).count("conf-syntax") == 3);
}

TEST_CASE("check: usage errors name what is wrong", "[check]") {
    pgca::check::Options none;
    CHECK_THROWS_WITH(pgca::check::run(none), Catch::Matchers::Contains("give --dir, --pgdata or --connect"));
    pgca::check::Options server_alone;
    server_alone.server = "db1";
    server_alone.connect = "127.0.0.1:1";
    CHECK_THROWS_WITH(pgca::check::run(server_alone), Catch::Matchers::Contains("--server"));
    TempDir d;
    CHECK_THROWS_WITH(check_pgdata(d.path()), Catch::Matchers::Contains("no postgresql.conf"));
    try {
        (void)check_pgdata(d.file("nope"));
        FAIL("no error");
    } catch (const pgca::Error& e) {
        CHECK(e.kind() == pgca::ErrorKind::input);
    }
}
