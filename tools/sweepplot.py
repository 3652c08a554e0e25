"""SVG drawing shared by the labs' sweep scripts (labs/*/figures/sweep.py): panels of test accuracy
against wall time, one per condition, one line per method, from `dtlab train --json` reports.
Python 3 standard library only."""


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


def accuracy_panels(runs, panels, series, colors, labels, path, title, note, panel_name=lambda p: p,
                    amin=0.70, amax=0.92, legend_step=120):
    """runs[(panel, s)]: a report with an accuracy_curve; one panel per entry of `panels`, one
    line per entry of `series` (colors[s], labels[s]); the 85% grid line solid."""
    panel_w, panel_h, left, top, gap = 300, 220, 50, 50, 40
    width = left + len(panels) * (panel_w + gap)
    height = top + panel_h + 90
    tmax = max((p["seconds"] for r in runs.values() for p in r["accuracy_curve"]), default=1)
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
        for k in range(5):
            t = tmax * k / 4
            x = x0 + panel_w * k / 4
            out.append(f'<text x="{x:.1f}" y="{y0 + panel_h + 14}" text-anchor="middle" font-size="10">{t:.0f} s</text>')
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
        x = left + j * legend_step
        out.append(f'<line x1="{x}" x2="{x + 24}" y1="{ly}" y2="{ly}" stroke="{colors[s]}" stroke-width="3"/>')
        out.append(f'<text x="{x + 30}" y="{ly + 4}">{labels[s]}</text>')
    out.append(f'<text x="{left}" y="{ly + 30}" font-size="11">{note}</text>')
    svg_write(out, path)
