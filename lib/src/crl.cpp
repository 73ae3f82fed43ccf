#include "pgca/crl.hpp"

#include <openssl/pem.h>

#include <array>
#include <cstdio>
#include <utility>

#include "internal.hpp"
#include "pgca/ca.hpp"

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

ossl::Asn1IntPtr serial_from_hex(const std::string& hex) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, hex.c_str()) == 0 || raw == nullptr) ossl::fail("parse serial " + hex, ErrorKind::ledger);
    ossl::BnPtr bn(raw);
    return ossl::Asn1IntPtr(ossl::check_ptr(BN_to_ASN1_INTEGER(bn.get(), nullptr), "serial " + hex));
}

const EVP_MD* crl_digest(const PrivateKey& key) {
    return key.alg() == KeyAlg::ec_p384 ? EVP_sha384() : EVP_sha256();
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

bool Crl::issued_by(const Certificate& ca) const {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl_), X509_get_subject_name(ca.native())) != 0) return false;
    EVP_PKEY* pub = X509_get0_pubkey(ca.native());
    bool ok = pub != nullptr && X509_CRL_verify(crl_, pub) == 1;
    ossl::drain_errors();
    return ok;
}

std::string Crl::hashed_name() const {
    int ok = 0;
    // The same hash `openssl rehash` and X509_LOOKUP_hash_dir use (SHA-1 of the canonical name).
    unsigned long h = X509_NAME_hash_ex(X509_CRL_get_issuer(crl_), nullptr, nullptr, &ok);
    if (ok != 1) ossl::fail("hash CRL issuer name");
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08lx.r0", h & 0xffffffffUL);
    return buf;
}

Crl make_crl(const CertificateAuthority& ca, const std::vector<RevokedEntry>& entries, std::int64_t number,
             std::time_t this_update, std::time_t next_update) {
    if (next_update <= this_update) throw Error(ErrorKind::policy, "CRL nextUpdate must be after lastUpdate");
    X509* ca_cert = ca.certificate().native();
    ossl::X509CrlPtr crl(ossl::check_ptr(X509_CRL_new(), "allocate CRL"));
    ossl::check1(X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2), "set CRL version");
    ossl::check1(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca_cert)), "set CRL issuer");
    ossl::Asn1TimePtr last(ossl::check_ptr(ASN1_TIME_adj(nullptr, this_update, 0, 0), "CRL lastUpdate"));
    ossl::Asn1TimePtr next(ossl::check_ptr(ASN1_TIME_adj(nullptr, next_update, 0, 0), "CRL nextUpdate"));
    ossl::check1(X509_CRL_set1_lastUpdate(crl.get(), last.get()), "set CRL lastUpdate");
    ossl::check1(X509_CRL_set1_nextUpdate(crl.get(), next.get()), "set CRL nextUpdate");

    for (const auto& e : entries) {
        ossl::Handle<X509_REVOKED, X509_REVOKED_free> rev(ossl::check_ptr(X509_REVOKED_new(), "allocate CRL entry"));
        auto serial = serial_from_hex(e.serial_hex);
        ossl::check1(X509_REVOKED_set_serialNumber(rev.get(), serial.get()), "set CRL entry serial");
        ossl::Asn1TimePtr when(ossl::check_ptr(ASN1_TIME_adj(nullptr, e.revoked_at, 0, 0), "CRL entry time"));
        ossl::check1(X509_REVOKED_set_revocationDate(rev.get(), when.get()), "set CRL entry time");
        // RFC 5280 §5.3.1: the reasonCode SHOULD be absent rather than "unspecified".
        if (e.reason != RevocationReason::unspecified) {
            ossl::Handle<ASN1_ENUMERATED, ASN1_ENUMERATED_free> code(
                ossl::check_ptr(ASN1_ENUMERATED_new(), "CRL reason"));
            ossl::check1(ASN1_ENUMERATED_set(code.get(), static_cast<long>(e.reason)), "CRL reason");
            ossl::check1(X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, code.get(), 0, 0), "add CRL reason");
        }
        ossl::check1(X509_CRL_add0_revoked(crl.get(), rev.get()), "add CRL entry");
        rev.release();  // owned by the CRL now
    }

    ossl::Asn1IntPtr crl_number(ossl::check_ptr(ASN1_INTEGER_new(), "cRLNumber"));
    ossl::check1(ASN1_INTEGER_set_int64(crl_number.get(), number), "cRLNumber");
    ossl::check1(X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, 0), "add cRLNumber");
    // RFC 5280 §5.2.1: conforming CRL issuers MUST include the AKI.
    if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca_cert)) {
        ossl::AkidPtr akid(ossl::check_ptr(AUTHORITY_KEYID_new(), "authorityKeyIdentifier"));
        akid->keyid = ossl::check_ptr(ASN1_OCTET_STRING_dup(ski), "authorityKeyIdentifier");
        ossl::check1(X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, 0), "add CRL AKI");
    }
    ossl::check1(X509_CRL_sort(crl.get()), "sort CRL");
    if (X509_CRL_sign(crl.get(), ca.key().native(), crl_digest(ca.key())) <= 0) ossl::fail("sign CRL");
    return Crl::adopt(crl.release());
}

}  // namespace pgca
