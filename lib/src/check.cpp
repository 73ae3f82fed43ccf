// pgca check: every file a PostgreSQL TLS deployment depends on, and the live server, checked
// against what PostgreSQL 15 and libpq refuse (docs/postgres-facts.md). The rules themselves are
// the project's: key modes (§1.2, §3.4), CRL_CHECK_ALL (§1.4), verify-full names
// (libpq_name_matches), hba lines (pg_syntax, plan_access), EdDSA signatures (lint).
// This file is the only user of libpq in the library.
#include "pgca/check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "parallel.hpp"
#include "pgca/certificate.hpp"
#include "pgca/crl.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/key.hpp"
#include "pgca/ledger.hpp"
#include "pgca/lint.hpp"
#include "pgca/pg_access.hpp"
#include "pgca/pg_syntax.hpp"
#include "pgca/pki.hpp"
#include "pgca/plan.hpp"
#include "pgca/probe.hpp"

namespace pgca::check {

std::string_view to_string(Severity s) noexcept { return s == Severity::error ? "error" : "warning"; }

bool Result::has_error() const noexcept {
    return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == Severity::error; });
}

namespace {

constexpr std::time_t kDay = 86400;
// PostgreSQL's CONF_FILE_MAX_DEPTH: deeper includes are refused ("maximum nesting depth exceeded").
constexpr int kMaxIncludeDepth = 10;
// More configuration files than any real server has: beyond this the check stops reading.
constexpr std::size_t kMaxConfFiles = 1000;

class Report {
public:
    void add(Severity s, std::string code, std::string object, std::string message, std::string fix) {
        std::lock_guard<std::mutex> guard(mutex_);
        (s == Severity::error ? errors_ : warnings_)
            .push_back({std::move(code), s, std::move(object), std::move(message), std::move(fix)});
    }
    void error(std::string code, std::string object, std::string message, std::string fix) {
        add(Severity::error, std::move(code), std::move(object), std::move(message), std::move(fix));
    }
    void warning(std::string code, std::string object, std::string message, std::string fix) {
        add(Severity::warning, std::move(code), std::move(object), std::move(message), std::move(fix));
    }
    std::vector<Finding> take() {
        std::vector<Finding> out = std::move(errors_);
        out.insert(out.end(), warnings_.begin(), warnings_.end());
        return out;
    }

private:
    std::mutex mutex_;
    std::vector<Finding> errors_;
    std::vector<Finding> warnings_;
};

struct Ctx {
    const Options& options;
    std::time_t now;
    Report report;
};

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string dirname_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string resolve(const std::string& base_dir, const std::string& path) {
    return !path.empty() && path.front() == '/' ? path : base_dir + "/" + path;
}

// The whole file, or std::nullopt after reporting why it could not be read.
std::optional<std::string> read_input(Ctx& c, const std::string& path, const std::string& what) {
    try {
        auto text = io::try_read_file(path);
        if (!text)
            c.report.error("file-missing", path, what + " " + quoted(path) + " does not exist",
                           "put the file in place, or correct the setting that names it");
        return text;
    } catch (const Error& e) {
        c.report.error("file-unreadable", path, what + ": " + e.what(), "make it a readable regular file");
        return std::nullopt;
    }
}

// Every PEM block of `label` ("X509 CRL") in `text`, each whole.
std::vector<std::string> pem_blocks(std::string_view text, std::string_view label) {
    const std::string begin = "-----BEGIN " + std::string(label) + "-----";
    const std::string end = "-----END " + std::string(label) + "-----";
    std::vector<std::string> out;
    for (std::size_t at = text.find(begin); at != std::string_view::npos; at = text.find(begin, at)) {
        std::size_t stop = text.find(end, at);
        if (stop == std::string_view::npos) break;
        stop += end.size();
        out.emplace_back(text.substr(at, stop - at));
        at = stop;
    }
    return out;
}

std::set<std::string> fingerprints(const std::vector<Certificate>& certs) {
    std::set<std::string> out;
    for (const auto& c : certs) out.insert(c.sha256_fingerprint());
    return out;
}

// The certificate among `candidates` that signed `cert` (not `cert` itself unless self-signed).
const Certificate* find_issuer(const Certificate& cert, const std::vector<Certificate>& candidates) {
    for (const auto& c : candidates)
        if (cert.issued_by(c)) return &c;
    return nullptr;
}

// Whether `leaf` reaches one of `trusted` through the certificates in `pool`, as a verifier would
// build the path (validity is reported on its own).
bool reaches(const Certificate& leaf, const std::vector<Certificate>& pool, const std::vector<Certificate>& trusted) {
    const std::set<std::string> roots = fingerprints(trusted);
    const Certificate* cur = &leaf;
    for (int step = 0; step < 8; ++step) {
        if (roots.count(cur->sha256_fingerprint()) != 0 || find_issuer(*cur, trusted) != nullptr) return true;
        const Certificate* next = nullptr;
        for (const auto& p : pool)
            if (p.sha256_fingerprint() != cur->sha256_fingerprint() && cur->issued_by(p)) next = &p;
        if (next == nullptr) return false;
        cur = next;
    }
    return false;
}

std::string subject_of(const Certificate& c) { return c.subject_rfc2253(); }

void check_expiry(Ctx& c, const std::string& object, const std::string& what, std::time_t not_after) {
    if (not_after <= c.now) {
        c.report.error("cert-expired", object, what + " expired " + format_time(not_after) + "; PostgreSQL and libpq refuse it",
                       "renew it (`pgca rotate`, `pgca apply`) and reload the server");
    } else if (not_after - c.now < static_cast<std::time_t>(c.options.expiring_days) * kDay) {
        c.report.warning("cert-expiring", object,
                         what + " expires " + format_time(not_after) + ", in " +
                             std::to_string((not_after - c.now) / kDay) + " days",
                         "renew it (`pgca rotate --within " + std::to_string(c.options.expiring_days) +
                             "`, `pgca apply`)");
    }
}

// The owner and mode rule PostgreSQL's server (§1.2) and libpq (§3.4) apply to a private key:
// owned by root, at most 0640; any other owner, at most 0600. The server also wants the owner to
// be the database user or root (`db_uid`, when known).
void check_key_mode(Ctx& c, const std::string& path, bool server, std::optional<uid_t> db_uid, bool follow) {
    struct stat st {};
    if ((follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0) return;  // reported by the read
    const std::string code = server ? "server-key-mode" : "client-key-mode";
    if (!S_ISREG(st.st_mode)) {
        c.report.error(code, path, "the private key is not a regular file", "replace it with the key file itself");
        return;
    }
    if (server && db_uid && st.st_uid != *db_uid && st.st_uid != 0)
        c.report.error("server-key-owner", path,
                       "owned by uid " + std::to_string(st.st_uid) + ": PostgreSQL says \"private key file \\\"" + path +
                           "\\\" must be owned by the database user or root\"",
                       "chown postgres " + path + " (or root:postgres with mode 0640)");
    const mode_t bad = st.st_uid == 0 ? (S_IWGRP | S_IXGRP | S_IRWXO) : (S_IRWXG | S_IRWXO);
    if ((st.st_mode & bad) == 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    const std::string who = server ? "PostgreSQL refuses it (\"private key file \\\"" + path +
                                         "\\\" has group or world access\"): the server does not start, or a reload keeps the old files"
                                   : "libpq refuses it (\"private key file \\\"" + path +
                                         "\\\" has group or world access\"): no certificate login from this bundle";
    c.report.error(code, path, std::string("mode ") + mode + (st.st_uid == 0 ? " owned by root: " : ": ") + who,
                   st.st_uid == 0 ? "chmod 0640 " + path : "chmod 0600 " + path);
}

// ---- postgresql.conf and its includes -------------------------------------------------------

struct Setting {
    std::string value;
    std::string file;
    int line = 0;
};

// Reads postgresql.conf the way guc-file.l does: `name [=] value`, values bare or in '…' (with
// '' and backslash escapes), `#` comments, include / include_if_exists (relative to the
// including file) and include_dir (its *.conf files, by name). Bounded: at most
// kMaxIncludeDepth levels and kMaxConfFiles files; a file that includes itself (by any path,
// links included) is reported, not followed.
class ConfReader {
public:
    explicit ConfReader(Ctx& c) : c_(c) {}

    void read(const std::string& path, bool must_exist, int depth) {
        if (depth > kMaxIncludeDepth) {
            c_.report.error("conf-include-depth", path,
                            "includes nest deeper than " + std::to_string(kMaxIncludeDepth) +
                                " levels; PostgreSQL refuses the configuration (\"maximum nesting depth exceeded\")",
                            "flatten the includes");
            return;
        }
        if (++files_ > kMaxConfFiles) {
            if (files_ == kMaxConfFiles + 1)
                c_.report.error("conf-too-many-files", path,
                                "more than " + std::to_string(kMaxConfFiles) + " configuration files; stopped reading",
                                "remove the extra includes");
            return;
        }
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            if (must_exist)
                c_.report.error("file-missing", path, "configuration file " + quoted(path) + " does not exist",
                                "create it, or remove the include that names it");
            return;
        }
        const auto id = std::make_pair(st.st_dev, st.st_ino);
        if (std::find(stack_.begin(), stack_.end(), id) != stack_.end()) {
            c_.report.error("conf-include-loop", path,
                            quoted(path) + " includes itself (through " + std::to_string(stack_.size()) +
                                " files); PostgreSQL stops at its nesting limit and refuses the configuration",
                            "remove the include that leads back to it");
            return;
        }
        std::optional<std::string> text;
        try {
            text = io::try_read_file(path, io::kMaxProfileBytes);
        } catch (const Error& e) {
            c_.report.error("file-unreadable", path, e.what(), "make it a readable regular file");
            return;
        }
        if (!text) return;
        stack_.push_back(id);
        parse(*text, path, depth);
        stack_.pop_back();
    }

    [[nodiscard]] std::optional<Setting> get(const std::string& name) const {
        auto it = settings_.find(name);
        if (it == settings_.end()) return std::nullopt;
        return it->second;
    }

private:
    void parse(const std::string& text, const std::string& path, int depth) {
        std::istringstream lines(text);
        int number = 0;
        for (std::string line; std::getline(lines, line);) {
            ++number;
            std::string name, value, why;
            if (!parse_line(line, name, value, why)) {
                c_.report.error("conf-syntax", path + ":" + std::to_string(number),
                                why + "; PostgreSQL refuses the whole file (\"syntax error in file\")",
                                "correct the line");
                continue;
            }
            if (name.empty()) continue;
            const std::string here = dirname_of(path);
            if (name == "include" || name == "include_if_exists") {
                read(resolve(here, value), name == "include", depth + 1);
            } else if (name == "include_dir") {
                read_dir(resolve(here, value), depth + 1);
            } else {
                settings_[name] = {value, path, number};
            }
        }
    }

    void read_dir(const std::string& dir, int depth) {
        std::vector<std::string> names;
        try {
            names = io::list_dir(dir);
        } catch (const Error& e) {
            c_.report.error("file-unreadable", dir, e.what(), "make the include_dir folder readable");
            return;
        }
        for (const auto& n : names) {
            if (n.front() == '.' || n.size() < 6 || n.compare(n.size() - 5, 5, ".conf") != 0) continue;
            struct stat st {};
            const std::string p = dir + "/" + n;
            if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) read(p, true, depth);
        }
    }

    static bool parse_line(const std::string& line, std::string& name, std::string& value, std::string& why) {
        std::size_t i = 0;
        auto blank = [&] {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        };
        blank();
        if (i == line.size() || line[i] == '#') return true;
        while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) != 0 || line[i] == '_' ||
                                   line[i] == '.' || line[i] == '-'))
            name += static_cast<char>(std::tolower(static_cast<unsigned char>(line[i++])));
        if (name.empty()) {
            why = "a line that does not start with a setting name";
            return false;
        }
        blank();
        if (i < line.size() && line[i] == '=') ++i;
        blank();
        if (i < line.size() && line[i] == '\'') {
            for (++i;; ++i) {
                if (i >= line.size()) {
                    why = "an unterminated quoted string";
                    return false;
                }
                char ch = line[i];
                if (ch == '\'') {
                    if (i + 1 < line.size() && line[i + 1] == '\'') {
                        value += '\'';
                        ++i;
                        continue;
                    }
                    ++i;
                    break;
                }
                if (ch == '\\' && i + 1 < line.size()) {
                    char e = line[++i];
                    value += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
                    continue;
                }
                value += ch;
            }
        } else {
            while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '#' && line[i] != '\r')
                value += line[i++];
            if (value.empty()) {
                why = "setting " + quoted(name) + " has no value";
                return false;
            }
        }
        blank();
        if (i < line.size() && line[i] != '#') {
            why = "text after the value of " + quoted(name);
            return false;
        }
        return true;
    }

    Ctx& c_;
    std::map<std::string, Setting> settings_;
    std::vector<std::pair<dev_t, ino_t>> stack_;
    std::size_t files_ = 0;
};

// ---- pg_hba.conf ----------------------------------------------------------------------------

struct Token {
    std::string text;
    bool quoted = false;
};

// One pg_hba.conf line as PostgreSQL's next_field_expand() splits it: fields of comma-joined
// tokens, "…" quoting (with "" for a quote), a # comment to the end of the line.
std::vector<std::vector<Token>> hba_fields(const std::string& line) {
    std::vector<std::vector<Token>> fields;
    std::size_t i = 0;
    bool continues = false;
    while (i < line.size()) {
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])) != 0) ++i;
        if (i >= line.size() || line[i] == '#') break;
        Token t;
        bool in_quotes = false;
        while (i < line.size()) {
            char ch = line[i];
            if (in_quotes) {
                if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                    t.text += '"';
                    i += 2;
                    continue;
                }
                if (ch == '"') in_quotes = false;
                else t.text += ch;
                ++i;
                continue;
            }
            if (ch == '"') {
                in_quotes = true;
                t.quoted = true;
                ++i;
                continue;
            }
            if (std::isspace(static_cast<unsigned char>(ch)) != 0 || ch == ',' || ch == '#') break;
            t.text += ch;
            ++i;
        }
        const bool comma = i < line.size() && line[i] == ',';
        if (comma) ++i;
        if (continues) fields.back().push_back(std::move(t));
        else fields.push_back({std::move(t)});
        continues = comma;
    }
    return fields;
}

bool is_ip_literal(const std::string& s) {
    return !s.empty() && s.find('/') == std::string::npos &&
           s.find_first_not_of("0123456789.abcdefABCDEF:") == std::string::npos &&
           (s.find('.') != std::string::npos || s.find(':') != std::string::npos);
}

// "hba[0].clientcert: …" → "clientcert: …" (plan_access names its rules by index).
std::string without_rule_index(const std::string& message) {
    const std::string prefix = "hba[0]";
    if (message.rfind(prefix, 0) != 0) return message;
    std::string rest = message.substr(prefix.size());
    if (!rest.empty() && (rest.front() == '.' || rest.front() == ':')) rest.erase(0, rest[0] == '.' ? 1 : 2);
    return rest;
}

// Why PostgreSQL 15 would refuse this record, or "" when it loads.
std::string hba_refusal(const std::vector<std::vector<Token>>& fields, bool& dn_without_map) {
    dn_without_map = false;
    HbaRule r;
    r.type = fields[0][0].text;
    if (!pg::is_connection_type(r.type)) return "unknown connection type " + quoted(r.type);
    const bool local = r.type == "local";
    const std::size_t need = local ? 4 : 5;
    if (fields.size() < need)
        return std::string("the record is incomplete: it needs a type, a database, a user, ") +
               (local ? "" : "an address, ") + "and a method";
    try {
        for (int f = 1; f <= 2; ++f) {
            const auto& list = fields[static_cast<std::size_t>(f)];
            for (std::size_t k = 0; k < list.size(); ++k) {
                pg::validate_hba_token(list[k].text, f == 1 ? "database" : "user", list[k].quoted, k + 1 < list.size());
                (f == 1 ? r.database : r.user).push_back(list[k].text);
                (f == 1 ? r.database_literal : r.user_literal).push_back(list[k].quoted);
            }
        }
        std::size_t next = 3;
        if (!local) {
            r.address = fields[3][0].text;
            ++next;
            // "192.168.1.0 255.255.255.0": an address and a mask in two fields.
            if (is_ip_literal(r.address) && next < fields.size() && is_ip_literal(fields[next][0].text)) ++next;
            else pg::validate_hba_address(r.address);
        }
        if (next >= fields.size()) return "the record ends before its method";
        r.method = fields[next][0].text;
        if (!pg::is_auth_method(r.method))
            return "unknown authentication method " + quoted(r.method) + " (known: " + pg::auth_method_names() + ")";
        for (std::size_t k = next + 1; k < fields.size(); ++k) {
            const std::string& opt = fields[k][0].text;
            auto eq = opt.find('=');
            if (eq == std::string::npos) return "authentication option " + quoted(opt) + " is not in name=value format";
            const std::string name = opt.substr(0, eq), value = opt.substr(eq + 1);
            if (name == "clientcert") r.clientcert = value;
            else if (name == "clientname") r.clientname = value;
            else if (name == "map") r.map = value;
        }
        pg::AccessPlan plan = pg::plan_access({r}, {});
        // plan_access rewrites what PostgreSQL refuses but has a valid equivalent (and says so).
        if (!plan.hba.empty() && !plan.hba.front().notes.empty() && !plan.warnings.empty())
            return without_rule_index(plan.warnings.front());
    } catch (const Error& e) {
        std::string why = without_rule_index(e.what());
        if (why.find("needs \"map\"") != std::string::npos) {
            dn_without_map = true;
            return why;
        }
        return why;
    }
    return {};
}

void check_hba_file(Ctx& c, const std::string& path) {
    auto text = read_input(c, path, "pg_hba.conf");
    if (!text) return;
    std::istringstream lines(*text);
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        auto fields = hba_fields(line);
        if (fields.empty()) continue;
        bool dn_without_map = false;
        const std::string why = hba_refusal(fields, dn_without_map);
        if (why.empty()) continue;
        const std::string object = path + ":" + std::to_string(number);
        if (dn_without_map)
            c.report.warning("hba-never-matches", object, why + ": no certificate's DN equals a role name",
                             "add map=NAME and the pg_ident.conf lines");
        else
            c.report.error("hba-invalid", object, "PostgreSQL refuses this line: " + why +
                                                     " (the whole pg_hba.conf is then not loaded)",
                           "correct the line; `SELECT * FROM pg_hba_file_rules WHERE error IS NOT NULL` shows what "
                           "the server thinks");
    }
}

// ---- the server's TLS files -----------------------------------------------------------------

struct ServerFiles {
    std::string object;  ///< "server db1", or the postgresql.conf
    std::string name;    ///< the pgca server name, "" for a PGDATA
    std::string cert, key, ca, crl_file, crl_dir;
    std::optional<uid_t> db_uid;
    bool follow_links = true;  ///< false beneath a pgca folder
};

// The CRLs PostgreSQL would load from ssl_crl_file and ssl_crl_dir (hashed names only).
std::vector<Crl> load_crls(Ctx& c, const ServerFiles& f) {
    std::vector<Crl> out;
    auto parse_all = [&](const std::string& path, const std::string& text) {
        for (const auto& block : pem_blocks(text, "X509 CRL")) {
            try {
                out.push_back(Crl::from_pem(block, path));
            } catch (const Error& e) {
                c.report.error("crl-unreadable", path, e.what(), "replace it with a PEM CRL (`pgca crl`)");
            }
        }
    };
    if (!f.crl_file.empty())
        if (auto text = read_input(c, f.crl_file, "ssl_crl_file")) parse_all(f.crl_file, *text);
    if (!f.crl_dir.empty()) {
        std::vector<std::string> names;
        try {
            names = io::list_dir(f.crl_dir);
        } catch (const Error& e) {
            c.report.error("file-unreadable", f.crl_dir, e.what(), "make ssl_crl_dir a readable folder");
        }
        for (const auto& n : names) {
            // HHHHHHHH.rN: what OpenSSL's hashed lookup opens.
            if (n.size() < 11 || n[8] != '.' || n[9] != 'r' ||
                n.find_first_not_of("0123456789abcdef") != 8)
                continue;
            const std::string p = f.crl_dir + "/" + n;
            if (auto text = read_input(c, p, "CRL")) parse_all(p, *text);
        }
    }
    return out;
}

// CRL_CHECK_ALL (§1.4): once any CRL is configured, every CA of a client's chain needs a current
// CRL, or every certificate login through it is refused.
void check_crls(Ctx& c, const ServerFiles& f, const std::vector<Certificate>& client_cas) {
    if (f.crl_file.empty() && f.crl_dir.empty()) return;
    const std::vector<Crl> crls = load_crls(c, f);
    const std::string where = f.crl_dir.empty() ? f.crl_file : f.crl_dir;
    for (const auto& ca : client_cas) {
        const Crl* best = nullptr;
        for (const auto& crl : crls)
            if (crl.issued_by(ca) && (best == nullptr || crl.next_update() > best->next_update())) best = &crl;
        const std::string ca_name = subject_of(ca);
        if (best == nullptr) {
            c.report.error("crl-missing", where,
                           "no CRL of CA " + quoted(ca_name) +
                               (f.crl_dir.empty() ? std::string() : " under " + hashed_crl_name(ca)) +
                               ": PostgreSQL checks a CRL for every CA of a client's chain, so every certificate "
                               "login through this CA is refused (\"tlsv1 alert unknown ca\")",
                           "add the CA's CRL (`pgca crl` writes them all), then reload");
            continue;
        }
        const std::time_t next = best->next_update(), life = next - best->this_update();
        if (next <= c.now)
            c.report.error("crl-expired", where,
                           "the CRL of " + quoted(ca_name) + " expired " + format_time(next) +
                               ": every certificate login is refused (clients see \"sslv3 alert certificate expired\")",
                           "`pgca crl`, then reload the server");
        else if (next - c.now < life / 3)
            c.report.warning("crl-expiring", where,
                             "the CRL of " + quoted(ca_name) + " expires " + format_time(next) +
                                 "; past that, every certificate login is refused",
                             "`pgca crl` (or `pgca apply`), then reload the server");
    }
}

// The server's certificate, key, ssl_ca_file and CRLs. Returns the leaf it serves from disk.
std::optional<Certificate> check_server(Ctx& c, const ServerFiles& f, const std::vector<Certificate>& trusted,
                                        const std::vector<Certificate>& client_cas) {
    std::optional<Certificate> leaf;
    std::vector<Certificate> chain;
    if (auto pem = read_input(c, f.cert, "ssl_cert_file")) {
        try {
            chain = Certificate::chain_from_pem(*pem, f.cert);
            leaf = chain.front();
        } catch (const Error& e) {
            c.report.error("cert-unreadable", f.cert, e.what(), "replace it with the PEM certificate chain");
        }
    }
    check_key_mode(c, f.key, true, f.db_uid, f.follow_links);
    if (auto key_pem = read_input(c, f.key, "ssl_key_file"); key_pem && leaf && !PrivateKey::pem_is_encrypted(*key_pem)) {
        try {
            if (!leaf->matches(PrivateKey::from_pem(*key_pem, f.key)))
                c.report.error("key-cert-mismatch", f.key,
                               "the key does not belong to " + f.cert +
                                   ": PostgreSQL refuses it (\"key values mismatch\")",
                               "put the key and certificate of one issuance together (`pgca rotate --force`)");
        } catch (const Error& e) {
            c.report.error("key-unreadable", f.key, e.what(), "replace it with the PEM private key");
        }
    }
    if (!leaf) return leaf;
    for (std::size_t i = 0; i < chain.size(); ++i)
        check_expiry(c, f.cert, i == 0 ? f.object + "'s certificate" : "CA " + quoted(subject_of(chain[i])) + " in " + f.cert,
                     chain[i].not_after());
    std::vector<Certificate> pool = chain;
    pool.insert(pool.end(), trusted.begin(), trusted.end());
    if (const Certificate* issuer = find_issuer(*leaf, pool)) {
        for (const auto& l : lint_certificate(*leaf, *issuer))
            if (l.code == "signature-eddsa")
                c.report.error("server-cert-eddsa", f.cert,
                               "the server certificate is signed with EdDSA: libpq's SCRAM channel binding fails "
                               "(\"could not find digest for NID UNDEF\")",
                               "issue it from a CA with an EC or RSA key");
    }
    if (!trusted.empty() && !reaches(*leaf, chain, trusted))
        c.report.error("chain-untrusted", f.cert,
                       "the chain does not reach the root clients trust (" + quoted(subject_of(trusted.front())) +
                           "): sslmode=verify-ca and verify-full refuse the server",
                       "serve the leaf and its intermediates, issued under the clients' root");

    if (f.ca.empty()) {
        if (!client_cas.empty())
            c.report.error("ca-file-missing-ca", f.object, "ssl_ca_file is not set: no client certificate can be checked",
                           "set ssl_ca_file to the CAs of the client certificates");
    } else if (auto pem = read_input(c, f.ca, "ssl_ca_file")) {
        std::set<std::string> have;
        try {
            have = fingerprints(Certificate::chain_from_pem(*pem, f.ca));
        } catch (const Error& e) {
            c.report.error("cert-unreadable", f.ca, e.what(), "replace it with the PEM CA certificates");
        }
        for (const auto& ca : client_cas) {
            if (have.count(ca.sha256_fingerprint()) != 0) continue;
            // Without the root nothing verifies; without an intermediate, only clients that send it
            // after their leaf (pgca's bundles do) get in (§1.6).
            const bool root = ca.issued_by(ca);
            c.report.add(root ? Severity::error : Severity::warning, "ca-file-missing-ca", f.ca,
                         "CA " + quoted(subject_of(ca)) + " of the client certificates is not in ssl_ca_file: " +
                             (root ? "every client certificate it issued is refused"
                                   : "a client that does not send it after its leaf is refused") +
                             " (\"tlsv1 alert unknown ca\")",
                         "put every CA of the client chains into ssl_ca_file (pgca's servers/NAME/root.crt)");
        }
    }
    check_crls(c, f, client_cas);
    return leaf;
}

// ---- the live server ------------------------------------------------------------------------

struct PgConnDeleter {
    void operator()(PGconn* p) const noexcept { PQfinish(p); }
};
struct PgResultDeleter {
    void operator()(PGresult* p) const noexcept { PQclear(p); }
};

std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.pop_back();
    return s;
}

// pg_file_settings and pg_hba_file_rules through a libpq login (the PG* environment).
void check_login(Ctx& c, const std::string& host, int port) {
    const std::string target = host + ":" + std::to_string(port);
    const std::string port_text = std::to_string(port);
    const std::string timeout = std::to_string(std::max(1, c.options.timeout_ms / 1000));
    const char* keys[] = {"host", "port", "connect_timeout", "fallback_application_name", nullptr};
    const char* values[] = {host.c_str(), port_text.c_str(), timeout.c_str(), "pgca check", nullptr};
    std::unique_ptr<PGconn, PgConnDeleter> conn(PQconnectdbParams(keys, values, 0));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        c.report.warning("login-failed", target,
                         "could not log in to read pg_file_settings and pg_hba_file_rules: " +
                             trimmed(conn ? PQerrorMessage(conn.get()) : "out of memory"),
                         "give a superuser's connection through the PG* environment (PGSERVICEFILE and PGSERVICE of "
                         "a client bundle)");
        return;
    }
    auto query = [&](const std::string& sql) -> std::unique_ptr<PGresult, PgResultDeleter> {
        std::unique_ptr<PGresult, PgResultDeleter> res(PQexec(conn.get(), sql.c_str()));
        if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
            c.report.warning("login-failed", target,
                             "could not read the server's view: " + trimmed(PQerrorMessage(conn.get())),
                             "log in as a superuser (pg_file_settings and pg_hba_file_rules are superuser-only)");
            return nullptr;
        }
        return res;
    };
    std::unique_ptr<PGresult, PgResultDeleter>(
        PQexec(conn.get(), ("SET statement_timeout = " + std::to_string(c.options.timeout_ms)).c_str()));
    if (auto res = query("SELECT coalesce(sourcefile, ''), coalesce(sourceline, 0), name, error "
                         "FROM pg_file_settings WHERE error IS NOT NULL")) {
        for (int i = 0; i < PQntuples(res.get()); ++i)
            c.report.error("conf-invalid", std::string(PQgetvalue(res.get(), i, 0)) + ":" + PQgetvalue(res.get(), i, 1),
                           std::string("the server says of ") + PQgetvalue(res.get(), i, 2) + ": " +
                               PQgetvalue(res.get(), i, 3),
                           "correct the setting, then reload (or restart, for settings that need it)");
    }
    // What the files say now against what the server runs with: a difference in an ssl_*
    // setting means the server was not reloaded since the files changed.
    if (auto res = query("SELECT f.name, f.setting, s.setting, f.sourcefile, f.sourceline FROM pg_file_settings f "
                         "JOIN pg_settings s USING (name) WHERE f.applied AND f.error IS NULL AND f.name LIKE 'ssl%' "
                         "AND f.setting IS DISTINCT FROM s.setting")) {
        for (int i = 0; i < PQntuples(res.get()); ++i)
            c.report.error("conf-not-reloaded", std::string(PQgetvalue(res.get(), i, 3)) + ":" + PQgetvalue(res.get(), i, 4),
                           std::string(PQgetvalue(res.get(), i, 0)) + " is " + quoted(PQgetvalue(res.get(), i, 1)) +
                               " in the file, but the server runs with " + quoted(PQgetvalue(res.get(), i, 2)),
                           "SELECT pg_reload_conf()");
    }
    if (auto res = query("SELECT current_setting('hba_file'), line_number, error FROM pg_hba_file_rules "
                         "WHERE error IS NOT NULL")) {
        for (int i = 0; i < PQntuples(res.get()); ++i)
            c.report.error("hba-invalid", std::string(PQgetvalue(res.get(), i, 0)) + ":" + PQgetvalue(res.get(), i, 1),
                           std::string("the server refuses this line: ") + PQgetvalue(res.get(), i, 2) +
                               " (a reload keeps the old rules)",
                           "correct the line, then reload");
    }
}

struct Served {
    std::string name;  ///< the server name, or the file, whose certificate this is
    Certificate leaf;
};

void check_live(Ctx& c, const std::string& trust_file, const std::vector<Served>& on_disk) {
    std::string host;
    int port = 5432;
    parse_host_port(c.options.connect, host, port);
    const std::string target = c.options.connect;
    ProbeOptions po;
    po.host = host;
    po.port = port;
    po.ca_file = trust_file;
    po.server_name = host;
    po.timeout_ms = c.options.timeout_ms;
    ProbeResult r;
    try {
        r = probe(po);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::policy)
            c.report.error("ssl-off", target, e.what(), "set ssl = on with the certificate files, then reload");
        else
            c.report.error("server-unreachable", target, e.what(), "start the server, or check HOST:PORT");
        return;
    }
    if (r.chain.empty()) return;
    const Certificate& leaf = r.chain.front();
    if (!trust_file.empty() && !r.verified)
        c.report.error("chain-untrusted", target,
                       "the served chain does not verify against " + trust_file + ": " + r.verify_error,
                       "serve the leaf and its intermediates, issued under the clients' root");
    if (!r.name_matches)
        c.report.error("host-name-mismatch", target,
                       "the served certificate does not match " + quoted(host) +
                           ": sslmode=verify-full refuses it (\"server certificate for … does not match host name\")",
                       "issue the server certificate with " + host + " among its hosts");
    check_expiry(c, target, "the served certificate", leaf.not_after());
    if (on_disk.empty()) return;
    const std::string served = leaf.sha256_fingerprint();
    for (const auto& d : on_disk)
        if (d.leaf.sha256_fingerprint() == served) return;
    std::string names;
    for (const auto& d : on_disk) names += (names.empty() ? "" : ", ") + d.name;
    c.report.error("served-cert-differs", target,
                   "the server serves serial " + leaf.serial_hex() + ", not the certificate on disk (" + names +
                       "): it was not reloaded since the files changed",
                   "SELECT pg_reload_conf() (or the --reload command of `pgca rotate`)");
}

// ---- a pgca folder --------------------------------------------------------------------------

// host= values of a pg_service.conf, by section.
std::vector<std::pair<std::string, std::string>> service_hosts(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string section;
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + at, end - at);
        at = end + 1;
        if (!line.empty() && line.front() == '[' && line.back() == ']') section = std::string(line.substr(1, line.size() - 2));
        else if (line.rfind("host=", 0) == 0) out.emplace_back(section, std::string(line.substr(5)));
    }
    return out;
}

struct PkiCheck {
    std::vector<Served> servers;                     ///< each checked server's leaf on disk
    std::map<std::string, CertInfo> server_info;     ///< by name
    std::string trust_file;                          ///< ca/root.crt
};

PkiCheck check_pki(Ctx& c, std::vector<Certificate>& trusted_out) {
    PkiCheck out;
    OpenOptions open;
    open.read_only = true;
    auto pki = PkiDir::open(c.options.dir, open);
    const io::Layout& layout = pki->layout();
    out.trust_file = layout.root_cert();
    std::vector<Certificate> trusted, cas;
    if (auto root = read_input(c, layout.root_cert(), "root CA")) {
        trusted.push_back(Certificate::from_pem(*root, layout.root_cert()));
        cas.push_back(trusted.back());
        check_expiry(c, layout.root_cert(), "the root CA", trusted.back().not_after());
    }
    if (auto inter = io::try_read_file(layout.intermediate_cert())) {
        cas.push_back(Certificate::from_pem(*inter, layout.intermediate_cert()));
        check_expiry(c, layout.intermediate_cert(), "the intermediate CA", cas.back().not_after());
    }
    // During a CA rollover (README "CA rollover") the next root is trusted beside the current one
    // (the next intermediate chains to the root).
    if (const Certificate* next = pki->ca().next()) {
        if (!pki->ca().next_is_intermediate()) trusted.push_back(*next);
        cas.push_back(*next);
        check_expiry(c, pki->ca().next_is_intermediate() ? layout.next_intermediate_cert() : layout.next_root_cert(),
                     "the next CA", next->not_after());
    }
    trusted_out = trusted;
    const Profile applied = applied_profile(*pki);

    std::vector<std::string> names;
    if (!c.options.server.empty()) {
        if (!io::exists(layout.server_dir(c.options.server)))
            throw Error(ErrorKind::usage, "--server " + quoted(c.options.server) + ": " + layout.dir() +
                                              " has no such server (servers/" + c.options.server + ")");
        names.push_back(c.options.server);
    } else {
        names = io::list_dir(layout.servers_dir());
    }
    for (const auto& name : names) {
        ServerFiles f;
        f.object = "server " + name;
        f.name = name;
        f.cert = layout.server_file(name, io::Layout::kServerCert);
        f.key = layout.server_file(name, io::Layout::kServerKey);
        f.ca = layout.server_file(name, io::Layout::kTrust);
        f.follow_links = false;
        // The include says which CRL form the server reads.
        ConfReader conf(c);
        conf.read(layout.server_conf(name), true, 0);
        if (conf.get("ssl_crl_dir")) f.crl_dir = layout.server_crl_dir(name);
        if (conf.get("ssl_crl_file") || !conf.get("ssl_crl_dir")) f.crl_file = layout.server_file(name, io::Layout::kServerCrl);
        if (auto leaf = check_server(c, f, trusted, cas)) {
            out.servers.push_back({name, *leaf});
            out.server_info.emplace(name, leaf->info());
        }
    }
    // `init` alone writes no access rules; `apply` always does.
    if (io::exists(layout.hba())) check_hba_file(c, layout.hba());

    // Client bundles: libpq's key rule, the pair, the chain, expiry, and the hosts they connect to.
    const std::vector<std::string> roles = io::list_dir(layout.clients_dir());
    std::map<std::string, LedgerEntry> current;
    for (auto& e : pki->ledger().valid_entries())
        if (e.kind == CertKind::client) current[e.name] = std::move(e);
    std::set<std::string> ca_dns;
    for (const auto& ca : cas) ca_dns.insert(subject_of(ca));
    std::mutex hosts_mutex;
    std::map<std::pair<std::string, std::string>, std::pair<std::string, std::size_t>> hosts;  // (server, host) → (first role, count)
    auto server_of_section = [&](const std::string& section) -> std::string {
        if (section == applied.name) return applied.servers.empty() ? std::string() : applied.servers.front().name;
        for (const auto& s : applied.servers)
            if (section == applied.name + "-" + s.name) return s.name;
        return {};
    };
    for (const auto& s : applied.servers)
        for (const auto& h : s.hosts) hosts[{s.name, h}] = {"", 0};

    const unsigned jobs = c.options.jobs != 0 ? c.options.jobs : std::max(1u, std::thread::hardware_concurrency());
    detail::parallel_for(roles.size(), jobs, [&](std::size_t i, std::size_t) {
        const std::string& role = roles[i];
        const std::string cert_path = layout.client_file(role, io::Layout::kClientCert);
        const std::string key_path = layout.client_file(role, io::Layout::kClientKey);
        check_key_mode(c, key_path, false, std::nullopt, false);
        std::optional<std::string> cert_pem, key_pem, service;
        try {
            io::Folder folder(layout.client_dir(role));
            cert_pem = folder.try_read(io::Layout::kClientCert);
            key_pem = folder.try_read(io::Layout::kClientKey);
            service = folder.try_read(io::Layout::kClientService);
        } catch (const Error& e) {
            c.report.error("file-unreadable", layout.client_dir(role), e.what(), "remove what pgca did not write");
            return;
        }
        if (!cert_pem || !key_pem) {
            c.report.error("file-missing", layout.client_dir(role),
                           std::string("the bundle of role ") + quoted(role) + " has no " +
                               (!cert_pem ? io::Layout::kClientCert : io::Layout::kClientKey),
                           "`pgca apply` (or `pgca issue client`) writes it again");
            return;
        }
        auto it = current.find(role);
        std::time_t not_after = 0;
        if (it != current.end() && !it->second.cert_file_sha256.empty() &&
            sha256_hex(*cert_pem) == it->second.cert_file_sha256 && sha256_hex(*key_pem) == it->second.key_file_sha256) {
            // Byte for byte the pair pgca issued and recorded: it belongs together and was signed by
            // the CA the ledger names.
            not_after = it->second.not_after;
            if (ca_dns.count(it->second.issuer) == 0)
                c.report.error("chain-untrusted", cert_path, "issued by " + quoted(it->second.issuer) +
                                                                 ", which is not this folder's CA: the servers refuse it",
                               "`pgca apply` issues it again");
        } else {
            try {
                auto chain = Certificate::chain_from_pem(*cert_pem, cert_path);
                not_after = chain.front().not_after();
                if (!chain.front().matches(PrivateKey::from_pem(*key_pem, key_path)))
                    c.report.error("key-cert-mismatch", key_path,
                                   "the key does not belong to " + cert_path +
                                       ": libpq refuses it (\"key values mismatch\")",
                                   "`pgca apply` issues the bundle again");
                if (!trusted.empty() && !reaches(chain.front(), [&] {
                        auto pool = chain;
                        pool.insert(pool.end(), cas.begin(), cas.end());
                        return pool;
                    }(), trusted))
                    c.report.error("chain-untrusted", cert_path,
                                   "the certificate does not reach the root " + quoted(subject_of(trusted.front())) +
                                       ": the servers refuse it",
                                   "`pgca apply` issues the bundle again");
            } catch (const Error& e) {
                c.report.error("cert-unreadable", cert_path, e.what(), "`pgca apply` issues the bundle again");
            }
        }
        if (not_after != 0) check_expiry(c, cert_path, "the certificate of role " + quoted(role), not_after);
        if (service) {
            std::lock_guard<std::mutex> guard(hosts_mutex);
            for (const auto& [section, host] : service_hosts(*service)) {
                const std::string server = server_of_section(section);
                if (server.empty()) continue;
                auto& slot = hosts[{server, host}];
                if (slot.second++ == 0) slot.first = role;
            }
        }
    });
    for (const auto& [key, who] : hosts) {
        auto info = out.server_info.find(key.first);
        if (info == out.server_info.end() || libpq_name_matches(info->second, key.second)) continue;
        std::string users = who.second == 0 ? std::string("the profile's hosts")
                                            : "the bundle of " + quoted(who.first) +
                                                  (who.second > 1 ? " and " + std::to_string(who.second - 1) + " more" : "");
        c.report.error("host-name-mismatch", "server " + key.first,
                       "clients connect to " + quoted(key.second) + " (" + users + "), which server.crt does not name: "
                           "sslmode=verify-full refuses it",
                       "re-issue the server certificate with " + key.second + " among its hosts (`pgca apply`)");
    }
    return out;
}

// ---- any PGDATA ------------------------------------------------------------------------------

bool conf_true(std::string v) {
    for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return v == "on" || v == "true" || v == "yes" || v == "1";
}

// The server of a PGDATA (or of a postgresql.conf named directly), as its configuration says.
std::optional<Served> check_pgdata(Ctx& c, const std::vector<Certificate>& dir_trusted,
                                   const std::vector<Certificate>& dir_cas) {
    const std::string& given = c.options.pgdata;
    struct stat st {};
    if (::stat(given.c_str(), &st) != 0)
        throw Error(ErrorKind::input, "--pgdata " + quoted(given) + ": " + std::strerror(errno));
    std::string conf_path = S_ISDIR(st.st_mode) ? given + "/postgresql.conf" : given;
    std::string data_dir = S_ISDIR(st.st_mode) ? given : dirname_of(given);
    if (!io::exists(conf_path))
        throw Error(ErrorKind::input, "--pgdata " + quoted(given) + ": there is no postgresql.conf in it");
    ConfReader conf(c);
    conf.read(conf_path, true, 0);
    if (auto dd = conf.get("data_directory")) data_dir = resolve(dirname_of(conf_path), dd->value);
    // PostgreSQL reads postgresql.auto.conf (ALTER SYSTEM) last.
    conf.read(data_dir + "/postgresql.auto.conf", false, 0);
    auto setting = [&](const char* name, const char* fallback) {
        auto s = conf.get(name);
        std::string v = s ? s->value : fallback;
        return v.empty() ? v : resolve(data_dir, v);
    };
    check_hba_file(c, setting("hba_file", "pg_hba.conf"));
    auto ssl = conf.get("ssl");
    if (!ssl || !conf_true(ssl->value)) {
        c.report.warning("ssl-off", conf_path, "ssl is off: the server answers every SSLRequest with N",
                         "set ssl = on and the ssl_* files, then reload");
        return std::nullopt;
    }
    ServerFiles f;
    f.object = conf_path;
    f.cert = setting("ssl_cert_file", "server.crt");
    f.key = setting("ssl_key_file", "server.key");
    f.ca = setting("ssl_ca_file", "");
    f.crl_file = setting("ssl_crl_file", "");
    f.crl_dir = setting("ssl_crl_dir", "");
    struct stat data {};
    if (::stat(data_dir.c_str(), &data) == 0) f.db_uid = data.st_uid;
    // Without a pgca folder, what the server trusts stands for what its clients trust.
    std::vector<Certificate> trusted = dir_trusted, cas = dir_cas;
    if (cas.empty() && !f.ca.empty()) {
        try {
            if (auto pem = io::try_read_file(f.ca)) cas = Certificate::chain_from_pem(*pem, f.ca);
        } catch (const Error&) {
            // check_server reports it
        }
        for (const auto& ca : cas)
            if (ca.issued_by(ca)) trusted.push_back(ca);
    }
    auto leaf = check_server(c, f, trusted, cas);
    if (!leaf) return std::nullopt;
    return Served{f.cert, *leaf};
}

}  // namespace

Result run(const Options& options) {
    if (options.dir.empty() && options.pgdata.empty() && options.connect.empty())
        throw Error(ErrorKind::usage, "check: give --dir, --pgdata or --connect (what to check)");
    if (!options.server.empty() && options.dir.empty())
        throw Error(ErrorKind::usage, "check: --server names a server of --dir; give --dir too");
    Ctx c{options, options.now != 0 ? options.now : std::time(nullptr), {}};
    Result result;
    std::vector<Served> on_disk;
    std::vector<Certificate> trusted;
    std::string trust_file;
    if (!options.dir.empty()) {
        PkiCheck p = check_pki(c, trusted);
        on_disk = p.servers;
        trust_file = p.trust_file;
        result.servers = p.servers.size();
        result.clients = io::list_dir(io::Layout(options.dir).clients_dir()).size();
    }
    if (!options.pgdata.empty()) {
        std::vector<Certificate> cas;
        if (!options.dir.empty()) {
            io::Layout layout(options.dir);
            for (const auto& path : {layout.root_cert(), layout.intermediate_cert()})
                if (auto pem = io::try_read_file(path)) cas.push_back(Certificate::from_pem(*pem, path));
        }
        auto served = check_pgdata(c, trusted, cas);
        ++result.servers;
        // The live server is this PGDATA's: its files are the ones to compare with.
        on_disk.clear();
        if (served) on_disk.push_back(*served);
    } else if (!options.server.empty()) {
        on_disk.erase(std::remove_if(on_disk.begin(), on_disk.end(), [&](const Served& s) { return s.name != options.server; }),
                      on_disk.end());
    }
    if (!options.connect.empty()) {
        check_live(c, trust_file, on_disk);
        if (options.login) {
            std::string host;
            int port = 5432;
            parse_host_port(options.connect, host, port);
            check_login(c, host, port);
        }
    }
    result.findings = c.report.take();
    return result;
}

}  // namespace pgca::check
