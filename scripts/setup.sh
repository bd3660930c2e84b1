#!/usr/bin/env bash
# Installs every Debian package cachefleet needs to build, run and test. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake pkg-config ninja-build
  libboost1.74-dev libboost-filesystem1.74-dev libhiredis-dev libyaml-cpp-dev libspdlog-dev
  libgtest-dev libgmock-dev libsqlite3-dev libssl-dev nlohmann-json3-dev libcli11-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libpugixml-dev
  redis-server redis-tools awscli python3-boto3 python3-redis iproute2 procps curl sqlite3 ccache)
# Node.js + npm for the JS SDK end-to-end test (tests/e2e/js). Keep a Node that is already
# installed (e.g. from another repository); otherwise Debian's nodejs/npm.
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all packages present"
