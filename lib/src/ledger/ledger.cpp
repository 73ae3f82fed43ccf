// What every ledger backend shares: the spelling of the typed fields.
#include "pgca/ledger.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

#include "ledger/backends.hpp"
#include "pgca/error.hpp"

namespace pgca {
namespace {

constexpr const char* kSupported =
    "supported: sqlite:PATH, memory:, postgresql://… or postgres://… (a libpq URI), host=… dbname=… (a libpq "
    "conninfo)";

// A URL's scheme: letters, digits, '+', '-', '.' from its start up to a ':' (RFC 3986), if any.
bool has_scheme(const std::string& url) {
    const std::size_t colon = url.find(':');
    if (colon == std::string::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(url[0]))) return false;
    return std::all_of(url.begin(), url.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

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

std::unique_ptr<Ledger> open_ledger(const std::string& url, const LedgerOptions& options) {
    if (starts_with(url, "sqlite:")) {
        const std::string path = url.substr(7);
        if (path.empty()) throw Error(ErrorKind::usage, "ledger URL \"" + url + "\": no file after sqlite:");
        return detail::open_sqlite_ledger(path, options.read_only);
    }
    if (url == "memory:") return detail::open_memory_ledger();
    // postgresql://…, postgres://…, or a libpq conninfo ("host=… dbname=…": an `=` and no scheme).
    if (starts_with(url, "postgresql://") || starts_with(url, "postgres://") ||
        (url.find('=') != std::string::npos && !has_scheme(url)))
        return detail::open_postgres_ledger(url, options.read_only);
    throw Error(ErrorKind::usage, "ledger URL \"" + url + "\": unknown scheme; " + std::string(kSupported));
}

std::string detail::bare_serial(const std::string& typed) {
    std::string bare = typed.substr(std::min(typed.find_first_not_of('0'), typed.size()));
    for (auto& c : bare) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return bare;
}

}  // namespace pgca
