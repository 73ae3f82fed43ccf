// A PKI folder on disk, the workspace: its lock, its ledger, the files a transaction queues, and
// the parts that do the work (the CA store, the issuing pipeline, the CRL publisher).
// Everything the CLI does to a folder goes through here.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/ca.hpp"
#include "pgca/ca_store.hpp"
#include "pgca/crl.hpp"
#include "pgca/crl_publisher.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/issuance.hpp"
#include "pgca/ledger.hpp"
#include "pgca/profile.hpp"
#include "pgca/secret.hpp"

namespace pgca {

/// How a command opens a PKI folder.
struct OpenOptions {
    bool create = false;            ///< create DIR and its ledger when absent (apply, init)
    bool read_only = false;         ///< list and the like: change nothing, never wait for a writer
    int lock_timeout_seconds = 30;  ///< a writer waits at most this long for another pgca's lock
};

/// An open PKI folder. Holds an exclusive lock on the folder while it lives, unless opened
/// read_only (a reader takes no lock and never waits for one).
class PkiDir final {
public:
    /// Opens `dir` as `options` say. Throws Error(input) when the folder has no PKI and
    /// `options.create` is false.
    [[nodiscard]] static std::unique_ptr<PkiDir> open(const std::string& dir, const OpenOptions& options);
    /// Opens `dir` for writing, creating it and its ledger when `create` is set.
    [[nodiscard]] static std::unique_ptr<PkiDir> open(const std::string& dir, bool create) {
        OpenOptions options;
        options.create = create;
        return open(dir, options);
    }

    [[nodiscard]] const io::Layout& layout() const noexcept { return layout_; }
    [[nodiscard]] Ledger& ledger() noexcept { return *ledger_; }

    /// The CA certificates, keys and passphrase.
    [[nodiscard]] CaStore& ca() noexcept { return *ca_; }
    [[nodiscard]] const CaStore& ca() const noexcept { return *ca_; }
    /// Makes and publishes the CRLs.
    [[nodiscard]] CrlPublisher& crl_publisher() noexcept { return *crl_publisher_; }
    /// Issues and revokes leaves.
    [[nodiscard]] Issuance& issuance() noexcept { return *issuance_; }

    [[nodiscard]] bool has_ca() const noexcept { return ca_->has_ca(); }

    /// Where the CA keys' passphrase comes from (the ledger remembers what apply or init set).
    /// With a source, new CA keys are written encrypted and encrypted ones are decrypted with it.
    void set_ca_passphrase(const PassphraseSource& source) { ca_->set_passphrase(source); }
    [[nodiscard]] const PassphraseSource& ca_passphrase_source() const noexcept { return ca_->passphrase_source(); }
    /// The passphrases this command has read (the CA's, servers' key_passphrase), each source
    /// read once. A command may fill it before it opens the folder (see apply), so that a wrong
    /// source fails before anything is written.
    void adopt_passphrases(PassphraseCache&& read) noexcept { passphrases_ = std::move(read); }
    /// The passphrase `source` gives (read once per command; see adopt_passphrases).
    [[nodiscard]] const std::string& passphrase(const PassphraseSource& source) { return passphrases_.get(source); }
    /// Loads (and decrypts) both CA keys: a wrong passphrase throws Error(input) here.
    void unlock_ca_keys() { ca_->unlock_keys(); }
    /// With a passphrase source: decrypts both CA keys (a wrong passphrase throws Error(input)
    /// here, before anything changes) and encrypts any that are still stored in the clear.
    std::vector<Action> protect_ca_keys() { return ca_->protect_keys(); }
    /// Creates the root CA (and the intermediate the spec asks for). Throws Error(policy) if the
    /// folder already has a CA.
    std::vector<Action> create_ca(const CaSpec& spec) { return ca_->create_ca(spec); }
    /// Adds an intermediate CA under the existing root. Throws Error(policy) if there is one.
    Action create_intermediate(const IntermediateSpec& spec) { return ca_->create_intermediate(spec); }

    /// The CA that signs leaves: the intermediate when there is one, else the root. Loads (and,
    /// if needed, decrypts) its key on first use.
    [[nodiscard]] const CertificateAuthority& issuer() { return ca_->issuer(); }
    /// The certificate of the CA that signs leaves (no key needed).
    [[nodiscard]] const Certificate& issuer_certificate() const { return ca_->issuer_certificate(); }
    [[nodiscard]] const Certificate& root() const { return ca_->root(); }
    [[nodiscard]] bool has_intermediate() const noexcept { return ca_->has_intermediate(); }
    /// PEM of the intermediate (to append to leaves), or "" without one.
    [[nodiscard]] std::string chain_pem() const { return ca_->chain_pem(); }

    /// Issues a server certificate: records it (the previous one becomes superseded) and queues
    /// servers/NAME/{server.crt,server.key,root.crt}. Call inside transact().
    Certificate issue_server(const ServerRequest& req);
    /// Issues a client certificate: records it and queues clients/ROLE/{postgresql.crt,
    /// postgresql.key,root.crt}. Call inside transact().
    Certificate issue_client(const ClientRequest& req);

    /// Issues many leaves: keys and certificates are made in memory on up to jobs() threads, then
    /// recorded in the open transaction (each previous certificate of the same name superseded)
    /// and their files queued. Returns what was issued, in request order. `progress`, if set, is
    /// called on the calling thread with (done, total) as work completes.
    std::vector<IssuedLeaf> issue_batch(const std::vector<ServerRequest>& servers,
                                         const std::vector<ClientRequest>& clients, const Progress& progress = {}) {
        return issuance_->issue_batch(servers, clients, jobs_, progress);
    }

    /// Runs `fn` in one ledger transaction. After the commit, the files it queued are written and
    /// made durable (one syncfs); so the ledger knows every certificate before its files exist.
    /// On an exception before the commit the transaction is rolled back and the queued files are
    /// dropped. A failure writing the files after the commit never undoes it: unwritten() then
    /// holds the cause, and the Error thrown says the change is recorded but its files are not.
    template <class Fn>
    decltype(auto) transact(Fn&& fn) {
        if constexpr (std::is_void_v<decltype(fn())>) {
            run_and_commit(fn);
            publish_files();
        } else {
            auto result = run_and_commit(fn);
            publish_files();
            return result;
        }
    }

    /// After transact() threw: why the files of its committed ledger change could not be
    /// written; std::nullopt when the transaction was rolled back (or nothing failed).
    [[nodiscard]] const std::optional<Error>& unwritten() const noexcept { return unwritten_; }

    /// The file changes queued by the current transaction.
    [[nodiscard]] io::FileBatch& files() noexcept { return files_; }
    /// Threads for issuing and writing (default: the number of cores).
    void set_jobs(unsigned jobs) noexcept { jobs_ = jobs == 0 ? 1 : jobs; }
    [[nodiscard]] unsigned jobs() const noexcept { return jobs_; }
    /// True when the last run was killed while writing files (its marker was found at open); the
    /// temporary files it left were removed then.
    [[nodiscard]] bool recovered() const noexcept { return recovered_; }

    /// Writes servers/NAME/postgresql.ssl.conf for `server` (paths under install_dir if set).
    bool write_server_conf(const Profile& profile, const ServerSpec& server);
    /// Queues clients/ROLE/pg_service.conf for each of `clients` whose file differs (compared on
    /// jobs() threads). Returns, per client, whether it was queued.
    std::vector<bool> write_client_services(const Profile& profile, const std::vector<ClientSpec>& clients);
    /// What clients/ROLE/pg_service.conf must hold for `client` (path, text, mode).
    [[nodiscard]] io::FileWrite client_service_file(const Profile& profile, const ClientSpec& client) const;
    /// Queues clients/ and clients/ROLE (mode 0700) to be created, or their modes restored.
    void queue_client_folder(const std::string& user);
    /// The mode pgca gives a client or server folder.
    static constexpr mode_t kFolderMode = io::Layout::kPrivateDir;

    /// Marks `entry` revoked now for `reason`. Returns false (and changes nothing) when it
    /// already was revoked.
    bool revoke(const LedgerEntry& entry, RevocationReason reason) { return issuance_->revoke(entry, reason); }

    /// Makes a new CRL for each CA whose CRL is missing, unreadable, out of date with the ledger's
    /// revocations, or has less than a third of `crl_days` left (every CA when `force`); writes
    /// DIR/crl/{root,intermediate}.crl and, for every server folder, root.crl (all CRLs in one
    /// PEM, for ssl_crl_file) and crl/HASH.r0 (for ssl_crl_dir). Returns what it did.
    std::vector<Action> refresh_crls(int crl_days, bool force) { return crl_publisher_->refresh(crl_days, force); }

    /// The current CRL of each CA (root first), as on disk.
    [[nodiscard]] std::vector<std::pair<std::string, Crl>> crls() const { return crl_publisher_->crls(); }

    /// Revokes every unexpired, unrevoked certificate of `kind`/`name` and removes its folder
    /// (clients/ROLE or servers/NAME). Returns the serials revoked.
    std::vector<std::string> retire(CertKind kind, const std::string& name, RevocationReason reason) {
        return issuance_->retire(kind, name, reason);
    }

    /// Settings `apply` leaves for the commands that run without a profile.
    [[nodiscard]] int setting(const std::string& key, int fallback);

private:
    explicit PkiDir(const std::string& dir);

public:
    ~PkiDir();
    PkiDir(const PkiDir&) = delete;
    PkiDir& operator=(const PkiDir&) = delete;

private:
    template <class Fn>
    decltype(auto) run_and_commit(Fn& fn) {
        unwritten_.reset();
        ledger_->begin();
        try {
            if constexpr (std::is_void_v<decltype(fn())>) {
                fn();
                commit_ledger();
            } else {
                auto result = fn();
                commit_ledger();
                return result;
            }
        } catch (...) {
            ledger_->rollback();
            files_.clear();
            throw;
        }
    }
    void make_parts();
    void publish_files();
    void flush_files();
    void commit_ledger();
    void sweep_after_crash();

    io::Layout layout_;
    io::Tree tree_;  // nothing beneath DIR is reached through a link
    std::unique_ptr<Ledger> ledger_;
    std::unique_ptr<LedgerLock> lock_;  // after ledger_: released before the ledger closes
    PassphraseCache passphrases_;
    io::FileBatch files_;
    // The parts refer to the members above (made in open(), once the ledger is open).
    std::unique_ptr<CaStore> ca_;
    std::unique_ptr<CrlPublisher> crl_publisher_;
    std::unique_ptr<Issuance> issuance_;
    std::optional<Error> unwritten_;
    unsigned jobs_ = 1;
    bool recovered_ = false;
};

/// A CRL lifetime in days for commands without a profile: what the last apply recorded, or 90.
inline constexpr int kDefaultCrlDays = 90;

struct ApplyOptions {
    bool dry_run = false;
    bool rename = false;                 ///< accept a profile whose name differs from the folder's
    bool allow_mass_revocation = false;  ///< accept retiring more than half of the valid leaves (and at least 5)
    int lock_timeout_seconds = 30;  ///< how long to wait for another pgca's lock on the folder
    unsigned jobs = 0;   ///< threads; 0 = the number of cores
    Progress progress;   ///< called while certificates are issued
};

struct ApplyResult {
    std::vector<Action> actions;
    std::vector<std::string> warnings;
};

/// Makes `dir` match `profile`: creates the CA if absent, issues missing certificates, re-issues
/// those whose profile entry changed (hosts, CN, key type) or that expire within
/// renew_before_days, and (re)writes every emitted file whose content changed. A second run
/// with the same profile issues nothing and rewrites nothing. Every profile error is raised
/// before anything is written.
[[nodiscard]] ApplyResult apply(const Profile& profile, const std::string& dir, const ApplyOptions& options);

/// A folder is pgca's only when pgca made it. When `dir` has no ledger: throws Error(policy)
/// if it holds a CA or certificates (the ledger was lost; the message names `pgca ledger
/// rebuild`), or, when `create` is set, if it holds anything at all (listing what). A missing
/// or empty folder passes, as does any folder with a ledger.
void refuse_unowned_folder(const std::string& dir, bool create);

/// What `pgca ledger rebuild` did.
struct RebuildResult {
    std::vector<LedgerEntry> recorded;  ///< each certificate recorded (status as recorded), CAs first
    std::vector<CrlState> crls;         ///< per CA, the newest CRL found (the next one gets a higher number)
    std::vector<std::string> skipped;   ///< files not used, each with the reason
    std::vector<std::string> warnings;  ///< what the next apply will do differently, and why
};

/// Rebuilds a lost ledger of `dir` from the files on disk: the CA certificates, every
/// servers/NAME/server.crt and clients/ROLE/postgresql.crt the folder's CA issued (status from
/// validity, file digests and issue parameters as apply records them, so the next apply with the same
/// profile keeps them), the revocations of every CRL found (a serial without a certificate on
/// disk is recorded as kind "unknown"), and each CA's CRL number. Nothing replaces pgca.db
/// until the whole ledger is made. Throws Error(policy) when `dir` has a ledger, Error(input)
/// when it has no root CA.
[[nodiscard]] RebuildResult rebuild_ledger(const std::string& dir);

}  // namespace pgca
