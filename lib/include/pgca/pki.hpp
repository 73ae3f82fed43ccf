// A PKI folder on disk, the workspace: its lock, its ledger, the files a transaction queues, and
// the parts that do the work, which callers use directly: ca() (the CA store), issuance() (the
// issuing pipeline), crl_publisher() (the CRLs). Everything a command does to a folder goes
// through here.
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "pgca/action.hpp"
#include "pgca/ca_store.hpp"
#include "pgca/crl_publisher.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/issuance.hpp"
#include "pgca/ledger.hpp"
#include "pgca/secret.hpp"

namespace pgca {

/// How a command opens a PKI folder.
struct OpenOptions {
    bool create = false;            ///< create DIR and its ledger when absent (apply, init)
    bool read_only = false;         ///< list and the like: change nothing, never wait for a writer
    int lock_timeout_seconds = 30;  ///< a writer waits at most this long for another pgca's lock
    /// A writer's dry run: the command plans and returns the plan, changing nothing; the folder
    /// is opened as read_only (never created, no lock, no sweep, no ledger migration).
    bool dry_run = false;
    /// The ledger URL (--ledger, else $PGCA_LEDGER; see open_ledger); empty: the one the folder
    /// remembers in DIR/ledger.url, else sqlite:DIR/pgca.db. A folder has one ledger: a URL other
    /// than the one it already uses is refused. A writer that opens a folder with a URL remembers
    /// it in DIR/ledger.url; a URL with a password in it is refused.
    std::string ledger;
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
    [[nodiscard]] const CrlPublisher& crl_publisher() const noexcept { return *crl_publisher_; }
    /// Issues and revokes leaves.
    [[nodiscard]] Issuance& issuance() noexcept { return *issuance_; }

    /// The passphrases this command has read (the CA's, servers' key_passphrase), each source
    /// read once. A command may fill it before it opens the folder (see apply), so that a wrong
    /// source fails before anything is written.
    void adopt_passphrases(PassphraseCache&& read) noexcept { passphrases_ = std::move(read); }
    /// The passphrase `source` gives (read once per command; see adopt_passphrases).
    [[nodiscard]] const std::string& passphrase(const PassphraseSource& source) { return passphrases_.get(source); }

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
    std::unique_ptr<io::DirLock> folder_lock_;  // DIR/.lock when the ledger is not DIR/pgca.db
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

}  // namespace pgca
