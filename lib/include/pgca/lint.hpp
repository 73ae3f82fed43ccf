// Certificate lint: checks a certificate against the rules pgca promises for everything it
// issues (docs/design.md §5, "Rules that output must keep"). Findings are data, never exceptions.
#pragma once

#include <string>
#include <vector>

#include "pgca/certificate.hpp"

namespace pgca {

/// One broken rule: a stable code for scripts and tests, and a sentence for people.
struct LintFinding {
    std::string code;     ///< e.g. "serial-not-positive"
    std::string message;  ///< what is wrong, with the offending value
};

/// Checks one certificate against the rules pgca promises (docs/design.md §5);
/// `issuer` is the CA certificate that signed it (for a self-signed root pass the root itself).
///
/// A certificate is checked as a CA when its basicConstraints say CA:TRUE and it either has
/// keyCertSign or no serverAuth/clientAuth EKU; otherwise as a leaf (a client leaf when its EKU
/// is clientAuth, a server leaf when it is serverAuth). The codes, in the order they are checked:
///
///   serial-not-positive, serial-too-long (> 20 octets), serial-too-short (< 64 bits),
///   version-not-3, validity-inverted, validity-starts-before-issuer, validity-ends-after-issuer,
///   issuer-name-mismatch, signature-invalid, signature-eddsa, signature-weak-digest (below SHA-256),
///   key-unreadable, rsa-key-too-small (< 2048 bits),
///   basic-constraints-missing, basic-constraints-malformed, basic-constraints-not-critical,
///   key-usage-missing, key-usage-malformed, key-usage-not-critical,
///   ca-key-usage-incomplete (keyCertSign + cRLSign), ca-has-eku, ca-key-eddsa,
///   leaf-is-ca, leaf-key-usage-no-digital-signature, leaf-key-usage-no-key-encipherment (RSA),
///   leaf-key-usage-ca-bits, eku-missing, eku-malformed, eku-not-exactly-one,
///   ski-missing, aki-missing (no AKI keyIdentifier), aki-mismatch (not the issuer's SKI),
///   client-dns-san, client-san-present, client-cn-missing, san-malformed, server-san-missing.
///
/// An empty result means the certificate keeps every rule. Throws only when memory runs out.
[[nodiscard]] std::vector<LintFinding> lint_certificate(const Certificate& cert, const Certificate& issuer);

}  // namespace pgca
