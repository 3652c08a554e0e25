#!/usr/bin/env python3
"""dtlab's data-parallel trainers next to PyTorch DDP, in one run on this machine.

Runs, one after another and with the same model (784-512-256-10), global batch (512), data
(Fashion-MNIST), optimizer and schedule:

  dtlab   1 rank   --strategy single            the baseline of scaling
  dtlab   2 ranks  --strategy allreduce         one MPI_Allreduce after backward
  dtlab   2 ranks  --strategy ddp               Lab 02's reference, 25 MiB buckets (one bucket)
  dtlab   2 ranks  --strategy ddp --bucket-mb 0.25   two buckets, the first overlapping backward
  PyTorch 1 rank   --no-ddp                     pytorch_ddp.py without a process group
  PyTorch 2 ranks  DDP on gloo                  default buckets (one bucket for this model)
  PyTorch 2 ranks  DDP on gloo, 0.25 MB buckets two buckets

and prints a Markdown table of samples/s (training only, all ranks), speed-up over the same
framework's 1-rank run, and test accuracy; with --out DIR it keeps every run's JSON there.
--repeats N runs the whole list N times, interleaved, and reports each configuration's median.

  python3 bench/compare_ddp.py --epochs 10 --repeats 3 --out docs/results/data/DIR
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTLAB = os.path.join(ROOT, "build", "bin", "dtlab")
TORCH = os.path.join(ROOT, "bench", "pytorch_ddp.py")

RUNS = [
    ("dtlab", 1, "single", [DTLAB, "train", "--ranks", "1", "--strategy", "single"]),
    ("dtlab", 2, "allreduce", [DTLAB, "train", "--ranks", "2", "--strategy", "allreduce"]),
    ("dtlab", 2, "ddp, 25 MiB buckets", [DTLAB, "train", "--ranks", "2", "--strategy", "ddp"]),
    ("dtlab", 2, "ddp, 0.25 MiB buckets", [DTLAB, "train", "--ranks", "2", "--strategy", "ddp", "--bucket-mb", "0.25"]),
    ("PyTorch", 1, "no process group", ["/usr/bin/python3", TORCH, "--ranks", "1", "--no-ddp"]),
    ("PyTorch", 2, "DDP gloo, default buckets", ["/usr/bin/python3", TORCH, "--ranks", "2"]),
    ("PyTorch", 2, "DDP gloo, 0.25 MB buckets",
     ["/usr/bin/python3", TORCH, "--ranks", "2", "--bucket-mb", "0.25", "--first-bucket-mb", "0.25"]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", help="folder for every run's JSON")
    args = ap.parse_args()
    if not os.access(DTLAB, os.X_OK):
        sys.exit(f"compare_ddp: {DTLAB} does not exist; build dtlab first (./dtlab build)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = args.out or tempfile.mkdtemp(prefix="compare-ddp-")
    os.makedirs(out, exist_ok=True)
    results = {k: [] for k in range(len(RUNS))}
    for rep in range(args.repeats):
        for k, (framework, ranks, what, cmd) in enumerate(RUNS):
            path = os.path.join(out, f"{framework.lower()}-{ranks}-{k}-{rep}.json")
            full = cmd + ["--epochs", str(args.epochs), "--json", path, "--quiet"]
            print(f"[{rep + 1}/{args.repeats}] {framework} {ranks} rank(s), {what} ...", file=sys.stderr, flush=True)
            done = subprocess.run(full, env=env, cwd=out, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"compare_ddp: {' '.join(full)} failed:\n{done.stdout}{done.stderr}")
            with open(path) as f:
                results[k].append(json.load(f))
    base = {}
    rows = []
    for k, (framework, ranks, what, _) in enumerate(RUNS):
        sps = statistics.median(r["samples_per_sec"] for r in results[k])
        acc = statistics.median(r["test_accuracy"] for r in results[k])
        if ranks == 1:
            base[framework] = sps
        rows.append((framework, ranks, what, sps, sps / base[framework], acc))
    print(f"| framework | ranks | strategy | samples/s | vs its 1 rank | test accuracy ({args.epochs} epochs) |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for framework, ranks, what, sps, speedup, acc in rows:
        print(f"| {framework} | {ranks} | {what} | {sps:,.0f} | {speedup:.2f}x | {100 * acc:.2f}% |")
    dtlab_ddp, torch_ddp = rows[2][3], rows[5][3]
    print(f"\ndtlab ddp / PyTorch DDP on 2 ranks: {dtlab_ddp / torch_ddp:.2f}x "
          f"(median of {args.repeats}; JSON of every run in {out})")


if __name__ == "__main__":
    main()
