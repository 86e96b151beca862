#!/usr/bin/env bash
# The step-time benchmarks on a GPU, in one prepared run (under 8 minutes on
# one H200), then the survey's paper preset, results under
# benchmarks/results/gpu/:
#
#   bash benchmarks/gpu.sh              # on the GPU machine (JAX with CUDA)
#   bash benchmarks/gpu.sh --dry-run    # on the CPU with tiny sizes: the whole
#                                       # script end to end in a few minutes
#
# OUT_DIR overrides where the results go (relative to benchmarks/results/, or
# an absolute path); SKIP_PAPER=1 leaves the paper preset out.
# Runs: step_time.py (update + apply, the large leaf and the transformer
# tree, vs optax and, where the reference packages are importable, PyTorch)
# and train_step.py (the full training step, all 18 optimizers, large leaf
# and transformer tree), and harness_scaling.py --accelerator (the harness
# against hand-written loops on the GPU, and one compare).  Writes
# step_time.json, train_step.json, harness_scaling.{json,md,png}, env.txt and
# log.txt.  Then `optax-survey survey --preset paper` (the network tasks at
# their reference settings, every optimizer, three budgets; on the GPU its
# time is not measured yet, on a 2-core CPU it would take the hours the
# command prints when it starts) into paper/: survey.{md,json,csv}, the PNGs
# and runs/ (--resume: a run cut off continues there when the script runs
# again).  Its runs are laid out as any comparison's (all the devices JAX
# sees, the "auto" layout: off a CPU, every run of a program vmapped, as many
# as fit).  The dry run trains a tiny paper preset: Adam and SGDM, 2 seeds, 1%
# of the steps, the tuned and one-shot budgets (the search budget's survey is
# tested in tests/test_harness_survey.py), its runs vmapped and sharded over 2
# forced host devices (--devices 2 --layout vmap: the GPU's layout, without
# the CPU's timing of candidate layouts), about 2 minutes of its own on 2 cores.
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
if [ "${SKIP_PAPER:-0}" != 1 ]; then
  if [ "$dry" = 1 ]; then
    paper_args=(--optimizers adam,sgdm --seeds 2 --steps-scale 0.01 --no-search
                --devices 2 --layout vmap)
    paper_env=(XLA_FLAGS="--xla_force_host_platform_device_count=2${XLA_FLAGS:+ $XLA_FLAGS}")
  else
    paper_args=(--resume)
    paper_env=()
  fi
  env "${paper_env[@]}" python3 -m optax_survey survey --preset paper --out "$dir/paper" \
      --no-progress "${paper_args[@]}" 2>&1 | tee -a "$log"
fi
echo "results in $dir" | tee -a "$log"
