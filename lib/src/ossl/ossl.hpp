// Private OpenSSL plumbing: one RAII spelling for every OpenSSL type, and checks that turn
// OpenSSL's return conventions into pgca::Error with the whole error queue attached.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "pgca/error.hpp"

namespace pgca::ossl {

template <auto Fn>
struct Free {
    template <class T>
    void operator()(T* p) const noexcept { Fn(p); }
};
template <class T, auto Fn>
using Handle = std::unique_ptr<T, Free<Fn>>;

using X509Ptr = Handle<X509, X509_free>;
using X509NamePtr = Handle<X509_NAME, X509_NAME_free>;
using X509ExtPtr = Handle<X509_EXTENSION, X509_EXTENSION_free>;
using X509CrlPtr = Handle<X509_CRL, X509_CRL_free>;
using X509StorePtr = Handle<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = Handle<X509_STORE_CTX, X509_STORE_CTX_free>;
using PkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using BioPtr = Handle<BIO, BIO_free_all>;
using BnPtr = Handle<BIGNUM, BN_free>;
using Asn1IntPtr = Handle<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1OctetPtr = Handle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1TimePtr = Handle<ASN1_TIME, ASN1_TIME_free>;
using GeneralNamesPtr = Handle<GENERAL_NAMES, GENERAL_NAMES_free>;
using EkuPtr = Handle<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using BasicConstraintsPtr = Handle<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using AkidPtr = Handle<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;

/// Throws Error(kind, what + ": " + drained OpenSSL error queue). Always clears the queue.
[[noreturn]] void fail(std::string_view what, ErrorKind kind = ErrorKind::crypto);

/// The OpenSSL error queue as one line ("error:…:reason; …"), emptied. "" when empty.
std::string drain_errors();

/// OpenSSL's "1 is success" convention.
inline void check1(int rc, std::string_view what) {
    if (rc != 1) fail(what);
}
/// OpenSSL's "> 0 is success" convention.
inline void check_pos(int rc, std::string_view what) {
    if (rc <= 0) fail(what);
}
/// Non-null is success; returns the pointer.
template <class T>
T* check_ptr(T* p, std::string_view what) {
    if (p == nullptr) fail(what);
    return p;
}

/// Seconds since the epoch of an ASN1_TIME. Throws Error(crypto) for a null or unreadable time.
[[nodiscard]] std::time_t to_time_t(const ASN1_TIME* t);

/// A memory BIO.
BioPtr mem_bio();
/// A read-only memory BIO over `data` (which must outlive it).
BioPtr mem_bio(std::string_view data);
/// The contents of a memory BIO.
std::string bio_string(BIO* bio);

}  // namespace pgca::ossl
