// Certificate authorities: creating a root and an intermediate, and issuing leaves.
#pragma once

#include <string>
#include <vector>

#include "pgca/cert_kind.hpp"
#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "pgca/name.hpp"

namespace pgca {

/// A CA: its certificate and its private key. Signing is const and thread-safe.
class CertificateAuthority final {
public:
    /// Wraps existing material. Throws Error(policy) unless `cert` is a CA certificate whose
    /// public key is `key`'s, and `key` is not EdDSA.
    CertificateAuthority(Certificate cert, PrivateKey key);

    /// A self-signed root: basicConstraints critical CA:TRUE, keyUsage critical keyCertSign +
    /// cRLSign, SKI and AKI. Throws Error(policy) for an Ed25519 `alg`.
    [[nodiscard]] static CertificateAuthority create_root(const DistinguishedName& subject, KeyAlg alg, int days);

    /// A subordinate CA signed by this one, with pathLenConstraint 0. Its validity is clamped
    /// to this CA's.
    [[nodiscard]] CertificateAuthority create_intermediate(const DistinguishedName& subject, KeyAlg alg,
                                                           int days) const;

    /// A server certificate for `leaf_key`: CA:FALSE, keyUsage digitalSignature
    /// (+keyEncipherment for RSA), EKU serverAuth, SAN with every host (IP literals as iPAddress,
    /// the rest as dNSName). Validity is clamped to this CA's. Throws Error(policy) on a bad host.
    [[nodiscard]] Certificate issue_server(const PrivateKey& leaf_key, const DistinguishedName& subject,
                                           const std::vector<std::string>& hosts, int days) const;

    /// A client certificate: CA:FALSE, keyUsage digitalSignature (+keyEncipherment for RSA),
    /// EKU clientAuth, no SAN. Validity is clamped to this CA's.
    [[nodiscard]] Certificate issue_client(const PrivateKey& leaf_key, const DistinguishedName& subject,
                                           int days) const;

    [[nodiscard]] const Certificate& certificate() const noexcept { return cert_; }
    [[nodiscard]] const PrivateKey& key() const noexcept { return key_; }

private:
    Certificate cert_;
    PrivateKey key_;
};

}  // namespace pgca
