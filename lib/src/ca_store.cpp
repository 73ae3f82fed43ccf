// The CA of a PKI folder: certificates, keys, passphrase.
#include "pgca/ca_store.hpp"

#include <ctime>

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
    next_intermediate_ = !io::exists(layout_.next_root_cert()) && io::exists(layout_.next_intermediate_cert());
    const std::string next_path = next_intermediate_ ? layout_.next_intermediate_cert() : layout_.next_root_cert();
    if (io::exists(next_path)) {
        next_cert_ = Certificate::from_pem(io::read_file(next_path), next_path);
        if (next_intermediate_ && (!root_cert_ || !next_cert_->issued_by(*root_cert_)))
            throw Error(ErrorKind::policy, "\"" + next_path + "\" was not issued by \"" + layout_.root_cert() + "\"");
    }
    from_next_ = ledger_.get_meta(kRolloverPhase).value_or("") == "reissued";
}

std::vector<TrustedCa> CaStore::trusted() const {
    std::vector<TrustedCa> out;
    if (root_cert_) out.push_back({CaSlot::root, &*root_cert_, layout_.root_crl(), "root"});
    if (intermediate_cert_) out.push_back({CaSlot::intermediate, &*intermediate_cert_, layout_.intermediate_crl(), "intermediate"});
    if (next_cert_)
        out.push_back(next_intermediate_
                          ? TrustedCa{CaSlot::next, &*next_cert_, layout_.next_intermediate_crl(), "next-intermediate"}
                          : TrustedCa{CaSlot::next, &*next_cert_, layout_.next_root_crl(), "next-root"});
    return out;
}

std::string CaStore::trust_pem(bool with_chain) const {
    // A client's sslrootcert holds self-signed roots alone (libpq sets no
    // X509_V_FLAG_PARTIAL_CHAIN); during a root rollover both roots, so that a leaf of either
    // verifies. A server's ssl_ca_file also holds the intermediates whose leaves may be in use,
    // so that a client sending its leaf alone still verifies (docs/postgres-facts.md §1.6).
    std::string pem = root().to_pem();
    if (with_chain && intermediate_cert_) pem += intermediate_cert_->to_pem();
    if (next_cert_ && (with_chain || !next_intermediate_)) pem += next_cert_->to_pem();
    return pem;
}

Action CaStore::create_next(const DistinguishedName& subject, KeyAlg key, int days, bool intermediate) {
    if (next_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has a next CA");
    const Certificate& current = intermediate ? *intermediate_cert_ : root();
    if (intermediate && !intermediate_cert_)
        throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no intermediate CA to roll over");
    const char* what = intermediate ? "intermediate" : "root";
    auto next = in_context(std::string("create the next ") + what + " CA", [&] {
        return intermediate ? authority(CaSlot::root).create_intermediate(subject, key, days)
                            : CertificateAuthority::create_root(subject, key, days);
    });
    if (next.certificate().subject_rfc2253() == current.subject_rfc2253())
        throw Error(ErrorKind::policy, std::string("the next ") + what + " CA must have a subject other than the current one's");
    // A next CA the ledger knows but whose files never landed (a run killed before its journal
    // was durable) is replaced by this one.
    const std::string kind_name(to_string(intermediate ? CertKind::intermediate : CertKind::root));
    for (const auto& e : ledger_.by_name(intermediate ? CertKind::intermediate : CertKind::root, kind_name))
        if (e.status == CertStatus::valid && e.serial != current.serial_hex() &&
            (intermediate || e.serial != root().serial_hex()))
            ledger_.set_status(e.issuer, e.serial, CertStatus::superseded);
    files_.make_dir(layout_.ca_dir(), kPrivateDir);
    files_.make_dir(layout_.next_ca_dir(), kPrivateDir);
    files_.write_together(intermediate ? layout_.next_intermediate_key() : layout_.next_root_key(), key_pem(next.key()),
                          kPrivateFile);
    files_.write_together(intermediate ? layout_.next_intermediate_cert() : layout_.next_root_cert(),
                          next.certificate().to_pem(), kPublicFile);
    ledger_.record(entry_for(next.certificate(), IssueParams::ca(intermediate ? CertKind::intermediate : CertKind::root, key, days)));
    Action a{"create", what, intermediate ? "next-intermediate" : "next-root",
             "\"" + next.certificate().subject_rfc2253() + "\", serial " + next.certificate().serial_hex()};
    next_cert_ = next.certificate();
    next_ = std::move(next);
    next_intermediate_ = intermediate;
    return a;
}

std::vector<Action> CaStore::promote_next() {
    if (!next_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no next CA");
    const CertificateAuthority& next = authority(CaSlot::next);  // its key, read (and decrypted) now
    std::vector<Action> done;
    // The CA that leaves: the old root and its intermediate, or the old intermediate alone.
    const Certificate& leaving = next_intermediate_ ? *intermediate_cert_ : root();
    const std::string retired = layout_.retired_ca_dir(leaving.serial_hex());
    files_.make_dir(layout_.ca_dir() + "/retired", kPrivateDir);
    files_.make_dir(retired, kPrivateDir);
    for (bool inter : {false, true}) {
        const auto& cert = inter ? intermediate_cert_ : root_cert_;
        if (!cert || (next_intermediate_ && !inter)) continue;
        const std::string key_path = inter ? layout_.intermediate_key() : layout_.root_key();
        const char* name = inter ? "intermediate" : "root";
        std::string key = io::read_file(key_path);  // as stored (encrypted or not)
        files_.write_together(retired + "/" + name + ".key", std::move(key), kPrivateFile);
        files_.write_together(retired + "/" + name + ".crt", cert->to_pem(), kPublicFile);
        if (inter && !next_intermediate_) files_.remove(layout_.intermediate_key()), files_.remove(layout_.intermediate_cert());
        if (inter && next_intermediate_) {
            // Still signed by the root the clients trust: its revocation in the root's CRL is what
            // refuses the leaves it signed.
            ledger_.revoke(root().subject_rfc2253(), cert->serial_hex(), std::time(nullptr), RevocationReason::superseded);
            done.push_back({"revoke", name, name, "serial " + cert->serial_hex() + " (superseded), kept in " + retired});
        } else {
            ledger_.set_status(cert->subject_rfc2253(), cert->serial_hex(), CertStatus::superseded);
            done.push_back({"retire", name, name, "serial " + cert->serial_hex() + ", kept in " + retired});
        }
    }
    const char* what = next_intermediate_ ? "intermediate" : "root";
    files_.write_together(next_intermediate_ ? layout_.intermediate_key() : layout_.root_key(), key_pem(next.key()), kPrivateFile);
    files_.write_together(next_intermediate_ ? layout_.intermediate_cert() : layout_.root_cert(), next_cert_->to_pem(),
                          kPublicFile);
    files_.remove(layout_.next_ca_dir());
    done.push_back({"promote", what, what, "\"" + next_cert_->subject_rfc2253() + "\", serial " + next_cert_->serial_hex() +
                                               " is now the folder's " + what});
    if (next_intermediate_) {
        intermediate_cert_ = next_cert_;
        intermediate_ = std::move(next_);
    } else {
        root_cert_ = next_cert_;
        root_ = std::move(next_);
        intermediate_cert_.reset();
        intermediate_.reset();
    }
    next_cert_.reset();
    next_.reset();
    from_next_ = false;
    next_intermediate_ = false;
    return done;
}

const std::string& CaStore::passphrase() {
    return in_context("CA key", [&]() -> const std::string& { return passphrases_.get(source_); });
}

const CertificateAuthority& CaStore::authority(CaSlot which) {
    auto& slot = which == CaSlot::intermediate ? intermediate_ : which == CaSlot::next ? next_ : root_;
    if (slot) return *slot;
    const auto& cert = which == CaSlot::intermediate ? intermediate_cert_
                       : which == CaSlot::next       ? next_cert_
                                                     : root_cert_;
    if (!cert) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    const std::string path = which == CaSlot::intermediate ? layout_.intermediate_key()
                             : which == CaSlot::next       ? (next_intermediate_ ? layout_.next_intermediate_key()
                                                                                   : layout_.next_root_key())
                                                           : layout_.root_key();
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
    next_.reset();
}

void CaStore::unlock_keys() {
    for (const auto& t : trusted()) (void)authority(t.slot);
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

const CertificateAuthority& CaStore::issuer() {
    if (issues_from_next()) return authority(CaSlot::next);
    return authority(intermediate_cert_.has_value());
}

const Certificate& CaStore::issuer_certificate() const {
    if (issues_from_next()) return *next_cert_;
    if (intermediate_cert_) return *intermediate_cert_;
    return root();
}

const Certificate& CaStore::root() const {
    if (!root_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    return *root_cert_;
}

std::string CaStore::chain_pem() const {
    if (issues_from_next()) return next_intermediate_ ? next_cert_->to_pem() : std::string();
    return intermediate_cert_ ? intermediate_cert_->to_pem() : std::string();
}

}  // namespace pgca
