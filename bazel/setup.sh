#!/usr/bin/env bash
# Installs what building and testing petal needs on Debian 12, as root.
# Idempotent: installs only the packages that are missing.
set -euo pipefail
packages=(
  bazel-bootstrap gcc libc6-dev
  libuv1-dev libev-dev libevent-dev liburing-dev libcmocka-dev
  valgrind
  python3 python3-gevent
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
