// Shared by the profile tests: a minimal valid document, and the message of the profile error a
// document raises.
#pragma once

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "pgca/error.hpp"
#include "pgca/profile.hpp"

namespace pgca::test {

// A valid profile: one server "db" (localhost, 127.0.0.1), one client "alice", one cert rule.
inline nlohmann::json minimal_profile_doc() {
    return nlohmann::json::parse(R"({
      "pgca_profile": 1, "name": "t",
      "ca": { "subject": { "CN": "T Root" } },
      "servers": [ { "name": "db", "hosts": ["localhost", "127.0.0.1"] } ],
      "clients": [ { "user": "alice" } ],
      "hba": [ { "type": "hostssl", "database": "all", "user": "alice", "address": "127.0.0.1/32", "method": "cert" } ]
    })");
}

// The message of the profile error that parsing `doc` (as "p.json") raises; fails if it parses.
inline std::string profile_error_of(const nlohmann::json& doc) {
    try {
        (void)parse_profile(doc.dump(), "p.json");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::profile);
        return e.what();
    }
    FAIL("profile was accepted: " << doc.dump());
    return {};
}

}  // namespace pgca::test
