"""PNG figures: learning curves with seed bands, 2-D trajectories, online runs."""

from __future__ import annotations

import os
import warnings

import numpy as np

from optax_survey.harness.registry import OPTIMIZERS
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task

DPI = 90


def _plt():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def color(name: str):
  plt = _plt()
  names = list(OPTIMIZERS)
  return plt.get_cmap("tab20")(names.index(name) % 20 if name in names else 19)


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
  plt = _plt()
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.0))
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
  ax1.legend(fontsize=7, ncol=2)
  fig.suptitle(title or f"{task.name}: {task.description}", fontsize=9)
  fig.tight_layout()
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
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6.4, 5.0))
  _contour(ax, task)
  for res in results:
    if res.path is None:
      raise ValueError(f"{res.optimizer} on {task.name} was run without track_path")
    p = res.path[0, 0]
    if max_points:
      p = p[: max_points + 1]
    ax.plot(p[:, 0], p[:, 1], color=color(res.optimizer), lw=1.1, label=res.optimizer, alpha=0.9)
    ax.plot(p[-1, 0], p[-1, 1], "o", color=color(res.optimizer), ms=3)
  ax.plot(*task.extra["start"], "ks", ms=4)
  ax.legend(fontsize=7, ncol=2, loc="best")
  ax.set_title(title or f"{task.name}: trajectories (seed 0)", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def write_plots(out_dir: str, task: Task, results: list[RunResult], prefix: str = "") -> list[str]:
  os.makedirs(out_dir, exist_ok=True)
  paths = [learning_curves(task, results, os.path.join(out_dir, f"{prefix}curves.png"))]
  if task.kind == "2d" and all(r.path is not None for r in results):
    paths.append(trajectories(task, results, os.path.join(out_dir, f"{prefix}trajectories.png")))
  return paths
