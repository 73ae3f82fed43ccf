// Plan, then execute. A command first decides, from the profile (or its options) and what the
// folder holds (ledger rows and files), every change it will make: a typed Plan whose steps each
// name their target and their reason. Executing the plan makes the changes; a dry run prints the
// plan and touches nothing. apply plans here (plan_apply); init, issue, revoke, rotate and crl
// plan in operations.cpp, and every plan is carried out by execute().
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
    write_pooler_files,   ///< poolers/NAME/{pgbouncer.ini, pgbouncer_hba.conf, userlist.txt, root.crt} that differ
    write_service,        ///< clients/ROLE/pg_service.conf, which differs from what it must hold
    ensure_folder,        ///< clients/ROLE exists with its mode (restored)
    write_key_files,      ///< a client's postgresql.pk8/.p12 written from its kept key, or removed when unwanted
    retire,               ///< revoke every unexpired certificate of a server or client, remove its folder
    remove,               ///< a file or folder nobody accounts for
    refresh_crls,         ///< make the CRLs that are missing, stale or out of date with the ledger
    write_file,           ///< pg_hba.conf / pg_ident.conf, written when its content differs
    record_settings,      ///< what later commands need from this profile, into the ledger
    record_passphrase,    ///< the CA keys' passphrase source, into the ledger (init)
    revoke,               ///< mark one certificate revoked (revoke)
    rotate,               ///< renew a server certificate, same hosts and key type (rotate)
    reload,               ///< run the operator's reload command: after the commit, by the caller (rotate)
    verify,               ///< probe the server until it serves the new certificate: after the commit, by the caller
    create_next_ca,       ///< make a rollover's next root or intermediate in DIR/ca/next (rollover begin)
    write_trust,          ///< a server's, client's or pooler's root.crt, when it differs from every trusted root
    promote_ca,           ///< the next CA becomes the folder's root or intermediate, the old one retired (rollover finish)
    record_phase,         ///< the rollover phase (the step's name: begun, reissued, "" = none) into the ledger
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
    /// The certificate the step is about, when one exists (keep, reissue, rotate, revoke).
    std::string serial = {};
};

/// What a command will do to a folder.
/// What a write_key_files step changes in a client folder: the key files its formats ask for are
/// written from the kept key (`write`), and the files of formats it no longer has are removed.
struct KeyFilesChange {
    bool write = false;
    std::vector<const char*> remove;  ///< io::Layout names (kClientPk8, kClientP12)
    [[nodiscard]] bool needed() const noexcept { return write || !remove.empty(); }
};

/// What `apply` will do to a folder.
struct Plan {
    std::vector<Step> steps;
    std::vector<std::string> warnings;
    /// Issue, reissue and rotate requests, in step order (servers first, as issue_batch takes them).
    std::vector<ServerRequest> servers;
    std::vector<ClientRequest> clients;
    /// What the write_service and write_file steps write, in step order.
    std::vector<io::FileWrite> writes;
    /// The certificates the revoke steps revoke, in step order, and why.
    std::vector<LedgerEntry> revocations;
    RevocationReason revocation_reason = RevocationReason::unspecified;
    /// The refresh_crls step makes a new CRL for every CA, due or not (`pgca crl`).
    bool fresh_crls = false;
    /// What the write_key_files steps change, in step order.
    std::vector<KeyFilesChange> key_files;
    /// The next CA the create_next_ca step makes (an intermediate under the root when
    /// `next_intermediate`), and the options recorded with the phase.
    CaSpec next_ca;
    bool next_intermediate = false;
    std::string rollover_options;

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

/// What execute() did.
struct Executed {
    std::vector<Action> actions;     ///< in step order
    std::vector<IssuedLeaf> issued;  ///< what the issue, reissue and rotate steps made, in step order
};

/// Carries `plan` out in pki's open transaction (its files are written after the commit), with
/// what `profile` says: the CA steps make profile.ca, the conf and service steps render from it,
/// refresh_crls gives CRLs profile.defaults.crl_days, record_settings records it. The reload and
/// verify steps are left to the caller, after the commit.
Executed execute(Plan& plan, const Profile& profile, PkiDir& pki, const Progress& progress = {});

/// What `apply` records for the commands that later render files without the profile
/// (issue): the profile's name, servers and settings, as canonical JSON.
[[nodiscard]] std::string applied_profile_json(const Profile& profile);
/// The profile the last apply recorded in `pki`'s ledger, or, for a folder made by init alone,
/// a profile named after the folder with sslmode=verify-full and no servers.
[[nodiscard]] Profile applied_profile(PkiDir& pki);

}  // namespace pgca
