// pgca-matrix: 15
// A root CA rollover on a real PostgreSQL: at every phase boundary, every server and client whose
// files pgca wrote in the previous or the current phase connect to each other with verify-full;
// after finish a certificate of the old CA is refused; a session opened before begin survives.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <unistd.h>

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kRoles{"alice", "bob"};

json profile(bool intermediate) {
    json p = {
        {"pgca_profile", 1},
        {"name", "roll"},
        {"ca", {{"subject", {{"CN", "Roll Root"}, {"O", "pgca tests"}}}}},
        {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}, {"crl", "file"}}})},
        {"clients", json::array({{{"user", "alice"}}, {{"user", "bob"}}})},
        {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", "all"},
                              {"address", "127.0.0.1/32"}, {"method", "cert"}}})},
    };
    if (intermediate) p["ca"]["intermediate"] = {{"subject", {{"CN", "Roll Issuing"}}}};
    return p;
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) { write_file(to, read_file(from), mode); }

// The server's and each client's files as pgca wrote them in one phase, copied aside.
std::string snapshot(AppliedServer& s, int phase) {
    const std::string base = s.tmp() + "/phase" + std::to_string(phase);
    std::filesystem::create_directories(base + "/db");
    for (const char* f : {"server.crt", "root.crt", "root.crl"})
        copy_file(s.dir() + "/servers/db/" + f, base + "/db/" + f, 0644);
    copy_file(s.dir() + "/servers/db/server.key", base + "/db/server.key", 0600);
    PgCluster::chown_to_postgres(base + "/db");
    for (const auto& u : kRoles) {
        std::filesystem::create_directories(base + "/" + u);
        for (const char* f : {"postgresql.crt", "root.crt"})
            copy_file(s.dir() + "/clients/" + u + "/" + f, base + "/" + u + "/" + f, 0644);
        copy_file(s.dir() + "/clients/" + u + "/postgresql.key", base + "/" + u + "/postgresql.key", 0600);
    }
    return base;
}

// The server now uses the files of `snap` (ssl_* settings reload without a restart).
void install_server(AppliedServer& s, const std::string& snap) {
    s.pg().set_case_conf("ssl = on\nssl_cert_file = '" + snap + "/db/server.crt'\nssl_key_file = '" + snap +
                         "/db/server.key'\nssl_ca_file = '" + snap + "/db/root.crt'\nssl_crl_file = '" + snap +
                         "/db/root.crl'\n");
    s.pg().reload();
}

std::string conninfo(AppliedServer& s, const std::string& snap, const std::string& user) {
    const std::string c = snap + "/" + user;
    return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(s.pg().port()) + " dbname=postgres user=" +
           user + " sslmode=verify-full sslrootcert=" + c + "/root.crt sslcert=" + c + "/postgresql.crt sslkey=" + c +
           "/postgresql.key";
}

void require_connects(AppliedServer& s, const std::string& server_snap, const std::string& client_snap) {
    for (const auto& u : kRoles) {
        auto r = s.pg().psql(conninfo(s, client_snap, u), "select current_user");
        INFO("server files " << server_snap << ", client " << u << " files " << client_snap << ": " << r.err);
        CHECK(r.exit_code == 0);
        CHECK(trim(r.out) == u);
    }
}

void require_session(PGconn* session) {
    std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(session, "select 7"), &PQclear);
    INFO(PQerrorMessage(session));
    REQUIRE(PQresultStatus(res.get()) == PGRES_TUPLES_OK);
    CHECK(std::string(PQgetvalue(res.get(), 0, 0)) == "7");
}

ProcessResult pgca_ok(const std::vector<std::string>& args) {
    auto r = run_pgca(args);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return r;
}

// The whole rollover, a root one or (`intermediate`) a new intermediate under the same root.
void roll_over(bool intermediate) {
    AppliedServer s(profile(intermediate).dump());
    s.start("db", kRoles);
    std::vector<std::string> snaps{snapshot(s, 0)};
    install_server(s, snaps[0]);
    require_connects(s, snaps[0], snaps[0]);

    // A session opened before begin, with the first phase's files.
    std::unique_ptr<PGconn, decltype(&PQfinish)> session(PQconnectdb(conninfo(s, snaps[0], "alice").c_str()),
                                                         &PQfinish);
    REQUIRE(PQstatus(session.get()) == CONNECTION_OK);
    const int postmaster = s.pg().postmaster_pid();

    std::vector<std::string> begin{"rollover", "begin", "--dir", s.dir()};
    if (intermediate) begin.push_back("--intermediate");
    pgca_ok(begin);
    snaps.push_back(snapshot(s, 1));
    pgca_ok({"rollover", "reissue", "--dir", s.dir(), "--reload", "true"});
    snaps.push_back(snapshot(s, 2));
    // --verify: the server with this phase's files serves the new certificate (the chain checked
    // against the new root once a root rollover reissued).
    const std::string target = "127.0.0.1:" + std::to_string(s.pg().port());
    auto stale = run_pgca({"rollover", "reissue", "--dir", s.dir(), "--verify", target, "--verify-name", "localhost",
                           "--verify-timeout", "1"});  // still the old phase's files
    CHECK(stale.exit_code != 0);
    CHECK_THAT(stale.err, Catch::Contains("still serves serial"));
    install_server(s, snaps[2]);
    auto verified = pgca_ok({"rollover", "reissue", "--dir", s.dir(), "--verify", target, "--verify-name", "localhost"});
    CHECK_THAT(verified.out, Catch::Contains("verified " + target + " serves serial"));
    pgca_ok({"rollover", "finish", "--dir", s.dir()});
    snaps.push_back(snapshot(s, 3));
    install_server(s, snaps[3]);
    verified = pgca_ok({"rollover", "finish", "--dir", s.dir(), "--verify", target, "--verify-name", "localhost"});
    CHECK_THAT(verified.out, Catch::Contains("verified " + target + " serves serial"));

    // Server files of phase P with client files of phases P-1 and P, and the reverse.
    for (std::size_t p = 1; p < snaps.size(); ++p) {
        install_server(s, snaps[p]);
        require_connects(s, snaps[p], snaps[p]);
        require_connects(s, snaps[p], snaps[p - 1]);  // an old client, a new server
        install_server(s, snaps[p - 1]);
        require_connects(s, snaps[p - 1], snaps[p]);  // a new client, an old server
        require_session(session.get());
    }

    // After finish: a client certificate of the old CA is refused, with the server saying why: the
    // new root does not know it; an old intermediate's leaf has no CRL of its issuer any more
    // (PostgreSQL checks one for every CA of the chain; the root's CRL also revokes it).
    install_server(s, snaps[3]);
    const std::size_t offset = s.pg().log_size();
    // The new root in the old client's trust file, so that only its certificate is in question.
    write_file(snaps[0] + "/alice/root.crt", read_file(snaps[1] + "/alice/root.crt"), 0644);
    auto refused = s.pg().psql(conninfo(s, snaps[0], "alice"), "select 1");
    CHECK(refused.exit_code != 0);
    std::string log;
    for (int i = 0; i < 100 && log.find("certificate") == std::string::npos; ++i) {
        log = s.pg().log_since(offset);
        if (log.find("certificate") == std::string::npos) usleep(50 * 1000);
    }
    INFO(refused.err << "\nserver log:\n" << log);
    CHECK_THAT(log, Catch::Contains("certificate verify failed"));
    CHECK_THAT(refused.err, Catch::Contains("unknown ca"));

    // The session opened before begin still answers; no restart happened.
    require_session(session.get());
    CHECK(s.pg().postmaster_pid() == postmaster);
}

}  // namespace

TEST_CASE("root rollover: old and new files connect across every phase boundary and the old CA is refused after finish",
          "[pg][rollover]") {
    PGCA_REQUIRE_POSTGRES();
    roll_over(false);
}

TEST_CASE("intermediate rollover: old and new files connect across every phase boundary and the old intermediate is refused after finish",
          "[pg][rollover]") {
    PGCA_REQUIRE_POSTGRES();
    roll_over(true);
}
