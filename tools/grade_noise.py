#!/usr/bin/env python3
"""Grade a lab's reference many times and count the points each item lost.

The reference must never lose points to machine noise (docs/grader.md). This is how that is
checked on a machine, and what docs/results/grader.md records:

    tools/grade_noise.py lab00 lab01 lab02 --runs 20 [--json noise.json]

Each run is `dtlab grade LAB --reference` from a fresh process; the table shows, per item that
ever lost points, how many runs lost some and how many points were lost in all. Exits non-zero
when the reference lost any point.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def grade_once(dtlab, lab, extra):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "results.json")
        start = time.monotonic()
        r = subprocess.run([dtlab, "grade", lab, "--reference", "--quiet", "--results", out, *extra],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.monotonic() - start
        if not os.path.exists(out):
            sys.exit(f"grade_noise: `dtlab grade {lab} --reference` wrote no results (exit {r.returncode}):\n{r.stdout}")
        with open(out) as f:
            return json.load(f), seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labs", nargs="+", help="lab ids, e.g. lab00 lab01")
    ap.add_argument("--runs", type=int, default=20, help="gradings per lab (default 20)")
    ap.add_argument("--only", action="append", default=[], help="passed on to dtlab grade --only")
    ap.add_argument("--json", help="also write every run's per-item scores here")
    ap.add_argument("--dtlab", default=os.path.join(ROOT, "build", "bin", "dtlab"), help="the dtlab program")
    a = ap.parse_args()
    if a.runs < 1:
        sys.exit("grade_noise: --runs must be at least 1")
    if not os.access(a.dtlab, os.X_OK):
        sys.exit(f"grade_noise: {a.dtlab} is not an executable dtlab program: build it first (./dtlab build)")
    extra = [x for o in a.only for x in ("--only", o)]
    record = {"machine": cpu_model(), "date": time.strftime("%Y-%m-%d"), "runs": a.runs, "labs": {}}
    lost_any = False
    for lab in a.labs:
        per_item = {}  # name -> [points, runs that lost, points lost]
        seconds = []
        scores = []
        for k in range(a.runs):
            res, s = grade_once(a.dtlab, lab, extra)
            seconds.append(s)
            scores.append(res["score"])
            for t in res["tests"]:
                row = per_item.setdefault(t["name"], [t["max_score"], 0, 0.0])
                lost = t["max_score"] - t["score"]
                if lost > 1e-9:
                    row[1] += 1
                    row[2] += lost
            print(f"{lab} run {k + 1}/{a.runs}: {res['score']:g} in {s:.0f} s", file=sys.stderr, flush=True)
        total_lost = sum(r[2] for r in per_item.values())
        lost_any |= total_lost > 0
        record["labs"][lab] = {"scores": scores, "seconds": seconds,
                               "items": {n: {"points": r[0], "runs_losing": r[1], "points_lost": r[2]}
                                         for n, r in per_item.items()}}
        print(f"\n{lab}: {a.runs} gradings of the reference on {record['machine']}, "
              f"{min(seconds):.0f}-{max(seconds):.0f} s each; scores {min(scores):g}-{max(scores):g}")
        print(f"  {'item':<52} {'points':>6} {'runs losing':>12} {'points lost':>12}")
        for n, r in per_item.items():
            print(f"  {n:<52} {r[0]:>6g} {r[1]:>12} {r[2]:>12.2f}")
        print(f"  {'total':<52} {'':>6} {'':>12} {total_lost:>12.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(record, f, indent=1)
    return 1 if lost_any else 0


if __name__ == "__main__":
    sys.exit(main())
