#!/usr/bin/env bash
# Runs docs/slurm/dtlab-train.sbatch as Slurm would, on a machine without Slurm: SLURM_* variables
# set as sbatch sets them, and a stand-in `srun` first on PATH that checks what the template gives
# it and starts the ranks with mpirun. Then runs it again, as a requeued job, and checks that the
# second run resumed from the first run's newest checkpoint.
#
#   tests/site/slurm_template_under_srun.sh DTLAB_BIN
set -euo pipefail

bin="$(realpath "${1:?usage: $0 path/to/dtlab}")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/slurm-bin" "$tmp/submit"
cat > "$tmp/slurm-bin/srun" <<'EOF'
#!/usr/bin/env bash
# stand-in srun: one task per rank of the "allocation", started by mpirun
set -euo pipefail
echo "srun $*" >> "$FAKE_SRUN_LOG"
[ "$1" = "--mpi=pmix" ] || { echo "fake srun: expected --mpi=pmix first, got: $*" >&2; exit 2; }
shift
exec mpirun --quiet --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -np "$SLURM_NTASKS" "$@"
EOF
chmod +x "$tmp/slurm-bin/srun"

run_job() {  # epochs
  (cd "$tmp/submit" &&
   env PATH="$tmp/slurm-bin:$PATH" FAKE_SRUN_LOG="$tmp/srun.log" \
     SLURM_JOB_ID=4242 SLURM_NTASKS=2 SLURM_JOB_NUM_NODES=1 SLURM_JOB_NODELIST=localhost \
     SLURM_SUBMIT_DIR="$tmp/submit" DTLAB_BIN="$bin" \
     DTLAB_TRAIN_ARGS="--dataset synthetic --synthetic-samples 1024 --batch 256 --epochs $1 --quiet" \
     bash "$root/docs/slurm/dtlab-train.sbatch")
}

fail() { echo "FAILED: $*" >&2; exit 1; }

run_job 1 2> "$tmp/first.err" || { cat "$tmp/first.err" >&2; fail "first job"; }
out="$tmp/submit/runs/4242"
[ -s "$out/train.json" ] || fail "no $out/train.json"
grep -q '"ranks": 2' "$out/train.json" || fail "train.json does not say 2 ranks"
[ -f "$out/checkpoints/step-00000004.safetensors" ] || fail "no checkpoint after epoch 1: $(ls "$out/checkpoints")"
grep -q -- "train --ranks 2 " "$tmp/srun.log" || fail "srun did not run 'dtlab train --ranks 2': $(cat "$tmp/srun.log")"

run_job 2 2> "$tmp/second.err" || { cat "$tmp/second.err" >&2; fail "requeued job"; }
grep -q "resuming from .*step-00000004.safetensors" "$tmp/second.err" || { cat "$tmp/second.err" >&2; fail "no resume"; }
[ -f "$out/checkpoints/step-00000008.safetensors" ] || fail "the resumed job wrote no epoch-2 checkpoint"
grep -q '"steps": 8' "$out/train.json" || fail "the resumed job did not end at step 8: $(cat "$out/train.json")"
echo "ok: the template ran dtlab under (a stand-in) srun, and resumed when requeued"
