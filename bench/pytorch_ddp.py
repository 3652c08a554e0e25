#!/usr/bin/python3
"""The model `dtlab train` trains, trained with PyTorch DistributedDataParallel (gloo, CPU).

A reference point for dtlab's data-parallel trainer: the same MLP (784-512-256-10, ReLU, He-uniform
weights, zero biases), the same data (Fashion-MNIST from the IDX files, normalised with the
training set's mean and standard deviation), the same optimizer (SGD, Nesterov momentum 0.9,
weight decay 5e-4, PyTorch's update rule, which dtlab's copies), the same schedule (half an epoch
of linear warmup, then cosine decay to 0), the same global batch of 512 sharded over the ranks
with the remainder of each epoch dropped, and the same measurements (training samples/s over all
ranks with evaluation excluded, per-epoch train loss, test loss and accuracy). The sources it
mirrors: core/include/dtlab/train.hpp, core/src/{train,mlp,optim,data}.cpp, cli/cmd_train.cpp.

    python3 bench/pytorch_ddp.py --ranks 2 --json ddp-ranks2.json
    ./dtlab train --ranks 2 --json dtlab-ranks2.json

Each rank is one process started with torch.multiprocessing (spawn) and runs with ONE compute
thread (torch.set_num_threads(1), OMP_NUM_THREADS=1), as dtlab's MPI ranks are single-threaded;
--threads N changes that. gloo still runs its own communication threads in every rank.
`--ranks 1` is still DDP, with a process group of one; `--ranks 1 --no-ddp` trains the bare
module without a process group, like `dtlab train --ranks 1` (strategy "single").

What is the same as dtlab: the model and the distribution of its initial weights; the loss (mean
softmax cross-entropy); the update rule (torch.optim.SGD 1.13 computes g = grad + wd*p,
buf = 0.9*buf + g with buf = g on the first step, p -= lr*(g + 0.9*buf), on every parameter,
biases included: dtlab's Sgd is that formula, so weight decay is L2 added to the gradient in both);
the learning rate of every step (warmup = llround(0.5 * 117) = 59 steps, cosine to 0 at
epochs * 117); the normalisation (x * scale + shift in float, mean 0.2860406 and standard
deviation 0.3530242 of x/255 over the training images); which samples form each global batch's
share per rank and the remainder dropped; evaluation on every rank's shard of the test set, in
chunks of 1000; what is timed (the epoch loops, including the per-epoch shuffle and the batch
gather and normalisation, not the evaluation); and --max-steps (the schedule still spans --epochs).

What differs, and why it does or does not matter for throughput:
- The random numbers: initial weights and the per-epoch permutation come from torch's generator,
  not dtlab's xoshiro256**. Same distributions, different draws: losses and accuracies differ by
  seed-to-seed noise (about a point after one epoch), the work per step does not.
- Gradient averaging: DDP divides each gradient by the world size while copying it into its
  bucket, then allreduce-sums; dtlab sums and scales by 1/p inside the optimizer. Same result up
  to rounding. DDP also copies the reduced bucket back into .grad (gradient_as_bucket_view off,
  PyTorch's default): a pass over 2.1 MB, small next to a step.
- Communication: gloo over TCP on the loopback interface, with its own threads in every rank,
  against MPI_Allreduce (shared memory). This is the largest difference at 2 ranks, and it is part
  of what the comparison measures: it is each framework's transport, not a setting of this script.
- Buckets: DDP's first bucket is capped at 1 MB (dist._DEFAULT_FIRST_BUCKET_BYTES), and the
  gradients fill it in reverse layer order, so all 2.1 MB form one bucket, reduced when backward
  ends, whatever --bucket-mb says: as dtlab's "allreduce" strategy reduces after backward; no
  overlap in either. --bucket-mb 0.25 --first-bucket-mb 0.25 gives two buckets and overlap.
- Compute: OpenBLAS (or whatever libblas.so.3 is) against Eigen; PyTorch's eager dispatch,
  per-step allocations and a non-fused SGD (several passes over the parameters instead of one)
  against dtlab's reused buffers and one fused loop. That overhead is PyTorch's, and measuring it
  is the point; --ranks 1 --no-ddp isolates it from communication.
- --ranks 1 is DDP over a process group of one unless --no-ddp: DDP still copies gradients into
  buckets and calls gloo. `dtlab train --ranks 1` runs strategy "single" without communication,
  so compare it with --no-ddp.
- Launch: torch.multiprocessing instead of mpirun; ranks are not pinned unless --bind core (mpirun
  pins 2 ranks to cores by default). Process start-up and data loading are outside wall_seconds in
  both.
- The JSON has no rank0_collectives / rank0_collective_bytes / rank0_bytes_sent (dtlab's op-log
  counters).

Needs the Debian packages python3-torch (1.13) and python3-numpy, and for meaningful speed an
optimised BLAS such as libopenblas0-openmp: Debian's torch calls whatever libblas.so.3 is
installed, and the reference BLAS (libblas3) is some 30x slower at these matrix products. The
script reports which one it found ("blas" in the JSON) and warns about the reference one.
"""

import argparse
import gzip
import json
import math
import os
import socket
import struct
import subprocess
import sys
import time

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
HIDDEN = (512, 256)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train dtlab's default MLP on Fashion-MNIST with PyTorch DDP (gloo, CPU).")
    p.add_argument("--ranks", "-n", type=int, default=1, help="processes (default 1)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--max-steps", type=int, default=-1,
                   help="stop after this many steps; the schedule still spans --epochs")
    p.add_argument("--batch", type=int, default=512, help="global batch over all ranks (default 512)")
    p.add_argument("--lr", type=float, default=0.2, help="peak learning rate (default 0.2)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--no-nesterov", dest="nesterov", action="store_false")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--warmup-epochs", type=float, default=0.5)
    p.add_argument("--min-lr-ratio", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1, help="seed of the initial model and the data order")
    p.add_argument("--bucket-mb", type=float, default=25.0, help="DDP bucket_cap_mb (default 25)")
    p.add_argument("--first-bucket-mb", type=float, default=None,
                   help="cap of DDP's first bucket (dist._DEFAULT_FIRST_BUCKET_BYTES, 1 MB by "
                        "default); the whole 2.1 MB model fits the first bucket unless this is "
                        "below about 0.5")
    p.add_argument("--threads", type=int, default=1, help="compute threads per rank (default 1)")
    p.add_argument("--bind", choices=("none", "core"), default="none",
                   help="core: pin rank r to CPU r (what mpirun does by default for 2 ranks); "
                        "default none")
    p.add_argument("--no-ddp", dest="ddp", action="store_false",
                   help="with --ranks 1 only: the bare module, no process group, no DDP")
    p.add_argument("--no-eval", dest="evaluate", action="store_false",
                   help="skip the test-set evaluation after each epoch")
    p.add_argument("--data-dir", default=None,
                   help=f"folder with the Fashion-MNIST IDX files (default: $DTLAB_DATA, else "
                        f"{DEFAULT_DATA_DIR})")
    p.add_argument("--json", default=None, help="write the final metrics as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    a = p.parse_args(argv)
    if a.ranks < 1:
        p.error("--ranks must be >= 1")
    if a.epochs < 1:
        p.error("--epochs must be >= 1")
    if a.threads < 1:
        p.error("--threads must be >= 1")
    if a.batch < 1 or a.batch % a.ranks:
        p.error(f"the global batch ({a.batch}) must be a positive multiple of the number of ranks "
                f"({a.ranks}), so that every rank gets an equal share")
    if not a.ddp and a.ranks != 1:
        p.error("--no-ddp needs --ranks 1")
    if a.bind == "core" and a.ranks > len(os.sched_getaffinity(0)):
        p.error(f"--bind core needs at most one rank per CPU ({len(os.sched_getaffinity(0))} here)")
    if a.first_bucket_mb is not None and not a.first_bucket_mb > 0:
        p.error("--first-bucket-mb must be > 0")
    if not a.bucket_mb > 0:
        p.error("--bucket-mb must be > 0")
    if a.data_dir is None:
        a.data_dir = os.environ.get("DTLAB_DATA") or DEFAULT_DATA_DIR
    return a


# Parse before importing torch: the thread counts must be in the environment when libgomp and
# OpenBLAS load (the spawned ranks inherit it).
if __name__ == "__main__":
    ARGS = parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

try:
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP
except ImportError as e:
    # pyenv and virtualenvs put another python3 first in PATH; Debian's torch lives in
    # /usr/lib/python3/dist-packages, which only /usr/bin/python3 sees.
    system = "/usr/bin/python3"
    if (__name__ == "__main__" and os.path.exists(system) and not os.environ.get("_PYTORCH_DDP_REEXEC")
            and os.path.realpath(sys.executable) != os.path.realpath(system)):
        os.environ["_PYTORCH_DDP_REEXEC"] = "1"
        print(f"note: {sys.executable} cannot import {e.name}; running with {system}", file=sys.stderr)
        os.execv(system, [system, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit(f"error: {e}. Install the Debian packages: apt-get install python3-torch python3-numpy "
             f"(and run with /usr/bin/python3)")


class DataError(Exception):
    pass


# ---- data: as core/src/data.cpp ----

def missing_files(data_dir):
    names = [n for pair in FILES.values() for n in pair]
    return [n for n in names if not os.path.isfile(os.path.join(data_dir, n))]


def read_idx(path, magic_expected, kind):
    """An IDX file, gzip or plain (as dtlab reads both): (dims, uint8 array)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: the file ends before the magic number")
    (magic,) = struct.unpack(">I", raw[:4])
    if magic != magic_expected:
        raise DataError(f"{path}: not an IDX {kind} file: magic number 0x{magic:08x}, expected "
                        f"0x{magic_expected:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated: the file ends inside the header")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    n = math.prod(dims)
    if len(raw) - header != n:
        raise DataError(f"{path}: the header promises {n} bytes of data but the file has "
                        f"{len(raw) - header}")
    return dims, np.frombuffer(raw, dtype=np.uint8, offset=header)


def load_split(data_dir, which):
    img_name, lab_name = FILES[which]
    dims, x = read_idx(os.path.join(data_dir, img_name), 0x00000803, "image")
    (count,), y = read_idx(os.path.join(data_dir, lab_name), 0x00000801, "label")
    if count != dims[0]:
        raise DataError(f"{img_name} has {dims[0]} images but {lab_name} has {count} labels")
    if y.size and int(y.max()) >= 10:
        raise DataError(f"{os.path.join(data_dir, lab_name)}: a label is outside 0..9")
    return x.reshape(dims[0], dims[1] * dims[2]), y


def normalisation(train_x):
    """dtlab's set_normalisation: mean and population standard deviation of x/255 over the
    training set, in double, then stored as floats; gather() computes x * scale + shift in float
    with scale = 1 / (255 * sd) and shift = -mean / sd."""
    hist = np.bincount(train_x.ravel(), minlength=256).astype(np.int64)
    v = np.arange(256, dtype=np.int64)
    s, sq = float(int((hist * v).sum())), float(int((hist * v * v).sum()))  # exact integers
    n = float(train_x.size)
    mean = s / n / 255.0
    var = sq / n / (255.0 * 255.0) - mean * mean
    mean_f, sd_f = np.float32(mean), np.float32(math.sqrt(max(var, 1e-12)))
    scale = np.float32(1.0) / (np.float32(255.0) * sd_f)
    shift = -mean_f / sd_f
    return float(mean_f), float(sd_f), float(scale), float(shift)


# ---- model, optimizer, schedule ----

def make_model(seed):
    """784-512-256-10 with ReLU; He-uniform weights U(-sqrt(6/in), sqrt(6/in)), zero biases, as
    Mlp::init (drawn from torch's generator, so not the same numbers as dtlab's xoshiro256**)."""
    widths = (784, *HIDDEN, 10)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                bound = math.sqrt(6.0 / m.in_features)
                m.weight.uniform_(-bound, bound, generator=g)
                m.bias.zero_()
    return model


def lr_at(step, base, warmup, total, min_lr_ratio):
    """LrSchedule::lr for kind "cosine"."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = step - warmup
    T = total - warmup
    x = min(t, T) / T
    min_lr = base * min_lr_ratio
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * x))


def epoch_seed(seed, epoch):
    # DistributedSampler::epoch_order's seed mix; it seeds torch's generator here, so the order
    # differs from dtlab's, but it is a fresh uniform permutation every epoch, the same on all ranks.
    return (seed ^ ((0xD1B54A32D192ED03 * (epoch + 1)) & 0xFFFFFFFFFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF


def debian_package_version(name):
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True,
                           text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def blas_library():
    """The libblas this process loaded (Debian's torch links libblas.so.3 through alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line and "/" in line}
    except OSError:
        return "unknown"
    real = sorted({os.path.realpath(p) for p in paths})
    return ", ".join(real) if real else "none found (statically linked?)"


# ---- one rank ----

def allreduce_sum(values):
    t = torch.tensor(values, dtype=torch.float64)
    if dist.is_initialized():
        dist.all_reduce(t)
    return t.tolist()


def evaluate(model, x_u8, y, scale, shift, rank, world):
    """Loss and accuracy over the whole test set, each rank on its contiguous shard (dtlab's
    shard_range), in chunks of 1000, summed over the ranks."""
    n = x_u8.shape[0]
    base, extra = divmod(n, world)
    first = rank * base + min(rank, extra)
    count = base + (1 if rank < extra else 0)
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for s in range(first, first + count, 1000):
            e = min(s + 1000, first + count)
            xb = x_u8[s:e].to(torch.float32).mul_(scale).add_(shift)
            logits = model(xb)
            loss_sum += float(F.cross_entropy(logits, y[s:e], reduction="sum"))
            correct += int((logits.argmax(1) == y[s:e]).sum())
    loss_sum, correct, total = allreduce_sum([loss_sum, float(correct), float(count)])
    return loss_sum / total, correct / total


def rank_main(rank, args, port):
    world = args.ranks
    if args.bind == "core":
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[rank]})
    torch.set_num_threads(args.threads)
    lead = rank == 0
    say = (lambda *a, **k: print(*a, **k, flush=True)) if lead and not args.quiet else (lambda *a, **k: None)

    try:
        train_x, train_y = load_split(args.data_dir, "train")
        test_x, test_y = load_split(args.data_dir, "test")
    except DataError as e:
        raise SystemExit(f"error: {e}") from None
    mean, sd, scale, shift = normalisation(train_x)
    train_x = torch.from_numpy(train_x.copy())  # uint8, normalised batch by batch like dtlab
    train_y = torch.from_numpy(train_y.astype(np.int64))
    test_x = torch.from_numpy(test_x.copy())
    test_y = torch.from_numpy(test_y.astype(np.int64))
    N = train_x.shape[0]
    if args.batch > N:
        raise SystemExit(f"error: the global batch ({args.batch}) is larger than the dataset ({N} samples)")

    if args.ddp:
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        os.environ["MASTER_PORT"] = str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)

    t_begin = time.perf_counter()  # like dtlab: after data loading and communicator set-up
    local = args.batch // world
    steps_per_epoch = N // args.batch
    warmup = int(math.floor(args.warmup_epochs * steps_per_epoch + 0.5))  # std::llround
    total_steps = args.epochs * steps_per_epoch
    if total_steps <= warmup:
        raise SystemExit(f"error: cosine schedule: total steps ({total_steps}) must exceed warmup "
                         f"steps ({warmup})")

    module = make_model(args.seed)
    params = sum(p.numel() for p in module.parameters())
    # DDP broadcasts rank 0's parameters here, as dtlab's AllreduceDataParallel::setup does.
    if args.ddp and args.first_bucket_mb is not None:
        dist._DEFAULT_FIRST_BUCKET_BYTES = int(args.first_bucket_mb * 1024 * 1024)
    model = DDP(module, bucket_cap_mb=args.bucket_mb) if args.ddp else module
    opt = torch.optim.SGD(module.parameters(), lr=args.lr, momentum=args.momentum,
                          nesterov=args.nesterov, weight_decay=args.weight_decay)
    strategy = "ddp" if args.ddp else "single"

    say(f"pytorch {torch.__version__}: 784-{'-'.join(map(str, HIDDEN))}-10 on fashion-mnist/train "
        f"({N} train / {test_x.shape[0]} test), {world} rank{'s' if world > 1 else ''}, "
        f"{'DDP (gloo, bucket_cap_mb ' + format(args.bucket_mb, 'g') + ')' if args.ddp else 'no DDP, no process group'}, "
        f"{args.threads} thread{'s' if args.threads > 1 else ''}/rank, global batch {args.batch}, "
        f"sgd lr {args.lr:g} (cosine, {warmup} warmup steps of {total_steps}), "
        f"{args.epochs} epoch{'s' if args.epochs > 1 else ''}")
    blas = blas_library()
    if lead and "/blas/libblas" in blas:
        print(f"warning: torch uses the reference BLAS ({blas}), which is many times slower than "
              f"an optimised one; install libopenblas0-openmp for a meaningful comparison",
              file=sys.stderr, flush=True)

    history, train_seconds, samples, step, stop = [], 0.0, 0, 0, False
    perm_gen = torch.Generator()
    for epoch in range(args.epochs):
        if stop:
            break
        model.train()
        loss_sum, seen = 0.0, 0
        t_epoch = time.perf_counter()
        order = None
        for b in range(steps_per_epoch):
            if 0 <= args.max_steps <= step:
                stop = True
                break
            if order is None:  # inside the timed loop, as dtlab's sampler shuffles on first use
                perm_gen.manual_seed(epoch_seed(args.seed, epoch))
                order = torch.randperm(N, generator=perm_gen)
            lr = lr_at(step, args.lr, warmup, total_steps, args.min_lr_ratio)
            for group in opt.param_groups:
                group["lr"] = lr
            # Global batch b is positions [b*B, (b+1)*B) of the epoch's order; rank r takes slice r.
            idx = order[b * args.batch + rank * local: b * args.batch + (rank + 1) * local]
            xb = train_x.index_select(0, idx).to(torch.float32).mul_(scale).add_(shift)
            yb = train_y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()  # DDP: allreduce of the gradient buckets, averaged over the ranks
            opt.step()
            lv = loss.item()
            if not math.isfinite(lv):
                raise SystemExit(f"error: the loss is {lv} at step {step}: training diverged; try "
                                 f"a smaller learning rate than {args.lr}")
            loss_sum += lv * local
            seen += local
            step += 1
        epoch_seconds = time.perf_counter() - t_epoch
        train_seconds += epoch_seconds
        samples += seen * world
        if seen == 0:
            break
        loss_total, seen_total = allreduce_sum([loss_sum, float(seen)])
        test_loss, test_acc = (evaluate(module, test_x, test_y, scale, shift, rank, world)
                               if args.evaluate else (0.0, 0.0))
        e = {"epoch": epoch + 1, "train_loss": loss_total / seen_total, "test_loss": test_loss,
             "test_accuracy": test_acc, "seconds": epoch_seconds}
        history.append(e)
        say(f"epoch {epoch + 1}/{args.epochs}  train loss {e['train_loss']:.4f}  test loss "
            f"{test_loss:.4f}  test accuracy {100 * test_acc:.2f}%  {epoch_seconds:.1f} s  "
            f"{seen * world / max(epoch_seconds, 1e-9):.0f} samples/s")
    wall_seconds = time.perf_counter() - t_begin
    sps = samples / train_seconds if train_seconds > 0 else 0.0

    if lead:
        last = history[-1] if history else {"train_loss": 0.0, "test_loss": 0.0, "test_accuracy": 0.0}
        buckets = None
        if args.ddp:
            try:
                buckets = model._get_ddp_logging_data().get("rebuilt_bucket_sizes")
            except Exception:
                pass
        j = {
            # the fields of `dtlab train --json`, where they mean the same
            "train_loss": last["train_loss"],
            "test_loss": last["test_loss"],
            "test_accuracy": last["test_accuracy"],
            "samples_per_sec": sps,
            "ranks": world,
            "epochs": len(history),
            "steps": step,
            "samples": samples,
            "wall_seconds": wall_seconds,
            "train_seconds": train_seconds,
            "global_batch": args.batch,
            "model": "784-" + "-".join(map(str, HIDDEN)) + "-10",
            "parameters": params,
            "dataset": "fashion-mnist/train",
            "strategy": strategy,
            "optimizer": "sgd",
            "lr": args.lr,
            "schedule": "cosine",
            "seed": args.seed,
            "history": history,
            # PyTorch's side
            "framework": "pytorch",
            "torch_version": torch.__version__,
            "torch_package": debian_package_version("python3-torch"),
            "backend": "gloo" if args.ddp else None,
            "ddp": args.ddp,
            "threads_per_rank": args.threads,
            "bind": args.bind,
            "bucket_mb": args.bucket_mb if args.ddp else None,
            "first_bucket_mb": (dist._DEFAULT_FIRST_BUCKET_BYTES / 2**20) if args.ddp else None,
            "ddp_bucket_sizes": buckets,
            "local_batch": local,
            "momentum": args.momentum,
            "nesterov": args.nesterov,
            "weight_decay": args.weight_decay,
            "warmup_steps": warmup,
            "total_steps": total_steps,
            "min_lr_ratio": args.min_lr_ratio,
            "normalisation": {"mean": mean, "stddev": sd},
            "blas": blas,
        }
        if args.json:
            d = os.path.dirname(os.path.abspath(args.json))
            os.makedirs(d, exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(j, f, indent=2)
                f.write("\n")
        say(f"done: test accuracy {100 * last['test_accuracy']:.2f}%, train loss "
            f"{last['train_loss']:.4f}, {sps:.0f} samples/s on {world} rank{'s' if world > 1 else ''}, "
            f"{wall_seconds:.1f} s")
    if args.ddp:
        dist.barrier()
        dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(args):
    missing = missing_files(args.data_dir)
    if missing:
        names = [n for pair in FILES.values() for n in pair]
        what = ("none of the four files is there" if len(missing) == len(names)
                else f"missing {', '.join(missing)}")
        sys.exit(f"error: Fashion-MNIST not found in {args.data_dir}: {what}. Expected the gzip IDX "
                 f"files {', '.join(names)}. They come with the Debian package "
                 f"dataset-fashion-mnist (./dtlab setup installs it); or pass --data-dir or set "
                 f"DTLAB_DATA to a folder that holds them.")
    if not os.environ.get("GLOO_SOCKET_IFNAME") and os.path.exists("/sys/class/net/lo"):
        os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # all ranks are on this machine
    try:
        mp.spawn(rank_main, args=(args, free_port()), nprocs=args.ranks, join=True)
    except mp.ProcessExitedException as e:
        sys.exit(f"error: rank {e.error_index} exited with code {e.exit_code}")
    except mp.ProcessRaisedException as e:
        sys.exit(f"error: a rank failed:\n{e}")


if __name__ == "__main__":
    main(ARGS)
