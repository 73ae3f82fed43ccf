# Sourced by ca_setup_openssl.sh and openssl_cli_loop.sh: sets NK to the `openssl req -newkey`
# arguments for ALG (ec256 | ec384 | ed25519 | rsa2048 | rsa3072 | rsa4096), or exits 2.
case "$ALG" in
  ec256)   NK=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
  ec384)   NK=(-newkey ec -pkeyopt ec_paramgen_curve:secp384r1) ;;
  ed25519) NK=(-newkey ed25519) ;;
  rsa*)    NK=(-newkey "rsa:${ALG#rsa}") ;;
  *) echo "unknown alg $ALG" >&2; exit 2 ;;
esac
