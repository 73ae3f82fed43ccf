// The generic certificate builder: every certificate pgca makes through OpenSSL's X509_* calls
// (roots, intermediates, and the leaves the fast path does not make), the one table of rules
// both leaf builders read, and the generic LeafBuilder.
#include <openssl/rand.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "internal.hpp"

namespace pgca::detail {

// The table. Extensions follow RFC 5280: basicConstraints and keyUsage critical, EKU
// non-critical (§4.2.1.12, so that other applications are not locked out).
const CertRules kRootRules{true, -1, kKeyCertSign | kCrlSign, false, NID_undef, false};
const CertRules kIntermediateRules{true, 0, kKeyCertSign | kCrlSign, false, NID_undef, false};
namespace {
const CertRules kServerRules{false, -1, kDigitalSignature, true, NID_server_auth, true};
const CertRules kClientRules{false, -1, kDigitalSignature, true, NID_client_auth, false};
}  // namespace

const CertRules& leaf_rules(LeafKind kind) { return kind == LeafKind::server ? kServerRules : kClientRules; }

unsigned key_usage_bits(const CertRules& rules, bool rsa) {
    return rules.key_usage | (rules.rsa_key_encipherment && rsa ? kKeyEncipherment : 0u);
}

void check_leaf_request(const LeafRequest& request) {
    if (leaf_rules(request.kind).san_hosts && request.hosts.empty())
        throw Error(ErrorKind::policy, "a server certificate needs at least one host");
}


// Certificates start a few minutes in the past so that a client or server whose clock is
// slightly behind does not reject a certificate issued "in its future".
constexpr long kBackdateSeconds = 5 * 60;
constexpr long kDaySeconds = 24 * 60 * 60;
constexpr int kMaxDays = 100 * 366;

void random_serial_bytes(unsigned char (&bytes)[16]) {
    // RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B BR: at least 64 bits from a CSPRNG.
    // 16 random bytes with the top bit cleared give 127 bits and a positive DER INTEGER of
    // exactly 16 octets.
    ossl::check1(RAND_bytes(bytes, sizeof bytes), "generate serial number");
    bytes[0] &= 0x7f;
    if (bytes[0] == 0) bytes[0] = 0x01;  // keep the full length, and never zero
}

Validity validity(int days, const std::optional<Validity>& issuer) {
    if (days < 1 || days > kMaxDays)
        throw Error(ErrorKind::policy, "validity of " + std::to_string(days) + " days is outside 1.." +
                                           std::to_string(kMaxDays));
    std::time_t now = std::time(nullptr);
    Validity v{now - kBackdateSeconds, now + static_cast<std::time_t>(days) * kDaySeconds};
    if (issuer) {
        // A leaf never outlives its issuer: RFC 5280 path validation would reject it later.
        if (issuer->not_after <= now) throw Error(ErrorKind::policy, "the issuing CA certificate has expired");
        v.not_after = std::min(v.not_after, issuer->not_after);
        v.not_before = std::max(v.not_before, issuer->not_before);
    }
    return v;
}

ossl::GeneralNamesPtr general_names(const std::vector<std::string>& hosts) {
    ossl::GeneralNamesPtr names(ossl::check_ptr(sk_GENERAL_NAME_new_null(), "subjectAltName"));
    for (const auto& host : hosts) {
        ossl::Handle<GENERAL_NAME, GENERAL_NAME_free> gn(ossl::check_ptr(GENERAL_NAME_new(), "subjectAltName"));
        if (is_ip_literal(host)) {
            ASN1_OCTET_STRING* ip = ossl::check_ptr(a2i_IPADDRESS(host.c_str()), "subjectAltName IP " + host);
            GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING* dns = ossl::check_ptr(ASN1_IA5STRING_new(), "subjectAltName");
            if (ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) {
                ASN1_IA5STRING_free(dns);
                ossl::fail("subjectAltName DNS " + host);
            }
            GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns);
        }
        if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) ossl::fail("subjectAltName");
        gn.release();  // owned by `names` now
    }
    return names;
}


namespace {

ossl::Asn1IntPtr random_serial() {
    unsigned char bytes[16];
    random_serial_bytes(bytes);
    ossl::BnPtr bn(ossl::check_ptr(BN_bin2bn(bytes, sizeof bytes, nullptr), "serial number"));
    return ossl::Asn1IntPtr(ossl::check_ptr(BN_to_ASN1_INTEGER(bn.get(), nullptr), "serial number"));
}

// The digest for a signature by `key`: none for EdDSA (pure), SHA-384 for P-384 (matching
// strength), SHA-256 otherwise. PostgreSQL's channel binding derives its hash from this
// signature algorithm, which is why a CA never uses EdDSA.
const EVP_MD* digest_for(const PrivateKey& key) {
    switch (key.alg()) {
        case KeyAlg::ed25519: return nullptr;
        case KeyAlg::ec_p384: return EVP_sha384();
        default: return EVP_sha256();
    }
}

void add_ext(X509* x, int nid, void* value, bool critical, const char* what) {
    ossl::check1(X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT), what);
}

void add_basic_constraints(X509* x, bool ca, long pathlen) {
    ossl::BasicConstraintsPtr bc(ossl::check_ptr(BASIC_CONSTRAINTS_new(), "basicConstraints"));
    bc->ca = ca ? 0xff : 0;
    if (ca && pathlen >= 0) {
        bc->pathlen = ossl::check_ptr(ASN1_INTEGER_new(), "basicConstraints");
        ossl::check1(ASN1_INTEGER_set(bc->pathlen, pathlen), "basicConstraints pathlen");
    }
    add_ext(x, NID_basic_constraints, bc.get(), true, "add basicConstraints");
}

void add_key_usage(X509* x, unsigned bits) {
    ossl::Handle<ASN1_BIT_STRING, ASN1_BIT_STRING_free> ku(ossl::check_ptr(ASN1_BIT_STRING_new(), "keyUsage"));
    for (int bit = 0; bit < 9; ++bit)
        if ((bits & (1u << bit)) != 0) ossl::check1(ASN1_BIT_STRING_set_bit(ku.get(), bit, 1), "keyUsage");
    add_ext(x, NID_key_usage, ku.get(), true, "add keyUsage");
}

void add_eku(X509* x, int nid) {
    ossl::EkuPtr eku(ossl::check_ptr(sk_ASN1_OBJECT_new_null(), "extendedKeyUsage"));
    ASN1_OBJECT* obj = ossl::check_ptr(OBJ_nid2obj(nid), "extendedKeyUsage");
    if (sk_ASN1_OBJECT_push(eku.get(), obj) <= 0) ossl::fail("extendedKeyUsage");
    // RFC 5280 §4.2.1.12: non-critical, so that other applications are not locked out.
    add_ext(x, NID_ext_key_usage, eku.get(), false, "add extendedKeyUsage");
}

// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING.
ossl::Asn1OctetPtr key_identifier(X509* x) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ossl::check1(X509_pubkey_digest(x, EVP_sha1(), md, &n), "compute subject key identifier");
    ossl::Asn1OctetPtr oct(ossl::check_ptr(ASN1_OCTET_STRING_new(), "subject key identifier"));
    ossl::check1(ASN1_OCTET_STRING_set(oct.get(), md, static_cast<int>(n)), "subject key identifier");
    return oct;
}

void add_key_ids(X509* x, const ASN1_OCTET_STRING* issuer_ski) {
    auto ski = key_identifier(x);
    add_ext(x, NID_subject_key_identifier, ski.get(), false, "add subjectKeyIdentifier");
    ossl::AkidPtr akid(ossl::check_ptr(AUTHORITY_KEYID_new(), "authorityKeyIdentifier"));
    akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski != nullptr ? issuer_ski : ski.get());
    ossl::check_ptr(akid->keyid, "authorityKeyIdentifier");
    add_ext(x, NID_authority_key_identifier, akid.get(), false, "add authorityKeyIdentifier");
}

void add_sans(X509* x, const std::vector<std::string>& hosts) {
    auto names = general_names(hosts);
    add_ext(x, NID_subject_alt_name, names.get(), false, "add subjectAltName");
}

Validity validity_under(int days, const Certificate* issuer) {
    if (issuer == nullptr) return validity(days, std::nullopt);
    return validity(days, Validity{issuer->not_before(), issuer->not_after()});
}

// Builds and signs a certificate. `issuer` null means self-signed with `signer` = the subject key.
Certificate build(const CertRules& rules, const DistinguishedName& subject, EVP_PKEY* subject_key,
                  const Certificate* issuer, const PrivateKey& signer, int days,
                  const std::vector<std::string>& hosts) {
    if (subject.empty()) throw Error(ErrorKind::policy, "the subject is empty");
    ossl::X509Ptr x(ossl::check_ptr(X509_new(), "allocate certificate"));
    ossl::check1(X509_set_version(x.get(), X509_VERSION_3), "set version");
    auto serial = random_serial();
    ossl::check1(X509_set_serialNumber(x.get(), serial.get()), "set serial number");
    auto name = build_name(subject);
    ossl::check1(X509_set_subject_name(x.get(), name.get()), "set subject");
    ossl::check1(X509_set_issuer_name(x.get(), issuer != nullptr ? X509_get_subject_name(issuer->native())
                                                                 : name.get()),
                 "set issuer");
    Validity v = validity_under(days, issuer);
    ossl::check_ptr(X509_time_adj_ex(X509_getm_notBefore(x.get()), 0, 0, &v.not_before), "set notBefore");
    ossl::check_ptr(X509_time_adj_ex(X509_getm_notAfter(x.get()), 0, 0, &v.not_after), "set notAfter");
    ossl::check1(X509_set_pubkey(x.get(), subject_key), "set public key");

    // Extensions in the order the fast path writes them.
    add_basic_constraints(x.get(), rules.ca, rules.path_len);
    add_key_usage(x.get(), key_usage_bits(rules, EVP_PKEY_is_a(subject_key, "RSA") != 0));
    if (rules.eku_nid != NID_undef) add_eku(x.get(), rules.eku_nid);
    if (rules.san_hosts) add_sans(x.get(), hosts);
    add_key_ids(x.get(), issuer != nullptr ? X509_get0_subject_key_id(issuer->native()) : nullptr);

    if (X509_sign(x.get(), signer.native(), digest_for(signer)) <= 0) ossl::fail("sign certificate");
    return Certificate::adopt(x.release());
}

class GenericLeafBuilder final : public LeafBuilder {
public:
    GenericLeafBuilder(const LeafIssuer& issuer, KeyAlg alg) : issuer_(issuer), alg_(alg) {}

    Leaf make(const LeafRequest& request) override {
        check_leaf_request(request);
        if (request.key != nullptr) return leaf_of(build_leaf(issuer_, request), std::string());
        PrivateKey key = PrivateKey::generate(alg_);
        LeafRequest with_key = request;
        with_key.key = &key;
        return leaf_of(build_leaf(issuer_, with_key), key.to_pem());
    }
    bool fast() const noexcept override { return false; }

private:
    LeafIssuer issuer_;
    KeyAlg alg_;
};

}  // namespace

Certificate build_certificate(const CertRules& rules, const DistinguishedName& subject, EVP_PKEY* subject_key,
                              const Certificate* issuer, const PrivateKey& signer, int days,
                              const std::vector<std::string>& hosts) {
    return build(rules, subject, subject_key, issuer, signer, days, hosts);
}

Certificate build_leaf(const LeafIssuer& issuer, const LeafRequest& request) {
    check_leaf_request(request);
    if (request.key == nullptr) throw Error(ErrorKind::internal, "build_leaf needs the leaf's key");
    return build(leaf_rules(request.kind), request.subject, request.key->native(), &issuer.cert, issuer.key,
                 request.days, request.hosts);
}

std::unique_ptr<LeafBuilder> make_generic_leaf_builder(const LeafIssuer& issuer, KeyAlg alg) {
    return std::make_unique<GenericLeafBuilder>(issuer, alg);
}

Leaf leaf_of(const Certificate& cert, std::string key_pem) {
    Leaf leaf;
    leaf.cert_der = cert.to_der();
    leaf.cert_pem = cert.to_pem();
    leaf.key_pem = std::move(key_pem);
    leaf.serial_hex = cert.serial_hex();
    leaf.subject = cert.subject_rfc2253();
    leaf.not_before = cert.not_before();
    leaf.not_after = cert.not_after();
    leaf.sha256_fingerprint = cert.sha256_fingerprint();
    return leaf;
}

Certificate Leaf::certificate() const {
    const auto* p = reinterpret_cast<const unsigned char*>(cert_der.data());
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(cert_der.size()));
    if (x == nullptr || p != reinterpret_cast<const unsigned char*>(cert_der.data()) + cert_der.size()) {
        X509_free(x);
        ossl::fail("parse an issued certificate", ErrorKind::internal);
    }
    return Certificate::adopt(x);
}

}  // namespace pgca::detail
