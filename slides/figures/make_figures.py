#!/usr/bin/env python3
"""Make every figure of the lecture slides (slides/*.md) from dtlab's own results.

Measured figures are drawn from the raw outputs kept in docs/results/data/<machine-date>/ (the
JSON that `dtlab bench ... --json`, `dtlab train --json`, bench/compare_ddp.py and lab02_bench
wrote); model figures say so on the figure and take every value from dtlab's own formulas
(core/include/dtlab/formulas.hpp, core/src/formulas_*.cpp), asked through `dtlab calc --batch`:
this script has no copy of any formula. The dtlab binary is $DTLAB_BIN, else build/bin/dtlab
(./dtlab build makes it). The DDP step timeline is labs/02-data-parallel/figures/ddp-step.svg,
copied (docs/figures/README.md makes it). Lab 04's staleness figure and Lab 05's time-to-accuracy
and consensus figures are drawn by the labs' own figures/sweep.py from their sweeps' JSON, as
`sweep.py draw` draws them.

Hand-written SVG, Python 3 standard library only. Deterministic: the same inputs give the same
bytes (no dates, no dictionaries in arbitrary order, fixed number formats), so a test can
regenerate the figures into a temporary folder and compare them with slides/figures/.

  python3 slides/figures/make_figures.py                 # writes slides/figures/*.svg
  python3 slides/figures/make_figures.py --out /tmp/f    # somewhere else (the up-to-date check)
  python3 slides/figures/make_figures.py --data docs/results/data/OTHER-RUN
  python3 slides/figures/make_figures.py --list          # the figures and their sources
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
# The measurement run the slides quote. A newer run goes into its own folder
# (docs/results/README.md); point this at it, regenerate, and check the slides' numbers.
DEFAULT_DATA = ROOT / "docs" / "results" / "data" / "2026-11-24-cpu-2core"
DDP_STEP_SVG = ROOT / "labs" / "02-data-parallel" / "figures" / "ddp-step.svg"
# Lab 04's staleness sweep (`sweep.py run`) and the script that draws it (`sweep.py draw`).
LAB04_SWEEP = ROOT / "docs" / "results" / "data" / "2026-12-07-cpu-2core" / "lab04" / "sweep-local"
LAB04_SWEEP_PY = ROOT / "labs" / "04-parameter-server" / "figures" / "sweep.py"
# Lab 05's sweep (`sweep.py run`), its consensus runs (`sweep.py consensus`) and the script that
# draws both (`sweep.py draw --svg`, `--consensus-svg`).
LAB05_DATA = ROOT / "docs" / "results" / "data" / "2026-12-07-cpu-2core" / "lab05"
LAB05_SWEEP = LAB05_DATA / "sweep-local"
LAB05_SWEEP_PY = ROOT / "labs" / "05-async-sgd" / "figures" / "sweep.py"

FONT = "system-ui, -apple-system, 'Segoe UI', 'Noto Sans', Helvetica, Arial, sans-serif"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies (as docs/figures uses).
BLACK, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE = (
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
GREY, LIGHT, INK, MUTED = "#999999", "#E6E6E6", "#1a1a1a", "#555555"

W = 1160  # every figure is 1160 px wide: it fills a 1280 x 720 slide's text column

MiB = 1 << 20
KiB = 1 << 10


# ---------------------------------------------------------------------------------------------
# A small SVG writer and a chart with linear or logarithmic axes
# ---------------------------------------------------------------------------------------------

def num(v: float) -> str:
    """A coordinate: two decimals, no trailing zeros, never '-0'."""
    s = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


class Svg:
    def __init__(self, width: int, height: int, title: str):
        self.width, self.height, self.title = width, height, title
        self.items: list[str] = []

    def add(self, s: str) -> None:
        self.items.append(s)

    def text(self, x, y, s, size=17, anchor="start", weight=None, fill=INK, rotate=None,
             italic=False, family=None) -> None:
        a = [f'x="{num(x)}"', f'y="{num(y)}"', f'font-size="{num(size)}"']
        if anchor != "start":
            a.append(f'text-anchor="{anchor}"')
        if weight:
            a.append(f'font-weight="{weight}"')
        if fill != INK:
            a.append(f'fill="{fill}"')
        if italic:
            a.append('font-style="italic"')
        if family:
            a.append(f'font-family="{family}"')
        if rotate is not None:
            a.append(f'transform="rotate({num(rotate)} {num(x)} {num(y)})"')
        self.add(f"<text {' '.join(a)}>{escape(s)}</text>")

    def line(self, x1, y1, x2, y2, stroke=INK, width=1.0, dash=None, opacity=None) -> None:
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' stroke-opacity="{opacity}"' if opacity else ""
        self.add(f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
                 f'stroke="{stroke}" stroke-width="{num(width)}"{extra}/>')

    def rect(self, x, y, w, h, fill, stroke=None, width=1.0, rx=0, opacity=None, tip=None) -> None:
        extra = f' stroke="{stroke}" stroke-width="{num(width)}"' if stroke else ""
        extra += f' rx="{num(rx)}"' if rx else ""
        extra += f' fill-opacity="{opacity}"' if opacity else ""
        body = f"<title>{escape(tip)}</title>" if tip else ""
        end = f">{body}</rect>" if body else "/>"
        self.add(f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" height="{num(h)}" '
                 f'fill="{fill}"{extra}{end}')

    def polyline(self, pts, stroke, width=2.5, dash=None, opacity=None) -> None:
        p = " ".join(f"{num(x)},{num(y)}" for x, y in pts)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        extra += f' stroke-opacity="{opacity}"' if opacity else ""
        self.add(f'<polyline points="{p}" fill="none" stroke="{stroke}" stroke-width="{num(width)}" '
                 f'stroke-linejoin="round" stroke-linecap="round"{extra}/>')

    def marker(self, x, y, shape, color, size=5.5, tip=None) -> None:
        body = f"<title>{escape(tip)}</title>" if tip else ""

        def close(tag: str) -> str:
            return f">{body}</{tag}>" if body else "/>"

        s = size
        if shape == "circle":
            self.add(f'<circle cx="{num(x)}" cy="{num(y)}" r="{num(s)}" fill="{color}" '
                     f'stroke="#fff" stroke-width="1"' + close("circle"))
        elif shape == "square":
            self.add(f'<rect x="{num(x - s)}" y="{num(y - s)}" width="{num(2 * s)}" '
                     f'height="{num(2 * s)}" fill="{color}" stroke="#fff" stroke-width="1"'
                     + close("rect"))
        elif shape in ("triangle", "diamond", "down"):
            if shape == "triangle":
                pts = [(x, y - 1.2 * s), (x + 1.1 * s, y + 0.8 * s), (x - 1.1 * s, y + 0.8 * s)]
            elif shape == "down":
                pts = [(x, y + 1.2 * s), (x + 1.1 * s, y - 0.8 * s), (x - 1.1 * s, y - 0.8 * s)]
            else:
                pts = [(x, y - 1.3 * s), (x + 1.3 * s, y), (x, y + 1.3 * s), (x - 1.3 * s, y)]
            p = " ".join(f"{num(a)},{num(b)}" for a, b in pts)
            self.add(f'<polygon points="{p}" fill="{color}" stroke="#fff" stroke-width="1"'
                     + close("polygon"))
        elif shape == "cross":
            self.line(x - s, y - s, x + s, y + s, color, 2.5)
            self.line(x - s, y + s, x + s, y - s, color, 2.5)

    def arrow(self, x1, y1, x2, y2, color=INK, width=2.0, head=9.0) -> None:
        """A line from (x1, y1) to (x2, y2) with a filled head at the end."""
        dx, dy = x2 - x1, y2 - y1
        d = math.hypot(dx, dy) or 1.0
        ux, uy = dx / d, dy / d
        bx, by = x2 - ux * head, y2 - uy * head
        self.line(x1, y1, bx, by, color, width)
        px, py = -uy * head * 0.5, ux * head * 0.5
        p = f"{num(x2)},{num(y2)} {num(bx + px)},{num(by + py)} {num(bx - px)},{num(by - py)}"
        self.add(f'<polygon points="{p}" fill="{color}"/>')

    def model_tag(self, text="MODEL: computed, not measured") -> None:
        w = 9.2 * len(text) + 24
        self.rect(self.width - w - 12, 10, w, 28, "#FFF4D6", stroke=ORANGE, width=1.5, rx=5)
        self.text(self.width - w / 2 - 12, 29.5, text, size=15, anchor="middle", weight="700",
                  fill="#8a5300")

    def source(self, lines: list[str], width=150) -> None:
        """The data source, bottom left, in small grey type, wrapped to the figure's width."""
        wrapped = []
        for s in lines:
            cur = ""
            for word in s.split(" "):
                if cur and len(cur) + 1 + len(word) > width:
                    wrapped.append(cur)
                    cur = word
                else:
                    cur = f"{cur} {word}" if cur else word
            wrapped.append(cur)
        lines = wrapped
        y = self.height - 10 - 18 * (len(lines) - 1)
        for s in lines:
            self.text(14, y, s, size=14, fill=MUTED)
            y += 18

    def render(self) -> str:
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
                f'font-family="{FONT}">\n<title>{escape(self.title)}</title>\n'
                f'<rect width="{self.width}" height="{self.height}" fill="#fff"/>\n')
        return head + "\n".join(self.items) + "\n</svg>\n"


class Axis:
    def __init__(self, lo, hi, a, b, log=False):
        self.lo, self.hi, self.a, self.b, self.log = lo, hi, a, b, log

    def __call__(self, v: float) -> float:
        if self.log:
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.a + t * (self.b - self.a)


class Chart:
    """A plot area at (x, y) of size w x h with axes X and Y (Axis maps value -> pixel)."""

    def __init__(self, svg: Svg, x, y, w, h, xr, yr, xlog=False, ylog=False):
        self.svg, self.x, self.y, self.w, self.h = svg, x, y, w, h
        self.X = Axis(xr[0], xr[1], x, x + w, xlog)
        self.Y = Axis(yr[0], yr[1], y + h, y, ylog)

    def frame(self, xticks, yticks, xlabel="", ylabel="", title=None, grid=True, ylabel_dx=72) -> None:
        s = self.svg
        s.rect(self.x, self.y, self.w, self.h, "#FCFCFC", stroke="#CCCCCC")
        for v, lab in xticks:
            px = self.X(v)
            if grid:
                s.line(px, self.y, px, self.y + self.h, LIGHT)
            s.line(px, self.y + self.h, px, self.y + self.h + 6, MUTED)
            s.text(px, self.y + self.h + 25, lab, size=16, anchor="middle", fill="#333")
        for v, lab in yticks:
            py = self.Y(v)
            if grid:
                s.line(self.x, py, self.x + self.w, py, LIGHT)
            s.line(self.x - 6, py, self.x, py, MUTED)
            s.text(self.x - 10, py + 5.5, lab, size=16, anchor="end", fill="#333")
        if xlabel:
            s.text(self.x + self.w / 2, self.y + self.h + 52, xlabel, size=17, anchor="middle")
        if ylabel:
            s.text(self.x - ylabel_dx, self.y + self.h / 2, ylabel, size=17, anchor="middle", rotate=-90)
        if title:
            s.text(self.x, self.y - 12, title, size=18, weight="600")

    def series(self, xs, ys, color, marker="circle", width=2.5, dash=None, opacity=None,
               tips=None, size=5.0) -> None:
        pts = [(self.X(a), self.Y(b)) for a, b in zip(xs, ys)]
        self.svg.polyline(pts, color, width, dash, opacity)
        if marker:
            for i, (px, py) in enumerate(pts):
                self.svg.marker(px, py, marker, color, size, tips[i] if tips else None)

    def hline(self, v, color=GREY, dash="6 5", width=1.5) -> None:
        self.svg.line(self.x, self.Y(v), self.x + self.w, self.Y(v), color, width, dash)

    def vline(self, v, color=GREY, dash="6 5", width=1.5) -> None:
        self.svg.line(self.X(v), self.y, self.X(v), self.y + self.h, color, width, dash)


def legend(svg: Svg, x, y, items, columns=1, col_width=260, row=26) -> None:
    """items: (label, color, marker, dash)."""
    for i, (label, color, marker, dash) in enumerate(items):
        cx = x + (i % columns) * col_width
        cy = y + (i // columns) * row
        svg.line(cx, cy, cx + 34, cy, color, 3, dash)
        if marker:
            svg.marker(cx + 17, cy, marker, color, 5.5)
        svg.text(cx + 44, cy + 6, label, size=16)


def size_label(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g} B"


def thousands(v: float) -> str:
    return f"{v:,.0f}"


def log_ticks(lo_exp: int, hi_exp: int, fmt) -> list:
    return [(10.0 ** e, fmt(10.0 ** e)) for e in range(lo_exp, hi_exp + 1)]


def gbps_label(v: float) -> str:
    return f"{v:g}"


# ---------------------------------------------------------------------------------------------
# dtlab's formulas, through `dtlab calc --batch` (cli/cmd_calc.cpp): no formula is copied here
# ---------------------------------------------------------------------------------------------

def dtlab_bin() -> Path:
    """$DTLAB_BIN if set, else build/bin/dtlab; exits with a clear message when it is missing."""
    env = os.environ.get("DTLAB_BIN", "")
    path = Path(env) if env else ROOT / "build" / "bin" / "dtlab"
    if not (path.is_file() and os.access(path, os.X_OK)):
        where = f"DTLAB_BIN={env}" if env else str(path)
        sys.exit(f"make_figures: no dtlab binary at {where}: build dtlab first: ./dtlab build "
                 f"(or point DTLAB_BIN at one). The model figures take their values from dtlab calc.")
    return path


def _arg(v) -> str:
    """A number as dtlab calc reads it back exactly (Python's repr is the shortest round trip)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"not a finite number: {v!r}")
    return str(v) if isinstance(v, int) else repr(v)


class Calc:
    """Lines of `dtlab calc --batch` ("NAME key=value ..."), collected first, then evaluated in one
    subprocess: add() and series() return where their values will be, run() fills them in.

        c = Calc()
        bubble = c.add("pipeline_bubble_fraction", p=4, m=8)
        curve = c.series("pipeline_bubble_fraction", "m", range(1, 33), p=4)
        c.run()
        c[bubble], c[curve]      # a float, a list of floats
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.values: list[float] | None = None

    def add(self, name: str, **args) -> int:
        assert self.values is None, "run() already called"
        self.lines.append(" ".join([name] + [f"{k}={_arg(v)}" for k, v in args.items()]))
        return len(self.lines) - 1

    def series(self, name: str, key: str, values, **args) -> range:
        """One line per value of parameter key, the others fixed."""
        start = len(self.lines)
        for v in values:
            self.add(name, **{key: v}, **args)
        return range(start, len(self.lines))

    def run(self) -> "Calc":
        cmd = [str(dtlab_bin()), "calc", "--batch"]
        r = subprocess.run(cmd, input="".join(f"{line}\n" for line in self.lines),
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            sys.exit(f"make_figures: {' '.join(cmd)} failed (exit {r.returncode}):\n{r.stderr.strip()}")
        out = r.stdout.split()
        if len(out) != len(self.lines):
            sys.exit(f"make_figures: dtlab calc --batch gave {len(out)} values for {len(self.lines)} lines")
        self.values = [float(v) for v in out]
        return self

    def __getitem__(self, where):
        assert self.values is not None, "run() first"
        if isinstance(where, range):
            return [self.values[i] for i in where]
        return self.values[where]


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

class Data:
    def __init__(self, folder: Path):
        self.folder = folder
        if not folder.is_dir():
            sys.exit(f"make_figures: no data folder {folder}")
        self.used: set[str] = set()

    def path(self, name: str) -> Path:
        p = self.folder / name
        if not p.exists():
            sys.exit(f"make_figures: {p} is missing (it is written by the command that "
                     f"docs/results/*.md names for it)")
        self.used.add(name)
        return p

    def json(self, name: str):
        with open(self.path(name), encoding="utf-8") as f:
            return json.load(f)

    def jsonl(self, name: str):
        with open(self.path(name), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def rel(self, name: str) -> str:
        try:
            return str((self.folder / name).relative_to(ROOT))
        except ValueError:
            return str(self.folder / name)

    @property
    def run(self) -> str:
        return self.folder.name  # e.g. 2026-11-24-cpu-2core: date and machine


# ---------------------------------------------------------------------------------------------
# Lab 00: ping-pong and the fitted alpha-beta line
# ---------------------------------------------------------------------------------------------

def fig_pingpong(d: Data) -> str:
    pp = d.json("pingpong.json")
    alpha, beta = pp["alpha"], pp["beta"]
    sizes = sorted(pp["sizes"], key=lambda s: s["bytes"])
    xs = [s["bytes"] for s in sizes]
    lat = [s["latency_us"] for s in sizes]
    line_x = [0.7 * 1.25 ** i for i in range(0, 200) if 0.7 * 1.25 ** i <= 24 * MiB]
    # the fitted line T(n) = alpha + n beta (message_time), then bandwidths n / T (algbw)
    times = Calc()
    fit = times.series("message_time", "bytes", line_x, alpha=alpha, beta=beta)
    times.run()
    bws = Calc()
    fit_bw = [bws.add("algbw", bytes=n, seconds=t) for n, t in zip(line_x, times[fit])]
    measured_bw = [bws.add("algbw", bytes=s["bytes"], seconds=s["latency_us"] * 1e-6) for s in sizes]
    bws.run()
    bw = [bws[i] / 1e9 for i in measured_bw]
    svg = Svg(W, 560, "Ping-pong between two ranks: one-way time and bandwidth, with the fitted "
                      "alpha-beta line")
    xt = [(v, size_label(v)) for v in (1, 16, 256, 4 * KiB, 64 * KiB, MiB, 16 * MiB)]
    # left: one-way time, log-log
    c = Chart(svg, 120, 52, 430, 340, (0.7, 24 * MiB), (0.2, 3000), xlog=True, ylog=True)
    c.frame(xt, [(v, f"{v:g}") for v in (0.3, 1, 3, 10, 30, 100, 300, 1000, 3000)],
            "message size", "one-way time (µs)", "One-way time = half a round trip")
    c.series(line_x, [t * 1e6 for t in times[fit]], VERMILION, None, 2.5, "8 5")
    c.series(xs, lat, BLUE, "circle", 0, tips=[f"{size_label(a)}: {b:.3g} µs" for a, b in zip(xs, lat)])
    # the eager -> rendezvous region
    svg.rect(c.X(256), c.y, c.X(4 * KiB) - c.X(256), c.h, ORANGE, opacity="0.12")
    svg.text(c.X(1024), c.y + 24, "eager → rendezvous", size=15, anchor="middle", fill="#8a5300")
    # right: bandwidth, log x, linear y
    r = Chart(svg, 690, 52, 440, 340, (0.7, 24 * MiB), (0, 12.5), xlog=True)
    r.frame(xt, [(v, f"{v:g}") for v in (0, 2, 4, 6, 8, 10, 12)], "message size",
            "bandwidth (GB/s)", "Bandwidth = size / one-way time")
    r.series(line_x, [bws[i] / 1e9 for i in fit_bw], VERMILION, None, 2.5, "8 5")
    r.hline(1 / beta / 1e9, VERMILION, "2 4", 1.2)
    svg.text(r.X(2), r.Y(1 / beta / 1e9) - 8, f"1/β = {1 / beta / 1e9:.1f} GB/s", size=15,
             fill=VERMILION)
    r.series(xs, bw, BLUE, "circle", 0)
    legend(svg, 120, 478, [("measured (dtlab bench pingpong)", BLUE, "circle", None),
                           (f"fit: T(n) = α + nβ,  α = {alpha * 1e6:.2f} µs,  β = {beta * 1e9:.3f} "
                            f"ns/B  (relative least squares)", VERMILION, None, "8 5")],
           columns=1, row=26)
    svg.source([f"Data: {d.rel('pingpong.json')} (./dtlab bench pingpong --save-model "
                f"cost-model.toml --json pingpong.json): Open MPI shared memory, 2 ranks on 2 cores."])
    return svg.render()


# ---------------------------------------------------------------------------------------------
# Lab 01: communication patterns, cost model, measured busbw
# ---------------------------------------------------------------------------------------------

def pattern_diagram(title: str, p: int, rounds, notes: list, both_ways: bool, has_data=None,
                    after=None, width=570, height=500) -> str:
    """Ranks as horizontal lines, rounds as columns, one arrow per message (both_ways: an exchange)."""
    svg = Svg(width, height, title)
    top, left, right = 92, 70, width - 30
    bottom = height - 30 - 20 * len(notes) - (26 if after else 0)
    gap = (bottom - top) / (p - 1)
    ys = [top + r * gap for r in range(p)]
    xs = [left + 60 + (right - left - 90) * (k + 0.5) / len(rounds) for k in range(len(rounds))]
    svg.text(16, 30, title, size=19, weight="600")
    for r in range(p):
        svg.text(left - 14, ys[r] + 6, f"r{r}", size=17, anchor="end", weight="600")
        if has_data is None:
            svg.line(left, ys[r], right, ys[r], BLUE, 3)
            continue
        x0 = left
        for k in range(-1, len(rounds)):  # grey until the rank has the data, then blue
            x1 = xs[k + 1] if k + 1 < len(rounds) else right
            on = has_data[k + 1][r]
            svg.line(x0, ys[r], x1, ys[r], BLUE if on else "#C8C8C8", 3.5 if on else 2)
            x0 = x1
    for k, msgs in enumerate(rounds):
        svg.text(xs[k], top - 24, f"round {k + 1}", size=16, anchor="middle", fill=MUTED)
        for a, b, off in msgs:
            x = xs[k] + off
            y1, y2 = ys[a], ys[b]
            sgn = 1 if y2 > y1 else -1
            if both_ways:
                svg.arrow((x), (y1 + y2) / 2, x, y2 - sgn * 5, VERMILION, 2.2)
                svg.arrow((x), (y1 + y2) / 2, x, y1 + sgn * 5, VERMILION, 2.2)
            else:
                svg.marker(x, y1, "circle", VERMILION, 4.5)
                svg.arrow(x, y1 + sgn * 6, x, y2 - sgn * 5, VERMILION, 2.2)
        if after:
            svg.text(xs[k], bottom + 34, after[k], size=15, anchor="middle", fill=BLUE, weight="600")
    y = height - 14 - 20 * (len(notes) - 1)
    for n in notes:
        svg.text(16, y, n, size=15, fill=MUTED)
        y += 20
    return svg.render()


def fig_binomial() -> str:
    p = 8
    rounds, has = [], [[r == 0 for r in range(p)]]
    mask = 1
    while mask < p:
        mask <<= 1
    mask >>= 1
    while mask >= 1:  # broadcast from r0: every rank that has the data sends it mask ranks down
        cur = has[-1]
        msgs = [(r, r + mask, 0) for r in range(p) if cur[r] and r % (2 * mask) == 0 and r + mask < p]
        rounds.append(msgs)
        nxt = list(cur)
        for _, b, _ in msgs:
            nxt[b] = True
        has.append(nxt)
        mask >>= 1
    after = [f"{sum(h)} have it" for h in has[1:]]
    return pattern_diagram("Binomial broadcast from r0, p = 8", p, rounds,
                           ["⌈log₂p⌉ = 3 rounds: each doubles who has the data.",
                            "Reduce to r0: the same tree, arrows reversed, adding."], False, has, after)


def fig_recursive_doubling() -> str:
    p = 8
    rounds = []
    d = 1
    while d < p:
        msgs = []
        for r in range(p):
            partner = r ^ d
            if r < partner:
                msgs.append((r, partner, ((r % d) - (d - 1) / 2) * 14))
        rounds.append(msgs)
        d <<= 1
    after = [f"sums of {2 ** (k + 1)}" for k in range(len(rounds))]
    return pattern_diagram("Recursive doubling allreduce, p = 8", p, rounds,
                           ["Round k: exchange the whole vector with rank XOR 2ᵏ⁻¹",
                            "and add: log₂p rounds, every rank ends with the sum."], True, None, after)


def fig_ring() -> str:
    """Ring reduce-scatter then allgather for p = 4, simulated with the handout's block rules."""
    p = 4
    state = [[{r} for _ in range(p)] for r in range(p)]  # state[rank][block] = contributors
    rows = [("start: each rank has its own vector", [row[:] for row in state], None)]
    for s in range(p - 1):
        sends = [(r, (r - s - 1) % p) for r in range(p)]
        new = [[set(x) for x in row] for row in state]
        for r, b in sends:
            new[(r + 1) % p][b] |= state[r][b]
        state = new
        rows.append((f"reduce-scatter step {s + 1}", [[set(x) for x in row] for row in state],
                     {(r + 1) % p: b for r, b in sends}))
    for s in range(p - 1):
        sends = [(r, (r - s) % p) for r in range(p)]
        new = [[set(x) for x in row] for row in state]
        for r, b in sends:
            new[(r + 1) % p][b] = set(state[r][b])
        state = new
        rows.append((f"allgather step {s + 1}", [[set(x) for x in row] for row in state],
                     {(r + 1) % p: b for r, b in sends}))
    h_row, top = 52, 96
    svg = Svg(W, top + h_row * len(rows) + 84,
              "Ring allreduce on 4 ranks: reduce-scatter, then allgather")
    svg.text(16, 30, "Ring allreduce, p = 4: every step, each rank sends one block (n/p) to its "
                     "right neighbour", size=19, weight="600")
    col0, colw, box = 330, 205, 34
    for r in range(p):
        svg.text(col0 + r * colw + 2 * box, top - 18, f"r{r}", size=18, anchor="middle", weight="600")
    shades = ["#FFFFFF", "#D6E9F5", "#9DC9E8", "#4F9CD1", BLUE]
    for i, (label, st, recv) in enumerate(rows):
        y = top + i * h_row
        if i in (1, p):
            svg.line(20, y - 8, W - 20, y - 8, "#BBBBBB", 1, "4 4")
        svg.text(20, y + 24, label, size=16, fill=INK if i else MUTED)
        for r in range(p):
            for b in range(p):
                n = len(st[r][b])
                x = col0 + r * colw + b * (box + 4)
                fill = shades[n] if n < p else BLUE
                is_recv = recv is not None and recv.get(r) == b
                svg.rect(x, y, box, box, fill, stroke=VERMILION if is_recv else "#888888",
                         width=3 if is_recv else 1, rx=3,
                         tip=f"rank {r}, block {b}: sum of ranks {sorted(st[r][b])}")
                svg.text(x + box / 2, y + 23, str(b), size=15, anchor="middle",
                         fill="#fff" if n >= 3 else INK, weight="600" if n == p else None)
    yl = top + len(rows) * h_row + 8
    for k in range(1, p + 1):
        x = 20 + (k - 1) * 170
        svg.rect(x, yl, 22, 22, shades[k] if k < p else BLUE, stroke="#888888", rx=3)
        svg.text(x + 30, yl + 17, f"sum of {k} rank{'s' if k > 1 else ''}", size=15)
    svg.rect(20 + 4 * 170, yl, 22, 22, "#fff", stroke=VERMILION, width=3, rx=3)
    svg.text(20 + 4 * 170 + 30, yl + 17, "block received in this step", size=15)
    svg.text(20, yl + 50, "Reduce-scatter step s (from 0): rank r sends block (r−s−1) mod p and adds the "
                          "block it receives.", size=15, fill=MUTED)
    svg.text(20, yl + 70, "Allgather step s: rank r sends block (r−s) mod p and stores the block it "
                          "receives. 2(p−1) steps of n/p bytes.", size=15, fill=MUTED)
    return svg.render()


ALGOS = [  # key, label, colour, marker, dash
    ("mpi", "MPI_Allreduce (Open MPI 4.1)", BLACK, "square", "7 4"),
    ("recursive_doubling", "recursive doubling", BLUE, "circle", None),
    ("ring", "ring", VERMILION, "triangle", None),
    ("rabenseifner", "Rabenseifner", GREEN, "diamond", None),
    ("auto", "auto (choose_allreduce)", PURPLE, None, None),
]


def fig_allreduce_model() -> str:
    p, a, b, g = 8, 2e-6, 1e-10, 1e-10
    svg = Svg(W, 500, "Modeled allreduce busbw against message size, p = 8")
    svg.model_tag()
    c = Chart(svg, 120, 60, 640, 340, (4, 256 * MiB), (0.0002, 20), xlog=True, ylog=True)
    xt = [(v, size_label(v)) for v in (4, 64, KiB, 16 * KiB, 256 * KiB, 4 * MiB, 64 * MiB)]
    c.frame(xt, log_ticks(-3, 1, gbps_label), "message size n (bytes per rank)", "busbw (GB/s)",
            "p = 8 ranks: busbw = (2(p−1)/p · n) / T(n)")
    ns = [4 * 2 ** (i / 4) for i in range(0, 4 * 26 + 1)]
    keys = ("naive", "recursive_doubling", "ring", "rabenseifner")
    # dtlab calc NAME_allreduce_time (the Lab 01 handout's section 2), then busbw of those times;
    # the large-n limits are the same with alpha = 0, where busbw no longer depends on n
    times = Calc()
    t = {k: times.series(f"{k}_allreduce_time", "bytes", ns, p=p, alpha=a, beta=b, gamma=g) for k in keys}
    t_inf = {k: times.add(f"{k}_allreduce_time", bytes=1, p=p, alpha=0, beta=b, gamma=g)
             for k in ("naive", "recursive_doubling", "ring")}
    times.run()
    bus = Calc()
    busbw = {k: [bus.add("busbw", p=p, bytes=n, seconds=s) for n, s in zip(ns, times[t[k]])] for k in keys}
    limit = {k: bus.add("busbw", p=p, bytes=1, seconds=times[i]) for k, i in t_inf.items()}
    bus.run()
    styles = {"naive": ("naive (all to r0, r0 to all)", ORANGE, None)}
    for key, label, color, _, _ in ALGOS[1:4]:
        styles[key] = (label, color, None)
    for key in keys:
        label, color, _ = styles[key]
        c.series(ns, [bus[i] / 1e9 for i in busbw[key]], color, None, 3)
    legend(svg, 800, 90, [(styles[k][0], styles[k][1], None, None)
                          for k in ("recursive_doubling", "rabenseifner", "ring", "naive")],
           columns=1, row=30)
    y = 250
    for s in ("α = 2 µs, β = 0.1 ns/B (10 GB/s),", "γ = 0.1 ns/B: dtlab's default", "cost model.",
              "Large n: ring and Rabenseifner tend", f"to 2/(2β+γ) = {bus[limit['ring']] / 1e9:.2f} GB/s, "
              "doubling to", f"{bus[limit['recursive_doubling']] / 1e9:.2f} GB/s, "
              f"naive to {bus[limit['naive']] / 1e9:.2f} GB/s."):
        svg.text(800, y, s, size=16)
        y += 24
    svg.source(["Computed from the modeled times of the Lab 01 handout, section 2: the closed forms of "
                "dtlab calc naive_|recursive_doubling_|ring_|rabenseifner_allreduce_time "
                "(core/src/formulas_collectives.cpp)."])
    return svg.render()


def _allreduce_panels(d: Data, value, ylabel, yr, ylog, yticks, title_fn, ref_line=None,
                      algos=ALGOS, height=580, shade_below=None) -> Svg:
    svg = Svg(W, height, "")
    xt = [(v, size_label(v)) for v in (4, 256, 16 * KiB, MiB, 64 * MiB)]
    for i, ranks in enumerate((2, 4)):
        name = f"lab01-allreduce-{ranks}.json"
        res = d.json(name)["results"]
        yr_i = yr[i] if isinstance(yr, list) else yr
        yt_i = yticks[i] if isinstance(yticks[0], list) else yticks
        c = Chart(svg, 110 + i * 545, 48, 470, 360, (3, 96 * MiB), yr_i, xlog=True, ylog=ylog)
        c.frame(xt, yt_i, "message size (bytes per rank)", ylabel if i == 0 else "", title_fn(ranks),
                ylabel_dx=60)
        if shade_below is not None:
            svg.rect(c.x, c.Y(shade_below), c.w, c.y + c.h - c.Y(shade_below), GREEN, opacity="0.07")
            svg.text(c.x + c.w - 8, c.y + c.h - 10, "faster than MPI", size=14, anchor="end",
                     fill=GREEN)
        if ref_line is not None:
            c.hline(ref_line, BLACK, "7 4", 1.8)
        for key, label, color, marker, dash in algos:
            pts = sorted((r["bytes"], value(r)) for r in res if r["algo"] == key)
            if not pts:
                continue
            if key == "auto":
                c.series([x for x, _ in pts], [y for _, y in pts], color, None, 9, None, "0.35")
            else:
                c.series([x for x, _ in pts], [y for _, y in pts], color, marker, 2.2, dash,
                         size=4.2)
    return svg


def fig_allreduce_busbw(d: Data) -> str:
    svg = _allreduce_panels(
        d, lambda r: r["busbw_gbps"], "busbw (GB/s)", [(0, 10), (0, 5)], False,
        [[(v, f"{v:g}") for v in range(0, 11, 2)], [(v, f"{v:g}") for v in range(0, 6)]],
        lambda p: f"{p} ranks" + (" (two per core: time-shared)" if p > 2 else ", one per core"))
    svg.title = "Measured allreduce busbw against message size: Lab 01's reference algorithms and MPI_Allreduce"
    legend(svg, 110, 482, [(lab, col, mk, None if k != "mpi" else "7 4") for k, lab, col, mk, _ in ALGOS],
           columns=3, col_width=330, row=28)
    svg.source([f"Data: {d.rel('lab01-allreduce-2.json')}, lab01-allreduce-4.json (./dtlab bench "
                f"allreduce --ranks 2|4 --json ...): float sum in place, best of 3 trials of the slowest "
                f"rank; busbw = algbw · 2(p−1)/p (nccl-tests)."])
    return svg.render()


def fig_allreduce_vs_mpi(d: Data) -> str:
    algos = [a for a in ALGOS if a[0] != "mpi"]
    svg = _allreduce_panels(
        d, lambda r: r["time_vs_mpi"], "time / MPI_Allreduce's time", (0, 3.5), False,
        [(v, f"{v:g}×") for v in (0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5)],
        lambda p: f"{p} ranks" + (" (two per core)" if p > 2 else ""), ref_line=1.0, algos=algos,
        shade_below=1.0)
    svg.title = "Measured time of Lab 01's reference allreduce algorithms relative to MPI_Allreduce"
    legend(svg, 110, 482, [(lab, col, mk, None) for k, lab, col, mk, _ in algos]
           + [("MPI_Allreduce = 1", BLACK, None, "7 4")], columns=3, col_width=330, row=28)
    svg.source([f"Data: {d.rel('lab01-allreduce-2.json')}, lab01-allreduce-4.json (field time_vs_mpi; "
                f"below 1 = faster than Open MPI's choice). choose_allreduce: doubling ≤ 32 KiB, "
                f"then Rabenseifner (p = 2ᵏ, n < p·32 KiB), then ring."])
    return svg.render()


# ---------------------------------------------------------------------------------------------
# Lab 02: scaling, DDP against PyTorch, overlap in the model, learning-rate schedule
# ---------------------------------------------------------------------------------------------

def fig_scaling(d: Data) -> str:
    svg = Svg(W, 540, "Data-parallel training throughput against the number of ranks")
    c = Chart(svg, 130, 40, 600, 380, (0.7, 4.3), (0, 140000))
    c.frame([(1, "1"), (2, "2"), (3, "3"), (4, "4")],
            [(v, f"{v // 1000:g}k") for v in range(0, 140001, 20000)], "ranks (MPI processes)",
            "training samples/s (all ranks)")
    svg.rect(c.X(2.5), c.y, c.X(4.3) - c.X(2.5), c.h, GREY, opacity="0.10")
    svg.text(c.X(3.4), c.y + 26, "more ranks than cores:", size=15, anchor="middle", fill=MUTED)
    svg.text(c.X(3.4), c.y + 46, "they take turns on 2 cores", size=15, anchor="middle", fill=MUTED)
    items = []
    for name, color, marker, label in (("scaling-512.json", BLUE, "circle", "global batch 512 (default)"),
                                       ("scaling-256.json", VERMILION, "triangle", "global batch 256")):
        runs = sorted(d.json(name)["runs"], key=lambda r: r["ranks"])
        xs = [r["ranks"] for r in runs]
        ys = [r["train"]["samples_per_sec"] for r in runs]
        base = ys[0]
        c.series([1, 2.5], [base, base * 2.5], color, None, 1.6, "6 5", "0.7")
        c.series(xs, ys, color, marker, 3, size=6.5)
        for x, y in zip(xs, ys):
            if x > 1:
                svg.text(c.X(x), c.Y(y) + (-16 if color == BLUE else 30), f"{y / base:.2f}×", size=16,
                         fill=color, weight="600", anchor="middle")
        items.append((label, color, marker, None))
    items.append(("ideal: p × one rank", GREY, None, "6 5"))
    legend(svg, 770, 70, items, columns=1, row=32)
    y = 200
    for s in ("784-512-256-10 MLP, Fashion-MNIST,", "strategy allreduce (MPI_Allreduce of",
              "the gradients after backward),", "the same global batch on every", "rank count."):
        svg.text(770, y, s, size=16)
        y += 23
    y += 10
    for s in ("Not 2×: the 2.1 MB allreduce and the", "full optimizer step on every rank",
              "(≈ 0.55 ms per step) do not shrink."):
        svg.text(770, y, s, size=16, fill=MUTED)
        y += 23
    svg.source([f"Data: {d.rel('scaling-512.json')}, scaling-256.json (./dtlab bench scaling "
                f"--ranks 1,2,4 --batch 512|256 --json ...): 2 vCPUs, Open MPI shared memory."])
    return svg.render()


COMPARE = [  # file prefix, label, colour
    ("dtlab-1-0", "dtlab, 1 rank (single)", BLUE),
    ("dtlab-2-1", "dtlab, 2 ranks, allreduce after backward", BLUE),
    ("dtlab-2-2", "dtlab, 2 ranks, DDP, 25 MiB buckets (1)", BLUE),
    ("dtlab-2-3", "dtlab, 2 ranks, DDP, 0.25 MiB buckets (2)", BLUE),
    ("pytorch-1-4", "PyTorch, 1 rank (no process group)", ORANGE),
    ("pytorch-2-5", "PyTorch DDP (gloo), 2 ranks, default buckets", ORANGE),
    ("pytorch-2-6", "PyTorch DDP (gloo), 2 ranks, 0.25 MB buckets", ORANGE),
]


def fig_ddp_vs_pytorch(d: Data) -> str:
    folder = d.folder / "compare-ddp"
    rows = []
    for prefix, label, color in COMPARE:
        names = sorted(p.name for p in folder.glob(f"{prefix}-*.json"))
        if not names:
            sys.exit(f"make_figures: no {folder}/{prefix}-*.json (bench/compare_ddp.py --out ...)")
        vals = [d.json(f"compare-ddp/{n}")["samples_per_sec"] for n in names]
        acc = d.json(f"compare-ddp/{names[0]}")["test_accuracy"]
        rows.append((label, color, statistics.median(vals), min(vals), max(vals), acc, len(vals)))
    svg = Svg(W, 500, "dtlab's data-parallel trainers next to PyTorch DDP on the same 2 cores")
    left, top, bw, rh = 500, 34, 500, 50
    xmax = 130000
    X = Axis(0, xmax, left, left + bw)
    for v in range(0, xmax + 1, 25000):
        svg.line(X(v), top - 6, X(v), top + rh * len(rows), LIGHT)
        svg.text(X(v), top + rh * len(rows) + 24, f"{v // 1000}k", size=16, anchor="middle", fill="#333")
    svg.text(left + bw / 2, top + rh * len(rows) + 50, "training samples/s (median of runs; bar: min to max)",
             size=17, anchor="middle")
    base = {"dtlab": rows[0][2], "PyTorch": rows[4][2]}
    for i, (label, color, med, lo, hi, acc, n) in enumerate(rows):
        y = top + i * rh
        svg.text(left - 12, y + 27, label, size=16, anchor="end")
        svg.rect(X(0), y + 8, X(med) - X(0), rh - 18, color, rx=3,
                 tip=f"{label}: median {med:,.0f} samples/s of {n} runs")
        svg.line(X(lo), y + rh / 2 - 1, X(hi), y + rh / 2 - 1, INK, 1.6)
        fw = "dtlab" if label.startswith("dtlab") else "PyTorch"
        svg.text(X(max(hi, med)) + 10, y + 27, f"{med / 1000:.1f}k · {med / base[fw]:.2f}× · "
                 f"{acc * 100:.2f}%", size=16, weight="600" if i in (2, 5) else None)
    svg.text(X(xmax) - 8, top - 14, "samples/s, × its own 1 rank, test accuracy", size=14,
             anchor="end", fill=MUTED)
    torch = [d.json(f"compare-ddp/{p.name}") for p in sorted(folder.glob("pytorch-2-*.json"))][0]
    version = ".".join(str(torch.get("torch_version", "?")).split(".")[:2])
    svg.source([f"Data: {d.rel('compare-ddp')}/*.json (python3 bench/compare_ddp.py --epochs 10 "
                f"--repeats 3): 784-512-256-10 MLP, Fashion-MNIST, batch 512, 10 epochs, "
                f"{rows[0][6]} runs each, interleaved. dtlab: Open MPI shared memory; "
                f"PyTorch {version}: {torch.get('backend', '?')} over TCP loopback."])
    return svg.render()


def fig_overlap_model(d: Data) -> str:
    recs = d.jsonl("lab02-model.jsonl")
    table = {}
    for r in recs:
        res = r["results"]
        table[(r["ranks"], res["bytes"], r["case"])] = (res["metrics"]["modeled_seconds"] * 1e3,
                                                        res["buckets"], res["compute_seconds"] * 1e3)
    keys = sorted({(k[0], k[1]) for k in table})
    svg = Svg(W, 570, "Modeled DDP step time with and without overlap, by bucket size and ranks")
    svg.model_tag("MODEL: op log replayed under α-β-γ")
    c = Chart(svg, 110, 100, 1000, 322, (0, len(keys)), (0, 9))
    c.frame([], [(v, f"{v:g}") for v in range(0, 10)], "", "modeled step time (ms)", ylabel_dx=50)
    compute = None
    for i, (ranks, nbytes) in enumerate(keys):
        ov, nb, compute = table[(ranks, nbytes, "ddp")]
        no, _, _ = table[(ranks, nbytes, "ddp-no-overlap")]
        x0 = c.X(i) + 22
        bwid = (c.X(1) - c.X(0) - 44) / 2
        for j, (v, color) in enumerate(((ov, BLUE), (no, ORANGE))):
            svg.rect(x0 + j * bwid, c.Y(v), bwid - 4, c.Y(0) - c.Y(v), color, rx=2)
            svg.text(x0 + j * bwid + (bwid - 4) / 2, c.Y(v) - 7, f"{v:.2f}", size=14, anchor="middle")
        mid = (c.X(i) + c.X(i + 1)) / 2
        bl = "0 (per layer)" if nbytes == 0 else size_label(nbytes)
        svg.text(mid, c.y + c.h + 24, bl, size=16, anchor="middle")
        svg.text(mid, c.y + c.h + 44, f"{nb} bucket{'s' if nb > 1 else ''}", size=15, anchor="middle",
                 fill=MUTED)
    for i, ranks in enumerate(sorted({k[0] for k in keys})):
        idx = [j for j, k in enumerate(keys) if k[0] == ranks]
        svg.text((c.X(idx[0]) + c.X(idx[-1] + 1)) / 2, c.y + c.h + 72, f"{ranks} ranks", size=17,
                 anchor="middle", weight="600")
        if i:
            c.vline(idx[0], "#AAAAAA", None, 1.2)
    c.hline(compute, GREEN, "7 4", 2)
    legend(svg, 110, 30, [("overlap on: allreduces during backward", BLUE, "square", None),
                          ("overlap off: after backward", ORANGE, "square", None),
                          (f"compute alone: {compute:.3f} ms", GREEN, None, "7 4")],
           columns=2, col_width=400, row=28)
    svg.source([f"Data: {d.rel('lab02-model.jsonl')} (lab02_bench model ddp|ddp-no-overlap BYTES 5e-6 "
                f"5e-10 1e-10, the reference): 784-512-512-512-512-10, 32 samples per rank, "
                "α = 5 µs, β = 0.5 ns/B, γ = 0.1 ns/B, 50 GFLOP/s. Deterministic: the op log replayed, "
                "not a wall clock."])
    return svg.render()


def fig_lr_schedule() -> str:
    samples, epochs = 60000, 10
    spe_calc = Calc()  # steps per epoch, as dtlab train's sampler counts them
    spe_of = {b: spe_calc.add("steps_per_epoch", samples=samples, batch=b) for b in (512, 1024)}
    spe_calc.run()
    spe_of = {b: int(spe_calc[i]) for b, i in spe_of.items()}
    svg = Svg(W, 470, "Learning rate against epoch: linear scaling rule and warmup, as dtlab train schedules it")
    svg.model_tag("SCHEDULE: computed from core/src/optim.cpp")
    c = Chart(svg, 100, 56, 560, 330, (0, 10), (0, 0.45))
    c.frame([(v, str(v)) for v in range(0, 11)], [(v / 100, f"{v / 100:g}") for v in range(0, 46, 5)],
            f"epoch ({samples:,} training images; {spe_of[512]} steps at batch 512, {spe_of[1024]} at 1024)",
            "learning rate", ylabel_dx=62)
    cases = [  # batch, lr, warmup epochs, colour, dash, label
        (512, 0.2, 0.5, BLUE, None, "512 · lr 0.2 · warmup 0.5 → 89.93%"),
        (1024, 0.2, 0.5, GREY, "3 4", "1024 · lr 0.2 (not scaled) → 89.04%"),
        (1024, 0.4, 0.5, VERMILION, "8 5", "1024 · lr 0.4 · warmup 0.5 → NaN"),
        (1024, 0.4, 1.0, GREEN, None, "1024 · lr 0.4 · warmup 1 → 89.38%"),
    ]
    # dtlab calc cosine_lr: dtlab train's make_schedule and LrSchedule::lr (core/src/optim.cpp)
    lrs = Calc()
    curves = [lrs.series("cosine_lr", "step", range(epochs * spe_of[batch]), lr=lr, epochs=epochs,
                         steps_per_epoch=spe_of[batch], warmup_epochs=wu)
              for batch, lr, wu, _, _, _ in cases]
    # where the scaled run with half an epoch of warmup diverged (Lab 02 handout, section 6)
    nan_step = 44
    nan_lr = lrs.add("cosine_lr", step=nan_step, lr=0.4, epochs=epochs, steps_per_epoch=spe_of[1024],
                     warmup_epochs=0.5)
    lrs.run()
    items = []
    for (batch, lr, wu, color, dash, label), curve in zip(cases, curves):
        xs = [s / spe_of[batch] for s in range(epochs * spe_of[batch])]
        c.series(xs, lrs[curve], color, None, 3 if dash is None else 2.6, dash)
        items.append((label, color, None, dash))
    x, y = c.X(nan_step / spe_of[1024]), c.Y(lrs[nan_lr])
    svg.marker(x, y, "cross", VERMILION, 8)
    svg.text(x - 30, y - 16, f"NaN at step {nan_step}", size=15, fill=VERMILION, weight="600")
    svg.text(700, 84, "batch · learning rate · warmup (epochs)", size=16, weight="600")
    svg.text(700, 106, "→ test accuracy after 10 epochs", size=16, weight="600")
    legend(svg, 700, 140, items, columns=1, row=30)
    y = 290
    for s in ("Linear scaling rule (Goyal et al. 2017):", "batch × k → learning rate × k, with a",
              "gradual warmup. Accuracies: 2 ranks,", "--strategy ddp, measured (Lab 02", "handout, section 6)."):
        svg.text(700, y, s, size=16, fill=MUTED)
        y += 23
    svg.source(["Curves from dtlab calc cosine_lr (LrSchedule::lr: linear warmup, then cosine to 0); "
                "batch 512 and batch 1024 at lr 0.2 give the same curve per epoch."])
    return svg.render()


def fig_training_accuracy(d: Data) -> str:
    svg = Svg(W, 470, "Test accuracy per epoch on 1, 2 and 4 ranks")
    c = Chart(svg, 110, 40, 660, 330, (0.6, 10.4), (83, 91))
    c.frame([(v, str(v)) for v in range(1, 11)], [(v, f"{v}%") for v in range(83, 92)], "epoch",
            "test accuracy")
    items = []
    for ranks, color, marker in ((1, BLUE, "circle"), (2, VERMILION, "triangle"), (4, GREEN, "diamond")):
        j = d.json(f"train-ranks{ranks}.json")
        h = sorted(j["history"], key=lambda e: e["epoch"])
        c.series([e["epoch"] for e in h], [e["test_accuracy"] * 100 for e in h], color, marker, 2.5)
        items.append((f"{ranks} rank{'s' if ranks > 1 else ''}: {j['test_accuracy'] * 100:.2f}%, "
                      f"{j['samples_per_sec'] / 1000:.1f}k samples/s", color, marker, None))
    legend(svg, 800, 70, items, columns=1, row=32)
    y = 200
    for s in ("Same global batches in the same", "order on every rank count: the runs",
              "differ only by the order of", "floating-point additions."):
        svg.text(800, y, s, size=16, fill=MUTED)
        y += 23
    svg.source([f"Data: {d.rel('train-ranks1.json')}, train-ranks2.json, train-ranks4.json "
                f"(./dtlab train --ranks 1|2|4 --json ...; defaults: 784-512-256-10, batch 512, lr 0.2, 10 epochs)"])
    return svg.render()


# ---------------------------------------------------------------------------------------------
# Later labs, as models: the pipeline bubble (Lab 03) and bytes of compressed gradients (Lab 06)
# ---------------------------------------------------------------------------------------------

def fig_pipeline() -> str:
    p, m = 4, 8
    ps, ms = (2, 4, 8), list(range(1, 33))
    calc = Calc()
    # in units of one forward (= one backward): a forward sweep, and a step of forward + backward
    sweep = calc.add("pipeline_step_time", p=p, m=m, t=1)
    step = calc.add("pipeline_step_time", p=p, m=m, t=2)
    bubble = calc.add("pipeline_bubble_fraction", p=p, m=m)
    curves = {pp: calc.series("pipeline_bubble_fraction", "m", ms, p=pp) for pp in ps}
    calc.run()
    sweep, units = round(calc[sweep]), round(calc[step])
    svg = Svg(W, 500, f"GPipe schedule, p = {p} stages, m = {m} micro-batches: the pipeline bubble")
    svg.model_tag()
    svg.text(16, 30, f"GPipe, p = {p} stages, m = {m} micro-batches (forward = backward = 1 unit)",
             size=19, weight="600")
    left, top, cw, rh = 110, 70, 27, 44
    for s in range(p):
        y = top + s * rh
        svg.text(left - 12, y + 28, f"stage {s}", size=16, anchor="end", weight="600")
        busy = {}
        for j in range(m):
            busy[s + j] = ("F", j)
            busy[sweep + (p - 1 - s) + j] = ("B", j)
        for t in range(units):
            x = left + t * cw
            if t in busy:
                kind, j = busy[t]
                svg.rect(x + 1, y + 4, cw - 2, rh - 8, BLUE if kind == "F" else ORANGE, rx=3)
                svg.text(x + cw / 2, y + 28, f"{j + 1}", size=14, anchor="middle",
                         fill="#fff" if kind == "F" else INK)
            else:
                svg.rect(x + 1, y + 4, cw - 2, rh - 8, "#F2F2F2", stroke="#D0D0D0", rx=3)
    yb = top + p * rh + 8
    svg.arrow(left, yb + 6, left + units * cw, yb + 6, MUTED, 1.5, 8)
    svg.text(left + units * cw / 2, yb + 28, f"time: 2(m + p − 1) = {units} units", size=15,
             anchor="middle", fill=MUTED)
    frac = calc[bubble]
    legend_y = yb + 62
    for k, (lab, col) in enumerate((("forward of micro-batch", BLUE), ("backward", ORANGE),
                                    ("idle: the bubble", "#F2F2F2"))):
        x = left + (0, 250, 400)[k]
        svg.rect(x, legend_y - 14, 22, 22, col, stroke="#BBBBBB", rx=3)
        svg.text(x + 30, legend_y + 3, lab, size=16)
    svg.text(left, legend_y + 48, f"Each stage idles 2(p − 1) of 2(m + p − 1) units:", size=18, weight="600")
    svg.text(left, legend_y + 74, f"bubble = (p − 1)/(m + p − 1) = {p - 1}/{sweep} = {frac * 100:.1f}%",
             size=18, weight="600")
    # right: bubble fraction against m
    c = Chart(svg, 800, 90, 320, 240, (1, 32), (0, 1))
    c.frame([(v, str(v)) for v in (1, 8, 16, 24, 32)], [(v / 4, f"{v * 25}%") for v in range(5)],
            "micro-batches m", "", None)
    svg.text(c.x, c.y - 14, "bubble (p − 1)/(m + p − 1)", size=16, weight="600")
    for pp, color in zip(ps, (GREEN, BLUE, VERMILION)):
        ys = calc[curves[pp]]
        c.series(ms, ys, color, None, 2.6)
        svg.text(c.X(12) + 2, c.Y(ys[ms.index(12)]) - 8, f"p = {pp}", size=15,
                 fill=color, weight="600")
    svg.marker(c.X(m), c.Y(frac), "circle", BLUE, 6)
    svg.source(["Computed from dtlab's formulas pipeline_bubble_fraction and pipeline_step_time "
                "(core/src/formulas_training.cpp; dtlab calc pipeline_bubble_fraction p=4 m=8). "
                "Lab 03 will measure it."])
    return svg.render()


def fig_compression_bytes() -> str:
    n = 535818  # the default MLP's gradient, 784-512-256-10 (Lab 02 handout, section 4)
    ratios = [0.0005 * 10 ** (i / 40) for i in range(0, 133) if 0.0005 * 10 ** (i / 40) <= 1.0001]
    calc = Calc()
    dense = calc.add("dense_bytes", n=n)
    topk = calc.series("topk_bytes", "ratio", ratios, n=n)
    topk_gather = calc.series("topk_allgather_bytes_received", "ratio", ratios, n=n, p=8)
    sign = calc.add("sign_bytes", n=n)
    qsgd4 = calc.add("qsgd_bytes", n=n, bits=4)
    # top-k sends as many bytes as dense at k/n = value_bits / (value_bits + index_bits): the
    # compression ratio of sending every value (k = n)
    crossover = calc.add("topk_compression_ratio", ratio=1)
    calc.run()
    dense, sign, qsgd4, crossover = calc[dense], calc[sign], calc[qsgd4], calc[crossover]
    svg = Svg(W, 500, "Bytes per step of compressed gradients against the top-k ratio, n = 535,818")
    svg.model_tag("BYTES ONLY: computed from dtlab's formulas")
    c = Chart(svg, 130, 60, 620, 340, (0.0005, 1), (2 * KiB, 32 * MiB), xlog=True, ylog=True)
    c.frame([(v, f"{v:g}") for v in (0.001, 0.01, 0.1, 1)],
            [(v, size_label(v)) for v in (4 * KiB, 64 * KiB, MiB, 16 * MiB)],
            "top-k ratio k/n (share of the gradient's values sent)", "bytes per rank per step",
            ylabel_dx=95)
    c.series(ratios, [dense] * len(ratios), BLACK, None, 2.4, "7 4")
    c.series(ratios, calc[topk], BLUE, None, 3)
    c.series(ratios, calc[topk_gather], VERMILION, None, 3, "3 4")
    c.series(ratios, [sign] * len(ratios), GREEN, None, 2.4)
    c.series(ratios, [qsgd4] * len(ratios), PURPLE, None, 2.4, "10 4 2 4")
    c.vline(crossover, GREY, "4 4", 1.2)
    svg.text(c.X(crossover) - 6, c.y + 20, f"top-k ≥ dense from k/n = {crossover:g}", size=14, anchor="end",
             fill=MUTED)
    legend(svg, 790, 80, [
        (f"dense fp32: 4n = {size_label(dense)}", BLACK, None, "7 4"),
        ("top-k: k·(4 B value + 4 B index)", BLUE, None, None),
        ("top-k, received by allgather, p = 8", VERMILION, None, "3 4"),
        (f"sign + scale: n/8 + 4 = {size_label(sign)}", GREEN, None, None),
        (f"QSGD 4 bits: {size_label(qsgd4)}", PURPLE, None, "10 4 2 4"),
    ], columns=1, row=30)
    y = 265
    for s in ("Accuracy against bytes needs Lab 06's", "measurements: it is not drawn here.",
              "Sparse vectors cannot be summed on", "the way: an allgather receives (p−1)k", "pairs."):
        svg.text(790, y, s, size=16, fill=MUTED if y < 310 else INK)
        y += 24
    svg.source(["Computed from dense_bytes, topk_bytes, topk_allgather_bytes_received, sign_bytes, "
                "qsgd_bytes (core/src/formulas_training.cpp; dtlab calc topk_bytes n=535818 ratio=0.01)."])
    return svg.render()


# ---------------------------------------------------------------------------------------------

def fig_ddp_step() -> str:
    if not DDP_STEP_SVG.exists():
        sys.exit(f"make_figures: {DDP_STEP_SVG} is missing (docs/figures/README.md makes it)")
    return DDP_STEP_SVG.read_text(encoding="utf-8")


def lab_sweep(script: Path, name: str, data: Path):
    """A lab's figures/sweep.py, loaded as a module, once it and the data it draws exist."""
    for p in (script, data):
        if not p.exists():
            sys.exit(f"make_figures: {p} is missing ({script.relative_to(ROOT)} makes the data)")
    spec = importlib.util.spec_from_file_location(name, script)
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    return sweep


def drawn(draw) -> str:
    """What draw(path) writes into the file at path: a sweep script's SVG, byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.svg"
        draw(str(path))
        return path.read_text(encoding="utf-8")


def sweep_runs(sweep, data: Path) -> dict:
    """The `dtlab train --json` reports of a sweep (`sweep.py run`), as its `load` reads them."""
    runs = sweep.load(str(data))
    if not runs:
        sys.exit(f"make_figures: no runs in {data}")
    return runs


def fig_lab04_staleness() -> str:
    """What `sweep.py draw LAB04_SWEEP --svg FILE` writes, byte for byte: the lab's own drawing."""
    sweep = lab_sweep(LAB04_SWEEP_PY, "lab04_sweep", LAB04_SWEEP)
    runs = sweep_runs(sweep, LAB04_SWEEP)
    return drawn(lambda path: sweep.svg(runs, path, "Time to accuracy with BSP, SSP(s) and ASP"))


def fig_lab05_time_to_accuracy() -> str:
    """What `sweep.py draw LAB05_SWEEP --svg FILE` writes (with draw's default title), byte for byte."""
    sweep = lab_sweep(LAB05_SWEEP_PY, "lab05_sweep", LAB05_SWEEP)
    runs = sweep_runs(sweep, LAB05_SWEEP)
    return drawn(lambda path: sweep.svg(
        runs, path, "Time to accuracy: synchronous, asynchronous, local SGD, DiLoCo, gossip"))


def fig_lab05_consensus() -> str:
    """What `sweep.py draw LAB05_DATA --consensus-svg FILE` writes, byte for byte."""
    sweep = lab_sweep(LAB05_SWEEP_PY, "lab05_sweep", LAB05_DATA)
    return drawn(lambda path: sweep.consensus_svg(str(LAB05_DATA), path))


FIGURES = [  # file, maker, needs data, source (for --list and slides/README.md)
    ("pingpong-fit.svg", fig_pingpong, True, "pingpong.json"),
    ("binomial-broadcast.svg", fig_binomial, False, "diagram: the binomial tree of Lab 01 §3, p = 8"),
    ("recursive-doubling.svg", fig_recursive_doubling, False, "diagram: Lab 01 §3, p = 8"),
    ("ring-allreduce.svg", fig_ring, False, "diagram: the ring's block rules, simulated (Lab 01 §3), p = 4"),
    ("allreduce-model.svg", fig_allreduce_model, False, "model: Lab 01 §2 cost formulas"),
    ("allreduce-busbw.svg", fig_allreduce_busbw, True, "lab01-allreduce-2.json, lab01-allreduce-4.json"),
    ("allreduce-vs-mpi.svg", fig_allreduce_vs_mpi, True, "lab01-allreduce-2.json, lab01-allreduce-4.json"),
    ("scaling.svg", fig_scaling, True, "scaling-512.json, scaling-256.json"),
    ("ddp-vs-pytorch.svg", fig_ddp_vs_pytorch, True, "compare-ddp/*.json"),
    ("overlap-model.svg", fig_overlap_model, True, "lab02-model.jsonl"),
    ("lr-schedule.svg", fig_lr_schedule, False, "model: LrSchedule (core/src/optim.cpp)"),
    ("training-accuracy.svg", fig_training_accuracy, True, "train-ranks{1,2,4}.json"),
    ("pipeline-bubble.svg", fig_pipeline, False, "model: pipeline_bubble_fraction"),
    ("compression-bytes.svg", fig_compression_bytes, False, "model: topk_bytes, sign_bytes, qsgd_bytes"),
    ("ddp-step.svg", fig_ddp_step, False, "copy of labs/02-data-parallel/figures/ddp-step.svg"),
    ("lab04-staleness.svg", fig_lab04_staleness, False,
     "2026-12-07-cpu-2core/lab04/sweep-local/*.json, drawn by labs/04-parameter-server/figures/sweep.py"),
    ("lab05-time-to-accuracy.svg", fig_lab05_time_to_accuracy, False,
     "2026-12-07-cpu-2core/lab05/sweep-local/*.json, drawn by labs/05-async-sgd/figures/sweep.py"),
    ("lab05-consensus.svg", fig_lab05_consensus, False,
     "2026-12-07-cpu-2core/lab05/consensus-*.json, drawn by labs/05-async-sgd/figures/sweep.py"),
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent),
                    help="folder to write the SVGs into (default: slides/figures)")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help=f"measurement folder (default: {DEFAULT_DATA.relative_to(ROOT)})")
    ap.add_argument("--list", action="store_true", help="list the figures and their sources")
    args = ap.parse_args(argv)
    if args.list:
        for name, _, _, src in FIGURES:
            print(f"{name:26} {src}")
        return 0
    dtlab_bin()  # before anything is written: the model figures need it
    data = Data(Path(args.data).resolve())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, maker, needs_data, _ in FIGURES:
        text = maker(data) if needs_data else maker()
        tmp = out / (name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        tmp.replace(out / name)  # nothing half-written
    print(f"make_figures: {len(FIGURES)} figures in {out} from {data.run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
