// What a certificate is for: decides its extensions when it is made, and names it in the ledger.
#pragma once

#include <optional>
#include <string_view>

namespace pgca {

/// `unknown`: a revoked serial `pgca ledger rebuild` found only in a CRL (its certificate is
/// gone, so nothing else is known about it); never issued. `pooler`: a PgBouncer's server
/// certificate (clients → pooler); `pooler_client`: its client certificate (pooler → PostgreSQL);
/// both are named after the pooler.
enum class CertKind { root, intermediate, server, client, unknown, pooler, pooler_client };

/// A TLS server's certificate (serverAuth, hosts as SANs): server, pooler.
[[nodiscard]] constexpr bool is_server_kind(CertKind k) noexcept { return k == CertKind::server || k == CertKind::pooler; }
/// A TLS client's certificate (clientAuth, a CN): client, pooler_client.
[[nodiscard]] constexpr bool is_client_kind(CertKind k) noexcept {
    return k == CertKind::client || k == CertKind::pooler_client;
}

/// "root", "intermediate", "server", "client", "unknown", "pooler", "pooler_client": the
/// ledger's and the CLI's spelling.
[[nodiscard]] std::string_view to_string(CertKind kind) noexcept;
/// Parses the spelling above; std::nullopt if unknown.
[[nodiscard]] std::optional<CertKind> parse_cert_kind(std::string_view text) noexcept;

}  // namespace pgca
