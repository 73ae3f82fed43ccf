// Plan, then execute. A command first decides, from the profile (or its options) and what the
// folder holds (ledger rows and files), every change it will make: a typed Plan whose steps each
// name their target and their reason. Executing the plan makes the changes; a dry run prints the
// plan and touches nothing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "pgca/apply.hpp"
#include "pgca/io.hpp"
#include "pgca/pki.hpp"
#include "pgca/profile.hpp"

namespace pgca {

enum class StepKind {
    protect_ca_keys,      ///< encrypt the CA keys still stored in the clear
    create_root,          ///< make the root CA (and the intermediate the profile asks for)
    create_intermediate,  ///< add an intermediate under the existing root
    issue,                ///< a first certificate for a server or client
    reissue,              ///< a new certificate in place of the current one (the reason says why)
    keep,                 ///< the current certificate stays
    write_server_conf,    ///< servers/NAME/postgresql.ssl.conf, written when its content differs
    write_service,        ///< clients/ROLE/pg_service.conf, which differs from what it must hold
    ensure_folder,        ///< clients/ROLE exists with its mode (restored)
    retire,               ///< revoke every unexpired certificate of a server or client, remove its folder
    remove,               ///< a file or folder nobody accounts for
    refresh_crls,         ///< make the CRLs that are missing, stale or out of date with the ledger
    write_file,           ///< pg_hba.conf / pg_ident.conf, written when its content differs
    record_settings,      ///< what later commands need from this profile, into the ledger
};

/// One decided change.
struct Step {
    StepKind kind;
    std::string target_kind;  ///< root, intermediate, server, client, file
    std::string name;         ///< server or role name, or a file path
    std::string reason;       ///< why (what a dry run prints)
    /// Printed by a dry run. Steps whose effect is decided only against the content they would
    /// write (conf files, CRLs) are not listed, as they never were.
    bool listed = true;
    /// False for a step listed only to show what another step does (retire removes the folder,
    /// refresh_crls removes a stale hashed CRL, create_root makes the intermediate).
    bool executes = true;
};

/// What `apply` will do to a folder.
struct Plan {
    std::vector<Step> steps;
    std::vector<std::string> warnings;
    /// Issue and reissue requests, in step order (servers first, as issue_batch takes them).
    std::vector<ServerRequest> servers;
    std::vector<ClientRequest> clients;
    /// What the write_service and write_file steps write, in step order.
    std::vector<io::FileWrite> writes;

    /// The steps a dry run prints, as actions (verb, kind, name, reason).
    [[nodiscard]] std::vector<Action> preview() const;
};

/// The profile's access files, rendered (and every access rule refused) before the folder is
/// touched.
struct AccessFiles {
    std::string hba;
    std::string ident;
    std::vector<std::string> warnings;
};
[[nodiscard]] AccessFiles render_access(const Profile& profile);

/// The step's verb as the CLI prints it ("issue", "reissue", "remove", …).
[[nodiscard]] const char* verb(StepKind kind) noexcept;

/// The plan for a folder that does not exist yet (or has no ledger): everything is new.
[[nodiscard]] Plan plan_fresh_apply(const Profile& profile, const AccessFiles& access,
                                    const io::Layout& layout);

/// The plan that makes `pki` match `profile`: refuses a surprise (another profile's folder, a
/// mass revocation) with Error(policy), decrypts the CA keys when a passphrase source is named
/// (a wrong passphrase stops here), then decides every step. Changes nothing. Call inside
/// pki.transact() so that what it reads is one snapshot.
[[nodiscard]] Plan plan_apply(const Profile& profile, const AccessFiles& access, PkiDir& pki,
                              const ApplyOptions& options);

/// Carries `plan` out in pki's open transaction (its files are written after the commit).
/// Returns what was done, in step order.
std::vector<Action> execute(Plan& plan, const Profile& profile, PkiDir& pki, const Progress& progress);

/// What `apply` records for the commands that later render files without the profile
/// (issue): the profile's name, servers and settings, as canonical JSON.
[[nodiscard]] std::string applied_profile_json(const Profile& profile);
/// The profile the last apply recorded in `pki`'s ledger, or, for a folder made by init alone,
/// a profile named after the folder with sslmode=verify-full and no servers.
[[nodiscard]] Profile applied_profile(PkiDir& pki);

}  // namespace pgca
