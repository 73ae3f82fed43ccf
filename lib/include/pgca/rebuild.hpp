// `pgca ledger rebuild`: a lost ledger made again from the files of its folder
// (lib/src/rebuild.cpp).
#pragma once

#include <string>
#include <vector>

#include "pgca/ledger.hpp"

namespace pgca {

/// What `pgca ledger rebuild` did.
struct RebuildResult {
    std::vector<LedgerEntry> recorded;  ///< each certificate recorded (status as recorded), CAs first
    std::vector<CrlState> crls;         ///< per CA, the newest CRL found (the next one gets a higher number)
    std::vector<std::string> skipped;   ///< files not used, each with the reason
    std::vector<std::string> warnings;  ///< what the next apply will do differently, and why
};

/// Rebuilds a lost ledger of `dir` from the files on disk: the CA certificates, every
/// servers/NAME/server.crt and clients/ROLE/postgresql.crt the folder's CA issued (status from
/// validity, file digests and issue parameters as apply records them, so the next apply with the same
/// profile keeps them), the revocations of every CRL found (a serial without a certificate on
/// disk is recorded as kind "unknown"), and each CA's CRL number. Nothing replaces pgca.db
/// until the whole ledger is made. The folder is locked through the ledger
/// (Ledger::lock_exclusive), waiting at most `lock_timeout_seconds` for another pgca. Throws
/// Error(policy) when `dir` has a ledger, Error(input) when it has no root CA.
[[nodiscard]] RebuildResult rebuild_ledger(const std::string& dir, int lock_timeout_seconds = 30);

}  // namespace pgca
