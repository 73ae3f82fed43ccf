// A folder is pgca's only when pgca made it (lib/src/ownership.cpp).
#pragma once

#include <string>

namespace pgca {

/// When `dir` has no ledger: throws Error(policy) if it holds a CA or certificates (the ledger
/// was lost; the message names `pgca ledger rebuild`), or, when `create` is set, if it holds
/// anything at all (listing what). A missing or empty folder passes, as does any folder with a
/// ledger.
void refuse_unowned_folder(const std::string& dir, bool create);

}  // namespace pgca
