#!/bin/sh
# Proves the missing-tool rule (PGCA_REQUIRE_TOOL in process.hpp) on one test command:
#   check_missing_tool.sh VAR TEST-COMMAND...
# runs TEST-COMMAND with VAR pointing at an empty folder (PGCA_PG_BINDIR hides PostgreSQL 15,
# PGCA_PG_CACHE PostgreSQL 16–18, PATH the openssl CLI): without CI it must pass with the skip marker in its output, with CI=true it
# must fail naming the missing tool.
set -u
var=$1
shift
empty=$(mktemp -d /tmp/pgca-no-tool-XXXXXX) || exit 1
trap 'rmdir "$empty"' EXIT
status=0

out=$(env -u CI "$var=$empty" "$@" 2>&1)
rc=$?
case $out in
*PGCA-SKIPPED:*) [ $rc -eq 0 ] || { echo "FAIL: a skip must exit 0, got $rc"; status=1; } ;;
*) echo "FAIL: no skip marker without CI (exit $rc)"; status=1 ;;
esac
[ $status -eq 0 ] || printf '%s\n' "$out"

out=$(env "CI=true" "$var=$empty" "$@" 2>&1)
rc=$?
case $out in
*"missing (CI is set)"*) [ $rc -ne 0 ] || { echo "FAIL: under CI a missing tool must fail, got exit 0"; status=1; } ;;
*) echo "FAIL: under CI the missing tool is not named (exit $rc)"; printf '%s\n' "$out"; status=1 ;;
esac
[ $status -eq 0 ] && echo "ok: $var=<empty folder> skips without CI and fails with CI=true"
exit $status
