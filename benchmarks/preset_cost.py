"""What the survey's network tasks cost on this machine, measured, and what the survey's
presets would take from it (the estimate ``optax-survey survey --preset paper`` prints).

For each network task and budget, Adam's program exactly as the survey trains it
(:func:`~optax_survey.harness.runs.run_tuned` on the tuned budget's grid,
:func:`~optax_survey.harness.runs.run_search` with the survey's search settings), 5
seeds, ``--steps`` steps with one evaluation, twice, each timed: the seconds besides
training (compiling, the start; the first time also the "auto" layout's timing of its
candidates, which later optimizers on the task reuse) and the training seconds per
run-step.  Every optimizer is costed as Adam.  A preset's estimate sums, per task and
budget, the first optimizer's fixed seconds, the others' (the second measurement's) and
every run-step at the measured rate (:func:`optax_survey.harness.survey.cpu_estimate`).
Against the committed full survey (``benchmarks/results/survey.json``, every optimizer
measured at its steps) the same estimate is printed per task, as a check of costing every
optimizer as Adam.

    python benchmarks/preset_cost.py      # ~6 min on 2 cores
    python benchmarks/preset_cost.py --quick --out /tmp/cost.json   # a smoke run
    python benchmarks/preset_cost.py --against-survey   # the check alone, after a new
                                                        # full survey (seconds)

Writes ``benchmarks/results/preset_cost.json``; its ``cost`` is
``optax_survey.harness.survey.CPU_COST`` (``tests/test_harness_survey.py`` checks that
they agree).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import jax

from optax_survey.harness import protocol, runs
from optax_survey.harness.survey import (
    CPU_COST_TASKS,
    PRESETS,
    SURVEY_SEARCH,
    cpu_estimate,
    task_cpu_seconds,
)
from optax_survey.harness.tasks import get_task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save_json  # noqa: E402

OPTIMIZER = "adam"
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def timed(task, name: str, budget: str, steps: int, seeds: int) -> dict:
  """One optimizer's program of ``budget`` on ``task``: wall, training and run-steps."""
  start = time.perf_counter()
  if budget == "tuned":
    grid, rerun, _ = runs.run_tuned(task, name, steps=steps, seeds=seeds,
                                    lrs=protocol.learning_rates(task, name, "tuned"))
    results = [grid, rerun]
  else:
    found = runs.run_search(task, name, steps=steps, seeds=seeds, **SURVEY_SEARCH)
    results = [found.grid, found.rerun]
  wall = time.perf_counter() - start
  train = sum(r.train_s for r in results)
  run_steps = sum(len(r.lrs) * r.seeds * r.steps for r in results)
  return {"wall_s": wall, "train_s": train, "run_steps": run_steps,
          "fixed_s": wall - train, "run_step_s": train / run_steps}


def against_the_full_survey(cost: dict) -> dict:
  """Per network task of the committed full survey: its measured seconds (every
  optimizer, both budgets) and this estimate of them at its steps."""
  path = os.path.join(RESULTS, "survey.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    summary = json.load(f)
  out = {}
  for name, record in summary["tasks"].items():
    if name not in cost:
      continue
    estimate = task_cpu_seconds(get_task(name), record["steps"],
                                optimizers=summary["optimizers"], seeds=summary["seeds"],
                                search="search" in record["cost"], cost=cost)
    measured = sum(c["seconds"] for c in record["cost"].values())
    out[name] = {"steps": record["steps"], "measured_s": round(measured, 1),
                 "estimated_s": round(estimate, 1)}
    print(f"{name} at {record['steps']} steps, the committed full survey: measured "
          f"{measured:.0f} s, estimated {estimate:.0f} s")
  return out


def recheck(name: str) -> int:
  """Rewrites ``against_full_survey`` of the stored ``name`` from its stored costs and the
  committed full survey (the costs themselves are not measured again)."""
  with open(os.path.join(RESULTS, name)) as f:
    data = json.load(f)
  data["against_full_survey"] = against_the_full_survey(data["cost"])
  print(f"wrote {save_json(name, data)}")
  return 0


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--steps", type=int, default=300,
                      help="steps of each measured program (default: %(default)s)")
  parser.add_argument("--quick", action="store_true",
                      help="a smoke run: digits-mlp alone, 20 steps, 2 seeds")
  parser.add_argument("--out", default="preset_cost.json",
                      help="the JSON, relative to benchmarks/results/ (default: %(default)s)")
  parser.add_argument("--against-survey", action="store_true",
                      help="measure nothing: check the stored costs of --out against the "
                           "committed full survey again (after a new one) and rewrite that "
                           "part of --out")
  args = parser.parse_args(argv)
  if args.against_survey:
    return recheck(args.out)
  names = ("digits-mlp",) if args.quick else CPU_COST_TASKS
  steps, seeds = (20, 2) if args.quick else (args.steps, 5)
  load = os.getloadavg()
  cost, detail = {}, {}
  print("| task | budget | time | fixed s | ms per run-step | run-steps |")
  print("|---|---|---|---|---|---|")
  for name in names:
    task = dataclasses.replace(get_task(name), eval_points=1)  # evaluations: a negligible share
    cost[name], detail[name] = {}, {}
    for budget in ("tuned", "search"):
      first, again = (timed(task, OPTIMIZER, budget, steps, seeds) for _ in range(2))
      rate = (first["train_s"] + again["train_s"]) / (first["run_steps"] + again["run_steps"])
      cost[name][budget] = [round(first["fixed_s"], 2), round(again["fixed_s"], 2),
                            float(f"{rate:.4g}")]
      detail[name][budget] = [first, again]
      for i, m in enumerate((first, again)):
        print(f"| {name} | {budget} | {i + 1} | {m['fixed_s']:.1f} | "
              f"{m['run_step_s'] * 1e3:.4f} | {m['run_steps']} |", flush=True)
  check = {} if args.quick else against_the_full_survey(cost)
  data = {"machine": machine(), "jax": jax.__version__, "steps": steps, "seeds": seeds,
          "optimizer": OPTIMIZER, "load_before": list(load),
          "load_after": list(os.getloadavg()),
          "command": "python benchmarks/preset_cost.py" + (" --quick" if args.quick else ""),
          "cost": cost, "detail": detail, "against_full_survey": check,
          "estimates_s": {p: cpu_estimate(p, cost=cost) for p in PRESETS
                          if not args.quick and set(PRESETS[p].tasks) <= set(cost)}}
  path = save_json(args.out, data)
  for preset, seconds in data["estimates_s"].items():
    print(f"{preset} preset on this machine: {seconds / 3600:.1f} h (estimated)")
  print(f"wrote {path}")
  print(json.dumps(cost))
  return 0


if __name__ == "__main__":
  sys.exit(main())
