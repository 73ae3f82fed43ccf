// Leaf certificates (servers and clients) behind one interface, private to the library. Two
// builders make them: the generic OpenSSL path (ossl/x509_build.cpp) and the fast DER path for
// EC P-256/P-384 leaves (ossl/fast_leaf.cpp); make_leaf_builder() is the one place that chooses.
// Both read the same rules (leaf_rules() in internal.hpp: basicConstraints, keyUsage, EKU,
// SAN, validity clamped to the issuer, random serial, SKI/AKI). OpenSSL-free: the issuing
// pipeline includes it.
#pragma once

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "pgca/certificate.hpp"
#include "pgca/key.hpp"
#include "pgca/name.hpp"

namespace pgca::detail {

/// The two kinds of leaf pgca issues.
enum class LeafKind { server, client };

/// What a builder needs of the CA that signs: its certificate and its key. Both are borrowed
/// and must outlive every builder made from them.
struct LeafIssuer {
    const Certificate& cert;
    const PrivateKey& key;
};

/// One leaf to make. `hosts` are a server's SANs (already validated where they entered: the
/// profile decoder or the CLI); a client has none. `key` null: the builder generates a key of
/// its type and returns its PEM; otherwise the certificate is for `key` and no PEM is returned.
struct LeafRequest {
    LeafKind kind = LeafKind::client;
    DistinguishedName subject;
    std::vector<std::string> hosts;
    int days = 0;
    const PrivateKey* key = nullptr;

    [[nodiscard]] static LeafRequest client(DistinguishedName subject, int days, const PrivateKey* key = nullptr) {
        return {LeafKind::client, std::move(subject), {}, days, key};
    }
    [[nodiscard]] static LeafRequest server(DistinguishedName subject, std::vector<std::string> hosts, int days,
                                            const PrivateKey* key = nullptr) {
        return {LeafKind::server, std::move(subject), std::move(hosts), days, key};
    }
};

/// A leaf as bulk issuance needs it: the encodings that go to disk and what the ledger records.
/// No X509 object is kept (parsing one back costs more than making it on the fast path);
/// certificate() makes one on demand.
struct Leaf {
    std::string cert_der;            ///< the leaf alone
    std::string cert_pem;            ///< the leaf alone ("BEGIN CERTIFICATE"), == Certificate::to_pem()
    std::string key_pem;             ///< unencrypted PKCS#8, == PrivateKey::to_pem(); "" for a given key
    std::string serial_hex;          ///< == Certificate::serial_hex()
    std::string subject;             ///< RFC 2253, == Certificate::subject_rfc2253()
    std::time_t not_before = 0;
    std::time_t not_after = 0;
    std::string sha256_fingerprint;  ///< == Certificate::sha256_fingerprint()

    /// The certificate, parsed from cert_der (a full OpenSSL decode: for tests and single
    /// certificates, not for bulk work). Throws Error(internal) if it does not parse.
    [[nodiscard]] Certificate certificate() const;
};

/// The Leaf of a certificate made elsewhere, with `key_pem` as its key.
[[nodiscard]] Leaf leaf_of(const Certificate& cert, std::string key_pem);

/// Makes leaves for one issuer and one key type. One instance per thread (not thread-safe).
class LeafBuilder {
public:
    virtual ~LeafBuilder() = default;
    /// The leaf for `request`. Throws Error(policy) for an empty subject, days outside
    /// 1..36600, an expired issuer or a server request without hosts; Error(crypto) if OpenSSL
    /// fails.
    [[nodiscard]] virtual Leaf make(const LeafRequest& request) = 0;
    /// Whether this builder is the fast DER path.
    [[nodiscard]] virtual bool fast() const noexcept = 0;
};

/// The builder for leaves of type `alg` signed by `issuer`: the fast path when it can make them
/// (EC P-256/P-384 from an issuer with a subjectKeyIdentifier, as every pgca CA has), the
/// generic one otherwise. The only place the path is chosen.
[[nodiscard]] std::unique_ptr<LeafBuilder> make_leaf_builder(const LeafIssuer& issuer, KeyAlg alg);

/// The generic OpenSSL builder (X509_* calls), for any key type.
[[nodiscard]] std::unique_ptr<LeafBuilder> make_generic_leaf_builder(const LeafIssuer& issuer, KeyAlg alg);

/// The fast DER builder, or null when it cannot make these leaves. For a fast type, the first
/// builder of the process runs fast_path_self_test(alg) (and throws its Error(internal)).
[[nodiscard]] std::unique_ptr<LeafBuilder> make_fast_leaf_builder(const LeafIssuer& issuer, KeyAlg alg);

/// Runs once per process per type (std::call_once; retried on the next call if it threw): a
/// fast client and server leaf for a P-256 and a P-384 key, each checked against the generic
/// path for the same key: same TBSCertificate bytes, the certificate re-parses to the same DER,
/// its signature verifies, the key matches, and the key PEM is byte-identical to
/// PrivateKey::to_pem(). Throws Error(internal) if anything differs, so that a broken
/// hand-built encoding never reaches disk. Costs a few milliseconds, once.
void fast_path_self_test();
/// The same check for one leaf key type (a no-op for types without a fast path).
void fast_path_self_test(KeyAlg leaf_alg);

}  // namespace pgca::detail
