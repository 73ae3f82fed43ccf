#!/usr/bin/env bash
# CI, in three steps, each timed:
#   1. the README's test command (scripts/test.sh): install deps, build into build/, run every test;
#   2. the same suite built with ASan + UBSan (-DPGCA_SANITIZE=ON) into build-asan/, run with leak
#      detection on and UBSan fatal (the PostgreSQL binaries the integration tests start are not
#      instrumented, which is fine);
#   3. the libFuzzer targets, PGCA_FUZZ_SECONDS (default 60) each (scripts/fuzz.sh).
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
sanitized_suite() {
  # -O1 with assertions: under ASan, RelWithDebInfo's -O2 took 17 min to build on 2 cores, -O1 12 min.
  cmake -S "$root" -B "$root/build-asan" -DPGCA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" >/dev/null &&
    cmake --build "$root/build-asan" -j"$(nproc)" &&
    (cd "$root/build-asan" &&
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ctest --output-on-failure -j2 --timeout 600)
}

step "build + ctest (scripts/test.sh)" bash scripts/test.sh
step "ASan+UBSan build + ctest" sanitized_suite
step "fuzz (scripts/fuzz.sh)" bash scripts/fuzz.sh "${PGCA_FUZZ_SECONDS:-60}"

echo "=== ci: all steps passed"
summary
