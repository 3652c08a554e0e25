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
framework's 1-rank run, and test accuracy; with --out DIR it keeps every run's JSON there, and
summary.json: the table, and the machine it was measured on (CPU model, dtlab's SGEMM library and
every candidate's rate from `dtlab bench train-step`, PyTorch's version, BLAS and one-thread SGEMM
rate), so that a figure is never separated from the core that produced it.
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
DTLAB = os.path.join(ROOT, "build", "bin", "dtlab")  # --build changes it
TORCH = os.path.join(ROOT, "bench", "pytorch_ddp.py")

RUNS = [
    ("dtlab", 1, "single", ["train", "--ranks", "1", "--strategy", "single"]),
    ("dtlab", 2, "allreduce", ["train", "--ranks", "2", "--strategy", "allreduce"]),
    ("dtlab", 2, "ddp, 25 MiB buckets", ["train", "--ranks", "2", "--strategy", "ddp"]),
    ("dtlab", 2, "ddp, 0.25 MiB buckets", ["train", "--ranks", "2", "--strategy", "ddp", "--bucket-mb", "0.25"]),
    ("PyTorch", 1, "no process group", ["/usr/bin/python3", TORCH, "--ranks", "1", "--no-ddp"]),
    ("PyTorch", 2, "DDP gloo, default buckets", ["/usr/bin/python3", TORCH, "--ranks", "2"]),
    ("PyTorch", 2, "DDP gloo, 0.25 MB buckets",
     ["/usr/bin/python3", TORCH, "--ranks", "2", "--bucket-mb", "0.25", "--first-bucket-mb", "0.25"]),
]


def cpu_model():
    """The CPU as lscpu names it, with family/model (a VM may say only "AMD EPYC") and vector ISA."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return (f"{info.get('model name', '?')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}, {isa})")


def torch_sgemm(env):
    """PyTorch's version, BLAS (the library libblas.so.3 resolves to) and SGEMM rate, one thread."""
    code = """
import json, os, time, torch
torch.set_num_threads(1)
a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
torch.mm(a, b)
best = float("inf")
for trial in range(5):
    t0 = time.perf_counter()
    for _ in range(5):
        torch.mm(a, b)
    best = min(best, (time.perf_counter() - t0) / 5)
print(json.dumps({"version": torch.__version__,
                  "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
                  "sgemm_1024_gflops": 2 * 1024**3 / best * 1e-9}))
"""
    done = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}


def dtlab_sgemm(env, out):
    """dtlab's SGEMM library, every candidate's rate and the MLP step's, from bench train-step."""
    path = os.path.join(out, "train-step.json")
    done = subprocess.run([DTLAB, "bench", "train-step", "--ranks", "1", "--json", path], env=env,
                          cwd=out, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"compare_ddp: dtlab bench train-step failed:\n{done.stdout}{done.stderr}")
    with open(path) as f:
        step = json.load(f)
    keys = ("gemm_library", "sgemm_libraries", "mlp_gflops", "sgemm_fastest", "sgemm_gflops",
            "core_ghz", "core_flops_per_cycle", "core_peak_gflops")
    return {k: step[k] for k in keys}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", help="folder for every run's JSON")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="the dtlab build to run (e.g. build-x86-64-v3); default: build")
    args = ap.parse_args()
    global DTLAB
    DTLAB = os.path.join(os.path.abspath(args.build), "bin", "dtlab")
    if not os.access(DTLAB, os.X_OK):
        sys.exit(f"compare_ddp: {DTLAB} does not exist; build dtlab first (./dtlab build)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="compare-ddp-"))
    os.makedirs(out, exist_ok=True)
    machine = {"cpu": cpu_model(), "dtlab": dtlab_sgemm(env, out), "pytorch": torch_sgemm(env),
               "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}
    print(f"machine: {machine['cpu']}; dtlab's layers on {machine['dtlab']['gemm_library']}; "
          f"PyTorch {machine['pytorch'].get('version')} on {machine['pytorch'].get('blas')}", file=sys.stderr)
    results = {k: [] for k in range(len(RUNS))}
    for rep in range(args.repeats):
        for k, (framework, ranks, what, cmd) in enumerate(RUNS):
            path = os.path.join(out, f"{framework.lower()}-{ranks}-{k}-{rep}.json")
            full = ([DTLAB] if framework == "dtlab" else []) + cmd + ["--epochs", str(args.epochs), "--json", path, "--quiet"]
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
    dtlab_one, torch_one = rows[0][3], rows[4][3]
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"epochs": args.epochs, "repeats": args.repeats, "machine": machine,
                   "rows": [dict(zip(("framework", "ranks", "strategy", "samples_per_sec", "vs_one_rank",
                                      "test_accuracy"), r)) for r in rows],
                   "dtlab_vs_pytorch_one_rank": dtlab_one / torch_one,
                   "dtlab_ddp_vs_pytorch_ddp": dtlab_ddp / torch_ddp}, f, indent=2)
    print(f"\nmachine: {machine['cpu']}")
    print(f"SGEMM 1024^3, one thread: dtlab's {machine['dtlab']['gemm_library']} "
          + ", ".join(f"{c['name']} {c['square_1024_gflops']:.1f}" for c in machine["dtlab"]["sgemm_libraries"])
          + f" GFLOP/s; PyTorch's {machine['pytorch'].get('sgemm_1024_gflops', 0):.1f}")
    print(f"dtlab / PyTorch on 1 rank: {dtlab_one / torch_one:.2f}x")
    print(f"dtlab ddp / PyTorch DDP on 2 ranks: {dtlab_ddp / torch_ddp:.2f}x "
          f"(median of {args.repeats}; JSON of every run in {out})")


if __name__ == "__main__":
    main()
