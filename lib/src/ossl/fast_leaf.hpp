// The fast leaf issuance path used by bulk issuance (private to the library).
//
// OpenSSL 3.0 spends most of a naive leaf issuance not in cryptography but in its
// encoder/decoder machinery: X509_set_pubkey() on a provider key builds an OSSL_ENCODER and
// then a full OSSL_DECODER (~200 µs), and PEM-encoding a provider private key builds another
// encoder (~80 µs), against ~15 µs of key generation and ~25 µs of ECDSA signing. For EC
// P-256/P-384 leaves LeafFactory avoids both with non-deprecated APIs (see fast_leaf.cpp);
// every other key type goes through the ordinary path (PrivateKey::generate + the CA's
// builder). Both produce equivalent certificates: fast_leaf_test.cpp checks it, and
// fast_path_self_test() re-checks it once per process before a fast certificate is issued.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "pgca/ca.hpp"
#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "pgca/name.hpp"

namespace pgca::detail {

/// Issues client (and server) leaves for one CA quickly; one instance per thread (not
/// thread-safe). Holds a reference to `ca`, which must outlive it. Movable, not copyable.
class LeafFactory final {
public:
    /// `alg` is the type of the leaf keys it generates. For a fast type, the first factory of
    /// the process runs fast_path_self_test(alg) (and throws its Error(internal) if it fails).
    LeafFactory(const CertificateAuthority& ca, KeyAlg alg);
    ~LeafFactory();
    LeafFactory(LeafFactory&&) noexcept;
    LeafFactory& operator=(LeafFactory&&) noexcept;
    LeafFactory(const LeafFactory&) = delete;
    LeafFactory& operator=(const LeafFactory&) = delete;

    /// A leaf as bulk issuance needs it: the encodings that go to disk and what the ledger
    /// records. No X509 object is built on the fast path (parsing one back costs more than
    /// making it); certificate() makes one on demand.
    struct Leaf {
        std::string cert_der;            ///< the leaf alone
        std::string cert_pem;            ///< the leaf alone ("BEGIN CERTIFICATE"), == Certificate::to_pem()
        std::string key_pem;             ///< unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), == PrivateKey::to_pem()
        std::string serial_hex;          ///< == Certificate::serial_hex()
        std::string subject;             ///< RFC 2253, == Certificate::subject_rfc2253()
        std::time_t not_before = 0;
        std::time_t not_after = 0;
        std::string sha256_fingerprint;  ///< == Certificate::sha256_fingerprint()

        /// The certificate, parsed from cert_der (a full OpenSSL decode: for tests and single
        /// certificates, not for bulk work). Throws Error(internal) if it does not parse.
        [[nodiscard]] Certificate certificate() const;
    };

    /// Generates a key and issues a client certificate with the same extensions and validity
    /// rules as CertificateAuthority::issue_client: CA:FALSE critical, keyUsage critical
    /// digitalSignature (+keyEncipherment for RSA), EKU clientAuth, SKI, AKI = issuer SKI,
    /// random 16-byte positive serial, backdated 5 minutes, clamped to the issuer's validity.
    /// Throws Error(policy) for an empty subject, days outside 1..36600 or an expired issuer.
    [[nodiscard]] Leaf issue_client(const DistinguishedName& subject, int days);
    /// Same for a server certificate with every host as a SAN (IP literals as iPAddress, the
    /// rest as dNSName). Throws Error(policy) for no hosts or a bad host, like
    /// CertificateAuthority::issue_server.
    [[nodiscard]] Leaf issue_server(const DistinguishedName& subject, const std::vector<std::string>& hosts,
                                    int days);

    /// Whether this factory uses the fast path (EC P-256/P-384 leaves from an issuer with a
    /// subjectKeyIdentifier, as every pgca CA has) or the generic one (everything else).
    [[nodiscard]] bool fast() const noexcept;

private:
    struct Unchecked {};
    LeafFactory(const CertificateAuthority& ca, KeyAlg alg, Unchecked);
    friend void fast_path_self_test(KeyAlg leaf_alg);

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The Leaf of a certificate made elsewhere (the generic path), with `key_pem` as its key.
[[nodiscard]] LeafFactory::Leaf leaf_of(const Certificate& cert, std::string key_pem);

/// Runs once per process (std::call_once; retried on the next call if it threw): issues a
/// client certificate for a P-256 and a P-384 leaf with the fast path and checks each against
/// the generic path for the same key: same SPKI DER as X509_set_pubkey, same
/// extensions, names and signature algorithm, the certificate re-parses to the same DER, its
/// signature verifies, the key matches, and the key PEM is byte-identical to
/// PrivateKey::to_pem(). Throws Error(internal) if anything differs, so that a broken
/// hand-built encoding can never reach disk. Costs a few milliseconds, once.
void fast_path_self_test();
/// The same check for one leaf key type (once per process per type; a no-op for types without
/// a fast path). LeafFactory runs it before its first fast leaf.
void fast_path_self_test(KeyAlg leaf_alg);

}  // namespace pgca::detail
