#include "pgca/certificate.hpp"

#include <openssl/pem.h>

#include <arpa/inet.h>

#include <cstdio>
#include <utility>

#include "internal.hpp"
#include "ossl/der.hpp"
#include "pgca/key.hpp"

namespace pgca {
namespace {

std::string asn1_string_text(const ASN1_STRING* s) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
}

// An iPAddress SAN as text; "" when it is neither 4 nor 16 octets.
std::string ip_text(const ASN1_OCTET_STRING* ip) {
    const unsigned char* p = ASN1_STRING_get0_data(ip);
    int n = ASN1_STRING_length(ip);
    char buf[INET6_ADDRSTRLEN] = {0};
    if (n == 4 && inet_ntop(AF_INET, p, buf, sizeof buf) != nullptr) return buf;
    if (n == 16 && inet_ntop(AF_INET6, p, buf, sizeof buf) != nullptr) return buf;
    return {};
}

// Calls on_dns(text) and on_ip(text) for each subjectAltName entry, in certificate order.
template <class OnDns, class OnIp>
void for_each_san(X509* x509, OnDns on_dns, OnIp on_ip) {
    ossl::GeneralNamesPtr sans(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
        if (gn->type == GEN_DNS) on_dns(asn1_string_text(gn->d.dNSName));
        if (gn->type == GEN_IPADD) on_ip(ip_text(gn->d.iPAddress), ASN1_STRING_length(gn->d.iPAddress));
    }
    ossl::drain_errors();
}

}  // namespace

Certificate::Certificate(const Certificate& o) noexcept : x509_(o.x509_) {
    if (x509_ != nullptr) X509_up_ref(x509_);
}
Certificate& Certificate::operator=(const Certificate& o) noexcept {
    if (this != &o) {
        if (o.x509_ != nullptr) X509_up_ref(o.x509_);
        X509_free(x509_);
        x509_ = o.x509_;
    }
    return *this;
}
Certificate::Certificate(Certificate&& o) noexcept : x509_(std::exchange(o.x509_, nullptr)) {}
Certificate& Certificate::operator=(Certificate&& o) noexcept {
    if (this != &o) {
        X509_free(x509_);
        x509_ = std::exchange(o.x509_, nullptr);
    }
    return *this;
}
Certificate::~Certificate() { X509_free(x509_); }

Certificate Certificate::adopt(X509* x509) {
    if (x509 == nullptr) throw Error(ErrorKind::internal, "Certificate::adopt(nullptr)");
    return Certificate(x509);
}

Certificate Certificate::from_pem(std::string_view pem, std::string_view what) {
    auto bio = ossl::mem_bio(pem);
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) ossl::fail(std::string(what) + ": no PEM certificate found", ErrorKind::input);
    return Certificate(x);
}

std::vector<Certificate> Certificate::chain_from_pem(std::string_view pem, std::string_view what) {
    // PEM_read_bio_X509 skips blocks of other types; a certificate file must hold only certificates
    // (a key or CRL in it is a mistake worth reporting, and a private key in a "public" file a leak).
    for (std::size_t pos = pem.find("-----BEGIN "); pos != std::string_view::npos;
         pos = pem.find("-----BEGIN ", pos + 11)) {
        std::string_view label = pem.substr(pos + 11, pem.find("-----", pos + 11) - (pos + 11));
        if (label != "CERTIFICATE")
            throw Error(ErrorKind::input, std::string(what) + ": holds a \"" + std::string(label) +
                                              "\" block where only certificates belong");
    }
    std::vector<Certificate> out;
    auto bio = ossl::mem_bio(pem);
    while (true) {
        X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (x == nullptr) break;
        out.push_back(Certificate(x));
    }
    // PEM_read stops with "no start line" at the end of input; anything else is a broken block.
    std::string leftover = ossl::drain_errors();
    if (out.empty()) throw Error(ErrorKind::input, std::string(what) + ": no PEM certificate found");
    if (!leftover.empty() && leftover.find("no start line") == std::string::npos)
        throw Error(ErrorKind::input, std::string(what) + ": damaged PEM certificate after certificate " +
                                          std::to_string(out.size()) + ": " + leftover);
    return out;
}

std::string Certificate::to_pem() const {
    auto bio = ossl::mem_bio();
    ossl::check1(PEM_write_bio_X509(bio.get(), x509_), "encode certificate as PEM");
    return ossl::bio_string(bio.get());
}

std::string Certificate::to_der() const {
    unsigned char* der = nullptr;
    int n = i2d_X509(x509_, &der);
    if (n <= 0) ossl::fail("encode certificate as DER");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

std::string Certificate::serial_hex() const {
    const ASN1_INTEGER* serial = X509_get0_serialNumber(x509_);
    ossl::BnPtr bn(ossl::check_ptr(ASN1_INTEGER_to_BN(serial, nullptr), "read serial number"));
    char* text = ossl::check_ptr(BN_bn2hex(bn.get()), "format serial number");
    std::string out(text);
    OPENSSL_free(text);
    return out;
}

std::string Certificate::subject_rfc2253() const { return detail::rfc2253(X509_get_subject_name(x509_)); }
std::time_t Certificate::not_before() const { return to_time_t(X509_get0_notBefore(x509_)); }
std::time_t Certificate::not_after() const { return to_time_t(X509_get0_notAfter(x509_)); }

std::string Certificate::sha256_fingerprint() const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ossl::check1(X509_digest(x509_, EVP_sha256(), md, &n), "compute SHA-256 fingerprint");
    return der::hex(md, n, ":");
}

std::optional<KeyAlg> Certificate::key_alg() const {
    auto alg = key_alg_of(X509_get0_pubkey(x509_));
    ossl::drain_errors();
    return alg;
}

std::vector<std::string> Certificate::san_hosts() const {
    std::vector<std::string> hosts;
    for_each_san(
        x509_, [&](std::string dns) { hosts.push_back(std::move(dns)); },
        [&](std::string ip, int) {
            if (!ip.empty()) hosts.push_back(std::move(ip));
        });
    return hosts;
}

bool Certificate::matches(const PrivateKey& key) const {
    EVP_PKEY* pub = X509_get0_pubkey(x509_);
    bool ok = pub != nullptr && EVP_PKEY_eq(pub, key.native()) == 1;
    ossl::drain_errors();
    return ok;
}

bool Certificate::issued_by(const Certificate& issuer) const {
    if (X509_NAME_cmp(X509_get_issuer_name(x509_), X509_get_subject_name(issuer.x509_)) != 0) return false;
    EVP_PKEY* pub = X509_get0_pubkey(issuer.x509_);
    bool ok = pub != nullptr && X509_verify(x509_, pub) == 1;
    ossl::drain_errors();
    return ok;
}

CertInfo Certificate::info() const {
    CertInfo ci;
    ci.subject = subject_rfc2253();
    ci.issuer = detail::rfc2253(X509_get_issuer_name(x509_));
    {
        // PostgreSQL takes the first CN (X509_NAME_get_text_by_NID); we report the same one.
        const X509_NAME* subj = X509_get_subject_name(x509_);
        int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
        if (idx >= 0)
            ci.common_name = asn1_string_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)));
    }
    ci.serial_hex = serial_hex();
    ci.not_before = not_before();
    ci.not_after = not_after();
    ci.sha256_fingerprint = sha256_fingerprint();
    ci.key_type = describe_key(X509_get0_pubkey(x509_));
    ossl::drain_errors();
    {
        int nid = X509_get_signature_nid(x509_);
        const char* sn = OBJ_nid2ln(nid);
        ci.signature_algorithm = sn != nullptr ? sn : "unknown";
    }

    for_each_san(
        x509_, [&](std::string dns) { ci.dns_names.push_back(std::move(dns)); },
        [&](std::string ip, int octets) {
            ci.ip_addresses.push_back(!ip.empty() ? std::move(ip) : "<" + std::to_string(octets) + "-byte address>");
        });
    int crit = 0;
    ossl::EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x509_, NID_ext_key_usage, &crit, nullptr)));
    if (eku) {
        for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
            const ASN1_OBJECT* obj = sk_ASN1_OBJECT_value(eku.get(), i);
            int nid = OBJ_obj2nid(obj);
            if (nid != NID_undef) {
                ci.extended_key_usage.emplace_back(OBJ_nid2sn(nid));
            } else {
                char buf[80];
                OBJ_obj2txt(buf, sizeof buf, obj, 1);
                ci.extended_key_usage.emplace_back(buf);
            }
        }
    }
    uint32_t ku = X509_get_key_usage(x509_);  // also caches the extensions (X509v3 flags)
    if (ku != UINT32_MAX) {
        static const std::pair<uint32_t, const char*> kNames[] = {
            {KU_DIGITAL_SIGNATURE, "digitalSignature"}, {KU_NON_REPUDIATION, "nonRepudiation"},
            {KU_KEY_ENCIPHERMENT, "keyEncipherment"},   {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
            {KU_KEY_AGREEMENT, "keyAgreement"},         {KU_KEY_CERT_SIGN, "keyCertSign"},
            {KU_CRL_SIGN, "cRLSign"},                   {KU_ENCIPHER_ONLY, "encipherOnly"},
            {KU_DECIPHER_ONLY, "decipherOnly"}};
        for (const auto& [bit, name] : kNames)
            if ((ku & bit) != 0) ci.key_usage.emplace_back(name);
    }
    ci.is_ca = X509_check_ca(x509_) != 0 && (X509_get_extension_flags(x509_) & EXFLAG_CA) != 0;
    long pathlen = X509_get_pathlen(x509_);
    ci.path_len = pathlen >= 0 ? static_cast<int>(pathlen) : -1;
    if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x509_))
        ci.subject_key_id = der::hex(ASN1_STRING_get0_data(ski), static_cast<std::size_t>(ASN1_STRING_length(ski)), "");
    if (const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x509_))
        ci.authority_key_id = der::hex(ASN1_STRING_get0_data(aki), static_cast<std::size_t>(ASN1_STRING_length(aki)), "");
    ossl::drain_errors();
    return ci;
}

std::string sha256_hex(std::string_view data) {
    // Fetched once: EVP_sha256() makes every EVP_Digest look the implementation up again (under
    // a lock), which shows when every file of 10,000 clients is hashed. Never freed (process
    // lifetime).
    static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (sha256 == nullptr) ossl::fail("fetch SHA-256");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ossl::check1(EVP_Digest(data.data(), data.size(), md, &n, sha256, nullptr), "SHA-256");
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (unsigned i = 0; i < n; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 15];
    }
    return out;
}

std::time_t to_time_t(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) ossl::fail("read certificate time");
    return timegm(&tm);
}

std::string format_time(std::time_t t) {
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

}  // namespace pgca
