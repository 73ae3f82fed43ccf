#include "pgca/pg.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "pgca/error.hpp"
#include "pgca/name.hpp"
#include "pgca/profile.hpp"

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

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
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

// "hba[3].clientcert: …" when `why` starts with a field name and a colon, "hba[3]: …" otherwise.
[[noreturn]] void rule_error(std::size_t i, const std::string& why) {
    static const char* const fields[] = {"clientcert: ", "clientname: ", "method: ", "map: ", "user: "};
    for (const char* f : fields)
        if (why.rfind(f, 0) == 0) throw Error(ErrorKind::profile, "hba[" + std::to_string(i) + "]." + why);
    throw Error(ErrorKind::profile, "hba[" + std::to_string(i) + "]: " + why);
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

}  // namespace

AccessPlan plan_access_unnamed(const Profile& profile);

bool is_auth_method(std::string_view method) {
    return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
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
                "refuses lists, NIST names such as P-384, and X25519)");
    } else if (n == "ssl_prefer_server_ciphers") {
        if (v != "on" && v != "off" && v != "true" && v != "false") bad("must be on or off");
    } else if (n == "ssl_ciphers") {
        if (v.empty()) bad("must not be empty");
    } else if (n == "ssl_dh_params_file") {
        validate_conf_path(v, n);
    } else {
        bad("unknown or unsupported server setting \"" + n +
            "\" (supported: ssl_min_protocol_version, ssl_max_protocol_version, ssl_ciphers, "
            "ssl_prefer_server_ciphers, ssl_ecdh_curve, ssl_dh_params_file)");
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
    } else {
        bad("unknown or unsupported client setting \"" + n +
            "\" (supported: sslmode, channel_binding, gssencmode, sslsni, sslcompression, "
            "ssl_min_protocol_version, ssl_max_protocol_version, target_session_attrs, connect_timeout, port, "
            "dbname, application_name, sslcrl, sslcrldir)");
    }
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

AccessPlan plan_access(const Profile& profile) {
    // Errors name the profile file first, like the parser's ("profile.json: hba[3].clientcert: …").
    try {
        return plan_access_unnamed(profile);
    } catch (const Error& e) {
        if (profile.source.empty()) throw;
        throw e.with_context(profile.source);
    }
}

AccessPlan plan_access_unnamed(const Profile& profile) {
    AccessPlan plan;
    auto add_ident = [&](IdentLine line) {
        if (std::find(plan.ident.begin(), plan.ident.end(), line) == plan.ident.end())
            plan.ident.push_back(std::move(line));
    };
    auto ident_system_user = [](std::string_view cn, const std::string& where) {
        // pg_ident.conf reads a system-user starting with '/' as a regular expression, quoted or not.
        if (!cn.empty() && cn.front() == '/')
            throw Error(ErrorKind::profile, where + ": a CN starting with '/' cannot be mapped: pg_ident.conf would "
                                                    "read it as a regular expression");
    };
    // Every client whose CN is not its role name gets its map line (docs/design.md §4: "then map
    // is required: pgca then writes the pg_ident.conf line").
    for (std::size_t k = 0; k < profile.clients.size(); ++k) {
        const auto& c = profile.clients[k];
        if (c.cn.empty()) continue;
        ident_system_user(c.cn, "clients[" + std::to_string(k) + "].cn");
        add_ident({c.map, c.cn, c.user});
    }

    for (std::size_t i = 0; i < profile.hba.size(); ++i) {
        const HbaRule& r = profile.hba[i];
        AccessPlan::HbaLine line;
        line.rule = i;
        std::string clientcert = r.clientcert;
        std::string map = r.map;
        const bool hostssl = r.type == "hostssl";

        if (!clientcert.empty()) {
            if (clientcert != "verify-ca" && clientcert != "verify-full") {
                std::string hint = (clientcert == "1" || clientcert == "0" || clientcert == "no-verify")
                                       ? " (PostgreSQL 14 removed 1, 0 and no-verify: use verify-ca or verify-full, "
                                         "or leave clientcert out)"
                                       : "";
                rule_error(i, "clientcert: invalid value \"" + clientcert + "\"; PostgreSQL accepts verify-ca or "
                              "verify-full" + hint);
            }
            if (!hostssl) rule_error(i, "clientcert: PostgreSQL refuses it on \"" + r.type +
                                        "\" rows (PostgreSQL: clientcert can only be configured for \"hostssl\" rows)");
        }
        if (!r.clientname.empty()) {
            if (r.clientname != "CN" && r.clientname != "DN")
                rule_error(i, "clientname: invalid value \"" + r.clientname + "\"; PostgreSQL accepts CN or DN (case matters)");
            if (!hostssl) rule_error(i, "clientname: PostgreSQL refuses it on \"" + r.type +
                                        "\" rows (PostgreSQL: clientname can only be configured for \"hostssl\" rows)");
        }
        if (r.method == "cert") {
            if (!hostssl)
                rule_error(i, "method: cert needs a \"hostssl\" row (PostgreSQL: \"cert authentication is only "
                              "supported on hostssl connections\")");
            if (clientcert == "verify-ca") {
                std::string w = "hba[" + std::to_string(i) + "]: clientcert=verify-ca with method cert is refused by "
                                "PostgreSQL 14+ (clientcert only accepts \"verify-full\" when using \"cert\" "
                                "authentication); cert always verifies the whole certificate and matches its CN to "
                                "the role, so pgca writes the rule as plain \"cert\"";
                plan.warnings.push_back(w);
                line.notes.push_back("pgca: profile asked for \"cert clientcert=verify-ca\", which PostgreSQL 14+ refuses;");
                line.notes.push_back("pgca: cert always implies clientcert=verify-full, so the option is left out.");
                clientcert.clear();
            }
        }
        if (!map.empty() && std::find(kMapMethods.begin(), kMapMethods.end(), r.method) == kMapMethods.end())
            rule_error(i, "map: PostgreSQL refuses it with method " + r.method + " (PostgreSQL: authentication option \"map\" "
                          "is only valid for authentication methods ident, peer, gssapi, sspi, and cert)");

        // Which known clients can this rule match?
        std::vector<const ClientSpec*> covered;
        for (const auto& c : profile.clients)
            if (r.all_users() || r.names_user(c.user)) covered.push_back(&c);

        const bool dn = r.clientname == "DN";
        if (r.method == "cert") {
            if (dn) {
                if (map.empty()) {
                    std::set<std::string> maps;
                    for (const auto* c : covered)
                        if (!c->map.empty()) maps.insert(c->map);
                    if (maps.size() != 1)
                        rule_error(i, "clientname=DN compares the whole subject DN, which never equals a role name, "
                                      "so this rule needs \"map\"");
                    map = *maps.begin();
                }
                for (const auto* c : covered) {
                    add_ident({map, DistinguishedName::with_cn(c->common_name()).rfc2253(), c->user});
                }
            } else {
                std::set<std::string> maps;
                for (const auto* c : covered)
                    if (!c->map.empty()) maps.insert(c->map);
                if (map.empty() && maps.size() > 1)
                    rule_error(i, "covers clients with different maps (" +
                                      join(std::vector<std::string>(maps.begin(), maps.end()), ", ") +
                                      "); a cert rule takes one map, so split the rule per map");
                if (map.empty() && maps.size() == 1) {
                    map = *maps.begin();
                    line.notes.push_back("pgca: map=" + map + " added: it covers clients whose CN is not their role name");
                }
                if (!map.empty()) {
                    for (const auto* c : covered) {
                        if (c->cn.empty()) {
                            // With a map, PostgreSQL looks every login up in it; a client whose CN is
                            // its role name needs an identity line to keep working.
                            ident_system_user(c->user, "hba[" + std::to_string(i) + "]");
                            add_ident({map, c->user, c->user});
                        } else if (c->map != map) {
                            plan.warnings.push_back("hba[" + std::to_string(i) + "]: uses map " + map + ", but client \"" +
                                                    c->user + "\" has map " + c->map + "; pgca adds its line to " + map);
                            add_ident({map, c->cn, c->user});
                        }
                    }
                }
            }
        } else if (clientcert == "verify-full") {
            // No map is possible here, so the CN (or DN) must equal the role name exactly.
            for (const auto* c : covered) {
                if (dn || !c->cn.empty())
                    plan.warnings.push_back("hba[" + std::to_string(i) + "]: client \"" + c->user + "\" cannot pass "
                                            "clientcert=verify-full with method " + r.method + ": its certificate " +
                                            (dn ? "DN" : "CN \"" + c->cn + "\"") + " is not its role name, and "
                                            "PostgreSQL allows map= only with cert");
            }
        }

        line.fields.push_back(r.type);
        std::vector<std::string> toks;
        for (std::size_t k = 0; k < r.database.size(); ++k)
            toks.push_back(hba_token(r.database[k], true, r.database_literal[k]));
        line.fields.push_back(join(toks, ","));
        toks.clear();
        for (std::size_t k = 0; k < r.user.size(); ++k) toks.push_back(hba_token(r.user[k], false, r.user_literal[k]));
        line.fields.push_back(join(toks, ","));
        if (r.type != "local") line.fields.push_back(r.address);
        line.fields.push_back(r.method);
        if (!clientcert.empty()) line.fields.push_back("clientcert=" + clientcert);
        if (!r.clientname.empty()) line.fields.push_back("clientname=" + r.clientname);
        if (!map.empty()) line.fields.push_back("map=" + map);
        plan.hba.push_back(std::move(line));
    }
    return plan;
}

namespace {

std::string header(const Profile& profile, std::string_view file) {
    return "# " + std::string(file) + " written by pgca from profile \"" + profile.name +
           "\".\n# Edit the profile and run `pgca apply`, not this file.\n";
}

// Display width of UTF-8 text: its code points (continuation bytes do not count).
std::size_t text_width(const std::string& s) {
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
    return n;
}

// Pads columns so the file reads like a hand-written one; options stay in the last column.
std::string render_columns(const std::vector<std::vector<std::string>>& rows, std::size_t padded_columns) {
    std::vector<std::size_t> width(padded_columns, 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size() && c < padded_columns; ++c) width[c] = std::max(width[c], text_width(row[c]));
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c) {
            if (c != 0) line += ' ';
            line += row[c];
            if (c + 1 < row.size() && c < padded_columns) line.append(width[c] - text_width(row[c]), ' ');
        }
        out += line + "\n";
    }
    return out;
}

}  // namespace

std::string render_hba(const Profile& profile, const AccessPlan& plan) {
    std::string out = header(profile, "pg_hba.conf");
    out += "# The first matching line wins.\n";
    // Normalise rows to TYPE DATABASE USER ADDRESS METHOD [OPTIONS] so that columns line up
    // across the whole file; local rows get an empty address column.
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : plan.hba) {
        std::vector<std::string> row = line.fields;
        if (row[0] == "local") row.insert(row.begin() + 3, "");
        std::vector<std::string> compact(row.begin(), row.begin() + 5);
        std::string opts;
        for (std::size_t k = 5; k < row.size(); ++k) opts += (opts.empty() ? "" : " ") + row[k];
        if (!opts.empty()) compact.push_back(opts);
        rows.push_back(std::move(compact));
    }
    std::string table = render_columns(rows, 5);
    std::size_t pos = 0;
    for (const auto& line : plan.hba) {
        for (const auto& n : line.notes) out += "# " + n + "\n";
        std::size_t end = table.find('\n', pos);
        out += table.substr(pos, end + 1 - pos);
        pos = end + 1;
    }
    return out;
}

std::string render_ident(const Profile& profile, const AccessPlan& plan) {
    std::string out = header(profile, "pg_ident.conf");
    out += "# MAPNAME  SYSTEM-USERNAME (certificate CN, or RFC 2253 DN for clientname=DN)  PG-USERNAME\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : plan.ident) {
        // DNs (anything with '=') are always quoted, as docs/postgres-facts.md §2.5 advises; quoting never
        // makes a system-user a regex (only a leading '/' does, which plan_access refuses).
        std::string system_user = quote_name(l.system_user);
        if (system_user.front() != '"' && l.system_user.find('=') != std::string::npos)
            system_user = "\"" + system_user + "\"";
        rows.push_back({l.map, system_user, quote_name(l.pg_user)});
    }
    out += render_columns(rows, 2);
    return out;
}

std::string render_server_conf(const Profile& profile, const ServerSpec& server, const ServerFiles& files) {
    std::string out = "# ssl settings for server \"" + server.name + "\", written by pgca from profile \"" +
                      profile.name + "\".\n# Use it from postgresql.conf with:  include " +
                      conf_string((server.install_dir.empty() ? std::string("…") : server.install_dir) +
                                  "/postgresql.ssl.conf") +
                      "\n# then `SELECT pg_reload_conf();` (no restart is needed).\n";
    out += "ssl = on\n";
    out += "ssl_cert_file = " + conf_string(files.cert) + "\n";
    out += "ssl_key_file = " + conf_string(files.key) + "\n";
    out += "ssl_ca_file = " + conf_string(files.ca) + "\n";
    // PostgreSQL sets CRL_CHECK_ALL once any CRL is configured: every CA in the chain needs one,
    // which is what pgca writes. The file needs a reload after a revocation; the hashed
    // directory is read per connection.
    if (server.crl == "dir")
        out += "ssl_crl_dir = " + conf_string(files.crl_dir) + "\n";
    else
        out += "ssl_crl_file = " + conf_string(files.crl_file) + "\n";
    if (!server.key_passphrase.empty()) {
        // An encrypted key: PostgreSQL runs this command at start and, with supports_reload,
        // at every reload (otherwise a reload fails with "cannot be reloaded because it
        // requires a passphrase" and rotation would need a restart).
        out += "ssl_passphrase_command = " + conf_string(passphrase_command(server.key_passphrase)) + "\n";
        out += "ssl_passphrase_command_supports_reload = on\n";
    }
    for (const auto& [k, v] : profile.server_settings) out += k + " = " + conf_string(v) + "\n";
    return out;
}

std::string render_service(const Profile& profile, const ClientSpec& client, const ClientFiles& files) {
    // libpq's parseServiceFile takes everything after the first '=' up to the end of the line,
    // with no quoting, and drops the blanks at its end, so values are written as they are
    // (validated to hold no control characters and to end with no blank).
    auto section = [&](const std::string& name, const ServerSpec* server) {
        std::string out = "[" + name + "]\n";
        if (server != nullptr) out += "host=" + server->hosts.front() + "\n";
        out += "user=" + client.user + "\n";
        for (const auto& [k, v] : profile.client_settings) out += k + "=" + v + "\n";
        out += "sslrootcert=" + files.root_cert + "\n";
        out += "sslcert=" + files.cert + "\n";
        out += "sslkey=" + files.key + "\n";
        return out;
    };
    std::string out = "# libpq service file for role \"" + client.user + "\", written by pgca from profile \"" +
                      profile.name + "\".\n# Use: PGSERVICEFILE=<this file> psql \"service=" + profile.name +
                      " dbname=…\"\n";
    out += section(profile.name, profile.servers.empty() ? nullptr : &profile.servers.front());
    if (profile.servers.size() > 1)
        for (const auto& s : profile.servers) out += "\n" + section(profile.name + "-" + s.name, &s);
    return out;
}

}  // namespace pgca::pg
