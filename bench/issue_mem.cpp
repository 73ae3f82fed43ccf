// In-memory issuance with pgca's leaf builder (make_leaf_builder), the counterpart of
// bench/reference/issue_bench.cpp --out mem: with a CA key and certificate loaded, generate a
// leaf key, issue a client certificate (CN=user<i>) and PEM-encode both, N times, over T
// threads (one factory per thread, like issue_bench's per-thread CA copy). Prints one line:
//   RESULT leaf=ec256 ca=EC256 n=… threads=… out=mem fast=1 wall_s=… certs_per_sec=… bytes=…
//
// Usage: pgca_bench_issue --ca-key ca.key --ca-cert ca.crt [--leaf ec256] [--n 2000]
//                         [--threads 1] [--days 365]
//   --leaf  ec256 | ec384 | ed25519 | rsa2048 | rsa3072 | rsa4096 (issue_bench's spelling)
//           or pgca's (ec-p256, …)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "leaf.hpp"
#include "pgca/ca.hpp"
#include "pgca/error.hpp"

namespace {

using clk = std::chrono::steady_clock;

struct Options {
    std::string ca_key, ca_cert, leaf = "ec256";
    long n = 2000;
    int threads = 1;
    int days = 365;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "pgca_bench_issue: %s\n"
                 "usage: pgca_bench_issue --ca-key FILE --ca-cert FILE [--leaf ec256] [--n 2000] "
                 "[--threads 1] [--days 365]\n",
                 why.c_str());
    std::exit(2);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

pgca::KeyAlg parse_leaf(const std::string& text) {
    static const std::pair<const char*, pgca::KeyAlg> kShort[] = {
        {"ec256", pgca::KeyAlg::ec_p256},     {"ec384", pgca::KeyAlg::ec_p384},
        {"ed25519", pgca::KeyAlg::ed25519},   {"rsa2048", pgca::KeyAlg::rsa_2048},
        {"rsa3072", pgca::KeyAlg::rsa_3072},  {"rsa4096", pgca::KeyAlg::rsa_4096},
    };
    for (const auto& [name, alg] : kShort)
        if (text == name) return alg;
    if (auto alg = pgca::parse_key_alg(text)) return *alg;
    usage("unknown --leaf " + text);
}

long parse_long(const std::string& text, const char* what, long min) {
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || v < min) usage(std::string("bad ") + what + " " + text);
    return v;
}

// The CA key type in issue_bench's spelling ("EC256", "RSA2048").
std::string ca_type(const pgca::PrivateKey& key) {
    switch (key.alg()) {
        case pgca::KeyAlg::ec_p256: return "EC256";
        case pgca::KeyAlg::ec_p384: return "EC384";
        case pgca::KeyAlg::rsa_2048: return "RSA2048";
        case pgca::KeyAlg::rsa_3072: return "RSA3072";
        case pgca::KeyAlg::rsa_4096: return "RSA4096";
        case pgca::KeyAlg::ed25519: return "ED25519";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage("missing value for " + a);
            return argv[++i];
        };
        if (a == "--ca-key") o.ca_key = next();
        else if (a == "--ca-cert") o.ca_cert = next();
        else if (a == "--leaf") o.leaf = next();
        else if (a == "--n") o.n = parse_long(next(), "--n", 1);
        else if (a == "--threads") o.threads = static_cast<int>(parse_long(next(), "--threads", 1));
        else if (a == "--days") o.days = static_cast<int>(parse_long(next(), "--days", 1));
        else usage("unknown argument " + a);
    }
    if (o.ca_key.empty() || o.ca_cert.empty()) usage("need --ca-key and --ca-cert");
    const pgca::KeyAlg leaf_alg = parse_leaf(o.leaf);

    try {
        pgca::CertificateAuthority ca(pgca::Certificate::from_pem(read_file(o.ca_cert), o.ca_cert),
                                      pgca::PrivateKey::from_pem(read_file(o.ca_key), o.ca_key));
        bool fast = false;
        {
            // Warm-up, untimed (as issue_bench does): algorithm fetch caches, and the fast
            // path's once-per-process self-test.
            auto warm = pgca::detail::make_leaf_builder({ca.certificate(), ca.key()}, leaf_alg);
            fast = warm->fast();
            (void)warm->make(pgca::detail::LeafRequest::client(pgca::DistinguishedName::with_cn("warm-up"), o.days));
        }

        // Subjects are made up front: the benchmark measures issuance, not string formatting.
        std::vector<pgca::DistinguishedName> subjects;
        subjects.reserve(static_cast<std::size_t>(o.n));
        for (long i = 0; i < o.n; ++i) subjects.push_back(pgca::DistinguishedName::with_cn("user" + std::to_string(i)));

        std::vector<std::size_t> bytes(static_cast<std::size_t>(o.threads), 0);
        std::vector<std::exception_ptr> errors(static_cast<std::size_t>(o.threads));
        auto worker = [&](int t) {
            try {
                // Per-thread set-up is timed.
                auto factory = pgca::detail::make_leaf_builder({ca.certificate(), ca.key()}, leaf_alg);
                for (long i = t; i < o.n; i += o.threads) {
                    auto leaf = factory->make(pgca::detail::LeafRequest::client(subjects[static_cast<std::size_t>(i)], o.days));
                    bytes[static_cast<std::size_t>(t)] += leaf.cert_pem.size() + leaf.key_pem.size();
                }
            } catch (...) {
                errors[static_cast<std::size_t>(t)] = std::current_exception();
            }
        };
        auto t0 = clk::now();
        std::vector<std::thread> threads;
        for (int t = 1; t < o.threads; ++t) threads.emplace_back(worker, t);
        worker(0);
        for (auto& th : threads) th.join();
        double wall = std::chrono::duration<double>(clk::now() - t0).count();
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);

        std::size_t total = 0;
        for (auto b : bytes) total += b;
        std::printf("RESULT leaf=%s ca=%s n=%ld threads=%d out=mem fast=%d wall_s=%.3f certs_per_sec=%.1f "
                    "us_per_cert=%.1f bytes=%zu\n",
                    o.leaf.c_str(), ca_type(ca.key()).c_str(), o.n, o.threads, fast ? 1 : 0, wall,
                    static_cast<double>(o.n) / wall, wall * 1e6 * o.threads / static_cast<double>(o.n), total);
    } catch (const pgca::Error& e) {
        std::fprintf(stderr, "pgca_bench_issue: %s\n", e.what());
        return 1;
    }
    return 0;
}
