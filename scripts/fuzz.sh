#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang into build-fuzz/ and runs each one for SECONDS
# (default 60) over a temporary copy of its seed corpus in fuzz/corpus/TARGET (the committed
# corpus never grows). Fails if any target finds a crash, a leak, UB or a timeout; the input
# that did it is kept in build-fuzz/artifacts/ and printed.
#   scripts/fuzz.sh [SECONDS]          environment: CXX/CC to choose the clang, FUZZ_TARGETS to pick targets
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
targets=${FUZZ_TARGETS:-"fuzz_profile fuzz_pem fuzz_hba_quote fuzz_crl_encode"}

# Debian 12's clang 14 (libclang-rt-14-dev holds its libFuzzer), the compiler CI also builds with;
# else a newer one.
if [ -z "${CXX:-}" ]; then
  for v in 14 16 15 ""; do
    if command -v "clang++${v:+-$v}" >/dev/null; then CXX="clang++${v:+-$v}"; CC="clang${v:+-$v}"; break; fi
  done
fi
: "${CXX:?no clang++ found: apt-get install clang-14 libclang-rt-14-dev llvm-14}"
export CC=${CC:-${CXX/clang++/clang}} CXX

build="$root/build-fuzz"
cmake -S "$root" -B "$build" -DPGCA_FUZZ=ON -DPGCA_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets

artifacts="$build/artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d /tmp/pgca-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
# A symbolizer that matches the compiler, so that stacks name files and lines.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  cxx_path=$(readlink -f "$(command -v "$CXX")")
  for s in "$(dirname "$cxx_path")/llvm-symbolizer" "$(readlink -f "$(command -v llvm-symbolizer || true)")"; do
    if [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH="$s"; break; fi
  done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for t in $targets; do
  corpus="$work/$t"
  mkdir -p "$corpus"
  rm -f "$artifacts/$t-"*  # only this run's findings are reported
  cp -R "$root/fuzz/corpus/$t/." "$corpus/"
  if [ "$t" = fuzz_pem ]; then
    # Private keys are never committed: the key seeds are made for each run.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$corpus/key_ec_p256.pem" 2>/dev/null
    openssl pkey -in "$corpus/key_ec_p256.pem" -outform DER -out "$corpus/key_ec_p256.der"
    openssl genpkey -algorithm ED25519 -out "$corpus/key_ed25519.pem"
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$corpus/key_rsa_2048.pem" 2>/dev/null
  fi
  seeds=$(find "$corpus" -type f | wc -l)
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/$t-")
  [ -f "$root/fuzz/$t.dict" ] && args+=(-dict="$root/fuzz/$t.dict")
  # Long enough to reach pg_hba.conf's 10240-byte token limit.
  [ "$t" = fuzz_hba_quote ] && args+=(-max_len=12000)
  echo "== $t: ${seconds}s from $seeds seed(s)"
  log="$work/$t.log"
  set +e
  "$build/fuzz/$t" "${args[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  final=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' || true)
  echo "   exit $rc, ${execs:-?} runs, ${rate:-?} exec/s, $final, corpus files now $(find "$corpus" -type f | wc -l)"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    sed -n '/^==[0-9]*==ERROR\|runtime error\|^fuzz_\|deadly signal\|ERROR: libFuzzer/,$p' "$log" | head -n 80
    for a in "$artifacts/$t-"*; do
      [ -f "$a" ] || continue
      echo "   input $a ($(stat -c %s "$a") bytes):"
      od -A x -t x1z -v "$a" | head -n 20 | sed 's/^/     /'
    done
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash in ${seconds}s per target"
