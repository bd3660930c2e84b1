#!/usr/bin/env bash
# Configures (once) and builds everything into build/ with Ninja. Idempotent and incremental:
# a second run only rebuilds what changed (Ninja re-runs CMake itself when a CMakeLists changes).
#   CACHEFLEET_BUILD_DIR   build directory (default: <repo>/build)
#   CACHEFLEET_BUILD_TYPE  Release (default) or RelWithDebInfo / Debug
#   CACHEFLEET_JOBS        parallel jobs (default: nproc)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${CACHEFLEET_BUILD_DIR:-$ROOT/build}"
BUILD_TYPE="${CACHEFLEET_BUILD_TYPE:-Release}"
JOBS="${CACHEFLEET_JOBS:-$(nproc)}"

configure() {
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
    # Configured earlier with another generator (or a failed configure): start that dir over.
    echo "build.sh: $BUILD_DIR has a CMake cache but no build.ninja; reconfiguring from scratch"
    rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
  fi
  configure
else
  cached_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"
  if [ "$cached_type" != "$BUILD_TYPE" ]; then
    configure
  fi
fi
cmake --build "$BUILD_DIR" -j"$JOBS"
echo "build.sh: built into $BUILD_DIR ($BUILD_TYPE)"
