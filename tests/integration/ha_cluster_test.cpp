// profiles/ha-cluster.json on a real PostgreSQL 15: an intermediate CA, a replication role with
// `cert` on the replication pseudo-database, application roles with EC and RSA keys, a person
// mapped by CN, and a clientname=DN rule mapped by the RFC 2253 DN.
#include <catch2/catch.hpp>

#include <memory>

#include <nlohmann/json.hpp>

#include "pg_cluster.hpp"
#include "pgca_server.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace pgca::test;
using nlohmann::json;

namespace {

json loopback_ha_profile() {
    json p = json::parse(read_file(std::string(PGCA_SOURCE_DIR) + "/profiles/ha-cluster.json"));
    p["servers"][0]["hosts"] = {"localhost", "127.0.0.1", "pg-primary.db.acme.internal"};
    for (auto& s : p["servers"]) s.erase("install_dir");
    for (auto& r : p["hba"])
        if (r.contains("address") && r["address"] != "0.0.0.0/0") r["address"] = "127.0.0.1/32";
    p["clients"].push_back({{"user", "auditor"}, {"map", "dnmap"}});
    // Before the final reject rule.
    json dn_rule = {{"type", "hostssl"}, {"database", "all"}, {"user", "auditor"},
                    {"address", "127.0.0.1/32"}, {"method", "cert"}, {"clientname", "DN"}};
    p["hba"].insert(p["hba"].end() - 1, dn_rule);
    return p;
}

struct HaServer {
    AppliedServer applied;
    const std::string& dir = applied.dir();
    PgCluster* pg = nullptr;

    HaServer() : applied(loopback_ha_profile().dump(2)) {
        applied.start("pg-primary", {"replicator", "app_orders", "app_billing", "ops_oncall", "auditor"});
        pg = &applied.pg();
        pg->psql_admin_checked("ALTER ROLE replicator REPLICATION");
        pg->psql_admin_checked("CREATE DATABASE orders");
    }

    ProcessResult connect(const std::string& user, const std::string& extra, const std::string& sql,
                          const std::string& bundle = "") {
        std::string files = bundle.empty() ? user : bundle;
        return pg->psql("service=ha-cluster-pg-primary host=localhost hostaddr=127.0.0.1 port=" +
                            std::to_string(pg->port()) + " user=" + user + " " + extra,
                        sql, {{"PGSERVICEFILE", dir + "/clients/" + files + "/pg_service.conf"}});
    }
};

}  // namespace

TEST_CASE("ha-cluster: leaves from the intermediate log in; replication uses cert", "[pg][ha]") {
    PGCA_REQUIRE_POSTGRES();
    HaServer s;
    CHECK(s.pg->psql_admin_checked("select count(*) from pg_hba_file_rules where error is not null") == "0");
    CHECK(s.pg->psql_admin_checked("select count(*) from pg_ident_file_mappings where error is not null") == "0");

    auto orders = s.connect("app_orders", "dbname=orders", "select current_user");
    INFO(orders.err);
    CHECK(trim(orders.out) == "app_orders");
    auto billing = s.connect("app_billing", "dbname=orders", "select current_user");  // an RSA client key
    INFO(billing.err);
    CHECK(trim(billing.out) == "app_billing");
    // The rule names the orders and billing databases only.
    auto other_db = s.connect("app_orders", "dbname=postgres", "select 1");
    CHECK(other_db.exit_code != 0);
    // …so the final `host all all 0.0.0.0/0 reject` rule answers.
    CHECK_THAT(other_db.err, Catch::Contains("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app_orders\", "
                                             "database \"postgres\", SSL encryption"));

    // A physical replication connection authenticated by certificate.
    auto repl = s.connect("replicator", "dbname=replication replication=true", "IDENTIFY_SYSTEM");
    INFO(repl.err);
    CHECK(repl.exit_code == 0);
    CHECK_THAT(repl.out, Catch::Contains("|"));
    auto repl_wrong = s.connect("replicator", "dbname=replication replication=true", "IDENTIFY_SYSTEM", "app_orders");
    CHECK(repl_wrong.exit_code != 0);
    CHECK_THAT(repl_wrong.err, Catch::Contains("certificate authentication failed for user \"replicator\""));
}

TEST_CASE("ha-cluster: a CN map and a clientname=DN map work on the server", "[pg][ha]") {
    PGCA_REQUIRE_POSTGRES();
    HaServer s;
    auto oncall = s.connect("ops_oncall", "dbname=postgres", "select current_user");
    INFO(oncall.err);
    CHECK(trim(oncall.out) == "ops_oncall");

    std::string ident = read_file(s.dir + "/pg_ident.conf");
    CHECK_THAT(ident, Catch::Contains("dnmap  \"CN=auditor\"") || Catch::Contains("dnmap \"CN=auditor\""));
    auto auditor = s.connect("auditor", "dbname=postgres", "select current_user");
    INFO(auditor.err);
    CHECK(trim(auditor.out) == "auditor");
    auto not_auditor = s.connect("auditor", "dbname=postgres", "select current_user", "app_orders");
    CHECK(not_auditor.exit_code != 0);
    CHECK_THAT(not_auditor.err, Catch::Contains("certificate authentication failed for user \"auditor\""));
}
