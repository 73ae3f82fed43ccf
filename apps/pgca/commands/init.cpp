// pgca init --dir DIR [--profile PROFILE] [--cn NAME] [--key ALG] [--days N] [--intermediate] [--dry-run]
#include <iostream>

#include "commands/common.hpp"
#include "pgca/error.hpp"
#include "pgca/operations.hpp"
#include "pgca/secret.hpp"

namespace pgca::cli {

int run_init(int argc, char** argv) {
    cxxopts::Options options("pgca init", "Create a root CA (and optionally an intermediate) in a PKI folder.");
    options.add_options()
        ("dir", "PKI folder", cxxopts::value<std::string>()->default_value("./pki"))
        ("profile", "take the CA's subject, key and lifetime from this profile", cxxopts::value<std::string>())
        ("cn", "the root CA's common name (default \"pgca Root CA\")", cxxopts::value<std::string>())
        ("key", "key algorithm: " + key_alg_names() + " (not ed25519)", cxxopts::value<std::string>())
        ("days", "root CA lifetime in days (default 3650)", cxxopts::value<int>())
        ("intermediate", "also create an intermediate CA that signs the leaves")
        ("passphrase-env", "encrypt the CA keys with the passphrase in this environment variable",
         cxxopts::value<std::string>())
        ("passphrase-file", "encrypt the CA keys with the passphrase in this file (first line)",
         cxxopts::value<std::string>())
        ("passphrase-command", "encrypt the CA keys with the passphrase this shell command prints",
         cxxopts::value<std::string>());
    add_lock_timeout_option(options);
    add_ledger_option(options);
    add_dry_run_option(options);
    auto r = parse(options, argc, argv);
    const OpenOptions open_options = writer_open_options(r, true);

    CaSpec spec;
    if (r.count("profile") != 0) {
        spec = load_profile(r["profile"].as<std::string>()).ca;
    } else {
        spec.subject.set("CN", "pgca Root CA");
    }
    if (r.count("cn") != 0) in_context("--cn", [&] { spec.subject.set("CN", r["cn"].as<std::string>()); });
    spec.key = key_option(r, spec.key);
    if (!usable_for_ca(spec.key))
        throw Error(ErrorKind::usage, "--key: a CA key must not be Ed25519: libpq cannot do SCRAM channel binding "
                                      "with certificates signed by EdDSA");
    spec.days = days_option(r, spec.days);
    if (r.count("intermediate") != 0 && !spec.intermediate) {
        IntermediateSpec in;
        in.subject.set("CN", spec.subject.get("CN") + " Issuing CA");
        in.key = spec.key;
        in.days = std::min(1825, spec.days);
        spec.intermediate = in;
    }

    // The passphrase itself never goes on the command line (ps, shell history): only its source.
    int sources = static_cast<int>(r.count("passphrase-env") + r.count("passphrase-file") + r.count("passphrase-command"));
    if (sources > 1) throw Error(ErrorKind::usage, "init: give at most one --passphrase-* option");
    if (r.count("passphrase-env") != 0) spec.passphrase = {PassphraseSource::Kind::env, r["passphrase-env"].as<std::string>()};
    if (r.count("passphrase-file") != 0)
        spec.passphrase = {PassphraseSource::Kind::file, io::absolute(r["passphrase-file"].as<std::string>())};
    if (r.count("passphrase-command") != 0)
        spec.passphrase = {PassphraseSource::Kind::command, r["passphrase-command"].as<std::string>()};
    const std::string dir = r["dir"].as<std::string>();
    auto actions = ops::init(dir, spec, open_options);
    if (open_options.dry_run) {
        print_dry_run(actions);
        return 0;
    }
    for (const auto& a : actions) std::cout << format_action(a) << "\n";
    std::cout << "root CA: " << io::Layout(dir).root_cert() << "\n";
    return 0;
}

}  // namespace pgca::cli
