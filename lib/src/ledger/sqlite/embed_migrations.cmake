# Writes OUTPUT: a C++ source returning the text of every SQL file in DIR, in file-name order
# (0001_….sql, 0002_….sql, …), as pgca::detail::NAME_migrations() declared in
# ledger/NAME/migrations.hpp (NAME: sqlite, the default, or postgres). Run at build time (see
# lib/CMakeLists.txt).
if(NOT NAME)
  set(NAME sqlite)
endif()
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  file(READ "${f}" text)
  get_filename_component(name "${f}" NAME)
  string(APPEND body "        // ${name}\n        R\"pgca_sql(${text})pgca_sql\",\n")
endforeach()
file(WRITE "${OUTPUT}.tmp"
"// Generated from lib/src/ledger/${NAME}/migrations/*.sql by embed_migrations.cmake; do not edit.
#include \"ledger/${NAME}/migrations.hpp\"

namespace pgca::detail {

const std::vector<const char*>& ${NAME}_migrations() {
    static const std::vector<const char*> texts{
${body}    };
    return texts;
}

}  // namespace pgca::detail
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
