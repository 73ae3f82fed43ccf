// pgca check [--dir DIR] [--pgdata PATH] [--server NAME] [--connect HOST:PORT] [--json]
#include <cstdlib>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/check.hpp"
#include "pgca/error.hpp"

namespace pgca::cli {

int run_check(int argc, char** argv) {
    cxxopts::Options options("pgca check",
                             "Check a deployment for what PostgreSQL or libpq will refuse: a pgca folder, any "
                             "PGDATA (postgresql.conf and its includes), and the live server.");
    options.add_options()
        ("dir", "pgca folder to check", cxxopts::value<std::string>(), "DIR")
        ("pgdata", "a PGDATA folder or a postgresql.conf to check", cxxopts::value<std::string>(), "PATH")
        ("server", "only this server of DIR", cxxopts::value<std::string>(), "NAME")
        ("connect", "the live server: TLS handshake, and (with PGSERVICE or PGUSER set) pg_file_settings and "
                    "pg_hba_file_rules through a libpq login", cxxopts::value<std::string>(), "HOST:PORT")
        ("expiring", "certificates ending within DAYS are warnings", cxxopts::value<int>()->default_value("30"), "DAYS")
        ("timeout", "seconds the probe and the login may take each", cxxopts::value<int>()->default_value("10"), "S")
        ("json", "print the findings as JSON");
    auto r = parse(options, argc, argv);
    check::Options o;
    auto text = [&](const char* name) {
        if (r.count(name) == 0) return std::string();
        std::string v = r[name].as<std::string>();
        if (v.empty()) throw Error(ErrorKind::usage, std::string("--") + name + ": must not be empty");
        return v;
    };
    o.dir = text("dir");
    o.pgdata = text("pgdata");
    o.server = text("server");
    o.connect = text("connect");
    o.expiring_days = r["expiring"].as<int>();
    if (o.expiring_days < 0 || o.expiring_days > 3650) throw Error(ErrorKind::usage, "--expiring: must be between 0 and 3650");
    const int timeout = r["timeout"].as<int>();
    if (timeout < 1 || timeout > 3600) throw Error(ErrorKind::usage, "--timeout: must be between 1 and 3600 seconds");
    o.timeout_ms = timeout * 1000;
    o.login = !o.connect.empty() && (std::getenv("PGSERVICE") != nullptr || std::getenv("PGUSER") != nullptr);

    const check::Result result = check::run(o);
    std::size_t errors = 0;
    for (const auto& f : result.findings) errors += f.severity == check::Severity::error ? 1 : 0;
    if (r.count("json") != 0) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& f : result.findings)
            out.push_back({{"code", f.code}, {"severity", check::to_string(f.severity)}, {"object", f.object},
                           {"message", f.message}, {"fix", f.fix}});
        std::cout << out.dump(2) << "\n";
    } else {
        for (const auto& f : result.findings)
            std::cout << check::to_string(f.severity) << ": " << f.code << ": " << f.object << ": " << f.message
                      << "\n    fix: " << f.fix << "\n";
        std::cout << errors << " errors, " << result.findings.size() - errors << " warnings (" << result.servers
                  << " servers, " << result.clients << " client bundles checked)\n";
    }
    return errors == 0 ? 0 : 1;
}

}  // namespace pgca::cli
