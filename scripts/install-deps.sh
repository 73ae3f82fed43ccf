#!/usr/bin/env bash
# Installs what pgca needs to build and test, from Debian 12 packages only.
set -euo pipefail
packages=(
  build-essential cmake pkg-config openssl
  libssl-dev libcxxopts-dev nlohmann-json3-dev catch2 libsqlite3-dev libpq-dev
  postgresql-15 postgresql-client-15 pgbouncer
  clang-14 libclang-rt-14-dev llvm-14  # CI's second compiler, and libFuzzer (+ llvm-symbolizer) for scripts/fuzz.sh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
