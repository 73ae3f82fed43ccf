// Declarations shared between the library's crypto modules (name, certificate, ca, crl, the leaf
// builders); not part of the public API. Includes OpenSSL: no other module includes this.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "ossl/ossl.hpp"
#include "leaf.hpp"
#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "pgca/name.hpp"

namespace pgca {
/// Seconds since the epoch of an ASN1_TIME. Throws Error(crypto) for a null or unreadable time.
[[nodiscard]] std::time_t to_time_t(const ASN1_TIME* t);
}  // namespace pgca

namespace pgca::detail {

/// Builds the X509_NAME for `dn` (UTF-8 strings, conventional order).
ossl::X509NamePtr build_name(const DistinguishedName& dn);
/// RFC 2253 text of an X509_NAME, exactly as PostgreSQL's clientname=DN prints it.
std::string rfc2253(const X509_NAME* name);

// The issuance rules both certificate builders (the generic one in ossl/x509_build.cpp and the
// fast path in ossl/fast_leaf.cpp) read.

/// keyUsage bits (RFC 5280 §4.2.1.3 bit numbers), as flags.
inline constexpr unsigned kDigitalSignature = 1u << 0;
inline constexpr unsigned kKeyEncipherment = 1u << 2;
inline constexpr unsigned kKeyCertSign = 1u << 5;
inline constexpr unsigned kCrlSign = 1u << 6;

/// The extensions of one kind of certificate, besides SKI and AKI (which every one carries).
struct CertRules {
    bool ca;                    ///< basicConstraints (critical) cA
    long path_len;              ///< pathLenConstraint; -1 for none
    unsigned key_usage;         ///< keyUsage (critical) bits
    bool rsa_key_encipherment;  ///< keyUsage also has keyEncipherment when the subject key is RSA
    int eku_nid;                ///< the one extendedKeyUsage purpose (non-critical); NID_undef for none
    bool san_hosts;             ///< subjectAltName from the hosts (needs at least one)
};

/// A self-signed root and an intermediate CA (pathLenConstraint 0).
extern const CertRules kRootRules;
extern const CertRules kIntermediateRules;
/// The leaf table: a server (EKU serverAuth, SANs) and a client (EKU clientAuth, no SAN), both
/// CA:FALSE with digitalSignature (+keyEncipherment for RSA).
[[nodiscard]] const CertRules& leaf_rules(LeafKind kind);
/// The keyUsage bits of `rules` for a subject key that is RSA or not.
[[nodiscard]] unsigned key_usage_bits(const CertRules& rules, bool rsa);
/// Throws Error(policy) unless `request` can be made under its rules (a server needs a host).
void check_leaf_request(const LeafRequest& request);

/// Builds and signs a certificate under `rules` for `subject_key`. `issuer` null: self-signed
/// by `signer`, the subject key's private half. Validity is clamped to the issuer's.
[[nodiscard]] Certificate build_certificate(const CertRules& rules, const DistinguishedName& subject,
                                            EVP_PKEY* subject_key, const Certificate* issuer,
                                            const PrivateKey& signer, int days,
                                            const std::vector<std::string>& hosts);
/// The generic path's certificate for `request` (whose key must be set), signed by `issuer`.
[[nodiscard]] Certificate build_leaf(const LeafIssuer& issuer, const LeafRequest& request);

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

}  // namespace pgca::detail
