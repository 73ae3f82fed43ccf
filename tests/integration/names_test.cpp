// Legal but awkward role names, end to end on PostgreSQL 15: certificates, pg_hba.conf quoting,
// pg_ident.conf, folder names and service files.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "pgca_server.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kAwkward{"my user", "a,b", "Mixed", "quo\"te", "all", "+plus", "#hash", "jos\xc3\xa9"};

json awkward_profile() {
    json clients = json::array();
    json users = json::array();
    for (const auto& u : kAwkward) {
        clients.push_back({{"user", u}});
        users.push_back({{"name", u}});  // always the literal role, even "all"
    }
    clients.push_back({{"user", "mapped one"}, {"cn", "mapped, \"one\"@example.com"}, {"map", "m"}});
    users.push_back("mapped one");
    return {{"pgca_profile", 1},
            {"name", "names"},
            {"ca", {{"subject", {{"CN", "Names Root"}, {"O", "Acme, Inc."}}}}},
            {"servers", json::array({{{"name", "db"}, {"hosts", {"localhost", "127.0.0.1"}}}})},
            {"clients", clients},
            {"hba", json::array({{{"type", "hostssl"}, {"database", "all"}, {"user", users},
                                  {"address", "127.0.0.1/32"}, {"method", "cert"}}})}};
}

}  // namespace

TEST_CASE("awkward role names log in with their certificates and only as themselves", "[pg][names]") {
    PGCA_REQUIRE_POSTGRES();
    AppliedServer s(awkward_profile().dump());
    std::vector<std::string> roles = kAwkward;
    roles.push_back("mapped one");
    roles.push_back("mixed");  // a different role: PostgreSQL does not fold case
    s.start("db", roles);
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_hba_file_rules where error is not null") == "0");
    CHECK(s.pg().psql_admin_checked("select count(*) from pg_ident_file_mappings where error is not null") == "0");

    for (const auto& role : kAwkward) {
        INFO("role " << role);
        // The role comes from the client's own pg_service.conf, spelled exactly.
        auto r = s.connect("names", "", "", role);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(trim(r.out) == role);
    }
    auto mapped = s.connect("names", "", "", "mapped one");
    INFO(mapped.err);
    CHECK(trim(mapped.out) == "mapped one");

    // The certificate of "Mixed" does not open "mixed"; "all" is a role here, not every role.
    auto lower = s.attempt("names", "mixed", "", "Mixed");
    CHECK(lower.client.exit_code != 0);
    CHECK_THAT(lower.client.err, Catch::Contains("no pg_hba.conf entry") || Catch::Contains("certificate authentication failed"));
    auto all_as_other = s.attempt("names", "Mixed", "", "all");
    CHECK(all_as_other.client.exit_code != 0);
    CHECK_THAT(all_as_other.client.err, Catch::Contains("certificate authentication failed for user \"Mixed\""));
}
