"""The survey run: every optimizer on every task, the survey's figures, the
claims checked with numbers, and a Markdown results page.

    optax-survey                                    # preset quick, out/survey-quick (< 3 min)
    optax-survey survey --preset full --out benchmarks/results   # survey.md + PNGs
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness import plots, registry, report, runner
from optax_survey.harness.tasks import get_task, task_names

QUICK_OPTIMIZERS = ["sgd", "sgdm", "adagrad", "adam", "amsgrad", "adabound", "radam", "lookahead"]
PRESETS = {
    "quick": {"tasks": ["quadratic", "reddi", "digits-mlp"], "optimizers": QUICK_OPTIMIZERS,
              "lr_study": False},
    "full": {"tasks": task_names(), "optimizers": list(registry.OPTIMIZERS), "lr_study": True},
}
LR_STUDY = {"task": "digits-mlp", "optimizers": ["sgdm", "adam", "amsgrad", "adabound", "radam", "lookahead"],
            "lrs": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "steps": 1000, "seeds": 3}


# ----------------------------------------------------------------- figures


def figure1(out: str) -> tuple[str, dict]:
  """Survey Figure 1: SGD zig-zags across an ill-conditioned valley, SGDM does not."""
  task = get_task("quadratic")
  steps = 60
  sgd = runner.run_optimizer(task, "sgd", steps=steps, seeds=1, lrs=[0.45])
  sgdm = runner.run_optimizer(task, "sgdm", steps=steps, seeds=1, lrs=[0.05])
  path = plots.trajectories(
      task, [sgd, sgdm], os.path.join(out, "figure1_sgd_vs_sgdm.png"),
      title="Survey Fig. 1: f = 0.05x² + 2y², 60 steps: SGD (lr 0.45) zig-zags, SGDM (lr 0.05, μ 0.9) does not")

  def sign_changes(res):
    y = res.path[0, 0, :, 1]
    return int(np.sum(np.sign(y[1:]) != np.sign(y[:-1])))

  stats = {"sgd_y_sign_changes": sign_changes(sgd), "sgdm_y_sign_changes": sign_changes(sgdm),
           "sgd_final_loss": float(sgd.loss[0, 0, -1]), "sgdm_final_loss": float(sgdm.loss[0, 0, -1]),
           "steps": steps}
  return path, stats


def figure2(out: str) -> tuple[str, dict]:
  """Survey Figure 2: Lookahead's fast weights explore, the slow weights interpolate."""
  plt = plots._plt()
  task = get_task("quadratic")
  steps = 60
  res = runner.run_optimizer(task, "lookahead", steps=steps, seeds=1, lrs=[0.6])
  adam = runner.run_optimizer(task, "adam", steps=steps, seeds=1, lrs=[0.6])
  fig, ax = plt.subplots(figsize=(6.4, 5.0))
  plots._contour(ax, task)
  fast, slow = res.path[0, 0], res.slow_path[0, 0]
  k = registry.LOOKAHEAD_ARGS["sync_period"]
  ax.plot(adam.path[0, 0, :, 0], adam.path[0, 0, :, 1], color="0.6", lw=0.8, ls="--", label="adam alone")
  ax.plot(fast[:, 0], fast[:, 1], color=plots.color("adam"), lw=1.0, label="fast weights (inner adam)")
  syncs = slow[::k]
  ax.plot(syncs[:, 0], syncs[:, 1], "o-", color=plots.color("lookahead"), lw=2.0, ms=4,
          label=f"slow weights (every k={k} steps, α=0.5)")
  ax.legend(fontsize=7)
  ax.set_title("Survey Fig. 2: Lookahead(adam, lr 0.6) on f = 0.05x² + 2y², 60 steps", fontsize=9)
  fig.tight_layout()
  path = os.path.join(out, "figure2_lookahead.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  f = task.extra["f"]
  stats = {"lookahead_final_loss": float(f(jnp.asarray(slow[-1]))),
           "adam_final_loss": float(adam.loss[0, 0, -1]),
           "lookahead_max_abs_y_after_10": float(np.abs(slow[10:, 1]).max()),
           "adam_max_abs_y_after_10": float(np.abs(adam.path[0, 0, 10:, 1]).max()), "steps": steps}
  return path, stats


def reddi_figure(out: str, runs: dict) -> str | None:
  """x_t and R_t/t of Adam and AMSGrad on each Reddi setting that was run."""
  settings = [t for t in ("reddi", "reddi-stochastic", "reddi-theorem1") if t in runs]
  if not settings:
    return None
  plt = plots._plt()
  fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings), 6.0), squeeze=False)
  for j, name in enumerate(settings):
    task = get_task(name)
    for opt in ("adam", "amsgrad"):
      res = runs[name].get(opt)
      if res is None:
        continue
      p = res.path[0, 0, :, 0]
      idx = np.unique(np.geomspace(1, len(p), 500).astype(int)) - 1
      axes[0, j].plot(idx + 1, p[idx], color=plots.color(opt), label=opt)
      loss = res.loss[0, 0].astype(np.float64)
      regret = np.cumsum(loss) / np.arange(1, len(loss) + 1)
      idx = np.unique(np.geomspace(1, len(loss), 500).astype(int)) - 1
      axes[1, j].plot(idx + 1, regret[idx], color=plots.color(opt), label=opt)
    e = task.extra
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


# ------------------------------------------------------------- diagnostics


def _find_first_moment(state):
  from optax_survey.primitives import FirstMomentState

  found = []

  def visit(node):
    if isinstance(node, FirstMomentState):
      found.append(node.mu)
    elif isinstance(node, (tuple, list)):
      for c in node:
        visit(c)
    elif hasattr(node, "inner_state"):
      visit(node.inner_state)

  visit(state)
  return found[0]


def step_size_spread(task_name: str = "digits-mlp", steps: int = 1000) -> dict:
  """Per-parameter step sizes η = -u/m of AdaBound and Adam along training.

  Both update as ``u = -η ⊙ m`` (Adam: η = lr/(bc1 (√v̂ + ε))), so η can be read
  off per parameter.  Reports the median and the p90/p10 spread at a few steps.
  """
  task = get_task(task_name)
  out = {}
  checkpoints = sorted({1, 10, 100, steps // 2, steps})
  for name in ("adam", "adabound"):
    tx = registry.build(name, task.lr_for(name), **task.optimizer_kwargs)
    params = task.init_params(jax.random.PRNGKey(0), 0)
    state = tx.init(params)
    key = jax.random.PRNGKey(1)

    @jax.jit
    def step(params, state, key, t):
      key, sub = jax.random.split(key)
      grads = jax.grad(task.loss)(params, task.sample_batch(sub, t))
      updates, state = tx.update(grads, state, params)
      m = _find_first_moment(state)
      u = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(updates)])
      mm = jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(m)])
      return optax.apply_updates(params, updates), state, key, u, mm

    rows = {}
    for t in range(1, steps + 1):
      params, state, key, u, m = step(params, state, key, jnp.int32(t - 1))
      if t in checkpoints:
        u, m = np.asarray(u, np.float64), np.asarray(m, np.float64)
        ok = np.abs(m) > 1e-8
        eta = -u[ok] / m[ok]
        p10, p50, p90 = np.percentile(eta, [10, 50, 90])
        rows[t] = {"median": float(p50), "p10": float(p10), "p90": float(p90),
                   "spread": float(p90 / p10) if p10 > 0 else float("inf")}
    out[name] = rows
  gamma, final_lr = 1e-3, task.optimizer_kwargs.get("final_lr", 0.1)
  out["adabound_bounds"] = {t: (final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t)))
                            for t in checkpoints}
  out["task"], out["final_lr"] = task_name, final_lr
  return out


def lr_study(progress: bool, scale: float) -> tuple[dict, list[dict], str]:
  task = get_task(LR_STUDY["task"])
  steps = max(10, int(round(LR_STUDY["steps"] * scale)))
  _, n_chunks = runner.schedule_chunks(steps, task.eval_points)
  from optax_survey.harness.cli import make_progress

  bar = make_progress(n_chunks * len(LR_STUDY["optimizers"]), "lr study", not progress)
  results = {}
  for name in LR_STUDY["optimizers"]:
    results[name] = runner.run_optimizer(task, name, steps=steps, seeds=LR_STUDY["seeds"],
                                         lrs=LR_STUDY["lrs"], progress=bar)
  if bar is not None:
    bar.close()
  rows = [row for r in results.values() for row in report.summarize(task, r)]
  plt = plots._plt()
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.0))
  for name, res in results.items():
    final = res.metrics[task.metric][:, :, -1]
    ax1.errorbar(res.lrs, np.nanmean(final, 1), yerr=np.nanstd(final, 1), color=plots.color(name),
                 label=name, marker="o", ms=3, capsize=2)
    early = res.loss[:, :, 5:100].max(-1)
    ax2.plot(res.lrs, np.nanmean(early, 1), color=plots.color(name), marker="o", ms=3, label=name)
  ax1.set(xscale="log", xlabel="learning rate", ylabel=f"final {task.metric}", ylim=(0, 1))
  ax2.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="peak training loss, steps 5-100")
  ax1.legend(fontsize=7)
  fig.suptitle(f"{task.name}: learning-rate sensitivity ({steps} steps, {LR_STUDY['seeds']} seeds)", fontsize=9)
  fig.tight_layout()
  path = os.path.join(_OUT[0], "lr_sensitivity.png")
  fig.savefig(path, dpi=plots.DPI)
  plt.close(fig)
  return results, rows, path


_OUT = [""]


# ------------------------------------------------------------------ claims


def _row(rows, task, opt):
  for r in rows:
    if r["task"] == task and r["optimizer"] == opt:
      return r
  return None


def claims(all_rows, runs, fig1, fig2, spread, lr_results) -> list[dict]:
  """Each survey claim, the number that backs it, and the verdict."""
  out = []
  # AdaGrad's vanishing steps.
  for tname in ("mnist1d-mlp", "digits-mlp", "charlm"):
    if tname in runs and "adagrad" in runs[tname] and "adam" in runs[tname]:
      def shrink(res):
        u = res.update_norm[0].astype(np.float64)
        n = u.shape[-1]
        early = u[:, 5:max(6, n // 20)].mean()
        late = u[:, -max(1, n // 10):].mean()
        return early / late
      ratios = {o: shrink(runs[tname][o]) for o in ("adagrad", "adam", "rmsprop", "sgd")
                if o in runs[tname]}
      verdict = "confirmed" if ratios["adagrad"] > 1.5 * ratios["adam"] else "not confirmed"
      out.append({"claim": "AdaGrad's accumulated squared gradients make its steps vanish",
                  "verdict": verdict,
                  "evidence": f"{tname}: the parameter step ‖Δθ‖ shrinks {ratios['adagrad']:.1f}× from the "
                              f"first 5% of training to the last 10% with AdaGrad, "
                              + ", ".join(f"{ratios[o]:.1f}× with {o}" for o in ratios if o != "adagrad"),
                  "numbers": ratios})
      break
  # AMSGrad vs Adam.
  for tname in ("reddi", "reddi-theorem1", "reddi-stochastic"):
    a, m = _row(all_rows, tname, "adam"), _row(all_rows, tname, "amsgrad")
    if a and m:
      ok = a["final_mean"] > 0.9 and m["final_mean"] < -0.9
      out.append({"claim": f"Adam converges to the wrong point, AMSGrad to the optimum x* = -1 ({tname})",
                  "verdict": "confirmed" if ok else ("partly confirmed" if a["final_mean"] > m["final_mean"] else "not confirmed"),
                  "evidence": f"{tname}, {a['steps']} steps: final x = {report.pm(a['final_mean'], a['final_std'])} "
                              f"with Adam, {report.pm(m['final_mean'], m['final_std'])} with AMSGrad",
                  "numbers": {"adam_x": a["final_mean"], "amsgrad_x": m["final_mean"]}})
  # AdaBound's move towards SGD.
  if spread:
    last = max(spread["adabound"])
    first = 10 if 10 in spread["adabound"] else min(spread["adabound"])
    ab, ad = spread["adabound"], spread["adam"]
    lo, hi = spread["adabound_bounds"][last]
    ok = ab[last]["spread"] < ad[last]["spread"] and ab[last]["spread"] < ab[first]["spread"]
    out.append({"claim": "AdaBound moves from Adam towards SGD (its per-parameter step sizes converge to final_lr)",
                "verdict": "confirmed" if ok else "not confirmed",
                "evidence": f"{spread['task']}: spread p90/p10 of the per-parameter step sizes η at step {first}: "
                            f"AdaBound {ab[first]['spread']:.3g}, Adam {ad[first]['spread']:.3g}; at step {last}: "
                            f"AdaBound {ab[last]['spread']:.3g} (median η {ab[last]['median']:.3g}, bounds "
                            f"[{lo:.3g}, {hi:.3g}], final_lr {spread['final_lr']:g}), Adam {ad[last]['spread']:.3g}",
                "numbers": {"adabound": ab, "adam": ad}})
  # RAdam's warm-up effect.
  if lr_results and "radam" in lr_results and "adam" in lr_results:
    ra, ad = lr_results["radam"], lr_results["adam"]
    lrs = ra.lrs
    window = slice(5, 100)  # after RAdam's update-free first steps
    early_r = ra.loss[:, :, window].max(-1).mean(-1)
    early_a = ad.loss[:, :, window].max(-1).mean(-1)
    final_r = ra.metrics["test_acc"][:, :, -1]
    final_a = ad.metrics["test_acc"][:, :, -1]
    big = len(lrs) - 1
    first_steps_r = ra.update_norm[:, :, :4].max()
    ok = early_r[big] < early_a[big]
    better_final = final_r[big].mean() >= final_a[big].mean()
    out.append({"claim": "RAdam's rectification acts as an automatic warm-up (stabler early training at large learning rates)",
                "verdict": "confirmed" if ok and better_final else ("partly confirmed" if ok or better_final else "not confirmed"),
                "evidence": f"digits-mlp: RAdam makes no update in its first 4 steps (max ‖Δθ‖ = {first_steps_r:.1g}); "
                            f"peak training loss in steps 5-100 at lr {lrs[big]:g} (mean over seeds): RAdam {early_r[big]:.3f}, "
                            f"Adam {early_a[big]:.3f} (at lr {lrs[0]:g}: {early_r[0]:.3f} vs {early_a[0]:.3f}); final test "
                            f"accuracy at lr {lrs[big]:g}: RAdam {report.pm(final_r[big].mean(), final_r[big].std())}, "
                            f"Adam {report.pm(final_a[big].mean(), final_a[big].std())}",
                "numbers": {"lrs": lrs, "early_loss_radam": early_r.tolist(), "early_loss_adam": early_a.tolist()}})
  # Lookahead's stability.
  if lr_results and "lookahead" in lr_results and "adam" in lr_results:
    la, ad = lr_results["lookahead"], lr_results["adam"]
    fa = ad.metrics["test_acc"][:, :, -1]
    fl = la.metrics["test_acc"][:, :, -1]
    spread_a, spread_l = float(fa.mean(1).max() - fa.mean(1).min()), float(fl.mean(1).max() - fl.mean(1).min())
    std_a, std_l = float(fa.std(1).mean()), float(fl.std(1).mean())
    ok = spread_l < spread_a and std_l <= std_a
    out.append({"claim": "Lookahead is more stable (less sensitive to the learning rate and the seed) than its inner optimizer",
                "verdict": "confirmed" if ok else ("partly confirmed" if spread_l < spread_a or std_l < std_a else "not confirmed"),
                "evidence": f"digits-mlp, lr {la.lrs[0]:g}..{la.lrs[-1]:g}: range of mean final test accuracy over the lr grid "
                            f"{spread_l:.3f} with Lookahead(adam) vs {spread_a:.3f} with Adam; mean seed std "
                            f"{std_l:.4f} vs {std_a:.4f}",
                "numbers": {"range_lookahead": spread_l, "range_adam": spread_a,
                            "std_lookahead": std_l, "std_adam": std_a}})
  if fig2:
    s = fig2
    out.append({"claim": "Lookahead's slow weights damp the fast weights' oscillation (Figure 2)",
                "verdict": "confirmed" if s["lookahead_max_abs_y_after_10"] < s["adam_max_abs_y_after_10"] else "not confirmed",
                "evidence": f"quadratic, lr 0.6: largest |y| after step 10: slow weights {s['lookahead_max_abs_y_after_10']:.3f}, "
                            f"Adam alone {s['adam_max_abs_y_after_10']:.3f}; f after {s['steps']} steps: "
                            f"{s['lookahead_final_loss']:.2e} vs {s['adam_final_loss']:.2e}",
                "numbers": s})
  if fig1:
    s = fig1
    out.append({"claim": "SGD zig-zags across an ill-conditioned valley, momentum does not (Figure 1)",
                "verdict": "confirmed" if s["sgd_y_sign_changes"] > 3 * max(1, s["sgdm_y_sign_changes"]) else "not confirmed",
                "evidence": f"quadratic, {s['steps']} steps: y changes sign {s['sgd_y_sign_changes']} times with SGD, "
                            f"{s['sgdm_y_sign_changes']} with SGDM; final f {s['sgd_final_loss']:.2e} vs {s['sgdm_final_loss']:.2e}",
                "numbers": s})
  return out


# ------------------------------------------------------------------- page


def headline(tasks, optimizers, all_rows) -> tuple[str, dict]:
  ranks = {o: [] for o in optimizers}
  cells = {}
  for t in tasks:
    task = get_task(t)
    rows = [r for r in all_rows if r["task"] == t]
    order = sorted(rows, key=lambda r: report.rank_key(task, r))
    for i, r in enumerate(order):
      ranks[r["optimizer"]].append(i + 1)
      cell = report.fmt(r["final_mean"], 3)
      if r["diverged"]:
        cell += "†"
      cells[(t, r["optimizer"])] = f"**{cell}**" if i == 0 else cell
  mean_rank = {o: float(np.mean(v)) if v else math.nan for o, v in ranks.items()}
  head = ["optimizer"] + [f"{t} ({get_task(t).metric} {'↓' if get_task(t).mode == 'min' else '↑'})" for t in tasks] + ["mean rank"]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for o in sorted(optimizers, key=lambda o: mean_rank[o]):
    lines.append("| " + " | ".join([o] + [cells.get((t, o), "") for t in tasks] + [f"{mean_rank[o]:.1f}"]) + " |")
  return "\n".join(lines), mean_rank


def run_survey(preset: str, out: str, seeds=None, steps_scale: float = 1.0, progress: bool = True) -> dict:
  from optax_survey.harness.cli import compare

  spec = PRESETS[preset]
  os.makedirs(out, exist_ok=True)
  _OUT[0] = out
  start = time.perf_counter()
  all_rows, runs, figures, timings = [], {}, {}, {}
  for t in spec["tasks"]:
    task = get_task(t)
    steps = max(2, int(round(task.steps * steps_scale)))
    t0 = time.perf_counter()
    _, results, rows, _ = compare(t, spec["optimizers"], seeds=seeds, steps=steps, out=None,
                                  progress=progress)
    plots.write_plots(out, task, results, prefix=f"{t}_")
    figures[t] = [f"{t}_curves.png"] + ([f"{t}_trajectories.png"] if task.kind == "2d" else [])
    timings[t] = time.perf_counter() - t0
    all_rows += rows
    runs[t] = {r.optimizer: r for r in results}
    for r in results:  # keep what the claims need, drop the big arrays
      if task.kind != "online":
        r.path = r.slow_path = None
  fig1_path, fig1 = figure1(out)
  fig2_path, fig2 = figure2(out)
  reddi_path = reddi_figure(out, runs)
  lr_results, lr_rows, lr_path = (None, [], None)
  spread = None
  if spec["lr_study"]:
    lr_results, lr_rows, lr_path = lr_study(progress, steps_scale)
    spread = step_size_spread(steps=max(10, int(round(1000 * steps_scale))))
  claim_list = claims(all_rows, runs, fig1, fig2, spread, lr_results)
  total = time.perf_counter() - start
  table, mean_rank = headline(spec["tasks"], spec["optimizers"], all_rows)

  with open(os.path.join(out, "survey.csv"), "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=report.CSV_FIELDS)
    writer.writeheader()
    for r in all_rows + lr_rows:
      writer.writerow({k: r[k] for k in report.CSV_FIELDS})
  summary = {"preset": preset, "seconds": total, "task_seconds": timings, "rows": all_rows,
             "lr_study_rows": lr_rows, "claims": claim_list, "mean_rank": mean_rank,
             "figure1": fig1, "figure2": fig2, "step_size_spread": spread}
  with open(os.path.join(out, "survey.json"), "w") as f:
    json.dump(summary, f, indent=1, default=str)
  md = page(preset, spec, out, table, all_rows, lr_rows, claim_list, figures, fig1_path, fig2_path,
            reddi_path, lr_path, total, timings, seeds, steps_scale)
  with open(os.path.join(out, "survey.md"), "w") as f:
    f.write(md)
  print("\n" + table)
  print("\nClaims:")
  for c in claim_list:
    print(f"- {c['claim']}: {c['verdict']}. {c['evidence']}")
  print(f"\nwrote {out}/survey.md, survey.csv, survey.json and the PNGs in {total:.0f} s")
  return summary


def page(preset, spec, out, table, all_rows, lr_rows, claim_list, figures, fig1_path, fig2_path,
         reddi_path, lr_path, total, timings, seeds, steps_scale) -> str:
  import flax
  import matplotlib

  cmd = "optax-survey survey --preset full --out benchmarks/results" if preset == "full" else "optax-survey"
  extra = []
  if seeds is not None:
    extra.append(f"--seeds {seeds}")
  if steps_scale != 1.0:
    extra.append(f"--steps-scale {steps_scale:g}")
  if extra:
    cmd += " " + " ".join(extra)
  L = [f"# The survey in numbers ({preset} preset)", "",
       f"Produced by `{cmd}` (or `python -m optax_survey ...`) in {total / 60:.1f} min on "
       f"{platform.machine()} CPU ({os.cpu_count()} cores), "
       f"Python {platform.python_version()}, jax {jax.__version__}, optax {optax.__version__}, "
       f"flax {flax.__version__}, matplotlib {matplotlib.__version__}, float32; "
       f"{datetime.date.today().isoformat()}.", "",
       "Every optimizer runs with its published defaults except the learning rate, which is fixed per "
       "task and per optimizer family (`lrs` in each task module, `optax-survey tasks`); seeds (and "
       "learning-rate grids) of one optimizer run as one vmapped, compiled program. Lookahead wraps "
       "Adam (k = 5, α = 0.5) and is evaluated on its slow weights. Numbers are mean ± std over seeds "
       "of the metric at the last step.", "",
       "## Headline: final metric per task (best in bold, † = a seed diverged)", "", table, "",
       "## The survey's claims, checked", ""]
  for c in claim_list:
    L.append(f"- **{c['claim']}**: {c['verdict']}. {c['evidence']}.")
  L += ["", "## Figures", ""]
  L.append(f"![Figure 1]({os.path.basename(fig1_path)})")
  L.append(f"![Figure 2]({os.path.basename(fig2_path)})")
  if reddi_path:
    L.append(f"![Reddi et al.]({os.path.basename(reddi_path)})")
  if lr_path:
    L.append(f"![learning-rate sensitivity]({os.path.basename(lr_path)})")
  L.append("")
  if any(r["task"].startswith("mnist1d") for r in all_rows):
    L += ["## MNIST-1D next to the paper", "",
          "Greydanus & Kobak report test accuracies of 32% (logistic regression), 68% (MLP), 94% (CNN), "
          "91% (GRU), 96% (human), training with Adam (lr 1e-2, batch 100, 6000 steps). Ours: the same "
          "data (`make_dataset`, default arguments) and models, fewer steps.", "",
          "| model | paper (Adam) | ours, Adam | ours, best optimizer |", "|---|---|---|---|"]
    for t, paper in (("mnist1d-mlp", "68%"), ("mnist1d-cnn", "94%")):
      rows = [r for r in all_rows if r["task"] == t]
      if not rows:
        continue
      adam = _row(rows, t, "adam")
      best = max(rows, key=lambda r: r["final_mean"] if math.isfinite(r["final_mean"]) else -1)
      L.append(f"| {t.split('-')[1].upper()} ({rows[0]['steps']} steps) | {paper} | "
               f"{100 * adam['final_mean']:.1f} ± {100 * adam['final_std']:.1f}% | "
               f"{best['optimizer']}: {100 * best['final_mean']:.1f} ± {100 * best['final_std']:.1f}% |")
    L.append("")
  L += ["## Tasks", ""]
  for t in spec["tasks"]:
    task = get_task(t)
    rows = [r for r in all_rows if r["task"] == t]
    L += [f"### {t}", "", f"{task.description}. {rows[0]['steps']} steps, {rows[0]['seeds']} seeds, "
          f"{timings[t]:.0f} s.", "", report.format_table(task, rows, markdown=True), ""]
    L += [f"![{f}]({f})" for f in figures[t]] + [""]
  if lr_rows:
    task = get_task(LR_STUDY["task"])
    L += ["### Learning-rate sensitivity (digits-mlp)", "", report.format_table(task, lr_rows, markdown=True), ""]
  L += ["Raw numbers: `survey.csv` (one row per task, optimizer and learning rate), `survey.json` "
        "(with the claims' numbers).", ""]
  return "\n".join(L)


def rerender(out: str) -> str:
  """Rewrites ``out/survey.md`` from ``out/survey.json`` without training again."""
  with open(os.path.join(out, "survey.json")) as f:
    summary = json.load(f)
  spec = PRESETS[summary["preset"]]
  rows, lr_rows = summary["rows"], summary["lr_study_rows"]
  table, _ = headline(spec["tasks"], spec["optimizers"], rows)
  figures = {t: [f"{t}_curves.png"] + ([f"{t}_trajectories.png"] if get_task(t).kind == "2d" else [])
             for t in spec["tasks"]}
  exists = lambda name: name if os.path.exists(os.path.join(out, name)) else None
  md = page(summary["preset"], spec, out, table, rows, lr_rows, summary["claims"], figures,
            "figure1_sgd_vs_sgdm.png", "figure2_lookahead.png", exists("reddi_adam_vs_amsgrad.png"),
            exists("lr_sensitivity.png"), summary["seconds"], summary["task_seconds"], None, 1.0)
  path = os.path.join(out, "survey.md")
  with open(path, "w") as f:
    f.write(md)
  return path
