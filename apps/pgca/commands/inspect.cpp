// pgca inspect FILE [--json]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"

namespace pgca::cli {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "-" : out;
}

}  // namespace

int run_inspect(int argc, char** argv) {
    cxxopts::Options options("pgca inspect", "Show every certificate in a PEM file, the way PostgreSQL reads it.");
    options.positional_help("FILE");
    options.add_options()
        ("file", "PEM file (certificate or chain)", cxxopts::value<std::string>())
        ("json", "print JSON");
    options.parse_positional({"file"});
    auto r = parse(options, argc, argv);
    if (r.count("file") == 0) throw Error(ErrorKind::usage, "inspect: FILE is required");
    std::string path = r["file"].as<std::string>();
    auto chain = Certificate::chain_from_pem(io::read_file(path), path);

    if (r.count("json") != 0) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& c : chain) out.push_back(to_json(c.info()));
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    for (std::size_t i = 0; i < chain.size(); ++i) {
        CertInfo ci = chain[i].info();
        if (i != 0) std::cout << "\n";
        std::cout << "certificate " << i + 1 << " of " << chain.size() << "\n"
                  << "  subject:      " << ci.subject << "\n"
                  << "  issuer:       " << ci.issuer << "\n"
                  << "  CN:           " << (ci.common_name.empty() ? "-" : ci.common_name)
                  << (ci.is_ca ? "" : "   (PostgreSQL cert auth compares this to the role name, case-sensitively)") << "\n"
                  << "  serial:       " << ci.serial_hex << "\n"
                  << "  not before:   " << format_time(ci.not_before) << "\n"
                  << "  not after:    " << format_time(ci.not_after) << "\n"
                  << "  CA:           " << (ci.is_ca ? "yes" : "no") << "\n"
                  << "  DNS names:    " << join(ci.dns_names) << "\n"
                  << "  IP addresses: " << join(ci.ip_addresses) << "\n"
                  << "  key usage:    " << join(ci.key_usage) << "\n"
                  << "  ext. usage:   " << join(ci.extended_key_usage) << "\n"
                  << "  key:          " << ci.key_type << "\n"
                  << "  signature:    " << ci.signature_algorithm << "\n"
                  << "  SHA-256:      " << ci.sha256_fingerprint << "\n";
    }
    return 0;
}

}  // namespace pgca::cli
