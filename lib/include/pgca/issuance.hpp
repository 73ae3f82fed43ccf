// The issuing pipeline: leaves made in memory, recorded in the ledger, their files queued; and
// their revocation.
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/ca_store.hpp"
#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "pgca/io.hpp"
#include "pgca/issue_params.hpp"
#include "pgca/key.hpp"
#include "pgca/ledger.hpp"
#include "pgca/name.hpp"
#include "pgca/secret.hpp"

namespace pgca {

/// A server certificate to issue: the IssueParams it is issued with (IssueParams::server; the
/// row records them, so the fingerprint that decided the issue is the one the next apply or
/// rotate compares), and what this run alone asks for.
struct ServerRequest {
    /// Hosts validated by the caller (validate_host), as a profile and the CLI do; key known.
    /// A key_passphrase source makes server.key written encrypted with it.
    IssueParams params;
    bool keep_key = false;  ///< sign a new certificate for the existing servers/NAME/server.key
};

/// A client certificate to issue: its IssueParams (IssueParams::client; the role name validated
/// by the caller with validate_role_name, as a profile and the CLI do; key known).
struct ClientRequest {
    IssueParams params;
};

/// A certificate issue_batch made, as its callers report it (its files hold the certificate).
struct IssuedLeaf {
    std::string serial_hex;
    std::time_t not_after = 0;
    std::string cert_pem;  ///< the leaf alone

    /// The certificate itself, parsed from cert_pem (a full OpenSSL decode).
    [[nodiscard]] Certificate certificate() const;
};

/// Issues and revokes the leaves of a folder, signed by `ca`, recorded in `ledger` (inside the
/// workspace's transaction), their files queued in `files`.
class Issuance final {
public:
    Issuance(const io::Layout& layout, Ledger& ledger, io::FileBatch& files, CaStore& ca,
             PassphraseCache& passphrases) noexcept
        : layout_(layout), ledger_(ledger), files_(files), ca_(ca), passphrases_(passphrases) {}

    /// Issues many leaves: keys and certificates are made in memory on up to `jobs` threads, then
    /// recorded (each previous certificate of the same name superseded) and their files queued.
    /// Returns what was issued, in request order. `progress`, if set, is called on the calling
    /// thread with (done, total) as work completes.
    std::vector<IssuedLeaf> issue_batch(const std::vector<ServerRequest>& servers,
                                         const std::vector<ClientRequest>& clients, unsigned jobs,
                                         const Progress& progress = {});

    /// Queues servers/ (or clients/) and servers/NAME (or clients/ROLE, mode 0700) to be created,
    /// or their modes restored.
    void queue_folder(CertKind kind, const std::string& name);

    /// Marks `entry` revoked now for `reason`. Returns false (and changes nothing) when it
    /// already was revoked.
    bool revoke(const LedgerEntry& entry, RevocationReason reason);

    /// Revokes every unexpired, unrevoked certificate of `kind`/`name` and removes its folder
    /// (clients/ROLE or servers/NAME). Returns the serials revoked.
    std::vector<std::string> retire(CertKind kind, const std::string& name, RevocationReason reason);

private:
    const io::Layout& layout_;
    Ledger& ledger_;
    io::FileBatch& files_;
    CaStore& ca_;
    PassphraseCache& passphrases_;
};

/// The server subject pgca uses: CN = the first DNS host (else the first host).
[[nodiscard]] DistinguishedName server_subject(const std::vector<std::string>& hosts);

}  // namespace pgca
