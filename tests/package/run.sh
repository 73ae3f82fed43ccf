#!/usr/bin/env bash
# The installed package works for a consumer: `cmake --install` of BUILD_DIR into a temporary
# prefix, then the consumer project beside this script is configured with find_package(pgca),
# built with CXX and run; its output and the installed `pgca --version` must name VERSION.
#   tests/package/run.sh BUILD_DIR CXX VERSION
set -euo pipefail
build_dir=$1 cxx=$2 version=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pgca-package-XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "package test: $*" >&2; exit 1; }
run() {  # run LOG CMD...: the command's output only when it fails
  local log=$1
  shift
  "$@" >"$work/$log" 2>&1 || { cat "$work/$log" >&2; fail "failed: $*"; }
}

prefix=$work/prefix
run install.log cmake --install "$build_dir" --prefix "$prefix"
[ -f "$prefix/lib/cmake/pgca/pgcaConfig.cmake" ] || fail "no pgcaConfig.cmake under $prefix/lib/cmake/pgca"
[ -f "$prefix/lib/cmake/pgca/pgcaConfigVersion.cmake" ] || fail "no pgcaConfigVersion.cmake"
[ -f "$prefix/include/pgca/version.hpp" ] || fail "the generated version header was not installed"
installed_version=$("$prefix/bin/pgca" --version)
[ "$installed_version" = "pgca $version" ] || fail "installed pgca --version says '$installed_version', expected 'pgca $version'"

run configure.log cmake -S "$here" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
run build.log cmake --build "$work/consumer" -j2
out=$("$work/consumer/pgca_consumer") || fail "pgca_consumer failed: $out"
expected="profile consumer: 2 clients
dn CN=frank,O=Acme\\, Inc.
version $version ($version)"
if [ "$out" != "$expected" ]; then
  printf 'package test: pgca_consumer printed\n%s\nexpected\n%s\n' "$out" "$expected" >&2
  exit 1
fi
echo "package test: installed pgca $version, the consumer built and ran"
