"""The survey run: every optimizer on every task at two budgets, the survey's figures,
its claims checked against the seed noise, and a Markdown results page.

    optax-survey                                    # preset quick, out/survey-quick
    optax-survey survey --preset full --out benchmarks/results   # survey.md + PNGs

:func:`run_survey` is the library function.  Each task is built once and run
through :func:`~optax_survey.harness.comparison.compare` at the tuned budget
(which also yields the one-shot numbers); :mod:`~optax_survey.harness.claims`
checks the claims and :mod:`~optax_survey.harness.stats` gives the intervals,
ranks and profiles.  Everything the page shows is stored in ``survey.json``
first, and the page is rendered from that file alone (:func:`render_page`,
:func:`rerender`), so a page regenerated from the committed JSON is
byte-identical to the committed page.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import optax

from optax_survey.harness import (
  claims,
  diagnostics,
  plots,
  preflight,
  registry,
  report,
  runner,
  stats,
)
from optax_survey.harness.comparison import BUDGETS, Comparison, compare, rank_entries
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task, get_task, task_names

__all__ = ["PRESETS", "Preset", "aggregate", "render_page", "required_tasks", "rerender",
           "run_survey"]


@dataclasses.dataclass(frozen=True)
class Preset:
  """Which tasks and optimizers a survey runs, with how many seeds and steps.

  Attributes:
    tasks: the tasks' names.
    optimizers: the optimizers' names.
    seeds: seeds per reported number (the tuned budget's rerun uses as many fresh ones).
    steps: training steps per task where they differ from the task's default.
  """

  tasks: tuple[str, ...]
  optimizers: tuple[str, ...]
  seeds: int = 5
  steps: Mapping[str, int] = dataclasses.field(default_factory=dict)
  skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)


# The quick preset's optimizers: those its claims compare (Figures 1 and 2, Reddi et
# al., Wilson et al.) and AdaBound; the command's main job stays under a minute.
QUICK_OPTIMIZERS = ("sgd", "sgdm", "adam", "amsgrad", "adabound", "lookahead")
# The full preset runs every task.  One optimizer's tuned budget is 8 rates x 5 seeds
# plus 5 fresh seeds (45 runs, one program).  Measured on 2 CPU cores (x86_64): a run's
# step costs 4.3 ms on charlm and 2.7 ms on the MNIST-1D CNN inside that program, which
# compiles in 30 s and 12 s; so these two train fewer steps than their task's default
# (400 and 2000) to keep the preset within an hour.
PRESETS = {
    "quick": Preset(("quadratic", "reddi", "wilson-separable"), QUICK_OPTIMIZERS, seeds=5,
                    steps={"quadratic": 200, "reddi": 20_000, "wilson-separable": 500}),
    "full": Preset(tuple(task_names()), tuple(registry.OPTIMIZERS), seeds=5,
                   steps={"mnist1d-mlp": 500, "mnist1d-cnn": 300, "digits-mlp": 400,
                          "charlm": 100, "reddi-stochastic": 100_000}),
}
FIGURE_TASK = "quadratic"  # Figures 1 and 2
FIGURE_STEPS = 60
REDDI_TASKS = ("reddi", "reddi-stochastic", "reddi-theorem1")
GALLERY_TASKS = ("rosenbrock", "rastrigin")
SPREAD_TASK = "digits-mlp"


def _preset(name: str) -> Preset:
  if name not in PRESETS:
    raise preflight.BadInputError(
        f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
  return PRESETS[name]


def required_tasks(preset: str) -> list[str]:
  """The tasks a survey with ``preset`` builds: its tasks and the figures'."""
  spec = _preset(preset)
  return list(dict.fromkeys(list(spec.tasks) + [FIGURE_TASK]))


# ----------------------------------------------------------------- figures


def figure1(out: str, task: Task, seeds: int) -> tuple[str, dict[str, RunResult]]:
  """Survey Figure 1: SGD zig-zags across an ill-conditioned valley, SGDM does not."""
  sgd = runner.run_optimizer(task, "sgd", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.45])
  sgdm = runner.run_optimizer(task, "sgdm", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.05])
  path = plots.trajectories(
      task, [sgd, sgdm], os.path.join(out, "figure1_sgd_vs_sgdm.png"),
      title=f"Survey Fig. 1: f = 0.05x² + 2y², {FIGURE_STEPS} steps, first seed: SGD (lr 0.45) "
            "zig-zags, SGDM (lr 0.05, μ 0.9) does not")
  return path, {"sgd": sgd, "sgdm": sgdm}


def figure2(out: str, task: Task, seeds: int) -> tuple[str, dict[str, RunResult]]:
  """Survey Figure 2: Lookahead's fast weights explore, the slow weights interpolate."""
  plt = plots._plt()
  res = runner.run_optimizer(task, "lookahead", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.6])
  adam = runner.run_optimizer(task, "adam", steps=FIGURE_STEPS, seeds=seeds, lrs=[0.6])
  assert res.path is not None and res.slow_path is not None and adam.path is not None
  fig, ax = plt.subplots(figsize=(8.0, 5.0), layout="constrained")
  plots._contour(ax, task)
  fast, slow = res.path[0, 0], res.slow_path[0, 0]
  k = registry.LOOKAHEAD_ARGS["sync_period"]
  alpha = registry.LOOKAHEAD_ARGS["slow_step_size"]
  ax.plot(adam.path[0, 0, :, 0], adam.path[0, 0, :, 1], color="0.6", lw=0.8, ls="--",
          label="adam alone")
  ax.plot(fast[:, 0], fast[:, 1], color=plots.color("adam"), lw=1.0,
          label="fast weights (inner adam)")
  syncs = slow[::k]
  ax.plot(syncs[:, 0], syncs[:, 1], "o-", color=plots.color("lookahead"), lw=2.0, ms=4,
          label=f"slow weights (every k={k} steps, α={alpha})")
  fig.legend(loc="outside right upper", fontsize=7)
  ax.set_title(f"Survey Fig. 2: Lookahead(adam, lr 0.6) on f = 0.05x² + 2y²,\n{FIGURE_STEPS} "
               "steps, first seed", fontsize=9)
  path = os.path.join(out, "figure2_lookahead.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  return path, {"lookahead": res, "adam": adam}


def reddi_figure(out: str, comparisons: Mapping[str, Comparison]) -> str | None:
  """x_t and R_t/t of Adam and AMSGrad at their tuned rates on each Reddi setting run."""
  settings = [t for t in REDDI_TASKS if t in comparisons
              and {"adam", "amsgrad"} <= set(comparisons[t].optimizers)]
  if not settings:
    return None
  plt = plots._plt()
  fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings) + 1.5, 6.0),
                           squeeze=False, layout="constrained")
  for j, name in enumerate(settings):
    cmp = comparisons[name]
    for opt in ("adam", "amsgrad"):
      res = cmp.tuned_run(opt)
      if res.path is None:
        continue
      p = res.path[0, 0, :, 0]
      label = f"{opt} (tuned α {res.lrs[0]:.3g})"
      idx = np.unique(np.geomspace(1, len(p), 500).astype(int)) - 1
      axes[0, j].plot(idx + 1, p[idx], color=plots.color(opt), label=label)
      loss = res.loss[0, 0].astype(np.float64)
      regret = np.cumsum(loss) / np.arange(1, len(loss) + 1)
      idx = np.unique(np.geomspace(1, len(loss), 500).astype(int)) - 1
      axes[1, j].plot(idx + 1, regret[idx], color=plots.color(opt), label=label)
    e = cmp.task.extra
    axes[0, j].set(xscale="log", ylim=(-1.1, 1.1), ylabel="x_t")
    axes[0, j].set_title(f"{name}: C={e['big']:g}, β1={e['b1']:g}, β2={e['b2']:.3g}, α/√t",
                         fontsize=8)
    axes[0, j].axhline(-1, color="k", ls=":", lw=0.8)
    axes[1, j].set(xscale="log", xlabel="t", ylabel="R_t / t")
    axes[1, j].set_yscale("symlog", linthresh=0.1)
    axes[1, j].legend(fontsize=7, loc="upper right")
  path = os.path.join(out, "reddi_adam_vs_amsgrad.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  return path


# ------------------------------------------------------------- aggregates


def _start_value(cmp: Comparison) -> float:
  """The task's metric before training (mean over the grid's seeds, first optimizer)."""
  first = cmp.grid[cmp.optimizers[0]]
  return float(np.nanmean(first.metrics[cmp.task.metric][0, :, 0]))


def aggregate(tasks: Mapping[str, Mapping[str, Any]], optimizers: Sequence[str]) -> dict:
  """Ranks, mean ranks, performance profiles and how much tuning reorders them.

  Args:
    tasks: per task, its JSON record (``entries``, ``mode``, ``start``).
    optimizers: the optimizers ranked.

  Returns:
    ``{"mean_rank": {budget: {opt: r}}, "ranks": {budget: {task: {opt: r}}},
    "kendall_tau": tau, "profile": {budget: {opt: [rho(tau)]}}, "taus": [...],
    "best_changed": [tasks whose tied-best set differs], "moves": {opt: delta}}``.
  """
  ranks: dict[str, dict[str, dict[str, int]]] = {b: {} for b in BUDGETS}
  dist: dict[str, list[list[float]]] = {b: [] for b in BUDGETS}
  best_sets: dict[str, dict[str, list[str]]] = {b: {} for b in BUDGETS}
  for tname, rec in tasks.items():
    for budget in BUDGETS:
      es = {e["optimizer"]: e for e in rec["entries"] if e["budget"] == budget}
      ranks[budget][tname] = {o: es[o]["rank"] for o in optimizers}
      best_sets[budget][tname] = sorted(o for o in optimizers if es[o]["tied_best"])
    means = {(e["budget"], e["optimizer"]): e["ci"][0] for e in rec["entries"]}
    finite = [m for m in means.values() if m is not None and math.isfinite(m)]
    best = (min if rec["mode"] == "min" else max)(finite) if finite else math.nan
    for budget in BUDGETS:
      dist[budget].append([stats.profile_distance(
          means[(budget, o)] if means[(budget, o)] is not None else math.nan, best,
          rec["start"]) for o in optimizers])
  mean_rank = {b: {o: float(np.mean([ranks[b][t][o] for t in tasks])) for o in optimizers}
               for b in BUDGETS}
  taus = np.geomspace(1e-3, 10.0, 61)
  profile = {b: {o: row.tolist() for o, row in zip(
      optimizers, stats.performance_profile(np.asarray(dist[b]), taus), strict=True)}
      for b in BUDGETS}
  tau = stats.kendall_tau([mean_rank["one-shot"][o] for o in optimizers],
                          [mean_rank["tuned"][o] for o in optimizers])
  return {
      "ranks": ranks, "mean_rank": mean_rank, "kendall_tau": tau, "taus": taus.tolist(),
      "profile": profile, "best_sets": best_sets,
      "best_changed": [t for t in tasks
                       if best_sets["one-shot"][t] != best_sets["tuned"][t]],
      "moves": {o: mean_rank["one-shot"][o] - mean_rank["tuned"][o] for o in optimizers},
      "profile_at": {b: {o: {"0.01": _rho(profile[b][o], taus, 0.01),
                             "0.1": _rho(profile[b][o], taus, 0.1)} for o in optimizers}
                     for b in BUDGETS},
  }


def restat(summary: dict[str, Any]) -> dict[str, Any]:
  """Recomputes, in place, every statistic derived from the stored intervals: each
  task's ranks and ties (:func:`~optax_survey.harness.comparison.rank_entries`) and the
  aggregate (:func:`aggregate`).  The measured values are not touched.

  Returns:
    ``summary``.
  """
  for record in summary["tasks"].values():
    rank_entries(record["entries"], record["mode"])
  summary["aggregate"] = aggregate(summary["tasks"], summary["optimizers"])
  return summary


def write_csv(out: str, summary: Mapping[str, Any]) -> str:
  """``out/survey.csv``: one row per task, optimizer and budget, from ``summary``."""
  path = os.path.join(out, "survey.csv")
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=report.CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in summary["tasks"].values():
      for e in record["entries"]:
        row = {k: e.get(k, "") for k in report.CSV_FIELDS}
        row["mean"], row["ci_lo"], row["ci_hi"] = e["ci"]
        row["values"] = " ".join(f"{v:.9g}" for v in e["values"])
        writer.writerow(row)
  return path


def profile_figure(out: str, summary: Mapping[str, Any]) -> str:
  """``out/performance_profile.png`` from ``summary``'s aggregate."""
  agg, optimizers = summary["aggregate"], summary["optimizers"]
  return plots.performance_profiles(
      {b: {o: np.asarray(agg["profile"][b][o]) for o in optimizers} for b in ("one-shot", "tuned")},
      np.asarray(agg["taus"]), os.path.join(out, "performance_profile.png"),
      n_tasks=len(summary["tasks"]))


def _rho(curve: Sequence[float], taus: np.ndarray, tau: float) -> float:
  i = int(np.searchsorted(taus, tau * (1 + 1e-9), side="right")) - 1
  return float(curve[max(i, 0)])


# ------------------------------------------------------------------- run


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


def _command(preset: str, seeds: int | None, steps_scale: float) -> str:
  cmd = ("optax-survey survey --preset full --out benchmarks/results" if preset == "full"
         else "optax-survey")
  if seeds is not None:
    cmd += f" --seeds {seeds}"
  if steps_scale != 1.0:
    cmd += f" --steps-scale {steps_scale:g}"
  return cmd


def _task_record(cmp: Comparison, seconds: float, figures: list[str]) -> dict:
  t = cmp.task
  return {
      "description": t.description, "metric": t.metric, "mode": t.mode,
      "held_out": t.held_out, "deterministic": t.deterministic, "kind": t.kind,
      "steps": cmp.steps, "seeds": cmp.seeds, "seconds": seconds,
      "grid_points": len(cmp.grid[cmp.optimizers[0]].lrs), "entries": cmp.entries,
      "rows": cmp.rows, "notes": cmp.notes, "start": _start_value(cmp), "figures": figures,
  }


def _spread(cmp: Comparison) -> tuple[dict, dict, str, int] | None:
  if not {"adam", "adabound"} <= set(cmp.optimizers):
    return None
  lrs, values = {}, {}
  for name in ("adabound", "adam"):
    lrs[name] = next(e["lr"] for e in cmp.entries
                     if e["optimizer"] == name and e["budget"] == "tuned")
    values[name] = diagnostics.final_step_size_spread(
        cmp.task, name, lrs[name], steps=cmp.steps, seeds=cmp.seeds, seed_offset=cmp.seeds)
  return values, lrs, cmp.task.name, cmp.steps


def _light(cmp: Comparison) -> None:
  """Drops what no claim or figure needs: the per-step paths of the data tasks, and
  on the long online tasks every per-step record but Adam's and AMSGrad's."""
  for name in cmp.optimizers:
    runs = [cmp.grid[name]] + ([cmp.reruns[name]] if name in cmp.reruns else [])
    for r in runs:
      if cmp.task.kind == "nn":
        r.path = r.slow_path = None
      elif cmp.task.kind == "online" and name not in ("adam", "amsgrad"):
        r.path = r.slow_path = None
        r.loss = r.update_norm = np.zeros(r.loss.shape[:2] + (0,), np.float32)


def run_survey(preset: str = "quick", out: str | None = None, *, seeds: int | None = None,
               steps_scale: float = 1.0, progress: bool = True) -> dict:
  """Runs the survey ``preset`` ("quick" or "full") and writes its page into ``out``.

  Checks the preset, the optional packages and ``out`` before any training
  (raising :class:`~optax_survey.harness.preflight.HarnessError`), builds each
  task once, runs every optimizer at both budgets, and writes ``survey.json``
  (everything the page shows), ``survey.md`` (rendered from it), ``survey.csv``
  and the PNGs.

  Args:
    preset: "quick" (the command's default) or "full" (the committed page).
    out: output folder (default ``out/survey-PRESET``).
    seeds: seeds per reported number (default: the preset's, 5).
    steps_scale: multiplies every task's steps (e.g. 0.1 for a smoke test).
    progress: show progress bars.

  Returns:
    The summary that ``survey.json`` holds.
  """
  spec = _preset(preset)
  if not steps_scale > 0:
    raise preflight.BadInputError(f"steps_scale must be > 0, got {steps_scale}")
  out = out or os.path.join("out", f"survey-{preset}")
  preflight.require_extras(tasks=required_tasks(preset), plot=True)
  preflight.check_output_dir(out)
  tasks = {name: get_task(name) for name in required_tasks(preset)}
  n_seeds = spec.seeds if seeds is None else int(seeds)

  start = time.perf_counter()
  comparisons: dict[str, Comparison] = {}
  records: dict[str, dict] = {}
  for name in spec.tasks:
    task = tasks[name]
    steps = max(2, int(round(spec.steps.get(name, task.steps) * steps_scale)))
    t0 = time.perf_counter()
    cmp = compare(task, spec.optimizers, budget="tuned", seeds=n_seeds, steps=steps,
                  progress=progress)
    print("\n" + cmp.summary(), flush=True)
    figures = [f"{name}_grid.png"]
    cmp.plot(os.path.join(out, figures[0]))
    if task.kind == "2d":
      shown = [cmp.tuned_run(o) for o in cmp.optimizers]
      figures.append(f"{name}_trajectories.png")
      plots.trajectories(task, shown, os.path.join(out, figures[-1]),
                         title=f"{name}: every optimizer at its tuned learning rate "
                               "(first fresh seed)")
      if name in GALLERY_TASKS:
        figures.append(f"{name}_gallery.png")
        plots.gallery(task, shown, os.path.join(out, figures[-1]))
    _light(cmp)
    comparisons[name] = cmp
    records[name] = _task_record(cmp, time.perf_counter() - t0, figures)

  figure_runs: dict[str, RunResult] = {}
  extra_figures = []
  if FIGURE_TASK in comparisons:
    path1, runs1 = figure1(out, tasks[FIGURE_TASK], n_seeds)
    path2, runs2 = figure2(out, tasks[FIGURE_TASK], n_seeds)
    figure_runs.update(runs1)
    figure_runs.update(runs2)
    extra_figures += [("Figure 1", os.path.basename(path1)),
                      ("Figure 2", os.path.basename(path2))]
  reddi_path = reddi_figure(out, comparisons)
  if reddi_path:
    extra_figures.append(("Reddi et al. at the tuned rates", os.path.basename(reddi_path)))
  spread = _spread(comparisons[SPREAD_TASK]) if SPREAD_TASK in comparisons else None
  paper_lrs = {n: tasks[n].lr_for("adam") for n in REDDI_TASKS if n in tasks}
  claim_list = claims.all_claims(comparisons, figure_runs=figure_runs,
                                 figure_steps=FIGURE_STEPS, spread=spread, paper_lrs=paper_lrs)
  agg = aggregate(records, list(spec.optimizers))
  total = time.perf_counter() - start

  summary: dict[str, Any] = {
      "format": 2, "preset": preset, "command": _command(preset, seeds, steps_scale),
      "seconds": total, "machine": f"{platform.machine()} CPU ({os.cpu_count()} cores)",
      "python": platform.python_version(), "versions": _versions(),
      "date": datetime.date.today().isoformat(), "seeds": n_seeds,
      "optimizers": list(spec.optimizers), "tasks": records, "claims": claim_list,
      "aggregate": agg, "figures": extra_figures, "skipped": dict(spec.skipped),
      "lookahead": registry.survey_setting_text("lookahead"),
  }
  with open(os.path.join(out, "survey.json"), "w") as f:
    json.dump(summary, f, indent=1)
  profile_figure(out, summary)
  write_csv(out, summary)
  path = rerender(out)
  print("\nClaims:")
  for c in claim_list:
    print(f"- {c['claim']}: {c['verdict']}. {c['evidence']}")
  print(f"\nwrote {path}, survey.csv, survey.json and the PNGs in {total:.0f} s")
  return summary


# ------------------------------------------------------------------- page


def _cell(e: Mapping[str, Any], deterministic: bool, alone: bool) -> str:
  iv = stats.Interval(*[math.nan if v is None else v for v in e["ci"]])
  text = report.fmt_interval(iv, deterministic=deterministic)
  if deterministic:
    text = report.fmt(iv.mean)
  if e["tied_best"]:
    text = f"**{text}**" if alone else f"{text} ≈best"
  return text


def _headline(summary: Mapping[str, Any], budget: str) -> list[str]:
  tasks = summary["tasks"]
  optimizers = summary["optimizers"]
  mean_rank = summary["aggregate"]["mean_rank"][budget]
  head = (["optimizer"] + [f"{t} ({r['metric']} {'↓' if r['mode'] == 'min' else '↑'})"
                           for t, r in tasks.items()] + ["mean rank"])
  cells: dict[tuple[str, str], str] = {}
  for t, r in tasks.items():
    es = [e for e in r["entries"] if e["budget"] == budget]
    alone = sum(e["tied_best"] for e in es) == 1
    for e in es:
      cells[(t, e["optimizer"])] = _cell(e, r["deterministic"], alone)
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for o in sorted(optimizers, key=lambda o: (mean_rank[o], o)):
    cols = [o] + [cells[(t, o)] for t in tasks] + [f"{mean_rank[o]:.2f}"]
    lines.append("| " + " | ".join(cols) + " |")
  return lines


def _rank_change(summary: Mapping[str, Any]) -> list[str]:
  agg = summary["aggregate"]
  optimizers = summary["optimizers"]
  mr = agg["mean_rank"]
  tau = agg["kendall_tau"]
  moves = agg["moves"]
  up = [o for o in sorted(optimizers, key=lambda o: -moves[o]) if moves[o] > 0][:3]
  down = [o for o in sorted(optimizers, key=lambda o: moves[o]) if moves[o] < 0][:3]
  n = len(summary["tasks"])
  changed = agg["best_changed"]
  lines = [
      f"Kendall's τ between the optimizers' mean ranks at the two budgets: "
      f"**{tau:.2f}** (1 = the same order, 0 = unrelated). The set of optimizers tied for "
      f"best changes with tuning on {len(changed)} of {n} tasks"
      + (f" ({', '.join(changed)})" if changed else "") + ". Largest gains from tuning "
      "(mean rank one-shot → tuned): "
      + (", ".join(f"{o} {mr['one-shot'][o]:.2f} → {mr['tuned'][o]:.2f}" for o in up) or "none")
      + "; largest losses: "
      + (", ".join(f"{o} {mr['one-shot'][o]:.2f} → {mr['tuned'][o]:.2f}" for o in down)
         or "none") + ".",
      "",
      "| optimizer | mean rank, one-shot | mean rank, tuned | tasks within 1% of the best, "
      "one-shot | tuned | within 10%, one-shot | tuned |",
      "|---|---|---|---|---|---|---|"]
  pa = agg["profile_at"]
  for o in sorted(optimizers, key=lambda o: (mr["tuned"][o], o)):
    lines.append(
        f"| {o} | {mr['one-shot'][o]:.2f} | {mr['tuned'][o]:.2f} | "
        f"{round(pa['one-shot'][o]['0.01'] * n)}/{n} | {round(pa['tuned'][o]['0.01'] * n)}/{n} | "
        f"{round(pa['one-shot'][o]['0.1'] * n)}/{n} | {round(pa['tuned'][o]['0.1'] * n)}/{n} |")
  return lines


def _task_section(name: str, r: Mapping[str, Any]) -> list[str]:
  split = ("the learning rate is selected on the validation split and the test split is "
           "reported" if r["held_out"] else
           "no held-out set: the tuned value is the final objective, selected on the grid's "
           "seeds and rerun on fresh seeds")
  det = " Deterministic task: every seed gives the same run." if r["deterministic"] else ""
  lines = [f"### {name}", "",
           f"{r['description']}. {r['steps']} steps, {r['seeds']} seeds per number, "
           f"{r['grid_points']} learning rates per optimizer; {split}.{det} "
           f"{r['seconds']:.0f} s.", ""]
  for budget in ("tuned", "one-shot"):
    es = [e for e in r["entries"] if e["budget"] == budget]
    lines += [f"**{budget}**", "",
              report.entry_table(es, metric=r["metric"], mode=r["mode"],
                                 deterministic=r["deterministic"], markdown=True,
                                 split="test" if r["held_out"] else "final"), ""]
  lines += [f"Note: {n}" + "\n" for n in r["notes"]]
  lines += [f"![{f}]({f})" for f in r["figures"]] + [""]
  return lines


def render_page(summary: Mapping[str, Any]) -> str:
  """The Markdown results page, from ``survey.json``'s content alone.

  Args:
    summary: the parsed ``survey.json``.

  Returns:
    The page's text; the same ``summary`` always gives the same bytes.
  """
  n_tasks, n_opt = len(summary["tasks"]), len(summary["optimizers"])
  seeds = summary["seeds"]
  lines = [
      f"# The survey in numbers ({summary['preset']} preset)", "",
      f"Produced by `{summary['command']}` (or `python -m optax_survey ...`) in "
      f"**{summary['seconds'] / 60:.1f} min** (measured wall time) on {summary['machine']}, "
      f"Python {summary['python']}, {summary['versions']}, float32; {summary['date']}.", "",
      "## Protocol", "",
      f"{n_opt} optimizers on {n_tasks} tasks at two budgets (Schmidt, Schneider & Hennig "
      "2021; DeepOBS; AlgoPerf). **One-shot**: every optimizer at its published defaults, "
      "learning rate included. **Tuned**: a log-spaced grid of 7 learning rates over 3 decades "
      "around the task's centre rate (`optax-survey tasks`), plus the published default; all "
      f"rates × {seeds} seeds of one optimizer run as one vmapped, compiled program. The rate "
      "with the best mean **validation** score is selected (tasks with data have fixed "
      "train/validation/test splits; selection never reads the test split), and the reported "
      f"number is the **test** metric at that rate on {seeds} fresh seeds (the program selects "
      "the rate on the device and then trains it on the fresh seeds, which the selection never "
      "sees). The 2-D and online problems have no "
      "held-out set: their tuned number is the final objective, selected on the grid's seeds "
      "and reported on fresh ones. Every number is the mean over "
      "seeds with its 95% bootstrap interval `[lo, hi]` (2000 resamples, fixed generator); "
      "**bold** marks a best whose interval is apart from every other's, `≈best` every "
      "optimizer whose interval overlaps the best's (a tie). Ranks count the optimizers whose "
      "interval lies entirely on the better side, so ties share a rank. "
      + (f"{summary['lookahead'][0].upper()}{summary['lookahead'][1:]}, evaluated on its slow "
         "weights." if summary.get("lookahead") else ""), "",
      "## How much does tuning change the ranking?", ""]
  skipped = summary.get("skipped", {})
  if skipped:
    lines[-2:-2] = ["Not in this preset (run them with `optax-survey compare --task NAME`): "
                    + "; ".join(f"{name}, {why}" for name, why in skipped.items()) + ".", ""]
  lines += _rank_change(summary)
  lines += ["", "![performance profiles](performance_profile.png)", "",
            "Performance profiles: the fraction of tasks on which an optimizer ends within τ "
            "of the best, τ measured as a fraction of the distance from the metric before "
            "training to the best optimizer's value.", "",
            "## The survey's claims, checked", "",
            "Rule (`optax_survey.harness.stats.verdict`): **confirmed** only when the effect "
            "exceeds the seed noise (difference of means > 2 standard errors, or the 95% "
            "intervals apart where both sides vary over seeds: a side whose seeds all agree "
            "leaves the 2-SE test alone) at each optimizer's tuned learning rate and in every "
            "other check "
            "listed; **contradicted** when the opposite exceeds the noise at the tuned rates; "
            "otherwise **not resolved at this budget**.", ""]
  for c in summary["claims"]:
    lines.append(f"- **{c['claim']}**: {c['verdict']}. {c['evidence']}.")
  for budget in ("tuned", "one-shot"):
    lines += ["", f"## Final metric per task, {budget} budget", "",
              "Mean [95% CI] over seeds; deterministic tasks show the single value. "
              "Rows by mean rank.", ""]
    lines += _headline(summary, budget)
  if summary["figures"]:
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({f})" for title, f in summary["figures"]]
  lines += ["", "## Tasks", ""]
  for name, r in summary["tasks"].items():
    lines += _task_section(name, r)
  lines += ["Raw numbers: `survey.csv` (one row per task, optimizer and budget, with every "
            "seed's value), `survey.json` (also every grid rate's validation and test "
            "interval, and the claims' per-seed numbers). This page is rendered from "
            "`survey.json` alone (`optax_survey.harness.survey.rerender`).", ""]
  return "\n".join(lines)


def rerender(out: str) -> str:
  """Rewrites ``out/survey.md`` from ``out/survey.json`` without training again."""
  with open(os.path.join(out, "survey.json")) as f:
    summary: dict[str, Any] = json.load(f)
  path = os.path.join(out, "survey.md")
  with open(path, "w") as f:
    f.write(render_page(summary))
  return path
