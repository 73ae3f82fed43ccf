#include "pgca/profile.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>

#include "parallel.hpp"
#include "pgca/error.hpp"
#include "pgca/io.hpp"
#include "pgca/pg_syntax.hpp"

namespace pgca {
namespace {

using nlohmann::json;

// A JSON node with the path that leads to it, so that every error can name it.
class Node {
public:
    Node(const json& j, std::string path) : j_(j), path_(std::move(path)) {}

    [[noreturn]] void fail(const std::string& why) const {
        throw Error(ErrorKind::profile, (path_.empty() ? std::string("(top level)") : path_) + ": " + why);
    }

    const json& raw() const { return j_; }
    const std::string& path() const { return path_; }

    Node at(const std::string& key) const {
        return Node(j_.at(key), path_.empty() ? key : path_ + "." + key);
    }
    Node at(std::size_t i) const { return Node(j_.at(i), path_ + "[" + std::to_string(i) + "]"); }
    bool has(const std::string& key) const { return j_.is_object() && j_.contains(key); }

    const json& object(std::initializer_list<const char*> allowed) const {
        if (!j_.is_object()) fail("expected an object, got " + type_name());
        for (const auto& item : j_.items()) {  // not a structured binding: C++17 lambdas cannot capture one
            const std::string& key = item.key();
            bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
            if (!ok) {
                std::string list;
                for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
                fail("unknown key \"" + key + "\" (allowed: " + list + ")");
            }
        }
        return j_;
    }

    void require(const std::string& key) const {
        if (!has(key)) fail("missing required key \"" + key + "\"");
    }

    std::string string() const {
        if (!j_.is_string()) fail("expected a string, got " + type_name());
        return j_.get<std::string>();
    }

    int integer(int lo, int hi) const {
        if (!j_.is_number_integer()) fail("expected an integer, got " + type_name());
        auto v = j_.get<long long>();
        if (v < lo || v > hi) fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
        return static_cast<int>(v);
    }

    KeyAlg key_alg() const {
        auto alg = parse_key_alg(string());
        if (!alg) fail("unknown key algorithm \"" + string() + "\" (known: " + key_alg_names() + ")");
        return *alg;
    }

    // A string or a non-empty list of strings.
    std::vector<std::string> string_list() const {
        std::vector<std::string> out;
        if (j_.is_string()) {
            out.push_back(j_.get<std::string>());
        } else if (j_.is_array()) {
            if (j_.empty()) fail("must not be an empty list");
            for (std::size_t i = 0; i < j_.size(); ++i) out.push_back(at(i).string());
        } else {
            fail("expected a string or a list of strings, got " + type_name());
        }
        return out;
    }

    // A setting value: string, number or boolean, as PostgreSQL would spell it.
    std::string setting() const {
        if (j_.is_string()) return j_.get<std::string>();
        if (j_.is_boolean()) return j_.get<bool>() ? "on" : "off";
        if (j_.is_number_integer()) return std::to_string(j_.get<long long>());
        fail("expected a string, number or boolean, got " + type_name());
    }

    std::string type_name() const { return j_.type_name(); }

    // Runs `fn` and re-labels any policy error as a profile error at this path.
    template <class Fn>
    void check(Fn&& fn) const {
        try {
            fn();
        } catch (const Error& e) {
            fail(e.what());
        }
    }

private:
    const json& j_;
    std::string path_;
};

// Parses JSON as json::parse does (its own DOM builder, fed by the same SAX events), and refuses
// a key that appears twice in one object: a JSON parser keeps only the last, so
// `"clients": [...], "clients": []` would silently empty the list. The error names the path in
// the form Node errors use ("servers[0].hosts"). Cheap enough for profiles of many thousands of
// clients: no per-value allocation beyond the DOM's own.
class DuplicateKeyCheck {
public:
    explicit DuplicateKeyCheck(json& root) : dom_(root) {}

    bool null() { return value(dom_.null()); }
    bool boolean(bool v) { return value(dom_.boolean(v)); }
    bool number_integer(json::number_integer_t v) { return value(dom_.number_integer(v)); }
    bool number_unsigned(json::number_unsigned_t v) { return value(dom_.number_unsigned(v)); }
    bool number_float(json::number_float_t v, const json::string_t& s) { return value(dom_.number_float(v, s)); }
    bool string(json::string_t& v) { return value(dom_.string(v)); }
    bool binary(json::binary_t& v) { return value(dom_.binary(v)); }
    bool start_object(std::size_t n) { return open(false) && dom_.start_object(n); }
    bool start_array(std::size_t n) { return open(true) && dom_.start_array(n); }
    bool end_object() { return close() && dom_.end_object(); }
    bool end_array() { return close() && dom_.end_array(); }
    bool key(json::string_t& k) {
        Frame& f = frames_[depth_ - 1];
        if (!f.add(k))
            throw Error(ErrorKind::profile, path(k) + ": duplicate key (JSON keeps only the last one, so the first "
                                                       "would be ignored)");
        return dom_.key(k);
    }
    bool parse_error(std::size_t pos, const std::string& token, const nlohmann::detail::exception& e) {
        return dom_.parse_error(pos, token, e);
    }

private:
    // One open object or array. Frames are reused, so that parsing allocates no more than the DOM.
    struct Frame {
        bool array = false;
        std::size_t index = 0;          // in an array: the element being parsed
        std::vector<std::string> keys;  // in an object: its keys so far (also in a set once there are many)
        std::set<std::string> many;
        bool add(const std::string& k) {
            if (many.empty() ? std::find(keys.begin(), keys.end(), k) != keys.end() : !many.insert(k).second)
                return false;
            keys.push_back(k);  // keys.back() is the key being parsed
            if (keys.size() > 32) many.insert(keys.begin(), keys.end());
            return true;
        }
    };
    bool value(bool ok) {
        if (depth_ != 0 && frames_[depth_ - 1].array) ++frames_[depth_ - 1].index;
        return ok;
    }
    bool open(bool array) {
        if (depth_ == frames_.size()) frames_.emplace_back();
        Frame& f = frames_[depth_++];
        f.array = array;
        f.index = 0;
        f.keys.clear();
        f.many.clear();
        return true;
    }
    bool close() {
        --depth_;
        return value(true);
    }
    // Only built for the error message.
    std::string path(const std::string& last) const {
        std::string out;
        for (std::size_t i = 0; i + 1 < depth_; ++i) {
            const Frame& f = frames_[i];
            out += f.array ? "[" + std::to_string(f.index) + "]" : (out.empty() ? "" : ".") + f.keys.back();
        }
        return out + (out.empty() ? "" : ".") + last;
    }

    nlohmann::detail::json_sax_dom_parser<json> dom_;
    std::vector<Frame> frames_;
    std::size_t depth_ = 0;
};

DistinguishedName parse_subject(const Node& n) {
    if (!n.raw().is_object()) n.fail("expected an object of attributes, got " + n.type_name());
    DistinguishedName dn;
    for (const auto& item : n.raw().items()) {
        const std::string& key = item.key();
        Node v = n.at(key);
        std::string value = v.string();
        v.check([&] { dn.set(key, value); });
    }
    if (dn.get("CN").empty()) n.fail("missing required attribute \"CN\"");
    return dn;
}

// {"env": NAME} | {"file": PATH} | {"command": CMD}: where a passphrase comes from; never the
// passphrase itself.
PassphraseSource parse_passphrase(const Node& n) {
    n.object({"env", "file", "command"});
    if (n.raw().size() != 1) n.fail("give exactly one of \"env\", \"file\" or \"command\"");
    PassphraseSource src;
    const std::string key = n.raw().begin().key();
    Node v = n.at(key);
    src.value = v.string();
    v.check([&] { require_printable_utf8(src.value, key); });
    if (src.value.empty()) v.fail("must not be empty");
    if (key == "env") {
        src.kind = PassphraseSource::Kind::env;
        bool ok = !std::isdigit(static_cast<unsigned char>(src.value[0]));
        for (char c : src.value) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
        if (!ok) v.fail("\"" + src.value + "\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    } else if (key == "file") {
        src.kind = PassphraseSource::Kind::file;
        if (src.value.front() != '/') v.fail("must be an absolute path");
    } else {
        src.kind = PassphraseSource::Kind::command;
    }
    return src;
}

// ["pem", "pk8", "p12"] (a string or a list; "pem" is always written). p12 needs the passphrase
// source, which the caller checks once defaults are known.
ClientFormats parse_formats(const Node& n) {
    ClientFormats f;
    if (n.raw().is_array() && n.raw().empty()) return f;
    for (const auto& name : n.string_list()) {
        if (name == "pk8") f.pk8 = true;
        else if (name == "p12") f.p12 = true;
        else if (name != "pem") n.fail("unknown key format \"" + name + "\" (known: pem, pk8, p12)");
    }
    return f;
}

void parse_hba(const Node& n, Profile& p) {
    n.object({"type", "database", "user", "address", "method", "clientcert", "clientname", "map"});
    HbaRule r;
    n.require("type");
    n.require("database");
    n.require("user");
    n.require("method");
    r.type = n.at("type").string();
    if (!pg::is_connection_type(r.type))
        n.at("type").fail("unknown connection type \"" + r.type +
                          "\" (known: local, host, hostssl, hostnossl, hostgssenc, hostnogssenc)");
    // Each entry is a string (keywords such as all keep their meaning) or {"name": "…"}, which is
    // always the literal name: the way to name a role or database called "all" or "replication".
    auto tokens = [&](const std::string& key, std::vector<std::string>& out, std::vector<bool>& literal) {
        Node f = n.at(key);
        std::vector<Node> items;
        if (f.raw().is_array()) {
            if (f.raw().empty()) f.fail("must not be an empty list");
            for (std::size_t i = 0; i < f.raw().size(); ++i) items.push_back(f.at(i));
        } else {
            items.push_back(f);
        }
        for (std::size_t k = 0; k < items.size(); ++k) {
            const Node& item = items[k];
            std::string text;
            bool is_literal = false;
            if (item.raw().is_object()) {
                item.object({"name"});
                item.require("name");
                text = item.at("name").string();
                is_literal = true;
            } else if (item.raw().is_string()) {
                text = item.string();
            } else {
                item.fail("expected a name, a keyword or {\"name\": …}, got " + item.type_name());
            }
            item.check([&] { pg::validate_hba_token(text, key, is_literal, k + 1 < items.size()); });
            out.push_back(std::move(text));
            literal.push_back(is_literal);
        }
    };
    tokens("database", r.database, r.database_literal);
    tokens("user", r.user, r.user_literal);
    if (r.type == "local") {
        if (n.has("address")) n.at("address").fail("\"local\" records have no address");
    } else {
        n.require("address");
        r.address = n.at("address").string();
        n.at("address").check([&] { pg::validate_hba_address(r.address); });
    }
    r.method = n.at("method").string();
    if (!pg::is_auth_method(r.method))
        n.at("method").fail("unknown authentication method \"" + r.method + "\" (known: " +
                            pg::auth_method_names() + ")");
    if (n.has("clientcert")) r.clientcert = n.at("clientcert").string();
    if (n.has("clientname")) r.clientname = n.at("clientname").string();
    if (n.has("map")) {
        r.map = n.at("map").string();
        n.at("map").check([&] { validate_simple_name(r.map, "map name"); });
    }
    p.hba.push_back(std::move(r));
}

// The folder path a PgBouncer ini line names: PgBouncer 1.18's ini reader ends a value at ';' or
// '#' and trims blanks, so a path holding them (or a quote or '%') would name another file.
void validate_ini_path(const Node& n, const std::string& path) {
    n.check([&] { pg::validate_conf_path(path, "install_dir"); });
    if (path.find_first_of(" \t;#\"'%") != std::string::npos)
        n.fail("\"" + path + "\" cannot be written into pgbouncer.ini (no blank, ';', '#', quote or '%')");
}

// poolers[]: each a PgBouncer in front of one server, pooling profile clients (README "PgBouncer").
void parse_poolers(const Node& list, Profile& p) {
    if (!list.raw().is_array()) list.fail("expected a list, got " + list.type_name());
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.raw().size(); ++i) {
        Node n = list.at(i);
        n.object({"name", "hosts", "port", "upstream", "users", "address", "install_dir", "key", "days"});
        for (const char* k : {"name", "hosts", "upstream", "users"}) n.require(k);
        PoolerSpec s;
        s.name = n.at("name").string();
        n.at("name").check([&] { validate_simple_name(s.name, "pooler name"); });
        if (!names.insert(s.name).second) n.at("name").fail("duplicate pooler name \"" + s.name + "\"");
        // [PROFILE-NAME] service entries name servers and poolers alike.
        if (p.find_server(s.name) != nullptr)
            n.at("name").fail("\"" + s.name + "\" is a server's name; the service entries [" + p.name + "-NAME] "
                              "of servers and poolers share one namespace");
        Node hosts = n.at("hosts");
        s.hosts = hosts.string_list();
        for (std::size_t k = 0; k < s.hosts.size(); ++k)
            (hosts.raw().is_array() ? hosts.at(k) : hosts).check([&] { validate_host(s.hosts[k], "host"); });
        if (n.has("port")) s.port = n.at("port").integer(1, 65535);
        s.upstream = n.at("upstream").string();
        if (p.find_server(s.upstream) == nullptr) {
            std::string known;
            for (const auto& sv : p.servers) known += (known.empty() ? "" : ", ") + sv.name;
            n.at("upstream").fail("\"" + s.upstream + "\" is not a server of this profile (servers: " +
                                  (known.empty() ? std::string("none") : known) + ")");
        }
        Node users = n.at("users");
        const std::string cn = s.common_name();
        for (const auto& c : p.clients)
            if (c.user == cn || c.common_name() == cn)
                n.at("name").fail("the pooler's certificate CN \"" + cn + "\" is client \"" + c.user +
                                  "\"'s role or CN; PostgreSQL could not tell them apart");
        if (users.raw().is_string() && users.string() == "all") {
            for (const auto& c : p.clients) (c.cn.empty() ? s.users : s.left_out).push_back(c.user);
            if (s.users.empty()) users.fail("\"all\" pools no client: no client's CN is its role name");
        } else {
            if (!users.raw().is_array()) users.fail("expected \"all\" or a list of client roles, got " + users.type_name());
            s.users = users.string_list();
            std::set<std::string> seen;
            for (std::size_t k = 0; k < s.users.size(); ++k) {
                const ClientSpec* c = p.find_client(s.users[k]);
                if (c == nullptr) users.at(k).fail("\"" + s.users[k] + "\" is not a client of this profile");
                if (!seen.insert(c->user).second) users.at(k).fail("duplicate user \"" + c->user + "\"");
                if (!c->cn.empty())
                    users.at(k).fail("client \"" + c->user + "\" has CN \"" + c->cn + "\": PgBouncer 1.18 compares "
                                     "the client certificate's CN with the user name (auth_type cert, hba cert) and "
                                     "has no maps, so it could never log in through the pooler");
            }
        }
        if (n.has("address")) {
            s.address = n.at("address").string();
            n.at("address").check([&] { pg::validate_hba_address(s.address); });
        }
        if (n.has("install_dir")) {
            s.install_dir = n.at("install_dir").string();
            validate_ini_path(n.at("install_dir"), s.install_dir);
            if (s.install_dir.front() != '/') n.at("install_dir").fail("must be an absolute path");
        }
        if (n.has("key")) s.key = n.at("key").key_alg();
        if (n.has("days")) s.days = n.at("days").integer(1, 36500);
        s.user_set.insert(s.users.begin(), s.users.end());
        p.poolers.push_back(std::move(s));
    }
}

// targets: {"postgres": 15, "libpq": 15, "pgbouncer": "1.18"}, the oldest versions deployed.
void parse_targets(const Node& n, Targets& t) {
    n.object({"postgres", "libpq", "pgbouncer"});
    if (n.has("postgres")) t.postgres = n.at("postgres").integer(pg::kOldestMajor, pg::kNewestMajor);
    if (n.has("libpq")) t.libpq = n.at("libpq").integer(pg::kOldestMajor, pg::kNewestMajor);
    if (n.has("pgbouncer")) {
        Node b = n.at("pgbouncer");
        t.pgbouncer = b.string();
        const auto dot = t.pgbouncer.find('.');
        const auto digits = [&](std::size_t from, std::size_t to) {
            return to > from && to - from <= 3 &&
                   std::all_of(t.pgbouncer.begin() + static_cast<std::ptrdiff_t>(from),
                               t.pgbouncer.begin() + static_cast<std::ptrdiff_t>(to), ::isdigit);
        };
        const bool form = dot != std::string::npos && digits(0, dot) && digits(dot + 1, t.pgbouncer.size());
        const int major = form ? std::stoi(t.pgbouncer.substr(0, dot)) : 0;
        if (!form || major < 1 || (major == 1 && std::stoi(t.pgbouncer.substr(dot + 1)) < 18))
            b.fail("\"" + t.pgbouncer + "\" is not a PgBouncer version \"MAJOR.MINOR\" from 1.18 on (e.g. \"1.18\")");
    }
}

// A setting that a targeted version lacks is refused with the version that added it: an older
// server refuses the whole include holding it, an older libpq the whole service file.
void check_targets(const Node& root, const Profile& p, const std::vector<std::string>& version_from) {
    // Each server's version decides; without servers, targets.postgres.
    const auto oldest_server = [&](int since, const std::function<void(const std::string&)>& fail) {
        for (std::size_t i = 0; i < p.servers.size(); ++i)
            if (p.servers[i].postgres_version < since)
                fail("servers[" + std::to_string(i) + "] (\"" + p.servers[i].name + "\") targets PostgreSQL " +
                     std::to_string(p.servers[i].postgres_version) + " (" + version_from[i] + "); set " +
                     (version_from[i] == "targets.postgres" ? "servers[" + std::to_string(i) +
                                                                  "].postgres_version or targets.postgres"
                                                            : version_from[i]) +
                     " to " + std::to_string(since) + ", or leave it out");
        if (p.servers.empty() && p.targets.postgres < since)
            fail("targets.postgres is " + std::to_string(p.targets.postgres) + "; set it to " +
                 std::to_string(since) + ", or leave it out");
    };
    for (const auto& item : p.server_settings) {
        const std::string& key = item.first;
        const int since = pg::server_setting_since(key);
        oldest_server(since, [&](const std::string& who) {
            root.at("server_settings").at(key).fail("PostgreSQL " + std::to_string(since) + " added " + key +
                                                    ", and an older server refuses the whole include holding it "
                                                    "(unrecognized configuration parameter); " + who);
        });
    }
    if (p.server_settings.count("ssl_groups") != 0 && p.server_settings.count("ssl_ecdh_curve") != 0)
        root.at("server_settings").at("ssl_ecdh_curve").fail(
            "PostgreSQL 18 reads ssl_ecdh_curve as another name for ssl_groups; give only ssl_groups");
    for (const auto& item : p.client_settings) {
        const std::string& key = item.first;
        const int since = pg::client_setting_since(key);
        const auto fail = [&](const std::string& why) { root.at("client_settings").at(key).fail(why); };
        if (p.targets.libpq < since)
            fail("libpq " + std::to_string(since) + " added " + key + ", and targets.libpq is " +
                 std::to_string(p.targets.libpq) + ": libpq " + std::to_string(p.targets.libpq) +
                 " refuses a service file holding it (syntax error in service file); set targets.libpq to " +
                 std::to_string(since) + " once every client runs libpq " + std::to_string(since) +
                 " or later, or leave it out");
        if (key == "sslnegotiation" && item.second == "direct")
            oldest_server(17, [&](const std::string& who) {
                fail("\"direct\" needs PostgreSQL 17 on the server (an older one reads the TLS handshake as an "
                     "invalid startup packet); " + who);
            });
    }
}

}  // namespace

void validate_role_name(std::string_view role, std::string_view what) {
    std::string w(what);
    if (role.empty()) throw Error(ErrorKind::policy, w + ": must not be empty");
    require_printable_utf8(role, w);
    // NAMEDATALEN is 64: the server truncates longer identifiers to 63 bytes, so a certificate
    // whose CN is the full name could never match the role.
    if (role.size() > 63)
        throw Error(ErrorKind::policy, w + ": \"" + std::string(role) +
                                           "\" is longer than PostgreSQL's 63-byte identifier limit");
    // libpq's parseServiceFile drops blanks at the end of a line (isspace; the other blanks are
    // control characters, refused above): `user=bob ` logs in as "bob". Leading blanks survive.
    if (role.back() == ' ') {
        std::string_view kept = role.substr(0, role.find_last_not_of(' ') + 1);
        throw Error(ErrorKind::policy, w + ": \"" + std::string(role) +
                                           "\" ends with a blank, which libpq's pg_service.conf reader removes "
                                           "(clients/ROLE/pg_service.conf would log in as " +
                                           (kept.empty() ? std::string("the OS user") : "\"" + std::string(kept) + "\"") +
                                           ")");
    }
    if (role.find('/') != std::string_view::npos || role == "." || role == "..")
        throw Error(ErrorKind::policy, w + ": \"" + std::string(role) +
                                           "\" cannot be a folder name under clients/ (no '/', '.' or '..')");
}

void validate_simple_name(std::string_view name, std::string_view what) {
    std::string w(what);
    if (name.empty() || name.size() > 64)
        throw Error(ErrorKind::policy, w + ": must be 1 to 64 characters");
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
            throw Error(ErrorKind::policy,
                        w + ": \"" + std::string(name) + "\" may only hold letters, digits, '_', '-' and '.'");
    if (name.front() == '.') throw Error(ErrorKind::policy, w + ": must not start with '.'");
}

bool HbaRule::all_users() const {
    for (std::size_t i = 0; i < user.size(); ++i)
        if (user[i] == "all" && !user_literal[i]) return true;
    return false;
}

bool HbaRule::names_user(std::string_view role) const {
    for (std::size_t i = 0; i < user.size(); ++i)
        if (user[i] == role && (user_literal[i] || role != "all")) return true;
    return false;
}

const ClientSpec* Profile::find_client(std::string_view user) const {
    for (const auto& c : clients)
        if (c.user == user) return &c;
    return nullptr;
}

const ServerSpec* Profile::find_server(std::string_view server) const {
    for (const auto& s : servers)
        if (s.name == server) return &s;
    return nullptr;
}

const PoolerSpec* Profile::find_pooler(std::string_view pooler) const {
    for (const auto& s : poolers)
        if (s.name == pooler) return &s;
    return nullptr;
}

Profile parse_profile(std::string_view json_text, std::string_view source) {
    json doc;
    try {
        DuplicateKeyCheck check(doc);
        json::sax_parse(json_text.begin(), json_text.end(), &check);
    } catch (const Error& e) {
        throw Error(ErrorKind::profile, std::string(source) + ": " + e.what());
    } catch (const json::exception& e) {
        // parse_error, and also out_of_range for a number too large to hold (found by fuzz_profile).
        std::string msg = e.what();
        // "[json.exception.parse_error.101] parse error at line 3, column 5: …" → drop the tag.
        auto pos = msg.find("] ");
        throw Error(ErrorKind::profile, std::string(source) + ": invalid JSON: " +
                                            (pos != std::string::npos ? msg.substr(pos + 2) : msg));
    }
    try {
        Node root(doc, "");
        root.object({"pgca_profile", "name", "targets", "ca", "defaults", "servers", "clients", "hba", "poolers",
                     "server_settings", "client_settings"});
        root.require("pgca_profile");
        if (!doc["pgca_profile"].is_number_integer() || doc["pgca_profile"].get<long long>() != 1)
            root.at("pgca_profile").fail("unsupported profile version (this pgca reads version 1)");

        Profile p;
        p.source = std::string(source);
        // Names seen so far, for the duplicate checks (a profile may list thousands of clients).
        std::set<std::string> server_names;
        std::set<std::string> client_names;
        root.require("name");
        p.name = root.at("name").string();
        root.at("name").check([&] { validate_simple_name(p.name, "profile name"); });

        if (root.has("targets")) parse_targets(root.at("targets"), p.targets);
        // Per server: where its version came from, for the messages of the version checks below.
        std::vector<std::string> version_from;

        root.require("ca");
        Node ca = root.at("ca");
        ca.object({"subject", "key", "days", "intermediate", "passphrase"});
        ca.require("subject");
        p.ca.subject = parse_subject(ca.at("subject"));
        if (ca.has("key")) p.ca.key = ca.at("key").key_alg();
        if (!usable_for_ca(p.ca.key))
            ca.at("key").fail("a CA key must not be Ed25519: libpq cannot do SCRAM channel binding with "
                              "certificates signed by EdDSA");
        if (ca.has("days")) p.ca.days = ca.at("days").integer(1, 36500);
        if (ca.has("passphrase")) p.ca.passphrase = parse_passphrase(ca.at("passphrase"));
        if (ca.has("intermediate")) {
            Node in = ca.at("intermediate");
            in.object({"subject", "key", "days"});
            in.require("subject");
            IntermediateSpec spec;
            spec.subject = parse_subject(in.at("subject"));
            if (in.has("key")) spec.key = in.at("key").key_alg();
            if (!usable_for_ca(spec.key))
                in.at("key").fail("a CA key must not be Ed25519: libpq cannot do SCRAM channel binding with "
                                  "certificates signed by EdDSA");
            if (in.has("days")) spec.days = in.at("days").integer(1, 36500);
            if (spec.subject == p.ca.subject) in.at("subject").fail("must differ from the root's subject");
            p.ca.intermediate = std::move(spec);
        }

        if (root.has("defaults")) {
            Node d = root.at("defaults");
            d.object({"key", "server_days", "client_days", "renew_before_days", "crl_days", "client_formats",
                      "p12_passphrase"});
            if (d.has("key")) p.defaults.key = d.at("key").key_alg();
            if (d.has("server_days")) p.defaults.server_days = d.at("server_days").integer(1, 36500);
            if (d.has("client_days")) p.defaults.client_days = d.at("client_days").integer(1, 36500);
            if (d.has("renew_before_days")) p.defaults.renew_before_days = d.at("renew_before_days").integer(0, 36500);
            if (d.has("crl_days")) p.defaults.crl_days = d.at("crl_days").integer(3, 3650);
            if (d.has("client_formats")) p.defaults.client_formats = parse_formats(d.at("client_formats"));
            if (d.has("p12_passphrase")) p.defaults.p12_passphrase = parse_passphrase(d.at("p12_passphrase"));
        }
        if (p.defaults.client_formats.p12 && p.defaults.p12_passphrase.empty()) {
            root.at("defaults").at("client_formats").fail("\"p12\" needs defaults.p12_passphrase (postgresql.p12 is "
                                                          "encrypted with it)");
        }

        if (root.has("servers")) {
            Node list = root.at("servers");
            if (!list.raw().is_array()) list.fail("expected a list, got " + list.type_name());
            for (std::size_t i = 0; i < list.raw().size(); ++i) {
                Node n = list.at(i);
                n.object({"name", "hosts", "port", "install_dir", "key", "days", "crl", "key_passphrase",
                          "postgres_version"});
                ServerSpec s;
                s.postgres_version = p.targets.postgres;
                version_from.emplace_back("targets.postgres");
                if (n.has("postgres_version")) {
                    s.postgres_version = n.at("postgres_version").integer(pg::kOldestMajor, pg::kNewestMajor);
                    version_from.back() = n.at("postgres_version").path();
                }
                n.require("name");
                s.name = n.at("name").string();
                n.at("name").check([&] { validate_simple_name(s.name, "server name"); });
                if (!server_names.insert(s.name).second) n.at("name").fail("duplicate server name \"" + s.name + "\"");
                n.require("hosts");
                Node hosts = n.at("hosts");
                s.hosts = hosts.string_list();
                for (std::size_t k = 0; k < s.hosts.size(); ++k) {
                    Node h = hosts.raw().is_array() ? hosts.at(k) : hosts;
                    h.check([&] { validate_host(s.hosts[k], "host"); });
                    if (std::count(s.hosts.begin(), s.hosts.end(), s.hosts[k]) > 1)
                        h.fail("duplicate host \"" + s.hosts[k] + "\"");
                }
                if (n.has("install_dir")) {
                    s.install_dir = n.at("install_dir").string();
                    n.at("install_dir").check([&] { pg::validate_conf_path(s.install_dir, "install_dir"); });
                    if (s.install_dir.front() != '/') n.at("install_dir").fail("must be an absolute path");
                }
                if (n.has("key")) s.key = n.at("key").key_alg();
                if (n.has("days")) s.days = n.at("days").integer(1, 36500);
                if (n.has("port")) s.port = n.at("port").integer(1, 65535);
                if (n.has("key_passphrase")) s.key_passphrase = parse_passphrase(n.at("key_passphrase"));
                if (n.has("crl")) {
                    s.crl = n.at("crl").string();
                    if (s.crl != "file" && s.crl != "dir")
                        n.at("crl").fail("must be \"file\" (ssl_crl_file) or \"dir\" (ssl_crl_dir)");
                }
                p.servers.push_back(std::move(s));
            }
        }

        if (root.has("clients")) {
            Node list = root.at("clients");
            if (!list.raw().is_array()) list.fail("expected a list, got " + list.type_name());
            for (std::size_t i = 0; i < list.raw().size(); ++i) {
                Node n = list.at(i);
                n.object({"user", "cn", "map", "key", "days", "formats"});
                ClientSpec c;
                n.require("user");
                c.user = n.at("user").string();
                n.at("user").check([&] { validate_role_name(c.user, "role name"); });
                if (!client_names.insert(c.user).second) n.at("user").fail("duplicate user \"" + c.user + "\"");
                if (n.has("cn")) {
                    c.cn = n.at("cn").string();
                    n.at("cn").check([&] {
                        DistinguishedName probe;
                        probe.set("CN", c.cn);
                    });
                    if (c.cn == c.user) c.cn.clear();
                }
                if (n.has("map")) {
                    c.map = n.at("map").string();
                    n.at("map").check([&] { validate_simple_name(c.map, "map name"); });
                }
                if (!c.cn.empty() && c.map.empty())
                    n.fail("\"cn\" differs from the role name, so \"map\" is required: PostgreSQL compares the "
                           "certificate's CN to the role name exactly unless a pg_ident.conf map says otherwise");
                if (n.has("key")) c.key = n.at("key").key_alg();
                if (n.has("days")) c.days = n.at("days").integer(1, 36500);
                if (n.has("formats")) {
                    c.formats = parse_formats(n.at("formats"));
                    if (c.formats->p12 && p.defaults.p12_passphrase.empty())
                        n.at("formats").fail("\"p12\" needs defaults.p12_passphrase (postgresql.p12 is encrypted "
                                             "with it)");
                }
                p.clients.push_back(std::move(c));
            }
        }

        if (root.has("hba")) {
            Node list = root.at("hba");
            if (!list.raw().is_array()) list.fail("expected a list, got " + list.type_name());
            for (std::size_t i = 0; i < list.raw().size(); ++i) parse_hba(list.at(i), p);
        }
        if (root.has("poolers")) parse_poolers(root.at("poolers"), p);

        if (root.has("server_settings")) {
            Node s = root.at("server_settings");
            if (!s.raw().is_object()) s.fail("expected an object, got " + s.type_name());
            for (const auto& item : s.raw().items()) {
                const std::string& key = item.key();
                Node v = s.at(key);
                std::string value;
                if (v.raw().is_array() && (key == "ssl_groups" || key == "ssl_tls13_ciphers")) {
                    for (const auto& name : v.string_list()) value += (value.empty() ? "" : ":") + name;
                } else {
                    value = v.setting();
                }
                v.check([&] { pg::validate_server_setting(key, value); });
                p.server_settings[key] = value;
            }
        }
        // A lifetime no longer than the renewal window would be renewed by every apply.
        const int window = p.defaults.renew_before_days;
        auto check_window = [&](int days, const std::string& path) {
            if (days <= window)
                throw Error(ErrorKind::profile, path + ": " + std::to_string(days) + " days is not longer than "
                                                "defaults.renew_before_days (" + std::to_string(window) +
                                                "): every apply would issue it again");
        };
        check_window(p.defaults.server_days, "defaults.server_days");
        check_window(p.defaults.client_days, "defaults.client_days");
        for (std::size_t i = 0; i < p.servers.size(); ++i)
            if (p.servers[i].days) check_window(*p.servers[i].days, "servers[" + std::to_string(i) + "].days");
        for (std::size_t i = 0; i < p.clients.size(); ++i)
            if (p.clients[i].days) check_window(*p.clients[i].days, "clients[" + std::to_string(i) + "].days");
        for (std::size_t i = 0; i < p.poolers.size(); ++i)
            if (p.poolers[i].days) check_window(*p.poolers[i].days, "poolers[" + std::to_string(i) + "].days");
        p.client_settings["sslmode"] = "verify-full";
        if (root.has("client_settings")) {
            Node s = root.at("client_settings");
            if (!s.raw().is_object()) s.fail("expected an object, got " + s.type_name());
            for (const auto& item : s.raw().items()) {
                const std::string& key = item.key();
                Node v = s.at(key);
                std::string value = v.setting();
                v.check([&] { pg::validate_client_setting(key, value); });
                p.client_settings[key] = value;
            }
        }
        check_targets(root, p, version_from);
        return p;
    } catch (const Error& e) {
        throw Error(ErrorKind::profile, std::string(source) + ": " + e.what());
    } catch (const json::exception& e) {
        throw Error(ErrorKind::profile, std::string(source) + ": " + e.what());
    }
}

Profile load_profile(const std::string& path) {
    detail::PhaseTimer timer("load profile");
    std::string text = in_context("profile", [&] { return io::read_file(path, io::kMaxProfileBytes); });
    return parse_profile(text, path);
}

}  // namespace pgca
