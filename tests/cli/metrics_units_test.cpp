// pgca metrics (checked by Prometheus's promtool and by value) and pgca units (checked by
// systemd-analyze verify, with paths and commands that need systemd's quoting).
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "pgca/certificate.hpp"
#include "pgca/metrics.hpp"
#include "pgca/units.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

// A role name with a quote and a backslash: PostgreSQL roles can hold both.
const std::string kOdd = "o\"dd\\role";

std::string apply(TempDir& tmp) {
    json p = {
        {"pgca_profile", 1},
        {"name", "metrics"},
        {"ca", {{"subject", {{"CN", "Metrics Root"}}}, {"intermediate", {{"subject", {{"CN", "Metrics Issuing"}}}}}}},
        {"servers", json::array({{{"name", "db1"}, {"hosts", {"localhost"}}}})},
        {"clients", json::array({{{"user", "alice"}}, {{"user", "bob"}}, {{"user", kOdd}}})},
    };
    write_file(tmp.file("p.json"), p.dump());
    auto r = pgca_run({"apply", tmp.file("p.json"), "--dir", tmp.file("pki")});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return tmp.file("pki");
}

// "name{labels} value" lines by their name and labels.
std::map<std::string, std::string> samples(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line.front() == '#') continue;
        auto space = line.rfind(' ');
        out[line.substr(0, space)] = line.substr(space + 1);
    }
    return out;
}

}  // namespace

TEST_CASE("metrics: label values are escaped as the exposition format says", "[metrics]") {
    CHECK(pgca::metrics::escape_label("plain") == "plain");
    CHECK(pgca::metrics::escape_label("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}

TEST_CASE("metrics: expiry, CRL and status gauges, written atomically, accepted by promtool", "[metrics]") {
    TempDir tmp;
    const std::string dir = apply(tmp);
    REQUIRE(pgca_run({"revoke", "--dir", dir, "--user", "bob"}).exit_code == 0);
    auto r = pgca_run({"metrics", "--dir", dir, "--out", tmp.file("pgca.prom")});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::string text = read_file(tmp.file("pgca.prom"));
    struct stat st {};
    REQUIRE(::stat(tmp.file("pgca.prom").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);

    auto s = samples(text);
    auto alice = pgca::Certificate::from_pem(read_file(dir + "/clients/alice/postgresql.crt"), "alice");
    const std::string issuer = alice.info().issuer;
    const std::string key = "pgca_certificate_expiry_timestamp_seconds{kind=\"client\",name=\"alice\",serial=\"" +
                            alice.serial_hex() + "\",issuer=\"" + issuer + "\"}";
    INFO(text);
    REQUIRE(s.count(key) == 1);
    CHECK(s[key] == std::to_string(alice.not_after()));
    auto odd = pgca::Certificate::from_pem(read_file(dir + "/clients/" + kOdd + "/postgresql.crt"), "odd");
    CHECK(s.count("pgca_certificate_expiry_timestamp_seconds{kind=\"client\",name=\"o\\\"dd\\\\role\",serial=\"" +
                  odd.serial_hex() + "\",issuer=\"" + issuer + "\"}") == 1);
    // bob is revoked: counted, not exported as a certificate to renew.
    CHECK(text.find("name=\"bob\"") == std::string::npos);
    CHECK(s["pgca_certificates{status=\"revoked\"}"] == "1");
    CHECK(s["pgca_certificates{status=\"valid\"}"] == "5");  // root, intermediate, db1, alice, the odd role
    CHECK(s["pgca_certificates{status=\"expired\"}"] == "0");
    CHECK(s.count("pgca_crl_next_update_timestamp_seconds{ca=\"root\"}") == 1);
    CHECK(s.count("pgca_crl_next_update_timestamp_seconds{ca=\"intermediate\"}") == 1);
    CHECK(s["pgca_crl_revoked{ca=\"intermediate\"}"] == "1");

    // Without --out: the same text on stdout (bar the generation time).
    auto out = pgca_run({"metrics", "--dir", dir});
    REQUIRE(out.exit_code == 0);
    CHECK(samples(out.out).size() == s.size());

    PGCA_REQUIRE_TOOL(on_path("promtool"), "promtool (Debian's prometheus package)");
    auto p = run({"promtool", "check", "metrics"}, {}, text);
    INFO(p.out << p.err);
    CHECK(p.exit_code == 0);
    // promtool does find a broken exposition (the check can fail).
    auto broken = run({"promtool", "check", "metrics"}, {}, "pgca_x{name=\"a\"b\"} 1\n");
    CHECK(broken.exit_code != 0);
}

TEST_CASE("metrics: a folder that is not a pgca folder is an input error", "[metrics]") {
    TempDir tmp;
    auto r = pgca_run({"metrics", "--dir", tmp.file("none")});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Matchers::StartsWith("pgca: error: "));
}

TEST_CASE("units: ExecStart arguments are quoted so systemd reads them back unchanged", "[units]") {
    CHECK(pgca::units::exec_arg("plain") == "\"plain\"");
    CHECK(pgca::units::exec_arg("a b") == "\"a b\"");
    CHECK(pgca::units::exec_arg("100% \"q\" \\ $HOME") == "\"100%% \\\"q\\\" \\\\ $$HOME\"");
    CHECK_THROWS_WITH(pgca::units::exec_arg("a\nb"), Catch::Matchers::Contains("control character"));
}

TEST_CASE("units: a service and a timer that systemd-analyze verify accepts, with awkward paths and commands", "[units]") {
    TempDir tmp;
    const std::string dir = apply(tmp);
    // The binary in a folder whose name needs quoting and % escaping: systemd checks that the
    // ExecStart= executable exists, so a wrong unquoting fails the verify.
    const std::string bin_dir = tmp.file("bin 100% x");
    REQUIRE(::mkdir(bin_dir.c_str(), 0755) == 0);
    write_file(bin_dir + "/pgca", read_file(PGCA_BIN), 0755);
    const std::string reload = "psql -c 'SELECT pg_reload_conf()' \"quoted\" 50% \\ $PGHOST";
    auto r = run({bin_dir + "/pgca", "units", "--dir", dir, "--out", tmp.file("units"), "--reload", reload, "--verify",
                  "db1.example.com:5432"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const std::string service = read_file(tmp.file("units/pgca-renew.service"));
    const std::string timer = read_file(tmp.file("units/pgca-renew.timer"));
    INFO(service << timer);
    CHECK_THAT(service, Catch::Matchers::Contains("ExecStart=\"" + tmp.file("bin 100%% x") + "/pgca\" \"rotate\" \"--dir\" \"" +
                                                  dir + "\" \"--reload\" \"psql -c 'SELECT pg_reload_conf()' \\\"quoted\\\" "
                                                  "50%% \\\\ $$PGHOST\" \"--verify\" \"db1.example.com:5432\"\n"));
    CHECK_THAT(service, Catch::Matchers::Contains("\" \"crl\" \"--dir\" \"" + dir + "\"\n"));
    CHECK_THAT(service, Catch::Matchers::Contains("Type=oneshot\n"));
    CHECK_THAT(timer, Catch::Matchers::Contains("OnCalendar=daily\n"));
    CHECK_THAT(timer, Catch::Matchers::Contains("Persistent=true\n"));

    PGCA_REQUIRE_TOOL(on_path("systemd-analyze"), "systemd-analyze (Debian's systemd package)");
    auto v = run({"systemd-analyze", "verify", tmp.file("units/pgca-renew.service"), tmp.file("units/pgca-renew.timer")});
    INFO(v.out << v.err);
    CHECK(v.exit_code == 0);
    CHECK(v.err.find("pgca-renew") == std::string::npos);  // no complaint about our units
    // The same path unquoted is not found: the verify would catch a quoting mistake.
    std::string wrong = service;
    const std::string quoted_bin = "\"" + tmp.file("bin 100%% x") + "/pgca\"";
    wrong.replace(wrong.find(quoted_bin), quoted_bin.size(), tmp.file("bin 100% x") + "/pgca");
    write_file(tmp.file("units/pgca-renew.service"), wrong);
    auto bad = run({"systemd-analyze", "verify", tmp.file("units/pgca-renew.service")});
    CHECK(bad.exit_code != 0);
}

TEST_CASE("units: usage errors", "[units]") {
    TempDir tmp;
    auto no_out = pgca_run({"units", "--dir", tmp.path()});
    CHECK(no_out.exit_code == 2);
    CHECK_THAT(no_out.err, Catch::Matchers::Contains("--out FOLDER is required"));
    auto not_pki = pgca_run({"units", "--dir", tmp.path(), "--out", tmp.file("u")});
    CHECK(not_pki.exit_code == 2);
    CHECK_THAT(not_pki.err, Catch::Matchers::Contains("is not a pgca folder"));
    const std::string dir = apply(tmp);
    auto newline = pgca_run({"units", "--dir", dir, "--out", tmp.file("u"), "--reload", "a\nb"});
    CHECK(newline.exit_code == 2);
    CHECK_THAT(newline.err, Catch::Matchers::Contains("control character"));
    struct stat st {};
    CHECK(::stat(tmp.file("u").c_str(), &st) != 0);  // nothing written
}
