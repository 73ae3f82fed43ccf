// What every ledger backend shares: the spelling of the typed fields.
#include "pgca/ledger.hpp"

#include <utility>

namespace pgca {
namespace {

constexpr std::pair<CertStatus, std::string_view> kStatusNames[] = {
    {CertStatus::valid, "valid"},
    {CertStatus::revoked, "revoked"},
    {CertStatus::superseded, "superseded"},
    {CertStatus::expired, "expired"},
};

}  // namespace

std::string_view to_string(CertStatus status) noexcept {
    for (const auto& [s, name] : kStatusNames)
        if (s == status) return name;
    return "valid";
}

std::string_view to_string(const std::optional<RevocationReason>& reason) noexcept {
    return reason ? to_string(*reason) : std::string_view();
}

std::optional<CertStatus> parse_cert_status(std::string_view text) noexcept {
    for (const auto& [s, name] : kStatusNames)
        if (name == text) return s;
    return std::nullopt;
}

}  // namespace pgca
