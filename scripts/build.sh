#!/usr/bin/env bash
# Configures and builds pgca (and its tests) into build/. Extra arguments go to cmake.
# PGCA_WERROR=ON in the environment makes every warning an error (scripts/ci.sh sets it).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGCA_WERROR="${PGCA_WERROR:-OFF}" "$@" >/dev/null
cmake --build "$root/build" -j"$(nproc)"
