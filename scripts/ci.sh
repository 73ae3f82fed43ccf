#!/usr/bin/env bash
# CI, in four steps, each timed:
#   1. the README's test command (scripts/test.sh): install deps, build into build/ with g++ and
#      PGCA_WERROR=ON (a warning fails the build), run every test;
#   2. the same sources built with clang 14 and PGCA_WERROR=ON into build-clang/, its unit tests and
#      the package test (the installed headers compiled by a clang consumer);
#   3. the same suite built with ASan + UBSan (-DPGCA_SANITIZE=ON) into build-asan/, run with leak
#      detection on and UBSan fatal (the PostgreSQL binaries the integration tests start are not
#      instrumented, which is fine);
#   4. the libFuzzer targets, PGCA_FUZZ_SECONDS (default 20) each (scripts/fuzz.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

times=()
summary() { printf '    %s\n' "${times[@]}"; }
step() {
  local name=$1
  shift
  local start=$SECONDS rc=0
  echo "=== ci: $name"
  "$@" || rc=$?
  times+=("$(printf '%-34s %5ds%s' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] || echo "  FAILED (exit $rc)")")")
  echo "=== ci: $name: $((SECONDS - start))s, exit $rc"
  if [ $rc -ne 0 ]; then
    summary
    exit "$rc"
  fi
}

# (Chained with &&: `set -e` does not apply inside a function called from `step`'s `||`.)
# The clang build checks warnings and C++17 conformance of every target (-O0 -g0: the fastest
# build; clang warns the same at every level), then runs the unit and package tiers: the cli tier
# drives the pgca binary, which steps 1 and 3 run with g++ and under the sanitizers.
clang_build() {
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$root/build-clang" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g0" -DPGCA_WERROR=ON -DPGCA_BUILD_BENCH=OFF >/dev/null &&
    cmake --build "$root/build-clang" -j"$(nproc)" &&
    (cd "$root/build-clang" && ctest --output-on-failure -j2 --timeout 300 -L 'unit|package')
}

# Every tier runs instrumented (the cli and integration tests drive the instrumented pgca binary),
# except the package test (a CMake install, nothing to instrument) and the checks of the
# missing-tool rule, which only exercise the test harness. The integration tier runs against
# PostgreSQL 15 only: pgca is what is instrumented, not the server, and the version matrix has run
# uninstrumented in step 1 (docs/performance.md has the times). The interoperability files
# (drivers, PgBouncer, versions) are left to step 1 too: they prove that the real drivers, the
# real PgBouncer and each server version accept what pgca wrote, which no instrumentation of pgca
# changes, and pgca's own code on their paths (apply, connect) runs instrumented in the cli tier
# and the other integration files. No benchmarks are built here.
sanitized_suite() {
  # -O1 with assertions: under ASan, RelWithDebInfo's -O2 took 17 min to build on 2 cores, -O1 12 min.
  cmake -S "$root" -B "$root/build-asan" -DPGCA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DPGCA_BUILD_BENCH=OFF >/dev/null &&
    cmake --build "$root/build-asan" -j"$(nproc)" &&
    (cd "$root/build-asan" &&
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ctest --output-on-failure -j2 --timeout 600 -LE 'package|pg16|pg17|pg18' \
        -E 'without |: (drivers_test|pgbouncer_test|versions_test)$')
}

step "build + ctest (scripts/test.sh)" env PGCA_WERROR=ON bash scripts/test.sh
step "clang 14 build + unit, package tests" clang_build
step "ASan+UBSan build + ctest" sanitized_suite
step "fuzz (scripts/fuzz.sh)" bash scripts/fuzz.sh "${PGCA_FUZZ_SECONDS:-20}"

echo "=== ci: all steps passed"
summary
