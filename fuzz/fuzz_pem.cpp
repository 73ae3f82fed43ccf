// libFuzzer target: any bytes as the PEM files pgca reads (certificate chains, CRLs, private
// keys). pgca::Error is the expected way to refuse input; a crash, UB, a leak or any other
// exception is a bug. Input that does not look like PEM text is also tried as DER, wrapped in
// each PEM label, so that the fuzzer can mutate the ASN.1 directly.
#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "pgca/key.hpp"
#include "pgca/lint.hpp"

namespace {

std::string pem_wrap(std::string_view der, const char* label) {
    std::string out = std::string("-----BEGIN ") + label + "-----\n";
    for (std::size_t pos = 0; pos < der.size(); pos += 48) {
        std::size_t n = std::min<std::size_t>(48, der.size() - pos);
        unsigned char line[80];
        int len = EVP_EncodeBlock(line, reinterpret_cast<const unsigned char*>(der.data() + pos), static_cast<int>(n));
        out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(len));
        out += '\n';
    }
    out += std::string("-----END ") + label + "-----\n";
    return out;
}

void certificates(std::string_view pem) {
    try {
        std::vector<pgca::Certificate> chain = pgca::Certificate::chain_from_pem(pem, "fuzz.pem");
        for (const auto& cert : chain) {
            (void)cert.info();
            (void)cert.to_pem();
            (void)pgca::lint_certificate(cert, cert);
            (void)pgca::lint_certificate(cert, chain.back());
            (void)cert.issued_by(chain.front());
        }
    } catch (const pgca::Error&) {
    }
}

void crl(std::string_view pem) {
    try {
        pgca::Crl c = pgca::Crl::from_pem(pem, "fuzz.crl");
        (void)c.to_pem();
        (void)c.issuer_rfc2253();
        (void)c.this_update();
        (void)c.next_update();
        (void)c.number();
        (void)c.revoked_serials();
        (void)c.hashed_name();
    } catch (const pgca::Error&) {
    }
}

void private_key(std::string_view pem) {
    try {
        pgca::PrivateKey k = pgca::PrivateKey::from_pem(pem, "fuzz.key");
        (void)k.to_pem();
        (void)pgca::describe_key(k.native());
    } catch (const pgca::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (text.find("-----BEGIN") != std::string_view::npos || text.empty()) {
        certificates(text);
        crl(text);
        private_key(text);
    } else {
        certificates(pem_wrap(text, "CERTIFICATE"));
        crl(pem_wrap(text, "X509 CRL"));
        private_key(pem_wrap(text, "PRIVATE KEY"));
    }
    return 0;
}
