// What pgca reports it did, and progress of long work.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace pgca {

/// Something pgca did (or, in a dry run, would do) — reported to the user, never thrown.
struct Action {
    std::string verb;    ///< create, issue, renew, reissue, keep, write, unchanged
    std::string kind;    ///< root, intermediate, server, client, file
    std::string name;    ///< server or role name, or a file path
    std::string detail;  ///< why, or the new serial
};

/// Progress of long work: (done, total).
using Progress = std::function<void(std::size_t, std::size_t)>;

}  // namespace pgca
