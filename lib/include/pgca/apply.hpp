// `pgca apply`: make a PKI folder match a profile (lib/src/apply.cpp; the plan it makes and
// carries out is in plan.hpp).
#pragma once

#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/profile.hpp"

namespace pgca {

struct ApplyOptions {
    bool dry_run = false;
    bool rename = false;                 ///< accept a profile whose name differs from the folder's
    bool allow_mass_revocation = false;  ///< accept retiring more than half of the valid leaves (and at least 5)
    int lock_timeout_seconds = 30;  ///< how long to wait for another pgca's lock on the folder
    std::string ledger;             ///< OpenOptions::ledger
    unsigned jobs = 0;   ///< threads; 0 = the number of cores
    Progress progress;   ///< called while certificates are issued
};

struct ApplyResult {
    std::vector<Action> actions;
    std::vector<std::string> warnings;
};

/// Makes `dir` match `profile`: creates the CA if absent, issues missing certificates, re-issues
/// those whose profile entry changed (hosts, CN, key type) or that expire within
/// renew_before_days, and (re)writes every emitted file whose content changed. A second run
/// with the same profile issues nothing and rewrites nothing. Every profile error is raised
/// before anything is written.
[[nodiscard]] ApplyResult apply(const Profile& profile, const std::string& dir, const ApplyOptions& options);

}  // namespace pgca
