"""Where the validation curves of the network tasks without a reference step count
flatten (digits-mlp, charlm, wilson-separable): the steps of the survey's paper preset.

Adam and SGD with momentum at their centre learning rates (``optax-survey tasks``), a
constant rate, 3 seeds, trained well past their task's default steps with an evaluation
every 200 steps (wilson-separable every 100).  The rule (:func:`plateau_step`): the
plateau is the first evaluated step after which the best validation value so far (the
mean over seeds) never gains more than ``FRACTION`` (1%) of its whole gain (from the
start to the best) per 1000 steps, on average over any later stretch of the run.  The
paper preset trains the later of the two optimizers' plateaus rounded up to a whole 1000
steps (:func:`preset_steps`), which ``tests/test_harness_survey.py`` checks against
``optax_survey.harness.survey.PAPER_STEPS``.

    python benchmarks/plateau.py          # ~3 min on 2 cores
    python benchmarks/plateau.py --quick --out /tmp/plateau.json   # a smoke run

Writes ``benchmarks/results/plateau.json`` (every mean curve, each optimizer's plateau,
the rule) and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time

import jax
import numpy as np

from optax_survey.harness import runs
from optax_survey.harness.tasks import get_task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save_json  # noqa: E402

FRACTION = 0.01  # of the whole gain, per 1000 steps
PLAN = {"digits-mlp": (10_000, 50), "charlm": (8000, 40), "wilson-separable": (5000, 50)}
OPTIMIZERS = ("adam", "sgdm")
SEEDS = 3


def plateau_step(curve: np.ndarray, eval_steps: np.ndarray, mode: str, *,
                 fraction: float = FRACTION) -> int | None:
  """The first evaluated step after which the best value so far of ``curve`` never gains
  more than ``fraction`` of its whole gain per 1000 steps over any later stretch; None
  when only the last evaluation qualifies (no plateau within the run).

  Example: an accuracy that climbs to 0.9 by step 300, then gains 0.005 per 1000 steps:

    >>> steps = np.arange(0, 1100, 100)
    >>> acc = np.concatenate([[0.1, 0.5, 0.8], 0.9 + 5e-6 * (steps[3:] - 300)])
    >>> plateau_step(acc, steps, "max")  # 0.005 per 1000 steps: under 1% of its gain, 0.8035
    300
    >>> plateau_step(acc, steps, "max", fraction=0.005) is None
    True
  """
  sign = 1.0 if mode == "max" else -1.0
  best = np.maximum.accumulate(sign * np.asarray(curve, np.float64))
  steps = np.asarray(eval_steps, np.float64)
  rate = fraction * (best[-1] - sign * curve[0]) / 1000.0
  for i in range(len(steps) - 1):
    if np.all(best[i + 1:] - best[i] < rate * (steps[i + 1:] - steps[i])):
      return int(steps[i])
  return None


def preset_steps(plateaus: list[int | None], horizon: int) -> int:
  """The paper preset's steps from the optimizers' plateaus: the latest rounded up to a
  whole 1000 (no plateau: the run's ``horizon``, rounded up likewise).

  >>> preset_steps([800, 800], 10_000), preset_steps([5000, 5600], 8000)
  (1000, 6000)
  """
  latest = max(horizon if p is None else p for p in plateaus)
  return int(math.ceil(latest / 1000) * 1000)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="a smoke run: wilson-separable, 200 steps")
  parser.add_argument("--out", default="plateau.json",
                      help="the JSON, relative to benchmarks/results/ (default: %(default)s)")
  args = parser.parse_args(argv)
  plan = {"wilson-separable": (200, 10)} if args.quick else PLAN
  tasks = {}
  print("| task | optimizer | lr | plateau step | best there | best at the end | "
        "preset steps | wall s |")
  print("|---|---|---|---|---|---|---|---|")
  for name, (steps, evaluations) in plan.items():
    task = dataclasses.replace(get_task(name), eval_points=evaluations)
    record: dict = {"metric": task.metric, "mode": task.mode, "steps": steps,
                    "optimizers": {}}
    for opt in OPTIMIZERS:
      start = time.perf_counter()
      result = runs.run_optimizer(task, opt, steps=steps, seeds=SEEDS)
      curve = np.asarray(result.val_metrics[task.metric][0], np.float64).mean(axis=0)
      eval_steps = np.asarray(result.eval_steps)
      plateau = plateau_step(curve, eval_steps, task.mode)
      best = (np.maximum if task.mode == "max" else np.minimum).accumulate(curve)
      record["optimizers"][opt] = {
          "lr": float(result.lrs[0]), "eval_steps": eval_steps.tolist(),
          "mean_curve": curve.tolist(), "plateau": plateau,
          "best_at_plateau": None if plateau is None else float(
              best[list(eval_steps).index(plateau)]),
          "best": float(best[-1]), "wall_s": round(time.perf_counter() - start, 1)}
    record["preset_steps"] = preset_steps(
        [o["plateau"] for o in record["optimizers"].values()], steps)
    tasks[name] = record
    for opt, o in record["optimizers"].items():
      at = "-" if o["best_at_plateau"] is None else f"{o['best_at_plateau']:.4f}"
      print(f"| {name} | {opt} | {o['lr']:g} | {o['plateau']} | {at} | {o['best']:.4f} | "
            f"{record['preset_steps']} | {o['wall_s']} |", flush=True)
  data = {"machine": machine(), "jax": jax.__version__, "seeds": SEEDS,
          "fraction": FRACTION, "quick": args.quick,
          "rule": ("the first evaluated step after which the best validation value so far "
                   "(mean over seeds) never gains more than 1% of its whole gain per 1000 "
                   "steps over any later stretch; the preset trains the later of Adam's "
                   "and SGDM's, rounded up to a whole 1000 steps"),
          "command": "python benchmarks/plateau.py" + (" --quick" if args.quick else ""),
          "tasks": tasks}
  print(f"wrote {save_json(args.out, data)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
