"""Compare optimizers on one task at a stated tuning budget: the library function
behind ``optax-survey compare``.

    from optax_survey.harness import compare
    result = compare("digits-mlp", ["adam", "adabound", "radam"])   # budget="tuned"
    print(result.table())                  # mean [95% CI] over seeds, ranks with ties
    result.to_csv("out/results.csv"); result.plot("out/curves.png")

The protocol (Schmidt, Schneider & Hennig 2021; DeepOBS; AlgoPerf):

* **one-shot**: each optimizer at its published defaults (its default learning
  rate, :func:`~optax_survey.harness.registry.default_lr`), ``seeds`` seeds.
* **tuned**: a log-spaced grid of learning rates (default
  :func:`default_grid`: 7 points over 3 decades around the task's centre) and
  the one-shot rate, all rates x seeds as *one* vmapped, compiled program per
  optimizer; the rate with the best mean **validation** score is selected
  (:func:`~optax_survey.harness.stats.select_lr`'s rule, on the device, sees only
  the validation split), and the reported number is the **test** metric at that
  rate, rerun on ``seeds`` fresh seeds in the same program
  (:func:`~optax_survey.harness.runner.run_tuned`).  A task without held-out
  data (the 2-D and online problems) selects and reports its objective, and
  says so.

``compare`` checks everything it can before training (optimizer names, the
task, the optional packages, the output folder) and raises a one-line
:class:`~optax_survey.harness.preflight.HarnessError`, ``ValueError`` or
``TypeError`` if something is wrong.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Sequence

import numpy as np

from optax_survey.harness import diagnostics, plots, preflight, registry, report, runner, stats
from optax_survey.harness.progress import make_progress
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task, TaskError, check_task, get_task, task_names

__all__ = ["BUDGETS", "DEFAULT_OPTIMIZERS", "Comparison", "TaskError", "compare", "default_grid",
           "rank_entries", "selection_scores"]

DEFAULT_OPTIMIZERS = ("sgdm", "adam", "amsgrad", "adabound", "radam", "lookahead")
BUDGETS = ("tuned", "one-shot")
GRID_POINTS = 7
GRID_DECADES = 3.0


def default_grid(center: float, *, points: int = GRID_POINTS,
                 decades: float = GRID_DECADES) -> list[float]:
  """``points`` log-spaced learning rates spanning ``decades`` decades, centred on ``center``.

  Args:
    center: the grid's geometric centre (> 0).
    points: number of rates, >= 2.
    decades: ``log10(largest / smallest)``, > 0.

  Returns:
    The rates, ascending, rounded to 3 significant digits.
  """
  if not (isinstance(center, (int, float)) and 0 < center < math.inf):
    raise ValueError(f"center must be a positive number, got {center!r}")
  if points < 2:
    raise ValueError(f"points must be >= 2, got {points}")
  if not decades > 0:
    raise ValueError(f"decades must be > 0, got {decades}")
  exps = np.linspace(-decades / 2, decades / 2, points)
  return [float(f"{center * 10.0 ** e:.3g}") for e in exps]


def _same_lr(a: float, b: float) -> bool:
  return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


@dataclasses.dataclass
class Comparison:
  """The optimizers' runs on one task at one budget (tuned also gives one-shot), summarised.

  Attributes:
    task: the task.
    budget: ``"tuned"`` or ``"one-shot"``.
    optimizers: the optimizers' names, in the order given.
    seeds: seeds per reported number.
    steps: training steps of every run.
    grid: per optimizer, the run over its learning-rate grid (and default rate),
      seeds ``0 .. seeds-1``: the one program selection reads.
    reruns: per optimizer, the runs at its selected rate on fresh seeds
      (``seeds .. 2 seeds - 1``), which ran in the grid's program after the
      selection (:func:`~optax_survey.harness.runner.run_tuned`) and were not
      looked at by it; empty for the one-shot budget.  On a deterministic task
      they would repeat the grid's runs and are skipped.
    entries: one dict per optimizer and budget: ``lr``, ``values`` (one per
      seed), ``ci`` (mean, lo, hi), ``rank`` (ties kept), ``tied_best``, ...
    rows: one dict per optimizer and grid rate (validation and test intervals).
    notes: sentences the table needs (a deterministic task, no held-out set,
      identical rows and why).
    written: the files written by :meth:`write`.
  """

  task: Task
  budget: str
  optimizers: list[str]
  seeds: int
  steps: int
  grid: dict[str, RunResult]
  reruns: dict[str, RunResult]
  entries: list[dict]
  rows: list[dict]
  notes: list[str]
  written: list[str] = dataclasses.field(default_factory=list)

  @property
  def results(self) -> list[RunResult]:
    """The grid runs, one per optimizer (the runs behind ``rows``)."""
    return [self.grid[n] for n in self.optimizers]

  @property
  def split(self) -> str:
    """Which split the reported numbers are on: "test", or "final" (the final objective of
    a task without held-out data)."""
    return "test" if self.task.held_out else "final"

  def tuned_run(self, name: str) -> RunResult:
    """The run behind ``name``'s tuned number: the rerun on fresh seeds (on a
    deterministic task, the grid's run at the selected rate)."""
    if name in self.reruns:
      return self.reruns[name]
    entry = next(e for e in self.entries if e["optimizer"] == name and e["budget"] == "tuned")
    return _slice(self.grid[name], self.grid[name].lrs.index(entry["lr"]))

  def budget_entries(self, budget: str | None = None) -> list[dict]:
    budget = budget or self.budget
    if budget not in BUDGETS:
      raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    return [e for e in self.entries if e["budget"] == budget]

  def table(self, markdown: bool = False, *, budget: str | None = None) -> str:
    """The results table at ``budget`` (default: the comparison's): plain text or Markdown."""
    return report.entry_table(self.budget_entries(budget), metric=self.task.metric,
                              mode=self.task.mode, deterministic=self.task.deterministic,
                              markdown=markdown, split=self.split)

  def header(self) -> str:
    where = ("learning rate selected on the validation split, test metric reported"
             if self.task.held_out else
             "no held-out set: the final objective is selected on and reported")
    return (f"{self.task.name}: {self.task.description}\n"
            f"{self.steps} steps, {self.seeds} seed{'s' if self.seeds != 1 else ''} per number; "
            f"mean [95% bootstrap CI] over seeds; {where}")

  def summary(self) -> str:
    """Header, the table of each budget run and the notes, as the command line prints them."""
    parts = [self.header()]
    for budget in (("tuned", "one-shot") if self.budget == "tuned" else ("one-shot",)):
      if budget == "one-shot":
        what = "one-shot: published default learning rate"
      elif self.task.held_out:
        what = "tuned: best of the learning-rate grid on validation, test metric on fresh seeds"
      else:
        what = "tuned: best final objective of the learning-rate grid, rerun on fresh seeds"
      parts.append(f"{what}\n{self.table(budget=budget)}")
    text = "\n\n".join(parts)
    if self.notes:
      text += "\n\n" + "\n".join(f"Note: {n}" for n in self.notes)
    return text

  def to_csv(self, path: str | None = None) -> str:
    """One row per optimizer and budget (``CSV_FIELDS``); written to ``path`` if given."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=report.CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for e in self.entries:
      row = {k: e.get(k, "") for k in report.CSV_FIELDS}
      row["mean"], row["ci_lo"], row["ci_hi"] = e["ci"]
      row["values"] = " ".join(f"{v:.9g}" for v in e["values"])
      writer.writerow(row)
    text = buf.getvalue()
    if path is not None:
      with open(path, "w", newline="") as f:
        f.write(text)
    return text

  def to_dict(self, *, curves: bool = False) -> dict:
    """The comparison as JSON-ready data (``curves``: with every run's curves)."""
    t = self.task
    out = {
        "task": t.name, "description": t.description, "metric": t.metric, "mode": t.mode,
        "held_out": t.held_out, "deterministic": t.deterministic, "budget": self.budget,
        "steps": self.steps, "seeds": self.seeds, "optimizers": self.optimizers,
        "entries": self.entries, "rows": self.rows, "notes": self.notes,
        "wall_s": {n: self.grid[n].wall_s + (self.reruns[n].wall_s if n in self.reruns else 0.0)
                   for n in self.optimizers},
    }
    if curves:
      out["grid_runs"] = [report.result_json(self.grid[n]) for n in self.optimizers]
      out["reruns"] = [report.result_json(r) for r in self.reruns.values()]
    return out

  def to_json(self, path: str | None = None, *, curves: bool = True) -> str:
    """:meth:`to_dict` as JSON text; written to ``path`` if given."""
    text = json.dumps(self.to_dict(curves=curves), allow_nan=True)
    if path is not None:
      with open(path, "w") as f:
        f.write(text)
    return text

  def plot(self, path: str) -> str:
    """The learning-rate grid's curves, one panel per optimizer (needs matplotlib)."""
    preflight.require_extras(plot=True)
    return plots.grid_curves(self.task, self.results, path,
                             selected={e["optimizer"]: e["lr"]
                                       for e in self.budget_entries("tuned")}
                             if self.budget == "tuned" else None)

  def write(self, out: str, *, plot: bool = True, prefix: str = "") -> list[str]:
    """Writes ``results.csv``, ``results.json`` and (``plot``) the PNGs into ``out``."""
    import os

    preflight.require_extras(plot=plot)
    preflight.check_output_dir(out)
    written = [os.path.join(out, f"{prefix}results.csv"),
               os.path.join(out, f"{prefix}results.json")]
    self.to_csv(written[0])
    self.to_json(written[1])
    if plot:
      written.append(self.plot(os.path.join(out, f"{prefix}curves.png")))
      shown = ([self.tuned_run(n) for n in self.optimizers] if self.budget == "tuned"
               else self.results)
      if self.task.kind == "2d" and all(r.path is not None for r in shown):
        written.append(plots.trajectories(self.task, shown,
                                          os.path.join(out, f"{prefix}trajectories.png")))
    self.written += written
    return written


def _slice(res: RunResult, i: int) -> RunResult:
  """``res`` restricted to its ``i``-th learning rate."""

  def take(a):
    return None if a is None else a[i:i + 1]

  return dataclasses.replace(
      res, lrs=[res.lrs[i]], metrics={k: v[i:i + 1] for k, v in res.metrics.items()},
      val_metrics=None if res.val_metrics is None else {
          k: v[i:i + 1] for k, v in res.val_metrics.items()},
      loss=res.loss[i:i + 1], update_norm=res.update_norm[i:i + 1], path=take(res.path),
      slow_path=take(res.slow_path))


def _edge_notes(grid: dict[str, RunResult], entries: list[dict]) -> list[str]:
  """A note for each optimizer whose selected rate is the smallest or the largest it ran:
  its best rate may lie outside the grid, so its tuned number may be an underestimate."""
  notes = []
  for e in entries:
    if e["budget"] != "tuned":
      continue
    lrs = grid[e["optimizer"]].lrs
    if len(lrs) < 2 or min(lrs) < e["lr"] < max(lrs):
      continue
    end = "largest" if e["lr"] == max(lrs) else "smallest"
    notes.append(f"{e['optimizer']}'s selected rate {e['lr']:.3g} is the {end} it ran: its best "
                 "rate may lie beyond the grid (pass a wider lr_grid / --lr-grid).")
  return notes


def _check_budget(budget: str) -> None:
  if budget not in BUDGETS:
    raise preflight.BadInputError(f"budget must be 'tuned' or 'one-shot', got {budget!r}")


def _check_count(name: str, value: int | None) -> None:
  if value is None:
    return
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be a positive integer, got {type(value).__name__}")
  if value < 1:
    raise preflight.BadInputError(f"{name} must be a positive integer, got {value}")


def _check_grid(lr_grid: Sequence[float] | None) -> list[float] | None:
  if lr_grid is None:
    return None
  grid = [float(v) for v in lr_grid]
  if not grid:
    raise preflight.BadInputError("lr_grid is empty; give positive learning rates")
  for v in grid:
    if not 0 < v < math.inf:
      raise preflight.BadInputError(f"lr_grid: {v!r} is not a positive finite number")
  return grid


def _entry(task: Task, name: str, budget: str, result: RunResult, index: int,
           selected_on: str) -> dict:
  values = report.final_values(result, task.metric)[index]
  return {
      "task": task.name, "optimizer": name, "budget": budget, "lr": result.lrs[index],
      "seeds": result.seeds, "first_seed": result.seed_offset, "steps": result.steps,
      "metric": task.metric, "mode": task.mode, "split": "test" if task.held_out else "final",
      "values": values.tolist(), "ci": list(stats.bootstrap_ci(values)),
      "diverged": int((~np.isfinite(values)).sum()), "selected_on": selected_on,
  }


def rank_entries(entries: list[dict], mode: str) -> None:
  """Sets each entry's ``rank`` (ties kept) and ``tied_best``, budget by budget, from
  its stored interval ``ci``."""
  for budget in BUDGETS:
    group = [e for e in entries if e["budget"] == budget]
    if not group:
      continue
    ivs = [stats.Interval(*e["ci"]) for e in group]
    ranks = stats.ranks_with_ties(ivs, mode=mode)
    tied, _ = stats.tied_with_best(ivs, mode=mode)
    for e, r, t in zip(group, ranks, tied, strict=True):
      e["rank"], e["tied_best"] = r, bool(t)


def selection_scores(task: Task, result: RunResult) -> np.ndarray:
  """``[n_lr, n_seeds]``: what the tuned budget selects on, the validation split's
  final metric (the objective itself for a task without held-out data).  The test
  split is never read here."""
  split = "validation" if task.held_out else "test"
  return report.final_values(result, task.metric, split=split)


def compare(
    task: Task | str,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    *,
    budget: str = "tuned",
    lr_grid: Sequence[float] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    out: str | None = None,
    plot: bool = True,
    progress: bool = True,
    prefix: str = "",
) -> Comparison:
  """Trains each optimizer on ``task`` at ``budget`` and summarises the runs.

  Args:
    task: a :class:`~optax_survey.harness.tasks.Task`, or the name of one of the
      survey's tasks (built once, here).
    optimizers: names from :data:`~optax_survey.harness.registry.OPTIMIZERS`.
    budget: ``"tuned"`` (select each optimizer's learning rate from ``lr_grid``
      on the validation split, report the test metric rerun on fresh seeds; the
      one-shot numbers come with it) or ``"one-shot"`` (published defaults only).
    lr_grid: the learning rates of the tuned budget, the same for every optimizer
      (default: :func:`default_grid` around ``task.lr_for(optimizer)``).
    seeds: seeds per reported number (default: the task's, 5 for the survey's).
    steps: training steps (default: the task's).
    out: if given, the folder for ``results.csv``, ``results.json`` and the PNGs
      (checked before training).
    plot: write the PNGs (matplotlib) when ``out`` is given.
    progress: show a progress bar on stderr (if tqdm is installed).
    prefix: prefix of the written files' names.

  Returns:
    A :class:`Comparison`.

  Raises:
    preflight.HarnessError: (a ``ValueError`` for bad input) before any training,
      for an unknown task, optimizer or budget, a bad grid or count, a missing
      optional package or an unusable ``out``.
    TaskError: (a ``ValueError``) a malformed task: no validation split, a loss
      that is not a scalar, an ``evaluate`` without ``metric``.
    TypeError: ``task`` is neither a Task nor a name, or a count is not an int.
  """
  names = registry.check_optimizers(optimizers)
  _check_budget(budget)
  _check_count("seeds", seeds)
  _check_count("steps", steps)
  grid_given = _check_grid(lr_grid)
  if isinstance(task, str):
    if task not in task_names():
      raise preflight.BadInputError(
          f"unknown task {task!r}; choose from: {', '.join(task_names())}")
    preflight.require_extras(tasks=[task], plot=plot and out is not None)
  else:
    preflight.require_extras(plot=plot and out is not None)
  if out is not None:
    preflight.check_output_dir(out)
  task = get_task(task) if isinstance(task, str) else task
  check_task(task, tuned=budget == "tuned")

  n_seeds = task.seeds if seeds is None else int(seeds)
  n_steps = task.steps if steps is None else int(steps)
  reruns_needed = budget == "tuned" and not task.deterministic
  bar = make_progress(len(names), task.name, enabled=progress)
  grid: dict[str, RunResult] = {}
  reruns: dict[str, RunResult] = {}
  entries: list[dict] = []
  rows: list[dict] = []
  held = "validation split" if task.held_out else "final objective (no held-out set)"
  try:
    for name in names:
      bar.set_postfix_str(name)
      default = registry.default_lr(name)
      if budget == "tuned":
        lrs = grid_given or default_grid(task.lr_for(name))
        if not any(_same_lr(v, default) for v in lrs):
          lrs = lrs + [default]
      else:
        lrs = [default]
      selected = None
      if reruns_needed:
        # One program: the grid on seeds 0 .. n-1, the selection on the device, and the
        # selected rate on the fresh seeds n .. 2n-1 (runner.run_tuned).
        res, reruns[name], selected = runner.run_tuned(task, name, lrs=lrs, steps=n_steps,
                                                       seeds=n_seeds, progress=bar)
      else:
        res = runner.run_optimizer(task, name, steps=n_steps, seeds=n_seeds, lrs=lrs,
                                   progress=bar)
        if budget == "tuned":  # deterministic: fresh seeds would repeat the grid's runs
          selected = stats.select_lr(selection_scores(task, res), mode=task.mode)
      grid[name] = res
      one_shot = next(i for i, v in enumerate(lrs) if _same_lr(v, default))
      entries.append(_entry(task, name, "one-shot", res, one_shot, "published default"))
      if name in reruns:
        entries.append(_entry(task, name, "tuned", reruns[name], 0, held))
      elif selected is not None:
        entries.append(_entry(task, name, "tuned", res, selected, held))
      rows += [r for r in report.grid_rows(task, res, selected=selected)
               if grid_given is None or any(_same_lr(r["lr"], v) for v in grid_given)
               or budget == "one-shot"]
  finally:
    bar.close()
  rank_entries(entries, task.mode)
  notes = diagnostics.comparison_notes(task, [grid[n] for n in names])
  notes += _edge_notes(grid, entries)
  if not task.held_out:
    notes.append(f"{task.name} has no held-out set: the tuned budget selects the learning "
                 "rate on the final objective of the grid's seeds and reports it on fresh seeds.")
  result = Comparison(task, budget, names, n_seeds, n_steps, grid, reruns, entries, rows, notes)
  if out is not None:
    result.write(out, plot=plot, prefix=prefix)
  return result

