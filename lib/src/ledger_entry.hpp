// The ledger row of a certificate, shared by the issuing pipeline and ledger rebuild; private.
#pragma once

#include <ctime>
#include <string>
#include <utility>

#include "pgca/certificate.hpp"
#include "pgca/issue_params.hpp"
#include "pgca/ledger.hpp"

namespace pgca::detail {

/// The ledger row of a certificate issued now with `params` (status left to Ledger::record), from
/// what is known of it: `facts` is a CertInfo (a parsed certificate) or a Leaf (what the leaf
/// builder reports, no parse), which name their fields alike.
template <class Facts>
LedgerEntry entry_from(const Facts& facts, std::string issuer, IssueParams params) {
    LedgerEntry e;
    e.serial = facts.serial_hex;
    e.issuer = std::move(issuer);
    e.kind = params.kind;
    e.name = params.name;
    e.subject = facts.subject;
    e.not_before = facts.not_before;
    e.not_after = facts.not_after;
    e.fingerprint = facts.sha256_fingerprint;
    e.params = std::move(params);
    e.issued_at = std::time(nullptr);
    return e;
}

/// The ledger row of `cert` issued with `params` (issued now; status left to Ledger::record).
inline LedgerEntry entry_for(const Certificate& cert, IssueParams params) {
    CertInfo ci = cert.info();
    return entry_from(ci, ci.issuer, std::move(params));
}

}  // namespace pgca::detail
