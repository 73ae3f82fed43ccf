// Wiping secrets from memory: below both the passphrase sources (secret.hpp) and the file layer
// (io.hpp), which wipes private files' contents after writing them.
#pragma once

#include <string>

namespace pgca {

/// Overwrites a string holding a secret (with OPENSSL_cleanse, which the compiler cannot drop),
/// then empties it.
void wipe(std::string& secret) noexcept;

}  // namespace pgca
