#!/usr/bin/env bash
# THE test command (README, CI): builds (scripts/build.sh), makes sure the JS SDK used by the
# JS end-to-end test is installed (npm ci, only when needed), then runs every registered test —
# unit, integration and end-to-end — with ctest. Extra arguments go to ctest (e.g. -L e2e,
# -R e2e_cli, -LE e2e).
#   CACHEFLEET_TEST_JOBS  ctest parallelism (default: nproc)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${CACHEFLEET_BUILD_DIR:-$ROOT/build}"
export CACHEFLEET_BUILD_DIR="$BUILD_DIR"

"$ROOT/scripts/build.sh"

JS_DIR="$ROOT/tests/e2e/js"
if [ ! -d "$JS_DIR/node_modules/@aws-sdk/client-elasticache" ] ||
   [ "$JS_DIR/package-lock.json" -nt "$JS_DIR/node_modules/.package-lock.json" ]; then
  if command -v npm >/dev/null; then
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "test.sh: npm not found (run scripts/setup.sh); the JS SDK test will fail" >&2
  fi
fi

JOBS="${CACHEFLEET_TEST_JOBS:-$(nproc)}"
# --timeout is the default for tests without their own TIMEOUT (the e2e tests set theirs).
exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" --timeout 300 "$@"
