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
