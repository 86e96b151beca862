"""Compare optimizers on one task at a stated tuning budget: the library function
behind ``optax-survey compare``.

    from optax_survey.harness import compare
    result = compare("digits-mlp", ["adam", "adabound", "radam"])   # budget="tuned"
    print(result.table())                  # mean [95% CI] over seeds, ranks with ties
    result.to_csv("out/results.csv"); result.plot("out/curves.png")

The pipeline, one small function a stage: :func:`check_task_spec`,
:func:`check_sample_batch`, :func:`check_initial_loss` and the checks of
:mod:`~optax_survey.harness.preflight` (all input, before any work);
:func:`learning_rates` (each optimizer's grid); :func:`train_budget` (one
compiled program per optimizer: :mod:`~optax_survey.harness.runs`);
:func:`budget_entries` (the reported numbers as
:class:`~optax_survey.harness.results.Entry` records);
:func:`~optax_survey.harness.analysis.ranking.rank_entries`;
:func:`comparison_notes`; the files (:func:`~optax_survey.harness.results.write_files`).

The protocol (Schmidt, Schneider & Hennig 2021; DeepOBS; AlgoPerf):

* **one-shot**: each optimizer at its published defaults (its default learning
  rate, :func:`~optax_survey.harness.registry.default_lr`), ``seeds`` seeds.
* **tuned**: a log-spaced grid of learning rates (default
  :func:`default_grid`: 7 points over 3 decades around the task's centre) and
  the one-shot rate, all rates x seeds as *one* vmapped, compiled program per
  optimizer; the rate with the best mean **validation** score is selected
  (:func:`~optax_survey.harness.analysis.stats.select_lr`'s rule, on the device, sees only
  the validation split), and the reported number is the **test** metric at that
  rate, rerun on ``seeds`` fresh seeds in the same program
  (:func:`~optax_survey.harness.runs.run_tuned`).  A task without held-out
  data (the 2-D and online problems) selects and reports its objective, and
  says so.

``compare`` checks everything it can before training (optimizer names, the
task, the optional packages, the output folder), once, and raises a one-line
:class:`~optax_survey.harness.errors.HarnessError` (also a ``ValueError``,
``TypeError``, ``OSError`` or ``ImportError``) if something is wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness import checkpoints, hosts, preflight, registry, runs, search, training
from optax_survey.harness.analysis import diagnostics, stats
from optax_survey.harness.analysis.minima import minima_of
from optax_survey.harness.analysis.ranking import rank_entries
from optax_survey.harness.errors import BadInputError, BadTypeError, TaskError
from optax_survey.harness.progress import make_progress
from optax_survey.harness.registry import OptimizerSpec
from optax_survey.harness.render import tensorboard
from optax_survey.harness.results import Comparison, Entry, write_files
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import Task, check_task, check_task_name, load_task

__all__ = ["DEFAULT_OPTIMIZERS", "budget_entries", "check_initial_loss", "check_sample_batch",
           "check_task_spec", "compare", "comparison_notes", "default_grid", "edge_notes",
           "factory_notes", "grid_rows", "learning_rates", "make_entry", "pruning_notes",
           "reached_target", "search_entry", "search_run_steps", "selection_scores",
           "train_budget"]

DEFAULT_OPTIMIZERS = ("sgdm", "adam", "amsgrad", "adabound", "radam", "lookahead")
# The search budget's settings when not given (compare's defaults; the command line's).
SEARCH_DEFAULTS: dict[str, Any] = {"trials": 15, "studies": 3, "trial_seeds": 1,
                                   "schedule": "constant", "sequence": "halton",
                                   "space": None, "select": "final", "pruner": None,
                                   "reduction": runs.REDUCTION}
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

  Example:
    >>> default_grid(0.01)
    [0.000316, 0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316]
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


def check_task_spec(task: Task | str) -> None:
  """Checks, without building it, what ``task`` names: a
  :class:`~optax_survey.harness.Task`, a survey task's name, or a factory
  (``"my_module:make_task"``, checked when loaded).

  Example:
    >>> check_task_spec("quadratic")  # a survey task: fine
    >>> check_task_spec("quadratc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.TaskError: unknown task 'quadratc'; choose from: quadratic, ...
  """
  if isinstance(task, Task):
    return
  if not isinstance(task, str):
    raise BadTypeError(f"task must be an optax_survey.harness.Task or a task name, got "
                       f"{type(task).__name__}", argument="task")
  if ":" not in task:
    check_task_name(task)


def check_initial_loss(task: Task) -> float:
  """Raises a ``TaskError`` naming ``loss`` if the training loss is not finite before any
  optimizer step (seed 0's initial parameters, its first batch): that is a bug in the
  task's loss or data, not an optimizer's failure, and no run of the sweep would mean
  anything.  Returns the loss.

  Example:
    >>> import jax.numpy as jnp
    >>> task = Task(name="log0", init_params=lambda key, seed: jnp.zeros(2),
    ...             loss=lambda w, batch: jnp.sum(jnp.log(w)), held_out=False,
    ...             evaluate=lambda w: {"loss": jnp.sum(w)}, metric="loss", mode="min")
    >>> check_initial_loss(task)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.TaskError: task 'log0': loss is -inf at the initial ...
  """
  tx = optax.identity()  # the runs' own first step, whatever the optimizer
  first_step = jax.jit(lambda carry: training.train_step(task, tx, carry, lambda s: s.loss)[1])
  loss = float(first_step(training.init_carry(task, tx, 0)))
  if not math.isfinite(loss):
    raise TaskError(f"task {task.name or '<unnamed>'!r}: loss is {loss} at the initial "
                    "parameters of seed 0 on its first batch, before any optimizer step: a "
                    "bug in loss (or in init_params or the data), not an optimizer's failure")
  return loss


def check_sample_batch(task: Task) -> None:
  """Warns (``UserWarning``) if ``sample_batch``'s batch depends on neither its key nor
  its step: every step of every run would train on one batch.

  Read from its traced program (no output computed from either argument), so that a
  sampler whose random draws often coincide (Reddi et al.'s stochastic problem draws
  one of two values) is not mistaken for one that ignores them.

  Example:
    >>> import warnings
    >>> import jax.numpy as jnp
    >>> task = Task(name="one-batch", init_params=lambda key, seed: jnp.zeros(2),
    ...             loss=lambda w, batch: jnp.sum((w - batch) ** 2), held_out=False,
    ...             sample_batch=lambda key, t: jnp.ones(2),  # ignores key and t
    ...             evaluate=lambda w: {"loss": jnp.sum(w)}, metric="loss", mode="min")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...   warnings.simplefilter("always")
    ...   check_sample_batch(task)
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    task 'one-batch': sample_batch's batch depends on neither its key nor its step: ...
  """
  if task.sample_batch is None:
    return
  if not _depends_on_arguments(task.sample_batch, jax.random.PRNGKey(0), jnp.int32(0)):
    warnings.warn(
        f"task {task.name or '<unnamed>'!r}: sample_batch's batch depends on neither its "
        "key nor its step: every step would train on one batch. Give sample_batch=None "
        "for a full-batch loss (loss then gets batch=None), or draw the batch with key, "
        "or index the data with t", UserWarning, stacklevel=4)


def _depends_on_arguments(fn: Callable[..., Any], *args: Any) -> bool:
  """Whether any output of ``fn(*args)`` is computed from its arguments, read from its
  jaxpr: an operation with an argument-derived operand (a nested program's included)
  counts as depending on them, so a ``False`` is certain."""
  jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
  derived = {id(v) for v in jaxpr.invars}  # the variables, alive with the jaxpr
  for eqn in jaxpr.eqns:
    if any(id(v) in derived for v in eqn.invars):
      derived.update(id(v) for v in eqn.outvars)
  return any(id(v) in derived for v in jaxpr.outvars)


def learning_rates(task: Task, name: str, budget: str, lr_grid: Sequence[float] | None = None,
                   *, optimizer: OptimizerSpec | None = None) -> list[float]:
  """The rates ``name`` trains at: the published default alone (one-shot), or the grid
  (``lr_grid``, default :func:`default_grid` around its centre on the task,
  :func:`~optax_survey.harness.runs.centre_lr`) with the published default added if it
  is not on it (tuned).  ``optimizer``: a factory trained under the label ``name``
  (its "published default" is :data:`~optax_survey.harness.registry.FACTORY_LR`).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> learning_rates(task, "adam", "tuned")  # 7 rates around 0.1, and the default 0.001
    [0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 0.001]
    >>> learning_rates(task, "adam", "one-shot"), learning_rates(task, "sgd", "tuned", [0.1])
    ([0.001], [0.1, 0.001])
  """
  optimizer = name if optimizer is None else optimizer
  default = registry.one_shot_lr(optimizer)
  if budget != "tuned":
    return [default]
  lrs = list(lr_grid) if lr_grid else default_grid(runs.centre_lr(task, name, optimizer))
  if not any(_same_lr(v, default) for v in lrs):
    lrs = lrs + [default]
  return lrs


def selection_scores(task: Task, result: RunResult) -> np.ndarray:
  """``[n_lr, n_seeds]``: what the tuned budget selects on, the validation split's
  final metric (the objective itself for a task without held-out data).  The test
  split is never read here.

  Example: the quadratic has no held-out data, so its objective is selected on:

    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> run = runs.run_optimizer(task, "sgd", lrs=[0.1, 0.45], steps=20, seeds=2)
    >>> print(selection_scores(task, run).round(3))
    [[2.709 2.674]
     [0.643 0.634]]
  """
  split = "validation" if task.held_out else "test"
  return result.final_values(task.metric, split=split)


def reruns_on_fresh_seeds(task: Task, budget: str) -> bool:
  """Whether :func:`train_budget` reruns the selected rate on fresh seeds: the tuned
  budget on a task with seed noise (on a deterministic one they would repeat the grid).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> reruns_on_fresh_seeds(get_task("digits-mlp"), "tuned"), reruns_on_fresh_seeds(
    ...     get_task("reddi"), "tuned")
    (True, False)
  """
  return budget == "tuned" and not task.deterministic


def budget_runs(task: Task, lrs: Sequence[float], budget: str, seeds: int) -> int:
  """The number of runs :func:`train_budget` trains: the grid, and the rerun on fresh
  seeds (:func:`reruns_on_fresh_seeds`).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> budget_runs(get_task("digits-mlp"), [0.1, 0.3], "tuned", 5)  # 2 x 5, then 5
    15
  """
  return len(lrs) * seeds + (seeds if reruns_on_fresh_seeds(task, budget) else 0)


def train_budget(task: Task, name: str, lrs: Sequence[float], budget: str, *, seeds: int,
                 steps: int, progress=None, optimizer: OptimizerSpec | None = None,
                 execution: runs.Execution | None = None, final: bool = False,
                 ) -> tuple[RunResult, RunResult | None, int | None]:
  """Trains ``name`` (or ``optimizer``, a factory, under the label ``name``) at ``budget``:
  ``(grid, rerun, selected)``.

  Tuned, on a task with seed noise: the grid on seeds ``0 .. seeds-1``, the
  selection on the device and the selected rate on the fresh seeds
  (:func:`~optax_survey.harness.runs.run_tuned`).  Tuned, on a deterministic
  task: the grid alone (fresh seeds would repeat its runs), selected here.
  One-shot: the grid is the published default; nothing is selected.  ``final``: the
  rerun keeps its final parameters (:func:`~optax_survey.harness.runs.run_tuned`).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> grid, rerun, selected = train_budget(task, "sgd", [0.1, 0.45, 0.001], "tuned",
    ...                                      seeds=2, steps=20)
    >>> selected, rerun.lrs, rerun.seed_offset  # 0.45 selected, rerun on seeds 2 and 3
    (1, [0.45], 2)
  """
  optimizer = name if optimizer is None else optimizer
  if reruns_on_fresh_seeds(task, budget):
    return runs.run_tuned(task, optimizer, lrs=lrs, steps=steps, seeds=seeds,
                          progress=progress, label=name, execution=execution, final=final)
  grid = runs.run_optimizer(task, optimizer, steps=steps, seeds=seeds, lrs=lrs,
                            progress=progress, label=name, execution=execution)
  if budget != "tuned":
    return grid, None, None
  return grid, None, stats.select_lr(selection_scores(task, grid), mode=task.mode)


def make_entry(task: Task, name: str, budget: str, result: RunResult, index: int,
               selected_on: str) -> Entry:
  """The :class:`~optax_survey.harness.results.Entry` of ``result``'s ``index``-th rate.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> run = runs.run_optimizer(task, "sgd", lrs=[0.001], steps=20, seeds=2)
    >>> entry = make_entry(task, "sgd", "one-shot", run, 0, "published default")
    >>> entry.lr, entry.seeds, entry.split, round(entry.ci.mean, 3)
    (0.001, 2, 'final', 7.649)
  """
  values = result.final_values(task.metric)[index]
  return Entry(
      task=task.name, optimizer=name, budget=budget, lr=result.lrs[index], seeds=result.seeds,
      first_seed=result.seed_offset, steps=result.steps, metric=task.metric, mode=task.mode,
      split="test" if task.held_out else "final", values=tuple(values.tolist()),
      ci=stats.bootstrap_ci(values), diverged=int((~np.isfinite(values)).sum()),
      selected_on=selected_on, steps_to_target=reached_target(task, result, index))


def reached_target(task: Task, result: RunResult, index: int) -> tuple[float, ...] | None:
  """Per seed of ``result``'s ``index``-th row, the first evaluated step at which the
  validation metric (the objective itself without held-out data: what selection
  reads) reached ``task.target`` (``inf``: never); None for a task without a target.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")  # target: loss <= 1e-4, evaluated every 10 steps
    >>> run = runs.run_optimizer(task, "adam", lrs=[0.5, 1e-4], steps=100, seeds=2)
    >>> reached_target(task, run, 0), reached_target(task, run, 1)
    ((100.0, 100.0), (inf, inf))
  """
  if not math.isfinite(task.target):
    return None
  curves = (result.val_metrics if task.held_out else result.metrics) or {}
  return tuple(float(v) for v in stats.steps_to_target(
      curves[task.metric][index], result.eval_steps, task.target, mode=task.mode))


def budget_entries(task: Task, name: str, grid: RunResult, rerun: RunResult | None,
                   selected: int | None, *,
                   optimizer: OptimizerSpec | None = None) -> list[Entry]:
  """``name``'s entries: one-shot (its published default, always on the grid) and, if a
  rate was selected, tuned (the rerun on fresh seeds, or the grid's selected run).
  ``optimizer``: a factory trained under the label ``name``.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> grid, rerun, selected = train_budget(task, "sgd", [0.1, 0.45, 0.001], "tuned",
    ...                                      seeds=2, steps=20)
    >>> for e in budget_entries(task, "sgd", grid, rerun, selected):
    ...   print(e.budget, e.lr, e.first_seed, e.selected_on)
    one-shot 0.001 0 published default
    tuned 0.45 2 final objective (no held-out set)
  """
  optimizer = name if optimizer is None else optimizer
  default = registry.one_shot_lr(optimizer)
  one_shot = next(i for i, v in enumerate(grid.lrs) if _same_lr(v, default))
  held = "validation split" if task.held_out else "final objective (no held-out set)"
  given = "published default" if isinstance(optimizer, str) else (
      f"no published default here: {default:g}")
  entries = [make_entry(task, name, "one-shot", grid, one_shot, given)]
  if rerun is not None:
    entries.append(make_entry(task, name, "tuned", rerun, 0, held))
  elif selected is not None:
    entries.append(make_entry(task, name, "tuned", grid, selected, held))
  return entries


def search_entry(task: Task, name: str, found: runs.SearchResult) -> Entry:
  """The search budget's :class:`~optax_survey.harness.results.Entry` of ``name``: the
  median over studies of each study's selected trial rerun on fresh seeds (its interval
  over seeds), with every study's number beside it (``study_means``).  With an even
  number of studies the median study is the better of the middle two; a study whose
  rerun diverged counts as the worst.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> found = runs.run_search(task, "sgd", trials=4, studies=3, steps=20, seeds=2)
    >>> entry = search_entry(task, "sgd", found)
    >>> entry.budget, len(entry.study_means), list(entry.hparams)
    ('search', 3, ['weight_decay'])
    >>> sorted(entry.study_means)[1] == entry.ci.mean  # the median study's
    True
  """
  finals = found.rerun.final_values(task.metric)  # [studies, seeds]
  with np.errstate(invalid="ignore"):
    means = np.where(np.isfinite(finals).all(axis=1), finals.mean(axis=1), np.nan)
  worst = np.inf if task.mode == "min" else -np.inf
  order = np.argsort(np.where(np.isfinite(means), means, worst) * (1 if task.mode == "min"
                                                                   else -1), kind="stable")
  study = int(order[(len(means) - 1) // 2])
  held = "validation split" if task.held_out else "final objective (no held-out set)"
  rule = "fewest steps to target" if found.select == "time-to-target" else "final value"
  pruned = ("" if found.pruner is None
            else f", successive halving (reduction {found.reduction})")
  entry = make_entry(task, name, "search", found.rerun, study,
                     f"{held} ({rule}): median of {found.studies} studies of "
                     f"{found.trials} trials{pruned}")
  hparams = {k: float(np.asarray(v)[study]) for k, v in (found.rerun.hparams or {}).items()}
  return dataclasses.replace(entry, hparams=hparams, study_means=tuple(float(m) for m in means))


def grid_rows(task: Task, result: RunResult, *, selected: int | None) -> list[dict]:
  """One row per learning rate of ``result``: validation and test intervals over seeds.

  A trial a pruned search stopped (``result.stopped``) is reported at the step it
  stopped, which ``"pruned_at"`` gives (None for a trial that trained every step; only
  a pruned search's rows have it), and
  ``"diverged"`` counts the seeds that diverged by then: stopped is not diverged.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> grid, rerun, selected = train_budget(task, "sgd", [0.1, 0.45, 0.001], "tuned",
    ...                                      seeds=2, steps=20)
    >>> [(row["lr"], row["selected"]) for row in grid_rows(task, grid, selected=selected)]
    [(0.1, False), (0.45, True), (0.001, False)]
  """
  rows = []
  test = result.stop_values(task.metric)
  val = (result.stop_values(task.metric, split="validation")
         if result.val_metrics is not None else None)
  stopped = (np.full(len(result.lrs), result.steps) if result.stopped is None
             else np.asarray(result.stopped))
  for i, lr in enumerate(result.lrs):
    t = stats.bootstrap_ci(test[i])
    v = stats.bootstrap_ci(val[i]) if val is not None else None
    rows.append({
        "task": task.name, "optimizer": result.optimizer, "lr": lr, "seeds": result.seeds,
        "first_seed": result.seed_offset, "steps": result.steps, "metric": task.metric,
        "mode": task.mode, "test": list(t), "validation": list(v) if v is not None else None,
        "diverged": int((~np.isfinite(test[i])).sum()), "selected": i == selected,
        "values": test[i].tolist(),
    })
    if result.stopped is not None:  # a pruned search's trial
      rows[-1]["pruned_at"] = int(stopped[i]) if stopped[i] < result.steps else None
    if result.hparams is not None:  # a search's trial
      rows[-1]["hparams"] = {k: float(np.asarray(v)[i]) for k, v in result.hparams.items()}
  return rows


def edge_notes(grid: Mapping[str, RunResult], entries: Sequence[Entry]) -> list[str]:
  """A note for each optimizer whose selected rate is the smallest or the largest it ran:
  its best rate may lie outside the grid, so its tuned number may be an underestimate.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> grid, rerun, selected = train_budget(task, "sgd", [0.1, 0.45, 0.001], "tuned",
    ...                                      seeds=2, steps=20)
    >>> entries = budget_entries(task, "sgd", grid, rerun, selected)
    >>> print(edge_notes({"sgd": grid}, entries)[0])  # doctest: +ELLIPSIS
    sgd's selected rate 0.45 is the largest it ran: its best rate may lie beyond the grid ...
  """
  notes = []
  for e in entries:
    if e.budget != "tuned":
      continue
    lrs = grid[e.optimizer].lrs
    if len(lrs) < 2 or min(lrs) < e.lr < max(lrs):
      continue
    end = "largest" if e.lr == max(lrs) else "smallest"
    notes.append(f"{e.optimizer}'s selected rate {e.lr:.3g} is the {end} it ran: its best "
                 "rate may lie beyond the grid (pass a wider lr_grid / --lr-grid).")
  return notes


def factory_notes(task: Task, chosen: Mapping[str, OptimizerSpec]) -> list[str]:
  """A note for each optimizer given as a factory: it has no published default here,
  so its one-shot rate (and, unless the task names one, its grid's centre) is 1e-3.

  Example:
    >>> import optax
    >>> from optax_survey.harness.tasks import get_task
    >>> notes = factory_notes(get_task("quadratic"), {"adam": "adam", "lion": optax.lion})
    >>> print(notes[0])  # doctest: +ELLIPSIS
    lion has no published default learning rate here: its one-shot rate and the centre ...
  """
  notes = []
  for label, spec in chosen.items():
    if isinstance(spec, str):
      continue
    rate = registry.FACTORY_LR
    if label in task.lrs:
      where = (f"its one-shot rate is {rate:g} and its grid is centred on Task.lrs: "
               f"{task.lrs[label]:g}")
    else:
      where = (f"its one-shot rate and the centre of its grid are {rate:g} (give "
               f"Task.lrs[{label!r}] to centre the grid elsewhere)")
    notes.append(f"{label} has no published default learning rate here: {where}.")
  return notes


def pruning_notes(grid: Mapping[str, RunResult]) -> list[str]:
  """A note for each optimizer whose search was pruned (``RunResult.stopped``): how many
  trials stopped at which steps, and the run-steps its trials trained of those they
  would have trained unpruned.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> found = runs.run_search(get_task("quadratic"), "sgd", trials=6, studies=1, steps=30,
    ...                         seeds=1, pruner="halving")
    >>> print(pruning_notes({"sgd": found.grid})[0])  # doctest: +NORMALIZE_WHITESPACE
    sgd's search was pruned by successive halving: 5 of its 6 trials stopped early (4 at
    step 3, 1 at step 9; never selected); its trials trained 51 of the 180 run-steps they
    would have unpruned (72% saved).
  """
  notes = []
  for name, result in grid.items():
    if result.stopped is None:
      continue
    stopped = np.asarray(result.stopped)
    early = stopped[stopped < result.steps]
    at = ", ".join(f"{int((early == s).sum())} at step {s}" for s in np.unique(early))
    trained = int(stopped.sum()) * result.seeds
    unpruned = len(stopped) * result.seeds * result.steps
    notes.append(f"{name}'s search was pruned by successive halving: {len(early)} of its "
                 f"{len(stopped)} trials stopped early ({at or 'none'}; never selected); its "
                 f"trials trained {trained:,} of the {unpruned:,} run-steps they would have "
                 f"unpruned ({1 - trained / unpruned:.0%} saved).")
  return notes


def comparison_notes(task: Task, grid: Mapping[str, RunResult],
                     entries: Sequence[Entry]) -> list[str]:
  """The sentences a comparison's table needs: a deterministic task and identical rows
  (:func:`~optax_survey.harness.analysis.diagnostics.comparison_notes`), rates selected at
  the grid's edge (:func:`edge_notes`), a task without held-out data.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> grid, rerun, selected = train_budget(task, "sgd", [0.1, 0.45, 0.001], "tuned",
    ...                                      seeds=2, steps=20)
    >>> notes = comparison_notes(task, {"sgd": grid},
    ...                          budget_entries(task, "sgd", grid, rerun, selected))
    >>> print(notes[-1])  # doctest: +ELLIPSIS
    quadratic has no held-out set: the tuned budget selects the learning rate on the final ...
  """
  notes = diagnostics.comparison_notes(task, list(grid.values()))
  notes += edge_notes(grid, entries) + pruning_notes(grid)
  if not task.held_out:
    notes.append(f"{task.name} has no held-out set: the tuned budget selects the learning "
                 "rate on the final objective of the grid's seeds and reports it on fresh seeds.")
  return notes


def compare(
    task: Task | str,
    optimizers: str | Sequence[Any] | Mapping[str, Any] = DEFAULT_OPTIMIZERS,
    *,
    budget: str = "tuned",
    lr_grid: Sequence[float | str] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    out: str | None = None,
    plot: bool = True,
    progress: bool = True,
    prefix: str = "",
    log_dir: str | None = None,
    mesh: Any = None,
    layout: str | int = "auto",
    max_parallel_runs: int | None = None,
    device_memory: int | None = None,
    resume: bool = False,
    runs_dir: str | None = None,
    checkpoint_every: float = checkpoints.CHECKPOINT_EVERY,
    trials: int = 15,
    studies: int = 3,
    trial_seeds: int = 1,
    schedule: str = "constant",
    sequence: str = "halton",
    space: Mapping[str, Mapping[str, Any]] | None = None,
    select: str = "final",
    pruner: str | None = None,
    reduction: int = runs.REDUCTION,
    minima: bool = False,
) -> Comparison:
  """Trains each optimizer on ``task`` at ``budget`` and summarises the runs.

  Args:
    task: a :class:`~optax_survey.harness.Task`, the name of one of the survey's
      tasks (built once, here), or ``"my_module:make_task"`` /
      ``"path/to/file.py:make_task"`` (:func:`~optax_survey.harness.tasks.load_task`).
    optimizers: names from :data:`~optax_survey.harness.registry.OPTIMIZERS`
      (``["all"]``: every one), or any optax optimizer: ``"optax.NAME"``,
      ``"MODULE:FUNCTION"`` or a callable ``learning_rate ->
      optax.GradientTransformation`` (``optax.lion``, your own ``optax.chain``), in a
      list (a callable is labelled by its ``__name__``), alone, or in a mapping
      ``label -> any of these`` (labelled as given in the table, files and plots).
    budget: ``"tuned"`` (select each optimizer's learning rate from ``lr_grid``
      on the validation split, report the test metric rerun on fresh seeds; the
      one-shot numbers come with it), ``"one-shot"`` (published defaults only) or
      ``"search"`` (``studies`` quasi-random searches of ``trials`` points over each
      optimizer's declared search space, :func:`~optax_survey.harness.runs.run_search`:
      the median study's selected trial rerun on fresh seeds, every study's number
      beside it).
    lr_grid: the learning rates of the tuned budget, the same for every optimizer
      (default: :func:`default_grid` around ``task.lr_for(optimizer)``).
    seeds: seeds per reported number (default: the task's, 5 for the survey's).
    steps: training steps (default: the task's).
    out: if given, the folder for ``results.csv``, ``results.json`` and the PNGs
      (checked before training).
    plot: write the PNGs (matplotlib) when ``out`` is given.
    progress: show a progress bar on stderr (needs tqdm).
    prefix: prefix of the written files' names.
    log_dir: if given, every run's curves are written there as TensorBoard
      scalars, each optimizer's as soon as its program has finished
      (:mod:`~optax_survey.harness.render.tensorboard`; needs tensorboardX).
    mesh: the devices the runs are sharded over (axis ``"runs"``): None or ``"all"``
      (every device JAX sees), a count, or a :class:`jax.sharding.Mesh`
      (:func:`~optax_survey.harness.layout.make_mesh`).
    layout: ``"auto"`` (as many runs per call as fit, or one per device where that
      measured faster: a CPU network task), ``"vmap"``, ``"loop"`` or a number of
      runs per call (:func:`~optax_survey.harness.layout.plan`).  Results are the
      same whatever the layout, to float32 round-off.
    max_parallel_runs: the most runs trained at once (default: as many as fit the
      device memory, read from the compiled program).
    device_memory: the bytes a device may use for the runs (default: what it
      reports; on a CPU, the host's available memory).
    resume: take each optimizer whose runs ``runs_dir`` already holds from there (if
      they were made by the same call: task, grid, seeds, steps, budget, versions;
      else a one-line error), and continue an unfinished one from its checkpoint.
    runs_dir: where each optimizer's runs are kept as they finish, and the unfinished
      one's checkpoints every ``checkpoint_every`` seconds and at SIGINT/SIGTERM
      (:mod:`~optax_survey.harness.checkpoints`); default ``<out>/runs`` when ``out``
      is given, else nothing is kept.
    checkpoint_every: seconds between checkpoints of an optimizer in training.
    trials: the search budget's points per study.
    studies: the search budget's independent studies (different scrambles).
    trial_seeds: the seeds each trial of the search trains on (default 1, as AlgoPerf's
      and Schmidt et al.'s trials); the selected trials rerun on ``seeds`` fresh ones.
    schedule: the search budget's learning-rate schedule, ``"constant"`` or
      ``"warmup_cosine"`` (optax's warm-up + cosine decay; the warm-up fraction searched).
    sequence: the search budget's sequence, ``"halton"`` or ``"sobol"``.
    space: the search budget's spaces ``{optimizer label: {hyperparameter:
      search.Range}}`` replacing the declared ones
      (:data:`~optax_survey.harness.search.SEARCH_SPACES`; a factory's space is its
      rate alone); ``"lr"`` in a space replaces the rate's range.
    select: the search budget's selection: ``"final"`` (the best final validation
      value) or ``"time-to-target"`` (the fewest steps to ``Task.target`` on the
      validation curves, AlgoPerf's time to result).  With a target, the search
      budget's entries report steps to target either way.
    pruner: the search budget's pruner: None, or ``"halving"`` (successive halving: the
      worse trials of each study stop at each rung, by validation,
      :func:`~optax_survey.harness.runs.run_search`; a note says what it saved).
    reduction: the halving pruner's reduction factor, an integer >= 2 (each rung keeps
      ``1 / reduction`` of the trials).
    minima: measure the minima the reported runs reach
      (:mod:`~optax_survey.harness.analysis.minima`: the sharpness of the training
      loss, raw, preconditioned and scale-invariant, its Hessian's trace, and the
      generalization gap with ``Task.evaluate_train``), per optimizer and seed, into
      :attr:`Comparison.minima`; the tuned or search budget on a task with seed noise
      (its reruns are the reported runs).

  Returns:
    A :class:`Comparison`.

  Raises:
    HarnessError: before any training, one line naming the argument: a
      ``BadInputError`` (``ValueError``) for an unknown optimizer or budget, a bad
      grid or count; a ``TaskError`` (``ValueError``) for an unknown or malformed
      task (no validation split, a loss that is not a scalar, an ``evaluate``
      without ``metric``); a ``BadTypeError`` (``TypeError``) for a task that is
      not a Task or a count that is not an int; ``MissingExtraError``
      (``ImportError``) for a missing optional package; ``OutputDirError``
      (``OSError``) for an unusable ``out``; ``DeviceMemoryError`` (``MemoryError``)
      when one run does not fit a device, found from the compiled program before it
      trains.
    Interrupted: (a ``KeyboardInterrupt``) SIGINT or SIGTERM with ``runs_dir``: the
      message says what was kept and how to resume.

  Example, on the survey's separable least-squares problem (a few steps):

  >>> result = compare("wilson-separable", ["sgdm", "adam"], seeds=2, steps=20,
  ...                  progress=False)
  >>> [e.optimizer for e in result.entries_at("tuned")]
  ['sgdm', 'adam']
  >>> result.entry("adam", "one-shot").lr
  0.001
  """
  chosen = registry.choose_optimizers(optimizers)
  names = list(chosen)
  preflight.check_budget(budget)
  n_seeds = preflight.check_count("seeds", seeds)
  n_steps = preflight.check_count("steps", steps)
  lr_grid = preflight.check_lr_grid(lr_grid)
  check_task_spec(task)
  where = preflight.check_execution(mesh, layout, max_parallel_runs, device_memory)
  preflight.require_extras(plot=plot and out is not None, progress=progress,
                           tensorboard=log_dir is not None)
  runs_dir = runs_dir or (os.path.join(out, "runs") if out is not None else None)
  if resume and runs_dir is None:
    raise BadInputError("resume continues the runs kept in an output folder: pass out (or "
                        "runs_dir) too", argument="resume")
  if not 0 <= checkpoint_every < math.inf:
    raise BadInputError(f"checkpoint_every must be a number of seconds >= 0, got "
                        f"{checkpoint_every}", argument="checkpoint_every")
  searching = _check_search(budget, names, trials=trials, studies=studies,
                            trial_seeds=trial_seeds, schedule=schedule, sequence=sequence,
                            space=space, select=select, pruner=pruner,
                            reduction=reduction)
  if minima and budget == "one-shot":
    raise BadInputError("minima are measured on the tuned or search budget's reruns on "
                        "fresh seeds: pass budget='tuned' or 'search'", argument="minima")
  with preflight.no_empty_folder_left(out, runs_dir, log_dir):
    return _compare(task, chosen, names, budget=budget, n_seeds=n_seeds, n_steps=n_steps,
                    lr_grid=lr_grid, out=out, plot=plot, progress=progress, prefix=prefix,
                    log_dir=log_dir, where=where, resume=resume, runs_dir=runs_dir,
                    checkpoint_every=checkpoint_every, searching=searching,
                    minima=minima)


def _check_search(budget: str, names: Sequence[str], *, trials, studies, trial_seeds,
                  schedule, sequence, space, select, pruner, reduction) -> dict | None:
  """The search budget's settings, checked before training (None for another budget;
  a search setting given with another budget is refused, not ignored)."""
  if budget != "search":
    values = {"trials": trials, "studies": studies, "trial_seeds": trial_seeds,
              "schedule": schedule, "sequence": sequence, "space": space, "select": select,
              "pruner": pruner, "reduction": reduction}
    given = [k for k, v in values.items() if v != SEARCH_DEFAULTS[k]]
    if given:
      raise BadInputError(f"{', '.join(given)} set the search budget: pass budget='search' "
                          f"(--budget search), or leave {'it' if len(given) == 1 else 'them'} "
                          "out", argument=given[0])
    return None
  preflight.require_extras(search=True)
  trials, studies, trial_seeds = (preflight.check_count(k, v) for k, v in (
      ("trials", trials), ("studies", studies), ("trial_seeds", trial_seeds)))
  if schedule not in search.SCHEDULES:
    raise BadInputError(f"schedule must be one of {', '.join(search.SCHEDULES)}, got "
                        f"{schedule!r}", argument="schedule")
  if select not in runs.SELECTIONS:
    raise BadInputError(f"select must be one of {', '.join(runs.SELECTIONS)}, got "
                        f"{select!r}", argument="select")
  if sequence not in search.SEQUENCES:
    raise BadInputError(f"sequence must be one of {', '.join(search.SEQUENCES)}, got "
                        f"{sequence!r}", argument="sequence")
  pruner, reduction = runs.check_pruner(pruner, reduction)
  spaces = {}
  for label, given in (space or {}).items():
    if label not in names:
      raise BadInputError(f"space names {label!r}, which is not among the optimizers "
                          f"({', '.join(names)})", argument="space")
    spaces[label] = search.check_space(given)
  return {"trials": trials, "studies": studies, "trial_seeds": trial_seeds,
          "schedule": schedule, "sequence": sequence, "space": spaces, "select": select,
          "pruner": pruner, "reduction": reduction}


def _search_fingerprint(searching: dict, name: str) -> dict:
  """What a search adds to an optimizer's fingerprint: its settings and its space."""
  space = searching["space"].get(name)
  return {"trials": searching["trials"], "studies": searching["studies"],
          "trial_seeds": searching["trial_seeds"], "schedule": searching["schedule"],
          "sequence": searching["sequence"], "select": searching["select"],
          "space": None if space is None else {k: list(r) for k, r in space.items()},
          "pruner": searching["pruner"], "reduction": searching["reduction"]}


def search_run_steps(task: Task, searching: dict, *, steps: int, seeds: int) -> int:
  """The run-steps one optimizer's search trains: every study's trials (to their rungs,
  :func:`~optax_survey.harness.runs.halving_rungs`, with the halving pruner; which raises
  a ``BadInputError`` when the task's evaluations hold fewer than 2) and the reruns.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> settings = {"trials": 15, "studies": 3, "trial_seeds": 1, "pruner": "halving",
    ...             "reduction": 3}
    >>> search_run_steps(get_task("digits-mlp"), settings, steps=400, seeds=5)
    10680

  (rungs at steps 40, 120, 400: per study 15 x 40 + 5 x 80 + 2 x 280 = 1560 trial
  run-steps of 6000 unpruned, and 5 x 400 for the rerun)
  """
  trials = searching["trials"]
  if searching["pruner"] is None:
    rungs = [(trials, steps)]
  else:
    rungs = runs.halving_rungs(trials, steps, task.eval_points, searching["reduction"])
  trained = sum(alive * (end - before) for (alive, end), (_, before)
                in zip(rungs, [(0, 0), *rungs[:-1]], strict=True))
  return searching["studies"] * (trained * searching["trial_seeds"] + seeds * steps)


def task_config(task: Task, initial_loss: float) -> dict:
  """What a task is, for the fingerprint of its runs: its settings, its parameters'
  shapes and its training loss at seed 0's start (which changes with its data or model).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task_config(get_task("quadratic"), 8.55)["shapes"]
    [[[2], 'float32']]
  """
  shapes = jax.eval_shape(lambda: training.initial_params(task, 0))
  return {
      "name": task.name, "metric": task.metric, "mode": task.mode, "held_out": task.held_out,
      "eval_points": task.eval_points, "lrs": dict(task.lrs), "kind": task.kind,
      "optimizer_kwargs": repr(sorted(task.optimizer_kwargs.items())),
      "schedule": task.schedule is not None, "stateful": task.stateful,
      "shapes": [[list(s.shape), str(s.dtype)] for s in jax.tree.leaves(shapes)],
      "initial_loss": repr(float(np.float32(initial_loss))),
  }


def _runs_tree(grid: RunResult, rerun: RunResult | None, selected: int | None,
               found: runs.SearchResult | None = None) -> dict:
  tree: dict[str, Any] = {"grid": dataclasses.asdict(grid),
                          "rerun": None if rerun is None else dataclasses.asdict(rerun),
                          "selected": selected}
  if found is not None:
    tree["selected"] = [int(i) for i in found.selected]
    tree["search"] = {"studies": found.studies, "trials": found.trials,
                      "select": found.select, "pruner": found.pruner,
                      "reduction": found.reduction,
                      "space": {k: list(r) for k, r in found.space.items()}}
  return tree


def _runs_from_tree(tree: dict) -> tuple[RunResult, RunResult | None, int | None]:
  def result(fields: dict | None) -> RunResult | None:
    return None if fields is None else RunResult(**fields)

  grid = result(tree["grid"])
  assert grid is not None
  return grid, result(tree["rerun"]), tree["selected"]


def _search_from_tree(tree: dict) -> runs.SearchResult:
  grid, rerun, _ = _runs_from_tree(tree)
  assert rerun is not None
  info = tree["search"]
  return runs.SearchResult(grid, rerun, [int(i) for i in tree["selected"]],
                           {k: search.Range(*r) for k, r in info["space"].items()},
                           int(info["studies"]), int(info["trials"]), str(info["select"]),
                           info.get("pruner"), int(info.get("reduction", runs.REDUCTION)))


def _compare(task, chosen, names, *, budget, n_seeds, n_steps, lr_grid, out, plot, progress,
             prefix, log_dir, where, resume, runs_dir, checkpoint_every,
             searching, minima=False) -> Comparison:
  """:func:`compare` after its argument checks (the output folders may be new)."""
  if out is not None:
    preflight.check_output_dir(out)
  if log_dir is not None:
    preflight.check_output_dir(log_dir, argument="log_dir")
  task = check_task(load_task(task) if isinstance(task, str) else task,
                    tuned=budget != "one-shot")
  check_sample_batch(task)
  if minima and task.deterministic:
    raise BadInputError(f"task {task.name!r} is deterministic: its tuned budget has no "
                        "reruns on fresh seeds, whose minima minima=True measures",
                        argument="minima")
  config = task_config(task, check_initial_loss(task))
  n_seeds = task.seeds if n_seeds is None else n_seeds
  n_steps = task.steps if n_steps is None else n_steps
  folder = None
  if runs_dir is not None:
    preflight.check_output_dir(runs_dir, argument="runs_dir")
    folder = checkpoints.RunsFolder(runs_dir, resume=resume, every=checkpoint_every)

  grid: dict[str, RunResult] = {}
  reruns: dict[str, RunResult] = {}
  entries: list[Entry] = []
  rows: list[dict] = []
  if searching is not None:
    rates: dict[str, list[float]] = {name: [] for name in names}  # (the search draws its own)
    per = search_run_steps(task, searching, steps=n_steps, seeds=n_seeds)
    total = per * len(names)
  else:
    rates = {name: learning_rates(task, name, budget, lr_grid, optimizer=chosen[name])
             for name in names}
    total = sum(budget_runs(task, lrs, budget, n_seeds) for lrs in rates.values()) * n_steps
  bar = make_progress(total, task.name, enabled=progress and hosts.is_writer(), unit="run-step")
  execution = runs.Execution(devices=where["mesh"], layout=where["layout"],
                             max_parallel_runs=where["max_parallel_runs"],
                             device_memory=where["device_memory"], announce=bar.write)
  finished: list[str] = []
  signals = (checkpoints.stop_on_signals(folder.stop) if folder is not None
             else contextlib.nullcontext())
  try:
    with signals:
      for name in names:
        bar.set_postfix_str(name)
        spec = chosen[name]
        lrs = rates[name]
        extra: dict[str, Any] = ({} if searching is None
                                 else {"search": _search_fingerprint(searching, name)})
        if minima:  # the reruns keep their final parameters
          extra["minima"] = True
        fp = checkpoints.fingerprint(task=task.name, task_config=config, optimizer=name,
                                     spec=registry.label_of(spec), lrs=lrs, seeds=n_seeds,
                                     steps=n_steps, budget=budget, **extra)
        stored = folder.load(name, fp) if folder is not None else None
        found = None
        if stored is not None:
          grid[name], rerun, selected = _runs_from_tree(stored)
          if searching is not None:
            found = _search_from_tree(stored)
            bar.update(per)
          else:
            bar.update(budget_runs(task, lrs, budget, n_seeds) * n_steps)
        else:
          if folder is not None:
            execution.keep = functools.partial(folder.keeper, name, meta=fp)
          if searching is not None:
            found = runs.run_search(
                task, spec, space=searching["space"].get(name), trials=searching["trials"],
                studies=searching["studies"], trial_seeds=searching["trial_seeds"],
                schedule=searching["schedule"],
                sequence=searching["sequence"], select=searching["select"], steps=n_steps,
                seeds=n_seeds, progress=bar, label=name, execution=execution,
                pruner=searching["pruner"], reduction=searching["reduction"], final=minima)
            grid[name], rerun, selected = found.grid, found.rerun, None
          else:
            grid[name], rerun, selected = train_budget(
                task, name, lrs, budget, seeds=n_seeds, steps=n_steps, progress=bar,
                optimizer=spec, execution=execution, final=minima)
          if folder is not None:
            folder.save(name, fp, _runs_tree(grid[name], rerun, selected, found))
        finished.append(name)
        if rerun is not None:
          reruns[name] = rerun
        if log_dir is not None and hosts.is_writer():
          tensorboard.write_runs(log_dir, grid[name])
          if rerun is not None:
            tensorboard.write_runs(log_dir, rerun, tuned=True)
        if found is not None:
          entries.append(search_entry(task, name, found))
          rows += grid_rows(task, grid[name], selected=None)
        else:
          entries += budget_entries(task, name, grid[name], rerun, selected, optimizer=spec)
          rows += [r for r in grid_rows(task, grid[name], selected=selected)
                   if lr_grid is None or budget == "one-shot"
                   or any(_same_lr(r["lr"], v) for v in lr_grid)]
        if folder is not None and name != names[-1] and hosts.agree_any(bool(folder.stop)):
          raise checkpoints.Interrupted(f"stopped after {name}")
  except checkpoints.Interrupted as stop:
    kept = f"kept in {runs_dir}: " + (", ".join(finished) or "no finished optimizer")
    raise checkpoints.Interrupted(
        f"{folder.stop.signal if folder else 'interrupted'}: {stop}; {kept}; run the same "
        "call again with resume=True (--resume) to continue") from None
  finally:
    bar.close()
  entries = rank_entries(entries, task.mode)
  notes = comparison_notes(task, grid, entries) + factory_notes(task, chosen)
  result = Comparison(task, budget, names, n_seeds, n_steps, grid, reruns, entries, rows, notes)
  if minima:
    result.minima = minima_of(task, {name: result.tuned_run(name) for name in names})
  if out is not None and hosts.is_writer():  # several processes: process 0 writes
    write_files(result, out, plot=plot, prefix=prefix)
  return result
