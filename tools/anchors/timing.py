"""Shared timing of the reference ("anchor") measurements of tools/compare.sh.

A measurement is a warm-up, then calls timed one by one until there are at least `min_calls`
of them and `min_seconds` have passed; the result is the median of the per-call times. A
call may return a divisor (e.g. the number of Lloyd iterations a fit ran) to turn its time
into a per-unit time.

Every anchor prints its summary to stderr and, as its last stdout line, `MEDIAN_NS <integer>`
(nanoseconds), which tools/compare.sh reads.
"""
import argparse
import statistics
import sys
import time


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=2, help="threads of the reference library (default 2)")
    p.add_argument("--quick", action="store_true", help="short warm-up and few calls: checks that it runs")
    return p


def check_threads(threads):
    if threads < 1:
        sys.exit(f"error: --threads must be >= 1, got {threads}")


def time_calls(fn, *, warmup, min_calls, min_seconds):
    """Per-call times in ns after `warmup` untimed calls (see the module doc)."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter_ns()
        divisor = fn()
        t1 = time.perf_counter_ns()
        times.append((t1 - t0) / (divisor or 1))
    return times


def time_fits(make, x, *, quick, warm_rows):
    """Times `make(x)` (a clustering fit) after one untimed fit of `make(x[:warm_rows])`: at
    least 3 calls and 3 s, or a single call in quick mode."""
    make(x[:warm_rows])()
    if quick:
        return time_calls(make(x), warmup=0, min_calls=1, min_seconds=0.0)
    return time_calls(make(x), warmup=0, min_calls=3, min_seconds=3.0)


def report(label, times, **extra):
    med = statistics.median(times)
    details = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"{label}: median {med / 1e6:.3f} ms over {len(times)} calls "
          f"(min {min(times) / 1e6:.3f}, max {max(times) / 1e6:.3f}) {details}".rstrip(), file=sys.stderr)
    print(f"MEDIAN_NS {round(med)}")
