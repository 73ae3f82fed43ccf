// PostgreSQL access rules: from a profile's hba rules and clients to the lines of pg_hba.conf
// and pg_ident.conf (an AccessPlan), with the maps PostgreSQL needs and the warnings.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pgca/profile.hpp"

namespace pgca::pg {

/// One line of pg_ident.conf.
struct IdentLine {
    std::string map;
    std::string system_user;  ///< the certificate CN, or its RFC 2253 DN for clientname=DN
    std::string pg_user;
    bool operator==(const IdentLine& o) const {
        return map == o.map && system_user == o.system_user && pg_user == o.pg_user;
    }
};

/// pg_hba.conf and pg_ident.conf for a profile's access rules, with what pgca changed and why.
struct AccessPlan {
    struct HbaLine {
        std::size_t rule;               ///< index in the rules given to plan_access
        std::vector<std::string> fields;  ///< type, database, user, [address], method, options…
        std::vector<std::string> notes;   ///< comments written above the line
    };
    std::vector<HbaLine> hba;
    std::vector<IdentLine> ident;
    std::vector<std::string> warnings;  ///< "hba[3]: …" — also written into the files as comments
};

/// Turns access rules (a profile's `hba`) into lines PostgreSQL 15 accepts at reload, for the
/// `clients` they may cover. Rewrites what has a valid equivalent (`cert clientcert=verify-ca` →
/// `cert`, with a warning); adds `map=` to `cert` rules covering clients whose CN is not their
/// role name, and the pg_ident lines they need. Throws Error(profile) with the JSON path
/// ("hba[3].clientcert: …"), after `source` (the profile file) when it is not empty, for
/// anything that cannot be made valid. The rules' tokens and addresses were validated when the
/// profile was decoded (pg_syntax.hpp); they are not checked again here.
[[nodiscard]] AccessPlan plan_access(const std::vector<HbaRule>& rules, const std::vector<ClientSpec>& clients,
                                     std::string_view source = {});

}  // namespace pgca::pg
