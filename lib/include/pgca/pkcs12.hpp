// PKCS#12 bundles of a client key and its certificate chain: the `.p12` form pgjdbc reads.
#pragma once

#include <string>
#include <string_view>

#include "pgca/key.hpp"

namespace pgca {

/// The friendly name (alias) pgjdbc's PKCS12KeyManager looks the key up under: it calls
/// KeyStore.getEntry("user", …) (org/postgresql/ssl/PKCS12KeyManager, 42.5.5).
inline constexpr const char* kPkcs12Alias = "user";

/// A PKCS#12 file (DER) holding `key` and the certificates of `chain_pem` (leaf first), the key
/// and the leaf under `alias`. The key is shrouded with AES-256-CBC under PBES2/PBKDF2 and the
/// whole file carries a SHA-256 MAC, both from `passphrase`; the certificates are public and
/// stored unencrypted. Throws Error(policy) for an empty passphrase, Error(input) for a chain
/// without certificates, Error(crypto) otherwise.
[[nodiscard]] std::string make_pkcs12(const PrivateKey& key, std::string_view chain_pem, std::string_view alias,
                                      std::string_view passphrase);

/// True when `der` is a PKCS#12 file whose MAC verifies with `passphrase` and that holds `key`
/// and, as its certificate, the leaf of `chain_pem` under `alias`: what make_pkcs12 would write
/// for them (its salts differ every time, so the bytes cannot be compared). False for anything
/// else, a damaged file included.
[[nodiscard]] bool pkcs12_holds(std::string_view der, const PrivateKey& key, std::string_view chain_pem,
                                std::string_view alias, std::string_view passphrase);

}  // namespace pgca
