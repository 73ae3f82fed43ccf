// Shared pieces of the pgca commands: the command table entry, option parsing, and output.
#pragma once

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "pgca/pki.hpp"

namespace pgca::cli {

/// One entry of the static command table in main.cpp.
struct Command {
    const char* name;
    const char* summary;
    int (*run)(int argc, char** argv);  ///< argv[0] is the command name
};

int run_init(int argc, char** argv);
int run_issue(int argc, char** argv);
int run_apply(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_list(int argc, char** argv);
int run_probe(int argc, char** argv);
int run_revoke(int argc, char** argv);
int run_crl(int argc, char** argv);
int run_rotate(int argc, char** argv);
int run_rollover(int argc, char** argv);
int run_ledger(int argc, char** argv);
int run_check(int argc, char** argv);
int run_metrics(int argc, char** argv);
int run_units(int argc, char** argv);
int run_connect(int argc, char** argv);

/// Thrown after --help was printed; main exits 0.
struct HelpShown {};

/// Parses argv with `options`, adding --help. Turns cxxopts errors into Error(usage) and
/// unexpected positional arguments into a usage error naming them.
cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv);

/// A progress bar on stderr for long work: drawn only when stderr is a terminal and the work
/// has taken more than half a second; a no-op otherwise (scripts and CI logs stay clean).
Progress progress_bar(const std::string& label);

/// The -j/--jobs value: threads to use (0 = the number of cores).
unsigned jobs_option(const cxxopts::ParseResult& r);

/// Adds --lock-timeout (every command that writes to a folder has it).
void add_lock_timeout_option(cxxopts::Options& options);
/// Adds --reload, --verify, --verify-name and --verify-timeout (rotate, rollover reissue/finish).
void add_reload_verify_options(cxxopts::Options& options);
/// The --verify-timeout value: seconds, or a usage error when out of 1..3600.
int verify_timeout_option(const cxxopts::ParseResult& r);
/// Adds --ledger (every command that opens a folder has it).
void add_ledger_option(cxxopts::Options& options);
/// The --ledger value, else $PGCA_LEDGER, else "" (the folder's own; see OpenOptions::ledger).
std::string ledger_option(const cxxopts::ParseResult& r);
/// Adds --dry-run (every command that writes to a folder has it).
void add_dry_run_option(cxxopts::Options& options);
/// How a writing command opens its folder: --lock-timeout seconds at most for another pgca's
/// lock (a usage error when out of range), creating the folder when `create` is set; with
/// --dry-run, planning only (OpenOptions::dry_run).
OpenOptions writer_open_options(const cxxopts::ParseResult& r, bool create = false);
/// What a dry run prints: "would " and each planned action, one a line.
void print_dry_run(const std::vector<Action>& planned);
/// How a command that only reads opens its folder: no lock, no change.
OpenOptions reader_open_options();

/// `pgca: warning: …` on stderr.
void warn(const std::string& message);

/// The --key value (default `fallback`), or a usage error listing the algorithms.
KeyAlg key_option(const cxxopts::ParseResult& r, KeyAlg fallback);
/// The --days value, or a usage error.
int days_option(const cxxopts::ParseResult& r, int fallback);

nlohmann::json to_json(const CertInfo& info);
nlohmann::json to_json(const Action& action);
/// A human line for an action: "issue    client alice  serial 5F… (new)".
std::string format_action(const Action& action);

}  // namespace pgca::cli
