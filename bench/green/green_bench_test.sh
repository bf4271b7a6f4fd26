#!/usr/bin/env bash
# green_bench_test.sh GREEN_BENCH SLEEPERS SLEEPERS_GEVENT_PY
set -u
bench=$1 sleepers=$2 gevent=$3
python=/usr/bin/python3
failures=0
passed=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; passed=$((passed + 1)); }

if ! "$python" -c 'import gevent' 2>/dev/null; then
    echo "FAIL: $python cannot import gevent (bazel/setup.sh installs python3-gevent)"
    echo "0 passed, 1 failed"
    exit 1
fi

# The gevent programs print the same line as the C ones.
for prog in 1 2; do
    t=0.05
    [ "$prog" = 2 ] && t=30
    out=$("$python" "$gevent" -p "$prog" -n 200 -t "$t")
    re="^prog=$prog backend=gevent stack=shared n=200 wall_s=[0-9]+\.[0-9]{6} peak_rss_kib=[0-9]+$"
    if [[ $out =~ $re ]]; then ok "$out"; else fail "gevent prog $prog: $out"; fi
done

# Tiny run of the whole driver: both programs, two backends, both modes, gevent.
out=$("$bench" --sleepers "$sleepers" --gevent "$gevent" -n 10,100 -b uv,uring -r 2 -G 100 -T 60 2>log.txt)
rc=$?
if [ $rc -ne 0 ]; then fail "green_bench exited $rc: $(tail -5 log.txt)"; fi
head='| prog | n | uv dedicated | uv shared | uring dedicated | uring shared | gevent |'
if grep -qxF "$head" <<<"$out"; then ok "table header"; else fail "no table header in: $out"; fi
# 4 rows of medians, 4 of CPU times, 4 of spreads, each with 5 cells.
rows=$(grep -cE '^\| [12] \| (10|100) \|( [0-9.]+ s / [0-9.]+ MiB \|){5}$' <<<"$out")
if [ "$rows" = 4 ]; then ok "4 median rows"; else fail "median rows: $rows in: $out"; fi
cpus=$(grep -cE '^\| [12] \| (10|100) \|( [0-9]+\.[0-9]{3} s \|){5}$' <<<"$out")
if [ "$cpus" = 4 ]; then ok "4 cpu rows"; else fail "cpu rows: $cpus in: $out"; fi
spreads=$(grep -cE '^\| [12] \| (10|100) \|( [0-9]+% / [0-9]+% \(2\) \|){5}$' <<<"$out")
if [ "$spreads" = 4 ]; then ok "4 spread rows"; else fail "spread rows: $spreads in: $out"; fi
runs=$(grep -c '^run prog=' log.txt)
if [ "$runs" = 40 ]; then ok "40 runs"; else fail "runs logged: $runs"; fi

# A failing program is reported, not hidden.
out=$("$bench" --sleepers /nonexistent --gevent "$gevent" -n 10 -b uv -s shared -r 1 -G 0 2>log.txt)
rc=$?
if [ $rc -eq 1 ] && grep -q FAILED <<<"$out" && grep -q "exited with status 127" log.txt; then
    ok "missing program reported"
else
    fail "missing program: rc=$rc out=$out"
fi

# Bad options.
for bad in "-r 0" "-p 3" "-n 0" "-s tiny" "-n 1,x"; do
    # shellcheck disable=SC2086
    "$bench" $bad >/dev/null 2>&1
    rc=$?
    if [ $rc -eq 2 ]; then ok "bad option $bad"; else fail "green_bench $bad exited $rc, want 2"; fi
done

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
