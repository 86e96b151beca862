"""The survey run: every optimizer on every task, the survey's figures, the
claims checked with numbers, and a Markdown results page.

    optax-survey                                    # preset quick, out/survey-quick
    optax-survey survey --preset full --out benchmarks/results   # survey.md + PNGs

:func:`run_survey` is the library function; each task is built once
(:func:`~optax_survey.harness.tasks.get_task`) and the ``Task`` objects are
passed down to :func:`~optax_survey.harness.comparison.compare`, the figures,
the claims and the page.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import json
import math
import os
import platform
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness import diagnostics, plots, preflight, registry, report, runner
from optax_survey.harness.comparison import compare
from optax_survey.harness.progress import make_progress
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task, get_task, task_names

__all__ = ["LR_STUDY", "PRESETS", "Preset", "required_tasks", "rerender", "run_survey"]


@dataclasses.dataclass(frozen=True)
class Preset:
  """Which tasks and optimizers a survey runs, and whether it runs the learning-rate study."""

  tasks: tuple[str, ...]
  optimizers: tuple[str, ...]
  lr_study: bool


@dataclasses.dataclass(frozen=True)
class LrStudy:
  """The learning-rate study: a few optimizers over a grid of rates on one task."""

  task: str
  optimizers: tuple[str, ...]
  lrs: tuple[float, ...]
  steps: int
  seeds: int


QUICK_OPTIMIZERS = ("sgd", "sgdm", "adagrad", "adam", "amsgrad", "adabound", "radam",
                    "lookahead")
PRESETS = {
    "quick": Preset(("quadratic", "reddi", "digits-mlp"), QUICK_OPTIMIZERS, lr_study=False),
    "full": Preset(tuple(task_names()), tuple(registry.OPTIMIZERS), lr_study=True),
}
LR_STUDY = LrStudy("digits-mlp", ("sgdm", "adam", "amsgrad", "adabound", "radam", "lookahead"),
                   (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), steps=1000, seeds=3)
FIGURE_TASK = "quadratic"  # Figures 1 and 2
REDDI_TASKS = ("reddi", "reddi-stochastic", "reddi-theorem1")


def _preset(name: str) -> Preset:
  if name not in PRESETS:
    raise preflight.BadInputError(
        f"unknown preset {name!r}; choose from: {', '.join(PRESETS)}")
  return PRESETS[name]


def required_tasks(preset: str) -> list[str]:
  """The tasks a survey with ``preset`` builds: its tasks, the figures' and the study's."""
  spec = _preset(preset)
  names = list(spec.tasks) + [FIGURE_TASK] + ([LR_STUDY.task] if spec.lr_study else [])
  return list(dict.fromkeys(names))


# ----------------------------------------------------------------- figures


def figure1(out: str, task: Task) -> tuple[str, dict]:
  """Survey Figure 1: SGD zig-zags across an ill-conditioned valley, SGDM does not."""
  steps = 60
  sgd = runner.run_optimizer(task, "sgd", steps=steps, seeds=1, lrs=[0.45])
  sgdm = runner.run_optimizer(task, "sgdm", steps=steps, seeds=1, lrs=[0.05])
  path = plots.trajectories(
      task, [sgd, sgdm], os.path.join(out, "figure1_sgd_vs_sgdm.png"),
      title="Survey Fig. 1: f = 0.05x² + 2y², 60 steps: SGD (lr 0.45) zig-zags, "
            "SGDM (lr 0.05, μ 0.9) does not")

  def sign_changes(res: RunResult) -> int:
    assert res.path is not None
    y = res.path[0, 0, :, 1]
    return int(np.sum(np.sign(y[1:]) != np.sign(y[:-1])))

  stats = {"sgd_y_sign_changes": sign_changes(sgd), "sgdm_y_sign_changes": sign_changes(sgdm),
           "sgd_final_loss": float(sgd.loss[0, 0, -1]),
           "sgdm_final_loss": float(sgdm.loss[0, 0, -1]), "steps": steps}
  return path, stats


def figure2(out: str, task: Task) -> tuple[str, dict]:
  """Survey Figure 2: Lookahead's fast weights explore, the slow weights interpolate."""
  plt = plots._plt()
  steps = 60
  res = runner.run_optimizer(task, "lookahead", steps=steps, seeds=1, lrs=[0.6])
  adam = runner.run_optimizer(task, "adam", steps=steps, seeds=1, lrs=[0.6])
  assert res.path is not None and res.slow_path is not None and adam.path is not None
  fig, ax = plt.subplots(figsize=(6.4, 5.0))
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
  ax.legend(fontsize=7)
  ax.set_title("Survey Fig. 2: Lookahead(adam, lr 0.6) on f = 0.05x² + 2y², 60 steps",
               fontsize=9)
  fig.tight_layout()
  path = os.path.join(out, "figure2_lookahead.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  f = task.extra["f"]
  stats = {"lookahead_final_loss": float(f(jnp.asarray(slow[-1]))),
           "adam_final_loss": float(adam.loss[0, 0, -1]),
           "lookahead_max_abs_y_after_10": float(np.abs(slow[10:, 1]).max()),
           "adam_max_abs_y_after_10": float(np.abs(adam.path[0, 0, 10:, 1]).max()),
           "steps": steps}
  return path, stats


def reddi_figure(out: str, runs: Mapping[str, Mapping[str, RunResult]],
                 tasks: Mapping[str, Task]) -> str | None:
  """x_t and R_t/t of Adam and AMSGrad on each Reddi setting that was run."""
  settings = [t for t in REDDI_TASKS if t in runs]
  if not settings:
    return None
  plt = plots._plt()
  fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings), 6.0), squeeze=False)
  for j, name in enumerate(settings):
    for opt in ("adam", "amsgrad"):
      res = runs[name].get(opt)
      if res is None or res.path is None:
        continue
      p = res.path[0, 0, :, 0]
      idx = np.unique(np.geomspace(1, len(p), 500).astype(int)) - 1
      axes[0, j].plot(idx + 1, p[idx], color=plots.color(opt), label=opt)
      loss = res.loss[0, 0].astype(np.float64)
      regret = np.cumsum(loss) / np.arange(1, len(loss) + 1)
      idx = np.unique(np.geomspace(1, len(loss), 500).astype(int)) - 1
      axes[1, j].plot(idx + 1, regret[idx], color=plots.color(opt), label=opt)
    e = tasks[name].extra
    axes[0, j].set(xscale="log", ylim=(-1.1, 1.1), ylabel="x_t", title=(
        f"{name}: C={e['big']:g}, β1={e['b1']:g}, β2={e['b2']:.3g}, α/√t"))
    axes[0, j].axhline(-1, color="k", ls=":", lw=0.8)
    axes[1, j].set(xscale="log", xlabel="t", ylabel="R_t / t")
    axes[1, j].set_yscale("symlog", linthresh=0.1)
    axes[0, j].legend(fontsize=8)
    axes[0, j].title.set_fontsize(8)
  fig.tight_layout()
  path = os.path.join(out, "reddi_adam_vs_amsgrad.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  return path


def lr_study(task: Task, out: str, progress: bool,
             scale: float) -> tuple[dict[str, RunResult], list[dict], str]:
  """The learning-rate study on ``task``: results, summary rows and the figure's path."""
  steps = max(10, int(round(LR_STUDY.steps * scale)))
  _, n_chunks = runner.schedule_chunks(steps, task.eval_points)
  bar = make_progress(n_chunks * len(LR_STUDY.optimizers), "lr study", enabled=progress)
  results = {}
  try:
    for name in LR_STUDY.optimizers:
      results[name] = runner.run_optimizer(task, name, steps=steps, seeds=LR_STUDY.seeds,
                                           lrs=LR_STUDY.lrs, progress=bar)
  finally:
    bar.close()
  rows = [row for r in results.values() for row in report.summarize(task, r)]
  plt = plots._plt()
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.0))
  for name, res in results.items():
    final = res.metrics[task.metric][:, :, -1]
    ax1.errorbar(res.lrs, np.nanmean(final, 1), yerr=np.nanstd(final, 1),
                 color=plots.color(name), label=name, marker="o", ms=3, capsize=2)
    early = res.loss[:, :, 5:100].max(-1)
    ax2.plot(res.lrs, np.nanmean(early, 1), color=plots.color(name), marker="o", ms=3,
             label=name)
  ax1.set(xscale="log", xlabel="learning rate", ylabel=f"final {task.metric}", ylim=(0, 1))
  ax2.set(xscale="log", yscale="log", xlabel="learning rate",
          ylabel="peak training loss, steps 5-100")
  ax1.legend(fontsize=7)
  fig.suptitle(f"{task.name}: learning-rate sensitivity ({steps} steps, "
               f"{LR_STUDY.seeds} seeds)", fontsize=9)
  fig.tight_layout()
  path = os.path.join(out, "lr_sensitivity.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  return results, rows, path


# ------------------------------------------------------------------ claims


def _row(rows: Sequence[dict], task: str, opt: str) -> dict | None:
  for r in rows:
    if r["task"] == task and r["optimizer"] == opt:
      return r
  return None


def _value(row: dict, deterministic: bool) -> str:
  """``mean ± std``, or the value alone for a deterministic task (the std is 0 there)."""
  if deterministic:
    return report.fmt(row["final_mean"])
  return report.pm(row["final_mean"], row["final_std"])


def claims(all_rows: Sequence[dict], runs: Mapping[str, Mapping[str, RunResult]],
           fig1: dict | None, fig2: dict | None, spread: dict | None,
           lr_results: Mapping[str, RunResult] | None,
           tasks: Mapping[str, Task]) -> list[dict]:
  """Each survey claim, the number that backs it, and the verdict."""
  out = []
  # AdaGrad's vanishing steps.
  for tname in ("mnist1d-mlp", "digits-mlp", "charlm"):
    if tname in runs and "adagrad" in runs[tname] and "adam" in runs[tname]:
      def shrink(res: RunResult) -> float:
        u = res.update_norm[0].astype(np.float64)
        n = u.shape[-1]
        early = u[:, 5:max(6, n // 20)].mean()
        late = u[:, -max(1, n // 10):].mean()
        return float(early / late)
      ratios = {o: shrink(runs[tname][o]) for o in ("adagrad", "adam", "rmsprop", "sgd")
                if o in runs[tname]}
      verdict = "confirmed" if ratios["adagrad"] > 1.5 * ratios["adam"] else "not confirmed"
      others = ", ".join(f"{ratios[o]:.1f}× with {o}" for o in ratios if o != "adagrad")
      out.append({"claim": "AdaGrad's accumulated squared gradients make its steps vanish",
                  "verdict": verdict,
                  "evidence": f"{tname}: the parameter step ‖Δθ‖ shrinks "
                              f"{ratios['adagrad']:.1f}× from the first 5% of training to the "
                              f"last 10% with AdaGrad, {others}",
                  "numbers": ratios})
      break
  # AMSGrad vs Adam.
  for tname in ("reddi", "reddi-theorem1", "reddi-stochastic"):
    a, m = _row(all_rows, tname, "adam"), _row(all_rows, tname, "amsgrad")
    if a and m:
      ok = a["final_mean"] > 0.9 and m["final_mean"] < -0.9
      partly = a["final_mean"] > m["final_mean"]
      det = tasks[tname].deterministic
      out.append({
          "claim": f"Adam converges to the wrong point, AMSGrad to the optimum x* = -1 ({tname})",
          "verdict": "confirmed" if ok else ("partly confirmed" if partly else "not confirmed"),
          "evidence": f"{tname}, {a['steps']} steps: final x = {_value(a, det)} with Adam, "
                      f"{_value(m, det)} with AMSGrad"
                      + (" (deterministic: every seed gives the same run)" if det else ""),
          "numbers": {"adam_x": a["final_mean"], "amsgrad_x": m["final_mean"]}})
  # AdaBound's move towards SGD.
  if spread:
    last = max(spread["adabound"])
    first = 10 if 10 in spread["adabound"] else min(spread["adabound"])
    ab, ad = spread["adabound"], spread["adam"]
    lo, hi = spread["adabound_bounds"][last]
    ok = ab[last]["spread"] < ad[last]["spread"] and ab[last]["spread"] < ab[first]["spread"]
    out.append({
        "claim": "AdaBound moves from Adam towards SGD (its per-parameter step sizes converge "
                 "to final_lr)",
        "verdict": "confirmed" if ok else "not confirmed",
        "evidence": f"{spread['task']}: spread p90/p10 of the per-parameter step sizes η at "
                    f"step {first}: AdaBound {ab[first]['spread']:.3g}, Adam "
                    f"{ad[first]['spread']:.3g}; at step {last}: AdaBound "
                    f"{ab[last]['spread']:.3g} (median η {ab[last]['median']:.3g}, bounds "
                    f"[{lo:.3g}, {hi:.3g}], final_lr {spread['final_lr']:g}), Adam "
                    f"{ad[last]['spread']:.3g}",
        "numbers": {"adabound": ab, "adam": ad}})
  # RAdam's warm-up effect.
  if lr_results and "radam" in lr_results and "adam" in lr_results:
    ra, ad_ = lr_results["radam"], lr_results["adam"]
    lrs = ra.lrs
    window = slice(5, 100)  # after RAdam's update-free first steps
    early_r = ra.loss[:, :, window].max(-1).mean(-1)
    early_a = ad_.loss[:, :, window].max(-1).mean(-1)
    final_r = ra.metrics["test_acc"][:, :, -1]
    final_a = ad_.metrics["test_acc"][:, :, -1]
    big = len(lrs) - 1
    first_steps_r = ra.update_norm[:, :, :4].max()
    ok = early_r[big] < early_a[big]
    better_final = final_r[big].mean() >= final_a[big].mean()
    verdict = ("confirmed" if ok and better_final
               else ("partly confirmed" if ok or better_final else "not confirmed"))
    out.append({
        "claim": "RAdam's rectification acts as an automatic warm-up (stabler early training "
                 "at large learning rates)",
        "verdict": verdict,
        "evidence": f"digits-mlp: RAdam makes no update in its first 4 steps (max ‖Δθ‖ = "
                    f"{first_steps_r:.1g}); peak training loss in steps 5-100 at lr "
                    f"{lrs[big]:g} (mean over seeds): RAdam {early_r[big]:.3f}, Adam "
                    f"{early_a[big]:.3f} (at lr {lrs[0]:g}: {early_r[0]:.3f} vs "
                    f"{early_a[0]:.3f}); final test accuracy at lr {lrs[big]:g}: RAdam "
                    f"{report.pm(final_r[big].mean(), final_r[big].std())}, Adam "
                    f"{report.pm(final_a[big].mean(), final_a[big].std())}",
        "numbers": {"lrs": lrs, "early_loss_radam": early_r.tolist(),
                    "early_loss_adam": early_a.tolist()}})
  # Lookahead's stability.
  if lr_results and "lookahead" in lr_results and "adam" in lr_results:
    la, ad_ = lr_results["lookahead"], lr_results["adam"]
    fa = ad_.metrics["test_acc"][:, :, -1]
    fl = la.metrics["test_acc"][:, :, -1]
    spread_a = float(fa.mean(1).max() - fa.mean(1).min())
    spread_l = float(fl.mean(1).max() - fl.mean(1).min())
    std_a, std_l = float(fa.std(1).mean()), float(fl.std(1).mean())
    ok = spread_l < spread_a and std_l <= std_a
    partly = spread_l < spread_a or std_l < std_a
    out.append({
        "claim": "Lookahead is more stable (less sensitive to the learning rate and the seed) "
                 "than its inner optimizer",
        "verdict": "confirmed" if ok else ("partly confirmed" if partly else "not confirmed"),
        "evidence": f"digits-mlp, lr {la.lrs[0]:g}..{la.lrs[-1]:g}: range of mean final test "
                    f"accuracy over the lr grid {spread_l:.3f} with Lookahead(adam) vs "
                    f"{spread_a:.3f} with Adam; mean seed std {std_l:.4f} vs {std_a:.4f}",
        "numbers": {"range_lookahead": spread_l, "range_adam": spread_a,
                    "std_lookahead": std_l, "std_adam": std_a}})
  if fig2:
    s = fig2
    damped = s["lookahead_max_abs_y_after_10"] < s["adam_max_abs_y_after_10"]
    out.append({
        "claim": "Lookahead's slow weights damp the fast weights' oscillation (Figure 2)",
        "verdict": "confirmed" if damped else "not confirmed",
        "evidence": f"quadratic, lr 0.6: largest |y| after step 10: slow weights "
                    f"{s['lookahead_max_abs_y_after_10']:.3f}, Adam alone "
                    f"{s['adam_max_abs_y_after_10']:.3f}; f after {s['steps']} steps: "
                    f"{s['lookahead_final_loss']:.2e} vs {s['adam_final_loss']:.2e}",
        "numbers": s})
  if fig1:
    s = fig1
    zigzag = s["sgd_y_sign_changes"] > 3 * max(1, s["sgdm_y_sign_changes"])
    out.append({
        "claim": "SGD zig-zags across an ill-conditioned valley, momentum does not (Figure 1)",
        "verdict": "confirmed" if zigzag else "not confirmed",
        "evidence": f"quadratic, {s['steps']} steps: y changes sign {s['sgd_y_sign_changes']} "
                    f"times with SGD, {s['sgdm_y_sign_changes']} with SGDM; final f "
                    f"{s['sgd_final_loss']:.2e} vs {s['sgdm_final_loss']:.2e}",
        "numbers": s})
  return out


# ------------------------------------------------------------------- page


def headline(tasks: Sequence[Task], optimizers: Sequence[str],
             all_rows: Sequence[dict]) -> tuple[str, dict[str, float]]:
  ranks: dict[str, list[int]] = {o: [] for o in optimizers}
  cells = {}
  for task in tasks:
    rows = [r for r in all_rows if r["task"] == task.name]
    order = sorted(rows, key=functools.partial(report.rank_key, task))
    for i, r in enumerate(order):
      ranks[r["optimizer"]].append(i + 1)
      cell = report.fmt(r["final_mean"], 3)
      if r["diverged"]:
        cell += "†"
      cells[(task.name, r["optimizer"])] = f"**{cell}**" if i == 0 else cell
  mean_rank = {o: float(np.mean(v)) if v else math.nan for o, v in ranks.items()}
  head = (["optimizer"]
          + [f"{t.name} ({t.metric} {'↓' if t.mode == 'min' else '↑'})" for t in tasks]
          + ["mean rank"])
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for o in sorted(optimizers, key=lambda o: mean_rank[o]):
    cols = [o] + [cells.get((t.name, o), "") for t in tasks] + [f"{mean_rank[o]:.1f}"]
    lines.append("| " + " | ".join(cols) + " |")
  return "\n".join(lines), mean_rank


def _figures(task: Task) -> list[str]:
  return [f"{task.name}_curves.png"] + ([f"{task.name}_trajectories.png"]
                                        if task.kind == "2d" else [])


def run_survey(preset: str = "quick", out: str | None = None, *, seeds: int | None = None,
               steps_scale: float = 1.0, progress: bool = True) -> dict:
  """Runs the survey ``preset`` ("quick" or "full") and writes its page into ``out``.

  Checks the preset, the optional packages and ``out`` before any training
  (raising :class:`~optax_survey.harness.preflight.HarnessError`), builds each
  task once, and writes ``survey.md``, ``survey.csv``, ``survey.json`` and the
  PNGs.  Returns the summary that ``survey.json`` holds.
  """
  spec = _preset(preset)
  if not steps_scale > 0:
    raise preflight.BadInputError(f"steps_scale must be > 0, got {steps_scale}")
  out = out or os.path.join("out", f"survey-{preset}")
  preflight.require_extras(tasks=required_tasks(preset), plot=True)
  preflight.check_output_dir(out)
  tasks = {name: get_task(name) for name in required_tasks(preset)}

  start = time.perf_counter()
  all_rows: list[dict] = []
  runs: dict[str, dict[str, RunResult]] = {}
  figures: dict[str, list[str]] = {}
  timings: dict[str, float] = {}
  notes: dict[str, list[str]] = {}
  for name in spec.tasks:
    task = tasks[name]
    steps = max(2, int(round(task.steps * steps_scale)))
    t0 = time.perf_counter()
    result = compare(task, spec.optimizers, seeds=seeds, steps=steps, progress=progress)
    print("\n" + result.summary())
    plots.write_plots(out, task, result.results, prefix=f"{name}_")
    figures[name] = _figures(task)
    timings[name] = time.perf_counter() - t0
    notes[name] = result.notes
    all_rows += result.rows
    runs[name] = {r.optimizer: r for r in result.results}
    for r in result.results:  # keep what the claims need, drop the big arrays
      if task.kind != "online":
        r.path = r.slow_path = None
  fig1_path, fig1 = figure1(out, tasks[FIGURE_TASK])
  fig2_path, fig2 = figure2(out, tasks[FIGURE_TASK])
  reddi_path = reddi_figure(out, runs, tasks)
  lr_results: dict[str, RunResult] | None = None
  lr_rows: list[dict] = []
  lr_path = spread = None
  if spec.lr_study:
    study_task = tasks[LR_STUDY.task]
    lr_results, lr_rows, lr_path = lr_study(study_task, out, progress, steps_scale)
    spread = diagnostics.step_size_spread(study_task, steps=max(10, int(round(1000 * steps_scale))))
  claim_list = claims(all_rows, runs, fig1, fig2, spread, lr_results, tasks)
  total = time.perf_counter() - start
  run_tasks = [tasks[name] for name in spec.tasks]
  table, mean_rank = headline(run_tasks, spec.optimizers, all_rows)

  with open(os.path.join(out, "survey.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=report.CSV_FIELDS)
    writer.writeheader()
    for row in all_rows + lr_rows:
      writer.writerow({k: row[k] for k in report.CSV_FIELDS})
  summary = {"preset": preset, "seconds": total, "task_seconds": timings, "rows": all_rows,
             "lr_study_rows": lr_rows, "claims": claim_list, "mean_rank": mean_rank,
             "notes": notes, "figure1": fig1, "figure2": fig2, "step_size_spread": spread}
  with open(os.path.join(out, "survey.json"), "w") as f:
    json.dump(summary, f, indent=1, default=str)
  md = page(preset, run_tasks, table, all_rows, lr_rows, claim_list, figures, notes,
            fig1_path, fig2_path, reddi_path, lr_path, total, timings, seeds, steps_scale,
            lr_task=tasks.get(LR_STUDY.task))
  with open(os.path.join(out, "survey.md"), "w") as f:
    f.write(md)
  print("\n" + table)
  print("\nClaims:")
  for c in claim_list:
    print(f"- {c['claim']}: {c['verdict']}. {c['evidence']}")
  print(f"\nwrote {out}/survey.md, survey.csv, survey.json and the PNGs in {total:.0f} s")
  return summary


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


def _final_or_worst(row: dict) -> float:
  return row["final_mean"] if math.isfinite(row["final_mean"]) else -math.inf


def page(preset: str, tasks: Sequence[Task], table: str, all_rows: Sequence[dict],
         lr_rows: Sequence[dict], claim_list: Sequence[dict], figures: Mapping[str, list[str]],
         notes: Mapping[str, list[str]], fig1_path: str, fig2_path: str,
         reddi_path: str | None, lr_path: str | None, total: float,
         timings: Mapping[str, float], seeds: int | None, steps_scale: float,
         lr_task: Task | None = None) -> str:
  cmd = ("optax-survey survey --preset full --out benchmarks/results" if preset == "full"
         else "optax-survey")
  extra = []
  if seeds is not None:
    extra.append(f"--seeds {seeds}")
  if steps_scale != 1.0:
    extra.append(f"--steps-scale {steps_scale:g}")
  if extra:
    cmd += " " + " ".join(extra)
  lines = [
      f"# The survey in numbers ({preset} preset)", "",
      f"Produced by `{cmd}` (or `python -m optax_survey ...`) in {total / 60:.1f} min on "
      f"{platform.machine()} CPU ({os.cpu_count()} cores), "
      f"Python {platform.python_version()}, {_versions()}, float32; "
      f"{datetime.date.today().isoformat()}.", "",
      "Every optimizer runs with its published defaults except the learning rate, which is "
      "fixed per task and per optimizer family (`lrs` in each task module, `optax-survey "
      "tasks`); seeds (and learning-rate grids) of one optimizer run as one vmapped, compiled "
      "program. Lookahead wraps Adam (k = 5, α = 0.5) and is evaluated on its slow weights. "
      "Numbers are mean ± std over seeds of the metric at the last step.", "",
      "## Headline: final metric per task (best in bold, † = a seed diverged)", "", table, "",
      "## The survey's claims, checked", ""]
  for c in claim_list:
    lines.append(f"- **{c['claim']}**: {c['verdict']}. {c['evidence']}.")
  lines += ["", "## Figures", ""]
  lines.append(f"![Figure 1]({os.path.basename(fig1_path)})")
  lines.append(f"![Figure 2]({os.path.basename(fig2_path)})")
  if reddi_path:
    lines.append(f"![Reddi et al.]({os.path.basename(reddi_path)})")
  if lr_path:
    lines.append(f"![learning-rate sensitivity]({os.path.basename(lr_path)})")
  lines.append("")
  if any(r["task"].startswith("mnist1d") for r in all_rows):
    lines += [
        "## MNIST-1D next to the paper", "",
        "Greydanus & Kobak report test accuracies of 32% (logistic regression), 68% (MLP), "
        "94% (CNN), 91% (GRU), 96% (human), training with Adam (lr 1e-2, batch 100, 6000 "
        "steps). Ours: the same data (`make_dataset`, default arguments) and models, fewer "
        "steps.", "",
        "| model | paper (Adam) | ours, Adam | ours, best optimizer |", "|---|---|---|---|"]
    for t, paper in (("mnist1d-mlp", "68%"), ("mnist1d-cnn", "94%")):
      rows = [r for r in all_rows if r["task"] == t]
      adam = _row(rows, t, "adam")
      if not rows or adam is None:
        continue
      best = max(rows, key=_final_or_worst)
      lines.append(
          f"| {t.split('-')[1].upper()} ({rows[0]['steps']} steps) | {paper} | "
          f"{100 * adam['final_mean']:.1f} ± {100 * adam['final_std']:.1f}% | "
          f"{best['optimizer']}: {100 * best['final_mean']:.1f} ± "
          f"{100 * best['final_std']:.1f}% |")
    lines.append("")
  lines += ["## Tasks", ""]
  for task in tasks:
    rows = [r for r in all_rows if r["task"] == task.name]
    lines += [f"### {task.name}", "",
              f"{task.description}. {rows[0]['steps']} steps, {rows[0]['seeds']} seeds, "
              f"{timings[task.name]:.0f} s.", "",
              report.format_table(task, rows, markdown=True), ""]
    lines += [f"Note: {n}" + "\n" for n in notes.get(task.name, [])]
    lines += [f"![{f}]({f})" for f in figures[task.name]] + [""]
  if lr_rows and lr_task is not None:
    lines += [f"### Learning-rate sensitivity ({lr_task.name})", "",
              report.format_table(lr_task, lr_rows, markdown=True), ""]
  lines += ["Raw numbers: `survey.csv` (one row per task, optimizer and learning rate), "
            "`survey.json` (with the claims' numbers).", ""]
  return "\n".join(lines)


def rerender(out: str) -> str:
  """Rewrites ``out/survey.md`` from ``out/survey.json`` without training again."""
  with open(os.path.join(out, "survey.json")) as f:
    summary: dict[str, Any] = json.load(f)
  spec = _preset(summary["preset"])
  names = list(spec.tasks) + ([LR_STUDY.task] if summary["lr_study_rows"] else [])
  tasks = {name: get_task(name) for name in dict.fromkeys(names)}
  run_tasks = [tasks[name] for name in spec.tasks]
  rows, lr_rows = summary["rows"], summary["lr_study_rows"]
  table, _ = headline(run_tasks, spec.optimizers, rows)
  figures = {task.name: _figures(task) for task in run_tasks}

  def exists(name: str) -> str | None:
    return name if os.path.exists(os.path.join(out, name)) else None

  md = page(summary["preset"], run_tasks, table, rows, lr_rows, summary["claims"], figures,
            summary.get("notes", {}), "figure1_sgd_vs_sgdm.png", "figure2_lookahead.png",
            exists("reddi_adam_vs_amsgrad.png"), exists("lr_sensitivity.png"),
            summary["seconds"], summary["task_seconds"], None, 1.0,
            lr_task=tasks.get(LR_STUDY.task))
  path = os.path.join(out, "survey.md")
  with open(path, "w") as f:
    f.write(md)
  return path
