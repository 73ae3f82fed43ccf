// What a certificate is issued with: the one description apply compares, the issuing pipeline
// records and rotate reads back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/cert_kind.hpp"
#include "pgca/key.hpp"
#include "pgca/secret.hpp"

namespace pgca {

/// Everything a leaf (or CA) is issued with. What the CLI may add for one run only (e.g.
/// rotate's --keep-key) is not part of it.
///
/// Two groups of fields:
///  - those that decide a re-issue, and so enter fingerprint(): a server's hosts, key and
///    key_passphrase; a client's CN and key; a CA's key;
///  - `days`, which does not: a changed server_days or client_days applies from the next renewal
///    on, it never re-issues a certificate by itself (apply has always behaved so). It is still
///    recorded, for every kind, so that rotate renews a server for as long as it was issued.
struct IssueParams {
    CertKind kind = CertKind::unknown;
    std::string name;                ///< server name, role name, or "root" / "intermediate"
    std::vector<std::string> hosts;  ///< servers: subjectAltNames in order
    std::string cn;                  ///< clients: the subject CN; "" = the role name
    /// std::nullopt when not known (a rebuilt ledger whose certificate has an unusual key type).
    std::optional<KeyAlg> key;
    int days = 0;  ///< validity asked for; 0 when not known
    /// Servers: where the key's passphrase comes from (an empty source: the key is in the
    /// clear). std::nullopt when not known (a rebuilt ledger whose server key is encrypted).
    std::optional<PassphraseSource> key_passphrase = PassphraseSource{};

    [[nodiscard]] static IssueParams server(std::string name, std::vector<std::string> hosts, KeyAlg key, int days,
                                            PassphraseSource key_passphrase);
    [[nodiscard]] static IssueParams client(std::string name, std::string cn, KeyAlg key, int days);
    /// A root or intermediate CA (named after its kind).
    [[nodiscard]] static IssueParams ca(CertKind kind, KeyAlg key, int days);

    /// The client's CN as issued: `cn`, or the role name when `cn` is "".
    [[nodiscard]] const std::string& common_name() const noexcept { return cn.empty() ? name : cn; }

    /// SHA-256 (hex) of a canonical encoding of the kind and the fields that decide a re-issue
    /// (see above). Equal fingerprints: nothing that matters changed. An unknown field makes a
    /// fingerprint that no fully known IssueParams has.
    [[nodiscard]] std::string fingerprint() const;

    /// Why a certificate issued with these parameters does not match `wanted`, one reason per
    /// field that decides a re-issue, in field-name order: `hosts changed (["a"] → ["a","b"])`
    /// (values as JSON; "none" for a field that is not known here). A field not known here
    /// matches a `wanted` that is empty (no key_passphrase). Empty when nothing differs.
    [[nodiscard]] std::vector<std::string> differences(const IssueParams& wanted) const;
};

}  // namespace pgca
