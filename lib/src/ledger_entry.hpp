// The ledger row of a certificate, shared by the issuing pipeline and ledger rebuild; private.
#pragma once

#include <string>

#include "pgca/certificate.hpp"
#include "pgca/ledger.hpp"

namespace pgca::detail {

/// The ledger row of `cert` (issued now; status left to Ledger::record).
LedgerEntry entry_for(const Certificate& cert, const std::string& kind, const std::string& name,
                      const std::string& detail);

}  // namespace pgca::detail
