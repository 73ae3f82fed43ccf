// apply: make a PKI folder match a profile.
//
// Crash safety. The ledger is the source of truth and the files are its projection:
//  1. every change to the ledger happens in one transaction, and the files are written only after
//     it committed, so every certificate that ever reaches the disk is in the ledger (and can be
//     revoked); serials are unique per issuer by a table constraint;
//  2. every file is replaced whole (temporary file + rename), so a reader never sees half a file;
//  3. the next apply compares each folder with the ledger (SHA-256 of the certificate and key files
//     as written) and issues again whatever does not match; stale CRLs, bundles of removed entries
//     and folders the profile does not name are rewritten or removed; temporary files left by a
//     killed run are swept (PkiDir::open, guided by the .pgca-writing marker).
// So a kill -9 at any point leaves a folder the next apply completes.
#include "pgca/apply.hpp"

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/ownership.hpp"
#include "pgca/pg_syntax.hpp"
#include "pgca/pki.hpp"
#include "pgca/plan.hpp"

namespace pgca {
namespace {

// Every passphrase source the profile names is read before the folder is opened or created: a
// missing file or a failing command stops the run with nothing on disk.
PassphraseCache read_passphrases(const Profile& profile) {
    PassphraseCache passphrases;
    if (!profile.ca.passphrase.empty())
        (void)in_context("ca.passphrase", [&]() -> const std::string& { return passphrases.get(profile.ca.passphrase); });
    for (const auto& s : profile.servers)
        if (!s.key_passphrase.empty())
            (void)in_context("server \"" + s.name + "\" key_passphrase",
                             [&]() -> const std::string& { return passphrases.get(s.key_passphrase); });
    for (const auto& c : profile.clients)
        if (profile.client_formats(c).p12) {
            (void)in_context("defaults.p12_passphrase",
                             [&]() -> const std::string& { return passphrases.get(profile.defaults.p12_passphrase); });
            break;
        }
    return passphrases;
}

}  // namespace

ApplyResult apply(const Profile& profile, const std::string& dir, const ApplyOptions& options) {
    ApplyResult result;
    // Everything that can be refused is refused here, before the folder is touched.
    detail::PhaseTimer timer_plan("plan access");
    const AccessFiles access = render_access(profile);
    result.warnings = access.warnings;
    timer_plan.stop();

    io::Layout layout(dir);
    // The folder's own path goes into postgresql.ssl.conf and every pg_service.conf.
    pg::validate_conf_path(layout.dir(), "the PKI folder");
    PassphraseCache passphrases = read_passphrases(profile);

    if (options.dry_run && !io::exists(layout.ledger()) && !io::exists(layout.ledger_url())) {
        refuse_unowned_folder(dir, true);  // what the real run would refuse
        result.actions = plan_fresh_apply(profile, access, layout).preview();
        return result;
    }

    OpenOptions open_options;
    open_options.create = !options.dry_run;
    open_options.read_only = options.dry_run;
    open_options.lock_timeout_seconds = options.lock_timeout_seconds;
    open_options.ledger = options.ledger;
    auto pki = PkiDir::open(dir, open_options);
    pki->adopt_passphrases(std::move(passphrases));
    if (options.jobs != 0) pki->set_jobs(options.jobs);
    pki->ca().set_passphrase(profile.ca.passphrase);
    // One snapshot of the ledger for the plan (under the folder lock, so that it stays true
    // while the plan is carried out in the same transaction).
    pki->transact([&] {
        Plan plan = plan_apply(profile, access, *pki, options);
        if (pki->recovered())
            result.warnings.push_back("the previous run was interrupted while writing files; its temporary files "
                                      "were removed and every folder is checked against the ledger");
        for (auto& w : plan.warnings) result.warnings.push_back(std::move(w));
        result.actions = options.dry_run ? plan.preview() : execute(plan, profile, *pki, options.progress).actions;
    });
    return result;
}

}  // namespace pgca
