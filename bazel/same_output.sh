#!/usr/bin/env bash
# Runs each program given and fails unless all print exactly the same output.
set -u
first=$1
ref=$("$first") || { echo "FAIL: $first exited $?"; exit 1; }
echo "--- output of $first:"
echo "$ref"
status=0
for prog in "${@:2}"; do
  out=$("$prog") || { echo "FAIL: $prog exited $?"; status=1; continue; }
  if [ "$out" == "$ref" ]; then
    echo "same: $prog"
  else
    echo "FAIL: $prog differs:"
    diff <(echo "$ref") <(echo "$out")
    status=1
  fi
done
[ $status = 0 ] && echo "[  PASSED  ] $# test(s)." || echo "[  FAILED  ] 1 test(s)."
exit $status
