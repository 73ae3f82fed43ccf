// Test support: a pgca PKI applied from a profile and installed into a real PostgreSQL 15.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pg_cluster.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace pgca::test {

/// An SQL identifier in double quotes (for CREATE ROLE with awkward names).
std::string quote_ident(const std::string& name);

/// Runs the pgca binary; `args` excludes the program name.
ProcessResult run_pgca(const std::vector<std::string>& args);

/// A folder made by `pgca apply` and a PostgreSQL 15 that uses one of its servers' files:
/// the emitted postgresql.ssl.conf is included, pg_hba.conf and pg_ident.conf installed.
class AppliedServer {
public:
    /// The process's shared server (PgCluster::shared(), reset), or a cluster of the case's own.
    enum class Cluster { shared, own };

    /// Applies `profile_json` (throws with pgca's output if that fails), then takes the shared
    /// server or initdb's a cluster of its own.
    explicit AppliedServer(const std::string& profile_json, Cluster cluster = Cluster::shared);

    /// Re-applies a changed profile; returns pgca's result (does not throw on failure).
    ProcessResult reapply(const std::string& profile_json);
    /// Starts PostgreSQL (or reloads the shared one) with server `server`'s files and creates
    /// LOGIN roles `roles`.
    void start(const std::string& server, const std::vector<std::string>& roles);
    /// Copies the current pg_hba.conf / pg_ident.conf to the cluster (before a reload).
    void install_access_files();

    PgCluster& pg() { return *pg_; }
    const std::string& dir() const { return dir_; }
    const std::string& tmp() const { return tmp_.path(); }
    /// pgca apply's stdout and stderr of the first apply.
    const ProcessResult& applied() const { return applied_; }

    /// psql as `user` through clients/`bundle`/pg_service.conf (bundle defaults to user), section
    /// `service`, pinned to 127.0.0.1 and the cluster's port, plus `extra` conninfo keywords.
    /// An empty `user` takes the role from the service file.
    /// `bundle` may also be an absolute folder holding pg_service.conf.
    ProcessResult connect(const std::string& service, const std::string& user, const std::string& extra = "",
                          const std::string& bundle = "", const EnvList& env = {});

    struct Attempt {
        ProcessResult client;
        std::string server_log;  ///< what the server logged during the attempt
    };
    /// connect(), also capturing the server log of the attempt.
    Attempt attempt(const std::string& service, const std::string& user, const std::string& extra = "",
                    const std::string& bundle = "", const EnvList& env = {});

private:
    TempDir tmp_;
    std::string dir_;
    ProcessResult applied_;
    std::unique_ptr<PgCluster> own_;
    PgCluster* pg_ = nullptr;
};

}  // namespace pgca::test
