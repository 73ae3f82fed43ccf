#include "commands/common.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "pgca/error.hpp"

namespace pgca::cli {

cxxopts::ParseResult parse(cxxopts::Options& options, int argc, char** argv) {
    options.add_options("")("h,help", "show this help");
    try {
        auto result = options.parse(argc, argv);
        if (result.count("help") != 0) {
            std::cout << options.help() << "\n";
            throw HelpShown{};
        }
        if (!result.unmatched().empty())
            throw Error(ErrorKind::usage, std::string(argv[0]) + ": unexpected argument \"" + result.unmatched().front() +
                                              "\" (see `pgca " + argv[0] + " --help`)");
        return result;
    } catch (const cxxopts::exceptions::exception& e) {
        throw Error(ErrorKind::usage, std::string(argv[0]) + ": " + e.what() + " (see `pgca " + argv[0] + " --help`)");
    }
}

Progress progress_bar(const std::string& label) {
    if (::isatty(STDERR_FILENO) == 0) return {};
    struct State {
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        std::chrono::steady_clock::time_point last{};
        bool shown = false;
    };
    auto state = std::make_shared<State>();
    return [label, state](std::size_t done, std::size_t total) {
        auto now = std::chrono::steady_clock::now();
        bool finished = done >= total;
        if (!state->shown && now - state->start < std::chrono::milliseconds(500)) return;
        if (!finished && now - state->last < std::chrono::milliseconds(100)) return;
        state->shown = true;
        state->last = now;
        constexpr std::size_t width = 30;
        std::size_t filled = total == 0 ? width : done * width / total;
        std::fprintf(stderr, "\r%s [%s%s] %zu/%zu", label.c_str(), std::string(filled, '#').c_str(),
                     std::string(width - filled, ' ').c_str(), done, total);
        if (finished) std::fputc('\n', stderr);
        std::fflush(stderr);
    };
}

unsigned jobs_option(const cxxopts::ParseResult& r) {
    if (r.count("jobs") == 0) return 0;
    int j = r["jobs"].as<int>();
    if (j < 1 || j > 256) throw Error(ErrorKind::usage, "--jobs: must be between 1 and 256");
    return static_cast<unsigned>(j);
}

void add_lock_timeout_option(cxxopts::Options& options) {
    options.add_options()("lock-timeout", "seconds to wait for another pgca working on the folder (default 30)",
                          cxxopts::value<int>()->default_value("30"), "S");
}

void add_ledger_option(cxxopts::Options& options) {
    options.add_options()("ledger",
                          "the ledger: sqlite:PATH, postgresql://… or a libpq conninfo, no password (default: "
                          "the folder's, else $PGCA_LEDGER, else sqlite:DIR/pgca.db)",
                          cxxopts::value<std::string>(), "LEDGER");
}

std::string ledger_option(const cxxopts::ParseResult& r) {
    if (r.count("ledger") != 0) {
        std::string url = r["ledger"].as<std::string>();
        if (url.empty()) throw Error(ErrorKind::usage, "--ledger: empty");
        return url;
    }
    const char* env = std::getenv("PGCA_LEDGER");
    return env != nullptr ? env : "";
}

OpenOptions writer_open_options(const cxxopts::ParseResult& r, bool create) {
    OpenOptions o;
    o.create = create;
    o.ledger = ledger_option(r);
    o.dry_run = r.count("dry-run") != 0;
    o.lock_timeout_seconds = r["lock-timeout"].as<int>();
    if (o.lock_timeout_seconds < 0 || o.lock_timeout_seconds > 86400)
        throw Error(ErrorKind::usage, "--lock-timeout: must be between 0 and 86400 seconds");
    return o;
}

void add_dry_run_option(cxxopts::Options& options) {
    options.add_options()("dry-run", "print what would change, change nothing");
}

void print_dry_run(const std::vector<Action>& planned) {
    for (const auto& a : planned) std::cout << "would " << format_action(a) << "\n";
    std::cout << "dry run: nothing was changed\n";
}

OpenOptions reader_open_options() {
    OpenOptions o;
    o.read_only = true;
    return o;
}

void warn(const std::string& message) { std::cerr << "pgca: warning: " << message << "\n"; }

void add_reload_verify_options(cxxopts::Options& options) {
    options.add_options()
        ("reload", "shell command that makes PostgreSQL re-read its files, e.g. \"pg_ctlcluster 15 main reload\"",
         cxxopts::value<std::string>())
        ("verify", "probe HOST:PORT afterwards and fail unless it serves the new certificate",
         cxxopts::value<std::string>())
        ("verify-name", "host name to check in the served certificate (default: the --verify host)",
         cxxopts::value<std::string>())
        ("verify-timeout", "seconds the whole check may take, retries included, until the server serves the new certificate",
         cxxopts::value<int>()->default_value("15"));
}

int verify_timeout_option(const cxxopts::ParseResult& r) {
    const int seconds = r["verify-timeout"].as<int>();
    if (seconds < 1 || seconds > 3600) throw Error(ErrorKind::usage, "--verify-timeout: must be between 1 and 3600 seconds");
    return seconds;
}

KeyAlg key_option(const cxxopts::ParseResult& r, KeyAlg fallback) {
    if (r.count("key") == 0) return fallback;
    auto text = r["key"].as<std::string>();
    auto alg = parse_key_alg(text);
    if (!alg) throw Error(ErrorKind::usage, "--key: unknown algorithm \"" + text + "\" (known: " + key_alg_names() + ")");
    return *alg;
}

int days_option(const cxxopts::ParseResult& r, int fallback) {
    if (r.count("days") == 0) return fallback;
    int days = r["days"].as<int>();
    if (days < 1 || days > 36500) throw Error(ErrorKind::usage, "--days: must be between 1 and 36500");
    return days;
}

nlohmann::json to_json(const CertInfo& ci) {
    return {
        {"subject", ci.subject},
        {"issuer", ci.issuer},
        {"common_name", ci.common_name},
        {"serial", ci.serial_hex},
        {"not_before", format_time(ci.not_before)},
        {"not_after", format_time(ci.not_after)},
        {"dns_names", ci.dns_names},
        {"ip_addresses", ci.ip_addresses},
        {"extended_key_usage", ci.extended_key_usage},
        {"key_usage", ci.key_usage},
        {"is_ca", ci.is_ca},
        {"key_type", ci.key_type},
        {"signature_algorithm", ci.signature_algorithm},
        {"sha256_fingerprint", ci.sha256_fingerprint},
        {"subject_key_id", ci.subject_key_id},
        {"authority_key_id", ci.authority_key_id},
    };
}

nlohmann::json to_json(const Action& a) {
    return {{"action", a.verb}, {"kind", a.kind}, {"name", a.name}, {"detail", a.detail}};
}

std::string format_action(const Action& a) {
    std::string verb = a.verb;
    verb.resize(std::max<std::size_t>(verb.size(), 8), ' ');
    std::string what = a.kind == "file" ? a.name : a.kind + " " + a.name;
    return verb + " " + what + (a.detail.empty() ? "" : "  " + a.detail);
}

}  // namespace pgca::cli
