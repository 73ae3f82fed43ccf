#!/usr/bin/env bash
# pgca end to end on the embedded default, profiles/local-dev.json:
#   install dependencies, build, `pgca apply`, start a throwaway PostgreSQL 15 on 127.0.0.1 with the
#   emitted files, connect with psql over sslmode=verify-full with a client certificate, show what
#   happened, stop the server. Nothing outside the work folder it prints is changed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" --target pgca >/dev/null
pgca="$root/build/apps/pgca/pgca"
bindir=/usr/lib/postgresql/15/bin

work=$(mktemp -d /tmp/pgca-quickstart-XXXXXX)
chmod 755 "$work"
pki="$work/pki"
data="$work/data"
sock="$work/sock"

# PostgreSQL refuses to run as root: when we are root, the server side runs as `postgres`.
as_server=()
if [ "$(id -u)" -eq 0 ]; then as_server=(runuser -u postgres --); fi

# A free loopback port: one nobody answers on.
port=55432
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

cleanup() {
  if [ -f "$data/postmaster.pid" ]; then
    "${as_server[@]}" "$bindir/pg_ctl" -D "$data" stop -m fast -w >/dev/null 2>&1 || true
  fi
  rm -rf "$data" "$sock"
}
trap cleanup EXIT

echo "== 1. pgca apply profiles/local-dev.json --dir $pki"
"$pgca" apply "$root/profiles/local-dev.json" --dir "$pki"

echo
echo "== 2. a throwaway PostgreSQL 15 on 127.0.0.1:$port using the emitted files"
mkdir -p "$data" "$sock" "$work/log"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$data" "$sock" "$work/log"; chown -R postgres: "$pki/servers/local"; fi
"${as_server[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
"${as_server[@]}" sh -c "cat >> '$data/postgresql.conf'" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
fsync = off
log_connections = on
include '$pki/servers/local/postgresql.ssl.conf'
CONF
"${as_server[@]}" cp "$pki/pg_hba.conf" "$pki/pg_ident.conf" "$data/"
"${as_server[@]}" "$bindir/pg_ctl" -D "$data" -l "$work/log/server.log" -w start >/dev/null
"${as_server[@]}" psql -X -q -h "$sock" -p "$port" -U postgres -d postgres \
  -c "CREATE ROLE app LOGIN; CREATE ROLE alice LOGIN; CREATE ROLE report LOGIN;"
echo "server started; ssl settings from $pki/servers/local/postgresql.ssl.conf:"
grep -v '^#' "$pki/servers/local/postgresql.ssl.conf" | sed 's/^/    /'

query="SELECT current_user AS role, s.version, s.cipher, s.client_dn
       FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
connect() {  # ROLE [BUNDLE]: psql through the client's pg_service.conf (sslmode=verify-full)
  local role=$1 bundle=${2:-$1}
  env -u PGSSLMODE -u PGHOST -u PGUSER HOME="$work" PGSERVICEFILE="$pki/clients/$bundle/pg_service.conf" \
    psql -X -w "service=local-dev host=localhost hostaddr=127.0.0.1 port=$port user=$role" -c "$query"
}

echo
echo "== 3. alice connects over verify-full with her client certificate ($pki/clients/alice)"
connect alice
echo "== 4. report's certificate says CN=report@example.com; pg_ident.conf maps it to the role"
connect report
echo "== 5. alice's certificate used for the role app is refused by the server:"
if connect app alice 2>&1; then echo "UNEXPECTED: the server accepted it" >&2; exit 1; fi

echo
echo "== done: the server is stopped; the PKI stays in $pki"
echo "   server log: $work/log/server.log"
