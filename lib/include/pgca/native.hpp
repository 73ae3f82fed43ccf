// OpenSSL's object types, declared without OpenSSL: the same incomplete structs
// OpenSSL's types.h names, so that pgca's public headers hand out borrowed native pointers
// (Certificate::native, PrivateKey::native, Crl::native) while apps/ and the library's
// non-crypto modules never include an OpenSSL header. Code that dereferences one includes
// OpenSSL itself; repeating these typedefs next to OpenSSL's is valid C++.
#pragma once

extern "C" {
typedef struct x509_st X509;
typedef struct X509_crl_st X509_CRL;
typedef struct evp_pkey_st EVP_PKEY;
}
