// Private keys: generation, PEM (PKCS#8) encoding and parsing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pgca/native.hpp"

namespace pgca {

/// The key algorithms pgca issues. Ed25519 is for leaves only: a server certificate *signed*
/// with EdDSA breaks SCRAM channel binding in libpq ("could not find digest for NID UNDEF").
enum class KeyAlg { ec_p256, ec_p384, rsa_2048, rsa_3072, rsa_4096, ed25519 };

/// "ec-p256", "rsa-2048", … — the spelling used on the command line and in profiles.
[[nodiscard]] std::string_view to_string(KeyAlg alg) noexcept;
/// Parses the spelling above; std::nullopt if unknown.
[[nodiscard]] std::optional<KeyAlg> parse_key_alg(std::string_view text) noexcept;
/// All spellings, comma-separated, for error messages and --help.
[[nodiscard]] std::string key_alg_names();
/// Whether a CA may use this algorithm (everything but Ed25519).
[[nodiscard]] bool usable_for_ca(KeyAlg alg) noexcept;

/// A private key. Move-only; owns its EVP_PKEY.
class PrivateKey final {
public:
    PrivateKey(PrivateKey&&) noexcept;
    PrivateKey& operator=(PrivateKey&&) noexcept;
    PrivateKey(const PrivateKey&) = delete;
    PrivateKey& operator=(const PrivateKey&) = delete;
    ~PrivateKey();

    /// Generates a fresh key. Throws Error(crypto).
    [[nodiscard]] static PrivateKey generate(KeyAlg alg);
    /// Parses a PEM private key (PKCS#8, or traditional PKCS#1/SEC1). `what` names the source in
    /// errors. Throws Error(input) if it is not an unencrypted PEM private key of a known algorithm.
    [[nodiscard]] static PrivateKey from_pem(std::string_view pem, std::string_view what);
    /// Parses a PEM private key that may be encrypted (PKCS#8 "BEGIN ENCRYPTED PRIVATE KEY"),
    /// decrypting it with `passphrase`. Throws Error(input) naming `what` when the passphrase is
    /// wrong ("wrong passphrase") or the text is not a private key.
    [[nodiscard]] static PrivateKey from_pem(std::string_view pem, std::string_view what, std::string_view passphrase);
    /// True when `pem` holds an encrypted private key.
    [[nodiscard]] static bool pem_is_encrypted(std::string_view pem) noexcept;
    /// Takes ownership of `pkey` (must be non-null).
    [[nodiscard]] static PrivateKey adopt(EVP_PKEY* pkey);

    /// Unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"), the form every PostgreSQL client reads.
    [[nodiscard]] std::string to_pem() const;
    /// Encrypted PKCS#8 PEM ("BEGIN ENCRYPTED PRIVATE KEY"): AES-256-CBC under PBES2 with
    /// PBKDF2-HMAC-SHA256, what OpenSSL, PostgreSQL's ssl_passphrase_command and libpq's
    /// sslpassword read. Throws Error(policy) for an empty passphrase.
    [[nodiscard]] std::string to_encrypted_pem(std::string_view passphrase) const;
    /// Unencrypted PKCS#8 DER: the `.pk8` form pgjdbc reads (it cannot read PEM keys).
    [[nodiscard]] std::string to_pkcs8_der() const;
    [[nodiscard]] KeyAlg alg() const noexcept { return alg_; }
    /// Borrowed pointer; valid while this key lives.
    [[nodiscard]] EVP_PKEY* native() const noexcept { return pkey_; }

private:
    PrivateKey(EVP_PKEY* pkey, KeyAlg alg) noexcept : pkey_(pkey), alg_(alg) {}
    EVP_PKEY* pkey_ = nullptr;
    KeyAlg alg_ = KeyAlg::ec_p256;
};

/// The algorithm of any key (public or private), or std::nullopt if pgca does not issue it.
[[nodiscard]] std::optional<KeyAlg> key_alg_of(const EVP_PKEY* pkey);
/// A human description of any key: "EC P-256", "RSA 2048", "ED25519", …
[[nodiscard]] std::string describe_key(const EVP_PKEY* pkey);

}  // namespace pgca
