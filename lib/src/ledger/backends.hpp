// The ledger backends open_ledger chooses from; not part of the public API.
#pragma once

#include <memory>
#include <string>

#include "pgca/ledger.hpp"

namespace pgca::detail {

/// The SQLite ledger at `path` (see open_ledger for `read_only`).
[[nodiscard]] std::unique_ptr<Ledger> open_sqlite_ledger(const std::string& path, bool read_only);
/// The PostgreSQL ledger a libpq URI or conninfo names (see open_ledger for `read_only`).
[[nodiscard]] std::unique_ptr<Ledger> open_postgres_ledger(const std::string& url, bool read_only);
/// A new, empty ledger held in memory: the second implementation of the contract (tests, dry
/// runs of tools). Nothing outlives the object.
[[nodiscard]] std::unique_ptr<Ledger> open_memory_ledger();

/// A serial as an operator types it, as every backend's by_serial looks it up: upper case, no
/// leading zeros (stored serials are whole bytes, up to three zeros longer).
[[nodiscard]] std::string bare_serial(const std::string& typed);

}  // namespace pgca::detail
