#!/usr/bin/env bash
# green_echo_test.sh GREEN_ECHO: the example end to end on every backend.
set -u
bin=$1
failures=0
passed=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; passed=$((passed + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for b in uv ev event uring; do
    for s in dedicated shared; do
        # Server and clients on one loop; a chunk size that does not divide the length.
        out=$("$bin" -b "$b" -s "$s" demo -c 50 -m 200003 -k 7000)
        re="^green_echo: backend=$b conns=50 bytes=200003 ok=50 wall_s=[0-9.]+ mib_s=[0-9.]+$"
        if [[ $out =~ $re ]]; then ok "$out"; else fail "demo -b $b -s $s: $out"; fi
    done

    # A server process and a client process.
    "$bin" -b "$b" server -p 0 >"$tmp/server.out" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^green_echo: serving 127\.0\.0\.1:\([0-9]*\) on .*/\1/p' "$tmp/server.out")
        [ -n "$port" ] && break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        fail "server -b $b did not start: $(cat "$tmp/server.out")"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        continue
    fi
    out=$("$bin" -b "$b" client -p "$port" -c 20 -m 100000)
    if [[ $out == *" conns=20 bytes=100000 ok=20 "* ]]; then ok "$out"; else fail "client -b $b: $out"; fi
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^green_echo: 20 connections, 2000000 bytes echoed$' "$tmp/server.out"; then
        ok "server -b $b: $(tail -1 "$tmp/server.out")"
    else
        fail "server -b $b exited $rc: $(cat "$tmp/server.out")"
    fi
done

# Nothing listening: the client reports the refused connections and fails.
"$bin" -b uv server -p 0 >"$tmp/server.out" 2>&1 &
pid=$!
sleep 0.5
port=$(sed -n 's/^green_echo: serving 127\.0\.0\.1:\([0-9]*\) on .*/\1/p' "$tmp/server.out")
kill -TERM "$pid"
wait "$pid"
if [ -n "$port" ]; then
    out=$("$bin" -b uv client -p "$port" -c 3 -m 10 2>"$tmp/err")
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == *" ok=0 "* ]] && grep -qi refused "$tmp/err"; then
        ok "refused connections reported"
    else
        fail "client to a closed port: rc=$rc out=$out err=$(cat "$tmp/err")"
    fi
else
    fail "second server did not start"
fi

for bad in "" "nosuch" "client" "demo -c 0" "demo -m x" "-s tiny demo" "server -p 70000"; do
    # shellcheck disable=SC2086
    "$bin" $bad >/dev/null 2>&1
    rc=$?
    if [ $rc -eq 2 ]; then ok "usage error: '$bad'"; else fail "green_echo $bad exited $rc, want 2"; fi
done

echo "$passed passed, $failures failed"
[ "$failures" -eq 0 ]
