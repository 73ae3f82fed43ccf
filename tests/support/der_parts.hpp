// Test helper: pieces of DER structures, cut with OpenSSL's own parser.
#pragma once

#include <catch2/catch.hpp>

#include <openssl/asn1.h>

#include <string>

namespace pgca::test {

/// The first element of the outer SEQUENCE of a DER Certificate or CertificateList (its
/// TBSCertificate / TBSCertList), as the bytes stand there.
inline std::string tbs_of(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    long len = 0;
    int tag = 0, cls = 0;
    REQUIRE((ASN1_get_object(&p, &len, &tag, &cls, static_cast<long>(der.size())) & 0x80) == 0);
    const unsigned char* inner = p;
    REQUIRE((ASN1_get_object(&p, &len, &tag, &cls, len) & 0x80) == 0);
    return std::string(reinterpret_cast<const char*>(inner), static_cast<std::size_t>(p - inner + len));
}

}  // namespace pgca::test
