#!/usr/bin/env python
"""Prints the Markdown table of tools/compare.sh from its results file.

    python tools/anchors/table.py RESULTS ROWS

RESULTS has one line per measurement: `row<TAB>side<TAB>round<TAB>nanoseconds`, side `detaux`
or `reference`. ROWS is a file of `row<TAB>label` lines giving the table's rows in order. Each
cell is the median over the rounds of the per-round medians, with their range when there is
more than one round; the ratio is detaux's median over the reference's.
"""
import statistics
import sys
from collections import defaultdict


def fmt(ns):
    if ns >= 10e9:
        return f"{ns / 1e9:.1f} s"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 10e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.1f} µs"


def cell(values):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))} – {fmt(max(values))})"


def main():
    results, rows = sys.argv[1], sys.argv[2]
    values = defaultdict(list)
    with open(results) as f:
        for line in f:
            row, side, _, ns = line.rstrip("\n").split("\t")
            values[(row, side)].append(float(ns))
    print("| hot loop | detaux median | reference median | ratio |")
    print("|---|---|---|---|")
    with open(rows) as f:
        for line in f:
            row, label = line.rstrip("\n").split("\t", 1)
            ours, ref = values.get((row, "detaux")), values.get((row, "reference"))
            if not ours or not ref:
                print(f"| {label} | {cell(ours) if ours else '—'} | {cell(ref) if ref else '—'} | — |")
                continue
            ratio = statistics.median(ours) / statistics.median(ref)
            shown = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"
            print(f"| {label} | {cell(ours)} | {cell(ref)} | {shown} |")


if __name__ == "__main__":
    main()
