#include "pgca/pki.hpp"

#include <algorithm>
#include <ctime>
#include <exception>
#include <thread>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/ownership.hpp"

namespace pgca {
namespace {

using detail::PhaseTimer;

constexpr mode_t kPublicDir = io::Layout::kPublicDir;

// Which ledger a folder uses: `url`; `remember` when it is to be written to DIR/ledger.url;
// `in_folder` when it is the folder's own pgca.db (whose lock is the folder's).
struct LedgerChoice {
    std::string url;
    bool remember = false;
    bool in_folder = false;
};

// sqlite:PATH with PATH made absolute, so that DIR/ledger.url means the same from any folder.
std::string normalized_url(const std::string& url) {
    if (url.compare(0, 7, "sqlite:") == 0 && url.size() > 7) return "sqlite:" + io::absolute(url.substr(7));
    return url;
}

LedgerChoice choose_ledger(const io::Layout& l, const std::string& asked_url) {
    if (ledger_url_has_password(asked_url))
        throw Error(ErrorKind::usage, "--ledger (or PGCA_LEDGER): the URL holds a password; pgca takes none on its "
                                      "command line and never writes one into DIR/ledger.url: use ~/.pgpass, "
                                      "PGPASSFILE or a client certificate");
    const std::string own = "sqlite:" + l.ledger();
    const std::string asked = normalized_url(asked_url);
    std::string current;
    const bool remembered = io::exists(l.ledger_url());
    if (remembered) {
        current = io::read_file(l.ledger_url(), 4096);
        while (!current.empty() && (current.back() == '\n' || current.back() == '\r')) current.pop_back();
        if (current.empty() || current.find('\n') != std::string::npos)
            throw Error(ErrorKind::input, "\"" + l.ledger_url() + "\": not one ledger URL on one line");
    } else if (io::exists(l.ledger())) {
        current = own;
    }
    LedgerChoice c;
    if (asked.empty()) {
        c.url = current.empty() ? own : current;
    } else if (!current.empty() && asked != current) {
        throw Error(ErrorKind::usage, "\"" + l.dir() + "\" keeps its ledger in " + current +
                                          (remembered ? " (ledger.url)" : "") + ", not " + asked +
                                          ": a folder has one ledger (drop --ledger / PGCA_LEDGER)");
    } else {
        c.url = asked;
        c.remember = !remembered && asked != own;
    }
    c.in_folder = c.url == own;
    return c;
}

}  // namespace

PkiDir::PkiDir(const std::string& dir) : layout_(dir), tree_(layout_.dir()) {}

std::unique_ptr<PkiDir> PkiDir::open(const std::string& dir, const OpenOptions& options) {
    const bool read_only = options.read_only || options.dry_run;
    const bool create = options.create && !options.dry_run;
    std::unique_ptr<PkiDir> pki(new PkiDir(dir));
    const io::Layout& l = pki->layout_;
    const LedgerChoice choice = choose_ledger(l, options.ledger);
    const bool has_ledger = io::exists(l.ledger()) || io::exists(l.ledger_url());
    // Ownership: a folder is pgca's only when pgca made it (see refuse_unowned_folder).
    if (!has_ledger) refuse_unowned_folder(l.dir(), create);
    // End of ownership checks.
    if (!has_ledger && !io::exists(l.root_cert())) {
        if (!create || read_only)
            throw Error(ErrorKind::input, "\"" + l.dir() + "\" holds no pgca PKI (no pgca.db); create one with "
                                          "`pgca init --dir " + dir + "` or `pgca apply PROFILE --dir " + dir + "`");
        io::ensure_dir(l.dir(), kPublicDir);
    }
    for (const auto& [path, what] : {std::pair{l.dir(), "the PKI folder"}, {l.ca_dir(), "the CA folder"}})
        io::check_private_owner(path, what);
    pki->jobs_ = std::max(1u, std::thread::hardware_concurrency());
    if (read_only) {
        // A reader takes no lock and changes nothing: SQLite's WAL gives it the last committed
        // state while a writer works.
        if (choice.in_folder && !io::exists(l.ledger()))
            throw Error(ErrorKind::input, "\"" + l.dir() + "\" has no ledger (pgca.db)");
        LedgerOptions reader;
        reader.read_only = true;
        pki->ledger_ = open_ledger(choice.url, reader);
    } else {
        // The one place the folder's ledger backend is chosen. Its lock (DIR/.lock) is taken
        // before anything else changes.
        pki->ledger_ = open_ledger(choice.url);
        // A ledger outside the folder has a lock of its own; the folder's files still need the
        // folder's (DIR/.lock), taken first.
        if (!choice.in_folder) pki->folder_lock_ = std::make_unique<io::DirLock>(l.dir(), options.lock_timeout_seconds);
        pki->lock_ = pki->ledger_->lock_exclusive(options.lock_timeout_seconds);
        if (choice.remember) io::write_file_atomic(l.ledger_url(), choice.url + "\n", io::Layout::kPublicFile);
        pki->sweep_after_crash();
    }
    pki->make_parts();
    if (auto src = pki->ledger_->get_meta("ca_passphrase")) pki->ca_->set_passphrase(PassphraseSource::from_json(*src));
    pki->ca_->load();
    return pki;
}

PkiDir::~PkiDir() = default;

void PkiDir::make_parts() {
    ca_ = std::make_unique<CaStore>(layout_, *ledger_, files_, passphrases_);
    crl_publisher_ = std::make_unique<CrlPublisher>(layout_, *ledger_, files_, *ca_);
    issuance_ = std::make_unique<Issuance>(layout_, *ledger_, files_, *ca_, passphrases_);
}

void PkiDir::commit_ledger() {
    PhaseTimer timer("ledger commit");
    ledger_->commit();
}

void PkiDir::publish_files() {
    try {
        flush_files();
    } catch (const Error& e) {
        files_.clear();
        unwritten_ = e;
        throw Error(e.kind(), "the ledger change is recorded, but its files were not written: " + std::string(e.what()));
    } catch (...) {
        files_.clear();
        throw;
    }
}

void PkiDir::flush_files() {
    // A run that changes nothing (a no-op apply: every folder is only re-ensured) writes no
    // marker and needs no syncfs.
    if (!files_.has_changes()) {
        files_.clear();
        return;
    }
    // A marker that outlives a kill -9 in the middle of the writes, so that the next run knows
    // to sweep temporary files (everything else it checks against the ledger anyway).
    std::string marker = layout_.writing_marker();
    PhaseTimer timer("write files");
    io::write_file_atomic(marker, "pgca was writing files\n", 0600);
    files_.commit(layout_.dir(), jobs_);
    io::remove_all(marker);
}

void PkiDir::sweep_after_crash() {
    // A run killed while renaming its files into place left a journal: finish those renames
    // first, so that every key and certificate it was replacing change together.
    const bool journal = io::recover_journal(layout_.dir());
    std::string marker = layout_.writing_marker();
    // The marker is written through a temporary file in DIR: a kill before its rename leaves that
    // file and no marker. DIR is one folder to list, so it is swept on every writer's open.
    io::remove_temp_files(layout_.dir());
    if (!journal && !io::exists(marker)) return;
    recovered_ = true;
    for (const auto& d : {layout_.ca_dir(), layout_.next_ca_dir(), layout_.crl_dir()}) io::remove_temp_files(d);
    for (const auto& parent : {layout_.servers_dir(), layout_.clients_dir(), layout_.poolers_dir()})
        for (const auto& name : io::list_dir(parent)) {
            io::remove_temp_files(parent + "/" + name);
            if (parent == layout_.servers_dir()) io::remove_temp_files(layout_.server_crl_dir(name));
        }
    io::remove_all(marker);
}

int PkiDir::setting(const std::string& key, int fallback) {
    auto v = ledger_->get_meta(key);
    if (!v) return fallback;
    try {
        return std::stoi(*v);
    } catch (const std::exception&) {
        return fallback;
    }
}

}  // namespace pgca