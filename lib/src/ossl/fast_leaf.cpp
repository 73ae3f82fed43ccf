// The fast EC leaf path. What the naive OpenSSL 3.0 path spends and how this one avoids it
// (µs per EC P-256 client certificate on the 2-core bench machine, OpenSSL 3.0.19; see issue 5):
//
// * X509_set_pubkey() with a provider key (~200 µs): an OSSL_ENCODER to DER, then
//   d2i_X509_PUBKEY, whose OSSL_DECODER_CTX set-up alone is ~85 µs. Instead, X509_set_pubkey()
//   gets a *public-only legacy* EVP_PKEY (EVP_PKEY_set_type + EVP_PKEY_copy_parameters once per
//   factory; EVP_PKEY_dup + EVP_PKEY_set1_encoded_public_key per leaf, ~3 µs): for such a key
//   OpenSSL writes the SubjectPublicKeyInfo with its built-in EC ASN.1 method (~4 µs) and
//   caches the key in the certificate, so Certificate::matches() and info() work.
//   X509_PUBKEY_set0_param() alone would be cheaper (<1 µs) but leaves no cached key, and the
//   only way to get one back is re-parsing the certificate, whose public-key decode goes
//   through the same OSSL_DECODER (~100-130 µs per certificate, measured): more than all the
//   rest of this path together. Every call used is non-deprecated.
// * PEM_write_bio_PrivateKey() (~80 µs, an OSSL_ENCODER_CTX per key): the RFC 5915
//   ECPrivateKey DER is built by hand from the private scalar and the encoded point, wrapped
//   with PKCS8_pkey_set0() and written with PEM_write_bio_PKCS8_PRIV_KEY_INFO() (~3 µs). The
//   output is byte-identical to PrivateKey::to_pem() (tested, and self-tested at run time).
// * Per-leaf set-up: one keygen context, prebuilt constant extensions, the issuer name and
//   validity bounds, SHA-1 and a DigestSign context (copied per leaf: ~10% cheaper than
//   X509_sign's fresh context) are made once per factory.
//
// What remains, per certificate (~70 µs, ~40 of them key generation and ECDSA signing): keygen
// 13, reading the public point 4, names 3, other fields 3, public key 7, extensions 3, sign 25,
// certificate PEM 6, key PEM 3, frees 2.
//
// The generic path (PrivateKey::generate + CertificateAuthority::issue_*) stays for RSA and
// Ed25519 leaves (RSA key generation dwarfs everything else).
#include "ossl/fast_leaf.hpp"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <utility>

#include "internal.hpp"

namespace pgca::detail {
namespace {

using MdPtr = ossl::Handle<EVP_MD, EVP_MD_free>;
using Pkcs8Ptr = ossl::Handle<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;
using BitStringPtr = ossl::Handle<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using SecretBnPtr = ossl::Handle<BIGNUM, BN_clear_free>;

// An OpenSSL-allocated buffer (what PKCS8_pkey_set0 takes ownership of), wiped on release.
struct SecretBuffer {
    unsigned char* data = nullptr;
    std::size_t size = 0;
    SecretBuffer() = default;
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    ~SecretBuffer() { OPENSSL_clear_free(data, size); }
    unsigned char* release() noexcept { return std::exchange(data, nullptr); }
};

struct Curve {
    const char* group;    // OSSL_PKEY_PARAM_GROUP_NAME
    int nid;              // namedCurve OID
    std::size_t scalar;   // private key octets (RFC 5915: the order's length, zero-padded)
    std::size_t point;    // uncompressed point octets: 1 + 2 * field length
};
constexpr Curve kP256{"P-256", NID_X9_62_prime256v1, 32, 65};
constexpr Curve kP384{"P-384", NID_secp384r1, 48, 97};
constexpr std::size_t kMaxScalar = kP384.scalar;
constexpr std::size_t kMaxPoint = kP384.point;

const Curve* curve_for(KeyAlg alg) {
    switch (alg) {
        case KeyAlg::ec_p256: return &kP256;
        case KeyAlg::ec_p384: return &kP384;
        default: return nullptr;
    }
}

// ca.cpp's digest_for(), by name (fetched once per factory rather than per signature).
const char* digest_name_for(KeyAlg signer) {
    switch (signer) {
        case KeyAlg::ed25519: return nullptr;
        case KeyAlg::ec_p384: return "SHA384";
        default: return "SHA256";
    }
}

// --- DER for the ECPrivateKey (the only structure built by hand) ---------------------------

// Length of a DER TLV with `content` octets (short or one/two-octet long form: enough here).
constexpr std::size_t der_size(std::size_t content) {
    return 1 + (content < 0x80 ? 1 : content <= 0xff ? 2 : 3) + content;
}

// Writes DER into a buffer sized beforehand with der_size().
class DerWriter {
public:
    explicit DerWriter(unsigned char* p) : p_(p) {}
    void header(unsigned char tag, std::size_t length) {
        *p_++ = tag;
        if (length >= 0x80) {
            if (length > 0xff) {
                *p_++ = 0x82;
                *p_++ = static_cast<unsigned char>(length >> 8);
            } else {
                *p_++ = 0x81;
            }
        }
        *p_++ = static_cast<unsigned char>(length & 0xff);
    }
    void bytes(const unsigned char* data, std::size_t n) {
        std::memcpy(p_, data, n);
        p_ += n;
    }
    [[nodiscard]] const unsigned char* position() const { return p_; }

private:
    unsigned char* p_;
};

// RFC 5915 ECPrivateKey, as OpenSSL writes it inside PKCS#8 (the curve is in the PKCS#8
// AlgorithmIdentifier, so the optional [0] parameters are omitted; the public key is kept):
//   SEQUENCE { INTEGER 1, OCTET STRING d (order-length, big-endian),
//              [1] EXPLICIT BIT STRING { 0 unused bits, point } }
// Written into an OpenSSL buffer that is wiped on free: it holds the private key.
void ec_private_key_der(SecretBuffer& out, const unsigned char* d, std::size_t d_len, const unsigned char* point,
                        std::size_t point_len) {
    static constexpr unsigned char kVersion1[] = {0x02, 0x01, 0x01};
    static constexpr unsigned char kNoUnusedBits = 0x00;
    const std::size_t bit_string = der_size(1 + point_len);
    const std::size_t content = sizeof kVersion1 + der_size(d_len) + der_size(bit_string);
    const std::size_t total = der_size(content);
    out.data = static_cast<unsigned char*>(OPENSSL_malloc(total));
    if (out.data == nullptr) ossl::fail("encode private key: out of memory");
    out.size = total;
    DerWriter w(out.data);
    w.header(V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED, content);
    w.bytes(kVersion1, sizeof kVersion1);
    w.header(V_ASN1_OCTET_STRING, d_len);
    w.bytes(d, d_len);
    w.header(V_ASN1_CONTEXT_SPECIFIC | V_ASN1_CONSTRUCTED | 1, bit_string);
    w.header(V_ASN1_BIT_STRING, 1 + point_len);
    w.bytes(&kNoUnusedBits, 1);
    w.bytes(point, point_len);
    if (w.position() != out.data + total) throw Error(ErrorKind::internal, "ECPrivateKey encoding length mismatch");
}

// --- extensions, encoded by the same OpenSSL calls as ca.cpp ------------------------------

ossl::X509ExtPtr make_ext(int nid, bool critical, void* value, const char* what) {
    return ossl::X509ExtPtr(ossl::check_ptr(X509V3_EXT_i2d(nid, critical ? 1 : 0, value), what));
}

ossl::X509ExtPtr basic_constraints_leaf() {
    ossl::BasicConstraintsPtr bc(ossl::check_ptr(BASIC_CONSTRAINTS_new(), "basicConstraints"));
    bc->ca = 0;
    return make_ext(NID_basic_constraints, true, bc.get(), "basicConstraints");
}

ossl::X509ExtPtr key_usage_digital_signature() {
    BitStringPtr ku(ossl::check_ptr(ASN1_BIT_STRING_new(), "keyUsage"));
    ossl::check1(ASN1_BIT_STRING_set_bit(ku.get(), 0, 1), "keyUsage");  // digitalSignature
    return make_ext(NID_key_usage, true, ku.get(), "keyUsage");
}

ossl::X509ExtPtr eku(int purpose_nid) {
    ossl::EkuPtr list(ossl::check_ptr(sk_ASN1_OBJECT_new_null(), "extendedKeyUsage"));
    ASN1_OBJECT* obj = ossl::check_ptr(OBJ_nid2obj(purpose_nid), "extendedKeyUsage");
    if (sk_ASN1_OBJECT_push(list.get(), obj) <= 0) ossl::fail("extendedKeyUsage");
    return make_ext(NID_ext_key_usage, false, list.get(), "extendedKeyUsage");
}

ossl::X509ExtPtr authority_key_id(const ASN1_OCTET_STRING* keyid) {
    ossl::AkidPtr akid(ossl::check_ptr(AUTHORITY_KEYID_new(), "authorityKeyIdentifier"));
    akid->keyid = ossl::check_ptr(ASN1_OCTET_STRING_dup(keyid), "authorityKeyIdentifier");
    return make_ext(NID_authority_key_identifier, false, akid.get(), "authorityKeyIdentifier");
}

ossl::X509ExtPtr subject_alt_names(const std::vector<std::string>& hosts) {
    auto names = general_names(hosts);
    return make_ext(NID_subject_alt_name, false, names.get(), "subjectAltName");
}

void add_ext(X509* x, const X509_EXTENSION* ext, const char* what) {
    // X509_add_ext copies; the prebuilt extension stays ours.
    ossl::check1(X509_add_ext(x, const_cast<X509_EXTENSION*>(ext), -1), what);
}

}  // namespace

struct LeafFactory::Impl {
    const CertificateAuthority* ca;
    KeyAlg alg;
    const Curve* curve = nullptr;  // null: generic path

    // Fast-path state, made once.
    ossl::PkeyCtxPtr keygen;
    ossl::PkeyPtr pub_template;  // legacy EVP_PKEY holding only the curve (see the top of the file)
    ossl::MdCtxPtr sign_template;  // EVP_DigestSignInit'ed with the CA key, copied per leaf
    ossl::MdCtxPtr sign_ctx;
    MdPtr sha1;
    ossl::X509NamePtr issuer;
    std::time_t issuer_not_before = 0;
    std::time_t issuer_not_after = 0;
    ossl::X509ExtPtr bc, ku, eku_client, eku_server, aki;  // aki null: the issuer has no SKI
    ossl::X509ExtPtr ski;  // its value is overwritten per leaf, then X509_add_ext copies it

    Impl(const CertificateAuthority& c, KeyAlg a) : ca(&c), alg(a), curve(curve_for(a)) {
        if (curve != nullptr) init_fast();
    }

    void init_fast() {
        keygen.reset(ossl::check_ptr(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "EC keygen context"));
        ossl::check_pos(EVP_PKEY_keygen_init(keygen.get()), "EC keygen context");
        ossl::check_pos(EVP_PKEY_CTX_set_group_name(keygen.get(), curve->group), "EC keygen group");

        // A provider key with just the curve, copied into a legacy (public-only) template.
        ossl::PkeyPtr params;
        {
            ossl::PkeyCtxPtr pctx(ossl::check_ptr(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), "EC parameters"));
            OSSL_PARAM p[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve->group), 0),
                OSSL_PARAM_construct_end()};
            EVP_PKEY* raw = nullptr;
            ossl::check_pos(EVP_PKEY_fromdata_init(pctx.get()), "EC parameters");
            ossl::check_pos(EVP_PKEY_fromdata(pctx.get(), &raw, EVP_PKEY_KEY_PARAMETERS, p), "EC parameters");
            params.reset(raw);
        }
        pub_template.reset(ossl::check_ptr(EVP_PKEY_new(), "EC public key template"));
        ossl::check1(EVP_PKEY_set_type(pub_template.get(), EVP_PKEY_EC), "EC public key template");
        ossl::check1(EVP_PKEY_copy_parameters(pub_template.get(), params.get()), "EC public key template");

        // Signing: a private copy of the CA key (threads do not share one EVP_PKEY's
        // reference count and caches) and a DigestSign context to copy per certificate.
        const PrivateKey& ca_key = ca->key();
        ossl::PkeyPtr signer(ossl::check_ptr(EVP_PKEY_dup(ca_key.native()), "copy CA key"));
        sign_template.reset(ossl::check_ptr(EVP_MD_CTX_new(), "signing context"));
        ossl::check1(EVP_DigestSignInit_ex(sign_template.get(), nullptr, digest_name_for(ca_key.alg()), nullptr,
                                           nullptr, signer.get(), nullptr),
                     "signing context");
        sign_ctx.reset(ossl::check_ptr(EVP_MD_CTX_new(), "signing context"));
        sha1.reset(ossl::check_ptr(EVP_MD_fetch(nullptr, "SHA1", nullptr), "fetch SHA-1"));

        const Certificate& ca_cert = ca->certificate();
        issuer.reset(ossl::check_ptr(X509_NAME_dup(X509_get_subject_name(ca_cert.native())), "issuer name"));
        issuer_not_before = ca_cert.not_before();
        issuer_not_after = ca_cert.not_after();

        bc = basic_constraints_leaf();
        ku = key_usage_digital_signature();
        eku_client = eku(NID_client_auth);
        eku_server = eku(NID_server_auth);
        if (const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(ca_cert.native()))
            aki = authority_key_id(issuer_ski);
        ossl::Asn1OctetPtr zero(ossl::check_ptr(ASN1_OCTET_STRING_new(), "subjectKeyIdentifier"));
        unsigned char none[SHA_DIGEST_LENGTH] = {0};
        ossl::check1(ASN1_OCTET_STRING_set(zero.get(), none, sizeof none), "subjectKeyIdentifier");
        ski = make_ext(NID_subject_key_identifier, false, zero.get(), "subjectKeyIdentifier");
        // X509_get0_subject_key_id() caches the CA certificate's extensions, which can leave
        // harmless errors queued; they must not surface in a later, unrelated failure message.
        ossl::drain_errors();
    }

    // The shared rules, with the issuer's bounds read once per factory.
    Validity validity(int days) const { return detail::validity(days, Validity{issuer_not_before, issuer_not_after}); }

    Leaf issue_fast(const DistinguishedName& subject, const std::vector<std::string>* hosts, int days) {
        if (subject.empty()) throw Error(ErrorKind::policy, "the subject is empty");
        const auto [not_before, not_after] = validity(days);
        auto name = build_name(subject);

        // 1. The key, and its public point in the encoding the SPKI and the PKCS#8 both use.
        EVP_PKEY* raw = nullptr;
        ossl::check_pos(EVP_PKEY_keygen(keygen.get(), &raw), std::string("generate ") + curve->group + " key");
        ossl::PkeyPtr key(raw);
        unsigned char point[kMaxPoint];
        std::size_t point_len = 0;
        ossl::check1(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                                     sizeof point, &point_len),
                     "read public key");
        if (point_len != curve->point || point[0] != 0x04)
            throw Error(ErrorKind::internal, "unexpected EC public key encoding");

        // 2. The certificate body.
        ossl::X509Ptr x(ossl::check_ptr(X509_new(), "allocate certificate"));
        ossl::check1(X509_set_version(x.get(), X509_VERSION_3), "set version");
        // Positive and exactly 16 octets: set as the INTEGER's content (no BIGNUM round trip).
        unsigned char serial[16];
        random_serial_bytes(serial);
        ossl::check1(ASN1_STRING_set(X509_get_serialNumber(x.get()), serial, sizeof serial), "set serial number");
        // X509_set_subject_name would copy the whole name through an encode/decode round trip;
        // copying the entries into the certificate's own (empty) name is cheaper and keeps
        // build_name's RDN structure (one attribute per RDN, in order).
        X509_NAME* own_subject = X509_get_subject_name(x.get());
        for (int i = 0; i < X509_NAME_entry_count(name.get()); ++i)
            ossl::check1(X509_NAME_add_entry(own_subject, X509_NAME_get_entry(name.get(), i), -1, 0), "set subject");
        ossl::check1(X509_set_issuer_name(x.get(), issuer.get()), "set issuer");
        std::time_t nb = not_before, na = not_after;
        ossl::check_ptr(X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, 0, &nb), "set notBefore");
        ossl::check_ptr(X509_time_adj_ex(X509_getm_notAfter(x.get()), 0, 0, &na), "set notAfter");

        // 3. The public key, through a public-only legacy key (no encoder, no decoder).
        {
            ossl::PkeyPtr pub(ossl::check_ptr(EVP_PKEY_dup(pub_template.get()), "public key"));
            ossl::check1(EVP_PKEY_set1_encoded_public_key(pub.get(), point, point_len), "public key");
            ossl::check1(X509_set_pubkey(x.get(), pub.get()), "set public key");
        }

        // 4. Extensions, in ca.cpp's order. SKI: RFC 5280 §4.2.1.2 method (1), the SHA-1 of
        // the subjectPublicKey BIT STRING's contents, which are exactly the encoded point.
        add_ext(x.get(), bc.get(), "add basicConstraints");
        add_ext(x.get(), ku.get(), "add keyUsage");
        add_ext(x.get(), hosts != nullptr ? eku_server.get() : eku_client.get(), "add extendedKeyUsage");
        if (hosts != nullptr) add_ext(x.get(), subject_alt_names(*hosts).get(), "add subjectAltName");
        unsigned char ski_der[2 + SHA_DIGEST_LENGTH] = {V_ASN1_OCTET_STRING, SHA_DIGEST_LENGTH};
        unsigned int md_len = 0;
        ossl::check1(EVP_Digest(point, point_len, ski_der + 2, &md_len, sha1.get(), nullptr),
                     "compute subject key identifier");
        ossl::check1(ASN1_OCTET_STRING_set(X509_EXTENSION_get_data(ski.get()), ski_der, sizeof ski_der),
                     "subjectKeyIdentifier");
        add_ext(x.get(), ski.get(), "add subjectKeyIdentifier");
        if (aki) {
            add_ext(x.get(), aki.get(), "add authorityKeyIdentifier");
        } else {  // an issuer without SKI: ca.cpp falls back to the leaf's own key id
            ossl::Asn1OctetPtr own(ossl::check_ptr(ASN1_OCTET_STRING_new(), "authorityKeyIdentifier"));
            ossl::check1(ASN1_OCTET_STRING_set(own.get(), ski_der + 2, SHA_DIGEST_LENGTH), "authorityKeyIdentifier");
            add_ext(x.get(), authority_key_id(own.get()).get(), "add authorityKeyIdentifier");
        }

        // 5. Sign with a copy of the prepared DigestSign context (saves re-fetching the
        // signature implementation and re-creating the key context for every certificate).
        ossl::check1(EVP_MD_CTX_copy_ex(sign_ctx.get(), sign_template.get()), "signing context");
        if (X509_sign_ctx(x.get(), sign_ctx.get()) <= 0) ossl::fail("sign certificate");

        Leaf leaf{Certificate::adopt(x.release()), {}, {}};
        leaf.cert_pem = leaf.cert.to_pem();
        leaf.key_pem = key_pem(key.get(), point, point_len);
        return leaf;
    }

    // PKCS#8 PEM of `key` without an OSSL_ENCODER, byte-identical to PrivateKey::to_pem().
    std::string key_pem(EVP_PKEY* key, const unsigned char* point, std::size_t point_len) const {
        BIGNUM* raw = nullptr;
        ossl::check1(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &raw), "read private key");
        SecretBnPtr d(raw);
        unsigned char scalar[kMaxScalar];
        if (BN_bn2binpad(d.get(), scalar, static_cast<int>(curve->scalar)) != static_cast<int>(curve->scalar))
            ossl::fail("encode private key");
        SecretBuffer der;
        try {
            ec_private_key_der(der, scalar, curve->scalar, point, point_len);
        } catch (...) {
            OPENSSL_cleanse(scalar, sizeof scalar);
            throw;
        }
        OPENSSL_cleanse(scalar, sizeof scalar);

        Pkcs8Ptr p8(ossl::check_ptr(PKCS8_PRIV_KEY_INFO_new(), "encode private key"));
        // OBJ_nid2obj returns static objects: nothing to free for the algorithm or its parameter.
        ossl::check1(PKCS8_pkey_set0(p8.get(), OBJ_nid2obj(NID_X9_62_id_ecPublicKey), 0, V_ASN1_OBJECT,
                                     OBJ_nid2obj(curve->nid), der.data, static_cast<int>(der.size)),
                     "encode private key");
        der.release();  // owned (and wiped on free) by p8 now
        // A secure-memory BIO: its buffer (which holds the key) is wiped when it grows or is freed.
        ossl::BioPtr bio(ossl::check_ptr(BIO_new(BIO_s_secmem()), "allocate memory BIO"));
        ossl::check1(PEM_write_bio_PKCS8_PRIV_KEY_INFO(bio.get(), p8.get()), "encode private key as PKCS#8 PEM");
        return ossl::bio_string(bio.get());
    }

    Leaf issue_generic(const DistinguishedName& subject, const std::vector<std::string>* hosts, int days) const {
        PrivateKey key = PrivateKey::generate(alg);
        Certificate cert = hosts != nullptr ? ca->issue_server(key, subject, *hosts, days)
                                            : ca->issue_client(key, subject, days);
        std::string cert_pem = cert.to_pem();
        return Leaf{std::move(cert), std::move(cert_pem), key.to_pem()};
    }
};

LeafFactory::LeafFactory(const CertificateAuthority& ca, KeyAlg alg, Unchecked)
    : impl_(std::make_unique<Impl>(ca, alg)) {}

LeafFactory::LeafFactory(const CertificateAuthority& ca, KeyAlg alg) {
    fast_path_self_test(alg);  // once per process per fast key type; a no-op for the others
    impl_ = std::make_unique<Impl>(ca, alg);
}

LeafFactory::~LeafFactory() = default;
LeafFactory::LeafFactory(LeafFactory&&) noexcept = default;
LeafFactory& LeafFactory::operator=(LeafFactory&&) noexcept = default;

bool LeafFactory::fast() const noexcept { return impl_->curve != nullptr; }

LeafFactory::Leaf LeafFactory::issue_client(const DistinguishedName& subject, int days) {
    if (!fast()) return impl_->issue_generic(subject, nullptr, days);
    return impl_->issue_fast(subject, nullptr, days);
}

LeafFactory::Leaf LeafFactory::issue_server(const DistinguishedName& subject, const std::vector<std::string>& hosts,
                                            int days) {
    // The same checks as CertificateAuthority::issue_server, before any work.
    if (hosts.empty()) throw Error(ErrorKind::policy, "a server certificate needs at least one host");
    for (const auto& h : hosts) validate_host(h, "host");
    if (!fast()) return impl_->issue_generic(subject, &hosts, days);
    return impl_->issue_fast(subject, &hosts, days);
}

// --- the run-time self-test -------------------------------------------------------------

namespace {

std::string der_of_name(const X509_NAME* name) {
    unsigned char* der = nullptr;
    int n = i2d_X509_NAME(name, &der);
    if (n <= 0) ossl::fail("encode name");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

std::string der_of_spki(const X509_PUBKEY* spki) {
    unsigned char* der = nullptr;
    int n = i2d_X509_PUBKEY(spki, &der);
    if (n <= 0) ossl::fail("encode SubjectPublicKeyInfo");
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    return out;
}

std::string der_of_extensions(const X509* x) {
    std::string out;
    const STACK_OF(X509_EXTENSION)* exts = X509_get0_extensions(x);
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
        unsigned char* der = nullptr;
        int n = i2d_X509_EXTENSION(sk_X509_EXTENSION_value(exts, i), &der);
        if (n <= 0) ossl::fail("encode extension");
        out.append(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
        OPENSSL_free(der);
    }
    return out;
}

// Compares one fast leaf with what the generic path makes for the same key; returns what
// differs ("" if nothing).
std::string compare_with_generic(const CertificateAuthority& ca, const LeafFactory::Leaf& leaf,
                                 const DistinguishedName& subject, const std::vector<std::string>* hosts, int days) {
    // The key PEM must parse, and re-encode to the same bytes through the OSSL_ENCODER.
    PrivateKey key = PrivateKey::from_pem(leaf.key_pem, "self-test key");
    if (key.to_pem() != leaf.key_pem) return "the PKCS#8 key PEM differs from PrivateKey::to_pem()";

    // The certificate must re-parse (through OpenSSL's decoders) to the same DER.
    Certificate parsed = Certificate::from_pem(leaf.cert_pem, "self-test certificate");
    if (parsed.to_der() != leaf.cert.to_der()) return "the certificate does not re-parse to the same DER";
    if (!parsed.matches(key) || !leaf.cert.matches(key)) return "the certificate does not match its key";
    if (!parsed.issued_by(ca.certificate())) return "the signature does not verify";

    // The SPKI must be what X509_set_pubkey (encoder) makes for the same key.
    ossl::X509Ptr reference(ossl::check_ptr(X509_new(), "self-test"));
    ossl::check1(X509_set_pubkey(reference.get(), key.native()), "self-test: set public key");
    if (der_of_spki(X509_get_X509_PUBKEY(reference.get())) != der_of_spki(X509_get_X509_PUBKEY(parsed.native())))
        return "the SubjectPublicKeyInfo differs from X509_set_pubkey's";

    // Everything but serial, validity instant and signature value must equal the generic
    // certificate's (same key and issuer, so SKI and AKI too).
    Certificate generic = hosts != nullptr ? ca.issue_server(key, subject, *hosts, days)
                                           : ca.issue_client(key, subject, days);
    X509* f = parsed.native();
    X509* g = generic.native();
    if (X509_get_version(f) != X509_get_version(g)) return "the version differs";
    if (der_of_name(X509_get_subject_name(f)) != der_of_name(X509_get_subject_name(g))) return "the subject differs";
    if (der_of_name(X509_get_issuer_name(f)) != der_of_name(X509_get_issuer_name(g))) return "the issuer differs";
    if (der_of_extensions(f) != der_of_extensions(g)) return "the extensions differ";
    if (X509_get_signature_nid(f) != X509_get_signature_nid(g)) return "the signature algorithm differs";
    const ASN1_INTEGER* serial = X509_get0_serialNumber(f);
    if (ASN1_STRING_length(serial) != 16 || (ASN1_STRING_get0_data(serial)[0] & 0x80) != 0)
        return "the serial number is not 16 positive octets";
    const auto span = [](const Certificate& c) { return c.not_after() - c.not_before(); };
    if (std::abs(static_cast<long>(span(parsed) - span(generic))) > 2) return "the validity period differs";
    return {};
}

}  // namespace

void fast_path_self_test(KeyAlg leaf_alg) {
    const Curve* curve = curve_for(leaf_alg);
    if (curve == nullptr) return;  // the generic path has nothing hand-built to check
    static std::once_flag once[2];
    std::call_once(once[curve == &kP256 ? 0 : 1], [leaf_alg] {
        try {
            // A throwaway P-256 root: what is checked is the leaf's hand-built parts, which do
            // not depend on the CA's key type.
            auto ca = CertificateAuthority::create_root(DistinguishedName::with_cn("pgca fast path self-test"),
                                                        KeyAlg::ec_p256, 2);
            DistinguishedName subject;
            subject.set("O", "pgca");
            subject.set("CN", "self-test");
            // One client certificate covers every hand-built part (the SPKI route and the
            // PKCS#8 encoding); server certificates differ only by the SAN, which OpenSSL
            // encodes exactly as ca.cpp does (fast_leaf_test.cpp compares them too).
            LeafFactory factory(ca, leaf_alg, LeafFactory::Unchecked{});
            std::string why = compare_with_generic(ca, factory.issue_client(subject, 1), subject, nullptr, 1);
            if (!why.empty())
                throw Error(ErrorKind::internal, "fast issuance self-test (" + std::string(to_string(leaf_alg)) +
                                                     "): " + why);
        } catch (const Error& e) {
            if (e.kind() == ErrorKind::internal) throw;
            throw Error(ErrorKind::internal, "fast issuance self-test (" + std::string(to_string(leaf_alg)) +
                                                 "): " + e.what());
        }
    });
}

void fast_path_self_test() {
    fast_path_self_test(KeyAlg::ec_p256);
    fast_path_self_test(KeyAlg::ec_p384);
}

}  // namespace pgca::detail
