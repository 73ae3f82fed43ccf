#include "pgca/wipe.hpp"

#include <openssl/crypto.h>

namespace pgca {

void wipe(std::string& secret) noexcept {
    if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
}

}  // namespace pgca
