#!/usr/bin/env bash
# The step-time benchmarks on a GPU, in one prepared run (under 8 minutes on
# one H200), results under benchmarks/results/gpu/:
#
#   bash benchmarks/gpu.sh              # on the GPU machine (JAX with CUDA)
#   bash benchmarks/gpu.sh --dry-run    # on the CPU with tiny sizes: the whole
#                                       # script end to end in about a minute
#
# OUT_DIR overrides where the results go (relative to benchmarks/results/, or
# an absolute path).
# Runs: step_time.py (update + apply, the large leaf and the transformer
# tree, vs optax and, where the reference packages are importable, PyTorch)
# and train_step.py (the full training step, all 18 optimizers, large leaf
# and transformer tree), and harness_scaling.py --accelerator (the harness
# against hand-written loops on the GPU, and one compare).  Writes
# step_time.json, train_step.json, harness_scaling.{json,md,png}, env.txt and
# log.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out="${OUT_DIR:-gpu}"
case "$out" in /*) dir="$out" ;; *) dir="benchmarks/results/$out" ;; esac
mkdir -p "$dir"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 JAX_ENABLE_X64=0
log="$dir/log.txt"
: > "$log"

if [ "$dry" = 1 ]; then
  export JAX_PLATFORMS=cpu
  step_args=(--trees leaf65536 --optimizers adam,diffgrad --repeats 2 --target-s 0.01 --no-torch)
  train_args=(--trees large --losses elementwise,linear --large-shape 64,128
              --optimizers adam,diffgrad,adamod --repeats 2 --target-s 0.01 --no-torch)
else
  step_args=(--trees large,transformer --repeats 7 --target-s 0.02)
  train_args=(--trees large,transformer --repeats 7 --target-s 0.02)
  # PyTorch references: only where their packages are importable there.
  python3 -c "import torch, torch_optimizer, pytorch_optimizer, adabound, adamod, adabelief_pytorch" \
      2>/dev/null || { step_args+=(--no-torch); train_args+=(--no-torch); }
fi

{
  echo "date: $(date -u +%FT%TZ)"
  python3 -c "import jax, optax; print('jax', jax.__version__, jax.devices()); print('optax', optax.__version__)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
} > "$dir/env.txt" 2>&1
tee -a "$log" < "$dir/env.txt"

python3 benchmarks/step_time.py "${step_args[@]}" --out "$out/step_time.json" 2>&1 | tee -a "$log"
python3 benchmarks/train_step.py "${train_args[@]}" --out "$out/train_step.json" 2>&1 | tee -a "$log"
if [ "$dry" = 1 ]; then harness_args=(--dry-run); else harness_args=(--accelerator); fi
python3 benchmarks/harness_scaling.py "${harness_args[@]}" --out "$out/harness_scaling.json" \
    2>&1 | tee -a "$log"
echo "results in $dir" | tee -a "$log"
