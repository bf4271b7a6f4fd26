#!/bin/sh
# End to end: the example server and client on every backend.
# usage: echo_test.sh ECHO_SERVER ECHO_CLIENT
set -u
server=$1
client=$2
tmp=${TEST_TMPDIR:-/tmp}
status=0
for b in uv ev event uring; do
    out="$tmp/echo_server_$b.out"
    PETAL_BACKEND=$b "$server" 127.0.0.1 0 >"$out" 2>&1 &
    pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$out" | head -n 1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        echo "FAIL $b: server did not start"; cat "$out"; kill "$pid" 2>/dev/null; status=1; continue
    fi
    grep -q "($b)" "$out" || { echo "FAIL $b: server runs on another backend"; cat "$out"; status=1; }
    if PETAL_BACKEND=$b "$client" 127.0.0.1 "$port" 3000000; then
        echo "ok $b: port $port"
    else
        echo "FAIL $b: client"; status=1
    fi
    kill -TERM "$pid"
    wait "$pid" || { echo "FAIL $b: server exit status $?"; status=1; }
done
exit $status
