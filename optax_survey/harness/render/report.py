"""Numbers as text: intervals with enough digits, the results tables, a comparison's summary.

Every number shown is a mean over seeds with its 95% bootstrap interval
(:func:`~optax_survey.harness.analysis.stats.bootstrap_ci`), ``mean [lo, hi]``, with as
many digits as it takes for the interval's ends to differ; a deterministic
task's numbers (every seed the same run) are marked as such instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from optax_survey.harness.analysis import stats
from optax_survey.harness.tasks import Task

if TYPE_CHECKING:
  from optax_survey.harness.results import Entry

__all__ = ["entry_table", "fmt", "fmt_interval", "header", "summary"]


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


def _arrow(task_mode: str) -> str:
  return "↓" if task_mode == "min" else "↑"


def entry_table(entries: Sequence[Entry], *, metric: str, mode: str, deterministic: bool,
                markdown: bool = False, split: str = "test") -> str:
  """The table of one task at one budget: rank (ties kept), optimizer, learning rate,
  metric interval; the best in bold (Markdown) or starred only if its interval is
  apart from the runner-up's, else every optimizer tied with it is marked."""
  order = sorted(entries, key=lambda e: (e.rank, _sort_key(e, mode)))
  head = ["rank", "optimizer", "lr", f"{split} {metric} {_arrow(mode)} (mean [95% CI])",
          "best"]
  alone = sum(bool(e.tied_best) for e in entries) == 1
  body = []
  for e in order:
    cell = fmt_interval(e.ci, deterministic=deterministic)
    mark = ""
    if e.tied_best:
      mark = "best" if alone else "tied best"
      if markdown and alone:
        cell = f"**{cell}**"
    body.append([str(e.rank), e.optimizer, f"{e.lr:.3g}", cell, mark])
  if markdown:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
  widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

  def line(cells: list[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

  return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _sort_key(entry: Entry, mode: str) -> float:
  m = entry.ci[0]
  if m is None or not math.isfinite(m):
    return math.inf
  return m if mode == "min" else -m


def header(task: Task, *, seeds: int, steps: int) -> str:
  """The lines above a comparison's tables: the task, the runs, how the rate was chosen."""
  where = ("learning rate selected on the validation split, test metric reported"
           if task.held_out else
           "no held-out set: the final objective is selected on and reported")
  return (f"{task.name}: {task.description}\n"
          f"{steps} steps, {seeds} seed{'s' if seeds != 1 else ''} per number; "
          f"mean [95% bootstrap CI] over seeds; {where}")


def summary(task: Task, *, seeds: int, steps: int, tables: Mapping[str, str],
            notes: Sequence[str]) -> str:
  """Header, the table of each budget (``tables``: budget -> table) and the notes, as the
  command line prints a comparison."""
  parts = [header(task, seeds=seeds, steps=steps)]
  for budget, table in tables.items():
    if budget == "one-shot":
      what = "one-shot: published default learning rate"
    elif task.held_out:
      what = "tuned: best of the learning-rate grid on validation, test metric on fresh seeds"
    else:
      what = "tuned: best final objective of the learning-rate grid, rerun on fresh seeds"
    parts.append(f"{what}\n{table}")
  text = "\n\n".join(parts)
  if notes:
    text += "\n\n" + "\n".join(f"Note: {n}" for n in notes)
  return text
