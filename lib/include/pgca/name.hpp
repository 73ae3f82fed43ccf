// Distinguished names, validated for X.509 and for the PostgreSQL contexts they end up in.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgca {

/// One RDN attribute of a subject, e.g. {"CN", "alice"}.
struct NameAttribute {
    std::string type;
    std::string value;
    bool operator==(const NameAttribute& o) const { return type == o.type && value == o.value; }
};

/// A subject DN with one value per attribute type, kept in the conventional X.509 order
/// (C, ST, L, O, OU, DC, CN, emailAddress) whatever order it was given in, so that equal
/// profiles always produce equal certificates.
class DistinguishedName final {
public:
    DistinguishedName() = default;

    /// A DN holding just CN=`cn`. Throws Error(profile) like set().
    [[nodiscard]] static DistinguishedName with_cn(std::string_view cn);

    /// The attribute types accepted, as a comma-separated list for messages.
    [[nodiscard]] static std::string known_types();

    /// Sets attribute `type` to `value`. Throws Error(profile) naming the attribute when the type
    /// is unknown, the value empty, too long for X.509 (RFC 5280 upper bounds), not UTF-8, or
    /// holds control characters (a newline must never reach a DN or a config line).
    void set(std::string_view type, std::string_view value);

    /// The value of `type`, or "" when absent.
    [[nodiscard]] std::string get(std::string_view type) const;
    [[nodiscard]] const std::vector<NameAttribute>& attributes() const noexcept { return attrs_; }
    [[nodiscard]] bool empty() const noexcept { return attrs_.empty(); }

    /// The DN as PostgreSQL's clientname=DN sees it: RFC 2253, most specific RDN first, made by
    /// the same OpenSSL call PostgreSQL uses (X509_NAME_print_ex with XN_FLAG_RFC2253).
    [[nodiscard]] std::string rfc2253() const;

    bool operator==(const DistinguishedName& o) const { return attrs_ == o.attrs_; }
    bool operator!=(const DistinguishedName& o) const { return !(*this == o); }

private:
    std::vector<NameAttribute> attrs_;
};

/// Throws Error(policy) unless `text` is valid UTF-8 with no control characters (C0, DEL, C1).
void require_printable_utf8(std::string_view text, std::string_view what);

}  // namespace pgca

namespace pgca {

/// True if `host` is an IPv4 or IPv6 literal (what becomes an iPAddress SAN).
[[nodiscard]] bool is_ip_literal(std::string_view host);

/// Throws Error(policy) naming `what` unless `host` is an IP literal, or a DNS name that follows
/// RFC 1123 (labels of 1–63 letters, digits and hyphens, not starting or ending with a hyphen,
/// at most 253 bytes), optionally with a leading "*." wildcard label as libpq accepts it.
void validate_host(std::string_view host, std::string_view what);

}  // namespace pgca
