#include "pgca/crl.hpp"

#include <openssl/pem.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <utility>

#include "internal.hpp"
#include "ossl/der.hpp"
#include "pgca/ca.hpp"
#include "pgca/certificate.hpp"

namespace pgca {
namespace {

struct ReasonName {
    RevocationReason reason;
    std::string_view name;
};
constexpr std::array<ReasonName, 9> kReasons{{
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::ca_compromise, "cACompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
    {RevocationReason::certificate_hold, "certificateHold"},
    {RevocationReason::privilege_withdrawn, "privilegeWithdrawn"},
    {RevocationReason::aa_compromise, "aACompromise"},
}};

// `openssl rehash` naming: the issuer-name hash X509_LOOKUP_hash_dir (and so PostgreSQL's
// ssl_crl_dir) looks a CRL up by (SHA-1 of the canonical name), as 8 hex digits, ".r0".
std::string hashed_name_of(const X509_NAME* issuer) {
    int ok = 0;
    unsigned long h = X509_NAME_hash_ex(issuer, nullptr, nullptr, &ok);
    if (ok != 1) ossl::fail("hash CRL issuer name");
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08lx.r0", h & 0xffffffffUL);
    return buf;
}

}  // namespace

std::string_view to_string(RevocationReason reason) noexcept {
    for (const auto& r : kReasons)
        if (r.reason == reason) return r.name;
    return "unspecified";
}

std::optional<RevocationReason> parse_revocation_reason(std::string_view name) noexcept {
    for (const auto& r : kReasons)
        if (r.name == name) return r.reason;
    return std::nullopt;
}

std::string revocation_reason_names() {
    std::string out;
    for (const auto& r : kReasons) out += (out.empty() ? "" : ", ") + std::string(r.name);
    return out;
}

Crl::Crl(const Crl& o) noexcept : crl_(o.crl_) {
    if (crl_ != nullptr) X509_CRL_up_ref(crl_);
}
Crl& Crl::operator=(const Crl& o) noexcept {
    if (this != &o) {
        if (o.crl_ != nullptr) X509_CRL_up_ref(o.crl_);
        X509_CRL_free(crl_);
        crl_ = o.crl_;
    }
    return *this;
}
Crl::Crl(Crl&& o) noexcept : crl_(std::exchange(o.crl_, nullptr)) {}
Crl& Crl::operator=(Crl&& o) noexcept {
    if (this != &o) {
        X509_CRL_free(crl_);
        crl_ = std::exchange(o.crl_, nullptr);
    }
    return *this;
}
Crl::~Crl() { X509_CRL_free(crl_); }

Crl Crl::adopt(X509_CRL* crl) {
    if (crl == nullptr) throw Error(ErrorKind::internal, "Crl::adopt(nullptr)");
    return Crl(crl);
}

Crl Crl::from_pem(std::string_view pem, std::string_view what) {
    auto bio = ossl::mem_bio(pem);
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
    if (crl == nullptr) ossl::fail(std::string(what) + ": no PEM CRL found", ErrorKind::input);
    return Crl(crl);
}

Crl Crl::from_der(std::string_view der, std::string_view what) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()));
    if (crl == nullptr) ossl::fail(std::string(what) + ": not a DER CRL", ErrorKind::input);
    return Crl(crl);
}

std::string Crl::to_pem() const {
    auto bio = ossl::mem_bio();
    ossl::check1(PEM_write_bio_X509_CRL(bio.get(), crl_), "encode CRL as PEM");
    return ossl::bio_string(bio.get());
}

std::string Crl::issuer_rfc2253() const { return detail::rfc2253(X509_CRL_get_issuer(crl_)); }
std::time_t Crl::this_update() const { return to_time_t(X509_CRL_get0_lastUpdate(crl_)); }
std::time_t Crl::next_update() const { return to_time_t(X509_CRL_get0_nextUpdate(crl_)); }

std::int64_t Crl::number() const {
    ossl::Asn1IntPtr n(static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl_, NID_crl_number, nullptr, nullptr)));
    if (!n) return -1;
    int64_t v = 0;
    if (ASN1_INTEGER_get_int64(&v, n.get()) != 1) return -1;
    return v;
}

std::vector<std::string> Crl::revoked_serials() const {
    std::vector<std::string> out;
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl_);
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
        const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i));
        ossl::BnPtr bn(ossl::check_ptr(ASN1_INTEGER_to_BN(serial, nullptr), "read CRL serial"));
        char* hex = ossl::check_ptr(BN_bn2hex(bn.get()), "format CRL serial");
        out.emplace_back(hex);
        OPENSSL_free(hex);
    }
    return out;
}

std::vector<RevokedEntry> Crl::entries() const {
    std::vector<RevokedEntry> out;
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl_);
    const auto serials = revoked_serials();
    for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
        const X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
        RevokedEntry e;
        e.serial_hex = serials[static_cast<std::size_t>(i)];
        e.revoked_at = to_time_t(X509_REVOKED_get0_revocationDate(r));
        int crit = 0;
        auto* code = static_cast<ASN1_ENUMERATED*>(X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, nullptr));
        if (code != nullptr) {
            e.reason = static_cast<RevocationReason>(ASN1_ENUMERATED_get(code));
            ASN1_ENUMERATED_free(code);
        }
        out.push_back(std::move(e));
    }
    ossl::drain_errors();
    return out;
}

bool Crl::issued_by(const Certificate& ca) const {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl_), X509_get_subject_name(ca.native())) != 0) return false;
    EVP_PKEY* pub = X509_get0_pubkey(ca.native());
    bool ok = pub != nullptr && X509_CRL_verify(crl_, pub) == 1;
    ossl::drain_errors();
    return ok;
}

std::string Crl::hashed_name() const { return hashed_name_of(X509_CRL_get_issuer(crl_)); }

namespace {

// The magnitude of a serial given in hex, as an ASN1_INTEGER holds it (no leading zero
// octets; zero is one 0x00 octet). Throws Error(ledger) for anything but hex digits.
std::string serial_magnitude(const std::string& hex) {
    auto nibble = [&](char c) -> unsigned {
        if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
        if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
        if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
        throw Error(ErrorKind::ledger, "parse serial \"" + hex + "\": not a hexadecimal number");
    };
    if (hex.empty()) throw Error(ErrorKind::ledger, "parse serial: empty");
    std::string out;
    out.reserve(hex.size() / 2 + 1);
    std::size_t i = 0;
    if (hex.size() % 2 != 0) out += static_cast<char>(nibble(hex[i++]));
    for (; i < hex.size(); i += 2) out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
    std::size_t first = out.find_first_not_of('\0');
    return first == std::string::npos ? std::string(1, '\0') : out.substr(first);
}

}  // namespace

// The CRL's DER is assembled directly rather than through X509_CRL_add0_revoked and
// X509_CRL_sign: for 100,000 entries OpenSSL's template encoder (one ASN1_TIME and one
// X509_REVOKED object per entry, the whole list encoded to sign it and again to write it) made
// `pgca crl` slower than `openssl ca -gencrl`. The extensions are still encoded by OpenSSL, once,
// and crl_test.cpp compares the result byte for byte with an X509_CRL built from the same data.
EncodedCrl encode_crl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries, std::int64_t number,
                      std::time_t this_update, std::time_t next_update) {
    if (next_update <= this_update) throw Error(ErrorKind::policy, "CRL nextUpdate must be after lastUpdate");
    X509* ca_cert = ca.certificate().native();
    ossl::MdCtxPtr sign(ossl::check_ptr(EVP_MD_CTX_new(), "CRL signing context"));
    ossl::check1(EVP_DigestSignInit_ex(sign.get(), nullptr, ca.key().alg() == KeyAlg::ec_p384 ? "SHA384" : "SHA256",
                                       nullptr, nullptr, ca.key().native(), nullptr),
                 "CRL signing context");
    const std::string sig_alg = der::signature_algorithm(sign.get());

    // revokedCertificates, in X509_CRL_sort's order (ASN1_STRING_cmp on the serials: shorter
    // magnitude first, then by octets). Each reasonCode extension is encoded once per reason.
    struct Item {
        std::string magnitude;
        const RevokedEntry* entry;
    };
    std::vector<Item> items;
    items.reserve(entries.size());
    for (const auto& e : entries) items.push_back({serial_magnitude(e.serial_hex), &e});
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
        if (a.magnitude.size() != b.magnitude.size()) return a.magnitude.size() < b.magnitude.size();
        return a.magnitude < b.magnitude;  // std::string compares as unsigned char, like memcmp
    });
    std::array<std::string, 11> reason_ext;  // crlEntryExtensions (SEQUENCE OF Extension) by code
    std::string list, entry, time;
    list.reserve(entries.size() * 48);
    std::time_t last_time = 0;
    for (const auto& it : items) {
        entry.clear();
        std::string integer;
        if ((static_cast<unsigned char>(it.magnitude[0]) & 0x80) != 0) integer += '\0';  // stays positive
        integer += it.magnitude;
        der::put_tlv(entry, der::kInteger, integer);
        if (time.empty() || it.entry->revoked_at != last_time) {
            time.clear();
            der::put_time(time, it.entry->revoked_at);
            last_time = it.entry->revoked_at;
        }
        entry += time;
        // RFC 5280 §5.3.1: the reasonCode SHOULD be absent rather than "unspecified".
        if (it.entry->reason != RevocationReason::unspecified) {
            std::string& ext = reason_ext[static_cast<std::size_t>(it.entry->reason)];
            if (ext.empty()) {
                ossl::Handle<ASN1_ENUMERATED, ASN1_ENUMERATED_free> code(
                    ossl::check_ptr(ASN1_ENUMERATED_new(), "CRL reason"));
                ossl::check1(ASN1_ENUMERATED_set(code.get(), static_cast<long>(it.entry->reason)), "CRL reason");
                der::put_tlv(ext, der::kSequence, der::extension(NID_crl_reason, false, code.get(), "CRL reason"));
            }
            entry += ext;
        }
        der::put_tlv(list, der::kSequence, entry);
    }

    std::string body("\x02\x01\x01", 3);  // version v2 (1)
    body += sig_alg;
    body += der::of<X509_NAME, i2d_X509_NAME>(X509_get_subject_name(ca_cert), "CRL issuer");
    der::put_time(body, this_update);
    der::put_time(body, next_update);
    if (!entries.empty()) der::put_tlv(body, der::kSequence, list);  // omitted when empty (RFC 5280 §5.1.2.6)
    std::string().swap(list);

    ossl::Asn1IntPtr crl_number(ossl::check_ptr(ASN1_INTEGER_new(), "cRLNumber"));
    ossl::check1(ASN1_INTEGER_set_int64(crl_number.get(), number), "cRLNumber");
    std::string exts = der::extension(NID_crl_number, false, crl_number.get(), "cRLNumber");
    // RFC 5280 §5.2.1: conforming CRL issuers MUST include the AKI.
    if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca_cert)) {
        ossl::AkidPtr akid(ossl::check_ptr(AUTHORITY_KEYID_new(), "authorityKeyIdentifier"));
        akid->keyid = ossl::check_ptr(ASN1_OCTET_STRING_dup(ski), "authorityKeyIdentifier");
        exts += der::extension(NID_authority_key_identifier, false, akid.get(), "CRL authorityKeyIdentifier");
    }
    ossl::drain_errors();  // X509_get0_subject_key_id caches extensions and may queue errors
    std::string ext_list;
    der::put_tlv(ext_list, der::kSequence, exts);
    der::put_tlv(body, V_ASN1_CONTEXT_SPECIFIC | V_ASN1_CONSTRUCTED | 0, ext_list);

    std::string tbs;
    tbs.reserve(body.size() + 8);
    der::put_tlv(tbs, der::kSequence, body);
    std::string().swap(body);
    EncodedCrl out;
    out.der = der::signed_sequence(sign.get(), std::move(tbs), sig_alg, "sign CRL");
    out.pem.reserve(out.der.size() * 4 / 3 + out.der.size() / 48 + 64);
    der::put_pem(out.pem, out.der, "X509 CRL");
    return out;
}

Crl make_crl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries, std::int64_t number,
             std::time_t this_update, std::time_t next_update) {
    return Crl::from_der(encode_crl(ca, entries, number, this_update, next_update).der, "new CRL");
}

std::string hashed_crl_name(const Certificate& issuer) {
    return hashed_name_of(X509_get_subject_name(issuer.native()));
}

}  // namespace pgca
