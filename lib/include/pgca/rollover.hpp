// `pgca rollover`: replacing a folder's root CA without an outage, in phases (README "CA
// rollover"). begin makes the next root and puts it beside the current one in every trust file
// and CRL file; reissue signs every valid leaf with it; finish makes it the folder's only root.
// Each step plans first (plan.hpp) and is idempotent; status reads what is deployed.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/key.hpp"
#include "pgca/operations.hpp"
#include "pgca/pki.hpp"

namespace pgca::ops {

struct RolloverOptions {
    bool intermediate = false;  ///< begin: a new intermediate under the same root, not a new root
    std::optional<KeyAlg> key;  ///< begin: the next CA's key (default: the type of the CA it replaces)
    std::optional<int> days;    ///< begin: the next CA's lifetime (default 3650 for a root, 1825 for an intermediate)
    std::string reload;         ///< reissue, finish: shell command run after the commit; "" = none
    bool force = false;         ///< finish: revoke the old CA's valid leaves first (reason superseded)
    std::string verify;         ///< reissue, finish: HOST:PORT probed after the reload, as rotate does; "" = none
    std::string verify_name;    ///< name to check in the served certificate; "" = the host
    int verify_timeout = 15;    ///< seconds, retries included
    /// Called with each action as it is done (the reload included, as verb "reload").
    std::function<void(const Action&)> on_action;
};

struct RolloverResult {
    std::vector<Action> actions;  ///< a dry run: the plan
    std::string phase;            ///< the phase afterwards (a dry run: as it would be); "" = none
    std::optional<VerifyResult> verified;
};

/// The phases, as the ledger meta `rollover_phase` records them.
inline constexpr const char* kPhaseBegun = "begun";
inline constexpr const char* kPhaseReissued = "reissued";

/// The next CA's CN: the current one's with " R2" appended, or the number after an existing
/// " R<n>" suffix raised by one ("db CA R2" -> "db CA R3").
[[nodiscard]] std::string next_root_cn(const std::string& current_cn);

RolloverResult rollover_begin(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);
RolloverResult rollover_reissue(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);
RolloverResult rollover_finish(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);

/// One server, pooler or client folder, as `rollover status` shows it.
struct TrustView {
    std::string kind;  ///< server, pooler, client
    std::string name;
    /// "old", "new" (during a rollover), "current" (outside one), "root" (the root an
    /// intermediate rollover keeps), or a DN.
    std::vector<std::string> trusts;
    std::string chains_to;  ///< "old", "new", "current", "root", "unknown", or "" when it has no certificate
    /// During a rollover: its trust file lacks the new CA (a root; for an intermediate, a server's
    /// or pooler's), so it fails once leaves of the new CA are in use (after reissue).
    bool lacks_new = false;
};

struct RolloverStatus {
    std::string phase;  ///< "" = none in progress
    std::string old_ca, new_ca;  ///< DNs during a rollover; old_ca is the folder's root outside one
    std::vector<TrustView> folders;
};

/// Reads the folder (read-only) and every server, pooler and client folder's root.crt and certificate.
RolloverStatus rollover_status(const std::string& dir);

}  // namespace pgca::ops
