// What the commands in operations.cpp and rollover.cpp share.
#pragma once

#include <set>
#include <string>

#include "pgca/operations.hpp"
#include "pgca/pki.hpp"
#include "pgca/profile.hpp"

namespace pgca::ops::shared {

/// The CRL lifetime the last apply recorded.
[[nodiscard]] int crl_days(PkiDir& pki);
/// What execute() takes from a profile for the commands that have none: the CA to make and the
/// CRL lifetime.
[[nodiscard]] Profile execution_profile(int crl_lifetime, const CaSpec& ca = {});
/// Runs the operator's reload command through /bin/sh, as a cron line or a unit file would.
/// Throws Error(io) when it fails.
void run_reload(const std::string& command);
/// True when the leaf folder of `current` does not hold the certificate and key files the
/// ledger recorded for it (a run whose files could not be written, or did not land, after its
/// commit); rows older than those digests are taken as they are.
[[nodiscard]] bool files_differ(const PkiDir& pki, const LedgerEntry& current);
/// What `current` was issued with, for issuing it again (rotate, rollover reissue), with pgca's
/// defaults where the row does not know a field (a rebuilt ledger): EC P-256, the default server
/// lifetime, a server key in the clear.
[[nodiscard]] IssueParams renewal_params(const LedgerEntry& current);
/// Probes options.verify until the server serves one of `expected` (serials) or
/// options.verify_timeout passes; checks the served chain against the folder's root (the next
/// root once a root rollover's reissue began) and options.verify_name. Throws Error(io) when it
/// still serves another certificate, Error(crypto) when it does not verify.
[[nodiscard]] VerifyResult verify_served(const PkiDir& pki, const RotateOptions& options,
                                         const std::set<std::string>& expected);

}  // namespace pgca::ops::shared
