"""Summaries of runs: statistics over seeds, the printed table, CSV and JSON."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable

import numpy as np

from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task

CSV_FIELDS = ["task", "optimizer", "lr", "seeds", "steps", "metric", "mode", "final_mean",
              "final_std", "best_mean", "best_std", "target", "steps_to_target_mean",
              "reached", "diverged", "wall_s", "compile_s"]


def _nan_stat(fn, values):
  values = np.asarray(values, np.float64)
  finite = values[np.isfinite(values)]
  return float(fn(finite)) if finite.size else float("nan")


def summarize(task: Task, result: RunResult) -> list[dict]:
  """One row per learning rate: final/best metric mean ± std over seeds, etc."""
  rows = []
  curves = result.metrics[task.metric]  # [n_lr, seeds, E]
  for i, lr in enumerate(result.lrs):
    c = curves[i]
    finite = np.where(np.isfinite(c), c, np.inf if task.mode == "min" else -np.inf)
    best = finite.min(-1) if task.mode == "min" else finite.max(-1)
    final = c[:, -1]
    hit = finite <= task.target if task.mode == "min" else finite >= task.target
    first = [int(result.eval_steps[np.argmax(h)]) for h in hit if h.any()]
    rows.append({
        "task": task.name, "optimizer": result.optimizer, "lr": lr, "seeds": result.seeds,
        "steps": result.steps, "metric": task.metric, "mode": task.mode,
        "final_mean": _nan_stat(np.mean, final), "final_std": _nan_stat(np.std, final),
        "best_mean": _nan_stat(np.mean, best), "best_std": _nan_stat(np.std, best),
        "target": task.target,
        "steps_to_target_mean": float(np.mean(first)) if first else float("nan"),
        "reached": len(first), "diverged": int((~np.isfinite(final)).sum()),
        "wall_s": result.wall_s, "compile_s": result.compile_s,
    })
  return rows


def rank_key(task: Task, row: dict) -> float:
  value = row["final_mean"]
  if not math.isfinite(value):
    return math.inf
  return value if task.mode == "min" else -value


def fmt(value: float, digits: int = 4) -> str:
  if value is None or not math.isfinite(value):
    return "nan"
  if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
    return f"{value:.2e}"
  return f"{value:.{digits}g}"


def pm(mean: float, std: float) -> str:
  return f"{fmt(mean)} ± {fmt(std, 2)}"


def format_table(task: Task, rows: Iterable[dict], markdown: bool = False) -> str:
  rows = sorted(rows, key=lambda r: rank_key(task, r))
  arrow = "↓" if task.mode == "min" else "↑"
  target_op = "≤" if task.mode == "min" else "≥"
  head = ["optimizer", "lr", f"final {task.metric} {arrow}", f"best {task.metric}",
          f"steps to {task.metric} {target_op} {fmt(task.target)}", "wall s"]
  body = []
  for r in rows:
    reach = (f"{r['steps_to_target_mean']:.0f} ({r['reached']}/{r['seeds']})"
             if r["reached"] else f"- (0/{r['seeds']})")
    final = pm(r["final_mean"], r["final_std"])
    if r["diverged"]:
      final += f" [{r['diverged']} diverged]"
    body.append([r["optimizer"], f"{r['lr']:g}", final, pm(r["best_mean"], r["best_std"]),
                 reach, f"{r['wall_s']:.1f}"])
  if markdown:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
  widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

  def line(cells: list[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

  return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _downsample(curve: np.ndarray, points: int = 400) -> np.ndarray:
  n = curve.shape[-1]
  if n <= points:
    return curve
  idx = np.unique(np.linspace(0, n - 1, points).astype(int))
  return curve[..., idx]


def result_json(task: Task, result: RunResult) -> dict:
  steps = result.loss.shape[-1]
  idx = np.unique(np.linspace(0, steps - 1, min(steps, 400)).astype(int))

  def tolist(a: np.ndarray) -> list:
    return np.where(np.isfinite(a), a, np.nan).tolist()

  return {
      "optimizer": result.optimizer, "lrs": result.lrs, "seeds": result.seeds,
      "steps": result.steps, "wall_s": result.wall_s, "compile_s": result.compile_s,
      "eval_steps": result.eval_steps.tolist(),
      "metrics": {k: tolist(v) for k, v in result.metrics.items()},
      "loss_steps": (idx + 1).tolist(),
      "loss": tolist(result.loss[..., idx]),
      "update_norm": tolist(result.update_norm[..., idx]),
  }


def write_outputs(out_dir: str, task: Task, results: list[RunResult], rows: list[dict],
                  prefix: str = "") -> list[str]:
  os.makedirs(out_dir, exist_ok=True)
  csv_path = os.path.join(out_dir, f"{prefix}results.csv")
  with open(csv_path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r in rows:
      writer.writerow({k: r[k] for k in CSV_FIELDS})
  json_path = os.path.join(out_dir, f"{prefix}results.json")
  payload = {
      "task": task.name, "description": task.description, "metric": task.metric,
      "mode": task.mode, "target": task.target, "rows": rows,
      "runs": [result_json(task, r) for r in results],
  }
  with open(json_path, "w") as f:
    json.dump(payload, f, allow_nan=True)
  return [csv_path, json_path]
