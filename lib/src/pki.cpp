#include "pgca/pki.hpp"

#include <algorithm>
#include <ctime>
#include <exception>
#include <thread>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/pg_render.hpp"

namespace pgca {
namespace {

using detail::PhaseTimer;

constexpr mode_t kPublicFile = io::Layout::kPublicFile;
constexpr mode_t kPrivateDir = io::Layout::kPrivateDir;
constexpr mode_t kPublicDir = io::Layout::kPublicDir;

}  // namespace

PkiDir::PkiDir(const std::string& dir) : layout_(dir), tree_(layout_.dir()) {}

namespace {

// What pgca leaves in a folder that holds nothing else yet: the lock file of a run that stopped
// before it made the ledger.
bool ignorable_when_empty(const std::string& name) { return name == ".lock"; }

// "a, b, c (and 4 more: 7 entries)"
std::string name_sample(const std::vector<std::string>& names) {
    constexpr std::size_t kShown = 5;
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < kShown; ++i) out += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > kShown)
        out += " (and " + std::to_string(names.size() - kShown) + " more: " + std::to_string(names.size()) + " entries)";
    return out;
}

// The certificates pgca writes, found under `l` (relative names).
std::vector<std::string> pgca_certificates(const io::Layout& l) {
    std::vector<std::string> found;
    for (const auto& path : {l.root_cert(), l.intermediate_cert()})
        if (io::exists(path)) found.push_back(path.substr(l.dir().size() + 1));
    for (const auto& name : io::list_dir(l.servers_dir()))
        if (auto path = l.server_file(name, io::Layout::kServerCert); io::exists(path))
            found.push_back(path.substr(l.dir().size() + 1));
    for (const auto& name : io::list_dir(l.clients_dir()))
        if (auto path = l.client_file(name, io::Layout::kClientCert); io::exists(path))
            found.push_back(path.substr(l.dir().size() + 1));
    return found;
}

}  // namespace

void refuse_unowned_folder(const std::string& dir, bool create) {
    io::Layout l(dir);
    if (io::exists(l.ledger())) return;
    auto certs = pgca_certificates(l);
    if (!certs.empty())
        throw Error(ErrorKind::policy,
                    "\"" + l.dir() + "\" has certificates (" + name_sample(certs) + ") but no ledger (pgca.db): pgca "
                    "would issue them all again and could never revoke the old ones; run `pgca ledger rebuild --dir " +
                        dir + "` to rebuild the ledger from them");
    if (!create) return;
    std::vector<std::string> found;
    for (auto& name : io::list_dir(l.dir()))
        if (!ignorable_when_empty(name)) found.push_back(std::move(name));
    if (!found.empty())
        throw Error(ErrorKind::policy, "\"" + l.dir() + "\" is not empty and has no pgca ledger (pgca.db): found " +
                                           name_sample(found) + "; pgca only works in a folder it made (it would "
                                           "replace or remove what is there): use a new or empty folder");
}

std::unique_ptr<PkiDir> PkiDir::open(const std::string& dir, const OpenOptions& options) {
    const bool create = options.create;
    std::unique_ptr<PkiDir> pki(new PkiDir(dir));
    const io::Layout& l = pki->layout_;
    // Ownership: a folder is pgca's only when pgca made it (see refuse_unowned_folder).
    if (!io::exists(l.ledger())) refuse_unowned_folder(l.dir(), create);
    // End of ownership checks.
    if (!io::exists(l.ledger()) && !io::exists(l.root_cert())) {
        if (!create || options.read_only)
            throw Error(ErrorKind::input, "\"" + l.dir() + "\" holds no pgca PKI (no pgca.db); create one with "
                                          "`pgca init --dir " + dir + "` or `pgca apply PROFILE --dir " + dir + "`");
        io::ensure_dir(l.dir(), kPublicDir);
    }
    for (const auto& [path, what] : {std::pair{l.dir(), "the PKI folder"}, {l.ca_dir(), "the CA folder"}})
        io::check_private_owner(path, what);
    pki->jobs_ = std::max(1u, std::thread::hardware_concurrency());
    if (options.read_only) {
        // A reader takes no lock and changes nothing: SQLite's WAL gives it the last committed
        // state while a writer works.
        if (!io::exists(l.ledger()))
            throw Error(ErrorKind::input, "\"" + l.dir() + "\" has no ledger (pgca.db)");
        LedgerOptions reader;
        reader.read_only = true;
        pki->ledger_ = open_ledger("sqlite:" + l.ledger(), reader);
    } else {
        // The one place the folder's ledger backend is chosen. Its lock (DIR/.lock) is taken
        // before anything else changes.
        pki->ledger_ = open_ledger("sqlite:" + l.ledger());
        pki->lock_ = pki->ledger_->lock_exclusive(options.lock_timeout_seconds);
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

Certificate PkiDir::issue_server(const ServerRequest& req) { return issue_batch({req}, {}).front().certificate(); }

Certificate PkiDir::issue_client(const ClientRequest& req) { return issue_batch({}, {req}).front().certificate(); }

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
    for (const auto& d : {layout_.ca_dir(), layout_.crl_dir()}) io::remove_temp_files(d);
    for (const auto& parent : {layout_.servers_dir(), layout_.clients_dir(), layout_.poolers_dir()})
        for (const auto& name : io::list_dir(parent)) {
            io::remove_temp_files(parent + "/" + name);
            if (parent == layout_.servers_dir()) io::remove_temp_files(layout_.server_crl_dir(name));
        }
    io::remove_all(marker);
}

bool PkiDir::write_server_conf(const Profile& profile, const ServerSpec& server) {
    std::string base = (server.install_dir.empty() ? layout_.server_dir(server.name) : server.install_dir) + "/";
    using L = io::Layout;
    pg::ServerFiles files{base + L::kServerCert, base + L::kServerKey, base + L::kTrust, base + L::kServerCrl,
                          base + L::kServerCrlDir};
    files_.make_dir(layout_.servers_dir(), kPublicDir);
    files_.make_dir(layout_.server_dir(server.name), kPrivateDir);
    return files_.write_if_changed(layout_.server_conf(server.name),
                                   pg::render_server_conf(profile.name, server, profile.server_settings, files),
                                   kPublicFile);
}

namespace {

// The poolers that pool `user`, in profile order (each looked up in a set: this runs per client).
std::vector<const PoolerSpec*> poolers_of(const Profile& profile, const std::string& user) {
    std::vector<const PoolerSpec*> out;
    for (const auto& p : profile.poolers)
        if (p.pools(user)) out.push_back(&p);
    return out;
}

}  // namespace

io::FileWrite PkiDir::client_service_file(const Profile& profile, const ClientSpec& client) const {
    using L = io::Layout;
    const std::string& role = client.user;
    pg::ClientFiles files{layout_.client_file(role, L::kTrust), layout_.client_file(role, L::kClientCert),
                          layout_.client_file(role, L::kClientKey)};
    return {layout_.client_service(role),
            pg::render_service(profile.name, client.user, profile.servers, profile.client_settings, files,
                               poolers_of(profile, client.user)),
            kPublicFile};
}

void PkiDir::queue_client_folder(const std::string& user) {
    files_.make_dir(layout_.clients_dir(), kPublicDir);
    files_.make_dir(layout_.client_dir(user), kPrivateDir);
}

std::vector<bool> PkiDir::write_client_services(const Profile& profile, const std::vector<ClientSpec>& clients) {
    std::vector<io::FileWrite> writes;
    writes.reserve(clients.size());
    for (const auto& client : clients) {
        queue_client_folder(client.user);
        writes.push_back(client_service_file(profile, client));
    }
    return files_.write_if_changed(std::move(writes), jobs_);
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