#!/usr/bin/env python3
"""A noisy neighbour for benchmarks: busy processes that come and go.

Every phase lasts a random 0.3-3 s and runs 0, 1 or 2 busy-looping processes
(drawn at random), so a 2-core machine's speed for a 1-thread model swings by
tens of percent within seconds, as a shared VM does on a bad day. Seeded, so
two runs make the same noise; stops after --seconds or when killed.

    benches/noise.py [--seconds 600] [--seed 1] [--max-hogs 2]
"""
import argparse
import multiprocessing as mp
import random
import signal
import sys
import time


def hog(stop_at):
    x = 0
    while time.monotonic() < stop_at:
        for _ in range(10000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-hogs", type=int, default=2)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    end = time.monotonic() + a.seconds
    procs = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while time.monotonic() < end:
            phase = rng.uniform(0.3, 3.0)
            hogs = rng.randint(0, a.max_hogs)
            stop_at = min(end, time.monotonic() + phase)
            procs = [mp.Process(target=hog, args=(stop_at,)) for _ in range(hogs)]
            for p in procs:
                p.start()
            time.sleep(max(0.0, stop_at - time.monotonic()))
            for p in procs:
                p.join()
    finally:
        for p in procs:
            p.terminate()


if __name__ == "__main__":
    main()
