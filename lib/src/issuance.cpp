// The issuing pipeline: leaves made in memory, recorded in the ledger, their files queued.
#include "pgca/issuance.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "leaf.hpp"
#include "ledger_entry.hpp"
#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/issue_params.hpp"
#include "pgca/pkcs12.hpp"
#include "pgca/profile.hpp"
#include "pgca/wipe.hpp"

namespace pgca {
namespace {

using detail::parallel_for;
using detail::PhaseTimer;

constexpr mode_t kPrivateFile = io::Layout::kPrivateFile;
constexpr mode_t kPublicFile = io::Layout::kPublicFile;
constexpr mode_t kPrivateDir = io::Layout::kPrivateDir;
constexpr mode_t kPublicDir = io::Layout::kPublicDir;

}  // namespace



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

namespace {

// One leaf made in memory, with everything the ledger and the files need.
struct MadeLeaf {
    detail::Leaf leaf;     // key_pem "" when the existing key is kept
    std::string cert_file;           // leaf + intermediate: what server.crt / postgresql.crt hold
    LedgerEntry entry;
    std::vector<KeyFile> key_files;  // a client's postgresql.pk8 / .p12, when its formats ask

    MadeLeaf() = default;
    ~MadeLeaf() { wipe_keys(); }  // when they were never handed to the file batch
    void wipe_keys() noexcept {
        wipe(leaf.key_pem);
        for (auto& f : key_files) wipe(f.data);
    }
    MadeLeaf(MadeLeaf&&) = default;
    MadeLeaf& operator=(MadeLeaf&& other) noexcept {
        wipe_keys();
        leaf = std::move(other.leaf);
        cert_file = std::move(other.cert_file);
        entry = std::move(other.entry);
        key_files = std::move(other.key_files);
        return *this;
    }
    MadeLeaf(const MadeLeaf&) = delete;
    MadeLeaf& operator=(const MadeLeaf&) = delete;
};

// The key type a request asks for: always known for what the CLI, a profile or the ledger's
// own rows ask, but a rebuilt row may not know it.
KeyAlg key_of(const IssueParams& p) {
    if (!p.key)
        throw Error(ErrorKind::input, "issue " + std::string(to_string(p.kind)) + " \"" + p.name +
                                          "\": the key type is not known");
    return *p.key;
}

// The ledger row of a freshly made leaf, from what the builder reports (no certificate parse:
// this runs per certificate in bulk issuance).
LedgerEntry light_entry(const detail::Leaf& leaf, const std::string& issuer, IssueParams params) {
    return detail::entry_from(leaf, issuer, std::move(params));
}

}  // namespace


std::vector<KeyFile> client_key_files(const ClientFormats& formats, const PrivateKey& key,
                                      const std::string& cert_file, const std::string& p12_passphrase) {
    std::vector<KeyFile> out;
    if (formats.pk8) out.push_back({io::Layout::kClientPk8, key.to_pkcs8_der()});
    if (formats.p12) out.push_back({io::Layout::kClientP12, make_pkcs12(key, cert_file, kPkcs12Alias, p12_passphrase)});
    return out;
}

Certificate IssuedLeaf::certificate() const { return Certificate::from_pem(cert_pem, "issued certificate"); }

std::vector<IssuedLeaf> Issuance::issue_batch(const std::vector<ServerRequest>& servers,
                                               const std::vector<ClientRequest>& clients, unsigned jobs,
                                               const Progress& progress) {
    const CertificateAuthority& ca = ca_.issuer();
    const std::string issuer_dn = ca.certificate().subject_rfc2253();
    const std::string chain = ca_.chain_pem();
    // What each leaf's root.crt holds (both roots during a rollover).
    const std::string client_trust = ca_.trust_pem(false);
    const std::string server_trust = ca_.trust_pem(true);
    const std::size_t total = servers.size() + clients.size();

    // Validate everything and load kept keys before any work starts, so a bad request fails
    // before anything is recorded.
    // Role names and hosts were validated where they entered (the profile decoder, the CLI's
    // --user, --users-file and --host); they are trusted here.
    std::vector<DistinguishedName> client_subjects(clients.size());
    std::vector<const std::string*> p12_pass(clients.size(), nullptr);  // owned by passphrases_
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const IssueParams& c = clients[i].params;
        (void)key_of(c);
        in_context("client \"" + c.name + "\"", [&] { client_subjects[i].set("CN", c.common_name()); });
        if (clients[i].formats.p12)
            p12_pass[i] = &in_context("client \"" + c.name + "\" p12_passphrase", [&]() -> const std::string& {
                return passphrases_.get(clients[i].p12_passphrase);
            });
    }
    std::vector<std::optional<PrivateKey>> kept(servers.size());
    std::vector<std::string> server_pass(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
        const IssueParams& sv = servers[i].params;
        validate_simple_name(sv.name, "server name");
        (void)key_of(sv);
        const PassphraseSource source = sv.key_passphrase.value_or(PassphraseSource{});
        if (!source.empty())
            server_pass[i] = in_context("server \"" + sv.name + "\" key", [&] { return passphrases_.get(source); });
        if (servers[i].keep_key) {
            const io::Layout::LeafFiles where = layout_.leaf_files(sv.kind, sv.name);
            std::string path = where.folder + "/" + where.key;
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
            const IssueParams& r = servers[i].params;
            in_context("issue server \"" + r.name + "\"", [&] {
                if (!kept[i] && server_pass[i].empty()) {
                    m.leaf = factory(f, *r.key).make(detail::LeafRequest::server(server_subject(r.hosts), r.hosts, r.days));
                } else {
                    std::optional<PrivateKey> fresh;
                    if (!kept[i]) fresh = PrivateKey::generate(*r.key);
                    const PrivateKey& key = kept[i] ? *kept[i] : *fresh;
                    m.leaf = factory(f, key.alg())
                                 .make(detail::LeafRequest::server(server_subject(r.hosts), r.hosts, r.days, &key));
                    // An encrypted server key needs ssl_passphrase_command on the server (written
                    // by pg::server_conf_file); `kept` keys stay as they are on disk.
                    if (fresh) m.leaf.key_pem = fresh->to_encrypted_pem(server_pass[i]);
                }
                // The request's parameters are the row's (a passphrase source not known is recorded as none).
                IssueParams recorded = r;
                recorded.key_passphrase = r.key_passphrase.value_or(PassphraseSource{});
                m.entry = light_entry(m.leaf, issuer_dn, std::move(recorded));
            });
        } else {
            const IssueParams& r = clients[i - servers.size()].params;
            in_context("issue client \"" + r.name + "\"", [&] {
                m.leaf = factory(f, *r.key).make(detail::LeafRequest::client(client_subjects[i - servers.size()], r.days));
                // The row records the CN as issued (the role name when the request leaves it "").
                IssueParams recorded = r;
                recorded.cn = r.common_name();
                m.entry = light_entry(m.leaf, issuer_dn, std::move(recorded));
            });
        }
        m.cert_file = m.leaf.cert_pem + chain;
        if (i >= servers.size() && clients[i - servers.size()].formats.any()) {
            const ClientRequest& r = clients[i - servers.size()];
            in_context("client \"" + r.params.name + "\" key formats", [&] {
                const std::string* pass = p12_pass[i - servers.size()];
                m.key_files = client_key_files(r.formats, PrivateKey::from_pem(m.leaf.key_pem, "new client key"),
                                               m.cert_file, pass != nullptr ? *pass : std::string());
            });
        }
        m.entry.cert_file_sha256 = sha256_hex(m.cert_file);
        m.entry.key_file_sha256 = m.leaf.key_pem.empty() ? std::string() : sha256_hex(m.leaf.key_pem);
    };

    // The ledger first (inside the caller's transaction), the files after its commit.
    std::map<std::pair<CertKind, std::string>, LedgerEntry> current;
    if (total > 8) {
        for (auto& e : ledger_.valid_entries()) current[{e.kind, e.name}] = std::move(e);
    }
    auto previous_of = [&](CertKind kind, const std::string& name) -> std::optional<LedgerEntry> {
        if (total <= 8) return ledger_.current(kind, name);
        auto it = current.find({kind, name});
        if (it == current.end()) return std::nullopt;
        return it->second;
    };
    std::vector<IssuedLeaf> out;
    out.reserve(total);
    auto record = [&](std::size_t i) {
        MadeLeaf& m = made[i];
        const bool server = i < servers.size();
        const std::string& name = m.entry.name;
        if (auto prev = previous_of(m.entry.kind, name))
            ledger_.set_status(prev->issuer, prev->serial, CertStatus::superseded);
        in_context("issue " + std::string(to_string(m.entry.kind)) + " \"" + name + "\"", [&] { ledger_.record(m.entry); });
        const io::Layout::LeafFiles where = layout_.leaf_files(m.entry.kind, name);
        const bool pooler = m.entry.kind == CertKind::pooler || m.entry.kind == CertKind::pooler_client;
        queue_folder(m.entry.kind, name);
        if (!m.leaf.key_pem.empty())
            files_.write(where.folder + "/" + where.key, std::move(m.leaf.key_pem), kPrivateFile);
        files_.write(where.folder + "/" + where.cert, std::move(m.cert_file), kPublicFile);
        // The server's ssl_ca_file holds every CA that may sign client certificates, so a client
        // sending only its leaf still verifies (docs/postgres-facts.md §1.6); a client's sslrootcert
        // holds the self-signed root alone (libpq sets no X509_V_FLAG_PARTIAL_CHAIN). A pooler's
        // root.crt is written with its other files (write_pooler_files), once for both its leaves.
        if (!pooler)
            files_.write_if_changed(where.folder + "/" + io::Layout::kTrust, server ? server_trust : client_trust,
                                    kPublicFile);
        for (auto& f : m.key_files) files_.write(where.folder + "/" + f.name, std::move(f.data), kPrivateFile);
        out.push_back({m.entry.serial, m.entry.not_after, std::move(m.leaf.cert_pem)});
        m = MadeLeaf{};  // its PEM strings now live in the file batch
    };

    // Keys and signatures are the expensive, independent part: they are made on jobs() threads
    // while this thread records each finished leaf, in request order (the SQLite connection
    // stays on this thread). For 10,000 leaves, recording alone takes ~0.1 s, which would
    // otherwise come after the making.
    PhaseTimer timer_make("make + record");
    std::vector<Factories> factories(std::max(1u, jobs));
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
            parallel_for(total, jobs, [&](std::size_t i, std::size_t slot) {
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

void Issuance::queue_folder(CertKind kind, const std::string& name) {
    const io::Layout::LeafFiles where = layout_.leaf_files(kind, name);
    files_.make_dir(where.folder.substr(0, where.folder.rfind('/')), kPublicDir);
    files_.make_dir(where.folder, kPrivateDir);
}

bool Issuance::revoke(const LedgerEntry& entry, RevocationReason reason) {
    return ledger_.revoke(entry.issuer, entry.serial, std::time(nullptr), reason);
}

std::vector<std::string> Issuance::retire(CertKind kind, const std::string& name, RevocationReason reason) {
    std::vector<std::string> serials;
    const std::time_t now = std::time(nullptr);
    for (const auto& e : ledger_.by_name(kind, name)) {
        if (e.status == CertStatus::revoked || e.not_after <= now) continue;
        if (revoke(e, reason)) serials.push_back(e.serial);
    }
    files_.remove(layout_.leaf_files(kind, name).folder);
    return serials;
}

}  // namespace pgca
