// pgca metrics: what `pgca list` knows, as Prometheus gauges.
#include "pgca/metrics.hpp"

#include <array>
#include <map>

#include "pgca/ledger.hpp"
#include "pgca/operations.hpp"

namespace pgca::metrics {

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char ch : value) {
        if (ch == '\\') out += "\\\\";
        else if (ch == '"') out += "\\\"";
        else if (ch == '\n') out += "\\n";
        else out += ch;
    }
    return out;
}

namespace {

void header(std::string& out, const char* name, const char* help) {
    out += "# HELP ";
    out += name;
    out += " ";
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " gauge\n";
}

std::string label(const char* name, std::string_view value) {
    return std::string(name) + "=\"" + escape_label(value) + "\"";
}

}  // namespace

std::string render(const std::string& dir) {
    ops::ListOptions all;
    all.all = true;
    const ops::ListResult listed = ops::list(dir, all);
    std::string out;
    header(out, "pgca_certificate_expiry_timestamp_seconds",
           "notAfter of each current certificate (valid or expired; not superseded or revoked), Unix time.");
    std::map<std::string, long> by_status;
    for (auto s : {CertStatus::valid, CertStatus::expired, CertStatus::revoked, CertStatus::superseded})
        by_status[std::string(to_string(s))] = 0;
    for (const auto& e : listed.certificates) {
        ++by_status[std::string(to_string(e.status))];
        if (e.status != CertStatus::valid && e.status != CertStatus::expired) continue;
        out += "pgca_certificate_expiry_timestamp_seconds{" + label("kind", to_string(e.kind)) + "," +
               label("name", e.name) + "," + label("serial", e.serial) + "," + label("issuer", e.issuer) + "} " +
               std::to_string(static_cast<long long>(e.not_after)) + "\n";
    }
    header(out, "pgca_certificates", "Certificates in the ledger, by status (expired: valid but past notAfter).");
    for (const auto& [status, n] : by_status)
        out += "pgca_certificates{" + label("status", status) + "} " + std::to_string(n) + "\n";
    header(out, "pgca_crl_next_update_timestamp_seconds",
           "nextUpdate of each CA's current CRL, Unix time; past it PostgreSQL refuses every client certificate.");
    for (const auto& c : listed.crls)
        out += "pgca_crl_next_update_timestamp_seconds{" + label("ca", c.name) + "} " +
               std::to_string(static_cast<long long>(c.next_update)) + "\n";
    header(out, "pgca_crl_number", "cRLNumber of each CA's current CRL.");
    for (const auto& c : listed.crls)
        out += "pgca_crl_number{" + label("ca", c.name) + "} " + std::to_string(c.number) + "\n";
    header(out, "pgca_crl_revoked", "Serials each CA's current CRL revokes.");
    for (const auto& c : listed.crls)
        out += "pgca_crl_revoked{" + label("ca", c.name) + "} " + std::to_string(c.entries) + "\n";
    header(out, "pgca_metrics_generated_timestamp_seconds", "When pgca wrote these metrics, Unix time.");
    out += "pgca_metrics_generated_timestamp_seconds " + std::to_string(static_cast<long long>(listed.now)) + "\n";
    return out;
}

}  // namespace pgca::metrics
