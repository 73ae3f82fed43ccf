// Test support: the probe tests' shared pieces (options, errors, free ports, the pgca probe CLI).
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "loopback.hpp"
#include "pgca/error.hpp"
#include "pgca/probe.hpp"
#include "process.hpp"

namespace pgca::test {

/// Probe options for host:port, verifying against `ca` and checking `name` when given, 5 s limit.
inline pgca::ProbeOptions options_for(const std::string& host, int port, const std::string& ca = "",
                                      const std::string& name = "") {
    pgca::ProbeOptions o;
    o.host = host;
    o.port = port;
    o.ca_file = ca;
    o.server_name = name;
    o.timeout_ms = 5000;
    return o;
}

/// Runs `pgca probe` with `args`.
inline ProcessResult pgca_probe(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PGCA_BIN, "probe"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

// A loopback port nobody listens on (the kernel's pick, closed again at once).
inline int unused_port() {
    int port = 0;
    ::close(bind_loopback(0, port));
    return port;
}

// How many file descriptors this process has open, to show that probe closes its socket.
inline std::size_t open_fds() {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++n;
    }
    return n;
}

/// The error pgca::probe(o) throws; fails the test when it succeeds.
inline pgca::Error probe_error(const pgca::ProbeOptions& o) {
    try {
        (void)pgca::probe(o);
    } catch (const pgca::Error& e) {
        return e;
    }
    FAIL("probe succeeded");
    throw std::logic_error("unreachable");
}

}  // namespace pgca::test
