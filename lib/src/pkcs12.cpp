#include "pgca/pkcs12.hpp"

#include <openssl/pkcs12.h>

#include <string>
#include <vector>

#include "ossl/ossl.hpp"
#include "pgca/certificate.hpp"

namespace pgca {
namespace {

using Pkcs12Ptr = ossl::Handle<PKCS12, PKCS12_free>;
struct X509StackFree {
    void operator()(STACK_OF(X509)* s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

}  // namespace

std::string make_pkcs12(const PrivateKey& key, std::string_view chain_pem, std::string_view alias,
                        std::string_view passphrase) {
    if (passphrase.empty()) throw Error(ErrorKind::policy, "refusing to make a PKCS#12 file with an empty passphrase");
    std::vector<Certificate> chain = Certificate::chain_from_pem(chain_pem, "PKCS#12 certificate chain");
    X509StackPtr cas(sk_X509_new_null());
    if (!cas) ossl::fail("PKCS#12: allocate the chain");
    for (std::size_t i = 1; i < chain.size(); ++i) {
        if (sk_X509_push(cas.get(), chain[i].native()) <= 0) ossl::fail("PKCS#12: add a CA certificate");
        X509_up_ref(chain[i].native());
    }
    const std::string pass(passphrase);
    const std::string name(alias);
    // -1 for the certificates: no encryption (they are public); AES-256-CBC (PBES2, PBKDF2) for
    // the key; 0 iterations and MAC iterations mean OpenSSL's defaults (2048), SHA-256 MAC.
    Pkcs12Ptr p12(PKCS12_create(pass.c_str(), name.c_str(), key.native(), chain.front().native(), cas.get(),
                                NID_aes_256_cbc, -1, 0, 0, 0));
    if (!p12) ossl::fail("PKCS#12: create");
    auto bio = ossl::mem_bio();
    ossl::check_pos(i2d_PKCS12_bio(bio.get(), p12.get()), "PKCS#12: encode");
    return ossl::bio_string(bio.get());
}

bool pkcs12_holds(std::string_view der, const PrivateKey& key, std::string_view chain_pem, std::string_view alias,
                  std::string_view passphrase) {
    const std::string pass(passphrase);
    auto bio = ossl::mem_bio(der);
    Pkcs12Ptr p12(d2i_PKCS12_bio(bio.get(), nullptr));
    if (!p12 || PKCS12_verify_mac(p12.get(), pass.c_str(), static_cast<int>(pass.size())) != 1) {
        ossl::drain_errors();
        return false;
    }
    EVP_PKEY* pkey = nullptr;
    X509* cert = nullptr;
    STACK_OF(X509)* cas = nullptr;
    const bool parsed = PKCS12_parse(p12.get(), pass.c_str(), &pkey, &cert, &cas) == 1;
    ossl::PkeyPtr got_key(pkey);
    ossl::X509Ptr got_cert(cert);
    X509StackPtr got_cas(cas);
    ossl::drain_errors();
    if (!parsed || !got_key || !got_cert || EVP_PKEY_eq(got_key.get(), key.native()) != 1) return false;
    int len = 0;
    const unsigned char* name = X509_alias_get0(got_cert.get(), &len);
    if (name == nullptr || std::string_view(reinterpret_cast<const char*>(name), static_cast<std::size_t>(len)) != alias)
        return false;
    try {
        std::vector<Certificate> chain = Certificate::chain_from_pem(chain_pem, "PKCS#12 certificate chain");
        if (X509_cmp(got_cert.get(), chain.front().native()) != 0) return false;
        // No CA certificates (a leaf alone) leaves `cas` NULL, and sk_X509_num(NULL) is -1.
        const std::size_t cas_held = got_cas ? static_cast<std::size_t>(sk_X509_num(got_cas.get())) : 0;
        if (cas_held + 1 != chain.size()) return false;
        return true;
    } catch (const Error&) {
        return false;
    }
}

}  // namespace pgca
