// DER and PEM written directly (private to the library), for the bulk paths that would
// otherwise spend most of their time in OpenSSL's template ASN.1 encoder: fast leaves
// (fast_leaf.cpp) and CRLs (crl.cpp). Every structure built with these is checked byte for
// byte against OpenSSL's own encoding of the same fields, in the unit tests and, for leaves,
// by a run-time self-test.
#pragma once

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

#include "ossl/ossl.hpp"

namespace pgca::der {

inline constexpr unsigned char kInteger = 0x02;
inline constexpr unsigned char kBitString = 0x03;
inline constexpr unsigned char kOctetString = 0x04;
inline constexpr unsigned char kSequence = 0x30;

/// Appends a DER length (short form below 128, else long form).
void put_length(std::string& out, std::size_t n);
/// Appends one TLV: `tag`, the DER length of `content`, `content`.
void put_tlv(std::string& out, unsigned char tag, std::string_view content);
/// Appends an X.509 Time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime from 2050,
/// to the second with 'Z', as ASN1_TIME_adj writes it. Throws Error(policy) out of range.
void put_time(std::string& out, std::time_t t);
/// Appends `der` as PEM the way PEM_write_bio writes it: "-----BEGIN LABEL-----", base64 in
/// lines of 64 characters, "-----END LABEL-----".
void put_pem(std::string& out, std::string_view der, const char* label);

/// Header and content sizes of the TLV that starts a DER buffer.
struct TlvSize {
    std::size_t header;
    std::size_t content;
};
/// The sizes of the TLV at the start of `der`. Throws Error(internal) if it is cut short or
/// uses a form DER does not allow.
[[nodiscard]] TlvSize tlv_at(std::string_view der);
/// The first TLV of `der`, whole.
[[nodiscard]] std::string_view first_tlv(std::string_view der);
/// The content of the first TLV of `der`.
[[nodiscard]] std::string_view tlv_content(std::string_view der);

[[nodiscard]] inline std::string_view view(const unsigned char* p, std::size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

/// Upper-case hex of `n` bytes, with `sep` between bytes.
[[nodiscard]] std::string hex(const unsigned char* p, std::size_t n, const char* sep);

/// What an i2d function writes for `value`. Throws Error(crypto) naming `what`.
template <class T, int (*I2d)(const T*, unsigned char**)>
std::string of(const T* value, const char* what) {
    unsigned char* out = nullptr;
    int n = I2d(value, &out);
    if (n <= 0) ossl::fail(std::string("encode ") + what);
    std::string s(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
    return s;
}

/// One X.509 Extension as OpenSSL encodes it: X509V3_EXT_i2d of `value` (the extension's
/// OpenSSL structure for `nid`), then i2d. Throws Error(crypto) naming `what`.
[[nodiscard]] std::string extension(int nid, bool critical, void* value, const char* what);

/// The AlgorithmIdentifier a signature made with `prepared` (an EVP_DigestSignInit'ed context)
/// carries, from the signature provider: what X509_sign and X509_CRL_sign write.
[[nodiscard]] std::string signature_algorithm(EVP_MD_CTX* prepared);

/// Signs `tbs` (a whole TBSCertificate or TBSCertList) with `signer`, a context prepared by
/// EVP_DigestSignInit (used up by this call), and returns what X.509 signs the same way in
/// both cases: SEQUENCE { tbs, `algorithm`, BIT STRING signature }. Throws Error(crypto)
/// naming `what`.
[[nodiscard]] std::string signed_sequence(EVP_MD_CTX* signer, std::string tbs, std::string_view algorithm,
                                          const char* what);

}  // namespace pgca::der
