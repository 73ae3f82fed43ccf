// All of pgca's PostgreSQL knowledge, for callers that want it in one include: the syntax and
// limits (pg_syntax.hpp), the access rules (pg_access.hpp) and the file renderers
// (pg_render.hpp). Library modules include the part they use.
#pragma once

#include "pgca/pg_access.hpp"
#include "pgca/pg_render.hpp"
#include "pgca/pg_syntax.hpp"
