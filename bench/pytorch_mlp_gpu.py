#!/usr/bin/env python3
"""The MLP training step on the GPU, PyTorch eager next to dtlab, in one run on the same GPU.

Times forward + backward + SGD (Nesterov momentum 0.9, weight decay 5e-4) of the same MLP
(784-512-256-10 by default), batch size and precision in both:

  PyTorch eager   nn.Sequential(Linear, ReLU, ..., Linear), F.cross_entropy, optim.SGD
                  (foreach); timed with CUDA events over 200 steps, best of 5 trials
  dtlab           `dtlab bench train-step --device cuda` (cuBLAS GEMMs, fused bias+ReLU,
                  softmax-CE and SGD kernels), timed the same way

FP32 by default on both sides: PyTorch's torch.backends.cuda.matmul.allow_tf32 is off, and so is
dtlab's --tf32; pass --tf32 to turn both on. Prints a Markdown table; --json keeps the figures.
Needs a CUDA build of PyTorch (Debian's python3-torch is CPU-only: use NVIDIA's container or a
wheel on the GPU machine).

  python3 bench/pytorch_mlp_gpu.py --batch 256 --json docs/results/data/DIR/mlp-gpu.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTLAB = os.path.join(ROOT, "build", "bin", "dtlab")


def torch_step_seconds(hidden, batch, tf32, iters=200, trials=5):
    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        sys.exit("pytorch_mlp_gpu: this PyTorch has no CUDA device (torch.cuda.is_available() is "
                 "False); install a CUDA build of PyTorch on the GPU machine")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")
    widths = [784] + hidden + [10]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator(device="cpu").manual_seed(7)
    x = torch.randn(batch, 784, generator=g).to(dev)
    y = torch.randint(0, 10, (batch,), generator=g).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(trials):
        t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0.record()
        for _ in range(iters):
            step()
        t1.record()
        t1.synchronize()
        best = min(best, t0.elapsed_time(t1) * 1e-3 / iters)
    return best, torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0)


def train_flops(hidden, batch):
    widths = [784] + hidden + [10]
    fwd = sum(2 * widths[i] * widths[i + 1] for i in range(len(widths) - 1))
    return (3 * fwd - 2 * widths[0] * widths[1]) * batch  # no input gradient for the first layer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", default="512,256")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--dtlab", default=DTLAB, help="the dtlab program (default: build/bin/dtlab)")
    args = ap.parse_args()
    hidden = [int(h) for h in args.hidden.split(",") if h]
    if not os.access(args.dtlab, os.X_OK):
        sys.exit(f"pytorch_mlp_gpu: {args.dtlab} does not exist; build dtlab first (./dtlab build)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dtlab.json")
        cmd = [args.dtlab, "bench", "train-step", "--device", "cuda", "--ranks", "1", "--hidden", args.hidden,
               "--batch", str(args.batch), "--json", path] + (["--tf32"] if args.tf32 else [])
        subprocess.run(cmd, check=True, env=env)
        with open(path) as f:
            ours = json.load(f)
    t_torch, version, cuda, gpu = torch_step_seconds(hidden, args.batch, args.tf32)
    flops = train_flops(hidden, args.batch)
    t_ours = ours["step_ms"] * 1e-3
    rows = [("PyTorch %s eager (CUDA %s)" % (version, cuda), t_torch), ("dtlab (cuBLAS + own kernels)", t_ours)]
    print(f"\nMLP {'-'.join(map(str, [784] + hidden + [10]))}, batch {args.batch}, "
          f"{'TF32' if args.tf32 else 'FP32'}, one step = forward + backward + SGD, on {gpu}\n")
    print("| framework | step (µs) | TFLOP/s | samples/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {t * 1e6:.1f} | {flops / t * 1e-12:.2f} | {args.batch / t:,.0f} |")
    print(f"\ndtlab / PyTorch step time: {t_ours / t_torch:.2f} (below 1: dtlab is faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gpu": gpu, "torch": version, "torch_cuda": cuda, "batch": args.batch,
                       "hidden": hidden, "tf32": args.tf32, "torch_step_s": t_torch, "dtlab_step_s": t_ours,
                       "dtlab": ours}, f, indent=2)


if __name__ == "__main__":
    main()
