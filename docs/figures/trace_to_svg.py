#!/usr/bin/env python3
"""Render a timeline written by `dtlab train --trace` as a static SVG.

Perfetto (https://ui.perfetto.dev) is the tool for exploring a trace; this script is for the
figures of the handouts, which must be readable on GitHub and in a browser without it. It reads
the Chrome trace-event JSON of core/src/trace.cpp:

  - one process (pid) per rank, named "rank R";
  - threads (tid) 0 "compute" and 1 "comm" (the program's own communication and its waits), and
    one "comm worker N" thread per dtlab::CommWorker (the jobs it ran, e.g. bucket allreduces);
  - "X" events with name, cat (the op kind: compute, collective, sendrecv, wait, ...), ts and dur
    in microseconds. Flow events ("s"/"f", the send -> receive arrows) are not drawn.

It draws one row per (rank, track), slices coloured by what they are, a time axis in ms and a
legend. Several traces given at once become panels under one time scale, so that two runs (say
with and without overlap) can be compared by their lengths. Python 3 standard library only.

  trace_to_svg.py t.json -o step.svg --from-step 2 --title "..."
  trace_to_svg.py a.json b.json --label "overlap" --label "no overlap" --from-step 2 -o cmp.svg
  trace_to_svg.py t.json --start-ms 12 --end-ms 20 -o window.svg
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
STYLES = {
    # key: (fill, legend text)
    "forward": ("#0072B2", "forward"),
    "backward": ("#E69F00", "backward (one slice per layer, last layer first)"),
    "optimizer": ("#009E73", "optimizer step"),
    "reduce": ("#CC79A7", "reduction (an allreduce's additions)"),
    "compute": ("#BBBBBB", "other compute (data gather, ...)"),
    "collective": ("#D55E00", "library collective (allreduce, broadcast, ...)"),
    "p2p": ("#56B4E9", "point-to-point message"),
    "wait": ("#F0E442", "wait (blocked on a request or a job)"),
}
P2P_KINDS = {"send", "recv", "sendrecv", "isend", "irecv"}
# Text on these fills is drawn dark; on the others white.
LIGHT_FILLS = {"#E69F00", "#BBBBBB", "#56B4E9", "#F0E442", "#CC79A7"}

FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"


def style_key(cat: str, name: str) -> str:
    if cat == "compute":
        return name if name in ("forward", "backward", "optimizer", "reduce") else "compute"
    if cat == "collective":
        return "collective"
    if cat in P2P_KINDS:
        return "p2p"
    if cat == "wait":
        return "wait"
    return "compute"


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


@dataclass
class Slice:
    start: float  # µs, trace time
    dur: float
    name: str
    cat: str
    args: dict
    labels: list = field(default_factory=list)  # texts to draw inside, longest first
    depth: int = 0   # nesting level within its track


@dataclass
class Track:
    pid: int
    tid: int
    name: str
    slices: list = field(default_factory=list)
    depths: int = 1


@dataclass
class Panel:
    label: str
    clock: str
    start: float  # µs: the window, in trace time
    end: float
    origin: str   # what time zero of the axis is, in words
    tracks: list  # [Track] in display order
    rank_names: dict


def load(path: str):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    other = doc.get("otherData", {}) if isinstance(doc, dict) else {}
    return events, other


def build_tracks(events, ranks):
    """Tracks keyed by (pid, tid), with their names and slices, in pid then tid order."""
    proc_names, thread_names, slices = {}, {}, {}
    for e in events:
        ph, pid = e.get("ph"), e.get("pid")
        if ranks is not None and pid not in ranks:
            continue
        if ph == "M" and e.get("name") == "process_name":
            proc_names[pid] = e["args"]["name"]
        elif ph == "M" and e.get("name") == "thread_name":
            thread_names[(pid, e["tid"])] = e["args"]["name"]
        elif ph == "X":
            s = Slice(float(e["ts"]), float(e.get("dur", 0)), e.get("name", ""), e.get("cat", ""),
                      e.get("args") or {})
            slices.setdefault((pid, e.get("tid", 0)), []).append(s)
    tracks = []
    for pid, tid in sorted(set(thread_names) | set(slices)):
        ordered = sorted(slices.get((pid, tid), []), key=lambda s: (s.start, -s.dur))
        tracks.append(Track(pid, tid, thread_names.get((pid, tid), f"thread {tid}"), ordered))
    return tracks, proc_names


def label_backward_layers(tracks):
    """Name each backward slice by its layer. dtlab's Mlp marks one "backward" span per Linear
    layer, last layer first, right after the pass's "forward": in a run of k consecutive backward
    slices the first is layer k-1 and the last layer 0. (The trace itself does not name layers.)"""
    for t in tracks:
        run = []
        for s in t.slices + [None]:
            if s is not None and s.cat == "compute" and s.name == "backward":
                run.append(s)
                continue
            for i, b in enumerate(run):
                layer = len(run) - 1 - i
                b.labels = [f"backward L{layer}", f"bwd L{layer}", f"L{layer}"]
            run = []


def label_slices(tracks):
    """The texts a slice may show, longest first: the renderer draws the first that fits."""
    short = {"forward": "fwd", "optimizer": "opt", "broadcast": "bcast", "allreduce": "allred"}
    for t in tracks:
        for s in t.slices:
            if s.labels:
                continue
            b = s.args.get("bytes")
            if s.cat == "collective" and b is not None and b > 64:
                s.labels = [f"{s.name} {human_bytes(b)}", human_bytes(b)]
            elif s.cat in ("compute", "collective"):
                s.labels = [s.name] + ([short[s.name]] if s.name in short else [])
            elif s.cat in P2P_KINDS or s.cat == "wait":
                s.labels = [s.cat]


def step_starts(tracks, marker):
    """Start times of the training steps: dtlab's loop marks a "data" span (the batch gather) at
    the start of every step; traces without it fall back to "forward" (one per micro-batch, so
    then a "step" is a micro-batch). Taken from the first rank shown."""
    for name in (marker, "data", "forward"):
        if not name:
            continue
        for t in tracks:
            if t.pid != tracks[0].pid:
                break
            starts = [s.start for s in t.slices if s.cat == "compute" and s.name == name]
            if starts:
                return sorted(starts)
    return []


def window(tracks, args):
    """The time window to draw, in µs of trace time, and what its zero is."""
    all_slices = [s for t in tracks for s in t.slices]
    if not all_slices:
        raise SystemExit("trace_to_svg: no slices to draw (wrong --ranks?)")
    first = min(s.start for s in all_slices)
    last = max(s.start + s.dur for s in all_slices)
    if args.start_ms is not None or args.end_ms is not None:
        start = args.start_ms * 1e3 if args.start_ms is not None else first
        end = args.end_ms * 1e3 if args.end_ms is not None else last
        return start, end, f"{start / 1e3:g} ms of the trace"
    if args.from_step is None:
        return first, last, "the start of the trace"
    starts = step_starts(tracks, args.step_marker)
    k, n = args.from_step, args.window
    if not 0 <= k < len(starts):
        raise SystemExit(f"trace_to_svg: --from-step {k}: the trace has {len(starts)} steps (0..{len(starts) - 1})")
    start = starts[k]
    if k + n < len(starts):
        end = starts[k + n]
    else:  # the last step: up to the end of its last compute slice on the first rank
        end = max((s.start + s.dur for t in tracks if t.pid == tracks[0].pid
                   for s in t.slices if s.start >= start and s.cat == "compute"), default=last)
    steps = f"step {k}" if n == 1 else f"steps {k}..{k + n - 1}"
    return start, end, f"the start of {steps}"


def crop(tracks, start, end, keep_empty):
    """Slices clipped to [start, end]; tracks with nothing in the window are dropped unless
    keep_empty. Overlapping slices of one track (nested spans) get stacked in depth levels."""
    out = []
    eps = 1e-3  # µs: slices that touch (one ends as the next starts) share a level
    for t in tracks:
        kept = []
        for s in t.slices:
            inside = (start <= s.start <= end if s.dur <= 0
                      else s.start < end and s.start + s.dur > start)
            if not inside:
                continue
            a, b = max(s.start, start), min(s.start + s.dur, end)  # clipped to the window
            kept.append(Slice(a, b - a, s.name, s.cat, s.args, s.labels))
        if not kept and not keep_empty:
            continue
        level_ends = []
        for s in kept:
            if s.dur <= 0:
                continue  # not drawn, so it needs no level
            for d, e in enumerate(level_ends):
                if s.start >= e - eps:
                    s.depth, level_ends[d] = d, s.start + s.dur
                    break
            else:
                s.depth = len(level_ends)
                level_ends.append(s.start + s.dur)
        out.append(Track(t.pid, t.tid, t.name, kept, max(1, len(level_ends))))
    return out


def nice_step(span_ms, max_ticks):
    raw = span_ms / max(1, max_ticks)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt_ms(v, step):
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    if step < 1 and abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9:
        decimals += 1
    return f"{v:.{decimals}f}"


def render(panels, args):
    width = args.width
    left, right = 170, 24
    plot_w = width - left - right
    row_h, gap_rank, panel_gap = 22, 8, 18
    span = max(p.end - p.start for p in panels)  # µs: one scale for every panel
    px = plot_w / span if span > 0 else 1.0

    def x(p, t):
        return left + (t - p.start) * px

    out = []
    y = 16
    head = []
    if args.title:
        y += 20
        head.append(f'<text x="{left - 150}" y="{y}" font-size="17" font-weight="600">{escape(args.title)}</text>')
    for line in args.subtitle:
        y += 18
        head.append(f'<text x="{left - 150}" y="{y}" font-size="12" fill="#444">{escape(line)}</text>')
    y += 14
    used = set()
    body = []
    tick = nice_step(span / 1e3, max(2, plot_w // 90))
    for pi, p in enumerate(panels):
        if p.label:
            y += 16
            body.append(f'<text x="{left - 150}" y="{y}" font-size="13.5" font-weight="600">{escape(p.label)}</text>')
            y += 8
        top = y
        # Grid lines first, under the slices.
        ticks = int(math.floor((p.end - p.start) / 1e3 / tick + 1e-9)) + 1
        grid = [left + i * tick * 1e3 * px for i in range(ticks)]
        rows = []
        prev_pid = None
        for t in p.tracks:
            if prev_pid is not None and t.pid != prev_pid:
                y += gap_rank
            h = row_h * t.depths
            name = p.rank_names.get(t.pid, f"rank {t.pid}")
            rows.append((t, y, h, name if t.pid != prev_pid else ""))
            prev_pid = t.pid
            y += h
        bottom = y
        body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{bottom - top}" fill="#FAFAFA" stroke="#DDD"/>')
        for gx in grid:
            body.append(f'<line x1="{gx:.2f}" y1="{top}" x2="{gx:.2f}" y2="{bottom}" stroke="#E4E4E4"/>')
        for t, ry, h, rank_label in rows:
            if rank_label:
                body.append(f'<text x="{left - 150}" y="{ry + 15}" font-size="12.5" font-weight="600">{escape(rank_label)}</text>')
            body.append(f'<text x="{left - 8}" y="{ry + 15}" font-size="12" text-anchor="end" fill="#333">{escape(t.name)}</text>')
            body.append(f'<line x1="{left}" y1="{ry + h}" x2="{left + plot_w}" y2="{ry + h}" stroke="#EEE"/>')
            for s in t.slices:
                if s.dur <= 0:
                    continue  # instants (a zero-cost span in the model clock) carry no width
                key = style_key(s.cat, s.name)
                used.add(key)
                fill = STYLES[key][0]
                sx, sw = x(p, s.start), max(s.dur * px, 1.0)
                sy = ry + 3 + s.depth * row_h
                tip = f"{s.name} ({s.cat}) {s.dur / 1e3:.3f} ms at {(s.start - p.start) / 1e3:.3f} ms"
                if s.args.get("bytes"):
                    tip += f", {human_bytes(s.args['bytes'])}"
                if s.args.get("flops"):
                    tip += f", {s.args['flops'] / 1e6:.3g} Mflop"
                body.append(f'<rect x="{sx:.2f}" y="{sy}" width="{sw:.2f}" height="{row_h - 6}" rx="2" fill="{fill}" '
                            f'stroke="#fff" stroke-width="0.6"><title>{escape(tip)}</title></rect>')
                text = next((l for l in s.labels if len(l) * 6.2 + 6 <= sw), "")
                if text:
                    colour = "#111" if fill in LIGHT_FILLS else "#fff"
                    body.append(f'<text x="{sx + sw / 2:.2f}" y="{sy + 12}" font-size="10.5" text-anchor="middle" '
                                f'fill="{colour}">{escape(text)}</text>')
        # Where the window ends (with --from-step: where the next step starts), when other
        # panels are longer: the difference in length is what the figure compares.
        dur_ms = (p.end - p.start) / 1e3
        if len(panels) > 1:
            ex = left + (p.end - p.start) * px
            body.append(f'<line x1="{ex:.2f}" y1="{top - 4}" x2="{ex:.2f}" y2="{bottom}" stroke="#333" '
                        f'stroke-width="1.2" stroke-dasharray="4 3"/>')
            anchor = "end" if ex > left + plot_w - 60 else "start"
            tx = ex - 4 if anchor == "end" else ex + 4
            body.append(f'<text x="{tx:.2f}" y="{top - 6}" font-size="11.5" font-weight="600" '
                        f'text-anchor="{anchor}" fill="#333">{dur_ms:.3f} ms</text>')
        # The axis under each panel.
        for i, gx in enumerate(grid):
            body.append(f'<line x1="{gx:.2f}" y1="{bottom}" x2="{gx:.2f}" y2="{bottom + 4}" stroke="#666"/>')
            body.append(f'<text x="{gx:.2f}" y="{bottom + 16}" font-size="11" text-anchor="middle" fill="#333">'
                        f'{fmt_ms(i * tick, tick)}</text>')
        y = bottom + 30
        body.append(f'<text x="{left}" y="{y}" font-size="11.5" fill="#444">ms from {escape(p.origin)} '
                    f'({escape(p.clock)} clock); this window: {dur_ms:.3f} ms</text>')
        if pi + 1 < len(panels):
            y += panel_gap
    # Legend: only what the figure shows, in a fixed order.
    y += 22
    lx = left - 150
    legend = []
    for key in STYLES:
        if key not in used:
            continue
        fill, text = STYLES[key]
        w = 22 + len(text) * 6.0
        if lx + w > width - right:
            lx = left - 150
            y += 20
        legend.append(f'<rect x="{lx}" y="{y - 10}" width="14" height="12" rx="2" fill="{fill}"/>')
        legend.append(f'<text x="{lx + 19}" y="{y}" font-size="11.5" fill="#333">{escape(text)}</text>')
        lx += w + 14
    height = y + 14
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" font-family="{FONT}">')
    if args.title:
        out.append(f"<title>{escape(args.title)}</title>")
    # An opaque background, so that the figure reads the same on a dark page.
    out.append(f'<rect width="{width}" height="{height}" fill="#fff"/>')
    out += head + body + legend
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Render a dtlab (Chrome trace-event) timeline as an SVG.")
    ap.add_argument("traces", nargs="+", help="trace JSON files from `dtlab train --trace`; several become panels")
    ap.add_argument("-o", "--output", required=True, help="the SVG to write ('-': standard output)")
    ap.add_argument("--label", action="append", default=[], help="a panel's heading, once per trace, in order")
    ap.add_argument("--title", default="", help="the figure's title")
    ap.add_argument("--subtitle", action="append", default=[],
                    help="a line under the title, e.g. the command that made the trace (repeatable)")
    ap.add_argument("--ranks", default="", help="ranks to show, e.g. 0 or 0,1 (default: all)")
    ap.add_argument("--from-step", type=int, help="crop to training step K (0-based: the K-th step in the trace)")
    ap.add_argument("--window", type=int, default=1, help="with --from-step: how many steps (default 1)")
    ap.add_argument("--step-marker", default="data",
                    help="the compute span that starts a step (default: data, dtlab train's batch gather)")
    ap.add_argument("--start-ms", type=float, help="crop: window start, ms of trace time")
    ap.add_argument("--end-ms", type=float, help="crop: window end, ms of trace time")
    ap.add_argument("--keep-empty", action="store_true", help="also draw tracks with nothing in the window")
    ap.add_argument("--width", type=int, default=980, help="figure width in pixels (default 980)")
    args = ap.parse_args(argv)
    if args.window < 1:
        ap.error("--window must be at least 1")
    if args.from_step is not None and (args.start_ms is not None or args.end_ms is not None):
        ap.error("crop by --from-step or by --start-ms/--end-ms, not both")
    if args.label and len(args.label) != len(args.traces):
        ap.error(f"{len(args.label)} --label for {len(args.traces)} traces: give one per trace or none")
    ranks = {int(r) for r in args.ranks.split(",") if r.strip()} or None

    panels = []
    for i, path in enumerate(args.traces):
        events, other = load(path)
        tracks, names = build_tracks(events, ranks)
        label_backward_layers(tracks)
        label_slices(tracks)
        start, end, origin = window(tracks, args)
        if end <= start:
            raise SystemExit(f"trace_to_svg: {path}: the window [{start / 1e3:g}, {end / 1e3:g}] ms is empty")
        shown = crop(tracks, start, end, args.keep_empty)
        panels.append(Panel(args.label[i] if args.label else "", other.get("clock", "unknown"), start, end, origin,
                            shown, names))
    svg = render(panels, args)
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(svg)


if __name__ == "__main__":
    main()
