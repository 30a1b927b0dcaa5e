#!/usr/bin/env python
"""The table and the plots of tools/curves.sh from its results file.

    python tools/anchors/curves_report.py RESULTS CURVES OUT_DIR [--title TEXT] [--cpu TEXT]

RESULTS has one line per measurement: `curve<TAB>x<TAB>side<TAB>round<TAB>ns<TAB>kib`, side
`detaux` or `reference`, ns the per-call median in nanoseconds (or `stopped`: the measurement ran
past its time limit) and kib the process's peak RSS in KiB (`-`). CURVES has one
`curve<TAB>label<TAB>axis` line per curve, in the order of the output.

Prints Markdown: per curve a table with, per point, each side's median over the rounds of the
per-round medians (with their range), the ratio detaux / reference and each side's largest peak
RSS over the rounds. Writes OUT_DIR/<curve>.png per curve: time per call (left) and peak RSS
(right) against x, log-log, both sides, the bars the range over the rounds.
"""
import argparse
import os
import statistics
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from table import cell  # noqa: E402

SIDES = ("detaux", "reference")


def mib(kib):
    return f"{kib / 1024:.0f} MiB" if kib >= 10 * 1024 else f"{kib / 1024:.1f} MiB"


def read(path):
    """{(curve, side): {x: ([ns...], [kib...], stopped)}}"""
    points = defaultdict(lambda: defaultdict(lambda: ([], [], [False])))
    with open(path) as f:
        for line in f:
            curve, x, side, _, ns, kib = line.rstrip("\n").split("\t")
            times, rss, stopped = points[(curve, side)][int(x)]
            if ns == "stopped":
                stopped[0] = True
                continue
            times.append(float(ns))
            rss.append(int(kib))
    return points


def table(curve, label, axis, points):
    xs = sorted({x for side in SIDES for x in points[(curve, side)]})
    lines = [f"### {label}", "",
             f"| {axis} | detaux median | reference median | ratio | detaux peak RSS | reference peak RSS |",
             "|---|---|---|---|---|---|"]
    for x in xs:
        cells = {}
        for side in SIDES:
            times, rss, stopped = points[(curve, side)].get(x, ([], [], [False]))
            if times:
                cells[side] = (cell(times), mib(max(rss)), statistics.median(times))
            elif stopped[0]:
                cells[side] = ("stopped at the time cap", "—", None)
            else:
                cells[side] = ("skipped (over the time cap)", "—", None)
        ours, ref = cells["detaux"], cells["reference"]
        ratio = "—"
        if ours[2] is not None and ref[2] is not None:
            r = ours[2] / ref[2]
            ratio = f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"
        size = f"{x:,}".replace(",", " ")
        lines.append(f"| {size} | {ours[0]} | {ref[0]} | {ratio} | {ours[1]} | {ref[1]} |")
    return "\n".join(lines)


def plot(curve, label, axis, points, path):
    fig, (t_ax, m_ax) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for side, marker in zip(SIDES, ("o", "s")):
        measured = sorted((x, v) for x, v in points[(curve, side)].items() if v[0])
        if not measured:
            continue
        xs = [x for x, _ in measured]
        med = [statistics.median(v[0]) / 1e6 for _, v in measured]
        lo = [m - min(v[0]) / 1e6 for m, (_, v) in zip(med, measured)]
        hi = [max(v[0]) / 1e6 - m for m, (_, v) in zip(med, measured)]
        name = "detaux" if side == "detaux" else label.rsplit("(", 1)[-1].rstrip(")")
        t_ax.errorbar(xs, med, yerr=[lo, hi], marker=marker, capsize=3, label=name)
        m_ax.plot(xs, [max(v[1]) / 1024 for _, v in measured], marker=marker, label=name)
    for ax, ylabel in ((t_ax, "time per call (ms), median over rounds"), (m_ax, "peak RSS of the process (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(label)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results")
    p.add_argument("curves")
    p.add_argument("out_dir")
    p.add_argument("--title", default="")
    p.add_argument("--cpu", default="")
    args = p.parse_args()
    points = read(args.results)
    out = []
    if args.title:
        out.append(args.title)
    if args.cpu:
        out.append(f"CPU (lscpu): {args.cpu}")
    with open(args.curves) as f:
        for line in f:
            curve, label, axis = line.rstrip("\n").split("\t")
            if not any(points[(curve, side)] for side in SIDES):
                out.append(f"### {label}\n\nNo point was measured.")
                continue
            out.append(table(curve, label, axis, points))
            plot(curve, label, axis, points, os.path.join(args.out_dir, f"{curve}.png"))
            out.append(f"Plot: `{curve}.png`.")
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
