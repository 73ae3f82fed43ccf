#include "pgca/pg_syntax.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <string>

#include "pgca/error.hpp"
#include "pgca/name.hpp"

namespace pgca::pg {
namespace {

constexpr std::array<std::string_view, 14> kMethods{
    "trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi",
    "ident", "peer", "ldap", "radius", "cert", "pam", "bsd"};

// hba.c: "authentication option \"map\" is only valid for authentication methods ident, peer,
// gssapi, sspi, and cert".
constexpr std::array<std::string_view, 5> kMapMethods{"ident", "peer", "gss", "sspi", "cert"};

bool is_database_keyword(std::string_view t) {
    return t == "all" || t == "sameuser" || t == "samerole" || t == "samegroup" || t == "replication";
}

// Characters that end or change an unquoted hba token (hba.c next_token): blanks and commas end
// it, '#' starts a comment, '"' starts quoting.
bool needs_quotes(std::string_view t) {
    if (t.empty()) return true;
    if (t.front() == '+' || t.front() == '@' || t.front() == '/') return true;
    for (char c : t)
        if (c == ' ' || c == '\t' || c == ',' || c == '#' || c == '"' || c == '\\') return true;
    return false;
}

// hba.c MAX_TOKEN: the size of next_token()'s buffer, its '\0' included.
constexpr std::size_t kMaxHbaToken = 10240;

// fe-connect.c parseServiceFile: fgets() into char buf[1024]; a line of 1022 bytes or more with
// its newline is "too long".
constexpr std::size_t kMaxServiceLine = 1021;

constexpr const char* kConfControlReason =
    " (PostgreSQL's configuration parser ends a setting at a newline and pgca writes no other control "
    "characters into postgresql.conf or pg_service.conf)";

bool parse_cidr(std::string_view address) {
    auto slash = address.find('/');
    if (slash == std::string_view::npos) return false;
    std::string ip(address.substr(0, slash));
    std::string bits(address.substr(slash + 1));
    if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit)) return false;
    int n = std::atoi(bits.c_str());
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) == 1) return n <= 32;
    if (inet_pton(AF_INET6, ip.c_str(), buf) == 1) return n <= 128;
    return false;
}

// A colon-separated list of names from `known`, none twice: what OpenSSL's list setters read.
void colon_list(const std::string& value, const std::string& setting, std::initializer_list<const char*> known) {
    std::string names;
    for (const char* k : known) names += (names.empty() ? "" : ", ") + std::string(k);
    std::set<std::string> seen;
    for (std::size_t start = 0; start <= value.size();) {
        const std::size_t end = std::min(value.find(':', start), value.size());
        const std::string item = value.substr(start, end - start);
        if (std::none_of(known.begin(), known.end(), [&](const char* k) { return item == k; }))
            throw Error(ErrorKind::policy, setting + ": unknown name \"" + item + "\" (known: " + names +
                                               "; a string is split at ':')");
        if (!seen.insert(item).second) throw Error(ErrorKind::policy, setting + ": \"" + item + "\" is listed twice");
        start = end + 1;
    }
}

}  // namespace

bool is_connection_type(std::string_view type) {
    static constexpr std::array<std::string_view, 6> kTypes{"local", "host", "hostssl", "hostnossl", "hostgssenc",
                                                            "hostnogssenc"};
    return std::find(kTypes.begin(), kTypes.end(), type) != kTypes.end();
}

bool is_auth_method(std::string_view method) {
    return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

bool takes_map(std::string_view method) {
    return std::find(kMapMethods.begin(), kMapMethods.end(), method) != kMapMethods.end();
}

std::string auth_method_names() {
    std::string out;
    for (auto m : kMethods) {
        if (!out.empty()) out += ", ";
        out += m;
    }
    return out;
}

namespace {

std::size_t max_hba_token(std::string_view token, std::string_view field, bool literal, bool before_comma) {
    // hba.c next_token() reads into a MAX_TOKEN (10240) buffer that keeps room for its '\0' and
    // checks for room before each character it reads, a closing quote and a list's comma
    // included. Measured on PostgreSQL 15.18 (tests/integration/pg_limits_test.cpp).
    if (token.empty()) return kMaxHbaToken - 2;
    const bool quoted = hba_token(token, field == "database", literal).front() == '"';
    return quoted || before_comma ? kMaxHbaToken - 2 : kMaxHbaToken - 1;
}

}  // namespace

void validate_hba_token(std::string_view token, std::string_view field, bool literal, bool before_comma) {
    std::string what = std::string(field) + " \"" + std::string(token) + "\"";
    if (token.empty()) throw Error(ErrorKind::policy, std::string(field) + ": a name must not be empty");
    require_printable_utf8(token, std::string(field));
    if (const std::size_t max = max_hba_token(token, field, literal, before_comma); token.size() > max)
        throw Error(ErrorKind::policy,
                    std::string(field) + " \"" + std::string(token.substr(0, 24)) + "…\": " +
                        std::to_string(token.size()) + " bytes; PostgreSQL 15 reads at most " + std::to_string(max) +
                        " bytes in a pg_hba.conf token " +
                        (max == kMaxHbaToken - 1 ? std::string("written bare")
                         : before_comma && !needs_quotes(token) ? std::string("followed by a list's comma")
                                                                : std::string("written in quotes")) +
                        " and refuses longer ones (\"authentication file token too long\")");
    if (token.front() == '/')
        throw Error(ErrorKind::policy, what + ": names starting with '/' are regular expressions in PostgreSQL 16+ "
                                              "pg_hba.conf, even when quoted");
    if (!literal && (token.front() == '+' || token.front() == '@')) {
        std::string_view rest = token.substr(1);
        if (rest.empty() || needs_quotes(rest))
            throw Error(ErrorKind::policy, what + ": a " + (token.front() == '+' ? "+group" : "@file") +
                                               " reference whose name needs quoting cannot be written (quoting "
                                               "removes the '" + std::string(1, token.front()) + "' meaning)");
    }
}

void validate_hba_address(std::string_view address) {
    std::string a(address);
    require_printable_utf8(address, "address");
    if (a == "all" || a == "samehost" || a == "samenet") return;
    if (a.find('/') != std::string::npos) {
        if (!parse_cidr(a))
            throw Error(ErrorKind::policy, "\"" + a + "\" is not a valid CIDR address (a.b.c.d/0-32 or x:y::z/0-128)");
        return;
    }
    if (is_ip_literal(a))
        throw Error(ErrorKind::policy, "\"" + a + "\" has no mask; PostgreSQL needs one (write \"" + a +
                                           (a.find(':') != std::string::npos ? "/128" : "/32") + "\")");
    // A leading '.' matches a whole domain (hba.c: "suffix match").
    std::string_view host = address;
    if (!host.empty() && host.front() == '.') host.remove_prefix(1);
    validate_host(host, "address");
}

void validate_conf_path(std::string_view path, std::string_view what) {
    if (path.empty()) throw Error(ErrorKind::policy, std::string(what) + ": must not be empty");
    try {
        require_printable_utf8(path, what);
    } catch (const Error& e) {
        throw Error(ErrorKind::policy, e.what() + std::string(kConfControlReason));
    }
}

void validate_server_setting(std::string_view name, std::string_view value) {
    std::string n(name), v(value);
    auto bad = [&](const std::string& why) { throw Error(ErrorKind::policy, why); };
    require_printable_utf8(value, n);
    static const std::set<std::string> managed = {"ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file",
                                                  "ssl_crl_file", "ssl_crl_dir"};
    if (managed.count(n) != 0) bad(n + " is written by pgca itself and cannot be set in the profile");
    static const std::set<std::string> versions = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
    if (n == "ssl_min_protocol_version") {
        if (versions.count(v) == 0) bad("must be one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (case matters)");
        if (v == "TLSv1" || v == "TLSv1.1") bad(v + " is obsolete (RFC 8996) and refused by OpenSSL 3's default security level; use TLSv1.2");
    } else if (n == "ssl_max_protocol_version") {
        if (!v.empty() && versions.count(v) == 0) bad("must be '' or one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3");
    } else if (n == "ssl_ecdh_curve") {
        // PostgreSQL <= 17 takes ONE OpenSSL short name; "P-384" or lists fail with
        // "ECDH: unrecognized curve name", and X25519 with "ECDH: could not create key".
        if (v != "prime256v1" && v != "secp384r1" && v != "secp521r1")
            bad("must be one OpenSSL curve short name: prime256v1, secp384r1 or secp521r1 (PostgreSQL 15 "
                "refuses lists, NIST names such as P-384, and X25519; on 18 use ssl_groups)");
    } else if (n == "ssl_groups") {
        // 18: a colon-separated list, the server's order of preference. A misspelt name stops the
        // whole TLS configuration ("could not set group names specified in ssl_groups: No valid
        // groups found"), a comma too.
        colon_list(v, n, {"X25519", "X448", "prime256v1", "secp384r1", "secp521r1", "P-256", "P-384", "P-521"});
    } else if (n == "ssl_tls13_ciphers") {
        // 18; a misspelt suite: "could not set the TLSv1.3 cipher suites (no valid ciphers available)".
        colon_list(v, n, {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
                          "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"});
    } else if (n == "ssl_prefer_server_ciphers") {
        if (v != "on" && v != "off" && v != "true" && v != "false") bad("must be on or off");
    } else if (n == "ssl_ciphers") {
        if (v.empty()) bad("must not be empty");
    } else if (n == "ssl_dh_params_file") {
        validate_conf_path(v, n);
    } else {
        bad("unknown or unsupported server setting \"" + n +
            "\" (supported: ssl_min_protocol_version, ssl_max_protocol_version, ssl_ciphers, "
            "ssl_prefer_server_ciphers, ssl_ecdh_curve, ssl_dh_params_file; from PostgreSQL 18: ssl_groups, "
            "ssl_tls13_ciphers)");
    }
}

void validate_client_setting(std::string_view name, std::string_view value) {
    std::string n(name), v(value);
    auto bad = [&](const std::string& why) { throw Error(ErrorKind::policy, why); };
    require_printable_utf8(value, n);
    auto one_of = [&](std::initializer_list<const char*> allowed) {
        for (const char* a : allowed)
            if (v == a) return;
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        bad("invalid " + n + " value \"" + v + "\" (libpq accepts: " + list + ")");
    };
    if (n == "sslrootcert" || n == "sslcert" || n == "sslkey")
        bad(n + " is written by pgca itself and cannot be set in the profile");
    // libpq's parseServiceFile drops blanks at the end of a line and refuses a line that does not
    // fit its 1024-byte buffer with the newline and a '\0' ("line N too long in service file").
    if (!v.empty() && v.back() == ' ')
        bad(n + " \"" + v + "\" ends with a blank, which libpq's pg_service.conf reader removes");
    if (n.size() + 1 + v.size() > kMaxServiceLine)
        bad(n + "=… would be a line of " + std::to_string(n.size() + 1 + v.size()) +
            " bytes in pg_service.conf; libpq 15 reads at most " + std::to_string(kMaxServiceLine));
    if (n == "sslmode") {
        one_of({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"});
        if (v == "disable" || v == "allow" || v == "prefer")
            bad("sslmode \"" + v + "\" may fall back to an unencrypted connection; use require, verify-ca or "
                "verify-full");
    } else if (n == "channel_binding") {
        one_of({"disable", "prefer", "require"});
    } else if (n == "gssencmode") {
        one_of({"disable", "prefer", "require"});
    } else if (n == "sslsni" || n == "sslcompression") {
        one_of({"0", "1"});
    } else if (n == "ssl_min_protocol_version" || n == "ssl_max_protocol_version") {
        one_of({"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"});
    } else if (n == "target_session_attrs") {
        one_of({"any", "read-write", "read-only", "primary", "standby", "prefer-standby"});
    } else if (n == "connect_timeout" || n == "port") {
        if (v.empty() || v.size() > 5 || !std::all_of(v.begin(), v.end(), ::isdigit)) bad(n + " must be a number");
    } else if (n == "dbname" || n == "application_name" || n == "sslcrl" || n == "sslcrldir") {
        if (v.empty()) bad(n + " must not be empty");
    } else if (n == "sslnegotiation") {
        one_of({"postgres", "direct"});
    } else if (n == "sslcertmode") {
        one_of({"disable", "allow", "require"});
    } else if (n == "require_auth") {
        // fe-connect.c: a comma-separated list of methods, all negated with '!' or none.
        std::size_t negated = 0, count = 0;
        std::set<std::string> seen;
        for (std::size_t start = 0; start <= v.size(); ++count) {
            std::size_t end = std::min(v.find(',', start), v.size());
            std::string m = v.substr(start, end - start);
            if (!m.empty() && m.front() == '!') {
                m.erase(0, 1);
                ++negated;
            }
            if (m != "password" && m != "md5" && m != "gss" && m != "sspi" && m != "scram-sha-256" && m != "none")
                bad("invalid require_auth method \"" + m + "\" (libpq 16 accepts a comma-separated list of "
                    "password, md5, gss, sspi, scram-sha-256, none, each optionally prefixed with !)");
            if (!seen.insert(m).second) bad("require_auth method \"" + m + "\" is listed twice");
            start = end + 1;
        }
        if (negated != 0 && negated != count) bad("require_auth cannot mix negated (!) and plain methods");
    } else {
        bad("unknown or unsupported client setting \"" + n +
            "\" (supported: sslmode, channel_binding, gssencmode, sslsni, sslcompression, "
            "ssl_min_protocol_version, ssl_max_protocol_version, target_session_attrs, connect_timeout, port, "
            "dbname, application_name, sslcrl, sslcrldir; from libpq 16: sslcertmode, require_auth; from libpq 17: "
            "sslnegotiation)");
    }
}

int server_setting_since(std::string_view name) {
    return name == "ssl_groups" || name == "ssl_tls13_ciphers" ? 18 : kOldestMajor;
}

int client_setting_since(std::string_view name) {
    if (name == "sslnegotiation") return 17;
    return name == "sslcertmode" || name == "require_auth" ? 16 : kOldestMajor;
}

std::string quote_name(std::string_view token) {
    bool keyword = is_database_keyword(token);
    if (!keyword && !needs_quotes(token)) return std::string(token);
    std::string out = "\"";
    for (char c : token) {
        if (c == '"') out += '"';  // hba.c: a doubled quote inside quotes is a literal quote
        out += c;
    }
    out += '"';
    return out;
}

std::string hba_token(std::string_view token, bool database_field, bool literal) {
    if (literal) return quote_name(token);
    if (token == "all") return "all";
    if (database_field && is_database_keyword(token)) return std::string(token);
    if (!database_field && (token.front() == '+' || token.front() == '@')) return std::string(token);
    if (database_field && token.front() == '@') return std::string(token);
    return quote_name(token);
}

std::string conf_string(std::string_view value) {
    // guc-file.l reads '…' with '' or \' as a quote and backslash escapes (\t is a TAB, \\ a
    // backslash, \101 an 'A'); a newline ends the line, so no string can hold one.
    std::string out = "'";
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", u);
            throw Error(ErrorKind::policy, std::string("a postgresql.conf string cannot hold a control character (byte ") +
                                               hex + ")" + kConfControlReason);
        }
        if (c == '\'' || c == '\\') out += c;
        out += c;
    }
    out += '\'';
    return out;
}

}  // namespace pgca::pg
