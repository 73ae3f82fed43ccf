#!/usr/bin/env bash
# Baseline A: the "tutorial" way -- a bash loop calling the openssl CLI per user.
# Usage: openssl_cli_loop.sh CADIR ALG N OUTDIR [MODE]
#   ALG : ec256 | rsa2048 | ... (leaf key type; CA in CADIR made by ca_setup_openssl.sh)
#   MODE: twostep (default) = openssl req -new -newkey ... ; openssl x509 -req -CA ... -extfile
#                             (2 processes per user, as in the PostgreSQL docs / most tutorials)
#         twostep-nostore   = twostep with SSL_CERT_FILE=/dev/null: OpenSSL 3.0's
#                             `openssl x509` loads the whole system trust bundle
#                             (/etc/ssl/certs/ca-certificates.crt, ~144 certs, ~28 ms) on
#                             every invocation; this variant shows what that costs
#         onestep           = openssl req -new -x509 -CA ... -CAkey ...  (OpenSSL >= 3.0,
#                             1 process per user)
set -euo pipefail
CADIR=$1
ALG=$2
N=$3
OUT=$4
MODE=${5:-twostep}
mkdir -p "$OUT"
# shellcheck source=newkey_args.sh
source "$(dirname "${BASH_SOURCE[0]}")/newkey_args.sh"

if [ "$MODE" = twostep-nostore ]; then
  export SSL_CERT_FILE=/dev/null
  MODE=twostep
fi
if [ "$MODE" = twostep ]; then
  for ((i = 0; i < N; i++)); do
    openssl req -new "${NK[@]}" -nodes -keyout "$OUT/user$i.key" -out "$OUT/user$i.csr" \
      -subj "/CN=user$i" 2>/dev/null
    openssl x509 -req -in "$OUT/user$i.csr" -CA "$CADIR/ca.crt" -CAkey "$CADIR/ca.key" \
      -CAcreateserial -days 365 -sha256 -extfile "$CADIR/client.ext" \
      -out "$OUT/user$i.crt" 2>/dev/null
  done
elif [ "$MODE" = onestep ]; then
  CNF=$OUT/.req.cnf
  # The client extensions ca_setup_openssl.sh wrote, as the request's x509_extensions section.
  { printf '[req]\ndistinguished_name = dn\nx509_extensions = v3_client\n[dn]\n[v3_client]\n'
    cat "$CADIR/client.ext"; } >"$CNF"
  for ((i = 0; i < N; i++)); do
    openssl req -new -x509 -config "$CNF" "${NK[@]}" -nodes -keyout "$OUT/user$i.key" \
      -out "$OUT/user$i.crt" -subj "/CN=user$i" -days 365 -sha256 \
      -CA "$CADIR/ca.crt" -CAkey "$CADIR/ca.key" 2>/dev/null
  done
else
  echo "unknown mode $MODE" >&2; exit 2
fi
