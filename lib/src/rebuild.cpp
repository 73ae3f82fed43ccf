// `pgca ledger rebuild`: a lost ledger made again from what the folder holds, so that every
// certificate on disk stays revocable and the next apply with the same profile issues nothing.
#include "pgca/rebuild.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "ledger_entry.hpp"
#include "pgca/ca_store.hpp"
#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"

namespace pgca {
namespace {

constexpr long kDaySeconds = 24 * 60 * 60;

// The days a certificate was issued for, rounded (issuance backdates notBefore a little).
int days_of(const Certificate& cert) {
    return static_cast<int>((cert.not_after() - cert.not_before() + kDaySeconds / 2) / kDaySeconds);
}

// Every CRL in a PEM file (servers/NAME/root.crl holds one per CA).
std::vector<Crl> crls_in(const std::string& pem, const std::string& path) {
    static const std::string kBegin = "-----BEGIN X509 CRL-----";
    std::vector<Crl> out;
    for (auto pos = pem.find(kBegin); pos != std::string::npos; pos = pem.find(kBegin, pos + 1))
        out.push_back(Crl::from_pem(std::string_view(pem).substr(pos), path));
    return out;
}

// One CA of the folder, with what the CRLs found say about what it signed.
struct CaState {
    Certificate cert;
    std::string subject;
    std::map<std::string, RevokedEntry> revoked;  // by serial; the earliest revocation found
    std::optional<CrlState> newest;
};

class Rebuilder {
public:
    explicit Rebuilder(const io::Layout& layout) : l_(layout) {}

    // Reads the folder: what record() will write.
    void scan() {
        load_cas();
        for (const auto& name : io::list_dir(l_.servers_dir()))
            leaf(CertKind::server, name, l_.server_dir(name), io::Layout::kServerCert, io::Layout::kServerKey);
        for (const auto& name : io::list_dir(l_.clients_dir()))
            leaf(CertKind::client, name, l_.client_dir(name), io::Layout::kClientCert, io::Layout::kClientKey);
        // A pooler's folder holds two leaves: its server certificate (clients → pooler) and its
        // client certificate (pooler → PostgreSQL).
        for (const auto& name : io::list_dir(l_.poolers_dir()))
            for (const CertKind kind : {CertKind::pooler, CertKind::pooler_client}) {
                const io::Layout::LeafFiles files = l_.leaf_files(kind, name);
                leaf(kind, name, files.folder, files.cert, files.key);
            }
        read_crls();
    }

    RebuildResult take() { return std::move(result_); }

    // Writes everything into `ledger` (inside one transaction of the caller).
    void record(Ledger& ledger) {
        const std::time_t now = std::time(nullptr);
        std::set<std::pair<std::string, std::string>> known;
        for (auto& e : result_.recorded) {
            ledger.record(e);
            known.insert({e.issuer, e.serial});
            auto& ca = cas_.at(e.issuer);
            auto it = ca.revoked.find(e.serial);
            if (it != ca.revoked.end()) {
                ledger.revoke(e.issuer, e.serial, it->second.revoked_at, it->second.reason);
                e.status = CertStatus::revoked;
                e.revoked_at = it->second.revoked_at;
                e.revocation_reason = it->second.reason;
            } else if (e.not_after <= now) {
                ledger.set_status(e.issuer, e.serial, CertStatus::expired);
                e.status = CertStatus::expired;
            }
        }
        // A revoked serial whose certificate is gone: the CRL must keep listing it, and a leaf
        // never outlives its CA, so the CA's notAfter bounds how long.
        for (auto& [issuer, ca] : cas_) {
            for (const auto& [serial, r] : ca.revoked) {
                if (known.count({issuer, serial}) != 0) continue;
                LedgerEntry e;
                e.serial = serial;
                e.issuer = issuer;
                e.kind = CertKind::unknown;
                e.name = "(no certificate on disk)";
                e.params.name = e.name;
                e.not_after = ca.cert.not_after();
                e.issued_at = r.revoked_at;
                ledger.record(e);
                ledger.revoke(issuer, serial, r.revoked_at, r.reason);
                e.status = CertStatus::revoked;
                e.revoked_at = r.revoked_at;
                e.revocation_reason = r.reason;
                result_.recorded.push_back(std::move(e));
            }
            if (ca.newest) {
                ledger.record_crl(*ca.newest);
                result_.crls.push_back(*ca.newest);
            }
        }
        if (crl_days_ > 0) ledger.set_meta("crl_days", std::to_string(crl_days_));
        record_rollover(ledger);
    }

private:
    void load_cas() {
        Certificate root = Certificate::from_pem(io::read_file(l_.root_cert()), l_.root_cert());
        if (!root.issued_by(root))
            throw Error(ErrorKind::policy, "\"" + l_.root_cert() + "\" is not a self-signed root certificate");
        add_ca(root, CertKind::root, l_.root_key());
        if (auto pem = io::try_read_file(l_.intermediate_cert())) {
            Certificate inter = Certificate::from_pem(*pem, l_.intermediate_cert());
            if (!inter.issued_by(root))
                throw Error(ErrorKind::policy, "\"" + l_.intermediate_cert() + "\" was not issued by \"" +
                                                   l_.root_cert() + "\"");
            add_ca(inter, CertKind::intermediate, l_.intermediate_key());
            issuers_.insert(issuers_.begin(), inter);  // leaves come from the intermediate first
        }
        // A CA rollover in progress (README "CA rollover"): its next root, or next intermediate
        // under the same root.
        for (const bool inter : {false, true}) {
            const std::string path = inter ? l_.next_intermediate_cert() : l_.next_root_cert();
            auto pem = io::try_read_file(path);
            if (!pem || next_) continue;
            Certificate next = Certificate::from_pem(*pem, path);
            if (!next.issued_by(inter ? root : next))
                throw Error(ErrorKind::policy, "\"" + path + "\" was not issued by \"" +
                                                   (inter ? l_.root_cert() : path) + "\"");
            add_ca(next, inter ? CertKind::intermediate : CertKind::root,
                   inter ? l_.next_intermediate_key() : l_.next_root_key());
            next_ = next;
            next_intermediate_ = inter;
            replaced_ = inter ? issuers_.front().subject_rfc2253() : root.subject_rfc2253();
        }
    }

    // The rollover's phase: "reissued" once a leaf of the next CA exists, else "begun"; the
    // options begin would have been given (its key type and lifetime, as the certificate says).
    void record_rollover(Ledger& ledger) {
        if (!next_) return;
        const std::string next_dn = next_->subject_rfc2253();
        bool reissued = false;
        for (const auto& e : result_.recorded)
            reissued = reissued || ((is_server_kind(e.kind) || is_client_kind(e.kind)) && e.issuer == next_dn);
        ledger.set_meta(kRolloverPhase, reissued ? "reissued" : "begun");
        ledger.set_meta(kRolloverOld, replaced_);
        ledger.set_meta(kRolloverNew, next_dn);
        const std::string key = next_->key_alg() ? std::string(to_string(*next_->key_alg())) : std::string();
        ledger.set_meta(kRolloverOptions,
                        "{\"days\":" + std::to_string(days_of(*next_)) + ",\"intermediate\":" +
                            (next_intermediate_ ? "true" : "false") + ",\"key\":\"" + key + "\"}");
        result_.warnings.push_back("a CA rollover is in progress (" + next_dn + "), recorded in phase " +
                                   (reissued ? "reissued" : "begun") + "; check it with `pgca rollover status`");
    }

    void add_ca(const Certificate& cert, CertKind kind, const std::string& key_path) {
        IssueParams params;
        params.kind = kind;
        params.name = std::string(to_string(kind));
        params.key = cert.key_alg();
        params.days = days_of(cert);
        LedgerEntry e = entry(cert, std::move(params));
        result_.recorded.push_back(e);
        cas_.emplace(e.subject, CaState{cert, e.subject, {}, std::nullopt});
        issuers_.push_back(cert);
        auto key = io::try_read_file(key_path);
        if (key && PrivateKey::pem_is_encrypted(*key))
            result_.warnings.push_back("\"" + key_path + "\" is encrypted and the ledger no longer knows the "
                                       "passphrase source: run `pgca apply PROFILE` (which names it) first");
        if (key) wipe(*key);
    }

    // The ledger row of `cert`, issued (as far as anyone can tell now) when it became valid.
    static LedgerEntry entry(const Certificate& cert, IssueParams params) {
        LedgerEntry e = detail::entry_for(cert, std::move(params));
        e.status = CertStatus::valid;
        e.issued_at = e.not_before;
        return e;
    }

    void leaf(CertKind kind, const std::string& name, const std::string& folder, const char* cert_name,
              const char* key_name) {
        const std::string cert_path = folder + "/" + cert_name;
        auto cert_pem = io::try_read_file(cert_path);
        if (!cert_pem) return;
        try {
            Certificate cert = Certificate::from_pem(*cert_pem, cert_path);
            const Certificate* issuer = nullptr;
            for (const auto& ca : issuers_)
                if (issuer == nullptr && cert.issued_by(ca)) issuer = &ca;
            if (issuer == nullptr) return skip(cert_path, "not issued by the folder's CA");
            auto key_pem = io::try_read_file(folder + "/" + key_name);
            IssueParams params;
            params.kind = kind;
            params.name = name;
            params.key = cert.key_alg();
            params.days = days_of(cert);
            if (kind == CertKind::pooler) {
                params.hosts = cert.san_hosts();
            } else if (kind == CertKind::server) {
                const bool encrypted = key_pem && PrivateKey::pem_is_encrypted(*key_pem);
                if (encrypted) {
                    result_.warnings.push_back("\"" + folder + "/" + key_name + "\" is encrypted: the next apply "
                                               "issues server \"" + name + "\" again (its passphrase source is not "
                                               "on disk)");
                    params.key_passphrase.reset();
                }
                params.hosts = cert.san_hosts();
            } else {
                params.cn = cert.info().common_name;
            }
            LedgerEntry e = entry(cert, std::move(params));
            if (!seen_.insert({e.issuer, e.serial}).second) return skip(cert_path, "serial " + e.serial + " seen twice");
            e.cert_file_sha256 = sha256_hex(*cert_pem);
            if (key_pem) {
                e.key_file_sha256 = sha256_hex(*key_pem);
                wipe(*key_pem);
            }
            result_.recorded.push_back(std::move(e));
        } catch (const Error& err) {
            skip(cert_path, err.what());
        }
    }

    void read_crls() {
        std::vector<std::string> paths{l_.root_crl(), l_.intermediate_crl(), l_.next_root_crl(),
                                       l_.next_intermediate_crl()};
        for (const auto& name : io::list_dir(l_.servers_dir())) {
            paths.push_back(l_.server_file(name, io::Layout::kServerCrl));
            const std::string crl_dir = l_.server_crl_dir(name);
            for (const auto& f : io::list_dir(crl_dir)) paths.push_back(crl_dir + "/" + f);
        }
        for (const auto& path : paths) {
            auto pem = io::try_read_file(path);
            if (!pem) continue;
            try {
                for (const auto& crl : crls_in(*pem, path)) use_crl(crl, path);
            } catch (const Error& err) {
                skip(path, err.what());
            }
        }
    }

    void use_crl(const Crl& crl, const std::string& path) {
        auto it = cas_.find(crl.issuer_rfc2253());
        if (it == cas_.end() || !crl.issued_by(it->second.cert)) return skip(path, "a CRL not signed by the folder's CA");
        CaState& ca = it->second;
        for (auto& e : crl.entries()) {
            auto [slot, fresh] = ca.revoked.emplace(e.serial_hex, e);
            if (!fresh && e.revoked_at < slot->second.revoked_at) slot->second = e;
        }
        const std::int64_t number = crl.number();
        if (!ca.newest || number > ca.newest->number) {
            ca.newest = CrlState{ca.subject, number, crl.this_update(), crl.next_update(),
                                 static_cast<std::int64_t>(crl.revoked_serials().size())};
            // pgca backdates thisUpdate by five minutes: the lifetime it was asked for, in days.
            crl_days_ = static_cast<int>((crl.next_update() - crl.this_update() + kDaySeconds / 2) / kDaySeconds);
        }
    }

    void skip(const std::string& path, const std::string& why) { result_.skipped.push_back(path + ": " + why); }

    const io::Layout& l_;
    RebuildResult result_;
    std::map<std::string, CaState> cas_;  // by subject
    std::vector<Certificate> issuers_;    // the CAs that may sign leaves, the likeliest first
    std::set<std::pair<std::string, std::string>> seen_;
    int crl_days_ = 0;
    std::optional<Certificate> next_;  // a rollover's next CA
    bool next_intermediate_ = false;
    std::string replaced_;  // the DN of the CA it replaces
};

void remove_if_present(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        throw Error(ErrorKind::io, "cannot remove \"" + path + "\": " + std::strerror(errno));
}

// Removes a SQLite database with its journal files.
void remove_database(const std::string& path) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) remove_if_present(path + suffix);
}

}  // namespace

RebuildResult rebuild_ledger(const std::string& dir, int lock_timeout_seconds) {
    io::Layout l(dir);
    auto refuse_existing = [&] {
        if (io::exists(l.ledger()))
            throw Error(ErrorKind::policy, "\"" + l.ledger() + "\" exists: `pgca ledger rebuild` only replaces a "
                                           "lost ledger (move it away first if it is the wrong one)");
    };
    refuse_existing();
    if (!io::exists(l.root_cert()))
        throw Error(ErrorKind::input, "\"" + l.dir() + "\" has no root CA (" + l.root_cert() + "): nothing to rebuild from");
    // The same guards as every other command: a folder others may write is refused, and nothing
    // beneath it is read through a link (a planted servers/NAME/server.crt link is skipped).
    for (const auto& [path, what] : {std::pair{l.dir(), "the PKI folder"}, {l.ca_dir(), "the CA folder"}})
        io::check_private_owner(path, what);
    io::Tree tree(l.dir());
    // Made aside (a name of this process alone) and renamed into place whole: an interrupted
    // rebuild leaves no ledger that looks complete. The new ledger locks the folder (DIR/.lock,
    // as every writer's does); a rebuild that cannot have the lock removes what it made.
    const std::string aside = "pgca.db.rebuild-";
    const std::string mine = aside + std::to_string(::getpid());
    const std::string temp = l.dir() + "/" + mine;
    remove_database(temp);  // a rebuild killed in a process of the same pid
    std::unique_ptr<Ledger> ledger = open_ledger("sqlite:" + temp);
    std::unique_ptr<LedgerLock> lock;
    try {
        lock = ledger->lock_exclusive(lock_timeout_seconds);
        // Under the lock, what other rebuilds left aside is what a kill left: removed.
        for (const auto& name : io::list_dir(l.dir()))
            if (name.rfind(aside, 0) == 0 && name.substr(0, name.find_first_of("-", aside.size())) != mine)
                remove_if_present(l.dir() + "/" + name);
        refuse_existing();  // another rebuild finished while this one waited
    } catch (...) {
        ledger.reset();
        remove_database(temp);
        throw;
    }

    Rebuilder rebuilder(l);
    try {
        rebuilder.scan();
        in_transaction(*ledger, [&](Ledger& led) { rebuilder.record(led); });
        ledger.reset();
    } catch (...) {
        ledger.reset();
        remove_database(temp);
        throw;
    }
    RebuildResult result = rebuilder.take();
    // A journal left by the lost ledger would be replayed into the new one.
    for (const char* suffix : {"-wal", "-shm", "-journal"}) remove_if_present(l.ledger() + suffix);
    if (::rename(temp.c_str(), l.ledger().c_str()) != 0)
        throw Error(ErrorKind::io, "cannot rename \"" + temp + "\" to \"" + l.ledger() + "\": " + std::strerror(errno));
    int fd = ::open(l.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)::fsync(fd);
        ::close(fd);
    }
    return result;
}

}  // namespace pgca
