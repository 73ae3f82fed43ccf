// The commands that run without a profile (init, issue, revoke, rotate, crl, list), each one library
// call: the CLI parses options, calls it, and prints what it returns. Each writer decides first (a
// typed Plan, plan.hpp) and then carries the plan out; with OpenOptions::dry_run it returns the
// plan's preview instead and changes nothing.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgca/pki.hpp"
#include "pgca/profile.hpp"
#include "pgca/secret.hpp"

namespace pgca::ops {

/// Creates the root CA (and `spec.intermediate`) in `dir` and its first CRLs. The passphrase
/// source, if any, is read before the folder is created. Throws Error(policy) when the folder
/// already has a root CA. Returns what was made (a dry run: what would be).
std::vector<Action> init(const std::string& dir, const CaSpec& spec, const OpenOptions& open);

/// What `issue server` and `issue client` did.
struct IssueResult {
    std::vector<Action> actions;     ///< every step as done (a dry run: as planned)
    std::vector<IssuedLeaf> issued;  ///< in request order; empty after a dry run
};

/// Issues a server certificate and writes servers/NAME/ with its postgresql.ssl.conf rendered as
/// the last apply rendered it (install_dir, CRL mode, key_passphrase and the server settings of
/// the applied profile, when it names this server).
IssueResult issue_server(const std::string& dir, const ServerSpec& spec, KeyAlg key, int days, const OpenOptions& open);

/// Issues client certificates and writes each clients/ROLE/ with its pg_service.conf rendered
/// from the applied profile (its servers and client settings).
IssueResult issue_clients(const std::string& dir, const std::vector<ClientSpec>& specs, KeyAlg key, int days,
                          unsigned jobs, const OpenOptions& open, const Progress& progress);

/// What to revoke: one serial (any number of leading zeros, any case), or every unexpired
/// certificate of a server or client.
struct RevokeTarget {
    std::string serial;  ///< "" unless revoking by serial
    CertKind kind = CertKind::server;  ///< server, client or pooler (by name; a pooler's client certificate too)
    std::string name;
};

struct RevokeResult {
    std::string what;  ///< "serial 0A12", "client \"alice\""
    std::vector<std::string> revoked;  ///< empty after a dry run
    std::vector<std::string> already;
    std::vector<Action> crls;
    std::vector<Action> actions;  ///< every step as done (a dry run: as planned)
};

/// Revokes `target` and refreshes the CRLs, in one transaction. A committed revocation whose CRL
/// could not be written throws Error(io) saying so (and naming `pgca crl`).
RevokeResult revoke(const std::string& dir, const RevokeTarget& target, RevocationReason reason,
                    const OpenOptions& open);

/// `pgca crl`: new CRLs for every CA, now. `days` 0 = what the last apply recorded. Returns what
/// was written (a dry run: what would be).
std::vector<Action> refresh_crls(const std::string& dir, int days, const OpenOptions& open);

struct RotateOptions {
    /// The servers, and the poolers (both their certificates), to rotate; both empty = every
    /// server and every pooler with a valid certificate.
    std::vector<std::string> servers;
    std::vector<std::string> poolers;
    std::optional<int> within;         ///< days; default: the applied renew_before_days, else 30
    bool force = false;
    bool keep_key = false;
    std::string reload;         ///< shell command run after a rotation; "" = none
    std::string verify;         ///< HOST:PORT probed afterwards; "" = none
    std::string verify_name;    ///< name to check in the served certificate; "" = the host
    int verify_timeout = 15;    ///< seconds, retries included
    /// Called with each action as it is done (the reload included, as verb "reload"), before
    /// the reload runs and the server is verified.
    std::function<void(const Action&)> on_action;
};

struct VerifyResult {
    std::string target;
    std::string serial;
    std::string tls_version;
    long days_left = 0;
};

struct RotateResult {
    std::vector<Action> actions;  ///< a dry run: the plan, reload and verify included
    std::optional<VerifyResult> verified;
};

/// Renews the server and pooler certificates that are due (or stale on disk, or all with `force`),
/// runs the reload command and checks what the server now serves. A dry run neither reloads nor
/// probes.
RotateResult rotate(const std::string& dir, const RotateOptions& options, const OpenOptions& open);

/// What `pgca list` shows.
struct ListOptions {
    bool all = false;             ///< include superseded certificates
    std::optional<int> expiring;  ///< days: only valid certificates (and CRLs) that expire within them
    std::string ledger;           ///< OpenOptions::ledger
};

/// A CA's current CRL, as `pgca list` shows it.
struct CrlListing {
    std::string name;    ///< root, intermediate
    std::string issuer;  ///< RFC 2253
    std::int64_t number = 0;
    std::time_t next_update = 0;
    std::size_t entries = 0;  ///< serials revoked
};

struct ListResult {
    std::time_t now = 0;               ///< the moment the listing was made (days left count from it)
    std::vector<LedgerEntry> certificates;  ///< status "expired" for a valid one past notAfter
    std::vector<CrlListing> crls;      ///< root first
    std::vector<std::string> warnings; ///< CRLs expired or near their nextUpdate
};

/// `pgca list`: the certificates the ledger of `dir` holds and the CRLs on disk, filtered as
/// `options` say. Opens the folder read-only.
ListResult list(const std::string& dir, const ListOptions& options);

}  // namespace pgca::ops
