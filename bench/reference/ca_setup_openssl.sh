#!/usr/bin/env bash
# Create a self-signed CA with the openssl CLI (not timed by the benchmarks).
# Usage: ca_setup_openssl.sh DIR ec256|ec384|ed25519|rsa2048|rsa3072|rsa4096
set -euo pipefail
DIR=$1
ALG=$2
mkdir -p "$DIR"
# shellcheck source=newkey_args.sh
source "$(dirname "${BASH_SOURCE[0]}")/newkey_args.sh"
MD=(-sha256)
[ "$ALG" = ed25519 ] && MD=()
openssl req -x509 -new "${NK[@]}" -nodes "${MD[@]}" -days 3650 \
  -keyout "$DIR/ca.key" -out "$DIR/ca.crt" -subj "/CN=Bench CA $ALG" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
# extension file used by the per-user `openssl x509 -req` baseline
cat > "$DIR/client.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
