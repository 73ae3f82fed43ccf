// How a ledger row is laid out in SQL, shared by the SQL backends (sqlite_ledger.cpp,
// postgres_ledger.cpp): the columns of a certificate in the order kSelectColumns lists them, and
// their conversion from and to LedgerEntry. A backend supplies a row type with
// text(col) -> std::string, integer(col) -> std::int64_t and null(col) -> bool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pgca/error.hpp"
#include "pgca/ledger.hpp"

namespace pgca::detail {

/// The columns every read selects, in the order entry_from_row reads them.
inline constexpr const char* kSelectColumns =
    "id, serial, issuer, kind, name, subject, not_before, not_after, fingerprint, status, "
    "issued_at, revoked_at, revocation_reason, cert_file_sha256, key_file_sha256, "
    "hosts, cn, key_alg, days, key_passphrase";

/// The typed columns of IssueParams: hosts comma-separated, key_passphrase as
/// PassphraseSource::to_json(); std::nullopt (NULL) where not known or not the kind's.
struct ParamColumns {
    std::optional<std::string> hosts, cn, key_alg;
    std::int64_t days = 0;
    std::optional<std::string> key_passphrase;
};

[[nodiscard]] inline ParamColumns param_columns(const IssueParams& p) {
    ParamColumns c;
    if (is_server_kind(p.kind)) {
        c.hosts.emplace();
        for (const auto& h : p.hosts) *c.hosts += (c.hosts->empty() ? "" : ",") + h;
        if (p.key_passphrase) c.key_passphrase = p.key_passphrase->to_json();
    }
    if (is_client_kind(p.kind)) c.cn = p.cn;
    if (p.key) c.key_alg = std::string(to_string(*p.key));
    c.days = p.days;
    return c;
}

// A stored value this pgca cannot read: the row and the column named.
[[noreturn]] inline void bad_column_value(std::int64_t id, const char* column, const std::string& value,
                                          const std::string& why) {
    throw Error(ErrorKind::ledger, "ledger row " + std::to_string(id) + ", column " + column + ": \"" + value +
                                       "\" is not " + why);
}

template <class T, class Row, class Parse>
T enum_column(const Row& s, int col, std::int64_t id, const char* column, Parse parse, const char* why) {
    std::string text = s.text(col);
    auto v = parse(text);
    if (!v) bad_column_value(id, column, text, why);
    return *v;
}

template <class Row>
std::optional<RevocationReason> reason_column(const Row& s, int col, std::int64_t id) {
    if (s.text(col).empty()) return std::nullopt;
    return enum_column<RevocationReason>(s, col, id, "revocation_reason", parse_revocation_reason,
                                         "an RFC 5280 reason name");
}

template <class Row>
IssueParams params_from_row(const Row& s, int first, std::int64_t id, const LedgerEntry& e) {
    IssueParams p;
    p.kind = e.kind;
    p.name = e.name;
    for (std::string hosts = s.text(first); !hosts.empty();) {
        const std::size_t comma = hosts.find(',');
        p.hosts.push_back(hosts.substr(0, comma));
        hosts.erase(0, comma == std::string::npos ? hosts.size() : comma + 1);
    }
    p.cn = s.text(first + 1);
    if (!s.null(first + 2)) p.key = enum_column<KeyAlg>(s, first + 2, id, "key_alg", parse_key_alg, "a key type");
    p.days = static_cast<int>(s.integer(first + 3));
    if (s.null(first + 4)) {
        p.key_passphrase.reset();
    } else {
        try {
            p.key_passphrase = PassphraseSource::from_json(s.text(first + 4));
        } catch (const Error&) {
            bad_column_value(id, "key_passphrase", s.text(first + 4), "a passphrase source");
        }
    }
    return p;
}

/// The entry of a row selected with kSelectColumns.
template <class Row>
LedgerEntry entry_from_row(const Row& s) {
    LedgerEntry e;
    e.id = s.integer(0);
    e.serial = s.text(1);
    e.issuer = s.text(2);
    e.kind = enum_column<CertKind>(s, 3, e.id, "kind", parse_cert_kind, "a certificate kind");
    e.name = s.text(4);
    e.subject = s.text(5);
    e.not_before = static_cast<std::time_t>(s.integer(6));
    e.not_after = static_cast<std::time_t>(s.integer(7));
    e.fingerprint = s.text(8);
    e.status = enum_column<CertStatus>(s, 9, e.id, "status", parse_cert_status, "a certificate status");
    e.issued_at = static_cast<std::time_t>(s.integer(10));
    e.revoked_at = static_cast<std::time_t>(s.integer(11));
    e.revocation_reason = reason_column(s, 12, e.id);
    e.cert_file_sha256 = s.text(13);
    e.key_file_sha256 = s.text(14);
    e.params = params_from_row(s, 15, e.id, e);
    return e;
}

/// The message of record() for a serial the issuer already has (every backend's wording).
[[nodiscard]] inline std::string duplicate_serial_message(const LedgerEntry& e) {
    return "record " + std::string(to_string(e.kind)) + " certificate \"" + e.name + "\" (serial " + e.serial +
           "): serial " + e.serial + " is already recorded for \"" + e.issuer + "\"";
}

/// "ledger X has schema version V, newer than this pgca understands (N)" (every backend's wording).
[[nodiscard]] inline std::string newer_schema_message(const std::string& what, std::size_t version,
                                                     std::size_t known) {
    return "ledger " + what + " has schema version " + std::to_string(version) +
           ", newer than this pgca understands (" + std::to_string(known) + ")";
}

}  // namespace pgca::detail
