"""The seed programs with gevent, for the side-by-side benchmark.

Prog 1: N greenlets each sleep 200 ms; prints the total wall time.
Prog 2: N greenlets sleep; prints the resident memory once all are asleep.
Prints the same line as examples/sleepers/sleepers.c:
  prog=<1|2> backend=gevent stack=shared n=<n> wall_s=<s> peak_rss_kib=<k>
(gevent's greenlets share the thread's stack and copy it, like petal's shared mode.)
"""
import argparse
import os
import sys
import time

import gevent


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--prog", type=int, choices=(1, 2), default=1)
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("-t", "--sleep", type=float, default=None,
                    help="seconds each greenlet sleeps (Prog 1: 0.2, Prog 2: 3600)")
    args = ap.parse_args()
    if args.n < 1:
        ap.error("n must be >= 1")
    secs = args.sleep if args.sleep is not None else (0.2 if args.prog == 1 else 3600.0)

    asleep = [0]
    started = [0]

    def sleeper():
        started[0] += 1
        asleep[0] += 1
        gevent.sleep(secs)
        asleep[0] -= 1

    start = time.monotonic()
    greenlets = [gevent.spawn(sleeper) for _ in range(args.n)]
    if args.prog == 1:
        gevent.joinall(greenlets)
    else:
        # sleep(0) queues main behind every spawned greenlet's start.
        while started[0] < args.n:
            gevent.sleep(0)
    wall = time.monotonic() - start
    if args.prog == 2 and asleep[0] != args.n:
        print("sleepers_gevent: only %d of %d asleep when measured (sleep %.3f s too short?)"
              % (asleep[0], args.n, secs), file=sys.stderr)
        return 1
    print("prog=%d backend=gevent stack=shared n=%d wall_s=%.6f peak_rss_kib=%d"
          % (args.prog, args.n, wall, peak_rss_kib()), flush=True)
    if args.prog == 2:
        # A million sleepers take seconds to kill one by one; the process exit
        # frees them (the figure above is already taken).
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
