// File-system output: atomic, private writes and the on-disk layout of a PKI folder.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgca::io {

/// Replaces `path` with `data` atomically: a temporary file in the same folder, created with
/// `mode` from its first byte (O_CREAT|O_EXCL, umask ignored), written, fsync'ed, renamed over
/// `path`, and the folder fsync'ed. A reader sees the old file or the new one, never half.
/// When `path` exists, the new file keeps its owner and group (so a key handed to the `postgres`
/// user stays readable by the server after a rotation run as root).
/// On failure the temporary file is removed and Error(io) names `path` and the cause.
void write_file_atomic(const std::string& path, std::string_view data, mode_t mode);

/// Like write_file_atomic, but does nothing (and returns false) when `path` already holds
/// exactly `data` with exactly `mode`. Returns true when it wrote.
bool write_if_changed(const std::string& path, std::string_view data, mode_t mode);

/// True when `path` is a regular file holding exactly `data` with exactly `mode` (false when it
/// is missing). Reads it without updating its access time where allowed. Throws Error(io).
[[nodiscard]] bool holds(const std::string& path, std::string_view data, mode_t mode);

/// The whole file, or std::nullopt if it does not exist. Throws Error(io) on other errors.
[[nodiscard]] std::optional<std::string> try_read_file(const std::string& path);
/// The whole file. Throws Error(input) naming `path` if it is missing or unreadable.
[[nodiscard]] std::string read_file(const std::string& path);

[[nodiscard]] bool exists(const std::string& path);
/// Creates `path` and missing parents (parents 0755, `path` itself `mode`); sets `mode` on an
/// existing `path`. Throws Error(io).
void ensure_dir(const std::string& path, mode_t mode);
/// Removes a file or a whole folder; missing is fine. Throws Error(io).
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
    /// Like io::try_read_file for the file `name` in this folder.
    [[nodiscard]] std::optional<std::string> try_read(const std::string& name) const;
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
};

/// File changes queued while the ledger transaction that justifies them is open, and carried out
/// after it committed: the ledger always knows every certificate that reaches the disk, and a
/// crash between the two leaves files the next `apply` checks against the ledger and repairs.
class FileBatch final {
public:
    /// Queues a whole-file replacement (temporary file + rename, mode from the first byte, owner
    /// of an existing file kept).
    void write(std::string path, std::string data, mode_t mode);
    /// Queues the write only when `path` does not already hold exactly `data` with `mode`.
    /// Returns whether it queued.
    bool write_if_changed(std::string path, std::string data, mode_t mode);
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
    void clear() noexcept;

    /// Carries everything out — folders, then files on up to `jobs` threads, then removals — and
    /// makes it durable with one syncfs() of the file system holding `anchor`. Throws Error(io);
    /// files already renamed stay (each whole), temporary files are removed.
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

/// Removes the `.pgca-tmp-*` files a killed pgca may have left in `dir`.
void remove_temp_files(const std::string& dir);

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

/// Where everything lives in a PKI folder (DESIGN.md, "On-disk layout").
class Layout final {
public:
    explicit Layout(const std::string& dir) : dir_(absolute(dir)) {}

    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] std::string ledger() const { return dir_ + "/pgca.db"; }
    [[nodiscard]] std::string ca_dir() const { return dir_ + "/ca"; }
    [[nodiscard]] std::string root_cert() const { return ca_dir() + "/root.crt"; }
    [[nodiscard]] std::string root_key() const { return ca_dir() + "/root.key"; }
    [[nodiscard]] std::string intermediate_cert() const { return ca_dir() + "/intermediate.crt"; }
    [[nodiscard]] std::string intermediate_key() const { return ca_dir() + "/intermediate.key"; }
    [[nodiscard]] std::string server_dir(std::string_view name) const { return dir_ + "/servers/" + std::string(name); }
    [[nodiscard]] std::string client_dir(std::string_view role) const { return dir_ + "/clients/" + std::string(role); }
    [[nodiscard]] std::string crl_dir() const { return dir_ + "/crl"; }
    [[nodiscard]] std::string root_crl() const { return crl_dir() + "/root.crl"; }
    [[nodiscard]] std::string intermediate_crl() const { return crl_dir() + "/intermediate.crl"; }
    [[nodiscard]] std::string servers_dir() const { return dir_ + "/servers"; }
    [[nodiscard]] std::string clients_dir() const { return dir_ + "/clients"; }
    [[nodiscard]] std::string hba() const { return dir_ + "/pg_hba.conf"; }
    [[nodiscard]] std::string ident() const { return dir_ + "/pg_ident.conf"; }

private:
    std::string dir_;
};

}  // namespace pgca::io
