// pgca connect --dir DIR --user ROLE [--server NAME | --pooler NAME] [--driver D] [--json]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/connect.hpp"
#include "pgca/error.hpp"

namespace pgca::cli {

int run_connect(int argc, char** argv) {
    cxxopts::Options options("pgca connect",
                             "Print the one line a driver needs to connect with a client bundle (over TLS, with its "
                             "certificate): a conninfo, URL or connection string.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("user", "the role (its bundle is DIR/clients/ROLE)", cxxopts::value<std::string>())
        ("server", "a server of the applied profile (default: the first)", cxxopts::value<std::string>())
        ("pooler", "connect through this pooler of the applied profile", cxxopts::value<std::string>())
        ("driver", "one of " + driver_names(), cxxopts::value<std::string>()->default_value("libpq"))
        ("json", "print JSON");
    auto r = parse(options, argc, argv);
    if (r.count("user") == 0) throw Error(ErrorKind::usage, "connect: --user ROLE is required");
    if (r.count("server") != 0 && r.count("pooler") != 0)
        throw Error(ErrorKind::usage, "connect: give --server or --pooler, not both");
    ops::ConnectOptions opts;
    opts.user = r["user"].as<std::string>();
    validate_role_name(opts.user, "--user");
    if (r.count("server") != 0) opts.server = r["server"].as<std::string>();
    if (r.count("pooler") != 0) opts.pooler = r["pooler"].as<std::string>();
    const std::string driver = r["driver"].as<std::string>();
    auto d = parse_driver(driver);
    if (!d) throw Error(ErrorKind::usage, "connect: unknown --driver \"" + driver + "\" (known: " + driver_names() + ")");
    opts.driver = *d;
    const ops::ConnectResult c = ops::connect(r["dir"].as<std::string>(), opts);
    for (const auto& w : c.line.warnings) warn(w);
    if (r.count("json") != 0) {
        nlohmann::json out = {{"driver", to_string(opts.driver)},
                              {"line", c.line.line},
                              {"user", opts.user},
                              {"dbname", c.dbname},
                              {"endpoint", {{"kind", c.endpoint.kind},
                                            {"name", c.endpoint.name},
                                            {"host", c.endpoint.hosts.front()},
                                            {"port", c.endpoint.port}}},
                              {"warnings", c.line.warnings}};
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << c.line.line << "\n";
    return 0;
}

}  // namespace pgca::cli
