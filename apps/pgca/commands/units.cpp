// pgca units --dir DIR --out FOLDER [--reload CMD] [--verify HOST:PORT] [--within DAYS] [--on-calendar WHEN]
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/probe.hpp"
#include "pgca/units.hpp"

namespace pgca::cli {
namespace {

// The binary running now: what the units will run.
std::string own_binary() {
    std::string path(4096, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= path.size())
        throw Error(ErrorKind::io, std::string("units: cannot tell where pgca is (/proc/self/exe): ") + std::strerror(errno));
    path.resize(static_cast<std::size_t>(n));
    return path;
}

}  // namespace

int run_units(int argc, char** argv) {
    cxxopts::Options options("pgca units",
                             "Write a systemd service and timer that renew what is due in DIR (rotate with reload and "
                             "verify, then fresh CRLs); a failure fails the unit.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("out", "folder to write pgca-renew.service and pgca-renew.timer into (e.g. /etc/systemd/system)",
         cxxopts::value<std::string>(), "FOLDER")
        ("reload", "shell command that reloads the servers", cxxopts::value<std::string>(), "CMD")
        ("verify", "HOST:PORT to check after a rotation (rotate --verify)", cxxopts::value<std::string>(), "HOST:PORT")
        ("within", "renew what expires within DAYS (default: the folder's renew_before_days)", cxxopts::value<int>(),
         "DAYS")
        ("on-calendar", "when the timer fires (systemd.time(7))", cxxopts::value<std::string>()->default_value("daily"),
         "WHEN");
    auto r = parse(options, argc, argv);
    if (r.count("out") == 0 || r["out"].as<std::string>().empty()) throw Error(ErrorKind::usage, "units: --out FOLDER is required");
    units::Options o;
    o.pgca = own_binary();
    o.dir = io::absolute(r["dir"].as<std::string>());
    if (!io::exists(io::Layout(o.dir).ledger()))
        throw Error(ErrorKind::input, "units: " + o.dir + " is not a pgca folder (no pgca.db)");
    if (r.count("reload") != 0) o.reload = r["reload"].as<std::string>();
    if (r.count("verify") != 0) {
        o.verify = r["verify"].as<std::string>();
        std::string host;
        int port = 0;
        parse_host_port(o.verify, host, port);
    }
    if (r.count("within") != 0) {
        o.within = r["within"].as<int>();
        if (*o.within < 0 || *o.within > 3650) throw Error(ErrorKind::usage, "--within: must be between 0 and 3650");
    }
    o.on_calendar = r["on-calendar"].as<std::string>();
    const std::string out = r["out"].as<std::string>();
    const auto files = units::render(o);
    io::ensure_dir(out, io::Layout::kPublicDir);
    for (const auto& u : files) {
        io::write_file_atomic(out + "/" + u.name, u.text, io::Layout::kPublicFile);
        std::cout << "wrote " << out << "/" << u.name << "\n";
    }
    std::cout << "enable with: systemctl daemon-reload && systemctl enable --now pgca-renew.timer\n";
    return 0;
}

}  // namespace pgca::cli
