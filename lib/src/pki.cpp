#include "pgca/pki.hpp"

#include <nlohmann/json.hpp>

#include <ctime>
#include <set>

#include "pgca/error.hpp"
#include "pgca/pg.hpp"

namespace pgca {
namespace {

constexpr mode_t kPrivateFile = 0600;
constexpr mode_t kPublicFile = 0644;
constexpr mode_t kPrivateDir = 0700;
constexpr mode_t kPublicDir = 0755;
constexpr long kDaySeconds = 24 * 60 * 60;

LedgerEntry entry_for(const Certificate& cert, const std::string& kind, const std::string& name,
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

CertificateAuthority load_authority(const std::string& cert_path, const std::string& key_path) {
    Certificate cert = Certificate::from_pem(io::read_file(cert_path), cert_path);
    PrivateKey key = PrivateKey::from_pem(io::read_file(key_path), key_path);
    return in_context("CA \"" + cert_path + "\"", [&] { return CertificateAuthority(std::move(cert), std::move(key)); });
}

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

PkiDir::PkiDir(const std::string& dir) : layout_(dir) {}

std::unique_ptr<PkiDir> PkiDir::open(const std::string& dir, bool create) {
    std::unique_ptr<PkiDir> pki(new PkiDir(dir));
    const io::Layout& l = pki->layout_;
    if (!io::exists(l.ledger()) && !io::exists(l.root_cert())) {
        if (!create)
            throw Error(ErrorKind::input, "\"" + l.dir() + "\" holds no pgca PKI (no pgca.db); create one with "
                                          "`pgca init --dir " + dir + "` or `pgca apply PROFILE --dir " + dir + "`");
        io::ensure_dir(l.dir(), kPublicDir);
    }
    pki->lock_ = std::make_unique<io::DirLock>(l.dir());
    pki->ledger_ = open_sqlite_ledger(l.ledger());
    pki->load_ca();
    return pki;
}

void PkiDir::load_ca() {
    if (io::exists(layout_.root_cert())) root_ = load_authority(layout_.root_cert(), layout_.root_key());
    if (io::exists(layout_.intermediate_cert())) {
        intermediate_ = load_authority(layout_.intermediate_cert(), layout_.intermediate_key());
        if (!root_ || !intermediate_->certificate().issued_by(root_->certificate()))
            throw Error(ErrorKind::policy, "\"" + layout_.intermediate_cert() + "\" was not issued by \"" +
                                               layout_.root_cert() + "\"");
    }
}

std::vector<Action> PkiDir::create_ca(const CaSpec& spec) {
    if (root_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has a root CA");
    io::ensure_dir(layout_.ca_dir(), kPrivateDir);
    auto root = in_context("create root CA", [&] { return CertificateAuthority::create_root(spec.subject, spec.key, spec.days); });
    // Key first: a certificate on disk without its key would look like a usable CA.
    io::write_file_atomic(layout_.root_key(), root.key().to_pem(), kPrivateFile);
    io::write_file_atomic(layout_.root_cert(), root.certificate().to_pem(), kPublicFile);
    nlohmann::json detail = {{"key", std::string(to_string(spec.key))}};
    ledger_->record(entry_for(root.certificate(), "root", "root", detail.dump()));
    std::vector<Action> actions{{"create", "root", "root", "serial " + root.certificate().serial_hex()}};
    root_ = std::move(root);
    if (spec.intermediate) actions.push_back(create_intermediate(*spec.intermediate));
    return actions;
}

Action PkiDir::create_intermediate(const IntermediateSpec& spec) {
    if (!root_) throw Error(ErrorKind::policy, "no root CA to sign an intermediate");
    if (intermediate_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" already has an intermediate CA");
    auto inter = in_context("create intermediate CA",
                            [&] { return root_->create_intermediate(spec.subject, spec.key, spec.days); });
    io::write_file_atomic(layout_.intermediate_key(), inter.key().to_pem(), kPrivateFile);
    io::write_file_atomic(layout_.intermediate_cert(), inter.certificate().to_pem(), kPublicFile);
    nlohmann::json detail = {{"key", std::string(to_string(spec.key))}};
    ledger_->record(entry_for(inter.certificate(), "intermediate", "intermediate", detail.dump()));
    Action a{"create", "intermediate", "intermediate", "serial " + inter.certificate().serial_hex()};
    intermediate_ = std::move(inter);
    return a;
}

const CertificateAuthority& PkiDir::issuer() const {
    if (intermediate_) return *intermediate_;
    if (root_) return *root_;
    throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
}

const Certificate& PkiDir::root() const {
    if (!root_) throw Error(ErrorKind::policy, "\"" + layout_.dir() + "\" has no CA yet; run `pgca init` or `pgca apply` first");
    return root_->certificate();
}

std::string PkiDir::chain_pem() const { return intermediate_ ? intermediate_->certificate().to_pem() : std::string(); }

Certificate PkiDir::issue_leaf(const std::string& kind, const std::string& name, const std::string& folder,
                               const std::string& cert_file, const std::string& key_file,
                               const std::string& trust_pem, const std::string& detail, KeyAlg alg,
                               const std::function<Certificate(const PrivateKey&)>& sign,
                               const PrivateKey* reuse) {
    return in_context("issue " + kind + " \"" + name + "\"", [&] {
        std::optional<PrivateKey> fresh;
        if (reuse == nullptr) fresh = PrivateKey::generate(alg);
        const PrivateKey& key = reuse != nullptr ? *reuse : *fresh;
        Certificate cert = sign(key);
        auto previous = ledger_->current(kind, name);
        io::ensure_dir(folder.substr(0, folder.rfind('/')), kPublicDir);
        io::ensure_dir(folder, kPrivateDir);
        // The key goes first and the certificate second: PostgreSQL and libpq read the pair
        // by name, and a new key beside an old certificate fails loudly ("key values
        // mismatch") where the reverse would too; a crash between the two is repaired by the
        // next apply, which sees the mismatch and issues again.
        if (reuse == nullptr) io::write_file_atomic(folder + "/" + key_file, key.to_pem(), kPrivateFile);
        io::write_file_atomic(folder + "/" + cert_file, cert.to_pem() + chain_pem(), kPublicFile);
        io::write_if_changed(folder + "/root.crt", trust_pem, kPublicFile);
        if (previous) ledger_->set_status(previous->issuer, previous->serial, "superseded");
        ledger_->record(entry_for(cert, kind, name, detail));
        return cert;
    });
}

Certificate PkiDir::issue_server(const ServerRequest& req) {
    validate_simple_name(req.name, "server name");
    const CertificateAuthority& ca = issuer();
    nlohmann::json detail = {{"hosts", req.hosts}, {"key", std::string(to_string(req.key))}, {"days", req.days}};
    // The server's ssl_ca_file: every CA that may sign client certificates, so that a client
    // sending only its leaf still verifies (POSTGRES-TLS.md §1.5).
    std::string trust = root().to_pem() + chain_pem();
    std::optional<PrivateKey> existing;
    if (req.keep_key) {
        std::string path = layout_.server_dir(req.name) + "/server.key";
        existing = in_context("server \"" + req.name + "\": --keep-key", [&] {
            return PrivateKey::from_pem(io::read_file(path), path);
        });
    }
    return issue_leaf("server", req.name, layout_.server_dir(req.name), "server.crt", "server.key", trust, detail.dump(),
                      req.key, [&](const PrivateKey& key) {
                          return ca.issue_server(existing ? *existing : key, server_subject(req.hosts), req.hosts,
                                                 req.days);
                      }, existing ? &*existing : nullptr);
}

Certificate PkiDir::issue_client(const ClientRequest& req) {
    validate_role_name(req.user, "role name");
    const CertificateAuthority& ca = issuer();
    DistinguishedName subject;
    in_context("client \"" + req.user + "\"", [&] { subject.set("CN", req.cn.empty() ? req.user : req.cn); });
    nlohmann::json detail = {{"cn", subject.get("CN")}, {"key", std::string(to_string(req.key))}};
    // libpq does not set X509_V_FLAG_PARTIAL_CHAIN: sslrootcert must hold the self-signed root.
    return issue_leaf("client", req.user, layout_.client_dir(req.user), "postgresql.crt", "postgresql.key",
                      root().to_pem(), detail.dump(), req.key,
                      [&](const PrivateKey& key) { return ca.issue_client(key, subject, req.days); }, nullptr);
}

bool PkiDir::write_server_conf(const Profile& profile, const ServerSpec& server) {
    std::string base = server.install_dir.empty() ? layout_.server_dir(server.name) : server.install_dir;
    pg::ServerFiles files{base + "/server.crt", base + "/server.key", base + "/root.crt", base + "/root.crl",
                          base + "/crl"};
    io::ensure_dir(layout_.server_dir(server.name), kPrivateDir);
    return io::write_if_changed(layout_.server_dir(server.name) + "/postgresql.ssl.conf",
                                pg::render_server_conf(profile, server, files), kPublicFile);
}

bool PkiDir::write_client_service(const Profile& profile, const ClientSpec& client) {
    std::string base = layout_.client_dir(client.user);
    pg::ClientFiles files{base + "/root.crt", base + "/postgresql.crt", base + "/postgresql.key"};
    io::ensure_dir(base, kPrivateDir);
    return io::write_if_changed(base + "/pg_service.conf", pg::render_service(profile, client, files), kPublicFile);
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
    if (!root_) return actions;
    io::ensure_dir(layout_.crl_dir(), kPublicDir);
    const std::time_t now = std::time(nullptr);
    const std::time_t refresh_margin = static_cast<std::time_t>(crl_days) * kDaySeconds / 3;

    struct Ca {
        const CertificateAuthority* ca;
        std::string path;
        std::string label;
    };
    std::vector<Ca> cas{{&*root_, layout_.root_crl(), "root"}};
    if (intermediate_) cas.push_back({&*intermediate_, layout_.intermediate_crl(), "intermediate"});

    std::vector<Crl> current;
    for (const auto& c : cas) {
        std::string issuer = c.ca->certificate().subject_rfc2253();
        std::vector<LedgerEntry> revoked = ledger_->revoked_by(issuer, now);
        std::set<std::string> want;
        for (const auto& e : revoked) want.insert(e.serial);

        std::string why = force ? "requested" : "";
        std::optional<Crl> existing;
        if (auto pem = io::try_read_file(c.path)) {
            try {
                existing = Crl::from_pem(*pem, c.path);
            } catch (const Error&) {
                if (why.empty()) why = "unreadable";
            }
        } else if (why.empty()) {
            why = "missing";
        }
        if (existing && why.empty()) {
            auto listed = existing->revoked_serials();
            if (!existing->issued_by(c.ca->certificate()))
                why = "not signed by the current CA";
            else if (std::set<std::string>(listed.begin(), listed.end()) != want)
                why = "revocations changed";
            else if (existing->next_update() - now < refresh_margin)
                why = "nextUpdate " + format_time(existing->next_update()) + " is near";
        }
        if (why.empty()) {
            current.push_back(*existing);
            continue;
        }
        std::vector<RevokedEntry> entries;
        entries.reserve(revoked.size());
        for (const auto& e : revoked)
            entries.push_back({e.serial, e.revoked_at,
                               parse_revocation_reason(e.revocation_reason).value_or(RevocationReason::unspecified)});
        auto state = ledger_->crl_state(issuer);
        std::int64_t number = state ? state->number + 1 : 1;
        // lastUpdate a little in the past, like certificates, for servers whose clock lags.
        std::time_t this_update = now - 5 * 60;
        std::time_t next_update = now + static_cast<std::time_t>(crl_days) * kDaySeconds;
        Crl crl = in_context("make " + c.label + " CRL", [&] {
            return make_crl(*c.ca, entries, number, this_update, next_update);
        });
        io::write_file_atomic(c.path, crl.to_pem(), kPublicFile);
        ledger_->record_crl({issuer, number, this_update, next_update, static_cast<std::int64_t>(entries.size())});
        actions.push_back({"write", "crl", c.label,
                           "number " + std::to_string(number) + ", " + std::to_string(entries.size()) +
                               " revoked, next update " + format_time(next_update) + " (" + why + ")"});
        current.push_back(std::move(crl));
    }

    // Every server gets every CA's CRL: PostgreSQL sets X509_V_FLAG_CRL_CHECK_ALL, so a missing
    // CRL for any CA in a client's chain rejects that client ("tlsv1 alert unknown ca").
    std::string bundle;
    for (const auto& crl : current) bundle += crl.to_pem();
    for (const auto& name : io::list_dir(layout_.servers_dir())) {
        std::string folder = layout_.server_dir(name);
        if (!io::exists(folder + "/server.crt")) continue;
        io::write_if_changed(folder + "/root.crl", bundle, kPublicFile);
        io::ensure_dir(folder + "/crl", kPublicDir);
        std::set<std::string> names;
        for (const auto& crl : current) {
            // `openssl rehash` naming: ssl_crl_dir finds a CA's CRL by its issuer-name hash.
            std::string hashed = crl.hashed_name();
            names.insert(hashed);
            io::write_if_changed(folder + "/crl/" + hashed, crl.to_pem(), kPublicFile);
        }
        for (const auto& stale : io::list_dir(folder + "/crl"))
            if (names.count(stale) == 0) io::remove_all(folder + "/crl/" + stale);
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
    io::remove_all(kind == "client" ? layout_.client_dir(name) : layout_.server_dir(name));
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
