// The CA of a PKI folder: its certificates, its keys and the passphrase that protects them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/ca.hpp"
#include "pgca/io.hpp"
#include "pgca/ledger.hpp"
#include "pgca/profile.hpp"
#include "pgca/secret.hpp"

namespace pgca {

/// The root and intermediate CA of a folder. Certificates are loaded at load(); keys (which may
/// need a passphrase) only when something must be signed. New CA files go through `files`, new
/// CA rows into `ledger` (inside the workspace's transaction).
class CaStore final {
public:
    CaStore(const io::Layout& layout, Ledger& ledger, io::FileBatch& files, PassphraseCache& passphrases) noexcept
        : layout_(layout), ledger_(ledger), files_(files), passphrases_(passphrases) {}

    /// Reads DIR/ca/root.crt and DIR/ca/intermediate.crt when present. Throws Error(policy) when
    /// the intermediate was not issued by the root.
    void load();

    [[nodiscard]] bool has_ca() const noexcept { return root_cert_.has_value(); }
    [[nodiscard]] bool has_intermediate() const noexcept { return intermediate_cert_.has_value(); }

    /// Where the CA keys' passphrase comes from. With a source, new CA keys are written encrypted
    /// and encrypted ones are decrypted with it.
    void set_passphrase(const PassphraseSource& source);
    [[nodiscard]] const PassphraseSource& passphrase_source() const noexcept { return source_; }
    /// Loads (and decrypts) both CA keys: a wrong passphrase throws Error(input) here.
    void unlock_keys();
    /// With a passphrase source: decrypts both CA keys (a wrong passphrase throws Error(input)
    /// here, before anything changes) and encrypts any that are still stored in the clear.
    std::vector<Action> protect_keys();
    /// Creates the root CA (and the intermediate the spec asks for). Throws Error(policy) if the
    /// folder already has a CA.
    std::vector<Action> create_ca(const CaSpec& spec);
    /// Adds an intermediate CA under the existing root. Throws Error(policy) if there is one.
    Action create_intermediate(const IntermediateSpec& spec);

    /// The CA that signs leaves: the intermediate when there is one, else the root. Loads (and,
    /// if needed, decrypts) its key on first use.
    [[nodiscard]] const CertificateAuthority& issuer();
    /// The root (`intermediate` false) or intermediate CA with its key, loaded on first use.
    /// Throws Error(policy) when the folder has no such CA.
    [[nodiscard]] const CertificateAuthority& authority(bool intermediate);
    /// The certificate of the CA that signs leaves (no key needed).
    [[nodiscard]] const Certificate& issuer_certificate() const;
    [[nodiscard]] const Certificate& root() const;
    /// The intermediate's certificate, or nullptr without one.
    [[nodiscard]] const Certificate* intermediate() const noexcept {
        return intermediate_cert_ ? &*intermediate_cert_ : nullptr;
    }
    /// PEM of the intermediate (to append to leaves), or "" without one.
    [[nodiscard]] std::string chain_pem() const;

private:
    const std::string& passphrase();
    std::string key_pem(const PrivateKey& key);
    void supersede_lost_ca(CertKind kind);

    const io::Layout& layout_;
    Ledger& ledger_;
    io::FileBatch& files_;
    PassphraseCache& passphrases_;
    PassphraseSource source_;
    std::optional<CertificateAuthority> root_;
    std::optional<CertificateAuthority> intermediate_;
    std::optional<Certificate> root_cert_;
    std::optional<Certificate> intermediate_cert_;
};

}  // namespace pgca
