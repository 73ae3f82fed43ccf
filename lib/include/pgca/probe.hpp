// Asking a live PostgreSQL server which certificate it serves.
#pragma once

#include <string>
#include <vector>

#include "pgca/certificate.hpp"

namespace pgca {

struct ProbeOptions {
    std::string host;          ///< host name or IP literal to connect to
    int port = 5432;
    std::string ca_file;       ///< PEM roots to verify the served chain against; "" = do not verify
    std::string server_name;   ///< name to check against the certificate (libpq verify-full rules); "" = host
    bool direct = false;       ///< PostgreSQL 17 direct TLS (ALPN "postgresql") instead of SSLRequest
    /// The whole exchange (connect, SSLRequest and its answer, the handshake and the certificates
    /// it carries) must finish within this; one deadline, not a limit per read.
    int timeout_ms = 10000;
};

struct ProbeResult {
    std::string tls_version;          ///< e.g. "TLSv1.3"
    std::string cipher;               ///< e.g. "TLS_AES_256_GCM_SHA384"
    std::string alpn;                 ///< negotiated ALPN protocol, "" if none
    std::vector<Certificate> chain;   ///< as served, leaf first
    bool verified = false;            ///< chain verifies against ca_file (false when no ca_file)
    std::string verify_error;         ///< OpenSSL's reason when !verified and ca_file was given
    bool name_matches = false;        ///< server_name matches the leaf as libpq's verify-full would
    std::string name_checked;         ///< the name that was checked
    long days_left = 0;               ///< whole days until the leaf's notAfter (negative if expired)
};

/// Connects to host:port, sends PostgreSQL's SSLRequest and reads exactly one byte before
/// starting TLS (or, with `direct`, starts TLS at once with ALPN "postgresql"), completes the
/// handshake, and reports what was served. Never sends a StartupMessage. Throws Error(io) when
/// the server cannot be reached or does not answer, or the exchange takes longer than
/// `timeout_ms` (the message names the phase and the time taken), Error(policy) when it answers 'N' (SSL off),
/// Error(crypto) when the handshake fails.
[[nodiscard]] ProbeResult probe(const ProbeOptions& options);

/// True when `host` matches `leaf` the way libpq's sslmode=verify-full (PostgreSQL 15+) decides:
/// an IP literal is compared byte-wise with the iPAddress SANs and as a string with the dNSName
/// SANs; a DNS name case-insensitively with the dNSName SANs, where "*.domain" matches exactly
/// one left-most label; the first CN counts only when there is no SAN of the host's own type.
[[nodiscard]] bool libpq_name_matches(const CertInfo& leaf, const std::string& host);

/// Splits "HOST:PORT" or "[IPv6]:PORT" (port defaults to 5432). Throws Error(usage).
void parse_host_port(const std::string& text, std::string& host, int& port);

}  // namespace pgca
