// Certificate lint: the rules of docs/design.md §5 ("Rules that output must keep"), checked on a parsed
// certificate. Every check reads the X509 itself (criticality, raw serial, signature algorithm),
// so a certificate made by any tool can be checked, not only one pgca made.
#include "pgca/lint.hpp"

#include <openssl/obj_mac.h>

#include <string>
#include <utility>
#include <vector>

#include "ossl/ossl.hpp"
#include "pgca/error.hpp"

namespace pgca {
namespace {

// RFC 5280 §4.1.2.2: at most 20 octets; CA/B Forum BR §7.1: at least 64 bits of CSPRNG output,
// which needs at least 8 significant octets.
constexpr int kMaxSerialOctets = 20;
constexpr int kMinSerialOctets = 8;
constexpr int kMinRsaBits = 2048;

class Linter {
public:
    Linter(const Certificate& cert, const Certificate& issuer) : x_(cert.native()), issuer_(issuer.native()) {}

    std::vector<LintFinding> run() {
        serial();
        version();
        validity();
        signature();
        key();
        extensions();
        ossl::drain_errors();  // decoding failures above are findings, not errors for the caller
        return std::move(findings_);
    }

private:
    void add(const char* code, std::string message) { findings_.push_back({code, std::move(message)}); }

    void serial() {
        const ASN1_INTEGER* serial = X509_get0_serialNumber(x_);
        ossl::BnPtr bn(serial != nullptr ? ASN1_INTEGER_to_BN(serial, nullptr) : nullptr);
        if (!bn) {
            add("serial-not-positive", "the serial number cannot be read");
            return;
        }
        if (BN_is_negative(bn.get()) != 0 || BN_is_zero(bn.get()) != 0) {
            add("serial-not-positive", "the serial number is " + std::string(BN_is_zero(bn.get()) != 0 ? "zero" : "negative") +
                                           "; RFC 5280 requires a positive integer");
            return;
        }
        // DER content octets of a positive INTEGER: the magnitude plus a leading 0x00 when its top bit is set.
        const int bits = BN_num_bits(bn.get());
        const int der_octets = bits / 8 + 1;
        const int significant = BN_num_bytes(bn.get());
        if (der_octets > kMaxSerialOctets)
            add("serial-too-long", "the serial number takes " + std::to_string(der_octets) +
                                       " octets; RFC 5280 allows at most 20");
        if (significant < kMinSerialOctets)
            add("serial-too-short", "the serial number has " + std::to_string(bits) +
                                        " significant bits; pgca promises at least 64 bits of randomness");
    }

    void version() {
        long v = X509_get_version(x_);
        if (v != X509_VERSION_3) add("version-not-3", "the certificate is version " + std::to_string(v + 1) + ", not 3");
    }

    void validity() {
        const ASN1_TIME* nb = X509_get0_notBefore(x_);
        const ASN1_TIME* na = X509_get0_notAfter(x_);
        if (nb == nullptr || na == nullptr) {
            add("validity-inverted", "the validity period cannot be read");
            return;
        }
        if (ASN1_TIME_compare(nb, na) != -1) add("validity-inverted", "notAfter is not after notBefore");
        // A root is its own issuer: the comparisons below are then trivially true.
        int before = ASN1_TIME_compare(nb, X509_get0_notBefore(issuer_));
        if (before == -1 || before == -2)
            add("validity-starts-before-issuer", "notBefore " + text(nb) + " is before the issuer's notBefore " +
                                                     text(X509_get0_notBefore(issuer_)));
        int after = ASN1_TIME_compare(na, X509_get0_notAfter(issuer_));
        if (after == 1 || after == -2)
            add("validity-ends-after-issuer", "notAfter " + text(na) + " is after the issuer's notAfter " +
                                                  text(X509_get0_notAfter(issuer_)) + ": the certificate outlives its issuer");
    }

    void signature() {
        if (X509_NAME_cmp(X509_get_issuer_name(x_), X509_get_subject_name(issuer_)) != 0)
            add("issuer-name-mismatch", "the issuer name is not the issuer certificate's subject");
        EVP_PKEY* issuer_key = X509_get0_pubkey(issuer_);
        if (issuer_key == nullptr || X509_verify(x_, issuer_key) != 1)
            add("signature-invalid", "the signature does not verify with the issuer's public key");
        ossl::drain_errors();

        int md = NID_undef, pk = NID_undef, secbits = 0;
        uint32_t flags = 0;
        const bool known = X509_get_signature_info(x_, &md, &pk, &secbits, &flags) == 1;
        const int sig_nid = X509_get_signature_nid(x_);
        if (pk == NID_ED25519 || pk == NID_ED448 || sig_nid == NID_ED25519 || sig_nid == NID_ED448) {
            add("signature-eddsa", "the signature is EdDSA; libpq cannot do SCRAM channel binding with it "
                                   "(\"could not find digest for NID UNDEF\")");
            return;
        }
        const bool strong = known && (md == NID_sha256 || md == NID_sha384 || md == NID_sha512 ||
                                      md == NID_sha3_256 || md == NID_sha3_384 || md == NID_sha3_512);
        if (!strong) {
            const char* name = md != NID_undef ? OBJ_nid2sn(md) : OBJ_nid2ln(sig_nid);
            add("signature-weak-digest", std::string("the signature digest is ") + (name != nullptr ? name : "unknown") +
                                             "; pgca signs with SHA-256 or stronger");
        }
    }

    void key() {
        EVP_PKEY* pub = X509_get0_pubkey(x_);
        if (pub == nullptr) {
            add("key-unreadable", "the public key cannot be decoded");
            return;
        }
        rsa_ = EVP_PKEY_is_a(pub, "RSA") != 0;
        eddsa_ = EVP_PKEY_is_a(pub, "ED25519") != 0 || EVP_PKEY_is_a(pub, "ED448") != 0;
        if (rsa_ || EVP_PKEY_is_a(pub, "RSA-PSS") != 0) {
            int bits = EVP_PKEY_get_bits(pub);
            if (bits < kMinRsaBits)
                add("rsa-key-too-small", "the RSA key has " + std::to_string(bits) + " bits; at least 2048 are needed");
        }
    }

    void extensions() {
        // basicConstraints
        int bc_crit = -1;
        ossl::BasicConstraintsPtr bc(
            static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(x_, NID_basic_constraints, &bc_crit, nullptr)));
        if (bc_crit == -1) {
            add("basic-constraints-missing", "there is no basicConstraints extension");
        } else if (!bc) {
            add("basic-constraints-malformed", "the basicConstraints extension is duplicated or cannot be decoded");
        } else if (bc_crit != 1) {
            add("basic-constraints-not-critical", "basicConstraints is not marked critical");
        }
        const bool says_ca = bc && bc->ca != 0;

        // keyUsage
        int ku_crit = -1;
        ossl::Handle<ASN1_BIT_STRING, ASN1_BIT_STRING_free> ku(
            static_cast<ASN1_BIT_STRING*>(X509_get_ext_d2i(x_, NID_key_usage, &ku_crit, nullptr)));
        auto ku_bit = [&](int n) { return ku && ASN1_BIT_STRING_get_bit(ku.get(), n) == 1; };
        const bool digital_signature = ku_bit(0), key_encipherment = ku_bit(2), cert_sign = ku_bit(5),
                   crl_sign = ku_bit(6);
        if (ku_crit == -1) {
            add("key-usage-missing", "there is no keyUsage extension");
        } else if (!ku) {
            add("key-usage-malformed", "the keyUsage extension is duplicated or cannot be decoded");
        } else if (ku_crit != 1) {
            add("key-usage-not-critical", "keyUsage is not marked critical");
        }

        // extendedKeyUsage
        int eku_crit = -1;
        ossl::EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x_, NID_ext_key_usage, &eku_crit, nullptr)));
        bool server_auth = false, client_auth = false;
        int eku_count = 0;
        if (eku) {
            eku_count = sk_ASN1_OBJECT_num(eku.get());
            for (int i = 0; i < eku_count; ++i) {
                int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
                server_auth = server_auth || nid == NID_server_auth;
                client_auth = client_auth || nid == NID_client_auth;
            }
        }

        const bool ca = says_ca && (cert_sign || !(server_auth || client_auth));
        if (ca) {
            if (ku && !(cert_sign && crl_sign))
                add("ca-key-usage-incomplete", "a CA certificate needs keyUsage keyCertSign and cRLSign");
            if (eku_crit != -1) add("ca-has-eku", "a CA certificate carries an extendedKeyUsage extension");
            if (eddsa_)
                add("ca-key-eddsa", "a CA key must not be EdDSA: libpq cannot do SCRAM channel binding with "
                                    "certificates it signs");
        } else {
            if (says_ca) add("leaf-is-ca", "a leaf certificate says basicConstraints CA:TRUE");
            if (ku && !digital_signature)
                add("leaf-key-usage-no-digital-signature", "a leaf certificate needs keyUsage digitalSignature");
            if (ku && rsa_ && !key_encipherment)
                add("leaf-key-usage-no-key-encipherment", "a leaf certificate with an RSA key needs keyUsage "
                                                          "keyEncipherment");
            if (ku && (cert_sign || crl_sign))
                add("leaf-key-usage-ca-bits", "a leaf certificate has keyUsage keyCertSign or cRLSign");
            if (eku_crit == -1) {
                add("eku-missing", "a leaf certificate needs extendedKeyUsage serverAuth or clientAuth");
            } else if (!eku) {
                add("eku-malformed", "the extendedKeyUsage extension is duplicated or cannot be decoded");
            } else if (eku_count != 1 || server_auth == client_auth) {
                add("eku-not-exactly-one", "extendedKeyUsage must be exactly one of serverAuth and clientAuth (it has " +
                                               std::to_string(eku_count) + " purpose(s))");
            }
        }

        // Key identifiers.
        const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(x_);
        if (ski == nullptr) add("ski-missing", "there is no subjectKeyIdentifier");
        const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x_);
        if (aki == nullptr) {
            add("aki-missing", "there is no authorityKeyIdentifier with a keyIdentifier");
        } else {
            const ASN1_OCTET_STRING* issuer_ski = X509_get0_subject_key_id(issuer_);
            if (issuer_ski == nullptr || ASN1_OCTET_STRING_cmp(aki, issuer_ski) != 0)
                add("aki-mismatch", "the authorityKeyIdentifier is not the issuer's subjectKeyIdentifier");
        }

        // subjectAltName and subject, by kind of leaf.
        if (ca) return;
        int san_crit = -1;
        ossl::GeneralNamesPtr san(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x_, NID_subject_alt_name, &san_crit, nullptr)));
        if (san_crit != -1 && !san)
            add("san-malformed", "the subjectAltName extension is duplicated or cannot be decoded");
        const int san_count = san ? sk_GENERAL_NAME_num(san.get()) : 0;
        const bool client = client_auth && !server_auth;
        const bool server = server_auth && !client_auth;
        if (client) {
            std::string dns;
            for (int i = 0; i < san_count; ++i) {
                const GENERAL_NAME* gn = sk_GENERAL_NAME_value(san.get(), i);
                if (gn->type == GEN_DNS) dns += (dns.empty() ? "" : ", ") + asn1_text(gn->d.dNSName);
            }
            if (!dns.empty())
                add("client-dns-san", "a client certificate carries DNS names (" + dns + ")");
            else if (san_crit != -1)
                add("client-san-present", "a client certificate carries a subjectAltName extension");
            const X509_NAME* subject = X509_get_subject_name(x_);
            int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
            if (cn < 0 || ASN1_STRING_length(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn))) == 0)
                add("client-cn-missing", "a client certificate needs a CN: PostgreSQL compares it to the role name");
        }
        if (server && san_count == 0)
            add("server-san-missing", "a server certificate needs a subjectAltName with at least one host");
    }

    static std::string asn1_text(const ASN1_STRING* s) {
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<std::size_t>(ASN1_STRING_length(s)));
    }

    static std::string text(const ASN1_TIME* t) {
        if (t == nullptr) return "?";
        auto bio = ossl::mem_bio();
        if (ASN1_TIME_print_ex(bio.get(), t, ASN1_DTFLGS_ISO8601) != 1) return "?";
        return ossl::bio_string(bio.get());
    }

    X509* x_;
    X509* issuer_;
    bool rsa_ = false;
    bool eddsa_ = false;
    std::vector<LintFinding> findings_;
};

}  // namespace

std::vector<LintFinding> lint_certificate(const Certificate& cert, const Certificate& issuer) {
    return Linter(cert, issuer).run();
}

}  // namespace pgca
