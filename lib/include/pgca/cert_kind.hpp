// What a certificate is for: decides its extensions when it is made, and names it in the ledger.
#pragma once

#include <optional>
#include <string_view>

namespace pgca {

/// `unknown`: a revoked serial `pgca ledger rebuild` found only in a CRL (its certificate is
/// gone, so nothing else is known about it); never issued.
enum class CertKind { root, intermediate, server, client, unknown };

/// "root", "intermediate", "server", "client", "unknown": the ledger's and the CLI's spelling.
[[nodiscard]] std::string_view to_string(CertKind kind) noexcept;
/// Parses the spelling above; std::nullopt if unknown.
[[nodiscard]] std::optional<CertKind> parse_cert_kind(std::string_view text) noexcept;

}  // namespace pgca
