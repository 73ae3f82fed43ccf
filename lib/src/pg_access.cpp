#include "pgca/pg_access.hpp"

#include <algorithm>
#include <set>

#include "pgca/error.hpp"
#include "pgca/name.hpp"
#include "pgca/pg_syntax.hpp"

namespace pgca::pg {
namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += sep;
        out += s;
    }
    return out;
}

// "hba[3].clientcert: …" when `why` starts with a field name and a colon, "hba[3]: …" otherwise.
[[noreturn]] void rule_error(std::size_t i, const std::string& why) {
    static const char* const fields[] = {"clientcert: ", "clientname: ", "method: ", "map: ", "user: "};
    for (const char* f : fields)
        if (why.rfind(f, 0) == 0) throw Error(ErrorKind::profile, "hba[" + std::to_string(i) + "]." + why);
    throw Error(ErrorKind::profile, "hba[" + std::to_string(i) + "]: " + why);
}

AccessPlan plan_access_unnamed(const std::vector<HbaRule>& rules, const std::vector<ClientSpec>& clients);

}  // namespace

AccessPlan plan_access(const std::vector<HbaRule>& rules, const std::vector<ClientSpec>& clients,
                       std::string_view source) {
    // Errors name the profile file first, like the parser's ("profile.json: hba[3].clientcert: …").
    try {
        return plan_access_unnamed(rules, clients);
    } catch (const Error& e) {
        if (source.empty()) throw;
        throw e.with_context(source);
    }
}

namespace {

AccessPlan plan_access_unnamed(const std::vector<HbaRule>& rules, const std::vector<ClientSpec>& clients) {
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
    for (std::size_t k = 0; k < clients.size(); ++k) {
        const auto& c = clients[k];
        if (c.cn.empty()) continue;
        ident_system_user(c.cn, "clients[" + std::to_string(k) + "].cn");
        add_ident({c.map, c.cn, c.user});
    }

    for (std::size_t i = 0; i < rules.size(); ++i) {
        const HbaRule& r = rules[i];
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
        if (!map.empty() && !takes_map(r.method))
            rule_error(i, "map: PostgreSQL refuses it with method " + r.method + " (PostgreSQL: authentication option \"map\" "
                          "is only valid for authentication methods ident, peer, gssapi, sspi, and cert)");

        // Which known clients can this rule match?
        std::vector<const ClientSpec*> covered;
        for (const auto& c : clients)
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

}  // namespace
}  // namespace pgca::pg
