// Shared by the profile tests: the message of the profile error a document raises.
#pragma once

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "pgca/error.hpp"
#include "pgca/profile.hpp"

namespace pgca::test {

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
