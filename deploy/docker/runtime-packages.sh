#!/bin/sh
# Prints the Debian/Ubuntu packages that provide the shared libraries the given binaries link
# against, one per line, so that a runtime image installs exactly those (same distribution as
# the build stage, so the names match). Used by deploy/docker/Dockerfile.
# Usage: runtime-packages.sh BINARY...
set -eu
for bin in "$@"; do
  ldd "$bin" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  # With merged /usr, ldd may report /lib/... while dpkg recorded /usr/lib/... (or the reverse).
  real="$(realpath "$lib")"
  for path in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
    if pkg="$(dpkg -S "$path" 2>/dev/null)"; then
      echo "${pkg%%:*}"
      break
    fi
  done
done | sort -u
