"""The survey run: every optimizer on every task at two budgets (three with the search
budget), the survey's figures, its claims checked against the seed noise, and a
Markdown results page.

    optax-survey                                    # preset quick, out/survey-quick
    optax-survey survey --preset full --out benchmarks/results   # survey.md + PNGs

:func:`run_survey` is the library function.  Each task is built once and run
through :func:`~optax_survey.harness.protocol.compare` at the tuned budget
(which also yields the one-shot numbers), and with ``search`` at the search budget too
(:data:`SURVEY_SEARCH`); :mod:`~optax_survey.harness.analysis.claims`
checks the claims and :mod:`~optax_survey.harness.analysis.ranking` ranks the
optimizers across tasks.  Everything the page shows is stored in ``survey.json``
first, and the page is rendered from that file alone
(:mod:`~optax_survey.harness.render.page`), so a page regenerated from the
committed JSON is byte-identical to the committed page.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax

from optax_survey.harness import hosts, preflight, registry, runs
from optax_survey.harness.analysis import claims, diagnostics, stats
from optax_survey.harness.analysis.ranking import aggregate, aggregate_groups
from optax_survey.harness.checkpoints import Interrupted
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.protocol import (
    SEARCH_DEFAULTS,
    budget_runs,
    compare,
    learning_rates,
    search_run_steps,
)
from optax_survey.harness.render import figures
from optax_survey.harness.render.page import rerender
from optax_survey.harness.results import Comparison, entries_csv, entries_of, write_json
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import Task, get_task, mnist1d, task_names

__all__ = ["CPU_COST", "PRESETS", "Preset", "check_preset", "cpu_estimate", "end_slopes",
           "gpu_note", "measures_minima", "required_tasks", "run_survey",
           "task_cpu_seconds"]


@dataclasses.dataclass(frozen=True)
class Preset:
  """Which tasks and optimizers a survey runs, with how many seeds and steps.

  Attributes:
    tasks: the tasks' names.
    optimizers: the optimizers' names.
    seeds: seeds per reported number (the tuned budget's rerun uses as many fresh ones).
    steps: training steps per task where they differ from the task's default.
    skipped: tasks left out, with why.
    search: whether the search budget runs too (:data:`SURVEY_SEARCH`).
    for_gpu: meant for a GPU: :func:`run_survey` says so when it starts, with what it
      would take on the CPU that :data:`CPU_COST` was measured on.
  """

  tasks: tuple[str, ...]
  optimizers: tuple[str, ...]
  seeds: int = 5
  steps: Mapping[str, int] = dataclasses.field(default_factory=dict)
  skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)
  search: bool = False
  for_gpu: bool = False


# The search budget's settings in a survey: AlgoPerf's external-tuning study (15
# quasi-random trials, one run each, 3 studies) with its warm-up + cosine schedule; a
# task with its own schedule (Reddi et al.'s alpha / sqrt(t)) keeps it, constant base rate.
SURVEY_SEARCH: dict[str, Any] = {"trials": 15, "studies": 3, "trial_seeds": 1,
                                 "schedule": "warmup_cosine", "select": "final"}


# The quick preset's optimizers: those its claims compare (Figures 1 and 2, Reddi et
# al., Wilson et al.) and AdaBound; the command's main job stays under a minute.
QUICK_OPTIMIZERS = ("sgd", "sgdm", "adam", "amsgrad", "adabound", "lookahead")
# The full preset runs every task.  One optimizer's tuned budget is 8 rates x 5 seeds
# plus 5 fresh seeds (45 runs, one program).  Measured on 2 CPU cores (x86_64): a run's
# step costs 4.3 ms on charlm and 2.7 ms on the MNIST-1D CNN inside that program, which
# compiles in 30 s and 12 s; so these two train fewer steps than their task's default
# (400 and 2000).  With the search budget (15 trials x 3 studies, one run each, + 3 x 5
# reruns: 60 runs an optimizer and task) the full preset measured 67 min on 2 cores with
# little else running (benchmarks/results/survey.md: the tuned and one-shot budgets
# 24 min, the search budget 43 min, the minima's sharpness included), mnist1d-mlp 20 min
# of it at the reference code's 6000 steps (issue 23: it is cheap; 6.6 min at its 500).
# The paper preset (issue 23, "train as the papers trained"): the five network tasks
# (those the page ranks as networks: wilson-separable is a linear model, kept so that the
# networks' ranking has the same tasks as the full preset's), every optimizer, the search
# budget on, at their reference settings, meant for a GPU.  MNIST-1D's MLP and CNN train
# the reference code's 6000 steps at batch 100 (greydanus/mnist1d, notebooks/train.py and
# the paper's benchmark cell).  The others have no reference step count: they train to a
# stated plateau, measured by `python benchmarks/plateau.py` (benchmarks/results/
# plateau.json): Adam and SGDM at their centre rates, constant, 3 seeds, an evaluation
# every 200 steps (wilson-separable 100); the plateau is the first evaluated step after
# which the best validation value so far (mean over seeds) never gains more than 1% of
# its whole gain per 1000 steps over any later stretch, and the preset trains the later
# of the two plateaus rounded up to a whole 1000 steps.  Measured: digits-mlp's accuracy
# flattens at step 800 for both (0.969 and 0.964; 0.976 and 0.969 by step 10,000):
# 1000 steps; charlm's loss at 5000 (Adam, 1.657) and 5600 (SGDM, 1.709), still falling
# 0.01-0.02 nats per 1000 steps at 8000 (1.612, 1.668): 6000 steps; wilson-separable
# at its first evaluation, step 100: 1000 steps, its default.  The targets stay those set
# at the full preset's steps (tasks/targets.json): the time to reach them is the time to
# the CPU budget's result.
PAPER_TASKS = ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "charlm", "wilson-separable")
PAPER_STEPS = {"mnist1d-mlp": mnist1d.PAPER_STEPS, "mnist1d-cnn": mnist1d.PAPER_STEPS,
               "digits-mlp": 1000, "charlm": 6000, "wilson-separable": 1000}
PRESETS = {
    "quick": Preset(("quadratic", "reddi", "wilson-separable"), QUICK_OPTIMIZERS, seeds=5,
                    steps={"quadratic": 200, "reddi": 20_000, "wilson-separable": 500}),
    "full": Preset(tuple(task_names()), tuple(registry.OPTIMIZERS), seeds=5,
                   steps={"mnist1d-mlp": mnist1d.PAPER_STEPS, "mnist1d-cnn": 300,
                          "digits-mlp": 400, "charlm": 100, "reddi-stochastic": 100_000},
                   search=True),
    "paper": Preset(PAPER_TASKS, tuple(registry.OPTIMIZERS), seeds=5, steps=PAPER_STEPS,
                    skipped={"the test functions (2-D and online)": "no reference training "
                             "setting; the quick and full presets run them"},
                    search=True, for_gpu=True),
}
# What the network tasks cost, measured by `python benchmarks/preset_cost.py`
# (benchmarks/results/preset_cost.json: its "cost") on this project's 2-core x86_64 CPU,
# jax 0.10.2, with other work sharing the CPU (load average 4.7 before, 5.1 after):
# per task and budget, Adam's seconds besides training the first time (compiling, the
# "auto" layout's timing) and the next (compiling), and its seconds per run-step of
# training; every optimizer is costed as Adam.  Against the committed full survey's
# measured seconds on these tasks (every optimizer, the minima included; preset_cost.json's
# "against_full_survey") the estimate reads 3915 s for 3645 s: under on charlm (1000 for
# 1205) and the CNN (702 for 885), over on the MLP (1855 for 1173).
CPU_COST_TASKS = PAPER_TASKS
CPU_COST: dict[str, dict[str, tuple[float, float, float]]] = {
    "mnist1d-mlp": {"tuned": (44.71, 8.99, 0.0001491), "search": (31.18, 7.38, 0.0001294)},
    "mnist1d-cnn": {"tuned": (32.85, 5.67, 0.0007839), "search": (45.96, 7.88, 0.000674)},
    "digits-mlp": {"tuned": (19.39, 4.64, 3.766e-05), "search": (20.3, 6.02, 4.232e-05)},
    "charlm": {"tuned": (83.19, 18.6, 0.001056), "search": (119.28, 15.97, 0.001158)},
    "wilson-separable": {"tuned": (2.74, 2.22, 1.275e-05), "search": (2.8, 2.51, 1.114e-05)},
}
CPU_COST_MACHINE = "a 2-core x86_64 CPU"


def _steps_of(spec: Preset, task: Task, steps_scale: float) -> int:
  """The steps ``task`` trains in ``spec``, scaled (at least 2)."""
  return max(2, int(round(spec.steps.get(task.name, task.steps) * steps_scale)))


def task_cpu_seconds(task: Task, steps: int, *, optimizers: Sequence[str], seeds: int,
                     search: bool, cost: Mapping[str, Any] | None = None) -> float:
  """Seconds a survey spends on ``task`` on the CPU that ``cost`` (default
  :data:`CPU_COST`) was measured on: per budget, the first optimizer's fixed seconds,
  every further optimizer's, and each run-step the budget trains at the measured rate.

  Args:
    task: a task with a measured cost.
    steps: its training steps.
    optimizers: the optimizers' names.
    seeds: seeds per reported number.
    search: whether the search budget runs too.
    cost: ``{task: {budget: (first, each, per_run_step)}}`` seconds.

  Returns:
    The estimated seconds (the claims' diagnostics, the minima's sharpness and the
    figures not counted).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> cost = {"digits-mlp": {"tuned": (10.0, 5.0, 1e-4)}}
    >>> task_cpu_seconds(get_task("digits-mlp"), 1000, optimizers=["adam", "sgdm"],
    ...                  seeds=5, search=False, cost=cost)
    23.5

  (10 + 5 s, and (40 + 45) runs x 1000 steps x 1e-4 s: Adam's published rate is on its
  grid, SGDM's is added to it.)
  """
  measured = (CPU_COST if cost is None else cost)[task.name]
  searching = {**SEARCH_DEFAULTS, **SURVEY_SEARCH}
  total = 0.0
  for budget in ("tuned", "search") if search else ("tuned",):
    first, each, per_run_step = measured[budget]
    if budget == "tuned":
      run_steps = steps * sum(budget_runs(task, learning_rates(task, o, "tuned"), "tuned", seeds)
                              for o in optimizers)
    else:
      run_steps = len(optimizers) * search_run_steps(task, searching, steps=steps, seeds=seeds)
    total += first + (len(optimizers) - 1) * each + run_steps * per_run_step
  return total


def cpu_estimate(preset: str, *, seeds: int | None = None, steps_scale: float = 1.0,
                 search: bool | None = None, optimizers: Sequence[str] | None = None,
                 tasks: Mapping[str, Task] | None = None,
                 cost: Mapping[str, Any] | None = None) -> float | None:
  """Seconds a survey of ``preset`` would take on the CPU that :data:`CPU_COST` was
  measured on (:func:`task_cpu_seconds` over its tasks), or None where a task of it has
  no measured cost (the test functions).

  Args:
    preset: the preset's name.
    seeds, steps_scale, search, optimizers: as :func:`run_survey` takes them.
    tasks: the tasks already built, by name (default: built here).
    cost: the measured costs (default :data:`CPU_COST`).

  Example:
    >>> cpu_estimate("quick") is None  # its test functions' costs were not measured
    True
  """
  spec = check_preset(preset)
  table = CPU_COST if cost is None else cost
  if not set(spec.tasks) <= set(table):
    return None
  searching = spec.search if search is None else bool(search)
  names = list(spec.optimizers if optimizers is None else optimizers)
  total = 0.0
  for name in spec.tasks:
    task = tasks[name] if tasks is not None and name in tasks else get_task(name)
    total += task_cpu_seconds(task, _steps_of(spec, task, steps_scale), optimizers=names,
                              seeds=seeds or spec.seeds, search=searching, cost=table)
  return total


def gpu_note(preset: str, seconds: float | None) -> str:
  """What :func:`run_survey` says when a preset meant for a GPU starts: that it is,
  and ``seconds`` (:func:`cpu_estimate`) as hours on :data:`CPU_COST_MACHINE`.

  Example:
    >>> gpu_note("paper", 7200.0)[:44]
    'The paper preset is meant for a GPU: on a 2-'
  """
  cpu = ("" if seconds is None else
         f"on {CPU_COST_MACHINE} it would take about {seconds / 3600:.1f} h (estimated from "
         "each task's measured compile and per-run-step costs, benchmarks/preset_cost.py); ")
  return (f"The {preset} preset is meant for a GPU: {cpu}JAX runs on "
          f"{jax.default_backend()} here ({jax.device_count()} device(s)); --devices, "
          "--layout and --max-parallel-runs place its runs as in any comparison, and "
          "benchmarks/gpu.sh runs it where a GPU is lent.")


FIGURE_TASK = "quadratic"  # Figures 1 and 2
FIGURE_STEPS = 60
REDDI_TASKS = ("reddi", "reddi-stochastic", "reddi-theorem1")
GALLERY_TASKS = ("rosenbrock", "rastrigin")
SPREAD_TASK = "digits-mlp"


def check_preset(name: str) -> Preset:
  """The preset ``name``, or a ``BadInputError`` naming the choices.

  Example:
    >>> check_preset("quick").optimizers
    ('sgd', 'sgdm', 'adam', 'amsgrad', 'adabound', 'lookahead')
  """
  if name not in PRESETS:
    raise BadInputError(f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}",
                        argument="preset")
  return PRESETS[name]


def required_tasks(preset: str) -> list[str]:
  """The tasks a survey with ``preset`` builds: its tasks and the figures'.

  >>> required_tasks("quick")
  ['quadratic', 'reddi', 'wilson-separable']
  """
  spec = check_preset(preset)
  return list(dict.fromkeys(list(spec.tasks) + [FIGURE_TASK]))


def run_figures(out: str, task: Task,
                seeds: int) -> tuple[list[tuple[str, str]], dict[str, RunResult]]:
  """Survey Figures 1 and 2 on ``task`` (the quadratic): their runs and files."""
  figure_runs = {
      "sgd": runs.run_optimizer(task, "sgd", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.45]),
      "sgdm": runs.run_optimizer(task, "sgdm", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.05]),
      "lookahead": runs.run_optimizer(task, "lookahead", steps=FIGURE_STEPS, seeds=seeds,
                                      lrs=[0.6]),
      "adam": runs.run_optimizer(task, "adam", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.6]),
  }
  path1 = figures.figure1(task, figure_runs["sgd"], figure_runs["sgdm"],
                          os.path.join(out, "figure1_sgd_vs_sgdm.png"), FIGURE_STEPS)
  path2 = figures.figure2(task, figure_runs["lookahead"], figure_runs["adam"],
                          os.path.join(out, "figure2_lookahead.png"), FIGURE_STEPS)
  return ([("Figure 1", os.path.basename(path1)), ("Figure 2", os.path.basename(path2))],
          figure_runs)


def reddi_figure(out: str, comparisons: Mapping[str, Comparison]) -> str | None:
  """x_t and R_t/t of Adam and AMSGrad at their tuned rates on each Reddi setting run."""
  settings = [(comparisons[t].task, {o: comparisons[t].tuned_run(o) for o in ("adam", "amsgrad")})
              for t in REDDI_TASKS if t in comparisons
              and {"adam", "amsgrad"} <= set(comparisons[t].optimizers)]
  if not settings:
    return None
  return figures.reddi(settings, os.path.join(out, "reddi_adam_vs_amsgrad.png"))


def profile_figure(out: str, summary: Mapping[str, Any]) -> str:
  """``out/performance_profile.png`` from ``summary``'s aggregate."""
  agg, optimizers = summary["aggregate"], summary["optimizers"]
  return figures.performance_profiles(
      {b: {o: np.asarray(agg["profile"][b][o]) for o in optimizers}
       for b in ["one-shot"] + [b for b in agg.get("budgets", ("tuned",)) if b != "one-shot"]},
      np.asarray(agg["taus"]), os.path.join(out, "performance_profile.png"),
      n_tasks=len(summary["tasks"]))


def task_figures(out: str, cmp: Comparison) -> list[str]:
  """The PNGs of one task's section (the grid; a 2-D task's trajectories and gallery),
  written into ``out``; their file names."""
  name, task = cmp.task.name, cmp.task
  pngs = [f"{name}_grid.png"]
  cmp.plot(os.path.join(out, pngs[0]))
  if task.kind == "2d":
    shown = [cmp.tuned_run(o) for o in cmp.optimizers]
    pngs.append(f"{name}_trajectories.png")
    figures.trajectories(task, shown, os.path.join(out, pngs[-1]),
                         title=f"{name}: every optimizer at its tuned learning rate "
                               "(first fresh seed)")
    if name in GALLERY_TASKS:
      pngs.append(f"{name}_gallery.png")
      figures.gallery(task, shown, os.path.join(out, pngs[-1]))
  return pngs


def _versions() -> str:
  """jax, optax and the optional packages that are installed, with their versions."""
  import importlib.metadata

  parts = [f"jax {jax.__version__}", f"optax {optax.__version__}"]
  for dist in ("flax", "matplotlib"):
    try:
      parts.append(f"{dist} {importlib.metadata.version(dist)}")
    except importlib.metadata.PackageNotFoundError:
      pass
  return ", ".join(parts)


def _command(preset: str, seeds: int | None, steps_scale: float,
             search: bool | None = None, optimizers: Sequence[str] | None = None) -> str:
  cmd = {"quick": "optax-survey",
         "full": "optax-survey survey --preset full --out benchmarks/results"}.get(
             preset, f"optax-survey survey --preset {preset}")
  if optimizers is not None:
    cmd += f" --optimizers {','.join(optimizers)}"
  if search is not None and search != PRESETS[preset].search:
    cmd += " --search" if search else " --no-search"
  if seeds is not None:
    cmd += f" --seeds {seeds}"
  if steps_scale != 1.0:
    cmd += f" --steps-scale {steps_scale:g}"
  return cmd


def _machine() -> str:
  """Where the survey ran: the CPU, or the accelerators and their host.

  Example:
    >>> import jax
    >>> _machine().endswith("cores)") if jax.default_backend() == "cpu" else True
    True
  """
  host = f"{platform.machine()} CPU ({os.cpu_count()} cores)"
  if jax.default_backend() == "cpu":
    return host
  devices = jax.devices()
  return f"{len(devices)} x {devices[0].device_kind} ({jax.default_backend()}), host {host}"


def _start_value(cmp: Comparison) -> float:
  """The task's metric before training (mean over the grid's seeds, first optimizer)."""
  first = cmp.grid[cmp.optimizers[0]]
  return float(np.nanmean(first.metrics[cmp.task.metric][0, :, 0]))


def _cost(cmp: Comparison, seconds: float) -> dict:
  """What ``cmp``'s budget cost: its runs, their steps and its wall seconds."""
  n = sum(len(r.lrs) * r.seeds for r in list(cmp.grid.values()) + list(cmp.reruns.values()))
  return {"runs": n, "run_steps": n * cmp.steps, "seconds": seconds}


def end_slopes(cmp: Comparison, *, fraction: float = 1 / 3, per: int = 1000) -> dict:
  """How far from convergence each optimizer's reported runs stop on ``cmp``'s task: the
  slope of the validation curve (the objective itself without held-out data) over the
  last ``fraction`` of training (:func:`~optax_survey.harness.analysis.stats.end_slope`),
  per ``per`` steps, with its mean and 95% bootstrap interval over the runs' seeds.

  The runs are those behind each entry of ``cmp``'s budget
  (:meth:`~optax_survey.harness.results.Comparison.tuned_run`: the tuned budget's rerun
  on fresh seeds, the search budget's median study's).

  Args:
    cmp: a comparison at the tuned or the search budget.
    fraction: the part of training the slope is fitted over.
    per: the slope's step unit.

  Returns:
    ``{"metric", "split", "per_steps", "from_step", "to_step", "evaluations",
    "optimizers": {name: [mean, lo, hi]}}``, the slope in the metric's units (its sign
    the metric's: for a loss, improving is negative).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> cmp = compare(get_task("quadratic"), ["sgd", "adam"], seeds=2, steps=30,
    ...               progress=False)
    >>> slopes = end_slopes(cmp)
    >>> slopes["split"], slopes["from_step"], slopes["to_step"], sorted(slopes["optimizers"])
    ('final', 21, 30, ['adam', 'sgd'])
  """
  task = cmp.task
  out: dict[str, Any] = {"metric": task.metric,
                         "split": "validation" if task.held_out else "final",
                         "per_steps": per, "optimizers": {}}
  for name in cmp.optimizers:
    run = cmp.tuned_run(name)
    window = stats.end_window(run.eval_steps, fraction=fraction)
    out.update(from_step=int(run.eval_steps[window[0]]), to_step=int(run.eval_steps[-1]),
               evaluations=int(window.size))
    curves = (run.val_metrics if task.held_out else run.metrics) or {}
    slopes = stats.end_slope(curves[task.metric][0], run.eval_steps, fraction=fraction,
                             per=per)
    out["optimizers"][name] = list(stats.bootstrap_ci(slopes))
  return out


def _task_record(cmp: Comparison, seconds: float, pngs: list[str],
                 searched: Comparison | None = None, search_seconds: float = 0.0,
                 schedule: str | None = None) -> dict:
  """A task's record in ``survey.json``: its settings, every entry (the search budget's
  too: its trials' rows are left out), what each budget cost, how far from convergence
  each budget's reported runs stop (:func:`end_slopes`), notes and figures."""
  t = cmp.task
  entries = cmp.entries + (searched.entries if searched is not None else [])
  cost = {"tuned": _cost(cmp, seconds)}
  if searched is not None:
    cost["search"] = _cost(searched, search_seconds)
  record: dict[str, Any] = {
      "description": t.description, "metric": t.metric, "mode": t.mode,
      "held_out": t.held_out, "deterministic": t.deterministic, "kind": t.kind,
      "steps": cmp.steps, "seeds": cmp.seeds, "seconds": seconds + search_seconds,
      "grid_points": len(cmp.grid[cmp.optimizers[0]].lrs),
      "entries": [e.to_dict() for e in entries],
      "rows": cmp.rows, "notes": cmp.notes, "start": _start_value(cmp), "figures": pngs,
      "target": t.target if math.isfinite(t.target) else None,
      "cost": cost,
      "end_slope": {"tuned": end_slopes(cmp)},
  }
  if searched is not None:
    record["end_slope"]["search"] = end_slopes(searched)
    record["search_schedule"] = schedule
    record["notes"] = cmp.notes + [n for n in searched.notes if n not in cmp.notes]
  minima = {b: c.minima for b, c in (("tuned", cmp), ("search", searched))
            if c is not None and c.minima}
  if minima:
    record["minima"] = minima
  return record


def measures_minima(task: Task) -> bool:
  """Whether the survey measures the minima of ``task``'s reported runs: a network task
  with its training split measured (``Task.evaluate_train``) and seed noise (reruns).

  Example:
    >>> measures_minima(get_task("digits-mlp")), measures_minima(get_task("rosenbrock"))
    (True, False)
  """
  return task.kind == "nn" and task.evaluate_train is not None and not task.deterministic


def _spread(cmp: Comparison) -> tuple[dict, dict, str, int] | None:
  if not {"adam", "adabound"} <= set(cmp.optimizers):
    return None
  lrs, values = {}, {}
  for name in ("adabound", "adam"):
    lrs[name] = cmp.entry(name, "tuned").lr
    values[name] = diagnostics.final_step_size_spread(
        cmp.task, name, lrs[name], steps=cmp.steps, seeds=cmp.seeds, seed_offset=cmp.seeds)
  return values, lrs, cmp.task.name, cmp.steps


def _light(cmp: Comparison) -> None:
  """Drops what no claim or figure needs: the per-step paths of the data tasks, and
  on the long online tasks every per-step record but Adam's and AMSGrad's."""
  for name in cmp.optimizers:
    runs = [cmp.grid[name]] + ([cmp.reruns[name]] if name in cmp.reruns else [])
    for r in runs:
      r.final = None  # (the minima were measured in compare)
      if cmp.task.kind == "nn":
        r.path = r.slow_path = None
      elif cmp.task.kind == "online" and name not in ("adam", "amsgrad"):
        r.path = r.slow_path = None
        r.loss = r.update_norm = np.zeros(r.loss.shape[:2] + (0,), np.float32)


def check_optimizers(spec: Preset, optimizers: Sequence[str] | None) -> tuple[str, ...]:
  """The optimizers a survey of ``spec`` runs: ``optimizers`` (a subset of the preset's,
  in the preset's order), or all of the preset's; a ``BadInputError`` for a name the
  preset lacks.

  Example:
    >>> check_optimizers(check_preset("quick"), ["adam", "sgd"])
    ('sgd', 'adam')
  """
  if optimizers is None:
    return tuple(spec.optimizers)
  names = list(optimizers)
  unknown = [n for n in names if n not in spec.optimizers]
  if unknown or not names:
    raise BadInputError(f"{', '.join(unknown) or 'none'}: not an optimizer of the preset; "
                        f"choose from: {', '.join(spec.optimizers)}", argument="optimizers")
  return tuple(n for n in spec.optimizers if n in names)


def run_survey(preset: str = "quick", out: str | None = None, *, seeds: int | None = None,
               steps_scale: float = 1.0, search: bool | None = None,
               optimizers: Sequence[str] | None = None,
               progress: bool = True, mesh: Any = None,
               layout: str | int = "auto", max_parallel_runs: int | None = None,
               resume: bool = False, checkpoint_every: float = 300.0) -> dict:
  """Runs the survey ``preset`` ("quick" or "full") and writes its page into ``out``.

  Checks the preset, the optional packages and ``out`` before any training
  (raising a one-line :class:`~optax_survey.harness.errors.HarnessError`), builds each
  task once, runs every optimizer at both budgets (and the search budget with
  ``search``: :data:`SURVEY_SEARCH`), and writes ``survey.json``
  (everything the page shows), ``survey.md`` (rendered from it), ``survey.csv``
  and the PNGs.

  Args:
    preset: "quick" (the command's default), "full" (the committed page) or "paper"
      (the network tasks at their reference settings, meant for a GPU: it says so, and
      what it would take on the CPU of :data:`CPU_COST`, when it starts).
    out: output folder (default ``out/survey-PRESET``).
    seeds: seeds per reported number (default: the preset's, 5).
    steps_scale: multiplies every task's steps (e.g. 0.1 for a smoke test).
    search: run the search budget too (default: the preset's; the full preset does):
      its column on the page, its time to result, the claims checked again at its
      configurations.
    optimizers: the preset's optimizers to run (default: all of them), e.g. a smoke
      test's few.
    progress: show progress bars.
    mesh, layout, max_parallel_runs: where the runs execute, as in
      :func:`~optax_survey.harness.compare`.
    resume, checkpoint_every: each task's runs are kept in ``out/runs/TASK`` as
      :func:`~optax_survey.harness.compare` keeps them; ``resume`` continues there.

  Returns:
    The summary that ``survey.json`` holds.

  Example: the quick preset at a tenth of its steps, two seeds (a smoke test):

    >>> import contextlib, io, os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # the tables it prints
    ...   summary = run_survey("quick", out, seeds=2, steps_scale=0.1, progress=False)
    >>> sorted(summary["tasks"]), os.path.exists(os.path.join(out, "survey.md"))
    (['quadratic', 'reddi', 'wilson-separable'], True)
  """
  spec = check_preset(preset)
  spec = dataclasses.replace(spec, optimizers=check_optimizers(spec, optimizers))
  preflight.check_positive("steps_scale", steps_scale)
  n_seeds = preflight.check_count("seeds", seeds) or spec.seeds
  out = out or os.path.join("out", f"survey-{preset}")
  preflight.require_extras(plot=True, progress=progress)
  where = preflight.check_execution(mesh, layout, max_parallel_runs)
  searching = spec.search if search is None else bool(search)
  if searching:
    preflight.require_extras(search=True)
  command = _command(preset, seeds, steps_scale, search,
                     None if optimizers is None else spec.optimizers)
  with preflight.no_empty_folder_left(out):
    preflight.check_output_dir(out)
    return _survey(preset, spec, out, n_seeds=n_seeds, steps_scale=steps_scale,
                   searching=searching, command=command, progress=progress, resume=resume,
                   checkpoint_every=checkpoint_every, where=where)


def _survey(preset: str, spec: Preset, out: str, *, n_seeds: int, steps_scale: float,
            searching: bool, command: str, progress: bool, resume: bool,
            checkpoint_every: float, where: Mapping[str, Any]) -> dict:
  """:func:`run_survey` after its checks."""
  tasks = {name: get_task(name) for name in required_tasks(preset)}
  if spec.for_gpu:
    print(gpu_note(preset, cpu_estimate(preset, seeds=n_seeds, steps_scale=steps_scale,
                                        search=searching, optimizers=spec.optimizers,
                                        tasks=tasks)), flush=True)

  start = time.perf_counter()
  comparisons: dict[str, Comparison] = {}
  searched: dict[str, Comparison] = {}
  records: dict[str, dict] = {}
  for name in spec.tasks:
    task = tasks[name]
    steps = _steps_of(spec, task, steps_scale)
    t0 = time.perf_counter()
    try:
      cmp = compare(task, spec.optimizers, budget="tuned", seeds=n_seeds, steps=steps,
                    progress=progress, runs_dir=os.path.join(out, "runs", name),
                    resume=resume, checkpoint_every=checkpoint_every,
                    minima=measures_minima(task), **where)
    except Interrupted as stop:
      done = f"tasks finished: {', '.join(comparisons)}; " if comparisons else ""
      raise Interrupted(f"{done}{name}: {stop}") from None
    print("\n" + cmp.summary(), flush=True)
    seconds = time.perf_counter() - t0
    schedule = None
    if searching:
      t1 = time.perf_counter()
      schedule = SURVEY_SEARCH["schedule"] if task.schedule is None else "constant"
      try:
        searched[name] = compare(
            task, spec.optimizers, budget="search", seeds=n_seeds, steps=steps,
            progress=progress, runs_dir=os.path.join(out, "runs-search", name),
            resume=resume, checkpoint_every=checkpoint_every, minima=measures_minima(task),
            **{**SURVEY_SEARCH, "schedule": schedule}, **where)
      except Interrupted as stop:
        raise Interrupted(f"{name} (search budget): {stop}") from None
      print("\n" + searched[name].summary(), flush=True)
      _light(searched[name])
    pngs = task_figures(out, cmp)
    _light(cmp)
    comparisons[name] = cmp
    records[name] = _task_record(cmp, seconds, pngs, searched.get(name),
                                 time.perf_counter() - t1 if searching else 0.0, schedule)

  figure_runs: dict[str, RunResult] = {}
  extra_figures: list[tuple[str, str]] = []
  if FIGURE_TASK in comparisons:
    extra_figures, figure_runs = run_figures(out, tasks[FIGURE_TASK], n_seeds)
  reddi_path = reddi_figure(out, comparisons)
  if reddi_path:
    extra_figures.append(("Reddi et al. at the tuned rates", os.path.basename(reddi_path)))
  spread = _spread(comparisons[SPREAD_TASK]) if SPREAD_TASK in comparisons else None
  paper_lrs = {n: tasks[n].lr_for("adam") for n in REDDI_TASKS if n in tasks}
  claim_list = claims.all_claims(comparisons, figure_runs=figure_runs,
                                 figure_steps=FIGURE_STEPS, spread=spread, paper_lrs=paper_lrs)
  searched_claims = (claims.all_claims(comparisons, figure_runs=figure_runs,
                                       figure_steps=FIGURE_STEPS, spread=None,
                                       paper_lrs=paper_lrs, at=searched)
                     if searching else [])
  agg = aggregate(records, list(spec.optimizers))
  groups = aggregate_groups(records, list(spec.optimizers))
  total = time.perf_counter() - start

  summary: dict[str, Any] = {
      "format": 2, "preset": preset,
      "command": command,
      "seconds": total, "machine": _machine(),
      "python": platform.python_version(), "versions": _versions(),
      "date": datetime.date.today().isoformat(), "seeds": n_seeds,
      "optimizers": list(spec.optimizers), "tasks": records, "claims": claim_list,
      "aggregate": agg, "groups": groups, "figures": extra_figures, "skipped": dict(spec.skipped),
      "lookahead": registry.survey_setting_text("lookahead"),
  }
  if searching:
    summary["search"] = dict(SURVEY_SEARCH)
    summary["claims_search"] = searched_claims
  if not hosts.is_writer():  # several processes: process 0 writes the page
    return summary
  write_json(summary, os.path.join(out, "survey.json"), indent=1)
  profile_figure(out, summary)
  entries_csv([e for r in records.values() for e in entries_of(r["entries"])],
              os.path.join(out, "survey.csv"))
  path = rerender(out)
  print("\nClaims:")
  for c in claim_list:
    print(f"- {c['claim']}: {c['verdict']}. {c['evidence']}")
  print(f"\nwrote {path}, survey.csv, survey.json and the PNGs in {total:.0f} s")
  return summary
