"""Numbers as text: intervals with enough digits, the results tables, CSV and JSON rows.

Every number shown is a mean over seeds with its 95% bootstrap interval
(:func:`~optax_survey.harness.stats.bootstrap_ci`), ``mean [lo, hi]``, with as
many digits as it takes for the interval's ends to differ; a deterministic
task's numbers (every seed the same run) are marked as such instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optax_survey.harness import stats
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task

__all__ = ["CSV_FIELDS", "entry_table", "fmt", "fmt_interval", "grid_rows", "result_json"]

CSV_FIELDS = ["task", "optimizer", "budget", "lr", "seeds", "first_seed", "steps", "metric",
              "mode", "split", "mean", "ci_lo", "ci_hi", "rank", "tied_best", "diverged",
              "selected_on", "values"]


def fmt(value: float | None, digits: int = 4) -> str:
  """``value`` with ``digits`` significant digits (scientific when tiny or huge)."""
  if value is None or not math.isfinite(value):
    return "nan"
  if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
    return f"{value:.{max(1, digits - 1)}e}"
  return f"{value:.{digits}g}"


def _digits_for(mean: float, width: float) -> int:
  """Significant digits of ``mean`` that show its interval's width with two digits."""
  if width <= 0 or mean == 0:
    return 3
  lead = math.floor(math.log10(abs(mean)))
  return int(min(12, max(3, lead - math.floor(math.log10(width)) + 2)))


def fmt_interval(iv: stats.Interval, *, deterministic: bool = False) -> str:
  """``mean [lo, hi]`` with enough digits that ``lo`` and ``hi`` differ; ``mean
  (deterministic)`` when every seed gives the same run; ``nan (diverged)``."""
  if not math.isfinite(iv.mean):
    return "nan (diverged)"
  if deterministic or iv.hi == iv.lo:
    return f"{fmt(iv.mean)} ({'deterministic' if deterministic else 'all seeds equal'})"
  d = _digits_for(iv.mean, iv.hi - iv.lo)
  return f"{fmt(iv.mean, d)} [{fmt(iv.lo, d)}, {fmt(iv.hi, d)}]"


def final_values(result: RunResult, metric: str, *, split: str = "test") -> np.ndarray:
  """``[n_lr, n_seeds]``: the last evaluation of ``metric`` on ``split`` ("test":
  ``task.evaluate``; "validation": ``task.validate``)."""
  source = result.metrics if split == "test" else result.val_metrics
  if source is None:
    raise ValueError(f"{result.optimizer} on {result.task} has no {split} metrics")
  return np.asarray(source[metric][:, :, -1], np.float64)


def grid_rows(task: Task, result: RunResult, *, selected: int | None) -> list[dict]:
  """One row per learning rate of ``result``: validation and test intervals over seeds."""
  rows = []
  test = final_values(result, task.metric)
  val = (final_values(result, task.metric, split="validation")
         if result.val_metrics is not None else None)
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
  return rows


def _arrow(task_mode: str) -> str:
  return "↓" if task_mode == "min" else "↑"


def entry_table(entries: Sequence[dict], *, metric: str, mode: str, deterministic: bool,
                markdown: bool = False, split: str = "test") -> str:
  """The table of one task at one budget: rank (ties kept), optimizer, learning rate,
  metric interval; the best in bold (Markdown) or starred only if its interval is
  apart from the runner-up's, else every optimizer tied with it is marked."""
  order = sorted(entries, key=lambda e: (e["rank"], _sort_key(e, mode)))
  head = ["rank", "optimizer", "lr", f"{split} {metric} {_arrow(mode)} (mean [95% CI])",
          "best"]
  alone = sum(e["tied_best"] for e in entries) == 1
  body = []
  for e in order:
    cell = fmt_interval(stats.Interval(*e["ci"]), deterministic=deterministic)
    mark = ""
    if e["tied_best"]:
      mark = "best" if alone else "tied best"
      if markdown and alone:
        cell = f"**{cell}**"
    body.append([str(e["rank"]), e["optimizer"], f"{e['lr']:.3g}", cell, mark])
  if markdown:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
  widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

  def line(cells: list[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

  return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _sort_key(entry: dict, mode: str) -> float:
  m = entry["ci"][0]
  if m is None or not math.isfinite(m):
    return math.inf
  return m if mode == "min" else -m


def result_json(result: RunResult) -> dict:
  """The curves of ``result`` (downsampled to at most 400 points) as JSON-ready lists."""
  steps = result.loss.shape[-1]
  idx = np.unique(np.linspace(0, steps - 1, min(steps, 400)).astype(int))

  def tolist(a: np.ndarray) -> list:
    return np.where(np.isfinite(a), a, np.nan).tolist()

  out = {
      "optimizer": result.optimizer, "lrs": result.lrs, "seeds": result.seeds,
      "first_seed": result.seed_offset, "steps": result.steps, "wall_s": result.wall_s,
      "compile_s": result.compile_s, "eval_steps": result.eval_steps.tolist(),
      "metrics": {k: tolist(v) for k, v in result.metrics.items()},
      "loss_steps": (idx + 1).tolist(),
      "loss": tolist(result.loss[..., idx]),
  }
  if result.val_metrics is not None:
    out["val_metrics"] = {k: tolist(v) for k, v in result.val_metrics.items()}
  return out
