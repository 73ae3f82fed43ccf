// Declarations shared between the library's implementation files; not part of the public API.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "ossl/ossl.hpp"
#include "pgca/certificate.hpp"
#include "pgca/ledger.hpp"
#include "pgca/name.hpp"

namespace pgca::detail {

/// Builds the X509_NAME for `dn` (UTF-8 strings, conventional order).
ossl::X509NamePtr build_name(const DistinguishedName& dn);
/// RFC 2253 text of an X509_NAME, exactly as PostgreSQL's clientname=DN prints it.
std::string rfc2253(const X509_NAME* name);

// The issuance rules both certificate builders (ca.cpp and the fast path) share.

/// 16 serial bytes: random, top bit cleared, first byte non-zero (a positive 16-octet INTEGER).
void random_serial_bytes(unsigned char (&bytes)[16]);

struct Validity {
    std::time_t not_before;
    std::time_t not_after;
};
/// notBefore/notAfter for `days` from now, backdated 5 minutes and clamped to `issuer`'s
/// validity. Throws Error(policy) for days outside 1..36600 or an expired issuer.
Validity validity(int days, const std::optional<Validity>& issuer);

/// The subjectAltName entries for `hosts`: IP literals as iPAddress, the rest as dNSName.
ossl::GeneralNamesPtr general_names(const std::vector<std::string>& hosts);

/// The ledger row of `cert` issued with `params` (issued now; status left to Ledger::record).
LedgerEntry entry_for(const Certificate& cert, IssueParams params);

}  // namespace pgca::detail
