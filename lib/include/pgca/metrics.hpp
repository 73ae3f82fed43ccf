// `pgca metrics`: a PKI folder's expiry dates and counts in the Prometheus text exposition
// format, for the node exporter's textfile collector.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace pgca::metrics {

/// `value` as a label value of the text format: `\` → `\\`, `"` → `\"`, newline → `\n`.
[[nodiscard]] std::string escape_label(std::string_view value);

/// The metrics of `dir` (opened read-only, as `pgca list` does):
///   pgca_certificate_expiry_timestamp_seconds{kind,name,serial,issuer}  notAfter of every current
///       (valid or expired, not superseded or revoked) certificate, CAs included
///   pgca_certificates{status}            how many certificates the ledger holds per status
///   pgca_crl_next_update_timestamp_seconds{ca}, pgca_crl_number{ca}, pgca_crl_revoked{ca}
///   pgca_metrics_generated_timestamp_seconds  when this text was made (a stale file shows)
[[nodiscard]] std::string render(const std::string& dir);

}  // namespace pgca::metrics
