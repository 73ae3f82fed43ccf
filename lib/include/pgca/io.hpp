// File-system output: atomic, private writes and the on-disk layout of a PKI folder.
//
// Beneath a PKI folder (an io::Tree) nothing follows a symbolic link: every path is opened
// relative to the folder's descriptor (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or a
// component-by-component O_NOFOLLOW walk), so an account that can write into a server folder
// cannot make pgca read, write, chmod or delete anything outside it. A link found where pgca
// expects a folder or a file is an Error(policy) naming it. The folder itself may be reached
// through a link (the path the operator gave).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/cert_kind.hpp"

namespace pgca::io {

/// The most pgca reads of a profile or a --users-file.
inline constexpr std::size_t kMaxProfileBytes = 64u << 20;
/// The most pgca reads of a PEM input: certificate, key, CRL, `inspect FILE`.
inline constexpr std::size_t kMaxPemBytes = 16u << 20;
/// The most pgca reads of a passphrase file.
inline constexpr std::size_t kMaxPassphraseFileBytes = 64u << 10;

/// A PKI folder whose paths are resolved beneath it without following links. While a Tree
/// lives, every io function given a path inside `root` (not `root` itself) works relative to
/// the folder's descriptor; paths elsewhere are opened as named. The folder is opened on first
/// use (it need not exist yet when the Tree is made). Neither copyable nor movable.
class Tree final {
public:
    explicit Tree(const std::string& root);
    ~Tree();
    Tree(const Tree&) = delete;
    Tree& operator=(const Tree&) = delete;

    [[nodiscard]] const std::string& root() const noexcept { return root_; }
    /// The folder's descriptor (O_RDONLY | O_DIRECTORY). Throws Error(io) when it cannot be opened.
    [[nodiscard]] int fd() const;
    /// Like fd(), but -1 with errno set instead of throwing.
    [[nodiscard]] int try_fd() const noexcept;

private:
    std::string root_;
    mutable std::atomic<int> fd_{-1};
};

/// Refuses (Error(policy), naming the folder, its owner and mode, and the fix) a folder `what`
/// at `path` that is not owned by the running user or root, or that group or others may write:
/// pgca keeps private keys there (as ssh's StrictModes does for ~/.ssh). A missing folder passes.
void check_private_owner(const std::string& path, const std::string& what);

/// Replaces `path` with `data` atomically: a temporary file in the same folder, created with
/// `mode` from its first byte (O_CREAT|O_EXCL, umask ignored), written, fsync'ed, renamed over
/// `path`, and the folder fsync'ed. A reader sees the old file or the new one, never half.
/// When `path` is a regular file, the new file keeps its owner and group (so a key handed to the
/// `postgres` user stays readable by the server after a rotation run as root); a link there is
/// replaced, never followed.
/// On failure the temporary file is removed and Error(io) names `path` and the cause.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode);

/// Like write_file_atomic, but does nothing (and returns false) when `path` already holds
/// exactly `data` with exactly `mode`. Returns true when it wrote.
bool write_if_changed(const std::string& path, std::string_view data, mode_t mode);

/// True when `path` is a regular file holding exactly `data` with exactly `mode` (false when it
/// is missing). Reads it without updating its access time where allowed. Throws Error(io).
[[nodiscard]] bool holds(const std::string& path, std::string_view data, mode_t mode);

/// The whole file, or std::nullopt if it does not exist. Only a regular file is read (opened so
/// that a FIFO cannot block): anything else, or a file larger than `limit` bytes, is
/// Error(input) naming `path`. Throws Error(io) on other errors.
[[nodiscard]] std::optional<std::string> try_read_file(const std::string& path, std::size_t limit = kMaxPemBytes);
/// The whole file. Throws Error(input) naming `path` if it is missing, unreadable, not a regular
/// file or larger than `limit` bytes.
[[nodiscard]] std::string read_file(const std::string& path, std::size_t limit = kMaxPemBytes);

[[nodiscard]] bool exists(const std::string& path);
/// Creates `path` and missing parents (parents 0755, `path` itself `mode`); sets `mode` on an
/// existing `path` (on its descriptor). Throws Error(io).
void ensure_dir(const std::string& path, mode_t mode);
/// Removes a file or a whole folder, walking descriptors (a link is removed, never followed);
/// missing is fine. Throws Error(io).
void remove_all(const std::string& path);
/// The names in folder `dir` (no "." or ".."), sorted; empty if it does not exist.
[[nodiscard]] std::vector<std::string> list_dir(const std::string& dir);
/// `path` made absolute against the current directory, with no trailing slash.
[[nodiscard]] std::string absolute(const std::string& path);

/// An open folder (O_PATH), for checking several of its files with one path lookup: what a
/// no-op `apply` does for each of thousands of client folders. A missing folder is not an
/// error: it holds no files. Move-only.
class Folder final {
public:
    /// Opens `path`; a missing folder holds no files and has no mode. Throws Error(io) for other
    /// errors.
    explicit Folder(const std::string& path);
    ~Folder();
    Folder(Folder&& other) noexcept;
    Folder& operator=(Folder&& other) noexcept;
    Folder(const Folder&) = delete;
    Folder& operator=(const Folder&) = delete;

    /// The folder's permission bits, or std::nullopt when it does not exist.
    [[nodiscard]] std::optional<mode_t> mode() const;
    /// Like io::try_read_file for the file `name` in this folder (a link is Error(policy)).
    [[nodiscard]] std::optional<std::string> try_read(const std::string& name, std::size_t limit = kMaxPemBytes) const;
    /// Like io::holds for the file `name` in this folder.
    [[nodiscard]] bool holds(const std::string& name, std::string_view data, mode_t mode) const;

private:
    std::string path_;
    int fd_ = -1;
};

/// One whole file to write: its path, contents and mode.
struct FileWrite {
    std::string path;
    std::string data;
    mode_t mode;
    /// Always through a temporary name and the batch's journal, even in a folder the batch
    /// creates: the files of one such group appear together or not at all (the CA's).
    bool together = false;
};

/// File changes queued while the ledger transaction that justifies them is open, and carried out
/// after it committed: the ledger always knows every certificate that reaches the disk, and a
/// crash between the two leaves files the next `apply` checks against the ledger and repairs.
class FileBatch final {
public:
    FileBatch() = default;
    /// Wipes the queued contents of private files (mode without group or other bits).
    ~FileBatch() { clear(); }
    FileBatch(FileBatch&&) = default;
    FileBatch& operator=(FileBatch&&) = default;
    FileBatch(const FileBatch&) = delete;
    FileBatch& operator=(const FileBatch&) = delete;

    /// Queues a whole-file replacement (temporary file + rename, mode from the first byte, owner
    /// of an existing file kept).
    void write(std::string path, std::string data, mode_t mode);
    /// Queues a write that appears only with every other `together` write of this batch: a
    /// crash before the batch's journal is durable leaves none of them, after it the next
    /// command that opens the folder completes them all (the CA's keys and certificates, whose
    /// halves are useless alone and cannot be issued again like a leaf).
    void write_together(std::string path, std::string data, mode_t mode);
    /// Queues the write only when `path` does not already hold exactly `data` with `mode`.
    /// Returns whether it queued.
    bool write_if_changed(std::string path, std::string data, mode_t mode);
    bool write_if_changed(FileWrite w) { return write_if_changed(std::move(w.path), std::move(w.data), w.mode); }
    /// The same for many files, compared on up to `jobs` threads. Returns, per write, whether it
    /// was queued.
    std::vector<bool> write_if_changed(std::vector<FileWrite> writes, unsigned jobs);
    /// Queues a folder to create (before any file) with `mode`.
    void make_dir(std::string path, mode_t mode);
    /// Queues the removal of a file or folder tree (after the writes).
    void remove(std::string path);

    [[nodiscard]] bool empty() const noexcept { return writes_.empty() && dirs_.empty() && removals_.empty(); }
    /// True when commit() would change something: a write or removal is queued, or a queued
    /// folder is missing or has another mode (stat()s the folders when only they are queued).
    [[nodiscard]] bool has_changes() const;
    [[nodiscard]] std::size_t size() const noexcept { return writes_.size(); }
    /// Drops everything queued, wiping the contents of private files (keys) first.
    void clear() noexcept;

    /// Carries everything out beneath the PKI folder `anchor` (no link followed): folders, then
    /// files on up to `jobs` threads, then removals. Every file that replaces one (and every
    /// private file of a new folder) is first written as a temporary file and made durable
    /// (syncfs); then a journal (anchor/.pgca-journal) lists the renames, and they are done,
    /// each replaced file kept under a `.pgca-old-*` name until the end. So a key and its
    /// certificate change together: an error during the renames puts the old files back, and a
    /// crash is completed by recover_journal(). Throws Error(io); nothing is half-written.
    void commit(const std::string& anchor, unsigned jobs);

private:
    struct Dir {
        std::string path;
        mode_t mode;
    };
    std::vector<FileWrite> writes_;
    std::vector<Dir> dirs_;
    std::map<std::string, std::size_t> dir_index_;  // each folder once
    std::vector<std::string> removals_;
};

/// Removes the `.pgca-tmp-*` and `.pgca-old-*` files a killed pgca may have left in `dir`.
void remove_temp_files(const std::string& dir);

/// The journal FileBatch::commit writes in the PKI folder while it renames.
inline constexpr const char* kJournalName = ".pgca-journal";

/// Completes the renames of a FileBatch::commit that was killed (a journal in `dir`): every
/// listed temporary file that still exists is renamed into place, then the journal is removed.
/// Returns whether there was a journal. Throws Error(io).
bool recover_journal(const std::string& dir);

namespace detail {
/// For tests: resolve paths with the openat2 system call (the default) or with the
/// component-by-component walk used where the kernel lacks it.
void use_openat2(bool on) noexcept;
}  // namespace detail

/// An exclusive lock on a PKI folder (flock on DIR/.lock), held for the object's lifetime, so
/// that two pgca processes never change the same folder at once. The holder writes its pid, the
/// time it took the lock and its command into DIR/.lock, so that a waiter can name it.
class DirLock final {
public:
    /// Takes the lock, waiting at most `timeout_seconds` for another process to release it
    /// (negative: no limit). After a second of waiting, says once on stderr who holds it; when
    /// the time is up, throws Error(io) naming the holder and since when it holds the lock.
    explicit DirLock(const std::string& dir, int timeout_seconds = 30);
    ~DirLock();
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

private:
    int fd_ = -1;
};

/// Where everything lives in a PKI folder (docs/design.md §3, "On-disk layout").
class Layout final {
public:
    // The names of the files in a server or client folder (also under a server's install_dir).
    static constexpr const char* kServerCert = "server.crt";      ///< ssl_cert_file: leaf + intermediate
    static constexpr const char* kServerKey = "server.key";       ///< ssl_key_file
    static constexpr const char* kTrust = "root.crt";             ///< ssl_ca_file / sslrootcert
    static constexpr const char* kServerCrl = "root.crl";         ///< ssl_crl_file: every CA's CRL
    static constexpr const char* kServerCrlDir = "crl";           ///< ssl_crl_dir: hashed CRL names
    static constexpr const char* kServerConf = "postgresql.ssl.conf";
    static constexpr const char* kClientCert = "postgresql.crt";  ///< sslcert
    static constexpr const char* kClientKey = "postgresql.key";   ///< sslkey
    static constexpr const char* kClientPk8 = "postgresql.pk8";   ///< pgjdbc's default sslkey: PKCS#8 DER
    static constexpr const char* kClientP12 = "postgresql.p12";   ///< PKCS#12 (key under alias "user")
    static constexpr const char* kClientService = "pg_service.conf";
    // A pooler's folder (poolers/NAME): server.crt/.key (clients → pooler), root.crt, and these.
    static constexpr const char* kPoolerClientCert = "client.crt";  ///< server_tls_cert_file: pooler → PostgreSQL
    static constexpr const char* kPoolerClientKey = "client.key";   ///< server_tls_key_file
    static constexpr const char* kPoolerIni = "pgbouncer.ini";      ///< the fragment for %include
    static constexpr const char* kPoolerHba = "pgbouncer_hba.conf"; ///< auth_hba_file
    static constexpr const char* kPoolerUsers = "userlist.txt";     ///< auth_file: the pooled users
    /// The modes pgca gives what it writes.
    static constexpr mode_t kPrivateFile = 0600;
    static constexpr mode_t kPublicFile = 0644;
    static constexpr mode_t kPrivateDir = 0700;  ///< ca/, servers/NAME, clients/ROLE
    static constexpr mode_t kPublicDir = 0755;

    explicit Layout(const std::string& dir) : dir_(absolute(dir)) {}

    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] std::string ledger() const { return dir_ + "/pgca.db"; }
    /// The URL of the folder's ledger when it is not pgca.db (written by the first command
    /// given --ledger or PGCA_LEDGER; 0644, no password).
    [[nodiscard]] std::string ledger_url() const { return dir_ + "/ledger.url"; }
    /// The marker of a run writing files (a kill leaves it: the next run sweeps).
    [[nodiscard]] std::string writing_marker() const { return dir_ + "/.pgca-writing"; }
    [[nodiscard]] std::string ca_dir() const { return dir_ + "/ca"; }
    [[nodiscard]] std::string root_cert() const { return ca_dir() + "/root.crt"; }
    [[nodiscard]] std::string root_key() const { return ca_dir() + "/root.key"; }
    [[nodiscard]] std::string intermediate_cert() const { return ca_dir() + "/intermediate.crt"; }
    [[nodiscard]] std::string intermediate_key() const { return ca_dir() + "/intermediate.key"; }
    /// A CA rollover's new root, from `rollover begin` until `rollover finish` makes it the
    /// folder's root (README "CA rollover").
    [[nodiscard]] std::string next_ca_dir() const { return ca_dir() + "/next"; }
    [[nodiscard]] std::string next_root_cert() const { return next_ca_dir() + "/root.crt"; }
    [[nodiscard]] std::string next_root_key() const { return next_ca_dir() + "/root.key"; }
    /// A rollover's new intermediate (`rollover begin --intermediate`), under the same root.
    [[nodiscard]] std::string next_intermediate_cert() const { return next_ca_dir() + "/intermediate.crt"; }
    [[nodiscard]] std::string next_intermediate_key() const { return next_ca_dir() + "/intermediate.key"; }
    /// Where `rollover finish` keeps the CA it replaced (by its root's serial).
    [[nodiscard]] std::string retired_ca_dir(std::string_view serial) const {
        return ca_dir() + "/retired/" + std::string(serial);
    }
    [[nodiscard]] std::string servers_dir() const { return dir_ + "/servers"; }
    [[nodiscard]] std::string clients_dir() const { return dir_ + "/clients"; }
    [[nodiscard]] std::string server_dir(std::string_view name) const { return servers_dir() + "/" + std::string(name); }
    [[nodiscard]] std::string client_dir(std::string_view role) const { return clients_dir() + "/" + std::string(role); }
    [[nodiscard]] std::string server_file(std::string_view name, const char* file) const {
        return server_dir(name) + "/" + file;
    }
    [[nodiscard]] std::string client_file(std::string_view role, const char* file) const {
        return client_dir(role) + "/" + file;
    }
    [[nodiscard]] std::string server_conf(std::string_view name) const { return server_file(name, kServerConf); }
    [[nodiscard]] std::string server_crl_dir(std::string_view name) const { return server_file(name, kServerCrlDir); }
    [[nodiscard]] std::string client_service(std::string_view role) const { return client_file(role, kClientService); }
    [[nodiscard]] std::string poolers_dir() const { return dir_ + "/poolers"; }
    [[nodiscard]] std::string pooler_dir(std::string_view name) const { return poolers_dir() + "/" + std::string(name); }
    [[nodiscard]] std::string pooler_file(std::string_view name, const char* file) const {
        return pooler_dir(name) + "/" + file;
    }
    /// Where the certificate of a leaf of `kind` named `name` lives: its folder, certificate and
    /// key file names (servers/NAME, clients/ROLE, poolers/NAME).
    struct LeafFiles {
        std::string folder;
        const char* cert;
        const char* key;
    };
    [[nodiscard]] LeafFiles leaf_files(CertKind kind, std::string_view name) const {
        switch (kind) {
            case CertKind::pooler: return {pooler_dir(name), kServerCert, kServerKey};
            case CertKind::pooler_client: return {pooler_dir(name), kPoolerClientCert, kPoolerClientKey};
            case CertKind::client: return {client_dir(name), kClientCert, kClientKey};
            default: return {server_dir(name), kServerCert, kServerKey};
        }
    }
    [[nodiscard]] std::string crl_dir() const { return dir_ + "/crl"; }
    [[nodiscard]] std::string root_crl() const { return crl_dir() + "/root.crl"; }
    [[nodiscard]] std::string intermediate_crl() const { return crl_dir() + "/intermediate.crl"; }
    [[nodiscard]] std::string next_root_crl() const { return crl_dir() + "/next-root.crl"; }
    [[nodiscard]] std::string next_intermediate_crl() const { return crl_dir() + "/next-intermediate.crl"; }
    [[nodiscard]] std::string hba() const { return dir_ + "/pg_hba.conf"; }
    [[nodiscard]] std::string ident() const { return dir_ + "/pg_ident.conf"; }

private:
    std::string dir_;
};

}  // namespace pgca::io
