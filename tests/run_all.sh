#!/usr/bin/env bash
# Runs every test of petal: the Bazel test suites natively and under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the tool runs
# (valgrind, aarch64 under qemu-user). Prints each suite's cmocka summary
# and a final "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bazel/setup.sh || exit 1

passed=0
failed=0
status=0

# Prints the cmocka summary of every test log of the last `bazel test`, and
# adds its counts to the totals.
summarise() {
  local label=$1
  while IFS= read -r log; do
    local target=${log#bazel-testlogs/}
    target=//${target%/test.log}
    local p f
    p=$(grep -ahoE '^\[  PASSED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    f=$(grep -ahoE '^\[  FAILED  \] [0-9]+ test' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
    # cmocka reports a setup/teardown error as [  ERROR   ], and a crash
    # (ASan, abort) after the last line prints no count: trust Bazel's
    # test.xml, which records the exit status, for at least one failure.
    if [ "$f" = 0 ] && grep -qE '<(error|failure)[ >]' "${log%.log}.xml" 2>/dev/null; then
      f=$(grep -ahcE '^\[  ERROR   \] ' "$log")
      [ "$f" -gt 0 ] || f=1
    fi
    if [ "$p" = 0 ] && [ "$f" = 0 ]; then
      # not a cmocka test: count the target itself
      if grep -q "PASS" "$log.status" 2>/dev/null || ! grep -qE "FAIL|TIMEOUT" "$log"; then p=1; else f=1; fi
    fi
    printf '%-10s %-45s %4s passed %4s failed\n' "$label" "${target%/*}:${target##*/}" "$p" "$f"
    grep -ahE '^\[  (FAILED|ERROR)   ?\] [a-z]' "$log" | sed 's/^/           /'
    passed=$((passed + p))
    failed=$((failed + f))
  done < <(find -L bazel-testlogs -name test.log -newer "$stamp" | sort)
}

run_bazel() {
  local label=$1
  shift
  stamp=$(mktemp)
  echo "== bazel test $* =="
  bazel test "$@" //... || status=1
  summarise "$label"
  rm -f "$stamp"
}

run_bazel native
run_bazel asan --config=asan

# valgrind over the coro tests; the aarch64 switch cross-built and run
# under qemu-user (about 2 minutes).
scripts=(tests/coro/valgrind.sh coro/ci_aarch64.sh)
for script in "${scripts[@]}"; do
  [ -x "$script" ] || continue
  echo "== $script =="
  if "$script"; then passed=$((passed + 1)); echo "$script: passed"
  else failed=$((failed + 1)); status=1; echo "$script: FAILED"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || status=1
exit $status
