// The PostgreSQL ledger's schema migrations, generated at build time from migrations/NNNN_*.sql.
#pragma once

#include <vector>

namespace pgca::detail {

/// The text of each migration, in order: element i brings schema version i to i + 1.
[[nodiscard]] const std::vector<const char*>& postgres_migrations();

}  // namespace pgca::detail
