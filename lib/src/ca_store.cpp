// The CA of a PKI folder: certificates, keys, passphrase.
#include "pgca/ca_store.hpp"

#include "ledger_entry.hpp"
#include "pgca/error.hpp"
#include "pgca/wipe.hpp"

namespace pgca {
namespace {

using detail::entry_for;

constexpr mode_t kPrivateFile = io::Layout::kPrivateFile;
constexpr mode_t kPublicFile = io::Layout::kPublicFile;
constexpr mode_t kPrivateDir = io::Layout::kPrivateDir;

}  // namespace

void CaStore::load() {
    // Certificates now; keys (which may need a passphrase) only when something must be signed.
    if (io::exists(layout_.root_cert()))
        root_cert_ = Certificate::from_pem(io::read_file(layout_.root_cert()), layout_.root_cert());
    if (io::exists(layout_.intermediate_cert())) {
        intermediate_cert_ = Certificate::from_pem(io::read_file(layout_.intermediate_cert()), layout_.intermediate_cert());
        if (!root_cert_ || !intermediate_cert_->issued_by(*root_cert_))
            throw Error(ErrorKind::policy, "\"" + layout_.intermediate_cert() + "\" was not issued by \"" +
                                               layout_.root_cert() + "\"");
    }
}

const std::string& CaStore::passphrase() {
    return in_context("CA key", [&]() -> const std::string& { return passphrases_.get(source_); });
}

const CertificateAuthority& CaStore::authority(bool intermediate) {
    auto& slot = intermediate ? intermediate_ : root_;
    if (slot) return *slot;
    const auto& cert = intermediate ? intermediate_cert_ : root_cert_;
    if (!cert) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    const std::string path = intermediate ? layout_.intermediate_key() : layout_.root_key();
    std::string pem = io::read_file(path);
    PrivateKey key = !source_.empty() && PrivateKey::pem_is_encrypted(pem)
                         ? PrivateKey::from_pem(pem, path, passphrase())
                         : PrivateKey::from_pem(pem, path);
    wipe(pem);
    slot = in_context("CA \"" + path + "\"", [&] { return CertificateAuthority(*cert, std::move(key)); });
    return *slot;
}

std::string CaStore::key_pem(const PrivateKey& key) {
    return source_.empty() ? key.to_pem() : key.to_encrypted_pem(passphrase());
}

void CaStore::set_passphrase(const PassphraseSource& source) {
    if (source.kind == source_.kind && source.value == source_.value) return;
    source_ = source;
    root_.reset();
    intermediate_.reset();
}

void CaStore::unlock_keys() {
    for (bool inter : {false, true})
        if (inter ? intermediate_cert_ : root_cert_) (void)authority(inter);
}

std::vector<Action> CaStore::protect_keys() {
    std::vector<Action> done;
    if (source_.empty()) return done;
    for (bool inter : {false, true}) {
        if (inter ? !intermediate_cert_ : !root_cert_) continue;
        const std::string path = inter ? layout_.intermediate_key() : layout_.root_key();
        const CertificateAuthority& ca = authority(inter);  // decrypts: a wrong passphrase stops here
        std::string pem = io::read_file(path);
        const bool encrypted = PrivateKey::pem_is_encrypted(pem);
        wipe(pem);
        if (encrypted) continue;
        pem = ca.key().to_encrypted_pem(passphrase());
        io::write_file_atomic(path, pem, kPrivateFile);
        wipe(pem);
        done.push_back({"encrypt", inter ? "intermediate" : "root", inter ? "intermediate" : "root",
                        "key now encrypted with the passphrase from " + source_.describe()});
    }
    return done;
}

void CaStore::supersede_lost_ca(CertKind kind) {
    for (const auto& e : ledger_.by_name(kind, std::string(to_string(kind))))
        if (e.status == CertStatus::valid) ledger_.set_status(e.issuer, e.serial, CertStatus::superseded);
}

std::vector<Action> CaStore::create_ca(const CaSpec& spec) {
    if (root_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has a root CA");
    auto root = in_context("create root CA", [&] { return CertificateAuthority::create_root(spec.subject, spec.key, spec.days); });
    // Through the transaction's file batch like every leaf: written only after the ledger
    // recorded the CA, never when a later step of the same command fails, and all of the CA's
    // files together or none (a certificate on disk without its key would look like a usable CA).
    // A CA the ledger knows but whose files never landed (a run killed before its journal was
    // durable) is replaced by this one and its rows superseded (the leaves it signed never landed
    // either, so apply issues them again).
    supersede_lost_ca(CertKind::root);
    supersede_lost_ca(CertKind::intermediate);
    files_.make_dir(layout_.ca_dir(), kPrivateDir);
    files_.write_together(layout_.root_key(), key_pem(root.key()), kPrivateFile);
    files_.write_together(layout_.root_cert(), root.certificate().to_pem(), kPublicFile);
    ledger_.record(entry_for(root.certificate(), IssueParams::ca(CertKind::root, spec.key, spec.days)));
    std::vector<Action> actions{{"create", "root", "root", "serial " + root.certificate().serial_hex()}};
    root_cert_ = root.certificate();
    root_ = std::move(root);
    if (spec.intermediate) actions.push_back(create_intermediate(*spec.intermediate));
    return actions;
}

Action CaStore::create_intermediate(const IntermediateSpec& spec) {
    if (!root_cert_) throw Error(ErrorKind::policy, "no root CA to sign an intermediate");
    if (intermediate_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has an intermediate CA");
    const CertificateAuthority& root = authority(false);
    auto inter = in_context("create intermediate CA",
                            [&] { return root.create_intermediate(spec.subject, spec.key, spec.days); });
    supersede_lost_ca(CertKind::intermediate);
    files_.make_dir(layout_.ca_dir(), kPrivateDir);
    files_.write_together(layout_.intermediate_key(), key_pem(inter.key()), kPrivateFile);
    files_.write_together(layout_.intermediate_cert(), inter.certificate().to_pem(), kPublicFile);
    ledger_.record(entry_for(inter.certificate(), IssueParams::ca(CertKind::intermediate, spec.key, spec.days)));
    Action a{"create", "intermediate", "intermediate", "serial " + inter.certificate().serial_hex()};
    intermediate_cert_ = inter.certificate();
    intermediate_ = std::move(inter);
    return a;
}

const CertificateAuthority& CaStore::issuer() { return authority(intermediate_cert_.has_value()); }

const Certificate& CaStore::issuer_certificate() const {
    if (intermediate_cert_) return *intermediate_cert_;
    return root();
}

const Certificate& CaStore::root() const {
    if (!root_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    return *root_cert_;
}

std::string CaStore::chain_pem() const { return intermediate_cert_ ? intermediate_cert_->to_pem() : std::string(); }

}  // namespace pgca
