// Certificate revocation lists: reasons, making a CRL for a CA, and reading one back.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/native.hpp"

namespace pgca {

class CertificateAuthority;
class Certificate;

/// RFC 5280 §5.3.1 CRLReason values pgca accepts (removeFromCRL is for delta CRLs, which pgca
/// does not make).
enum class RevocationReason {
    unspecified = 0,
    key_compromise = 1,
    ca_compromise = 2,
    affiliation_changed = 3,
    superseded = 4,
    cessation_of_operation = 5,
    certificate_hold = 6,
    privilege_withdrawn = 9,
    aa_compromise = 10,
};

/// RFC 5280's name: "keyCompromise", "cessationOfOperation", …
[[nodiscard]] std::string_view to_string(RevocationReason reason) noexcept;
[[nodiscard]] std::optional<RevocationReason> parse_revocation_reason(std::string_view name) noexcept;
[[nodiscard]] std::string revocation_reason_names();

/// One entry of a CRL.
struct RevokedEntry {
    std::string serial_hex;
    std::time_t revoked_at = 0;
    RevocationReason reason = RevocationReason::unspecified;
};

/// A parsed or freshly made CRL. Copying shares the X509_CRL (up-ref).
class Crl final {
public:
    Crl(const Crl&) noexcept;
    Crl& operator=(const Crl&) noexcept;
    Crl(Crl&&) noexcept;
    Crl& operator=(Crl&&) noexcept;
    ~Crl();

    /// Takes ownership of `crl` (non-null).
    [[nodiscard]] static Crl adopt(X509_CRL* crl);
    /// The first CRL in PEM text. Throws Error(input) naming `what`.
    [[nodiscard]] static Crl from_pem(std::string_view pem, std::string_view what);
    /// A CRL in DER. Throws Error(input) naming `what`.
    [[nodiscard]] static Crl from_der(std::string_view der, std::string_view what);

    [[nodiscard]] std::string to_pem() const;
    [[nodiscard]] std::string issuer_rfc2253() const;
    [[nodiscard]] std::time_t this_update() const;
    [[nodiscard]] std::time_t next_update() const;
    /// The cRLNumber extension, or -1 when absent.
    [[nodiscard]] std::int64_t number() const;
    /// Serials (upper-case hex) of the revoked certificates, in CRL order.
    [[nodiscard]] std::vector<std::string> revoked_serials() const;
    /// The revoked certificates in CRL order: serial, revocation time and reason
    /// (unspecified when the entry has no reasonCode).
    [[nodiscard]] std::vector<RevokedEntry> entries() const;
    /// True when `ca`'s key signed this CRL and its issuer name is `ca`'s subject.
    [[nodiscard]] bool issued_by(const Certificate& ca) const;
    /// The file name OpenSSL's hashed-directory lookup (and so PostgreSQL's ssl_crl_dir) finds
    /// this CRL under: the issuer name hash as 8 hex digits, ".r0".
    [[nodiscard]] std::string hashed_name() const;

    [[nodiscard]] X509_CRL* native() const noexcept { return crl_; }

private:
    explicit Crl(X509_CRL* crl) noexcept : crl_(crl) {}
    X509_CRL* crl_ = nullptr;
};

/// A CRL as make_crl makes it, before anything parses it back: its DER and PEM.
struct EncodedCrl {
    std::string der;
    std::string pem;
};

/// What make_crl makes, as encodings only (what is written to disk): parsing a CRL of 100,000
/// entries back costs more than making it. Throws Error(policy) when next_update is not after
/// this_update, Error(ledger) for a serial that is not hex, Error(crypto) if signing fails.
[[nodiscard]] EncodedCrl encode_crl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries,
                                    std::int64_t number, std::time_t this_update, std::time_t next_update);

/// The file name ssl_crl_dir finds a CRL by `issuer` under (like Crl::hashed_name of it).
[[nodiscard]] std::string hashed_crl_name(const Certificate& issuer);

/// Makes and signs a v2 CRL for `ca`: the entries (with a reasonCode extension unless the reason
/// is unspecified), cRLNumber `number`, the AKI of `ca`, lastUpdate `this_update` and nextUpdate
/// `next_update`. PostgreSQL rejects every client certificate once nextUpdate has passed
/// (docs/postgres-facts.md §8.1), so callers choose next_update with care.
[[nodiscard]] Crl make_crl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries,
                           std::int64_t number, std::time_t this_update, std::time_t next_update);

}  // namespace pgca
