#!/usr/bin/env bash
# Builds and tests a clean clone of this repository's HEAD in a fresh Debian 12 root that holds
# only what a new machine ships (debootstrap minbase) plus CUDA 13 under /usr/local/cuda, the way
# the GPU machines and CI have it. It catches what this machine's own setup hides: a package
# scripts/setup.sh forgets, a patched system file the build leans on (Debian 12's CMake 3.25
# FindCUDAToolkit fails on CUDA 13 unless the project works around it). Not part of CI: it takes
# as long as a full build and test run (tens of minutes on 2 cores).
#
#   scripts/check-fresh.sh [root-dir]      default /var/tmp/plume-fresh; run as root
#
# Network: the root's apt reaches Debian's mirror; where this machine reaches the registries
# through its own CA, that CA bundle is copied in (a real fresh machine needs none of that).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-/var/tmp/plume-fresh}"
[[ $(id -u) -eq 0 ]] || { echo "check-fresh: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }

if [[ ! -x "$target/bin/bash" ]]; then
  debootstrap --variant=minbase bookworm "$target" http://deb.debian.org/debian
fi
node_ca=""
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  mkdir -p "$target/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$target/etc/ssl/certs/ca-certificates.crt"
  # Installing ca-certificates in the root regenerates that bundle without this machine's CA,
  # and npm reads no system bundle anyway: give node its own copy, which apt leaves alone
  # (without it, npm failed with SELF_SIGNED_CERT_IN_CHAIN on the first run of this script).
  cp /etc/ssl/certs/ca-certificates.crt "$target/etc/plume-host-ca.crt"
  node_ca="export NODE_EXTRA_CA_CERTS=/etc/plume-host-ca.crt;"
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind src dst [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
  if [[ "${3:-}" == ro ]]; then mount -o remount,bind,ro "$2"; fi
}
bind /proc "$target/proc"
bind /sys "$target/sys"
bind /dev "$target/dev"
if [[ -d /usr/local/cuda/ ]]; then bind "$(readlink -f /usr/local/cuda)" "$target/usr/local/cuda" ro; fi

rm -rf "$target/root/plume"
git clone -q --no-local "$repo" "$target/root/plume"
echo "check-fresh: $(git -C "$repo" rev-parse --short HEAD) in $target"
# A minimal Debian has no make; the README's commands start from it.
chroot "$target" /bin/bash -c 'apt-get update -qq && apt-get install -y -qq make >/dev/null'
start=$SECONDS
if chroot "$target" /bin/bash -c "$node_ca cd /root/plume && make test" >"$target/root/check-fresh.log" 2>&1; then
  echo "check-fresh: make test passed in $((SECONDS - start)) s"
  tail -5 "$target/root/check-fresh.log"
else
  echo "check-fresh: make test FAILED after $((SECONDS - start)) s; log: $target/root/check-fresh.log"
  tail -40 "$target/root/check-fresh.log"
  exit 1
fi
