#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test: unit tests, openssl interop tests, and
# integration tests against a real PostgreSQL 15 that the tests start on 127.0.0.1 themselves.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 300
