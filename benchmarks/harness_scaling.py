"""The harness against what a user would write instead: run-steps per second.

For each task and number of runs (learning rates x seeds of Adam), four ways to train
the same runs with the same step (:func:`optax_survey.harness.training.train_step`) and
evaluate them (test and validation metrics) at the same points, the end of each of the
task's 10 evaluation intervals:

* ``loop``: a Python loop over the runs, each run's step and evaluation jitted on its own
  (compiled once, called once per run and step);
* ``vmap``: the step ``jax.vmap``-ped over the runs and jitted, called once per step;
* ``scan``: that vmapped step in a ``lax.scan`` of one evaluation interval, one call;
* ``harness``: :func:`optax_survey.harness.runs.run_optimizer` with the layout it chose
  (``"auto"``), and, as an A/A control, the same call again.

Each is timed over the whole run, compiled ahead of time (compiling not counted), its
first call included (a slow hand-written way: over its first intervals up to
``LONGEST`` seconds, where the whole run would take minutes), twice, side by side: the
hand-written ways, the harness, the hand-written ways again, the harness again; each
way's faster time is reported, and the harness's two times' ratio is the A/A
control.  Then the
harness alone on 1, 2, 4 and 8 CPU devices (``--xla_force_host_platform_device_count``,
one process each), and one run's memory: what the compiled program needs per run
(``compiled.memory_analysis()``) beside the run's state (parameters, optimizer and
model state: the least it could be).

Tasks: the survey's MLP (``digits-mlp``) and CNN (``mnist1d-cnn``), and a user's Flax NNX
CNN (two 3x3 convolutions of 32 and 64 channels, a 256-unit dense layer, batch 32,
28x28 inputs: the model of issue 21's measurements, synthetic data).

    python benchmarks/harness_scaling.py                # ~15 min on 2 cores
    python benchmarks/harness_scaling.py --quick        # the MLP only
    python benchmarks/harness_scaling.py --accelerator  # on a GPU (benchmarks/gpu.sh)

Writes ``benchmarks/results/harness_scaling.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save_json  # noqa: E402

from optax_survey.harness import layout as L  # noqa: E402
from optax_survey.harness import runs  # noqa: E402
from optax_survey.harness.tasks import Task, get_task  # noqa: E402
from optax_survey.harness.training import init_carry, make_optimizer, train_step  # noqa: E402

OPTIMIZER = "adam"
# A hand-written way is timed over its first intervals up to about this many seconds.
LONGEST = 20.0


def nnx_cnn_task() -> Task:
  """The user's Flax NNX CNN of issue 21 on synthetic 28x28 images (no download)."""
  from flax import nnx

  class CNN(nnx.Module):
    def __init__(self, rngs):
      self.conv1 = nnx.Conv(1, 32, (3, 3), rngs=rngs)
      self.conv2 = nnx.Conv(32, 64, (3, 3), rngs=rngs)
      self.dense = nnx.Linear(7 * 7 * 64, 256, rngs=rngs)
      self.head = nnx.Linear(256, 10, rngs=rngs)

    def __call__(self, x):
      h = nnx.avg_pool(nnx.relu(self.conv1(x)), (2, 2), strides=(2, 2))
      h = nnx.avg_pool(nnx.relu(self.conv2(h)), (2, 2), strides=(2, 2))
      return self.head(nnx.relu(self.dense(h.reshape(h.shape[0], -1))))

  graphdef, _ = nnx.split(CNN(nnx.Rngs(0)))
  images = jax.random.normal(jax.random.PRNGKey(1), (512, 28, 28, 1))
  labels = jax.random.randint(jax.random.PRNGKey(2), (512,), 0, 10)

  def init_params(key, seed):
    del seed  # the key differs per seed already
    return nnx.as_pure(nnx.state(CNN(nnx.Rngs(params=key))))

  def loss(params, batch):
    x, y = batch
    logits = nnx.merge(graphdef, params)(x)
    return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])

  def sample_batch(key, t):
    i = jax.random.randint(key, (32,), 0, images.shape[0])
    return images[i], labels[i]

  def metrics(params):
    return {"loss": loss(params, (images[:64], labels[:64]))}

  return Task(name="nnx-cnn", init_params=init_params, loss=loss, sample_batch=sample_batch,
              validate=metrics, evaluate=metrics, metric="loss", mode="min", steps=10,
              seeds=1, eval_points=1)


def task_named(name: str) -> Task:
  task = nnx_cnn_task() if name == "nnx-cnn" else get_task(name)
  return dataclasses.replace(task, eval_points=10)


def hand_written(task: Task, n_runs: int, steps: int, repeats: int = 1) -> dict:
  """Seconds per run-step of the loop, the vmapped step and the scanned one, each timed
  over the whole run as the harness is: ``steps`` steps with the test and validation
  metrics (what the harness computes) at the end of each evaluation interval, compiled
  ahead of time, the first call included; the fastest of ``repeats`` runs, each from
  freshly compiled programs."""
  interval_steps, n_intervals = runs.schedule_chunks(steps, task.eval_points)
  lrs = jnp.full((n_runs,), 1e-3, jnp.float32)
  seeds = jnp.arange(n_runs, dtype=jnp.int32)

  def start(lr, seed):
    return init_carry(task, make_optimizer(task, OPTIMIZER, lr), seed)

  def step(lr, carry):
    return train_step(task, make_optimizer(task, OPTIMIZER, lr), carry)[0]

  def evaluate(carry):
    return (task.metrics("test", carry.params, carry.model_state),
            task.metrics("validation", carry.params, carry.model_state))

  def compiled(fn, *args):
    return jax.jit(fn).lower(*args).compile()

  def timed(step_interval, evaluate_now, state):
    """(seconds, intervals) of the run's intervals, stopping after the one that ends
    past LONGEST seconds (a slow way: its speed from the intervals it ran)."""
    began, done = time.perf_counter(), 0
    while done < n_intervals:
      state = step_interval(state)
      evaluation = evaluate_now(state)
      done += 1
      if time.perf_counter() - began > LONGEST:
        break
    jax.block_until_ready((state, evaluation))
    return time.perf_counter() - began, done

  def loop():
    carries = [jax.jit(start)(lrs[i], seeds[i]) for i in range(n_runs)]
    one, one_eval = compiled(step, lrs[0], carries[0]), compiled(evaluate, carries[0])

    def interval(carries):
      for _ in range(interval_steps):
        carries = [one(lrs[i], c) for i, c in enumerate(carries)]
      return carries

    return timed(interval, lambda carries: [one_eval(c) for c in carries], carries)

  def vmapped():
    carry = jax.jit(jax.vmap(start))(lrs, seeds)
    batched, batched_eval = (compiled(jax.vmap(step), lrs, carry),
                             compiled(jax.vmap(evaluate), carry))

    def interval(carry):
      for _ in range(interval_steps):
        carry = batched(lrs, carry)
      return carry

    return timed(interval, batched_eval, carry)

  def scanned():
    carry = jax.jit(jax.vmap(start))(lrs, seeds)
    scan = compiled(lambda lrs, c: jax.lax.scan(
        lambda c, _: (jax.vmap(step)(lrs, c), None), c, None, length=interval_steps)[0],
        lrs, carry)
    return timed(lambda carry: scan(lrs, carry), compiled(jax.vmap(evaluate), carry), carry)

  def fastest(fn):
    """The fewest seconds per run-step of ``repeats`` runs (one if it was cut short)."""
    seconds, done = fn()
    best = seconds / (n_runs * interval_steps * done)
    for _ in range(repeats - 1):
      if done < n_intervals:
        break
      seconds, done = fn()
      best = min(best, seconds / (n_runs * interval_steps * done))
    return best

  return {way: fastest(fn)
          for way, fn in (("loop", loop), ("vmap", vmapped), ("scan", scanned))}


def harness(task: Task, n_runs: int, steps: int, layout: str = "auto") -> dict:
  """Seconds per run-step of ``run_optimizer`` (its wall time less its compile time), the
  layout it chose and one run's bytes."""
  lrs = list(np.geomspace(1e-4, 1e-2, n_runs))
  execution = runs.Execution(layout=layout)
  result = runs.run_optimizer(task, OPTIMIZER, lrs=lrs, seeds=1, steps=steps,
                              execution=execution)
  return {"seconds": result.train_s / (n_runs * steps), "compile_s": result.compile_s,
          "layout": result.layout}


def run_memory(task: Task, n_runs: int) -> dict:
  """One run's bytes in the compiled program, and its state's bytes (the least)."""
  program = runs._program_parts(task, OPTIMIZER, 10, False)
  mesh = L.make_mesh(1)
  compiled = runs._compile_program(task, program, mesh, n_runs, 10)
  state = jax.eval_shape(lambda: init_carry(task, make_optimizer(task, OPTIMIZER, 1e-3), 0))
  state_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
  return {"compiled_per_run": L.bytes_of(compiled.advance, n_runs), "state": state_bytes}


def devices_child(n: int, task_name: str, n_runs: int, steps: int) -> None:
  """(In a process with ``n`` devices.) The harness's speed, printed as JSON."""
  task = task_named(task_name)
  first = harness(task, n_runs, steps)
  print(json.dumps({"devices": n, **first}))


def on_devices(n: int, task_name: str, n_runs: int, steps: int) -> dict:
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, __file__, "--devices-child", str(n), "--task",
                         task_name, "--runs", str(n_runs), "--steps", str(steps)],
                        capture_output=True, text=True, env=env, timeout=1800)
  if proc.returncode:
    raise RuntimeError(proc.stderr[-3000:])
  return json.loads(proc.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  tasks = list(dict.fromkeys(r["task"] for r in rows))
  fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False,
                           layout="constrained")
  styles = {"loop": ("-", "o"), "vmap": ("--", "s"), "scan": ("-.", "^"),
            "harness": ("-", "D")}
  for ax, task in zip(axes[0], tasks, strict=True):
    mine = [r for r in rows if r["task"] == task]
    x = [r["runs"] for r in mine]
    for key, (ls, marker) in styles.items():
      ax.plot(x, [1.0 / r[key] for r in mine], ls=ls, marker=marker,
              lw=2.4 if key == "harness" else 1.4, label=key)
    ax.set(xscale="log", yscale="log", xlabel="runs", title=task)
    ax.grid(alpha=0.3)
  axes[0, 0].set_ylabel("run-steps per second")
  axes[0, 0].legend(fontsize=8)
  fig.suptitle("the harness (its chosen layout) against hand-written loops, 1 CPU device",
               fontsize=10)
  fig.savefig(path, dpi=100)
  plt.close(fig)


def _table(header: list[str], rows: list[list]) -> list[str]:
  """A Markdown table; the first column left-aligned, the others right, the last left."""
  align = ["---"] + ["---:"] * (len(header) - 2) + ["---"]
  return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"] + [
      "| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def markdown(data: dict) -> str:
  m = data["machine"]
  lines = ["# The harness against hand-written loops", "",
           f"{m.get('cpu', '?')}, {m['cores_available']} cores, jax {m['jax']}; "
           "`python benchmarks/harness_scaling.py`.", "",
           "Run-steps per second (higher is better) of Adam runs evaluated at the end of "
           "each of 10 intervals, each way the faster of two runs of the whole training "
           "(compiling not counted); `harness/best` is the harness's speed over the fastest "
           "hand-written way (>= 0.9 is the goal), `A/A` the harness's second run's time "
           "over its first (the noise).", ""]
  rows = []
  for r in data["rows"]:
    best = min(r["loop"], r["vmap"], r["scan"])
    rows.append([r["task"], r["runs"], f"{1 / r['loop']:.0f}", f"{1 / r['vmap']:.0f}",
                 f"{1 / r['scan']:.0f}", f"{1 / r['harness']:.0f}",
                 f"{best / r['harness']:.2f}", f"{r['harness_again'] / r['harness_first']:.2f}",
                 r["layout"]])
  lines += _table(["task", "runs", "loop", "vmap", "scan", "harness", "harness/best", "A/A",
                   "layout"], rows)
  lines += ["", "The harness on several CPU devices of this machine (one process each; "
            "the devices share its cores, so this shows the sharding at work, not a "
            "speed-up a machine with more cores or accelerators would give):", ""]
  lines += _table(["task", "runs", "devices", "run-steps/s", "layout"],
                  [[r["task"], r["runs"], r["devices"], f"{1 / r['seconds']:.0f}", r["layout"]]
                   for r in data["devices"]])
  lines += ["", "One run's memory: the compiled program's bytes per run "
            "(`memory_analysis()`: arguments, outputs, temporaries) beside the run's state "
            "(parameters, optimizer state, key: the least it could be):", ""]
  lines += _table(["task", "runs per call", "compiled per run", "state", "ratio"],
                  [[r["task"], r["runs"], f"{r['compiled_per_run']:,}", f"{r['state']:,}",
                    f"{r['compiled_per_run'] / r['state']:.1f}"] for r in data["memory"]])
  return "\n".join(lines) + "\n"


def one_compare(steps: int) -> dict:
  """One ``compare`` as a user runs it (digits-mlp, two optimizers, the tuned budget):
  its wall time and the layouts it chose."""
  from optax_survey.harness import compare

  start = time.perf_counter()
  result = compare("digits-mlp", ["sgdm", "adam"], steps=steps, progress=False)
  return {"seconds": time.perf_counter() - start,
          "layouts": {n: r.layout for n, r in result.grid.items()},
          "table": result.table()}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="the MLP only, 1 and 2 devices")
  parser.add_argument("--accelerator", action="store_true",
                      help="on a GPU/TPU: the MLP and the NNX CNN on this device, and one "
                           "compare; no CPU-device processes (benchmarks/gpu.sh)")
  parser.add_argument("--dry-run", action="store_true", help="tiny sizes (a test of the script)")
  parser.add_argument("--out", default="harness_scaling.json",
                      help="the JSON, relative to benchmarks/results/ (the .md and .png beside)")
  parser.add_argument("--devices-child", type=int, default=None)
  parser.add_argument("--task", default="digits-mlp")
  parser.add_argument("--runs", type=int, default=45)
  parser.add_argument("--steps", type=int, default=200)
  args = parser.parse_args(argv)
  if args.devices_child is not None:
    devices_child(args.devices_child, args.task, args.runs, args.steps)
    return
  if args.dry_run:
    plan = {"digits-mlp": ([1, 4], 20)}
  elif args.quick:
    plan = {"digits-mlp": ([1, 8, 45, 80], 200)}
  elif args.accelerator:
    plan = {"digits-mlp": ([1, 8, 45, 80], 200), "nnx-cnn": ([1, 8, 45], 50)}
  else:
    plan = {"digits-mlp": ([1, 8, 45, 80], 200), "mnist1d-cnn": ([1, 8, 45], 50),
            "nnx-cnn": ([1, 8, 45], 30)}
  rows, memory = [], []
  for name, (counts, steps) in plan.items():
    task = task_named(name)
    for n in counts:
      start = time.perf_counter()
      # side by side: each hand-written way, the harness, each way again, the harness again
      hand = hand_written(task, n, steps, repeats=1)
      first = harness(task, n, steps)
      hand_again = hand_written(task, n, steps, repeats=1)
      again = harness(task, n, steps)
      row = {"task": name, "runs": n, "steps": steps,
             **{way: min(hand[way], hand_again[way]) for way in hand}}
      row.update(harness=min(first["seconds"], again["seconds"]),
                 harness_first=first["seconds"], harness_again=again["seconds"],
                 layout=first["layout"], compile_s=first["compile_s"])
      rows.append(row)
      best = min(row["loop"], row["vmap"], row["scan"])
      print(f"{name:12s} {n:3d} runs: loop {1 / row['loop']:8.0f}  vmap {1 / row['vmap']:8.0f}"
            f"  scan {1 / row['scan']:8.0f}  harness {1 / row['harness']:8.0f} run-steps/s "
            f"(x{best / row['harness']:.2f} of the best; "
            f"A/A {again['seconds'] / first['seconds']:.2f})"
            f"  [{time.perf_counter() - start:.0f} s] {first['layout']}", flush=True)
    memory.append({"task": name, "runs": max(counts), **run_memory(task, max(counts))})
  device_rows = []
  if not args.accelerator:
    for n in ([1, 2] if args.quick or args.dry_run else [1, 2, 4, 8]):
      runs_, steps_ = (4, 20) if args.dry_run else (45, 200)
      r = on_devices(n, "digits-mlp", runs_, steps_)
      device_rows.append({"task": "digits-mlp", "runs": runs_, **r})
      print(f"digits-mlp {runs_} runs on {n} devices: {1 / r['seconds']:.0f} run-steps/s "
            f"({r['layout']})", flush=True)
  data = {"machine": machine(), "rows": rows, "devices": device_rows, "memory": memory}
  if args.accelerator or args.dry_run:
    data["compare"] = one_compare(20 if args.dry_run else 300)
    print(data["compare"]["table"], f"\n{data['compare']['seconds']:.1f} s", flush=True)
  path = save_json(args.out, data)
  stem = os.path.splitext(path)[0]
  with open(stem + ".md", "w") as f:
    f.write(markdown(data))
  plot(rows, stem + ".png")
  print(markdown(data))


if __name__ == "__main__":
  main()
