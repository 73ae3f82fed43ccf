// The ledger row of a certificate, shared by the issuing pipeline and ledger rebuild; private.
#pragma once

#include <string>

#include "pgca/certificate.hpp"
#include "pgca/ledger.hpp"

namespace pgca::detail {

/// The ledger row of `cert` issued with `params` (issued now; status left to Ledger::record).
LedgerEntry entry_for(const Certificate& cert, IssueParams params);

}  // namespace pgca::detail
