// Parsed X.509 certificates as immutable values, and what `pgca inspect` reports about them.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/key.hpp"
#include "pgca/native.hpp"

namespace pgca {

/// What a certificate says, in the forms PostgreSQL and operators use.
struct CertInfo {
    std::string subject;        ///< RFC 2253, as PostgreSQL's clientname=DN compares it
    std::string issuer;         ///< RFC 2253
    std::string common_name;    ///< first CN in ASN.1 order (what PostgreSQL's cert auth uses); "" if none
    std::string serial_hex;     ///< upper-case hex, no leading zeros beyond one byte's pair
    std::time_t not_before = 0;
    std::time_t not_after = 0;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
    std::vector<std::string> extended_key_usage;  ///< "serverAuth", "clientAuth", or the OID
    std::vector<std::string> key_usage;           ///< "digitalSignature", "keyCertSign", …
    bool is_ca = false;
    int path_len = -1;                  ///< basicConstraints pathLenConstraint, -1 if absent
    std::string key_type;               ///< "EC P-256", "RSA 2048", "ED25519", …
    std::string signature_algorithm;    ///< e.g. "ecdsa-with-SHA256"
    std::string sha256_fingerprint;     ///< colon-separated upper-case hex of the DER
    std::string subject_key_id;         ///< hex, "" if absent
    std::string authority_key_id;       ///< hex, "" if absent
};

/// A certificate. Copying shares the underlying X509 (up-ref); it is never modified.
class Certificate final {
public:
    Certificate(const Certificate&) noexcept;
    Certificate& operator=(const Certificate&) noexcept;
    Certificate(Certificate&&) noexcept;
    Certificate& operator=(Certificate&&) noexcept;
    ~Certificate();

    /// Takes ownership of `x509` (non-null).
    [[nodiscard]] static Certificate adopt(X509* x509);
    /// The first certificate in PEM text. Throws Error(input) naming `what` if there is none.
    [[nodiscard]] static Certificate from_pem(std::string_view pem, std::string_view what);
    /// Every certificate in PEM text, in order. Throws Error(input) if there is none, or if the
    /// text holds anything but certificates.
    [[nodiscard]] static std::vector<Certificate> chain_from_pem(std::string_view pem, std::string_view what);

    [[nodiscard]] std::string to_pem() const;
    [[nodiscard]] std::string to_der() const;
    [[nodiscard]] CertInfo info() const;

    [[nodiscard]] std::string serial_hex() const;
    [[nodiscard]] std::string subject_rfc2253() const;
    [[nodiscard]] std::time_t not_before() const;
    [[nodiscard]] std::time_t not_after() const;
    [[nodiscard]] std::string sha256_fingerprint() const;

    /// The key type of the certificate's public key as profiles spell it, or std::nullopt for
    /// a type pgca does not issue.
    [[nodiscard]] std::optional<KeyAlg> key_alg() const;
    /// The subjectAltName hosts in certificate order, as a profile lists them: dNSName entries
    /// as they are, iPAddress entries as text (inet_ntop). Empty without the extension.
    [[nodiscard]] std::vector<std::string> san_hosts() const;

    /// True when `key` is the private half of this certificate's public key.
    [[nodiscard]] bool matches(const PrivateKey& key) const;
    /// True when this certificate's signature verifies with `issuer`'s public key and its issuer
    /// name equals `issuer`'s subject.
    [[nodiscard]] bool issued_by(const Certificate& issuer) const;

    /// Borrowed pointer; valid while this value lives. Never modify it.
    [[nodiscard]] X509* native() const noexcept { return x509_; }

private:
    explicit Certificate(X509* x509) noexcept : x509_(x509) {}
    X509* x509_ = nullptr;
};

/// SHA-256 of `data` as lower-case hex.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// ISO 8601 UTC, "2026-11-29T10:01:36Z".
[[nodiscard]] std::string format_time(std::time_t t);

}  // namespace pgca
