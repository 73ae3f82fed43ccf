// pgca — a certificate-authority toolkit for PostgreSQL. The command table lives here; each
// command is one file under commands/ that parses its options, calls the library and prints.
#include <array>
#include <cstring>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/version.hpp"

namespace {

using pgca::cli::Command;

constexpr std::array<Command, 15> kCommands{{
    {"apply", "make a PKI folder match a profile (CA, certificates, pg_hba, pg_ident, ssl include, clients)",
     pgca::cli::run_apply},
    {"init", "create a root CA (and optionally an intermediate) in a folder", pgca::cli::run_init},
    {"issue", "issue a server or client certificate (`issue server`, `issue client`)", pgca::cli::run_issue},
    {"revoke", "revoke certificates (--serial, --user, --server) and refresh the CRLs", pgca::cli::run_revoke},
    {"crl", "make fresh CRLs for every CA and copy them to every server folder", pgca::cli::run_crl},
    {"rotate", "renew server certificates, reload, and verify what the live server serves", pgca::cli::run_rotate},
    {"rollover", "replace the root CA in phases without an outage (`rollover begin|reissue|finish|status`)",
     pgca::cli::run_rollover},
    {"list", "list the certificates a folder has issued", pgca::cli::run_list},
    {"inspect", "show what a PEM certificate says, the way PostgreSQL reads it", pgca::cli::run_inspect},
    {"ledger", "rebuild a lost ledger from the folder's certificates and CRLs (`ledger rebuild`)",
     pgca::cli::run_ledger},
    {"probe", "connect to a PostgreSQL server and report (and check) the certificate it serves", pgca::cli::run_probe},
    {"check", "find what PostgreSQL or libpq will refuse in a pgca folder, a PGDATA or a live server",
     pgca::cli::run_check},
    {"metrics", "print expiry dates and counts in the Prometheus text format", pgca::cli::run_metrics},
    {"units", "write a systemd service and timer that renew what is due", pgca::cli::run_units},
    {"connect", "print the line a driver (libpq, jdbc, psycopg, asyncpg, node, pgx, npgsql) needs to connect",
     pgca::cli::run_connect},
}};

void print_usage(std::ostream& out) {
    out << "usage: pgca COMMAND [OPTIONS]\n\n"
           "A certificate authority for PostgreSQL: server and client certificates, pg_hba.conf,\n"
           "pg_ident.conf, ssl settings and client files from one JSON profile.\n\ncommands:\n";
    for (const auto& c : kCommands) {
        std::string name = c.name;
        name.resize(10, ' ');
        out << "  " << name << c.summary << "\n";
    }
    out << "\n`pgca COMMAND --help` shows a command's options. `pgca --version` prints the version.\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(std::cerr);
        return 2;
    }
    std::string first = argv[1];
    if (first == "--version" || first == "version") {
        std::cout << "pgca " << pgca::kVersionString << "\n";
        return 0;
    }
    if (first == "-h" || first == "--help" || first == "help") {
        print_usage(std::cout);
        return 0;
    }
    for (const auto& c : kCommands) {
        if (first != c.name) continue;
        try {
            return c.run(argc - 1, argv + 1);
        } catch (const pgca::cli::HelpShown&) {
            return 0;
        } catch (const pgca::Error& e) {
            std::cerr << "pgca: error: " << e.what() << "\n";
            return pgca::exit_code_for(e.kind());
        } catch (const std::exception& e) {
            std::cerr << "pgca: error: " << e.what() << "\n";
            return 1;
        }
    }
    std::cerr << "pgca: error: unknown command \"" << first << "\"\n\n";
    print_usage(std::cerr);
    return 2;
}
