#include "pgca/pki.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <ctime>
#include <exception>
#include <map>
#include <set>
#include <thread>

#include "ledger_entry.hpp"
#include "leaf.hpp"
#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/pg_render.hpp"

namespace pgca {
namespace {

using detail::entry_for;
using detail::parallel_for;
using detail::PhaseTimer;

constexpr mode_t kPrivateFile = 0600;
constexpr mode_t kPublicFile = 0644;
constexpr mode_t kPrivateDir = PkiDir::kFolderMode;
constexpr mode_t kPublicDir = 0755;
constexpr long kDaySeconds = 24 * 60 * 60;

}  // namespace

LedgerEntry detail::entry_for(const Certificate& cert, const std::string& kind, const std::string& name,
                              const std::string& detail) {
    CertInfo ci = cert.info();
    LedgerEntry e;
    e.serial = ci.serial_hex;
    e.issuer = ci.issuer;
    e.kind = kind;
    e.name = name;
    e.subject = ci.subject;
    e.not_before = ci.not_before;
    e.not_after = ci.not_after;
    e.fingerprint = ci.sha256_fingerprint;
    e.detail = detail;
    e.issued_at = std::time(nullptr);
    return e;
}

DistinguishedName server_subject(const std::vector<std::string>& hosts) {
    DistinguishedName dn;
    std::string cn = hosts.empty() ? std::string("server") : hosts.front();
    for (const auto& h : hosts)
        if (!is_ip_literal(h)) {
            cn = h;
            break;
        }
    dn.set("CN", cn.size() <= 64 ? cn : cn.substr(0, 64));
    return dn;
}

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
    for (const auto& [parent, file] : {std::pair{std::string("servers"), "server.crt"},
                                       std::pair{std::string("clients"), "postgresql.crt"}})
        for (const auto& name : io::list_dir(l.dir() + "/" + parent)) {
            std::string rel = parent + "/" + name + "/" + file;
            if (io::exists(l.dir() + "/" + rel)) found.push_back(rel);
        }
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
        pki->ledger_ = open_sqlite_ledger(l.ledger(), true);
    } else {
        pki->lock_ = std::make_unique<io::DirLock>(l.dir(), options.lock_timeout_seconds);
        pki->sweep_after_crash();
        pki->ledger_ = open_sqlite_ledger(l.ledger());
    }
    if (auto src = pki->ledger_->get_meta("ca_passphrase")) pki->ca_source_ = PassphraseSource::from_json(*src);
    pki->load_ca();
    return pki;
}

void PkiDir::load_ca() {
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

const std::string& PkiDir::ca_passphrase() {
    return in_context("CA key", [&]() -> const std::string& { return passphrases_.get(ca_source_); });
}

const CertificateAuthority& PkiDir::authority(bool intermediate) {
    auto& slot = intermediate ? intermediate_ : root_;
    if (slot) return *slot;
    const auto& cert = intermediate ? intermediate_cert_ : root_cert_;
    if (!cert) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    const std::string path = intermediate ? layout_.intermediate_key() : layout_.root_key();
    std::string pem = io::read_file(path);
    PrivateKey key = !ca_source_.empty() && PrivateKey::pem_is_encrypted(pem)
                         ? PrivateKey::from_pem(pem, path, ca_passphrase())
                         : PrivateKey::from_pem(pem, path);
    wipe(pem);
    slot = in_context("CA \"" + path + "\"", [&] { return CertificateAuthority(*cert, std::move(key)); });
    return *slot;
}

std::string PkiDir::ca_key_pem(const PrivateKey& key) {
    return ca_source_.empty() ? key.to_pem() : key.to_encrypted_pem(ca_passphrase());
}

void PkiDir::set_ca_passphrase(const PassphraseSource& source) {
    if (source.kind == ca_source_.kind && source.value == ca_source_.value) return;
    ca_source_ = source;
    root_.reset();
    intermediate_.reset();
}

std::vector<Action> PkiDir::protect_ca_keys() {
    std::vector<Action> done;
    if (ca_source_.empty()) return done;
    for (bool inter : {false, true}) {
        if (inter ? !intermediate_cert_ : !root_cert_) continue;
        const std::string path = inter ? layout_.intermediate_key() : layout_.root_key();
        const CertificateAuthority& ca = authority(inter);  // decrypts: a wrong passphrase stops here
        std::string pem = io::read_file(path);
        const bool encrypted = PrivateKey::pem_is_encrypted(pem);
        wipe(pem);
        if (encrypted) continue;
        pem = ca.key().to_encrypted_pem(ca_passphrase());
        io::write_file_atomic(path, pem, kPrivateFile);
        wipe(pem);
        done.push_back({"encrypt", inter ? "intermediate" : "root", inter ? "intermediate" : "root",
                        "key now encrypted with the passphrase from " + ca_source_.describe()});
    }
    return done;
}

PkiDir::~PkiDir() = default;

void PkiDir::supersede_lost_ca(const std::string& kind) {
    for (const auto& e : ledger_->by_name(kind, kind))
        if (e.status == "valid") ledger_->set_status(e.issuer, e.serial, "superseded");
}

std::vector<Action> PkiDir::create_ca(const CaSpec& spec) {
    if (root_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has a root CA");
    auto root = in_context("create root CA", [&] { return CertificateAuthority::create_root(spec.subject, spec.key, spec.days); });
    // Through the transaction's file batch like every leaf: written only after the ledger
    // recorded the CA, never when a later step of the same command fails, and all of the CA's
    // files together or none (a certificate on disk without its key would look like a usable CA).
    // A CA the ledger knows but whose files never landed (a run killed before its journal was
    // durable) is replaced by this one and its rows superseded (the leaves it signed never landed
    // either, so apply issues them again).
    supersede_lost_ca("root");
    supersede_lost_ca("intermediate");
    files_.make_dir(layout_.ca_dir(), kPrivateDir);
    files_.write_together(layout_.root_key(), ca_key_pem(root.key()), kPrivateFile);
    files_.write_together(layout_.root_cert(), root.certificate().to_pem(), kPublicFile);
    nlohmann::json detail = {{"key", std::string(to_string(spec.key))}};
    ledger_->record(entry_for(root.certificate(), "root", "root", detail.dump()));
    std::vector<Action> actions{{"create", "root", "root", "serial " + root.certificate().serial_hex()}};
    root_cert_ = root.certificate();
    root_ = std::move(root);
    if (spec.intermediate) actions.push_back(create_intermediate(*spec.intermediate));
    return actions;
}

Action PkiDir::create_intermediate(const IntermediateSpec& spec) {
    if (!root_cert_) throw Error(ErrorKind::policy, "no root CA to sign an intermediate");
    if (intermediate_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has an intermediate CA");
    const CertificateAuthority& root = authority(false);
    auto inter = in_context("create intermediate CA",
                            [&] { return root.create_intermediate(spec.subject, spec.key, spec.days); });
    supersede_lost_ca("intermediate");
    files_.make_dir(layout_.ca_dir(), kPrivateDir);
    files_.write_together(layout_.intermediate_key(), ca_key_pem(inter.key()), kPrivateFile);
    files_.write_together(layout_.intermediate_cert(), inter.certificate().to_pem(), kPublicFile);
    nlohmann::json detail = {{"key", std::string(to_string(spec.key))}};
    ledger_->record(entry_for(inter.certificate(), "intermediate", "intermediate", detail.dump()));
    Action a{"create", "intermediate", "intermediate", "serial " + inter.certificate().serial_hex()};
    intermediate_cert_ = inter.certificate();
    intermediate_ = std::move(inter);
    return a;
}

const CertificateAuthority& PkiDir::issuer() { return authority(intermediate_cert_.has_value()); }

const Certificate& PkiDir::issuer_certificate() const {
    if (intermediate_cert_) return *intermediate_cert_;
    return root();
}

const Certificate& PkiDir::root() const {
    if (!root_cert_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    return *root_cert_;
}

std::string PkiDir::chain_pem() const { return intermediate_cert_ ? intermediate_cert_->to_pem() : std::string(); }

namespace {

// One leaf made in memory, with everything the ledger and the files need.
struct MadeLeaf {
    detail::Leaf leaf;     // key_pem "" when the existing key is kept
    std::string cert_file;           // leaf + intermediate: what server.crt / postgresql.crt hold
    LedgerEntry entry;

    MadeLeaf() = default;
    ~MadeLeaf() { wipe(leaf.key_pem); }  // when it was never handed to the file batch
    MadeLeaf(MadeLeaf&&) = default;
    MadeLeaf& operator=(MadeLeaf&& other) noexcept {
        wipe(leaf.key_pem);
        leaf = std::move(other.leaf);
        cert_file = std::move(other.cert_file);
        entry = std::move(other.entry);
        return *this;
    }
    MadeLeaf(const MadeLeaf&) = delete;
    MadeLeaf& operator=(const MadeLeaf&) = delete;
};

// The ledger row of a freshly made leaf, from what the factory reports (no certificate parse:
// this runs per certificate in bulk issuance).
LedgerEntry light_entry(const detail::Leaf& leaf, const std::string& issuer, const std::string& kind,
                        const std::string& name, std::string detail) {
    LedgerEntry e;
    e.serial = leaf.serial_hex;
    e.issuer = issuer;
    e.kind = kind;
    e.name = name;
    e.subject = leaf.subject;
    e.not_before = leaf.not_before;
    e.not_after = leaf.not_after;
    e.fingerprint = leaf.sha256_fingerprint;
    e.detail = std::move(detail);
    e.issued_at = std::time(nullptr);
    return e;
}

}  // namespace

Certificate PkiDir::issue_server(const ServerRequest& req) { return issue_batch({req}, {}).front().certificate(); }

Certificate PkiDir::issue_client(const ClientRequest& req) { return issue_batch({}, {req}).front().certificate(); }

Certificate IssuedLeaf::certificate() const { return Certificate::from_pem(cert_pem, "issued certificate"); }

std::vector<IssuedLeaf> PkiDir::issue_batch(const std::vector<ServerRequest>& servers,
                                             const std::vector<ClientRequest>& clients, const Progress& progress) {
    const CertificateAuthority& ca = issuer();
    const std::string issuer_dn = ca.certificate().subject_rfc2253();
    const std::string chain = chain_pem();
    const std::string root_pem = root().to_pem();
    const std::size_t total = servers.size() + clients.size();

    // Validate everything and load kept keys before any work starts, so a bad request fails
    // before anything is recorded.
    // Role names and hosts were validated where they entered (the profile decoder, the CLI's
    // --user, --users-file and --host); they are trusted here.
    std::vector<DistinguishedName> client_subjects(clients.size());
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const auto& c = clients[i];
        in_context("client \"" + c.user + "\"", [&] { client_subjects[i].set("CN", c.cn.empty() ? c.user : c.cn); });
    }
    std::vector<std::optional<PrivateKey>> kept(servers.size());
    std::vector<std::string> server_pass(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const auto& sv = servers[i];
        validate_simple_name(sv.name, "server name");
        if (!sv.key_passphrase.empty())
            server_pass[i] = in_context("server \"" + sv.name + "\" key", [&] { return passphrases_.get(sv.key_passphrase); });
        if (sv.keep_key) {
            std::string path = layout_.server_dir(sv.name) + "/server.key";
            kept[i] = in_context("server \"" + sv.name + "\": --keep-key", [&] {
                std::string pem = io::read_file(path);
                struct PemWiper {
                    std::string& pem;
                    ~PemWiper() { wipe(pem); }
                } wipe_pem{pem};
                return PrivateKey::pem_is_encrypted(pem) ? PrivateKey::from_pem(pem, path, server_pass[i])
                                                         : PrivateKey::from_pem(pem, path);
            });
        }
    }
    // Passphrases live only as long as this call.
    struct Wiper {
        std::vector<std::string>& v;
        ~Wiper() {
            for (auto& p : v) wipe(p);
        }
    } wiper{server_pass};

    std::vector<MadeLeaf> made(total);
    // One leaf builder per thread and key type: the fast EC path keeps per-thread state (keygen
    // context, prebuilt extensions); make_leaf_builder picks the generic path for RSA/Ed25519.
    const detail::LeafIssuer leaf_issuer{ca.certificate(), ca.key()};
    using Factories = std::map<KeyAlg, std::unique_ptr<detail::LeafBuilder>>;
    auto factory = [&](Factories& f, KeyAlg alg) -> detail::LeafBuilder& {
        auto it = f.find(alg);
        if (it == f.end()) it = f.emplace(alg, detail::make_leaf_builder(leaf_issuer, alg)).first;
        return *it->second;
    };
    auto make_one = [&](std::size_t i, Factories& f) {
        MadeLeaf& m = made[i];
        if (i < servers.size()) {
            const ServerRequest& r = servers[i];
            in_context("issue server \"" + r.name + "\"", [&] {
                if (!kept[i] && server_pass[i].empty()) {
                    m.leaf = factory(f, r.key).make(detail::LeafRequest::server(server_subject(r.hosts), r.hosts, r.days));
                } else {
                    std::optional<PrivateKey> fresh;
                    if (!kept[i]) fresh = PrivateKey::generate(r.key);
                    const PrivateKey& key = kept[i] ? *kept[i] : *fresh;
                    m.leaf = factory(f, key.alg())
                                 .make(detail::LeafRequest::server(server_subject(r.hosts), r.hosts, r.days, &key));
                    // An encrypted server key needs ssl_passphrase_command on the server (written
                    // by write_server_conf); `kept` keys stay as they are on disk.
                    if (fresh) m.leaf.key_pem = fresh->to_encrypted_pem(server_pass[i]);
                }
                nlohmann::json detail = {{"hosts", r.hosts}, {"key", std::string(to_string(r.key))}, {"days", r.days},
                                         {"key_passphrase", r.key_passphrase.to_json()}};
                m.entry = light_entry(m.leaf, issuer_dn, "server", r.name, detail.dump());
            });
        } else {
            const ClientRequest& r = clients[i - servers.size()];
            in_context("issue client \"" + r.user + "\"", [&] {
                m.leaf = factory(f, r.key).make(detail::LeafRequest::client(client_subjects[i - servers.size()], r.days));
                nlohmann::json detail = {{"cn", client_subjects[i - servers.size()].get("CN")},
                                         {"key", std::string(to_string(r.key))}};
                m.entry = light_entry(m.leaf, issuer_dn, "client", r.user, detail.dump());
            });
        }
        m.cert_file = m.leaf.cert_pem + chain;
        m.entry.cert_file_sha256 = sha256_hex(m.cert_file);
        m.entry.key_file_sha256 = m.leaf.key_pem.empty() ? std::string() : sha256_hex(m.leaf.key_pem);
    };

    // The ledger first (inside the caller's transaction), the files after its commit.
    std::map<std::pair<std::string, std::string>, LedgerEntry> current;
    if (total > 8) {
        for (auto& e : ledger_->valid_entries()) current[{e.kind, e.name}] = std::move(e);
    }
    auto previous_of = [&](const std::string& kind, const std::string& name) -> std::optional<LedgerEntry> {
        if (total <= 8) return ledger_->current(kind, name);
        auto it = current.find({kind, name});
        if (it == current.end()) return std::nullopt;
        return it->second;
    };
    std::set<std::string> parents;
    std::vector<IssuedLeaf> out;
    out.reserve(total);
    auto record = [&](std::size_t i) {
        MadeLeaf& m = made[i];
        const bool server = i < servers.size();
        const std::string& name = m.entry.name;
        if (auto prev = previous_of(m.entry.kind, name)) ledger_->set_status(prev->issuer, prev->serial, "superseded");
        in_context("issue " + m.entry.kind + " \"" + name + "\"", [&] { ledger_->record(m.entry); });
        std::string folder = server ? layout_.server_dir(name) : layout_.client_dir(name);
        std::string parent = server ? layout_.servers_dir() : layout_.clients_dir();
        if (parents.insert(parent).second) files_.make_dir(parent, kPublicDir);
        files_.make_dir(folder, kPrivateDir);
        // The server's ssl_ca_file holds every CA that may sign client certificates, so a client
        // sending only its leaf still verifies (docs/postgres-facts.md §1.6); a client's sslrootcert
        // holds the self-signed root alone (libpq sets no X509_V_FLAG_PARTIAL_CHAIN).
        const std::string trust = server ? root_pem + chain : root_pem;
        const char* cert_file = server ? "/server.crt" : "/postgresql.crt";
        const char* key_file = server ? "/server.key" : "/postgresql.key";
        if (!m.leaf.key_pem.empty()) files_.write(folder + key_file, std::move(m.leaf.key_pem), kPrivateFile);
        files_.write(folder + cert_file, std::move(m.cert_file), kPublicFile);
        files_.write_if_changed(folder + "/root.crt", trust, kPublicFile);
        out.push_back({m.entry.serial, m.entry.not_after, std::move(m.leaf.cert_pem)});
        m = MadeLeaf{};  // its PEM strings now live in the file batch
    };

    // Keys and signatures are the expensive, independent part: they are made on jobs() threads
    // while this thread records each finished leaf, in request order (the SQLite connection
    // stays on this thread). For 10,000 leaves, recording alone takes ~0.1 s, which would
    // otherwise come after the making.
    PhaseTimer timer_make("make + record");
    std::vector<Factories> factories(std::max(1u, jobs_));
    std::vector<std::atomic<bool>> ready(total);
    std::atomic<bool> cancel{false};
    std::mutex mu;
    std::condition_variable cv;
    bool makers_done = false;
    std::exception_ptr make_error;
    std::atomic<std::size_t> made_count{0};
    constexpr std::size_t kWakeEvery = 64;  // one wake-up per this many leaves, not per leaf
    std::thread makers([&] {
        try {
            parallel_for(total, jobs_, [&](std::size_t i, std::size_t slot) {
                if (cancel) return;
                make_one(i, factories[slot]);
                ready[i].store(true, std::memory_order_release);
                if (++made_count % kWakeEvery == 0) {
                    std::lock_guard<std::mutex> lock(mu);
                    cv.notify_one();
                }
            });
        } catch (...) {
            make_error = std::current_exception();
        }
        std::lock_guard<std::mutex> lock(mu);
        makers_done = true;
        cv.notify_one();
    });
    try {
        for (std::size_t i = 0; i < total; ++i) {
            if (!ready[i].load(std::memory_order_acquire)) {
                std::unique_lock<std::mutex> lock(mu);
                cv.wait(lock, [&] { return ready[i].load(std::memory_order_acquire) || makers_done; });
                if (!ready[i].load(std::memory_order_acquire)) break;  // making failed: rethrown below
            }
            record(i);
            if (progress) progress(i + 1, total);
        }
    } catch (...) {
        cancel = true;
        makers.join();
        throw;
    }
    makers.join();
    if (make_error) std::rethrow_exception(make_error);
    return out;
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
    std::string marker = layout_.dir() + "/.pgca-writing";
    PhaseTimer timer("write files");
    io::write_file_atomic(marker, "pgca was writing files\n", 0600);
    files_.commit(layout_.dir(), jobs_);
    io::remove_all(marker);
}

void PkiDir::sweep_after_crash() {
    // A run killed while renaming its files into place left a journal: finish those renames
    // first, so that every key and certificate it was replacing change together.
    const bool journal = io::recover_journal(layout_.dir());
    std::string marker = layout_.dir() + "/.pgca-writing";
    if (!journal && !io::exists(marker)) return;
    recovered_ = true;
    for (const auto& d : {layout_.dir(), layout_.ca_dir(), layout_.crl_dir()}) io::remove_temp_files(d);
    for (const auto& parent : {layout_.servers_dir(), layout_.clients_dir()})
        for (const auto& name : io::list_dir(parent)) {
            io::remove_temp_files(parent + "/" + name);
            if (parent == layout_.servers_dir()) io::remove_temp_files(parent + "/" + name + "/crl");
        }
    io::remove_all(marker);
}

bool PkiDir::write_server_conf(const Profile& profile, const ServerSpec& server) {
    std::string base = server.install_dir.empty() ? layout_.server_dir(server.name) : server.install_dir;
    pg::ServerFiles files{base + "/server.crt", base + "/server.key", base + "/root.crt", base + "/root.crl",
                          base + "/crl"};
    files_.make_dir(layout_.servers_dir(), kPublicDir);
    files_.make_dir(layout_.server_dir(server.name), kPrivateDir);
    return files_.write_if_changed(layout_.server_dir(server.name) + "/postgresql.ssl.conf",
                                   pg::render_server_conf(profile.name, server, profile.server_settings, files),
                                   kPublicFile);
}

io::FileWrite PkiDir::client_service_file(const Profile& profile, const ClientSpec& client) const {
    std::string base = layout_.client_dir(client.user);
    pg::ClientFiles files{base + "/root.crt", base + "/postgresql.crt", base + "/postgresql.key"};
    return {base + "/pg_service.conf",
            pg::render_service(profile.name, client.user, profile.servers, profile.client_settings, files),
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

bool PkiDir::revoke(const LedgerEntry& entry, RevocationReason reason) {
    return ledger_->revoke(entry.issuer, entry.serial, std::time(nullptr), std::string(to_string(reason)));
}

std::vector<std::pair<std::string, Crl>> PkiDir::crls() const {
    std::vector<std::pair<std::string, Crl>> out;
    for (const auto& path : {layout_.root_crl(), layout_.intermediate_crl()}) {
        auto pem = io::try_read_file(path);
        if (pem) out.emplace_back(path, Crl::from_pem(*pem, path));
    }
    return out;
}

std::vector<Action> PkiDir::refresh_crls(int crl_days, bool force) {
    std::vector<Action> actions;
    if (!root_cert_) return actions;
    files_.make_dir(layout_.crl_dir(), kPublicDir);
    const std::time_t now = std::time(nullptr);
    const std::time_t refresh_margin = static_cast<std::time_t>(crl_days) * kDaySeconds / 3;

    struct Ca {
        bool intermediate;
        const Certificate* cert;
        std::string path;
        std::string label;
    };
    std::vector<Ca> cas{{false, &*root_cert_, layout_.root_crl(), "root"}};
    if (intermediate_cert_) cas.push_back({true, &*intermediate_cert_, layout_.intermediate_crl(), "intermediate"});

    std::vector<std::string> current_pem;  // each CA's CRL as it is (or will be) on disk
    for (const auto& c : cas) {
        std::string issuer = c.cert->subject_rfc2253();
        std::vector<Revocation> revoked = ledger_->revocations(issuer, now);

        std::string why = force ? "requested" : "";
        if (!force) {
            // Reading a CRL of 100,000 entries back costs more than making one: only when the
            // existing one might do.
            std::optional<std::string> pem;
            std::optional<Crl> existing;
            try {
                pem = io::try_read_file(c.path);
            } catch (const Error&) {
                why = "unreadable";  // made again; writing it says what is wrong with the path
            }
            if (pem) {
                try {
                    existing = Crl::from_pem(*pem, c.path);
                } catch (const Error&) {
                    why = "unreadable";
                }
            } else if (why.empty()) {
                why = "missing";
            }
            if (existing) {
                std::set<std::string> want;
                for (const auto& e : revoked) want.insert(e.serial);
                auto listed = existing->revoked_serials();
                if (!existing->issued_by(*c.cert))
                    why = "not signed by the current CA";
                else if (std::set<std::string>(listed.begin(), listed.end()) != want)
                    why = "revocations changed";
                else if (existing->next_update() - now < refresh_margin)
                    why = "nextUpdate " + format_time(existing->next_update()) + " is near";
            }
            if (why.empty()) {
                // The file as it is when it is that one CRL alone: one PEM block, at the start.
                const bool just_one = pem->rfind("-----BEGIN ") == 0;  // the last BEGIN is the first byte
                current_pem.push_back(just_one ? std::move(*pem) : existing->to_pem());
                continue;
            }
        }
        std::vector<RevokedEntry> entries;
        entries.reserve(revoked.size());
        for (auto& e : revoked)
            entries.push_back({std::move(e.serial), e.revoked_at,
                               parse_revocation_reason(e.reason).value_or(RevocationReason::unspecified)});
        auto state = ledger_->crl_state(issuer);
        std::int64_t number = state ? state->number + 1 : 1;
        // lastUpdate a little in the past, like certificates, for servers whose clock lags.
        std::time_t this_update = now - 5 * 60;
        std::time_t next_update = now + static_cast<std::time_t>(crl_days) * kDaySeconds;
        EncodedCrl crl = in_context("make " + c.label + " CRL", [&] {
            return encode_crl(authority(c.intermediate), entries, number, this_update, next_update);
        });
        files_.write(c.path, crl.pem, kPublicFile);
        ledger_->record_crl({issuer, number, this_update, next_update, static_cast<std::int64_t>(entries.size())});
        actions.push_back({"write", "crl", c.label,
                           "number " + std::to_string(number) + ", " + std::to_string(entries.size()) +
                               " revoked, next update " + format_time(next_update) + " (" + why + ")"});
        current_pem.push_back(std::move(crl.pem));
    }

    // Every server gets every CA's CRL: PostgreSQL sets X509_V_FLAG_CRL_CHECK_ALL, so a missing
    // CRL for any CA in a client's chain rejects that client ("tlsv1 alert unknown ca").
    std::string bundle;
    for (const auto& pem : current_pem) bundle += pem;
    // The servers that have a valid certificate (this transaction's included): their folders
    // exist, or will once the queued files are written.
    for (const auto& name : ledger_->valid_names("server")) {
        std::string folder = layout_.server_dir(name);
        files_.write_if_changed(folder + "/root.crl", bundle, kPublicFile);
        files_.make_dir(folder + "/crl", kPublicDir);
        std::set<std::string> names;
        for (std::size_t k = 0; k < cas.size(); ++k) {
            // `openssl rehash` naming: ssl_crl_dir finds a CA's CRL by its issuer-name hash.
            std::string hashed = hashed_crl_name(*cas[k].cert);
            names.insert(hashed);
            files_.write_if_changed(folder + "/crl/" + hashed, current_pem[k], kPublicFile);
        }
        for (const auto& stale : io::list_dir(folder + "/crl"))
            if (names.count(stale) == 0) files_.remove(folder + "/crl/" + stale);
    }
    return actions;
}

std::vector<std::string> PkiDir::retire(const std::string& kind, const std::string& name, RevocationReason reason) {
    std::vector<std::string> serials;
    const std::time_t now = std::time(nullptr);
    for (const auto& e : ledger_->by_name(kind, name)) {
        if (e.status == "revoked" || e.not_after <= now) continue;
        if (revoke(e, reason)) serials.push_back(e.serial);
    }
    files_.remove(kind == "client" ? layout_.client_dir(name) : layout_.server_dir(name));
    return serials;
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
