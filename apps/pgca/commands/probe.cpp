// pgca probe HOST[:PORT] [--ca FILE] [--name NAME] [--direct] [--json] [--timeout SECONDS]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/probe.hpp"

namespace pgca::cli {
namespace {

// The checks that decide the exit code; empty when all passed.
std::string failed_checks(const ProbeOptions& o, const ProbeResult& r) {
    std::string out;
    auto add = [&](const std::string& s) { out += (out.empty() ? "" : "; ") + s; };
    if (!o.ca_file.empty() && !r.verified)
        add("the served chain does not verify against " + o.ca_file + " (" + r.verify_error + ")");
    if (!r.name_matches)
        add("the certificate does not match the name \"" + r.name_checked + "\" (as libpq's sslmode=verify-full checks it)");
    return out;
}

}  // namespace

int run_probe(int argc, char** argv) {
    cxxopts::Options options("pgca probe",
                             "Connect to a PostgreSQL server, complete the TLS handshake the way libpq starts it, "
                             "and report the certificate it serves. Never logs in.");
    options.positional_help("HOST[:PORT]");
    options.add_options()
        ("address", "HOST, HOST:PORT or [IPv6]:PORT (port 5432 by default)", cxxopts::value<std::string>())
        ("ca", "verify the served chain against the roots in FILE (like sslrootcert)", cxxopts::value<std::string>(), "FILE")
        ("name", "check this name against the certificate instead of HOST (like host= with hostaddr=)",
         cxxopts::value<std::string>(), "NAME")
        ("direct", "start TLS at once with ALPN \"postgresql\" (PostgreSQL 17 sslnegotiation=direct)")
        ("timeout", "seconds the whole exchange may take: connecting, the SSLRequest answer and the handshake",
         cxxopts::value<int>()->default_value("10"), "SECONDS")
        ("json", "print JSON");
    options.parse_positional({"address"});
    auto r = parse(options, argc, argv);
    if (r.count("address") == 0) throw Error(ErrorKind::usage, "probe: HOST[:PORT] is required");

    ProbeOptions o;
    parse_host_port(r["address"].as<std::string>(), o.host, o.port);
    if (r.count("ca") != 0) {
        o.ca_file = r["ca"].as<std::string>();
        if (o.ca_file.empty()) throw Error(ErrorKind::usage, "--ca: empty file name");
    }
    if (r.count("name") != 0) {
        o.server_name = r["name"].as<std::string>();
        if (o.server_name.empty()) throw Error(ErrorKind::usage, "--name: empty name");
    }
    o.direct = r.count("direct") != 0;
    int timeout = r["timeout"].as<int>();
    if (timeout < 1 || timeout > 3600) throw Error(ErrorKind::usage, "--timeout: must be between 1 and 3600 seconds");
    o.timeout_ms = timeout * 1000;

    ProbeResult res = probe(o);
    std::string failures = failed_checks(o, res);

    if (r.count("json") != 0) {
        nlohmann::json chain = nlohmann::json::array();
        for (const auto& c : res.chain) chain.push_back(to_json(c.info()));
        nlohmann::json out = {
            {"host", o.host},
            {"port", o.port},
            {"direct", o.direct},
            {"tls_version", res.tls_version},
            {"cipher", res.cipher},
            {"alpn", res.alpn},
            {"chain", chain},
            {"ca_file", o.ca_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.ca_file)},
            {"verified", res.verified},
            {"verify_error", res.verify_error},
            {"name", res.name_checked},
            {"name_matches", res.name_matches},
            {"days_left", res.days_left},
        };
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << "server:      " << r["address"].as<std::string>() << (o.direct ? " (direct TLS)" : " (SSLRequest)")
                  << "\n"
                  << "TLS:         " << res.tls_version << ", " << res.cipher << "\n";
        if (!res.alpn.empty()) std::cout << "ALPN:        " << res.alpn << "\n";
        for (std::size_t i = 0; i < res.chain.size(); ++i) {
            CertInfo ci = res.chain[i].info();
            std::cout << "certificate " << i + 1 << " of " << res.chain.size() << "\n"
                      << "  subject:   " << ci.subject << "\n"
                      << "  issuer:    " << ci.issuer << "\n"
                      << "  serial:    " << ci.serial_hex << "\n"
                      << "  not after: " << format_time(ci.not_after) << "\n"
                      << "  SHA-256:   " << ci.sha256_fingerprint << "\n";
        }
        if (o.ca_file.empty())
            std::cout << "verified:    not checked (no --ca)\n";
        else
            std::cout << "verified against " << o.ca_file << ": "
                      << (res.verified ? "yes" : "no (" + res.verify_error + ")") << "\n";
        std::cout << "name " << res.name_checked << ": " << (res.name_matches ? "matches" : "does not match") << "\n"
                  << "days left:   " << res.days_left << (res.days_left < 0 ? " (expired)" : "") << "\n";
    }
    std::cout.flush();
    if (!failures.empty()) throw Error(ErrorKind::crypto, r["address"].as<std::string>() + ": " + failures);
    return 0;
}

}  // namespace pgca::cli
