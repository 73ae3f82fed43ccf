#include "pgca/name.hpp"

#include <openssl/obj_mac.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "ossl/x509_name.hpp"
#include "pgca/error.hpp"

namespace pgca {
namespace {

struct AttrRule {
    std::string_view type;
    int nid;
    std::size_t max_len;  // RFC 5280 Appendix A upper bounds, in characters (we check bytes: stricter)
};
// Conventional order, least specific first; it is the order in the certificate.
constexpr std::array<AttrRule, 8> kAttrs{{
    {"C", NID_countryName, 2},
    {"ST", NID_stateOrProvinceName, 128},
    {"L", NID_localityName, 128},
    {"O", NID_organizationName, 64},
    {"OU", NID_organizationalUnitName, 64},
    {"DC", NID_domainComponent, 63},
    {"CN", NID_commonName, 64},
    {"emailAddress", NID_pkcs9_emailAddress, 255},
}};

const AttrRule* find_rule(std::string_view type) {
    for (const auto& r : kAttrs)
        if (r.type == type) return &r;
    return nullptr;
}

std::size_t rank(std::string_view type) {
    for (std::size_t i = 0; i < kAttrs.size(); ++i)
        if (kAttrs[i].type == type) return i;
    return kAttrs.size();
}

}  // namespace

void require_printable_utf8(std::string_view text, std::string_view what) {
    auto bad = [&](const std::string& why) { throw Error(ErrorKind::policy, std::string(what) + ": " + why); };
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) bad("contains a control character (byte 0x" +
                                       std::string(1, "0123456789abcdef"[c >> 4]) +
                                       std::string(1, "0123456789abcdef"[c & 15]) + ")");
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > text.size()) bad("is not valid UTF-8");
        unsigned cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xc0) != 0x80) bad("is not valid UTF-8");
            cp = (cp << 6) | (cc & 0x3fu);
        }
        // Overlong forms, surrogates and out-of-range code points are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            bad("is not valid UTF-8");
        if (cp >= 0x80 && cp <= 0x9f) bad("contains a control character");
        i += len;
    }
}

std::string DistinguishedName::known_types() {
    std::string out;
    for (const auto& r : kAttrs) {
        if (!out.empty()) out += ", ";
        out += r.type;
    }
    return out;
}

DistinguishedName DistinguishedName::with_cn(std::string_view cn) {
    DistinguishedName dn;
    dn.set("CN", cn);
    return dn;
}

void DistinguishedName::set(std::string_view type, std::string_view value) {
    const AttrRule* rule = find_rule(type);
    std::string what = "subject attribute " + std::string(type);
    if (rule == nullptr)
        throw Error(ErrorKind::profile, "unknown subject attribute \"" + std::string(type) +
                                            "\" (known: " + known_types() + ")");
    if (value.empty()) throw Error(ErrorKind::profile, what + ": must not be empty");
    try {
        require_printable_utf8(value, what);
    } catch (const Error& e) {
        throw Error(ErrorKind::profile, e.what());
    }
    if (type == "C" && !(value.size() == 2 && std::isupper(static_cast<unsigned char>(value[0])) &&
                         std::isupper(static_cast<unsigned char>(value[1]))))
        throw Error(ErrorKind::profile, what + ": must be a two-letter upper-case country code");
    if (value.size() > rule->max_len)
        throw Error(ErrorKind::profile, what + ": longer than the X.509 limit of " +
                                            std::to_string(rule->max_len) + " bytes");
    auto it = std::find_if(attrs_.begin(), attrs_.end(), [&](const NameAttribute& a) { return a.type == type; });
    if (it != attrs_.end()) {
        it->value = std::string(value);
        return;
    }
    NameAttribute attr{std::string(type), std::string(value)};
    auto pos = std::find_if(attrs_.begin(), attrs_.end(),
                            [&](const NameAttribute& a) { return rank(a.type) > rank(type); });
    attrs_.insert(pos, std::move(attr));
}

std::string DistinguishedName::get(std::string_view type) const {
    for (const auto& a : attrs_)
        if (a.type == type) return a.value;
    return {};
}

std::string DistinguishedName::rfc2253() const {
    auto name = detail::build_name(*this);
    return detail::rfc2253(name.get());
}

namespace detail {

ossl::X509NamePtr build_name(const DistinguishedName& dn) {
    ossl::X509NamePtr name(ossl::check_ptr(X509_NAME_new(), "allocate X509_NAME"));
    for (const auto& a : dn.attributes()) {
        const AttrRule* rule = find_rule(a.type);
        if (rule == nullptr) throw Error(ErrorKind::internal, "unvalidated subject attribute " + a.type);
        // MBSTRING_UTF8 lets OpenSSL pick PrintableString where it fits and UTF8String otherwise
        // (the 'utf8only' mask is OpenSSL 3's default), as RFC 5280 §4.1.2.6 recommends.
        ossl::check1(X509_NAME_add_entry_by_NID(name.get(), rule->nid, MBSTRING_UTF8,
                                                reinterpret_cast<const unsigned char*>(a.value.data()),
                                                static_cast<int>(a.value.size()), -1, 0),
                     "subject attribute " + a.type + "=" + a.value);
    }
    return name;
}

std::string rfc2253(const X509_NAME* name) {
    auto bio = ossl::mem_bio();
    // be-secure-openssl.c: X509_NAME_print_ex(bio, x509name, 0, XN_FLAG_RFC2253)
    if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) ossl::fail("print name as RFC 2253");
    return ossl::bio_string(bio.get());
}

}  // namespace detail
}  // namespace pgca

#include <arpa/inet.h>

namespace pgca {

bool is_ip_literal(std::string_view host) {
    std::string h(host);
    unsigned char buf[16];
    return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

void validate_host(std::string_view host, std::string_view what) {
    auto bad = [&](const std::string& why) {
        throw Error(ErrorKind::policy, std::string(what) + ": \"" + std::string(host) + "\" is not a valid host name (" + why + ")");
    };
    require_printable_utf8(host, what);
    if (host.empty()) bad("empty");
    if (is_ip_literal(host)) return;
    if (host.size() > 253) bad("longer than 253 bytes");
    std::string_view rest = host;
    if (rest.size() > 2 && rest.substr(0, 2) == "*.") rest.remove_prefix(2);
    if (!rest.empty() && rest.back() == '.') bad("trailing dot");
    std::size_t start = 0;
    while (start <= rest.size()) {
        std::size_t dot = rest.find('.', start);
        std::string_view label = rest.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) bad("empty label");
        if (label.size() > 63) bad("label longer than 63 bytes");
        for (char c : label)
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-'))
                bad(std::string("character '") + c + "' is not allowed; use letters, digits, '-' and '.'");
        if (label.front() == '-' || label.back() == '-') bad("a label starts or ends with '-'");
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
}

}  // namespace pgca
