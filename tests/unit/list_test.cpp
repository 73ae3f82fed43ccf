#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "pgca/operations.hpp"
#include "pgca/apply.hpp"
#include "pgca/pki.hpp"
#include "temp_dir.hpp"

using namespace pgca;

namespace {

std::string applied_folder(const test::TempDir& tmp) {
    std::string dir = tmp.path() + "/pki";
    auto doc = nlohmann::json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" }, "intermediate": { "subject": { "CN": "T Issuing" } } },
      "servers": [ { "name": "db", "hosts": ["localhost"] } ],
      "clients": [ { "user": "alice" } ]
    })");
    (void)apply(parse_profile(doc.dump(), "t.json"), dir, {});
    return dir;
}

std::size_t count_status(const ops::ListResult& r, CertStatus status) {
    std::size_t n = 0;
    for (const auto& e : r.certificates) n += e.status == status ? 1 : 0;
    return n;
}

}  // namespace

TEST_CASE("ops::list returns the certificates and CRLs, filtered in the library", "[list]") {
    test::TempDir tmp;
    const std::string dir = applied_folder(tmp);

    auto all_valid = ops::list(dir, {});
    CHECK(all_valid.certificates.size() == 4);  // root, intermediate, db, alice
    CHECK(count_status(all_valid, CertStatus::valid) == 4);
    REQUIRE(all_valid.crls.size() == 2);
    CHECK(all_valid.crls[0].name == "root");
    CHECK(all_valid.crls[1].name == "intermediate");
    CHECK(all_valid.warnings.empty());

    ops::ListOptions expiring;
    expiring.expiring = 1;
    auto soon = ops::list(dir, expiring);
    CHECK(soon.certificates.empty());
    CHECK(soon.crls.empty());

    ops::RotateOptions force;
    force.force = true;
    (void)ops::rotate(dir, force, OpenOptions{});
    CHECK(count_status(ops::list(dir, {}), CertStatus::superseded) == 0);
    ops::ListOptions all;
    all.all = true;
    auto with_old = ops::list(dir, all);
    CHECK(with_old.certificates.size() == 5);
    CHECK(count_status(with_old, CertStatus::superseded) == 1);
}

TEST_CASE("ops::list with expiring warns about a CA within its rollover lead time", "[list][rollover]") {
    test::TempDir tmp;
    const std::string dir = tmp.path() + "/pki";
    // A root with 200 days left, leaves that ask for 397 and 365: every leaf is cut short.
    auto doc = nlohmann::json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" }, "days": 200 },
      "servers": [ { "name": "db", "hosts": ["localhost"] } ],
      "clients": [ { "user": "alice" } ]
    })");
    (void)apply(parse_profile(doc.dump(), "t.json"), dir, {});
    ops::ListOptions expiring;
    expiring.expiring = 30;
    auto r = ops::list(dir, expiring);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Catch::Contains("the root CA \"CN=T Root\" expires"));
    CHECK_THAT(r.warnings[0], Catch::Contains("within its rollover lead time of 397 days"));
    CHECK_THAT(r.warnings[0], Catch::Contains("start a rollover (`pgca rollover begin`)"));
    CHECK(ops::list(dir, {}).warnings.empty());  // plain list: no lead-time check

    // A fresh CA (the other case's 3650 days) has no such warning.
    test::TempDir other;
    const std::string fresh = applied_folder(other);
    CHECK(ops::list(fresh, expiring).warnings.empty());
}
