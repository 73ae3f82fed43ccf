#!/usr/bin/env bash
# Installs what pgca needs to build and test, from Debian 12 packages only.
set -euo pipefail
packages=(
  build-essential cmake pkg-config openssl
  libssl-dev libcxxopts-dev nlohmann-json3-dev catch2 libsqlite3-dev libpq-dev
  postgresql-15 postgresql-client-15 pgbouncer
  prometheus systemd  # promtool checks `pgca metrics`, systemd-analyze verify checks `pgca units`
  clang-14 libclang-rt-14-dev llvm-14  # CI's second compiler, and libFuzzer (+ llvm-symbolizer) for scripts/fuzz.sh
  # The real drivers `pgca connect` is tested with (tests/integration/drivers_test.cpp):
  python3-psycopg2 python3-psycopg python3-asyncpg libpostgresql-jdbc-java openjdk-17-jdk-headless
  golang-go golang-github-jackc-pgx-v4-dev nodejs
)
# npm comes with nodejs where that is not Debian's own package.
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-postgres, pinned, into a cache outside the repository (the drivers test looks there).
node_dir="${XDG_CACHE_HOME:-$HOME/.cache}/pgca/node"
pg_version=8.23.1
if ! grep -q "\"version\": \"$pg_version\"" "$node_dir/node_modules/pg/package.json" 2>/dev/null; then
  echo "installing: npm pg@$pg_version into $node_dir" >&2
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" "pg@$pg_version" >/dev/null
fi
