#include "ossl/der.hpp"

#include <openssl/core_names.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace pgca::der {

void put_length(std::string& out, std::size_t n) {
    if (n < 0x80) {
        out += static_cast<char>(n);
        return;
    }
    unsigned char buf[sizeof(std::size_t)];
    int k = 0;
    for (std::size_t v = n; v != 0; v >>= 8) buf[k++] = static_cast<unsigned char>(v & 0xff);
    out += static_cast<char>(0x80 | k);
    while (k > 0) out += static_cast<char>(buf[--k]);
}

// Appends one TLV: `tag`, the DER length of `content`, `content`.
void put_tlv(std::string& out, unsigned char tag, std::string_view content) {
    out += static_cast<char>(tag);
    put_length(out, content.size());
    out.append(content.data(), content.size());
}

TlvSize tlv_at(std::string_view der) {
    if (der.size() < 2) throw Error(ErrorKind::internal, "truncated DER");
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(der[i]); };
    std::size_t len = b(1), head = 2;
    if ((len & 0x80) != 0) {
        std::size_t k = len & 0x7f;
        if (k == 0 || k > 4 || der.size() < 2 + k) throw Error(ErrorKind::internal, "unexpected DER length");
        len = 0;
        for (std::size_t i = 0; i < k; ++i) len = (len << 8) | b(2 + i);
        head += k;
    }
    if (der.size() < head + len) throw Error(ErrorKind::internal, "truncated DER");
    return {head, len};
}
// The first TLV of `der`, whole.
std::string_view first_tlv(std::string_view der) {
    TlvSize t = tlv_at(der);
    return der.substr(0, t.header + t.content);
}
// The content of the first TLV of `der`.
std::string_view tlv_content(std::string_view der) {
    TlvSize t = tlv_at(der);
    return der.substr(t.header, t.content);
}

// X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050, to the
// second, 'Z' — what ASN1_TIME_adj (and so X509_time_adj_ex) writes.
void put_time(std::string& out, std::time_t t) {
    std::tm tm{};
    if (gmtime_r(&t, &tm) == nullptr) throw Error(ErrorKind::policy, "time out of range");
    const int year = tm.tm_year + 1900;
    char buf[32];
    int n;
    if (year >= 1950 && year < 2050)
        n = std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", year % 100, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec);
    else
        n = std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                          tm.tm_min, tm.tm_sec);
    if (n <= 0 || year > 9999) throw Error(ErrorKind::policy, "time out of range");
    put_tlv(out, year >= 1950 && year < 2050 ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME,
            std::string_view(buf, static_cast<std::size_t>(n)));
}

// PEM as PEM_write_bio writes it: base64 in lines of 64 characters.
void put_pem(std::string& out, std::string_view der, const char* label) {
    constexpr std::size_t kLine = 48;  // input octets per 64-character line
    out += "-----BEGIN ";
    out += label;
    out += "-----\n";
    unsigned char line[65];
    for (std::size_t off = 0; off < der.size(); off += kLine) {
        std::size_t n = std::min(kLine, der.size() - off);
        int k = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data()) + off, static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(k));
        out += '\n';
    }
    OPENSSL_cleanse(line, sizeof line);
    out += "-----END ";
    out += label;
    out += "-----\n";
}

std::string hex(const unsigned char* p, std::size_t n, const char* sep) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(n * (2 + std::strlen(sep)));
    for (std::size_t i = 0; i < n; ++i) {
        if (i != 0) out += sep;
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

std::string extension(int nid, bool critical, void* value, const char* what) {
    ossl::X509ExtPtr ext(ossl::check_ptr(X509V3_EXT_i2d(nid, critical ? 1 : 0, value), what));
    return of<X509_EXTENSION, i2d_X509_EXTENSION>(ext.get(), what);
}

std::string signature_algorithm(EVP_MD_CTX* prepared) {
    unsigned char algid[128];
    OSSL_PARAM p[] = {OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, algid, sizeof algid),
                      OSSL_PARAM_construct_end()};
    ossl::check1(EVP_PKEY_CTX_get_params(EVP_MD_CTX_get_pkey_ctx(prepared), p), "signature algorithm identifier");
    if (!OSSL_PARAM_modified(p) || p[0].return_size == 0)
        throw Error(ErrorKind::internal, "the signature provider gave no algorithm identifier");
    return std::string(reinterpret_cast<const char*>(algid), p[0].return_size);
}

std::string signed_sequence(EVP_MD_CTX* signer, std::string tbs, std::string_view algorithm, const char* what) {
    std::size_t sig_len = 0;
    ossl::check1(EVP_DigestSign(signer, nullptr, &sig_len, nullptr, 0), what);
    std::string sig(sig_len + 1, '\0');  // BIT STRING: 0 unused bits, then the signature
    ossl::check1(EVP_DigestSign(signer, reinterpret_cast<unsigned char*>(&sig[1]), &sig_len,
                                reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()),
                 what);
    sig.resize(sig_len + 1);
    tbs += algorithm;
    put_tlv(tbs, kBitString, sig);
    std::string out;
    out.reserve(tbs.size() + 8);
    put_tlv(out, kSequence, tbs);
    return out;
}

}  // namespace pgca::der
