#!/bin/sh
# aarch64 CI for coro: cross-compiles the library (assembly switch and the
# ucontext fallback) and the cmocka tests with Debian's aarch64-linux-gnu-gcc,
# runs them under qemu-user, exits non-zero on any failure.
# Installs what it needs with apt-get (idempotent; needs root the first time):
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user, libcmocka-dev:arm64.
set -eu
cd "$(dirname "$0")/.."

missing=""
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing="$missing gcc-aarch64-linux-gnu"
[ -e /usr/aarch64-linux-gnu/lib/crt1.o ] || missing="$missing libc6-dev-arm64-cross"
command -v qemu-aarch64 >/dev/null 2>&1 || missing="$missing qemu-user"
[ -e /usr/lib/aarch64-linux-gnu/libcmocka.so ] || missing="$missing libcmocka-dev:arm64"
if [ -n "$missing" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# Run with the multiarch arm64 libc that libcmocka0:arm64 brings (in
# /lib/aarch64-linux-gnu), not with "-L /usr/aarch64-linux-gnu": that loader
# is the cross package's and mixing it with the multiarch libc.so.6 of a
# different build hangs in pthread_create.
out="$(mktemp -d "${TMPDIR:-/tmp}/petal-coro-aarch64.XXXXXX")"
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/include"
# Only cmocka.h from the host's /usr/include: the rest must be aarch64's.
ln -s /usr/include/cmocka.h "$out/include/cmocka.h"

CC="aarch64-linux-gnu-gcc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -g"
INC="-Icoro/include -I$out/include"
LIBS="-L/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,/usr/lib/aarch64-linux-gnu -lcmocka -lpthread -lm"
status=0
for switch in asm ucontext; do
    def=""
    [ "$switch" = ucontext ] && def="-DPETAL_CORO_UCONTEXT"
    for suite in switch throw stacks threads overflow; do
        bin="$out/${suite}_${switch}"
        $CC $def $INC coro/src/*.c coro/src/*.S "tests/coro/${suite}_test.c" -o "$bin" $LIBS
        echo "== qemu-aarch64 ${suite}_test ($switch switch)"
        if ! timeout 600 qemu-aarch64 "$bin"; then
            echo "FAILED on aarch64: ${suite}_test ($switch switch)"
            status=1
        fi
    done
done
exit $status
