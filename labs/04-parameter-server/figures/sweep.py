#!/usr/bin/env python3
"""Lab 04's staleness sweep: trains with BSP, SSP(s) and ASP, without and with a straggler, and
draws what the handout shows from the runs' JSON reports.

    python3 labs/04-parameter-server/figures/sweep.py run OUTDIR [--ranks 3] [--servers 1]
        [--epochs 5] [--cluster] [--dtlab build/bin/dtlab]
    python3 labs/04-parameter-server/figures/sweep.py draw OUTDIR [--svg FILE] [--histogram-svg FILE] [--table]

`run` writes OUTDIR/<straggler>-<s>.json (one `dtlab train --json` report each) for s in
{0, 1, 3, 10, async} and stragglers none, persistent (the last worker, 4x slower) and transient
(a different worker 4x slower every clock, drawn from the seed). `draw` prints a Markdown table
(--table), an SVG of test accuracy against wall time, one panel per straggler (--svg), and one of
the staleness histograms of SSP(3) and ASP (--histogram-svg). Python 3 standard library only.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
import sweeps  # noqa: E402
from sweeps import STRAGGLERS  # noqa: E402

BOUNDS = ["0", "1", "3", "10", "async"]


def strategy_args(bound):
    if bound == "0":
        return ["--strategy", "ps-bsp"]
    if bound == "async":
        return ["--strategy", "ps-asp"]
    return ["--strategy", "ps-ssp", "--staleness", bound]


def run(a):
    workers = a.ranks - a.servers
    sweeps.train_runs(a.dtlab, a.outdir, STRAGGLERS, BOUNDS,
                      lambda kind, bound: ["--ranks", str(a.ranks), "--servers", str(a.servers)] + strategy_args(bound)
                      + sweeps.straggler_args(kind, workers), a.epochs, a.cluster)


def load(outdir):
    return sweeps.load_runs(outdir, STRAGGLERS, BOUNDS)


def label(bound):
    return {"0": "BSP", "async": "ASP"}.get(bound, f"SSP({bound})")


def table(runs):
    print("| straggler | consistency | time to 85% | vs BSP | final accuracy | train time | mean staleness | max |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in STRAGGLERS:
        bsp = runs.get((kind, "0"), {}).get("time_to_target_seconds")
        for bound in BOUNDS:
            r = runs.get((kind, bound))
            if not r:
                continue
            h = r["staleness_histogram"]
            pulls = sum(h)
            mean = sum(i * c for i, c in enumerate(h)) / pulls if pulls else 0
            worst = max((i for i, c in enumerate(h) if c), default=0)
            t = r["time_to_target_seconds"]
            ratio = f"{100 * t / bsp:.0f}%" if t is not None and bsp else "—"
            tt = f"{t:.1f} s" if t is not None else "never"
            print(f"| {kind} | {label(bound)} | {tt} | {ratio} | {100 * r['test_accuracy']:.2f}% | "
                  f"{r['train_seconds']:.1f} s | {mean:.2f} | {worst} |")


COLORS = {"0": "#1f77b4", "1": "#2ca02c", "3": "#ff7f0e", "10": "#9467bd", "async": "#d62728"}


def svg(runs, path, title):
    sweeps.accuracy_panels(runs, STRAGGLERS, BOUNDS, COLORS, {b: label(b) for b in BOUNDS}, path, title,
                              "test accuracy of worker 0's pulled model against wall time; the solid grid line is "
                              "the 85% target", panel_name=lambda kind: f"straggler: {kind}")


BUCKETS = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 10), (11, 63), (64, 1 << 30)]


def bucket_name(lo, hi):
    return str(lo) if lo == hi else (f"{lo}+" if hi >= 1 << 30 else f"{lo}-{hi}")


def histogram_svg(runs, path, title):
    """The share of pulls at each staleness, SSP(3) and ASP, one panel per straggler."""
    shown = ["3", "async"]
    panel_w, panel_h, left, top, gap = 300, 180, 50, 50, 40
    width = left + len(STRAGGLERS) * (panel_w + gap)
    height = top + panel_h + 80
    out = sweeps.svg_start(width, height, left, title)
    slot = panel_w / len(BUCKETS)
    bar = slot / (len(shown) + 1)
    for i, kind in enumerate(STRAGGLERS):
        x0, y0 = left + i * (panel_w + gap), top
        sweeps.panel_frame(out, x0, y0, panel_w, panel_h, f"straggler: {kind}")
        for frac in (0.25, 0.5, 0.75):
            y = y0 + panel_h * (1 - frac)
            out.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{int(frac * 100)}%</text>')
        for b, (lo, hi) in enumerate(BUCKETS):
            out.append(f'<text x="{x0 + slot * (b + 0.5):.1f}" y="{y0 + panel_h + 14}" text-anchor="middle" '
                       f'font-size="10">{bucket_name(lo, hi)}</text>')
            for j, bound in enumerate(shown):
                r = runs.get((kind, bound))
                if not r:
                    continue
                h = r["staleness_histogram"]
                share = sum(h[lo:hi + 1]) / max(sum(h), 1)
                x = x0 + slot * b + bar * (j + 0.5)
                out.append(f'<rect x="{x:.1f}" y="{y0 + panel_h * (1 - share):.1f}" width="{bar:.1f}" '
                           f'height="{panel_h * share:.1f}" fill="{COLORS[bound]}"/>')
    ly = top + panel_h + 40
    for j, bound in enumerate(shown):
        x = left + j * 120
        out.append(f'<rect x="{x}" y="{ly - 8}" width="16" height="10" fill="{COLORS[bound]}"/>')
        out.append(f'<text x="{x + 22}" y="{ly + 2}">{label(bound)}</text>')
    out.append(f'<text x="{left}" y="{ly + 26}" font-size="11">share of the pulls at each staleness (clocks the read '
               f'misses), at server 0</text>')
    sweeps.svg_write(out, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("outdir")
    r.add_argument("--ranks", type=int, default=3)
    r.add_argument("--servers", type=int, default=1)
    r.add_argument("--epochs", type=int, default=5)
    r.add_argument("--cluster", action="store_true")
    r.add_argument("--dtlab", default="build/bin/dtlab")
    d = sub.add_parser("draw")
    d.add_argument("outdir")
    d.add_argument("--svg")
    d.add_argument("--title", default="Time to accuracy with BSP, SSP(s) and ASP")
    d.add_argument("--table", action="store_true")
    d.add_argument("--histogram-svg")
    a = p.parse_args()
    if a.cmd == "run":
        run(a)
        return
    runs = load(a.outdir)
    if not runs:
        sys.exit(f"no runs in {a.outdir}")
    if a.table:
        table(runs)
    if a.svg:
        svg(runs, a.svg, a.title)
    if a.histogram_svg:
        histogram_svg(runs, a.histogram_svg, "Staleness of the pulls: SSP(3) and ASP")


if __name__ == "__main__":
    main()
