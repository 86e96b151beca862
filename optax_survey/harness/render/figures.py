"""Every PNG figure of the harness: learning curves with seed bands, the learning-rate
grid (one panel per optimizer), 2-D trajectories and the gallery of them, performance
profiles, and the survey's own figures (Figures 1 and 2, Reddi et al.'s runs).

Each function takes runs (:class:`~optax_survey.harness.runs.RunResult`) or
summaries (a :class:`~optax_survey.harness.surface.LossSurface`), never trains, writes
one file and returns its path.

Every figure uses matplotlib's constrained layout (no clipped titles) and keeps
legends outside the axes that hold data.
"""

from __future__ import annotations

import textwrap
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from optax_survey.harness import registry
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import Task

if TYPE_CHECKING:
  from optax_survey.harness.surface import LossSurface

__all__ = ["DPI", "GRID_DPI", "color", "figure1", "figure2", "fmt_value", "gallery", "grid_curves",
           "learning_curves", "performance_profiles", "reddi", "surface_lines", "surface_planes",
           "trajectories"]

DPI = 90
GRID_DPI = 100  # the grid figure: 3.2 x 2.6 inch panels, 10 pt titles at 100 % zoom


def _plt():
  import sys

  import matplotlib

  if "matplotlib.pyplot" not in sys.modules:  # headless by default; a notebook keeps its own
    matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def color(name: str):
  """The colour of optimizer ``name`` in every figure (matplotlib's "tab20" colours,
  in the registry's order).

  Args:
    name: an optimizer's name; every name outside the registry gets the same grey.

  Returns:
    An RGBA tuple of floats in [0, 1].

  Example:
    >>> rgba = color("adam")
    >>> len(rgba), all(0.0 <= v <= 1.0 for v in rgba), color("adam") == rgba
    (4, True, True)
    >>> color("not an optimizer") == color("nor this one")
    True
  """
  plt = _plt()
  names = list(registry.OPTIMIZERS)
  return plt.get_cmap("tab20")(names.index(name) % 20 if name in names else 19)


# Lines that may lie on top of each other (optimizers that take the same path, step
# functions with the same values) are told apart by a dash pattern, a width that shrinks
# (the line under another shows at its edges) and a marker, per line in turn.
LINE_STYLES = (("-", 2.6), ("--", 2.0), ("-.", 1.5), (":", 1.3))
LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def line_style(k: int) -> dict:
  """The dash pattern, width and marker of the ``k``-th line of a panel.

  Example:
    >>> line_style(0), line_style(5)["ls"]
    ({'ls': '-', 'lw': 2.6, 'marker': 'o'}, '--')
  """
  ls, lw = LINE_STYLES[k % len(LINE_STYLES)]
  return {"ls": ls, "lw": lw, "marker": LINE_MARKERS[k % len(LINE_MARKERS)]}


def _label(result: RunResult, i: int) -> str:
  return result.optimizer if len(result.lrs) == 1 else f"{result.optimizer} @ {result.lrs[i]:g}"


def _band(ax, x, curves, label, c, log=False):
  """Mean over seeds with a min-max band."""
  with np.errstate(all="ignore"), warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    data = np.where(np.isfinite(curves), curves, np.nan)
    if log:
      data = np.maximum(data, 1e-12)
    mean = np.nanmean(data, axis=0) if not log else np.exp(np.nanmean(np.log(data), axis=0))
    lo, hi = np.nanmin(data, axis=0), np.nanmax(data, axis=0)
  ax.plot(x, mean, color=c, label=label, lw=1.4)
  if curves.shape[0] > 1:
    ax.fill_between(x, lo, hi, color=c, alpha=0.18, lw=0)


def _smooth(curves: np.ndarray, width: int) -> np.ndarray:
  if width <= 1:
    return curves
  kernel = np.ones(width) / width
  return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), -1, curves)


def learning_curves(task: Task, results: list[RunResult], path: str, title: str | None = None):
  """The metric and the training loss of each run, mean over seeds with a min-max band.

  A run over several learning rates gives one line per rate; an online task's
  right panel shows the average regret instead of the training loss.

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> path = learning_curves(task, [run("sgd"), run("adam")], os.path.join(out, "c.png"))
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('c.png', True)
  """
  plt = _plt()
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.6), layout="constrained")
  online = task.kind == "online"
  for res in results:
    for i in range(len(res.lrs)):
      if len(res.lrs) == 1:
        c = color(res.optimizer)
      else:
        c = plt.get_cmap("viridis")(i / max(1, len(res.lrs) - 1))
      label = _label(res, i)
      _band(ax1, res.eval_steps, res.metrics[task.metric][i], label, c)
      if online:  # average regret R_t / t
        loss = res.loss[i].astype(np.float64)
        regret = np.cumsum(loss, -1) / np.arange(1, loss.shape[-1] + 1)
        idx = np.unique(np.geomspace(1, loss.shape[-1], 400).astype(int)) - 1
        _band(ax2, idx + 1, regret[:, idx], label, c)
      else:
        width = 1 if task.kind == "2d" else max(1, res.steps // 50)
        sm = _smooth(res.loss[i], width)
        x = np.arange(sm.shape[-1]) + width
        idx = np.unique(np.linspace(0, sm.shape[-1] - 1, 400).astype(int))
        _band(ax2, x[idx], sm[:, idx], label, c, log=task.kind == "2d")
  arrow = "lower is better" if task.mode == "min" else "higher is better"
  ax1.set(xlabel="step", ylabel=f"{task.metric} ({arrow})")
  if task.kind == "2d":
    ax1.set_yscale("log")
  if online:
    ax1.axhline(task.extra["x_star"], color="k", ls=":", lw=0.8)
    ax1.set_xscale("log")
    ax2.set(xscale="log", xlabel="t", ylabel="average regret R_t / t")
    ax2.set_yscale("symlog", linthresh=0.1)
  else:
    smoothed = "" if task.kind == "2d" else " (moving average)"
    ax2.set(xlabel="step", ylabel="training loss" + smoothed)
    if task.kind == "2d":
      ax2.set_yscale("log")
  handles, labels = ax1.get_legend_handles_labels()
  fig.legend(handles, labels, loc="outside right upper", fontsize=7,
             ncol=1 if len(labels) <= 12 else 2)
  fig.suptitle(title or f"{task.name}: {task.description}", fontsize=9, wrap=True)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def _contour(ax, task: Task):
  import jax
  import jax.numpy as jnp

  (x0, x1), (y0, y1) = task.extra["bounds"]
  xs, ys = np.linspace(x0, x1, 200), np.linspace(y0, y1, 200)
  grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2).astype(np.float32)
  z = np.asarray(jax.vmap(task.extra["f"])(jnp.asarray(grid))).reshape(200, 200)
  z = z - task.extra["f_star"]
  levels = np.geomspace(max(z.min(), 0) + 1e-3, z.max(), 25) if z.min() >= -1e-9 else 25
  ax.contour(xs, ys, z, levels=levels, cmap="Greys", linewidths=0.5, alpha=0.7)
  for m in task.extra["minima"]:
    ax.plot(*m, marker="*", color="k", ms=10, ls="")
  ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")


def trajectories(task: Task, results: list[RunResult], path: str, title: str | None = None,
                 max_points: int | None = None):
  """The first seed's path of each run over the contours of a 2-D task.

  Args:
    task: a 2-D task (``task.extra`` holds its function, bounds, minima and start).
    results: runs made with their paths tracked, at one learning rate each (the
      first rate's path is drawn).
    path: the PNG file to write.
    title: the title (default: the task's name).
    max_points: draw at most this many steps of each path (default: all).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> path = trajectories(task, [run("sgd"), run("adam")], os.path.join(out, "t.png"))
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('t.png', True)
  """
  plt = _plt()
  fig, ax = plt.subplots(figsize=(7.6, 5.0), layout="constrained")
  _contour(ax, task)
  for k, res in enumerate(results):
    if res.path is None:
      raise ValueError(f"{res.optimizer} on {task.name} was run without track_path")
    p = res.path[0, 0]
    if max_points:
      p = p[: max_points + 1]
    label = res.optimizer if len(res.lrs) != 1 else f"{res.optimizer} (lr {res.lrs[0]:.3g})"
    style = line_style(k)
    ax.plot(p[:, 0], p[:, 1], color=color(res.optimizer), ls=style["ls"],
            lw=style["lw"] * 0.6, label=label, alpha=0.9, marker=style["marker"], ms=4,
            markevery=max(1, (len(p) - 1) // 8), zorder=2 + k)
  ax.plot(*task.extra["start"], "ks", ms=4)
  fig.legend(loc="outside right upper", fontsize=7)
  ax.set_title(textwrap.fill(title or f"{task.name}: trajectories (first seed)", 80), fontsize=9)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def _panels(n: int, *, width: float = 2.6, height: float = 2.2, max_cols: int = 6):
  plt = _plt()
  cols = min(n, max_cols)
  rows = -(-n // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 1.2, height * rows + 0.6),
                           squeeze=False, layout="constrained")
  for ax in axes.ravel()[n:]:
    ax.set_axis_off()
  return fig, axes.ravel()[:n]


def _seed_mean(curves: np.ndarray, log: bool) -> np.ndarray:
  """``[n_seeds, E] -> [E]``: the mean over seeds (geometric on a log axis), NaN from the
  first evaluation at which a seed is not finite (a diverged run ends its curve)."""
  with np.errstate(all="ignore"), warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    ok = np.isfinite(curves).all(axis=0)
    ok = np.logical_and.accumulate(ok)
    data = np.maximum(curves, 1e-12) if log else curves
    mean = np.exp(np.log(data).mean(axis=0)) if log else data.mean(axis=0)
  return np.where(ok, mean, np.nan)


def _first_divergence(curves: np.ndarray) -> int | None:
  """The first evaluation at which a seed of ``curves`` ``[n_seeds, E]`` is not finite."""
  bad = ~np.isfinite(curves).all(axis=0)
  return int(np.argmax(bad)) if bad.any() else None


GRID_STYLES = ("-", "--", "-.", ":")


def grid_curves(task: Task, results: list[RunResult], path: str,
                selected: dict[str, float] | None = None, title: str | None = None,
                tuned: Mapping[str, RunResult] | None = None) -> str:
  """The metric over steps at every learning rate of the grid, one panel per optimizer.

  Lines are coloured by ``log10(lr)`` (one colour bar for all panels) and
  dashed in turn, with a marker at every evaluation, so that lines that overlap
  stay apart; each is the mean over the grid's seeds.  The selected rate of
  each optimizer (``selected``) is named in the panel's title and drawn thick
  and black: where its runs in ``tuned`` are given (the reruns on fresh seeds,
  the table's numbers) those thick and the grid's runs (the seeds it was
  selected on) thin and dashed, else the grid's runs thick.  A rate at which a run diverged ends
  its line there with a ``×`` at the top of the panel; the axis is set by the
  finite values before training and after (a diverging run's 1e26 does not
  stretch it).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> runs = [run("sgd", lrs=(0.01, 0.1, 1.0)), run("adam", lrs=(0.01, 0.1, 1.0))]
    >>> path = grid_curves(task, runs, os.path.join(out, "grid.png"),
    ...                    selected={"sgd": 0.1, "adam": 0.01})
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('grid.png', True)
  """
  plt = _plt()
  import matplotlib as mpl

  all_lrs = [lr for r in results for lr in r.lrs]
  norm = mpl.colors.LogNorm(vmin=min(all_lrs), vmax=max(all_lrs) * (1.0001 if len(set(all_lrs)) == 1
                                                                    else 1.0))
  cmap = plt.get_cmap("viridis")
  fig, axes = _panels(len(results), width=3.2, height=2.6, max_cols=3)  # ~1000 px wide
  log = task.kind == "2d"
  for ax, res in zip(axes, results, strict=True):
    curves = res.metrics[task.metric]
    chosen = selected.get(res.optimizer) if selected else None
    start = np.nanmax(np.abs(curves[:, :, 0])) if np.isfinite(curves[:, :, 0]).any() else 1.0
    for i, lr in enumerate(res.lrs):
      is_sel = chosen is not None and abs(lr - chosen) <= 1e-9 * lr
      rerun = is_sel and bool(tuned) and res.optimizer in (tuned or {})
      c = "k" if is_sel else cmap(norm(lr))
      # the selected rate: thick black, or thin dashed black when its reruns are drawn
      ax.plot(res.eval_steps, _seed_mean(curves[i], log), color=c,
              lw=1.1 if rerun or not is_sel else 2.2,
              ls="--" if rerun else ("-" if is_sel else GRID_STYLES[i % len(GRID_STYLES)]),
              marker="o", ms=2.5, zorder=3 if is_sel else 2)
      bad = _first_divergence(curves[i])
      if bad is not None:
        ax.plot(res.eval_steps[bad], 0.96, marker="x", ms=7, mew=2, color=c, zorder=4,
                transform=ax.get_xaxis_transform(), clip_on=False)
    if chosen is not None and tuned and res.optimizer in tuned:
      rerun = tuned[res.optimizer]
      ax.plot(rerun.eval_steps, _seed_mean(rerun.metrics[task.metric][0], log), color="k",
              lw=2.2, marker="o", ms=3, zorder=3)
      bad = _first_divergence(rerun.metrics[task.metric][0])
      if bad is not None:
        ax.plot(rerun.eval_steps[bad], 0.96, marker="x", ms=7, mew=2, color="k", zorder=4,
                transform=ax.get_xaxis_transform(), clip_on=False)
    name = res.optimizer + (f", selected lr {chosen:.3g}" if chosen is not None else "")
    ax.set_title(name, fontsize=10)
    ax.tick_params(labelsize=8)
    if log:
      ax.set_yscale("log")
      ax.set_ylim(top=10 * max(start, 1e-12))
    elif task.mode == "max" and task.metric == "acc":
      ax.set_ylim(0.0, 1.0)
    elif task.mode == "min" and np.isfinite(start):
      ax.set_ylim(top=1.5 * start)  # a run that blows up leaves the axis, not the scale
  split = "test" if task.held_out else "objective"
  fig.supxlabel("step", fontsize=10)
  fig.supylabel(f"{task.metric} ({split}, mean over seeds)", fontsize=10)
  fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), location="right",
               label="learning rate", shrink=0.8, pad=0.02)
  black = ("black: the selected rate, dashed on the seeds it was selected on (validation), "
           "thick on fresh seeds (the table's numbers)" if task.held_out else
           "black: the selected rate, dashed on the seeds it was selected on, thick on fresh "
           "seeds (the table's numbers)")
  width = int(fig.get_figwidth() * 11)  # characters of 11 pt text across the figure
  fig.suptitle(title or textwrap.fill(f"{task.name}: the learning-rate grid, one panel per "
                                      f"optimizer; {black}; × a run that diverged", width),
               fontsize=11)
  fig.savefig(path, dpi=GRID_DPI)
  plt.close(fig)
  return path


def gallery(task: Task, results: list[RunResult], path: str, title: str | None = None) -> str:
  """Small multiples of 2-D trajectories, one panel per optimizer, each at the rate
  its run used (the tuned one), with the rate and the final value in the title.

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> path = gallery(task, [run("sgd"), run("adam")], os.path.join(out, "gallery.png"))
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('gallery.png', True)
  """
  plt = _plt()
  fig, axes = _panels(len(results), width=2.5, height=2.2)
  for ax, res in zip(axes, results, strict=True):
    if res.path is None:
      raise ValueError(f"{res.optimizer} on {task.name} was run without track_path")
    _contour(ax, task)
    p = res.path[0, 0]
    ax.plot(p[:, 0], p[:, 1], color=color(res.optimizer), lw=1.2)
    ax.plot(p[-1, 0], p[-1, 1], "o", color=color(res.optimizer), ms=3)
    ax.plot(*task.extra["start"], "ks", ms=3)
    final = float(res.metrics[task.metric][0, 0, -1])
    ax.set_title(f"{res.optimizer}: lr {res.lrs[0]:.3g}, f = {fmt_value(final)}", fontsize=8)
    ax.set(xlabel="", ylabel="")
    ax.tick_params(labelsize=6)
  fig.suptitle(title or f"{task.name}: each optimizer at its tuned learning rate "
               "(first fresh seed; ■ start, ★ minimum)", fontsize=9)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def fmt_value(value: float) -> str:
  """A final value as a figure's title shows it: 3 significant digits, scientific when
  tiny or huge.

  Args:
    value: the value.

  Returns:
    The text; ``"nan"`` if ``value`` is not finite.

  Example:
    >>> fmt_value(0.12345), fmt_value(1e-5), fmt_value(12345.0), fmt_value(float("nan"))
    ('0.123', '1.00e-05', '1.23e+04', 'nan')
  """
  if not np.isfinite(value):
    return "nan"
  if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4):
    return f"{value:.2e}"
  return f"{value:.3g}"


def performance_profiles(profiles: dict[str, dict[str, np.ndarray]], taus: np.ndarray,
                         path: str, n_tasks: int) -> str:
  """Performance profiles side by side, one panel per budget: the fraction of tasks on
  which each optimizer is within ``tau`` of the best (``tau`` as a fraction of the way
  from the start to the best).

  Args:
    profiles: per budget, per optimizer, the profile at each of ``taus``
      (:func:`~optax_survey.harness.analysis.stats.performance_profile`).
    taus: the thresholds.
    path: the PNG file to write.
    n_tasks: the number of tasks (for the titles).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> taus = np.geomspace(1e-3, 10.0, 61)
    >>> rho = {"sgd": (taus >= 0.1).astype(float), "adam": (taus >= 0.01).astype(float)}
    >>> path = performance_profiles({"one-shot": rho, "tuned": rho}, taus,
    ...                             os.path.join(tempfile.mkdtemp(), "profile.png"), n_tasks=1)
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('profile.png', True)

  References:
    Dolan & Moré, `Benchmarking optimization software with performance profiles
    <https://arxiv.org/abs/cs/0102001>`__, Mathematical Programming 91, 2002.
  """
  plt = _plt()
  fig, axes = plt.subplots(1, len(profiles), figsize=(5.0 * len(profiles) + 2.0, 4.2),
                           squeeze=False, sharey=True, layout="constrained")
  for ax, (budget, curves) in zip(axes[0], profiles.items(), strict=True):
    for k, (name, rho) in enumerate(curves.items()):
      style = line_style(k)
      ax.step(taus, rho, where="post", color=color(name), ls=style["ls"], lw=style["lw"],
              label=name, zorder=2 + k)
      ax.plot(taus[k % 6::12], rho[k % 6::12], ls="", marker=style["marker"], ms=4,
              color=color(name), zorder=2 + k)
    ax.set(xscale="log", xlabel="τ: distance to the best, as a fraction of start-to-best",
           title=f"{budget} budget ({n_tasks} tasks)", ylim=(-0.02, 1.02))
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
  axes[0, 0].set_ylabel("fraction of tasks within τ of the best")
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="outside right upper", fontsize=7)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def figure1(task: Task, sgd: RunResult, sgdm: RunResult, path: str, steps: int) -> str:
  """Survey Figure 1: SGD zig-zags across an ill-conditioned valley, SGDM does not.

  Returns:
    ``path`` (:func:`trajectories` of the two runs, titled with their rates).

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> path = figure1(task, run("sgd"), run("sgdm"), os.path.join(out, "f1.png"), steps=20)
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('f1.png', True)
  """
  return trajectories(
      task, [sgd, sgdm], path,
      title=f"Survey Fig. 1: f = 0.05x² + 2y², {steps} steps, first seed: SGD (lr "
            f"{sgd.lrs[0]:g}) zig-zags, SGDM (lr {sgdm.lrs[0]:g}, μ 0.9) does not")


def figure2(task: Task, lookahead: RunResult, adam: RunResult, path: str, steps: int) -> str:
  """Survey Figure 2: Lookahead's fast weights explore, the slow weights interpolate.

  Args:
    task: the 2-D task.
    lookahead: Lookahead's run, with its fast and slow paths tracked.
    adam: Adam's run alone, with its path tracked.
    path: the PNG file to write.
    steps: the number of steps (for the title).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, lrs=(0.1,), slow=False):  # 2 seeds, 20 steps: x_t = 0.9^t x_0
    ...   path = 0.9 ** np.arange(21.0)[:, None] * np.array([-9.0, 1.5])  # [steps + 1, 2]
    ...   path = np.broadcast_to(path, (len(lrs), 2, 21, 2)).astype(np.float32)
    ...   f = 0.05 * path[..., 0] ** 2 + 2.0 * path[..., 1] ** 2  # the quadratic
    ...   return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=20,
    ...                    eval_steps=np.array([10, 20]), metrics={"loss": f[..., [10, 20]]},
    ...                    loss=f[..., 1:], update_norm=np.zeros_like(f[..., 1:]), path=path,
    ...                    slow_path=path if slow else None)
    >>> task, out = get_task("quadratic"), tempfile.mkdtemp()
    >>> path = figure2(task, run("lookahead", slow=True), run("adam"),
    ...                os.path.join(out, "f2.png"), steps=20)
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('f2.png', True)

  References:
    Zhang, Lucas, Ba & Hinton, `Lookahead Optimizer: k steps forward, 1 step back
    <https://arxiv.org/abs/1907.08610>`__, NeurIPS 2019.
  """
  plt = _plt()
  assert lookahead.path is not None and lookahead.slow_path is not None
  assert adam.path is not None
  fig, ax = plt.subplots(figsize=(8.0, 5.0), layout="constrained")
  _contour(ax, task)
  fast, slow = lookahead.path[0, 0], lookahead.slow_path[0, 0]
  k = registry.LOOKAHEAD_ARGS["sync_period"]
  alpha = registry.LOOKAHEAD_ARGS["slow_step_size"]
  ax.plot(adam.path[0, 0, :, 0], adam.path[0, 0, :, 1], color="0.6", lw=0.8, ls="--",
          label="adam alone")
  ax.plot(fast[:, 0], fast[:, 1], color=color("adam"), lw=1.0,
          label="fast weights (inner adam)")
  syncs = slow[::k]
  ax.plot(syncs[:, 0], syncs[:, 1], "o-", color=color("lookahead"), lw=2.0, ms=4,
          label=f"slow weights (every k={k} steps, α={alpha})")
  fig.legend(loc="outside right upper", fontsize=7)
  ax.set_title(f"Survey Fig. 2: Lookahead(adam, lr {lookahead.lrs[0]:g}) on f = 0.05x² + "
               f"2y²,\n{steps} steps, first seed", fontsize=9)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def reddi(settings: Sequence[tuple[Task, Mapping[str, RunResult]]], path: str) -> str:
  """x_t and R_t/t of Adam and AMSGrad on each of Reddi et al.'s settings: per setting,
  its task and the runs to draw (``{"adam": run, "amsgrad": run}``, first seed).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, x_end):  # one seed, 50 steps, x_t moving linearly from 1 to x_end
    ...   x = np.linspace(1.0, x_end, 51, dtype=np.float32).reshape(1, 1, 51, 1)
    ...   return RunResult(task="reddi", optimizer=name, lrs=[0.5], seeds=1, steps=50,
    ...                    eval_steps=np.array([50]), metrics={"x": x[:, :, -1:, 0]},
    ...                    loss=x[:, :, 1:, 0], update_norm=np.zeros((1, 1, 50)), path=x)
    >>> settings = [(get_task("reddi"), {"adam": run("adam", 1.0),
    ...                                  "amsgrad": run("amsgrad", -1.0)})]
    >>> path = reddi(settings, os.path.join(tempfile.mkdtemp(), "reddi.png"))
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('reddi.png', True)

  References:
    Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
    <https://openreview.net/forum?id=ryQu7f-RZ>`__, ICLR 2018.
  """
  plt = _plt()
  fig, axes = plt.subplots(2, len(settings), figsize=(4.2 * len(settings) + 1.5, 6.0),
                           squeeze=False, layout="constrained")
  for j, (task, runs) in enumerate(settings):
    for opt, res in runs.items():
      if res.path is None:
        continue
      p = res.path[0, 0, :, 0]
      label = f"{opt} (tuned α {res.lrs[0]:.3g})"
      idx = np.unique(np.geomspace(1, len(p), 500).astype(int)) - 1
      axes[0, j].plot(idx + 1, p[idx], color=color(opt), label=label)
      loss = res.loss[0, 0].astype(np.float64)
      regret = np.cumsum(loss) / np.arange(1, len(loss) + 1)
      idx = np.unique(np.geomspace(1, len(loss), 500).astype(int)) - 1
      axes[1, j].plot(idx + 1, regret[idx], color=color(opt), label=label)
    e = task.extra
    axes[0, j].set(xscale="log", ylim=(-1.1, 1.1), ylabel="x_t")
    axes[0, j].set_title(f"{task.name}: C={e['big']:g}, β1={e['b1']:g}, β2={e['b2']:.3g}, "
                         "α/√t", fontsize=8)
    axes[0, j].axhline(-1, color="k", ls=":", lw=0.8)
    axes[1, j].set(xscale="log", xlabel="t", ylabel="R_t / t")
    axes[1, j].set_yscale("symlog", linthresh=0.1)
    axes[1, j].legend(fontsize=7, loc="upper right")
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def _levels(values: np.ndarray, n: int = 24):
  """Contour levels and a colour norm for all of ``values`` (log-spaced where every finite
  value is positive), and the range they cover."""
  import matplotlib as mpl

  finite = values[np.isfinite(values)]
  lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
  hi = hi if hi > lo else lo + 1.0
  if lo > 0:
    return np.geomspace(lo, hi, n), mpl.colors.LogNorm(lo, hi), (lo, hi)
  return np.linspace(lo, hi, n), mpl.colors.Normalize(lo, hi), (lo, hi)


def surface_planes(surface: LossSurface, path: str, title: str | None = None) -> str:
  """The 2-D slices of the loss around each optimizer's final parameters, one panel per
  optimizer on one colour scale, the final point (★) in the middle; each panel's title
  gives the learning rate, the final loss and the sharpness λ_max.

  Args:
    surface: a :class:`~optax_survey.harness.surface.LossSurface`.
    path: the PNG file to write.
    title: the title (default: the task and how the slices were drawn).

  Returns:
    ``path``.

  Example:
    >>> import os, tempfile
    >>> from optax_survey.harness.surface import loss_surface
    >>> surface = loss_surface("quadratic", ["sgd", "adam"], steps=10, points=5)
    >>> path = surface_planes(surface, os.path.join(tempfile.mkdtemp(), "planes.png"))
    >>> os.path.basename(path), os.path.getsize(path) > 1000
    ('planes.png', True)
  """
  plt = _plt()
  import matplotlib as mpl

  c = surface.coordinates
  levels, norm, (lo, hi) = _levels(surface.planes)
  fig, axes = _panels(len(surface.optimizers), width=2.9, height=2.7, max_cols=4)
  for k, ax in enumerate(axes):
    z = np.where(np.isfinite(surface.planes[k]), np.clip(surface.planes[k], lo, hi), hi)
    ax.contourf(c, c, z, levels=levels, norm=norm, cmap="viridis")
    ax.contour(c, c, z, levels=levels[::2], colors="k", linewidths=0.4, alpha=0.5)
    ax.plot(0.0, 0.0, marker="*", color="w", mec="k", ms=10, ls="")
    ax.set_title(f"{surface.optimizers[k]} (lr {surface.lrs[k]:.3g})\nloss "
                 f"{fmt_value(float(surface.final_loss[k]))}, λ_max "
                 f"{fmt_value(float(surface.sharpness[k]))}", fontsize=9)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
  fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=list(axes),
               label="loss", shrink=0.85, pad=0.02)
  fig.supxlabel("x: along d₁", fontsize=9)
  fig.supylabel("y: along d₂", fontsize=9)
  width = int(fig.get_figwidth() * 11)
  fig.suptitle(title or textwrap.fill(
      f"{surface.task}: {surface.objective} on θ + x d₁ + y d₂ around each optimizer's "
      f"final parameters θ (seed {surface.seed}, {surface.steps} steps); d₁, d₂ "
      f"{surface.directions}; λ_max: the largest Hessian eigenvalue at θ", width),
      fontsize=10)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def _loss_axis(ax, values: np.ndarray) -> None:
  """A log loss axis where every finite value is positive; a linear one else."""
  finite = values[np.isfinite(values)]
  if finite.size and finite.min() > 0:
    ax.set_yscale("log")


def surface_lines(surface: LossSurface, path: str, title: str | None = None) -> str:
  """The loss along straight lines: from the initial parameters to each optimizer's
  solution (left), and between consecutive optimizers' solutions (right, with each
  pair's loss barrier); α = 0 and 1 are the lines' ends.

  Args:
    surface: a :class:`~optax_survey.harness.surface.LossSurface`.
    path: the PNG file to write.
    title: the title (default: the task and the objective).

  Returns:
    ``path``.

  Example: one optimizer, so no pair (one panel):

    >>> import os, tempfile
    >>> from optax_survey.harness.surface import loss_surface
    >>> alone = loss_surface("quadratic", "adam", steps=10, points=3)
    >>> written = surface_lines(alone, os.path.join(tempfile.mkdtemp(), "lines.png"))
    >>> alone.pairs, os.path.basename(written), os.path.getsize(written) > 1000
    ((), 'lines.png', True)
  """
  plt = _plt()
  a = surface.alphas
  panels = 2 if surface.pairs else 1
  fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels + 0.6, 4.4), squeeze=False,
                           layout="constrained")
  left = axes[0, 0]
  for k, name in enumerate(surface.optimizers):
    style = line_style(k)
    left.plot(a, surface.lines[k], color=color(name), ls=style["ls"], lw=style["lw"] * 0.7,
              marker=style["marker"], ms=3, markevery=5, label=f"{name} (lr "
              f"{surface.lrs[k]:.3g})", zorder=2 + k)
  left.set(xlabel="α: θ₀ + α (θ − θ₀)", ylabel="loss",
           title="from the initial parameters θ₀ (α = 0) to each solution θ (α = 1)")
  _loss_axis(left, surface.lines)
  for k, ((first, second), barrier) in enumerate(zip(surface.pairs, surface.barriers,
                                                     strict=True)):
    style = line_style(k)
    axes[0, 1].plot(a, surface.between[k], color=color(second), ls=style["ls"],
                    lw=style["lw"] * 0.7, marker=style["marker"], ms=3, markevery=5,
                    label=f"{first} → {second} (barrier {fmt_value(barrier)})", zorder=2 + k)
  if surface.pairs:
    axes[0, 1].set(xlabel="α: θ_a + α (θ_b − θ_a)",
                   title="between solutions θ_a (α = 0) and θ_b (α = 1)")
    _loss_axis(axes[0, 1], surface.between)
  for ax in axes[0]:
    for end in (0.0, 1.0):
      ax.axvline(end, color="0.6", lw=0.8, zorder=1)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
  fig.suptitle(title or f"{surface.task}: {surface.objective} along straight lines (seed "
               f"{surface.seed}, {surface.steps} steps)", fontsize=10)
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path
