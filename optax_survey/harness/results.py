"""What a comparison gives: an :class:`Entry` per optimizer and budget, the
:class:`Comparison` that holds them with the runs behind them, and the one writer
of each file format (CSV, JSON).

>>> entry = Entry(task="t", optimizer="adam", budget="tuned", lr=0.01, seeds=2,
...               first_seed=2, steps=100, metric="acc", mode="max", split="test",
...               values=(0.9, 0.8), ci=Interval(0.85, 0.8, 0.9), diverged=0,
...               selected_on="validation split", rank=1, tied_best=True)
>>> print(entries_csv([entry]), end="")
task,optimizer,budget,lr,seeds,first_seed,steps,metric,mode,split,mean,ci_lo,ci_hi,rank,tied_best,diverged,selected_on,values,hparams,study_means,steps_to_target
t,adam,tuned,0.01,2,2,100,acc,max,test,0.85,0.8,0.9,1,True,0,validation split,0.9 0.8,,,
>>> Entry.from_dict(entry.to_dict()) == entry
True
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from optax_survey.harness import preflight
from optax_survey.harness.analysis.stats import Interval
from optax_survey.harness.render import figures, report
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import Task

__all__ = ["CSV_FIELDS", "Comparison", "Entry", "entries_csv", "entries_of", "run_json",
           "slice_run",
           "write_files", "write_json"]

CSV_FIELDS = ["task", "optimizer", "budget", "lr", "seeds", "first_seed", "steps", "metric",
              "mode", "split", "mean", "ci_lo", "ci_hi", "rank", "tied_best", "diverged",
              "selected_on", "values", "hparams", "study_means", "steps_to_target"]


@dataclasses.dataclass(frozen=True)
class Entry:
  """One optimizer's reported number on one task at one budget.

  Attributes:
    task, optimizer, budget: what it is about (``budget``: "tuned", "one-shot" or
      "search").
    lr: the learning rate the number was measured at.
    seeds, first_seed: the runs used seeds ``first_seed .. first_seed + seeds - 1``.
    steps: training steps of each run.
    metric, mode, split: the metric, whether lower ("min") or higher ("max") is
      better, and the split it was measured on ("test", or "final" for a task
      without held-out data).
    values: the final metric, one per seed.
    ci: its mean and 95% bootstrap interval over seeds.
    diverged: how many seeds ended non-finite.
    selected_on: how ``lr`` was chosen ("published default", "validation split", ...).
    rank: the rank among the budget's entries, ties kept
      (:func:`~optax_survey.harness.analysis.ranking.rank_entries`); None until ranked.
    tied_best: whether the interval overlaps the best's; None until ranked.
    hparams: the search budget's selected hyperparameters besides ``lr``, else None.
    study_means: the search budget's number in each study (the mean over seeds of its
      selected trial rerun on fresh seeds; the entry is the median study's), else None.
    steps_to_target: per seed, the first evaluated step at which the validation metric
      (the objective without held-out data) reached the task's target, ``inf`` where it
      did not (never averaged); None where not measured (the search budget measures it
      on a task with a target).
  """

  task: str
  optimizer: str
  budget: str
  lr: float
  seeds: int
  first_seed: int
  steps: int
  metric: str
  mode: str
  split: str
  values: tuple[float, ...]
  ci: Interval
  diverged: int
  selected_on: str
  rank: int | None = None
  tied_best: bool | None = None
  hparams: dict | None = None
  study_means: tuple[float, ...] | None = None
  steps_to_target: tuple[float, ...] | None = None

  def to_dict(self) -> dict[str, Any]:
    """The entry as JSON-ready data (``values`` and ``ci`` as lists)."""
    out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
    out["values"], out["ci"] = list(self.values), list(self.ci)
    if self.rank is None:
      del out["rank"], out["tied_best"]
    for key in ("hparams", "study_means", "steps_to_target"):  # the search budget's alone
      if out[key] is None:
        del out[key]
      elif key != "hparams":
        out[key] = list(out[key])
    return out

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> Entry:
    """The entry of :meth:`to_dict`'s data (e.g. read back from ``survey.json``)."""
    fields = dict(data)
    fields["values"], fields["ci"] = tuple(data["values"]), Interval(*data["ci"])
    for key in ("study_means", "steps_to_target"):
      if fields.get(key) is not None:
        fields[key] = tuple(fields[key])
    return cls(**fields)

  def csv_row(self) -> dict[str, Any]:
    """The entry's row of :data:`CSV_FIELDS`."""
    row: dict[str, Any] = {k: getattr(self, k, "") for k in CSV_FIELDS}
    row["mean"], row["ci_lo"], row["ci_hi"] = self.ci
    row["rank"] = "" if self.rank is None else self.rank
    row["tied_best"] = "" if self.tied_best is None else self.tied_best
    row["values"] = " ".join(f"{v:.9g}" for v in self.values)
    row["hparams"] = " ".join(f"{k}={v:.9g}" for k, v in (self.hparams or {}).items())
    row["study_means"] = " ".join(f"{v:.9g}" for v in self.study_means or ())
    row["steps_to_target"] = " ".join(f"{v:g}" for v in self.steps_to_target or ())
    return row


def entries_csv(entries: Iterable[Entry], path: str | None = None) -> str:
  """One row per entry (:data:`CSV_FIELDS`, every seed's value in ``values``); written
  to ``path`` if given.  The one CSV writer of the harness.

  Example:
    >>> from optax_survey.harness import compare
    >>> result = compare("quadratic", ["sgd"], budget="one-shot", steps=20, seeds=2,
    ...                  progress=False)
    >>> print(entries_csv(result.entries).splitlines()[1])  # doctest: +ELLIPSIS
    quadratic,sgd,one-shot,0.001,2,0,20,loss,min,final,7.6488...,1,True,0,published default,...
  """
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
  writer.writeheader()
  for e in entries:
    writer.writerow(e.csv_row())
  text = buf.getvalue()
  if path is not None:
    with open(path, "w", newline="") as f:
      f.write(text)
  return text


def write_json(data: Any, path: str | None = None, *, indent: int | None = None) -> str:
  """``data`` as JSON text (NaN kept as ``NaN``); written to ``path`` if given.  The one
  JSON writer of the harness.

  Example:
    >>> write_json({"values": [0.5, float("nan")]})
    '{"values": [0.5, NaN]}'
  """
  text = json.dumps(data, allow_nan=True, indent=indent)
  if path is not None:
    with open(path, "w") as f:
      f.write(text)
  return text


def run_json(result: RunResult) -> dict:
  """The curves of ``result`` (downsampled to at most 400 points) as JSON-ready lists.

  Example:
    >>> from optax_survey.harness import compare
    >>> result = compare("quadratic", ["sgd"], budget="one-shot", steps=20, seeds=2,
    ...                  progress=False)
    >>> curves = run_json(result.grid["sgd"])
    >>> curves["lrs"], len(curves["loss"][0]), len(curves["loss"][0][0])  # [rate][seed][step]
    ([0.001], 2, 20)
  """
  steps = result.loss.shape[-1]
  idx = np.unique(np.linspace(0, steps - 1, min(steps, 400)).astype(int))

  def tolist(a: np.ndarray) -> list:
    return np.where(np.isfinite(a), a, np.nan).tolist()

  out = {
      "optimizer": result.optimizer, "lrs": result.lrs, "seeds": result.seeds,
      "first_seed": result.seed_offset, "steps": result.steps, "wall_s": result.wall_s,
      "compile_s": result.compile_s, "layout": result.layout,
      "eval_steps": result.eval_steps.tolist(),
      "metrics": {k: tolist(v) for k, v in result.metrics.items()},
      "loss_steps": (idx + 1).tolist(),
      "loss": tolist(result.loss[..., idx]),
  }
  if result.val_metrics is not None:
    out["val_metrics"] = {k: tolist(v) for k, v in result.val_metrics.items()}
  if result.hparams is not None:  # a search's trials
    out["hparams"] = {k: np.asarray(v).tolist() for k, v in result.hparams.items()}
    out["schedule"] = result.schedule
  if result.stopped is not None:  # a pruned search: the steps each trial trained
    out["stopped"] = np.asarray(result.stopped).tolist()
  return out


def slice_run(res: RunResult, i: int) -> RunResult:
  """``res`` restricted to its ``i``-th learning rate.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import run_optimizer
    >>> run = run_optimizer(get_task("quadratic"), "sgd", lrs=[0.1, 0.45], steps=20, seeds=2)
    >>> one = slice_run(run, 1)
    >>> one.lrs, one.loss.shape
    ([0.45], (1, 2, 20))
  """

  def take(a):
    return None if a is None else a[i:i + 1]

  return dataclasses.replace(
      res, lrs=[res.lrs[i]], metrics={k: v[i:i + 1] for k, v in res.metrics.items()},
      val_metrics=None if res.val_metrics is None else {
          k: v[i:i + 1] for k, v in res.val_metrics.items()},
      loss=res.loss[i:i + 1], update_norm=res.update_norm[i:i + 1], path=take(res.path),
      slow_path=take(res.slow_path),
      hparams=None if res.hparams is None else {k: take(np.asarray(v))
                                                for k, v in res.hparams.items()},
      final=None if res.final is None else jax.tree.map(take, res.final))


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
      selection (:func:`~optax_survey.harness.runs.run_tuned`) and were not
      looked at by it; empty for the one-shot budget.  On a deterministic task
      they would repeat the grid's runs and are skipped.
    entries: one :class:`Entry` per optimizer and budget.
    rows: one dict per optimizer and grid rate (validation and test intervals).
    notes: sentences the table needs (a deterministic task, no held-out set,
      identical rows and why).
    written: the files written by :meth:`write`.
    minima: per optimizer, the minima its reported runs reached (``compare(...,
      minima=True)``: :func:`~optax_survey.harness.analysis.minima.minima_of`), else
      empty.
  """

  task: Task
  budget: str
  optimizers: list[str]
  seeds: int
  steps: int
  grid: dict[str, RunResult]
  reruns: dict[str, RunResult]
  entries: list[Entry]
  rows: list[dict]
  notes: list[str]
  written: list[str] = dataclasses.field(default_factory=list)
  minima: dict[str, dict] = dataclasses.field(default_factory=dict)

  @property
  def results(self) -> list[RunResult]:
    """The grid runs, one per optimizer (the runs behind ``rows``)."""
    return [self.grid[n] for n in self.optimizers]

  @property
  def split(self) -> str:
    """Which split the reported numbers are on: "test", or "final" (the final objective of
    a task without held-out data)."""
    return "test" if self.task.held_out else "final"

  def entries_at(self, budget: str | None = None) -> list[Entry]:
    """The entries of ``budget`` (default: the comparison's), in the optimizers' order."""
    budget = preflight.check_budget(budget or self.budget)
    return [e for e in self.entries if e.budget == budget]

  def entry(self, name: str, budget: str | None = None) -> Entry:
    """Optimizer ``name``'s entry at ``budget`` (default: the comparison's)."""
    for e in self.entries_at(budget):
      if e.optimizer == name:
        return e
    raise KeyError(f"no {budget or self.budget} entry for {name!r}; the comparison has "
                   f"{', '.join(self.optimizers)}")

  def tuned_run(self, name: str) -> RunResult:
    """The run behind ``name``'s tuned (or search) number: the rerun on fresh seeds (the
    search: its median study's; on a deterministic task, the grid's run at the selected
    rate)."""
    if self.budget == "search":
      entry, rerun = self.entry(name, "search"), self.reruns[name]
      finals = rerun.final_values(self.task.metric)
      study = next(i for i in range(len(rerun.lrs))
                   if np.array_equal(finals[i], entry.values, equal_nan=True))
      return slice_run(rerun, study)
    if name in self.reruns:
      return self.reruns[name]
    grid = self.grid[name]
    return slice_run(grid, grid.lrs.index(self.entry(name, "tuned").lr))

  def table(self, markdown: bool = False, *, budget: str | None = None) -> str:
    """The results table at ``budget`` (default: the comparison's): plain text or Markdown."""
    return report.entry_table(self.entries_at(budget), metric=self.task.metric,
                              mode=self.task.mode, deterministic=self.task.deterministic,
                              markdown=markdown, split=self.split, target=self.task.target)

  def summary(self) -> str:
    """Header, the table of each budget run and the notes, as the command line prints them."""
    budgets = {"tuned": ("tuned", "one-shot"), "one-shot": ("one-shot",),
               "search": ("search",)}[self.budget]
    text = report.summary(self.task, seeds=self.seeds, steps=self.steps,
                          tables={b: self.table(budget=b) for b in budgets}, notes=self.notes)
    if self.minima:
      text += ("\n\nminima of the reported runs (sharpness of the training loss, mean [95% CI] "
               "over seeds; the gap: training vs test " + self.task.metric + ")\n"
               + report.minima_table(self.minima, metric=self.task.metric))
    return text

  def to_csv(self, path: str | None = None) -> str:
    """One row per optimizer and budget (:data:`CSV_FIELDS`); written to ``path`` if given."""
    return entries_csv(self.entries, path)

  def to_dict(self, *, curves: bool = False) -> dict:
    """The comparison as JSON-ready data (``curves``: with every run's curves)."""
    t = self.task
    out = {
        "task": t.name, "description": t.description, "metric": t.metric, "mode": t.mode,
        "held_out": t.held_out, "deterministic": t.deterministic, "budget": self.budget,
        "steps": self.steps, "seeds": self.seeds, "optimizers": self.optimizers,
        "entries": [e.to_dict() for e in self.entries], "rows": self.rows, "notes": self.notes,
        "wall_s": {n: self.grid[n].wall_s + (self.reruns[n].wall_s if n in self.reruns else 0.0)
                   for n in self.optimizers},
    }
    if self.minima:
      out["minima"] = self.minima
    if curves:
      out["grid_runs"] = [run_json(self.grid[n]) for n in self.optimizers]
      out["reruns"] = [run_json(r) for r in self.reruns.values()]
    return out

  def to_json(self, path: str | None = None, *, curves: bool = True) -> str:
    """:meth:`to_dict` as JSON text; written to ``path`` if given."""
    return write_json(self.to_dict(curves=curves), path)

  def plot(self, path: str) -> str:
    """The learning-rate grid's curves, one panel per optimizer (needs matplotlib)."""
    preflight.require_extras(plot=True)
    return _grid_figure(self, path)

  def shown_runs(self) -> list[RunResult]:
    """The run behind each optimizer's reported number (tuned if run, else one-shot)."""
    return ([self.tuned_run(n) for n in self.optimizers] if self.budget != "one-shot"
            else self.results)

  def write(self, out: str, *, plot: bool = True, prefix: str = "") -> list[str]:
    """Writes ``results.csv``, ``results.json`` and (``plot``) the PNGs into ``out``."""
    preflight.require_extras(plot=plot)
    preflight.check_output_dir(out)
    return write_files(self, out, plot=plot, prefix=prefix)


def _grid_figure(cmp: Comparison, path: str) -> str:
  if cmp.budget == "one-shot":
    return figures.grid_curves(cmp.task, cmp.results, path)
  selected = {e.optimizer: e.lr for e in cmp.entries_at(cmp.budget)}
  tuned = {name: cmp.tuned_run(name) for name in selected}  # the runs behind the table
  return figures.grid_curves(cmp.task, cmp.results, path, selected=selected, tuned=tuned)


def write_files(cmp: Comparison, out: str, *, plot: bool = True, prefix: str = "") -> list[str]:
  """:meth:`Comparison.write` without its checks (made once, before training, by
  :func:`~optax_survey.harness.compare`).

  Example:
    >>> import os, tempfile
    >>> from optax_survey.harness import compare
    >>> result = compare("quadratic", ["sgd"], budget="one-shot", steps=20, seeds=2,
    ...                  progress=False)
    >>> paths = write_files(result, tempfile.mkdtemp(), plot=False)
    >>> [os.path.basename(p) for p in paths]
    ['results.csv', 'results.json']
  """
  written = [os.path.join(out, f"{prefix}results.csv"),
             os.path.join(out, f"{prefix}results.json")]
  cmp.to_csv(written[0])
  cmp.to_json(written[1])
  if plot:
    written.append(_grid_figure(cmp, os.path.join(out, f"{prefix}curves.png")))
    shown = cmp.shown_runs()
    if cmp.task.kind == "2d" and all(r.path is not None for r in shown):
      written.append(figures.trajectories(cmp.task, shown,
                                          os.path.join(out, f"{prefix}trajectories.png")))
  cmp.written += written
  return written


def entries_of(records: Sequence[Mapping[str, Any]]) -> list[Entry]:
  """The entries of JSON records (``survey.json``'s, :meth:`Comparison.to_dict`'s).

  Example:
    >>> import json
    >>> from optax_survey.harness import compare
    >>> result = compare("quadratic", ["sgd"], budget="one-shot", steps=20, seeds=2,
    ...                  progress=False)
    >>> data = json.loads(result.to_json())
    >>> entries_of(data["entries"]) == result.entries
    True
  """
  return [Entry.from_dict(r) for r in records]
