#!/usr/bin/env python3
"""Lab 05's comparison: trains with synchronous SGD, asynchronous SGD (plain and staleness-aware),
SSP(3) (Lab 04), local SGD, DiLoCo and gossip, without and with a straggler, and draws what the
handout shows from the runs' JSON reports; and gossip's consensus distance against theory.

    python3 labs/05-async-sgd/figures/sweep.py run OUTDIR [--workers 4] [--epochs 5] [--cluster]
        [--stragglers none persistent transient] [--dtlab build/bin/dtlab]
    python3 labs/05-async-sgd/figures/sweep.py consensus OUTDIR [--ranks 9 16] [--steps 40]
        [--bench build/bin/lab05_bench_reference]
    python3 labs/05-async-sgd/figures/sweep.py draw OUTDIR [--table] [--svg FILE] [--consensus-svg FILE]

`run` writes OUTDIR/<straggler>-<method>.json (one `dtlab train --json` report each) for every
method and the stragglers none, persistent (the last worker, 4x slower) and transient (a different
worker 4x slower every step, drawn from the seed). Every method has the same number of workers
(the ranks that compute gradients); async and SSP add a server rank. `consensus` writes
OUTDIR/consensus-<topology>-<p>.json from the lab's benchmark. `draw` prints a Markdown table
(--table), an SVG of test accuracy against wall time, one panel per straggler (--svg), and one of
the consensus distance against lambda_2^t (--consensus-svg). Python 3 standard library only.
"""
import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
import sweeps  # noqa: E402
from sweeps import STRAGGLERS  # noqa: E402

# method: (label, extra ranks beyond the workers, arguments of dtlab train)
METHODS = {
    "sync": ("synchronous", 0, ["--strategy", "local-sgd", "--sync-every", "1"]),
    "async": ("async", 1, ["--strategy", "async"]),
    "async-aware": ("async, staleness-aware", 1, ["--strategy", "async", "--staleness-aware"]),
    "ssp3": ("SSP(3), Lab 04", 1, ["--strategy", "ps-ssp", "--staleness", "3", "--servers", "1"]),
    "local-sgd": ("local SGD, H = 8", 0, ["--strategy", "local-sgd", "--sync-every", "8"]),
    "diloco": ("DiLoCo, H = 32", 0, ["--strategy", "diloco", "--sync-every", "32"]),
    "gossip": ("gossip, ring", 0, ["--strategy", "gossip", "--topology", "ring"]),
}
COLORS = {"sync": "#1f77b4", "async": "#d62728", "async-aware": "#ff7f0e", "ssp3": "#8c564b",
          "local-sgd": "#2ca02c", "diloco": "#9467bd", "gossip": "#17becf"}


def run(a):
    sweeps.train_runs(a.dtlab, a.outdir, a.stragglers, list(METHODS),
                      lambda kind, m: ["--ranks", str(a.workers + METHODS[m][1])] + METHODS[m][2]
                      + sweeps.straggler_args(kind, a.workers), a.epochs, a.cluster)


def consensus(a):
    os.makedirs(a.outdir, exist_ok=True)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    for p in a.ranks:
        for topology in ("ring", "torus"):
            out = os.path.join(a.outdir, f"consensus-{topology}-{p}.json")
            cmd = ["mpirun", "-n", str(p), "--oversubscribe", "--bind-to", "none", "--mca", "mpi_yield_when_idle", "1",
                   a.bench, "consensus", topology, str(a.steps)]
            print(" ".join(cmd), ">", out, flush=True)
            done = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE, text=True)
            with open(out, "w") as f:
                json.dump(json.loads(done.stdout)["results"], f, indent=1)


def load(outdir):
    return sweeps.load_runs(outdir, STRAGGLERS, METHODS)


def table(runs):
    print("| straggler | method | time to 85% | vs sync | final accuracy | train time | MB sent, busiest rank |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in STRAGGLERS:
        sync = runs.get((kind, "sync"), {}).get("time_to_target_seconds")
        for method, (name, _, _) in METHODS.items():
            r = runs.get((kind, method))
            if not r:
                continue
            t = r["time_to_target_seconds"]
            ratio = f"{100 * t / sync:.0f}%" if t is not None and sync else "—"
            tt = f"{t:.1f} s" if t is not None else "never"
            print(f"| {kind} | {name} | {tt} | {ratio} | {100 * r['test_accuracy']:.2f}% | {r['train_seconds']:.1f} s | "
                  f"{r['wire_bytes'] / 1e6:.0f} |")


def svg(runs, path, title):
    panels = [k for k in STRAGGLERS if any((k, m) in runs for m in METHODS)]
    sweeps.accuracy_panels(runs, panels, list(METHODS), COLORS, {m: METHODS[m][0] for m in METHODS}, path, title,
                              "test accuracy of the model a worker holds (the mean over the ranks at the end) against "
                              "wall time; the solid grid line is the 85% target",
                              panel_name=lambda kind: f"straggler: {kind}", legend_step=190)


def consensus_svg(outdir, path):
    """log10 of the consensus distance against the step, one line per topology and size, each
    next to its lambda_2^t line (dashed)."""
    series = []
    for name in sorted(os.listdir(outdir)):
        if name.startswith("consensus-") and name.endswith(".json"):
            with open(os.path.join(outdir, name)) as f:
                series.append(json.load(f))
    if not series:
        sys.exit(f"no consensus-*.json in {outdir}")
    series.sort(key=lambda r: (r["ranks"], r["topology"]))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    w, h, left, top = 560, 300, 60, 50
    steps = max(len(r["distance"]) for r in series) - 1
    lo, hi = -7.0, math.log10(max(r["distance"][0] for r in series)) + 0.5
    out = sweeps.svg_start(w + left + 220, h + top + 70, left, "Gossip: consensus distance against lambda_2^t")
    sweeps.panel_frame(out, left, top, w, h, "max over ranks of the distance to the mean (log scale)")

    def xy(t, d):
        y = min(max(math.log10(max(d, 1e-300)), lo), hi)
        return f"{left + w * t / steps:.1f},{top + h * (hi - y) / (hi - lo):.1f}"

    for e in range(int(math.ceil(lo)), int(hi) + 1):
        y = top + h * (hi - e) / (hi - lo)
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">1e{e}</text>')
    for k in range(0, steps + 1, max(1, steps // 8)):
        out.append(f'<text x="{left + w * k / steps:.1f}" y="{top + h + 14}" text-anchor="middle" font-size="10">{k}</text>')
    for i, r in enumerate(series):
        c = colors[i % len(colors)]
        pts = " ".join(xy(t, d) for t, d in enumerate(r["distance"]))
        theory = " ".join(xy(t, d) for t, d in enumerate(r["lambda2_power_times_start"]))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        out.append(f'<polyline points="{theory}" fill="none" stroke="{c}" stroke-width="1" stroke-dasharray="4,3"/>')
        ly = top + 20 * i + 10
        out.append(f'<line x1="{left + w + 20}" x2="{left + w + 44}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="3"/>')
        out.append(f'<text x="{left + w + 50}" y="{ly + 4}">{"ring" if r["topology"] == "ring" else "torus " + r["shape"]} of {r["ranks"]}: λ₂ = {r["lambda2"]:.3f}</text>')
    out.append(f'<text x="{left}" y="{top + h + 36}" font-size="11">mixing steps; solid: measured, dashed: λ₂^t times '
               f'the start; it flattens at float rounding</text>')
    sweeps.svg_write(out, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("outdir")
    r.add_argument("--workers", type=int, default=4)
    r.add_argument("--epochs", type=int, default=5)
    r.add_argument("--cluster", action="store_true")
    r.add_argument("--stragglers", nargs="+", choices=STRAGGLERS, default=STRAGGLERS)
    r.add_argument("--dtlab", default="build/bin/dtlab")
    c = sub.add_parser("consensus")
    c.add_argument("outdir")
    c.add_argument("--ranks", type=int, nargs="+", default=[9, 16])
    c.add_argument("--steps", type=int, default=40)
    c.add_argument("--bench", default="build/bin/lab05_bench_reference")
    d = sub.add_parser("draw")
    d.add_argument("outdir")
    d.add_argument("--svg")
    d.add_argument("--title", default="Time to accuracy: synchronous, asynchronous, local SGD, DiLoCo, gossip")
    d.add_argument("--table", action="store_true")
    d.add_argument("--consensus-svg")
    a = p.parse_args()
    if a.cmd == "run":
        run(a)
        return
    if a.cmd == "consensus":
        consensus(a)
        return
    if a.consensus_svg:
        consensus_svg(a.outdir, a.consensus_svg)
    runs = load(a.outdir)
    if (a.table or a.svg) and not runs:
        sys.exit(f"no runs in {a.outdir}")
    if a.table:
        table(runs)
    if a.svg:
        svg(runs, a.svg, a.title)


if __name__ == "__main__":
    main()
