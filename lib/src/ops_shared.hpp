// What the commands in operations.cpp and rollover.cpp share.
#pragma once

#include <string>

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

}  // namespace pgca::ops::shared
