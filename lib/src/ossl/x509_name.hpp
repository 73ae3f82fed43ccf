// X509_NAME for DistinguishedName, private to the crypto modules (implemented in name.cpp).
#pragma once

#include <string>

#include "ossl/ossl.hpp"
#include "pgca/name.hpp"

namespace pgca::detail {

/// Builds the X509_NAME for `dn` (UTF-8 strings, conventional order).
ossl::X509NamePtr build_name(const DistinguishedName& dn);
/// RFC 2253 text of an X509_NAME, exactly as PostgreSQL's clientname=DN prints it.
std::string rfc2253(const X509_NAME* name);

}  // namespace pgca::detail
