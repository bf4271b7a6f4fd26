#!/bin/sh
# Runs every coro test (assembly and ucontext switch) under valgrind's
# memcheck; exits non-zero on any memcheck error, leak or test failure.
#   tests/coro/valgrind.sh [extra bazel startup options, e.g. --output_base=DIR]
# Needs: valgrind, libcmocka-dev (and Bazel). Takes about two minutes.
set -eu
cd "$(dirname "$0")/../.."
bazel "$@" build //tests/coro/...
bin="$(bazel "$@" info bazel-bin)/tests/coro"
status=0
for suite in switch throw stacks threads overflow; do
    for variant in _test _ucontext_test; do
        echo "== valgrind $suite$variant"
        if ! valgrind --quiet --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --child-silent-after-fork=yes \
            "$bin/$suite$variant"; then
            echo "FAILED under valgrind: $suite$variant"
            status=1
        fi
    done
done
exit $status
