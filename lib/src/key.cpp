#include "pgca/key.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include <array>
#include <cstring>
#include <utility>

#include "ossl/ossl.hpp"

namespace pgca {
namespace {

struct AlgName {
    KeyAlg alg;
    std::string_view name;
};
constexpr std::array<AlgName, 6> kAlgNames{{
    {KeyAlg::ec_p256, "ec-p256"},
    {KeyAlg::ec_p384, "ec-p384"},
    {KeyAlg::rsa_2048, "rsa-2048"},
    {KeyAlg::rsa_3072, "rsa-3072"},
    {KeyAlg::rsa_4096, "rsa-4096"},
    {KeyAlg::ed25519, "ed25519"},
}};

}  // namespace

std::string_view to_string(KeyAlg alg) noexcept {
    for (const auto& a : kAlgNames)
        if (a.alg == alg) return a.name;
    return "unknown";
}

std::optional<KeyAlg> parse_key_alg(std::string_view text) noexcept {
    for (const auto& a : kAlgNames)
        if (a.name == text) return a.alg;
    return std::nullopt;
}

std::string key_alg_names() {
    std::string out;
    for (const auto& a : kAlgNames) {
        if (!out.empty()) out += ", ";
        out += a.name;
    }
    return out;
}

bool usable_for_ca(KeyAlg alg) noexcept { return alg != KeyAlg::ed25519; }

PrivateKey::PrivateKey(PrivateKey&& other) noexcept
    : pkey_(std::exchange(other.pkey_, nullptr)), alg_(other.alg_) {}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
    if (this != &other) {
        EVP_PKEY_free(pkey_);
        pkey_ = std::exchange(other.pkey_, nullptr);
        alg_ = other.alg_;
    }
    return *this;
}

PrivateKey::~PrivateKey() { EVP_PKEY_free(pkey_); }

PrivateKey PrivateKey::generate(KeyAlg alg) {
    EVP_PKEY* raw = nullptr;
    switch (alg) {
        case KeyAlg::ec_p256:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
            break;
        case KeyAlg::ec_p384:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
            break;
        case KeyAlg::rsa_2048:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
            break;
        case KeyAlg::rsa_3072:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072));
            break;
        case KeyAlg::rsa_4096:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(4096));
            break;
        case KeyAlg::ed25519:
            raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
            break;
    }
    if (raw == nullptr) ossl::fail("generate " + std::string(to_string(alg)) + " key");
    return PrivateKey(raw, alg);
}

PrivateKey PrivateKey::adopt(EVP_PKEY* pkey) {
    if (pkey == nullptr) throw Error(ErrorKind::internal, "PrivateKey::adopt(nullptr)");
    auto alg = key_alg_of(pkey);
    if (!alg) {
        std::string desc = describe_key(pkey);
        EVP_PKEY_free(pkey);
        throw Error(ErrorKind::input, "unsupported key type " + desc + " (supported: " + key_alg_names() + ")");
    }
    return PrivateKey(pkey, *alg);
}

PrivateKey PrivateKey::from_pem(std::string_view pem, std::string_view what) {
    auto bio = ossl::mem_bio(pem);
    // An empty passphrase callback result makes an encrypted key fail instead of prompting on
    // the terminal: encrypted CA keys are handled by the secrets layer, not here.
    auto no_prompt = [](char*, int, int, void*) -> int { return 0; };
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_prompt, nullptr);
    if (raw == nullptr && pem_is_encrypted(pem)) {
        ossl::drain_errors();
        throw Error(ErrorKind::input, std::string(what) + ": the key is encrypted and no passphrase source is "
                                                          "configured (profile \"passphrase\" / init --passphrase-*)");
    }
    if (raw == nullptr) ossl::fail(std::string(what) + ": not an unencrypted PEM private key", ErrorKind::input);
    try {
        return adopt(raw);
    } catch (const Error& e) {
        throw e.with_context(what);
    }
}

namespace {

struct Passphrase {
    std::string_view text;
    bool asked = false;
};

// OpenSSL's pem_password_cb: copies the passphrase, never prompts.
int give_passphrase(char* buf, int size, int, void* userdata) {
    auto* p = static_cast<Passphrase*>(userdata);
    p->asked = true;
    if (p->text.size() > static_cast<std::size_t>(size)) return -1;
    std::memcpy(buf, p->text.data(), p->text.size());
    return static_cast<int>(p->text.size());
}

}  // namespace

bool PrivateKey::pem_is_encrypted(std::string_view pem) noexcept {
    return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
           pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

PrivateKey PrivateKey::from_pem(std::string_view pem, std::string_view what, std::string_view passphrase) {
    auto bio = ossl::mem_bio(pem);
    Passphrase p{passphrase};
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, give_passphrase, &p);
    if (raw == nullptr) {
        std::string queue = ossl::drain_errors();
        if (pem_is_encrypted(pem))
            throw Error(ErrorKind::input, std::string(what) + ": wrong passphrase (the key does not decrypt" +
                                              (queue.empty() ? ")" : ": " + queue + ")"));
        throw Error(ErrorKind::input, std::string(what) + ": not a PEM private key" + (queue.empty() ? "" : ": " + queue));
    }
    try {
        return adopt(raw);
    } catch (const Error& e) {
        throw e.with_context(what);
    }
}

std::string PrivateKey::to_encrypted_pem(std::string_view passphrase) const {
    if (passphrase.empty()) throw Error(ErrorKind::policy, "refusing to encrypt a key with an empty passphrase");
    auto bio = ossl::mem_bio();
    ossl::check1(PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_, EVP_aes_256_cbc(), passphrase.data(),
                                               static_cast<int>(passphrase.size()), nullptr, nullptr),
                 "encrypt private key");
    return ossl::bio_string(bio.get());
}

std::string PrivateKey::to_pkcs8_der() const {
    auto bio = ossl::mem_bio();
    ossl::check1(i2d_PKCS8PrivateKey_bio(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr),
                 "encode private key as PKCS#8 DER");
    return ossl::bio_string(bio.get());
}

std::string PrivateKey::to_pem() const {
    auto bio = ossl::mem_bio();
    ossl::check1(PEM_write_bio_PrivateKey(bio.get(), pkey_, nullptr, nullptr, 0, nullptr, nullptr),
                 "encode private key as PKCS#8 PEM");
    return ossl::bio_string(bio.get());
}

std::optional<KeyAlg> key_alg_of(const EVP_PKEY* pkey) {
    if (pkey == nullptr) return std::nullopt;
    if (EVP_PKEY_is_a(pkey, "ED25519")) return KeyAlg::ed25519;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        switch (EVP_PKEY_get_bits(pkey)) {
            case 2048: return KeyAlg::rsa_2048;
            case 3072: return KeyAlg::rsa_3072;
            case 4096: return KeyAlg::rsa_4096;
            default: return std::nullopt;
        }
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1)
            return std::nullopt;
        std::string_view g(group, len);
        if (g == "prime256v1" || g == "P-256") return KeyAlg::ec_p256;
        if (g == "secp384r1" || g == "P-384") return KeyAlg::ec_p384;
    }
    return std::nullopt;
}

std::string describe_key(const EVP_PKEY* pkey) {
    if (pkey == nullptr) return "none";
    if (EVP_PKEY_is_a(pkey, "RSA")) return "RSA " + std::to_string(EVP_PKEY_get_bits(pkey));
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {0};
        size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1) {
            std::string_view g(group, len);
            if (g == "prime256v1") return "EC P-256";
            if (g == "secp384r1") return "EC P-384";
            if (g == "secp521r1") return "EC P-521";
            return "EC " + std::string(g);
        }
        return "EC";
    }
    const char* name = EVP_PKEY_get0_type_name(pkey);
    return name != nullptr ? name : "unknown";
}

}  // namespace pgca
