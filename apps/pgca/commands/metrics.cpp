// pgca metrics --dir DIR [--out FILE]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/metrics.hpp"

namespace pgca::cli {

int run_metrics(int argc, char** argv) {
    cxxopts::Options options("pgca metrics",
                             "Print a PKI folder's expiry dates and counts in the Prometheus text format (for the node "
                             "exporter's textfile collector).");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("out", "write FILE atomically (e.g. /var/lib/prometheus/node-exporter/pgca.prom) instead of stdout",
         cxxopts::value<std::string>(), "FILE");
    auto r = parse(options, argc, argv);
    const std::string text = metrics::render(r["dir"].as<std::string>());
    if (r.count("out") == 0) {
        std::cout << text;
        return 0;
    }
    const std::string out = r["out"].as<std::string>();
    if (out.empty()) throw Error(ErrorKind::usage, "--out: empty file name");
    io::write_file_atomic(out, text, io::Layout::kPublicFile);
    return 0;
}

}  // namespace pgca::cli
