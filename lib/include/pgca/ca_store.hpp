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

/// The CAs a folder holds: its root, its intermediate, and during a rollover the next root.
enum class CaSlot { root, intermediate, next };

/// A CA whose CRL pgca publishes (every CA a trust file holds).
struct TrustedCa {
    CaSlot slot;
    const Certificate* cert;
    std::string crl_path;  ///< DIR/crl/root.crl, intermediate.crl, next-root.crl, next-intermediate.crl
    const char* label;     ///< root, intermediate, next-root, next-intermediate
};

/// The ledger meta keys of a CA rollover (README "CA rollover"): its phase ("begun", "reissued";
/// absent or "" when none is in progress) and the options begin was given.
inline constexpr const char* kRolloverPhase = "rollover_phase";
inline constexpr const char* kRolloverOld = "rollover_old";  ///< the old root's DN
inline constexpr const char* kRolloverNew = "rollover_new";  ///< the new root's DN
inline constexpr const char* kRolloverOptions = "rollover_options";

/// The root and intermediate CA of a folder. Certificates are loaded at load(); keys (which may
/// need a passphrase) only when something must be signed. New CA files go through `files`, new
/// CA rows into `ledger` (inside the workspace's transaction).
class CaStore final {
public:
    CaStore(const io::Layout& layout, Ledger& ledger, io::FileBatch& files, PassphraseCache& passphrases) noexcept
        : layout_(layout), ledger_(ledger), files_(files), passphrases_(passphrases) {}

    /// Reads DIR/ca/root.crt and DIR/ca/intermediate.crt when present, and a rollover's
    /// DIR/ca/next/root.crt with its phase. Throws Error(policy) when the intermediate was not
    /// issued by the root.
    void load();

    /// A rollover's next CA (DIR/ca/next/root.crt, or intermediate.crt for an intermediate
    /// rollover), or nullptr outside a rollover.
    [[nodiscard]] const Certificate* next() const noexcept { return next_cert_ ? &*next_cert_ : nullptr; }
    /// The next CA when it is a root, else nullptr.
    [[nodiscard]] const Certificate* next_root() const noexcept { return next_intermediate_ ? nullptr : next(); }
    [[nodiscard]] bool next_is_intermediate() const noexcept { return next_cert_ && next_intermediate_; }
    /// True once `rollover reissue` began: leaves are signed by the next CA.
    [[nodiscard]] bool issues_from_next() const noexcept { return from_next_ && next_cert_; }
    void set_issues_from_next(bool on) noexcept { from_next_ = on; }
    /// Every CA the trust files hold or chain to, root first: root, intermediate, next CA.
    [[nodiscard]] std::vector<TrustedCa> trusted() const;
    /// What a trust file holds: every root (the current and, in a root rollover, the next), with
    /// the intermediates (the current and, in an intermediate rollover, the next) for a server's
    /// ssl_ca_file and a pooler's CA file (`with_chain`).
    [[nodiscard]] std::string trust_pem(bool with_chain) const;
    /// Makes the next CA (rollover begin): a root, or an intermediate under the current root;
    /// queued in DIR/ca/next/, recorded in the ledger.
    Action create_next(const DistinguishedName& subject, KeyAlg key, int days, bool intermediate);
    /// rollover finish. A root rollover: the next root becomes DIR/ca/root.*, the old root and
    /// intermediate move to DIR/ca/retired/SERIAL/ (the old root's serial), their rows
    /// superseded. An intermediate rollover: the next intermediate becomes
    /// DIR/ca/intermediate.*, the old one moves to DIR/ca/retired/SERIAL/ (its serial) and is
    /// revoked (superseded) in the root's CRL.
    std::vector<Action> promote_next();

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
    [[nodiscard]] const CertificateAuthority& authority(bool intermediate) {
        return authority(intermediate ? CaSlot::intermediate : CaSlot::root);
    }
    [[nodiscard]] const CertificateAuthority& authority(CaSlot slot);
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
    std::optional<CertificateAuthority> next_;
    std::optional<Certificate> next_cert_;
    bool from_next_ = false;
    bool next_intermediate_ = false;
};

}  // namespace pgca
