"""What the labs' sweep scripts (labs/*/figures/sweep.py) share: the straggler conditions, running
`dtlab train` once per condition and method and loading the JSON reports, and SVG panels of test
accuracy against wall time, one per condition, one line per method. Python 3 standard library
only."""
import json
import math
import os
import subprocess

# No straggler; the last worker 4x slower; a different worker 4x slower every step (from the seed).
STRAGGLERS = ["none", "persistent", "transient"]


def straggler_args(kind, workers):
    if kind == "persistent":
        return ["--inject", f"slow:rank={workers - 1},factor=4"]
    if kind == "transient":
        return ["--inject", "slow:rank=any,factor=4"]
    return []


def train_runs(dtlab, outdir, kinds, names, args_of, epochs, cluster):
    """Runs `dtlab train ... --json OUTDIR/<kind>-<name>.json` for every kind and name, with the
    arguments args_of(kind, name) (ranks, strategy, stragglers)."""
    os.makedirs(outdir, exist_ok=True)
    for kind in kinds:
        for name in names:
            out = os.path.join(outdir, f"{kind}-{name}.json")
            cmd = [dtlab, "train", "--epochs", str(epochs), "--json", out, "-q"] + args_of(kind, name)
            if cluster:
                cmd.append("--cluster")
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)


def load_runs(outdir, kinds, names):
    """The reports train_runs wrote: runs[(kind, name)], for those that exist."""
    runs = {}
    for kind in kinds:
        for name in names:
            path = os.path.join(outdir, f"{kind}-{name}.json")
            if os.path.exists(path):
                with open(path) as f:
                    runs[(kind, name)] = json.load(f)
    return runs


def svg_start(width, height, left, title):
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{left}" y="20" font-size="15" font-weight="bold">{title}</text>']


def panel_frame(out, x0, y0, width, height, name):
    out.append(f'<text x="{x0}" y="{y0 - 8}" font-weight="bold">{name}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{width}" height="{height}" fill="none" stroke="#999"/>')


def svg_write(out, path):
    with open(path, "w") as f:
        f.write("\n".join(out + ["</svg>"]) + "\n")


def nice_step(span, intervals=4):
    """A tick step of 1, 2 or 5 times a power of ten that cuts span into about `intervals`."""
    raw = span / intervals if span > 0 else 1
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def accuracy_panels(runs, panels, series, colors, labels, path, title, note, panel_name=lambda p: p,
                    amin=0.70, amax=0.92, legend_step=120):
    """runs[(panel, s)]: a report with an accuracy_curve; one panel per entry of `panels`, one
    line per entry of `series` (colors[s], labels[s]); the 85% grid line solid."""
    panel_w, panel_h, left, top, gap = 300, 220, 50, 50, 40
    width = left + len(panels) * (panel_w + gap)
    per_row = max(1, (width - left) // legend_step)  # legend entries per line
    rows = (len(series) + per_row - 1) // per_row
    height = top + panel_h + 90 + 20 * (rows - 1)
    tmax = max((p["seconds"] for r in runs.values() for p in r["accuracy_curve"]), default=1)
    step = nice_step(tmax)
    out = svg_start(width, height, left, title)
    for i, panel in enumerate(panels):
        x0 = left + i * (panel_w + gap)
        y0 = top
        panel_frame(out, x0, y0, panel_w, panel_h, panel_name(panel))
        for acc in (0.75, 0.80, 0.85, 0.90):
            y = y0 + panel_h * (1 - (acc - amin) / (amax - amin))
            dash = "" if acc == 0.85 else ' stroke-dasharray="2,3"'
            out.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc"{dash}/>')
            out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{int(acc * 100)}%</text>')
        for k in range(int(tmax / step) + 1):
            x = x0 + panel_w * k * step / tmax
            out.append(f'<text x="{x:.1f}" y="{y0 + panel_h + 14}" text-anchor="middle" font-size="10">{k * step:g} s</text>')
        for s in series:
            r = runs.get((panel, s))
            if not r:
                continue
            pts = []
            for p in r["accuracy_curve"]:
                x = x0 + panel_w * p["seconds"] / tmax
                a = min(max(p["test_accuracy"], amin), amax)
                pts.append(f"{x:.1f},{y0 + panel_h * (1 - (a - amin) / (amax - amin)):.1f}")
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colors[s]}" stroke-width="1.8"/>')
    ly = top + panel_h + 40
    for j, s in enumerate(series):
        x, y = left + (j % per_row) * legend_step, ly + 20 * (j // per_row)
        out.append(f'<line x1="{x}" x2="{x + 24}" y1="{y}" y2="{y}" stroke="{colors[s]}" stroke-width="3"/>')
        out.append(f'<text x="{x + 30}" y="{y + 4}">{labels[s]}</text>')
    out.append(f'<text x="{left}" y="{ly + 30 + 20 * (rows - 1)}" font-size="11">{note}</text>')
    svg_write(out, path)
