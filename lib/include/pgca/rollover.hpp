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
#include "pgca/pki.hpp"

namespace pgca::ops {

struct RolloverOptions {
    std::optional<KeyAlg> key;  ///< begin: the next root's key (default: the current root's type)
    std::optional<int> days;    ///< begin: the next root's lifetime (default 3650)
    std::string reload;         ///< reissue, finish: shell command run after the commit; "" = none
    bool force = false;         ///< finish: revoke the old CA's valid leaves first (reason superseded)
    /// Called with each action as it is done (the reload included, as verb "reload").
    std::function<void(const Action&)> on_action;
};

struct RolloverResult {
    std::vector<Action> actions;  ///< a dry run: the plan
    std::string phase;            ///< the phase afterwards (a dry run: as it would be); "" = none
};

/// The phases, as the ledger meta `rollover_phase` records them.
inline constexpr const char* kPhaseBegun = "begun";
inline constexpr const char* kPhaseReissued = "reissued";

/// The next root's subject: the current root's with " R2" appended to its CN, or the number
/// after an existing " R<n>" suffix raised by one ("db CA R2" -> "db CA R3").
[[nodiscard]] std::string next_root_cn(const std::string& current_cn);

RolloverResult rollover_begin(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);
RolloverResult rollover_reissue(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);
RolloverResult rollover_finish(const std::string& dir, const RolloverOptions& options, const OpenOptions& open);

/// One server, pooler or client folder, as `rollover status` shows it.
struct TrustView {
    std::string kind;  ///< server, pooler, client
    std::string name;
    std::vector<std::string> trusts;  ///< "old", "new" (during a rollover), "current" (outside one), or a DN
    std::string chains_to;            ///< "old", "new", "current", "unknown", or "" when it has no certificate
    /// During a rollover: its trust file lacks the new root, so it would fail once the servers
    /// use leaves of the new root (after reissue) or the old one leaves the trust files (finish).
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
