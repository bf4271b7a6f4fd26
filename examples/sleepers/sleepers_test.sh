#!/usr/bin/env bash
# sleepers_test.sh SLEEPERS: both programs, both stack modes, every backend
# (and the default one), small N; checks each result line and bad input.
set -u
bin=$1
failures=0
passed=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# check PROG BACKEND STACK N SLEEP -- runs and checks one line.
check() {
    local prog=$1 backend=$2 stack=$3 n=$4 t=$5 out
    local args=(-p "$prog" -n "$n" -s "$stack" -t "$t")
    [ "$backend" != default ] && args+=(-b "$backend")
    if ! out=$("$bin" "${args[@]}"); then
        fail "sleepers ${args[*]} exited $?"
        return
    fi
    local re="^prog=$prog backend=([a-z]+) stack=$stack n=$n wall_s=([0-9]+\.[0-9]{6}) peak_rss_kib=([0-9]+)$"
    if [[ ! $out =~ $re ]]; then
        fail "sleepers ${args[*]}: bad line: $out"
        return
    fi
    local got_backend=${BASH_REMATCH[1]} wall=${BASH_REMATCH[2]} rss=${BASH_REMATCH[3]}
    if [ "$backend" != default ] && [ "$got_backend" != "$backend" ]; then
        fail "sleepers ${args[*]}: ran on $got_backend"
        return
    fi
    # Prog 1 cannot end before the sleep; the process holds at least 1 MiB.
    if [ "$prog" = 1 ] && ! awk -v w="$wall" -v t="$t" 'BEGIN { exit !(w >= t) }'; then
        fail "sleepers ${args[*]}: wall_s=$wall shorter than the sleep"
        return
    fi
    if [ "$rss" -lt 1024 ]; then
        fail "sleepers ${args[*]}: peak_rss_kib=$rss"
        return
    fi
    echo "ok: $out"
    passed=$((passed + 1))
}

for backend in default uv ev event uring; do
    for stack in dedicated shared; do
        check 1 "$backend" "$stack" 1000 0.05
        check 2 "$backend" "$stack" 1000 30
    done
done

# PETAL_BACKEND picks the default backend.
out=$(PETAL_BACKEND=ev "$bin" -n 10 -t 0.01)
if [[ $out == *" backend=ev "* ]]; then passed=$((passed + 1)); else fail "PETAL_BACKEND=ev: $out"; fi

# Bad input: usage and exit 2; an unknown backend: exit 1 with a message.
for bad in "-p 3" "-n 0" "-n 12x" "-s tiny" "-t -1" "extra"; do
    # shellcheck disable=SC2086
    "$bin" $bad >/dev/null 2>&1
    rc=$?
    if [ $rc -eq 2 ]; then passed=$((passed + 1)); else fail "sleepers $bad exited $rc, want 2"; fi
done
if err=$("$bin" -b nosuch -n 10 2>&1 >/dev/null); then
    fail "sleepers -b nosuch succeeded"
elif [[ $err == *nosuch* ]]; then
    passed=$((passed + 1))
else
    fail "sleepers -b nosuch: no message naming it: $err"
fi

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
