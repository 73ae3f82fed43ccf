// libFuzzer target: the hand-built DER of encode_crl (lib/src/crl.cpp, lib/src/ossl/der.cpp).
// The input is a list of revocations, one per line: "SERIAL_HEX REVOKED_AT REASON_CODE" (times
// as seconds since the epoch, any size). encode_crl may refuse an entry with pgca::Error (a
// serial that is not hex, a time out of range); anything it returns must parse with OpenSSL's
// decoder, re-encode to the same bytes (canonical DER), verify with the CA key, list every entry
// once and carry the same PEM as PEM_write_bio_X509_CRL.
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "pgca/ca.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"

namespace {

const pgca::CertificateAuthority& ca() {
    static const pgca::CertificateAuthority root = pgca::CertificateAuthority::create_root(
        pgca::DistinguishedName::with_cn("fuzz CRL Root"), pgca::KeyAlg::ec_p256, 3650);
    return root;
}

// The first element of the outer SEQUENCE (the TBSCertList), as the bytes stand.
std::string tbs_of(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    long len = 0;
    int tag = 0, cls = 0;
    if ((ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(der.size())) & 0x80) != 0) return {};
    const unsigned char* inner = p;
    if ((ASN1_get_object(&p, &len, &tag, &cls, len) & 0x80) != 0) return {};
    return std::string(reinterpret_cast<const char*>(inner), static_cast<std::size_t>(p - inner + len));
}

[[noreturn]] void bug(const std::string& what) {
    std::fprintf(stderr, "fuzz_crl_encode: %s\n", what.c_str());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 20000) return 0;
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    std::vector<pgca::RevokedEntry> entries;
    std::string line;
    while (std::getline(in, line) && entries.size() < 500) {
        std::istringstream fields(line);
        std::string serial;
        long long when = 0;
        int code = 0;
        if (!(fields >> serial)) continue;
        fields >> when >> code;
        static const int kCodes[] = {0, 1, 2, 3, 4, 5, 6, 9, 10};
        auto reason = static_cast<pgca::RevocationReason>(kCodes[static_cast<unsigned>(code) % 9]);
        entries.push_back({serial, static_cast<std::time_t>(when), reason});
    }
    pgca::EncodedCrl enc;
    try {
        enc = pgca::encode_crl(ca(), entries, 7, 1700000000, 1800000000);
    } catch (const pgca::Error&) {
        return 0;  // refused with a reason: fine
    }
    pgca::Crl parsed = pgca::Crl::from_der(enc.der, "fuzz CRL");
    // Canonical: OpenSSL, encoding the parsed structure afresh, writes our TBSCertList exactly.
    X509_CRL* copy = X509_CRL_dup(parsed.native());
    unsigned char* fresh = nullptr;
    int m = copy != nullptr ? i2d_re_X509_CRL_tbs(copy, &fresh) : 0;
    std::string reencoded(reinterpret_cast<char*>(fresh), static_cast<std::size_t>(m > 0 ? m : 0));
    OPENSSL_free(fresh);
    X509_CRL_free(copy);
    if (m <= 0 || reencoded != tbs_of(enc.der)) bug("the TBSCertList is not what OpenSSL re-encodes");
    if (parsed.to_pem() != enc.pem) bug("PEM differs from PEM_write_bio_X509_CRL's");
    if (!parsed.issued_by(ca().certificate())) bug("signature does not verify");
    if (parsed.revoked_serials().size() != entries.size()) bug("entry count differs");
    return 0;
}
