#include "pgca_server.hpp"

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pgca::test {
namespace {

// Whether `log` says more about a connection than that it was received.
bool tells_more_than_received(const std::string& log) {
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);)
        if (line.find("connection received:") == std::string::npos) return true;
    return false;
}

}  // namespace

std::string quote_ident(const std::string& name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

ProcessResult run_pgca(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PGCA_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

AppliedServer::AppliedServer(const std::string& profile_json, Cluster cluster) {
    dir_ = tmp_.path() + "/pki";
    applied_ = reapply(profile_json);
    if (applied_.exit_code != 0) throw std::runtime_error(describe({"pgca", "apply"}, applied_));
    if (cluster == Cluster::own) {
        own_ = std::make_unique<PgCluster>(tmp_.path() + "/pg");
        pg_ = own_.get();
    } else {
        pg_ = &PgCluster::shared();
    }
}

ProcessResult AppliedServer::reapply(const std::string& profile_json) {
    write_file(tmp_.path() + "/profile.json", profile_json);
    return run_pgca({"apply", tmp_.path() + "/profile.json", "--dir", dir_});
}

void AppliedServer::install_access_files() {
    pg_->set_hba(read_file(dir_ + "/pg_hba.conf"));
    pg_->set_ident(read_file(dir_ + "/pg_ident.conf"));
}

void AppliedServer::start(const std::string& server, const std::vector<std::string>& roles) {
    // The server reads its key as the postgres user; pgca keeps that owner on later rewrites.
    PgCluster::chown_to_postgres(dir_ + "/servers/" + server);
    pg_->set_case_conf("include '" + dir_ + "/servers/" + server + "/postgresql.ssl.conf'\n");
    install_access_files();
    if (pg_->running())
        pg_->reload();
    else
        pg_->start();
    std::string sql;
    for (const auto& r : roles) sql += "CREATE ROLE " + quote_ident(r) + " LOGIN;";
    if (!sql.empty()) pg_->psql_admin_checked(sql);
}

ProcessResult AppliedServer::connect(const std::string& service, const std::string& user, const std::string& extra,
                                     const std::string& bundle, const EnvList& env) {
    std::string folder = bundle.empty() ? dir_ + "/clients/" + user
                         : bundle.front() == '/' ? bundle
                                                 : dir_ + "/clients/" + bundle;
    EnvList e = env;
    e.emplace_back("PGSERVICEFILE", folder + "/pg_service.conf");
    // An empty `user` leaves the role to the service file (which spells awkward names as they are).
    std::string conninfo = "service=" + service + " hostaddr=127.0.0.1 port=" + std::to_string(pg_->port()) +
                           (user.empty() ? std::string() : " user=" + user) + " dbname=postgres " + extra;
    return pg_->psql(conninfo, "select current_user", e);
}

AppliedServer::Attempt AppliedServer::attempt(const std::string& service, const std::string& user,
                                              const std::string& extra, const std::string& bundle,
                                              const EnvList& env) {
    std::size_t offset = pg_->log_size();
    Attempt a{connect(service, user, extra, bundle, env), ""};
    a.server_log = pg_->log_since(offset);
    // The server may log why it refused after the client has gone (seen under load): wait, at
    // most 5 s, for a line beyond "connection received".
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (a.client.exit_code != 0 && !tells_more_than_received(a.server_log) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        a.server_log = pg_->log_since(offset);
    }
    return a;
}

}  // namespace pgca::test
