# `cmake --install`: the library as the exported target pgca::core (with pgca::options, the
# usage requirements it carries), its public headers and the generated version header, the pgca
# binary, and a package configuration for find_package(pgca). tests/package/ proves it.
include(CMakePackageConfigHelpers)

set(pgca_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/pgca)

install(TARGETS pgca_core pgca_options EXPORT pgcaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY lib/include/pgca DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/generated/include/pgca/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pgca)
install(TARGETS pgca RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT pgcaTargets NAMESPACE pgca:: FILE pgcaTargets.cmake DESTINATION ${pgca_cmake_dir})
configure_package_config_file(cmake/pgcaConfig.cmake.in ${PROJECT_BINARY_DIR}/pgcaConfig.cmake
  INSTALL_DESTINATION ${pgca_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/pgcaConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/pgcaConfig.cmake ${PROJECT_BINARY_DIR}/pgcaConfigVersion.cmake
  DESTINATION ${pgca_cmake_dir})
