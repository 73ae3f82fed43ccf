// `pgca connect`: one line per driver. What each driver reads was checked in its source and
// with the real driver (tests/integration/drivers_test.cpp); README's per-driver table says it.
#include "pgca/connect.hpp"

#include <array>
#include <cctype>

#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/pki.hpp"
#include "pgca/plan.hpp"
#include "pgca/secret.hpp"

namespace pgca {
namespace {

struct DriverName {
    Driver driver;
    std::string_view name;
};
constexpr std::array<DriverName, 7> kDrivers{{{Driver::libpq, "libpq"},
                                              {Driver::jdbc, "jdbc"},
                                              {Driver::psycopg, "psycopg"},
                                              {Driver::asyncpg, "asyncpg"},
                                              {Driver::node, "node"},
                                              {Driver::pgx, "pgx"},
                                              {Driver::npgsql, "npgsql"}}};

using Params = std::vector<std::pair<std::string, std::string>>;

// libpq's conninfo: a value with a blank, a quote or a backslash (or an empty one) goes in single
// quotes, with ' and \ escaped by a backslash (conninfo_parse).
std::string conninfo_value(const std::string& v) {
    bool plain = !v.empty();
    for (char c : v) plain = plain && !std::isspace(static_cast<unsigned char>(c)) && c != '\'' && c != '\\';
    if (plain) return v;
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

// Percent-encoding of everything but RFC 3986's unreserved characters (and '/' where `slash`):
// what Go's url.Parse, Python's urllib, WHATWG URL and Java's URLDecoder all read back. A blank
// is %20, never '+', which the query decoders would turn into a blank and the path ones not.
std::string percent(const std::string& v, bool slash) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : v) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (slash && c == '/')) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// HOST:PORT for a URL, an IPv6 literal in brackets.
std::string url_authority(const Endpoint& e) {
    const std::string& h = e.hosts.front();
    return (h.find(':') != std::string::npos ? "[" + h + "]" : percent(h, false)) + ":" + std::to_string(e.port);
}

std::string url_query(const Params& params) {
    std::string out;
    for (const auto& [k, v] : params) out += (out.empty() ? "?" : "&") + k + "=" + percent(v, true);
    return out;
}

// Npgsql (DbConnectionStringBuilder): a value holding ';', '=', a quote or an outer blank is
// quoted; in double quotes a '"' is doubled.
std::string npgsql_value(const std::string& v) {
    bool plain = !v.empty() && v.front() != ' ' && v.back() != ' ';
    for (char c : v) plain = plain && c != ';' && c != '=' && c != '"' && c != '\'';
    if (plain) return v;
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

// The driver's spelling of a libpq client setting, or "" when it has none.
std::string driver_key(Driver d, const std::string& k) {
    switch (d) {
        case Driver::libpq:
        case Driver::psycopg: return k;  // they are libpq
        case Driver::pgx:  // v4: anything else would be sent to the server as a run-time parameter
            return k == "connect_timeout" || k == "target_session_attrs" || k == "application_name" ? k : "";
        case Driver::asyncpg:  // 0.27: anything else would be sent to the server as a setting
            return k == "sslcrl" || k == "ssl_min_protocol_version" || k == "ssl_max_protocol_version" ||
                           k == "application_name"
                       ? k
                       : "";
        case Driver::node: return k == "application_name" ? k : "";
        case Driver::jdbc:
            if (k == "connect_timeout") return "connectTimeout";
            if (k == "application_name") return "ApplicationName";
            return "";
        case Driver::npgsql:
            if (k == "connect_timeout") return "Timeout";
            if (k == "application_name") return "Application Name";
            if (k == "target_session_attrs") return "Target Session Attributes";
            return "";
    }
    return "";
}

// The settings `driver` takes besides the ones every line has; the others are named in warnings.
Params extra_settings(Driver driver, const std::map<std::string, std::string>& settings,
                      std::vector<std::string>& warnings) {
    Params out;
    for (const auto& [k, v] : settings) {
        if (k == "sslmode" || k == "dbname" || k == "port") continue;
        std::string key = driver_key(driver, k);
        if (key.empty())
            warnings.push_back("client_settings." + k + " is left out: " + std::string(to_string(driver)) +
                               " has no such setting");
        else
            out.emplace_back(std::move(key), v);
    }
    return out;
}

std::string npgsql_sslmode(const std::string& mode) {
    if (mode == "verify-full") return "VerifyFull";
    if (mode == "verify-ca") return "VerifyCA";
    return "Require";
}

}  // namespace

std::string_view to_string(Driver driver) noexcept {
    for (const auto& d : kDrivers)
        if (d.driver == driver) return d.name;
    return "unknown";
}

std::optional<Driver> parse_driver(std::string_view text) noexcept {
    for (const auto& d : kDrivers)
        if (d.name == text) return d.driver;
    return std::nullopt;
}

std::string driver_names() {
    std::string out;
    for (const auto& d : kDrivers) out += (out.empty() ? "" : ", ") + std::string(d.name);
    return out;
}

ConnectLine render_connect(Driver driver, const Endpoint& endpoint, const ClientBundle& bundle,
                           const std::string& dbname, const std::map<std::string, std::string>& settings) {
    ConnectLine out;
    auto mode = settings.find("sslmode");
    const std::string sslmode = mode != settings.end() ? mode->second : "verify-full";
    const Params extra = extra_settings(driver, settings, out.warnings);
    const std::string& host = endpoint.hosts.front();
    const std::string port = std::to_string(endpoint.port);
    Params ssl{{"sslmode", sslmode}, {"sslrootcert", bundle.root_cert}, {"sslcert", bundle.cert}, {"sslkey", bundle.key}};
    switch (driver) {
        case Driver::libpq:
        case Driver::psycopg: {
            Params all{{"host", host}, {"port", port}, {"dbname", dbname}, {"user", bundle.user}};
            all.insert(all.end(), ssl.begin(), ssl.end());
            all.insert(all.end(), extra.begin(), extra.end());
            for (const auto& [k, v] : all) out.line += (out.line.empty() ? "" : " ") + k + "=" + conninfo_value(v);
            return out;
        }
        case Driver::pgx:
        case Driver::asyncpg:
        case Driver::node: {
            Params all = ssl;
            all.insert(all.end(), extra.begin(), extra.end());
            out.line = "postgresql://" + percent(bundle.user, false) + "@" + url_authority(endpoint) + "/" +
                       percent(dbname, false) + url_query(all);
            return out;
        }
        case Driver::jdbc: {
            // pgjdbc reads neither a PEM key (42.5: "extra data at the end") nor libpq's file names
            // for it; its default key file is postgresql.pk8.
            Params all{{"user", bundle.user}, {"sslmode", sslmode}, {"sslrootcert", bundle.root_cert},
                       {"sslcert", bundle.cert}};
            if (!bundle.pk8.empty()) {
                all.emplace_back("sslkey", bundle.pk8);
            } else if (!bundle.p12.empty()) {
                all.emplace_back("sslkey", bundle.p12);
                all.emplace_back("sslpassword", bundle.p12_passphrase);
                out.warnings.push_back("the line holds the passphrase of " + bundle.p12 +
                                       " (sslpassword); treat it as a secret");
            } else {
                throw Error(ErrorKind::input,
                            "client \"" + bundle.user + "\": pgjdbc cannot read the PEM key postgresql.key and the "
                            "bundle has no postgresql.pk8 or postgresql.p12; add \"pk8\" (or \"p12\") to the "
                            "client's formats (or defaults.client_formats) and run `pgca apply`");
            }
            all.insert(all.end(), extra.begin(), extra.end());
            out.line = "jdbc:postgresql://" + url_authority(endpoint) + "/" + percent(dbname, false) + url_query(all);
            return out;
        }
        case Driver::npgsql: {
            Params all{{"Host", host},
                       {"Port", port},
                       {"Database", dbname},
                       {"Username", bundle.user},
                       {"SSL Mode", npgsql_sslmode(sslmode)},
                       {"Root Certificate", bundle.root_cert},
                       {"SSL Certificate", bundle.cert},
                       {"SSL Key", bundle.key}};
            all.insert(all.end(), extra.begin(), extra.end());
            for (const auto& [k, v] : all) out.line += (out.line.empty() ? "" : ";") + k + "=" + npgsql_value(v);
            return out;
        }
    }
    throw Error(ErrorKind::internal, "render_connect: unknown driver");
}

namespace ops {
namespace {

// The one place an endpoint is found: a pooler of the applied profile that pools the role, or a
// server (the first when none is named).
Endpoint resolve_endpoint(const Profile& applied, const ConnectOptions& options, const std::string& dir) {
    if (!options.pooler.empty()) {
        const PoolerSpec* p = applied.find_pooler(options.pooler);
        if (p == nullptr) {
            std::string names;
            for (const auto& q : applied.poolers) names += (names.empty() ? "" : ", ") + q.name;
            throw Error(ErrorKind::input, "no pooler named \"" + options.pooler + "\" in the profile applied to " +
                                              dir + " (poolers: " + (names.empty() ? std::string("none") : names) + ")");
        }
        if (!p->pools(options.user))
            throw Error(ErrorKind::input, "pooler \"" + p->name + "\" does not pool role \"" + options.user +
                                              "\" (its \"users\" in the profile applied to " + dir + ")");
        return Endpoint{"pooler", p->name, p->hosts, p->port};
    }
    if (applied.servers.empty())
        throw Error(ErrorKind::input, "the profile applied to " + dir + " lists no servers (run `pgca apply` with one)");
    const ServerSpec* s = options.server.empty() ? &applied.servers.front() : applied.find_server(options.server);
    if (s == nullptr) {
        std::string names;
        for (const auto& sv : applied.servers) names += (names.empty() ? "" : ", ") + sv.name;
        throw Error(ErrorKind::input, "no server named \"" + options.server + "\" in the profile applied to " + dir +
                                          " (servers: " + names + ")");
    }
    Endpoint e{"server", s->name, s->hosts, 5432};
    auto port = applied.client_settings.find("port");
    if (s->port)
        e.port = *s->port;
    else if (port != applied.client_settings.end())
        e.port = std::stoi(port->second);
    return e;
}

}  // namespace

ConnectResult connect(const std::string& dir, const ConnectOptions& options) {
    OpenOptions open;
    open.read_only = true;
    auto pki = PkiDir::open(dir, open);
    const Profile applied = applied_profile(*pki);
    ConnectResult result;
    result.endpoint = resolve_endpoint(applied, options, pki->layout().dir());
    const io::Layout& l = pki->layout();
    using L = io::Layout;
    ClientBundle bundle{options.user, l.client_file(options.user, L::kTrust), l.client_file(options.user, L::kClientCert),
                        l.client_file(options.user, L::kClientKey), "", "", ""};
    for (const auto& path : {bundle.cert, bundle.key, bundle.root_cert})
        if (!io::exists(path))
            throw Error(ErrorKind::input, "no client bundle for role \"" + options.user + "\" in " + l.dir() + " (" +
                                              path + " is missing; is the role in the profile's clients?)");
    if (io::exists(l.client_file(options.user, L::kClientPk8))) bundle.pk8 = l.client_file(options.user, L::kClientPk8);
    if (io::exists(l.client_file(options.user, L::kClientP12))) bundle.p12 = l.client_file(options.user, L::kClientP12);
    // The passphrase is read only for the one driver that needs it in its line.
    if (options.driver == Driver::jdbc && bundle.pk8.empty() && !bundle.p12.empty()) {
        if (applied.defaults.p12_passphrase.empty())
            throw Error(ErrorKind::input, bundle.p12 + ": the applied profile names no defaults.p12_passphrase");
        bundle.p12_passphrase =
            in_context("defaults.p12_passphrase", [&] { return read_passphrase(applied.defaults.p12_passphrase); });
    }
    auto db = applied.client_settings.find("dbname");
    result.dbname = db != applied.client_settings.end() ? db->second : options.user;
    result.line = render_connect(options.driver, result.endpoint, bundle, result.dbname, applied.client_settings);
    return result;
}

}  // namespace ops
}  // namespace pgca
