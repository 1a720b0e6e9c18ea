#!/usr/bin/env bash
# Installs every Debian package the build, demo and tests need. Non-interactive and idempotent:
# when everything is already present it only runs dpkg-query and returns.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config git
  libzmq3-dev cppzmq-dev capnproto libcapnp-dev libsodium-dev
  prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev sqlite3 libopenblas-dev libcli11-dev libtomlplusplus-dev
  libspdlog-dev nlohmann-json3-dev libexpected-dev
  prometheus systemd unzip
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js (for the offline Helm/Kubernetes checks) may come from Debian or NodeSource; either
# provides npm, so only ask Debian for it when no npm is on the PATH.
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all packages present"
