#include "pgca/issue_params.hpp"

#include <nlohmann/json.hpp>

#include <utility>

#include "pgca/certificate.hpp"

namespace pgca {
namespace {

constexpr std::pair<CertKind, std::string_view> kKindNames[] = {
    {CertKind::root, "root"},     {CertKind::intermediate, "intermediate"}, {CertKind::server, "server"},
    {CertKind::client, "client"}, {CertKind::unknown, "unknown"},           {CertKind::pooler, "pooler"},
    {CertKind::pooler_client, "pooler_client"},
};

// One field that decides a re-issue: its values (one, or a list's), or std::nullopt when not known.
struct Field {
    std::string_view name;
    bool list = false;
    std::optional<std::vector<std::string>> values;
};

// The fields that decide a re-issue of `p`, by kind, in name order: the one definition both
// fingerprint() and differences() read.
std::vector<Field> decisive_fields(const IssueParams& p) {
    auto one = [](std::string_view name, std::optional<std::string> v) {
        return Field{name, false, v ? std::optional<std::vector<std::string>>({std::move(*v)}) : std::nullopt};
    };
    std::optional<std::string> key;
    if (p.key) key = std::string(to_string(*p.key));
    switch (p.kind) {
        case CertKind::server:
        case CertKind::pooler: {
            std::optional<std::string> pass;
            if (p.key_passphrase) pass = p.key_passphrase->to_json();
            return {Field{"hosts", true, p.hosts}, one("key", key), one("key_passphrase", pass)};
        }
        case CertKind::client:
        case CertKind::pooler_client: return {one("cn", p.common_name()), one("key", key)};
        case CertKind::root:
        case CertKind::intermediate: return {one("key", key)};
        case CertKind::unknown: break;
    }
    return {};
}

// How differences() shows a field: JSON, as the ledger's detail once held it, or "none".
std::string shown(const Field& f) {
    if (!f.values) return "none";
    if (f.list) return nlohmann::json(*f.values).dump();
    return nlohmann::json(f.values->front()).dump();
}

// A wanted value a field that is not known still matches.
bool empty_value(const Field& f) { return f.values && !f.list && f.values->front().empty(); }

// Length-prefixed, so that no two different field sets encode alike.
void encode(std::string& out, std::string_view text) {
    out += std::to_string(text.size());
    out += ':';
    out += text;
}

}  // namespace

std::string_view to_string(CertKind kind) noexcept {
    for (const auto& [k, name] : kKindNames)
        if (k == kind) return name;
    return "unknown";
}

std::optional<CertKind> parse_cert_kind(std::string_view text) noexcept {
    for (const auto& [k, name] : kKindNames)
        if (name == text) return k;
    return std::nullopt;
}

IssueParams IssueParams::server(std::string name, std::vector<std::string> hosts, KeyAlg key, int days,
                                PassphraseSource key_passphrase) {
    IssueParams p;
    p.kind = CertKind::server;
    p.name = std::move(name);
    p.hosts = std::move(hosts);
    p.key = key;
    p.days = days;
    p.key_passphrase = std::move(key_passphrase);
    return p;
}

IssueParams IssueParams::client(std::string name, std::string cn, KeyAlg key, int days) {
    IssueParams p;
    p.kind = CertKind::client;
    p.name = std::move(name);
    p.cn = std::move(cn);
    p.key = key;
    p.days = days;
    return p;
}

IssueParams IssueParams::ca(CertKind kind, KeyAlg key, int days) {
    IssueParams p;
    p.kind = kind;
    p.name = std::string(to_string(kind));
    p.key = key;
    p.days = days;
    return p;
}

std::string IssueParams::fingerprint() const {
    std::string text = "pgca issue parameters 1\n";
    encode(text, to_string(kind));
    for (const auto& f : decisive_fields(*this)) {
        encode(text, f.name);
        if (!f.values) {
            text += '?';  // not known: unlike any count
            continue;
        }
        text += '#' + std::to_string(f.values->size());
        for (const auto& v : *f.values) encode(text, v);
    }
    return sha256_hex(text);
}

std::vector<std::string> IssueParams::differences(const IssueParams& wanted) const {
    std::vector<std::string> out;
    if (kind != wanted.kind)
        out.push_back("kind changed (\"" + std::string(to_string(kind)) + "\" → \"" +
                      std::string(to_string(wanted.kind)) + "\")");
    const auto have = decisive_fields(*this);
    for (const auto& want : decisive_fields(wanted)) {
        const Field* mine = nullptr;
        for (const auto& f : have)
            if (f.name == want.name) mine = &f;
        const bool known = mine != nullptr && mine->values;
        if (known ? mine->values == want.values : empty_value(want)) continue;
        out.push_back(std::string(want.name) + " changed (" + (known ? shown(*mine) : std::string("none")) + " → " +
                      shown(want) + ")");
    }
    return out;
}

}  // namespace pgca
