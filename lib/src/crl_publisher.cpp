// The CRLs of a PKI folder.
#include "pgca/crl_publisher.hpp"

#include <ctime>
#include <optional>
#include <set>

#include "pgca/error.hpp"

namespace pgca {
namespace {

constexpr mode_t kPublicFile = io::Layout::kPublicFile;
constexpr mode_t kPublicDir = io::Layout::kPublicDir;
constexpr long kDaySeconds = 24 * 60 * 60;

}  // namespace

std::vector<std::pair<std::string, Crl>> CrlPublisher::crls() const {
    std::vector<std::pair<std::string, Crl>> out;
    for (const auto& path : {layout_.root_crl(), layout_.intermediate_crl(), layout_.next_root_crl(),
                             layout_.next_intermediate_crl()}) {
        auto pem = io::try_read_file(path);
        if (pem) out.emplace_back(path, Crl::from_pem(*pem, path));
    }
    return out;
}

std::vector<Action> CrlPublisher::refresh(int crl_days, bool force) {
    std::vector<Action> actions;
    if (!ca_.has_ca()) return actions;
    files_.make_dir(layout_.crl_dir(), kPublicDir);
    const std::time_t now = std::time(nullptr);
    const std::time_t refresh_margin = static_cast<std::time_t>(crl_days) * kDaySeconds / 3;

    // Every CA a trust file holds (both roots during a rollover): PostgreSQL wants a CRL for each.
    const std::vector<TrustedCa> cas = ca_.trusted();
    // A CRL file of a CA no longer trusted (the next CA's, once finish promoted it) goes. A path
    // that cannot be looked at holds none (writing the CRLs then says what is wrong with it,
    // after the ledger committed, as a revocation's publication must).
    auto present = [](const std::string& path) {
        try {
            return io::exists(path);
        } catch (const Error&) {
            return false;
        }
    };
    for (const auto& [stale, path] : {std::pair{ca_.next_root() == nullptr, layout_.next_root_crl()},
                                      std::pair{!ca_.next_is_intermediate(), layout_.next_intermediate_crl()},
                                      std::pair{!ca_.has_intermediate(), layout_.intermediate_crl()}})
        if (stale && present(path)) files_.remove(path);

    std::vector<std::string> current_pem;  // each CA's CRL as it is (or will be) on disk
    for (const auto& c : cas) {
        std::string issuer = c.cert->subject_rfc2253();
        std::vector<Revocation> revoked = ledger_.revocations(issuer, now);

        std::string why = force ? "requested" : "";
        if (!force) {
            // Reading a CRL of 100,000 entries back costs more than making one: only when the
            // existing one might do.
            std::optional<std::string> pem;
            std::optional<Crl> existing;
            try {
                pem = io::try_read_file(c.crl_path);
            } catch (const Error&) {
                why = "unreadable";  // made again; writing it says what is wrong with the path
            }
            if (pem) {
                try {
                    existing = Crl::from_pem(*pem, c.crl_path);
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
            entries.push_back({std::move(e.serial), e.revoked_at, e.reason});
        auto state = ledger_.crl_state(issuer);
        std::int64_t number = state ? state->number + 1 : 1;
        // lastUpdate a little in the past, like certificates, for servers whose clock lags.
        std::time_t this_update = now - 5 * 60;
        std::time_t next_update = now + static_cast<std::time_t>(crl_days) * kDaySeconds;
        EncodedCrl crl = in_context(std::string("make ") + c.label + " CRL", [&] {
            return encode_crl(ca_.authority(c.slot), entries, number, this_update, next_update);
        });
        files_.write(c.crl_path, crl.pem, kPublicFile);
        ledger_.record_crl({issuer, number, this_update, next_update, static_cast<std::int64_t>(entries.size())});
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
    for (const auto& name : ledger_.valid_names(CertKind::server)) {
        files_.write_if_changed(layout_.server_file(name, io::Layout::kServerCrl), bundle, kPublicFile);
        const std::string crl_dir = layout_.server_crl_dir(name);
        files_.make_dir(crl_dir, kPublicDir);
        std::set<std::string> names;
        for (std::size_t k = 0; k < cas.size(); ++k) {
            // `openssl rehash` naming: ssl_crl_dir finds a CA's CRL by its issuer-name hash.
            std::string hashed = hashed_crl_name(*cas[k].cert);
            names.insert(hashed);
            files_.write_if_changed(crl_dir + "/" + hashed, current_pem[k], kPublicFile);
        }
        for (const auto& stale : io::list_dir(crl_dir))
            if (names.count(stale) == 0) files_.remove(crl_dir + "/" + stale);
    }
    return actions;
}

}  // namespace pgca
