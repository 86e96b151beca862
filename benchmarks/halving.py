"""Successive halving in the search budget (``pruner="halving"``) against the full search.

For each of the survey's network tasks (``mnist1d-mlp``, ``digits-mlp``,
``wilson-separable``, at the steps of the survey's full preset) and optimizer (Adam,
SGD with momentum, AdamW), the search budget as ``compare`` runs it (15 trials x 3
studies, one seed a trial, the selected trials rerun on 5 fresh seeds) twice in this
process, side by side: the full search and the same trials pruned by successive halving
(reduction 3: rungs at the ends of evaluation intervals 1, 3 and 10, each study keeping
its best third by validation; :func:`optax_survey.harness.runs.halving_rungs`).  The two
runs of a pair alternate which goes first, and each starts with the layout timings of
``"auto"`` forgotten, so that neither reuses the other's.

Per task x optimizer x study: the trial each selects, and whether halving's is

* ``same``: the same trial (the same configuration, so the same rerun);
* ``within``: another trial whose rerun's mean test metric (over the 5 fresh seeds) lies
  within the 95% bootstrap interval
  (:func:`optax_survey.harness.analysis.stats.bootstrap_ci`: 2000 resamples, seed 0) of
  the full search's selected trial's rerun;
* ``worse`` / ``better``: outside that interval, on that side.

And the run-steps the trials trained (the reruns, the same in both, not counted) and the
fraction halving saved, with the wall seconds of each search (its compiles, the layout
timings and the rerun included), and the seconds spent compiling and training.  The
machine is shared and noisy: the seconds are one run each, the run-steps are exact.

    python benchmarks/halving.py          # ~8 min on 2 cores
    python benchmarks/halving.py --quick  # one small task and optimizer (the test's)

Writes ``benchmarks/results/halving.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save_json  # noqa: E402

from optax_survey.harness import runs  # noqa: E402
from optax_survey.harness.analysis import stats  # noqa: E402
from optax_survey.harness.survey import PRESETS  # noqa: E402
from optax_survey.harness.tasks import get_task  # noqa: E402

TASKS = ("mnist1d-mlp", "digits-mlp", "wilson-separable")
OPTIMIZERS = ("adam", "sgdm", "adamw")
SEARCH = {"trials": 15, "studies": 3, "seeds": 5}
REDUCTION = 3


def timed_search(task, name: str, steps: int, pruner: str | None, search: dict) -> dict:
  """One search with its wall seconds, the layout timings of ``"auto"`` forgotten first."""
  runs._TIMINGS.clear()
  start = time.perf_counter()
  found = runs.run_search(task, name, steps=steps, pruner=pruner, reduction=REDUCTION,
                          **search)
  return {"found": found, "wall_s": time.perf_counter() - start}


def verdict(full: np.ndarray, halving: np.ndarray, same: bool, mode: str) -> str:
  """``same``, ``within``, ``worse`` or ``better``: halving's rerun values against the
  full search's selected rerun's 95% bootstrap interval (see the module's docstring)."""
  if same:
    return "same"
  ci = stats.bootstrap_ci(full)
  mean = float(np.mean(halving))
  if not np.isfinite(mean):
    return "worse"
  if ci.lo <= mean <= ci.hi:
    return "within"
  return "better" if (mean > ci.hi) == (mode == "max") else "worse"


def study_rows(task, full: runs.SearchResult, halving: runs.SearchResult) -> list[dict]:
  """Per study: each search's selected trial, its configuration and its rerun's test
  values, and the verdict."""
  rows = []
  for s in range(full.studies):
    picks = {}
    for key, found in (("full", full), ("halving", halving)):
      values = found.rerun.final_values(task.metric)[s]
      ci = stats.bootstrap_ci(values)
      picks[key] = {"trial": int(found.selected[s]), "lr": float(found.rerun.lrs[s]),
                    "hparams": {k: float(np.asarray(v)[s])
                                for k, v in (found.rerun.hparams or {}).items()},
                    "values": values.tolist(), "mean": ci.mean, "ci": [ci.lo, ci.hi]}
    same = picks["full"]["trial"] == picks["halving"]["trial"]
    rows.append({"study": s, **picks,
                 "verdict": verdict(np.asarray(picks["full"]["values"]),
                                    np.asarray(picks["halving"]["values"]), same, task.mode)})
  return rows


def pair(task_name: str, name: str, steps: int, search: dict, halving_first: bool) -> dict:
  """The full and the pruned search of one optimizer on one task, side by side."""
  task = get_task(task_name)
  order = ("halving", None) if halving_first else (None, "halving")
  done = {pruner: timed_search(task, name, steps, pruner, search) for pruner in order}
  full, halving = done[None]["found"], done["halving"]["found"]
  trained, unpruned = halving.run_steps()
  return {
      "task": task_name, "optimizer": name, "steps": steps, "metric": task.metric,
      "mode": task.mode, "first": "halving" if halving_first else "full",
      "rungs": runs.halving_rungs(search["trials"], steps, task.eval_points, REDUCTION),
      "studies": study_rows(task, full, halving),
      "run_steps": {"full": full.run_steps()[0], "halving": trained, "unpruned": unpruned,
                    "rerun": full.studies * full.rerun.seeds * steps},
      "saved": 1 - trained / unpruned,
      "stopped": halving.grid.stopped.tolist(),
      "wall_s": {"full": done[None]["wall_s"], "halving": done["halving"]["wall_s"]},
      "compile_s": {"full": full.grid.compile_s, "halving": halving.grid.compile_s},
      "train_s": {"full": full.grid.train_s + full.rerun.train_s,
                  "halving": halving.grid.train_s + halving.rerun.train_s},
  }


def _table(header: list[str], rows: list[list]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def markdown(data: dict) -> str:
  """The results as Markdown: a row per task x optimizer, then a row per study."""
  search = data["search"]
  lines = [
      "# Successive halving in the search budget",
      "",
      f"`python benchmarks/halving.py{' --quick' if data['quick'] else ''}`: per task "
      f"and optimizer the search budget ({search['trials']} trials x {search['studies']} "
      f"studies, one seed a trial, the selected trials rerun on {search['seeds']} fresh "
      f"seeds) in full and with `pruner=\"halving\"` (reduction {data['reduction']}), side "
      "by side in one process. `selected` is each study's selected trial, full -> halving; "
      "halving's selection is `same` (the same trial), `within` (another trial whose "
      "rerun's mean test metric lies within the 95% bootstrap interval of the full "
      "search's selected trial's rerun), or `worse`/`better` (outside it). Run-steps are "
      "the trials' (the reruns, the same in both, left out); seconds are one run each, "
      "compiles and layout timings included, on a shared, noisy machine.",
      "",
  ]
  rows = []
  for r in data["rows"]:
    picks = ", ".join(f"{s['full']['trial']}->{s['halving']['trial']}" for s in r["studies"])
    verdicts = [s["verdict"] for s in r["studies"]]
    counted = ", ".join(f"{verdicts.count(v)} {v}" for v in ("same", "within", "worse",
                                                            "better") if v in verdicts)
    steps, wall, train = r["run_steps"], r["wall_s"], r["train_s"]
    rows.append([r["task"], r["optimizer"], r["steps"],
                 ", ".join(str(s) for _, s in r["rungs"]), picks, counted,
                 f"{steps['full']:,} -> {steps['halving']:,} ({r['saved']:.0%} saved)",
                 f"{wall['full']:.1f} / {wall['halving']:.1f}",
                 f"{train['full']:.2f} / {train['halving']:.2f}"])
  lines += _table(["task", "optimizer", "steps", "rungs at", "selected (per study)",
                   "halving's selection", "trial run-steps full -> halving",
                   "wall s full / halving", "training s full / halving"], rows)
  lines += ["", "Each study's selected trial and its rerun's test metric, mean [95% CI] "
            "over the fresh seeds:", ""]
  rows = []
  for r in data["rows"]:
    for s in r["studies"]:
      shown = [f"{s[k]['trial']}: {s[k]['mean']:.4f} [{s[k]['ci'][0]:.4f}, "
               f"{s[k]['ci'][1]:.4f}]" for k in ("full", "halving")]
      rows.append([r["task"], r["optimizer"], s["study"], r["metric"], *shown,
                   s["verdict"]])
  lines += _table(["task", "optimizer", "study", "metric", "full: trial, test",
                   "halving: trial, test", "halving's selection"], rows)
  totals = {k: sum(r["wall_s"][k] for r in data["rows"]) for k in ("full", "halving")}
  lines += ["", f"Total wall seconds: full {totals['full']:.0f}, halving "
            f"{totals['halving']:.0f}.", ""]
  return "\n".join(lines)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="wilson-separable at 100 steps, Adam, 6 trials x 2 studies")
  parser.add_argument("--out", default="halving.json",
                      help="the JSON, relative to benchmarks/results/ (the .md beside)")
  args = parser.parse_args(argv)
  if args.quick:
    plan, search = [("wilson-separable", "adam", 100)], {"trials": 6, "studies": 2, "seeds": 2}
  else:
    full = PRESETS["full"]
    plan = [(t, o, full.steps.get(t, get_task(t).steps)) for t in TASKS for o in OPTIMIZERS]
    search = dict(SEARCH)
  rows = []
  for i, (task_name, name, steps) in enumerate(plan):
    row = pair(task_name, name, steps, search, halving_first=i % 2 == 1)
    rows.append(row)
    print(f"{task_name:16s} {name:6s} selected "
          f"{[(s['full']['trial'], s['halving']['trial'], s['verdict']) for s in row['studies']]}"
          f"  run-steps {row['run_steps']['full']} -> {row['run_steps']['halving']}"
          f"  wall {row['wall_s']['full']:.1f} / {row['wall_s']['halving']:.1f} s", flush=True)
  data = {"machine": machine(), "quick": args.quick, "search": search,
          "reduction": REDUCTION, "rows": rows}
  path = save_json(args.out, data)
  text = markdown(data)
  with open(os.path.splitext(path)[0] + ".md", "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  main()
