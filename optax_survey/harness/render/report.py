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

__all__ = ["entry_cell", "entry_table", "fmt", "fmt_interval", "header", "minima_table",
           "study_range", "summary", "table"]


def fmt(value: float | None, digits: int = 4) -> str:
  """``value`` with ``digits`` significant digits (scientific when tiny or huge).

  Example:
    >>> fmt(0.123456), fmt(0.123456, 2)
    ('0.1235', '0.12')
    >>> fmt(2.5e-5), fmt(123456.0, 3), fmt(None)
    ('2.500e-05', '1.23e+05', 'nan')
  """
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
  (deterministic)`` when every seed gives the same run (``mean (all seeds equal)``
  when the interval is a point on a task that is not deterministic); ``nan
  (diverged)``.

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> fmt_interval(Interval(0.9512, 0.9431, 0.9588))
    '0.951 [0.943, 0.959]'
    >>> fmt_interval(Interval(1.23456, 1.23401, 1.23519))  # a narrow interval: more digits
    '1.2346 [1.234, 1.2352]'
    >>> fmt_interval(Interval(2.0, 2.0, 2.0), deterministic=True)
    '2 (deterministic)'
    >>> nan = float("nan")
    >>> fmt_interval(Interval(nan, nan, nan))
    'nan (diverged)'
  """
  if not math.isfinite(iv.mean):
    return "nan (diverged)"
  if deterministic or iv.hi == iv.lo:
    return f"{fmt(iv.mean)} ({'deterministic' if deterministic else 'all seeds equal'})"
  d = _digits_for(iv.mean, iv.hi - iv.lo)
  return f"{fmt(iv.mean, d)} [{fmt(iv.lo, d)}, {fmt(iv.hi, d)}]"


def _arrow(task_mode: str) -> str:
  return "↓" if task_mode == "min" else "↑"


def entry_table(entries: Sequence[Entry], *, metric: str, mode: str, deterministic: bool,
                markdown: bool = False, split: str = "test",
                target: float | None = None) -> str:
  """The table of one task at one budget: rank (ties kept), optimizer, learning rate,
  metric interval; the best marked "best" (and in bold in Markdown) only if its
  interval is apart from every other's, else every optimizer tied with it is marked
  "tied best".  The ranks and ties are the entries' own (``rank``, ``tied_best``:
  :func:`~optax_survey.harness.analysis.ranking.rank_entries`).

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, mean, lo, hi, rank, tied):  # a ranked entry, test accuracy
    ...   return Entry(task="t", optimizer=name, budget="tuned", lr=0.01, seeds=3,
    ...                first_seed=3, steps=100, metric="acc", mode="max", split="test",
    ...                values=(mean,), ci=Interval(mean, lo, hi), diverged=0,
    ...                selected_on="validation split", rank=rank, tied_best=tied)
    >>> entries = [entry("sgd", 0.8, 0.79, 0.81, 3, False),
    ...            entry("adam", 0.95, 0.94, 0.96, 1, True),
    ...            entry("rmsprop", 0.945, 0.93, 0.955, 1, True)]
    >>> print(entry_table(entries, metric="acc", mode="max", deterministic=False))
    rank  optimizer  lr    test acc ↑ (mean [95% CI])  best
    ----  ---------  ----  --------------------------  ---------
    1     adam       0.01  0.95 [0.94, 0.96]           tied best
    1     rmsprop    0.01  0.945 [0.93, 0.955]         tied best
    3     sgd        0.01  0.8 [0.79, 0.81]
    >>> alone = [entry("sgd", 0.8, 0.79, 0.81, 2, False), entry("adam", 0.95, 0.94, 0.96, 1, True)]
    >>> print(entry_table(alone, metric="acc", mode="max", deterministic=False, markdown=True))
    | rank | optimizer | lr | test acc ↑ (mean [95% CI]) | best |
    |---|---|---|---|---|
    | 1 | adam | 0.01 | **0.95 [0.94, 0.96]** | best |
    | 2 | sgd | 0.01 | 0.8 [0.79, 0.81] |  |
  """
  order = sorted(entries, key=lambda e: (e.rank, _sort_key(e, mode)))
  searched = any(e.study_means is not None for e in entries)
  head = ["rank", "optimizer", "lr", f"{split} {metric} {_arrow(mode)} (mean [95% CI])",
          "best"]
  if searched:  # the search budget: what was selected, and the spread over studies
    head[3:3] = ["other hyperparameters"]
    head[5:5] = [f"{len(order[0].study_means or ())} studies (range)"]
  timed = target is not None and any(e.steps_to_target is not None for e in entries)
  if timed:
    on = "validation" if split == "test" else split
    head.insert(-1, f"steps to {on} {metric} {'<=' if mode == 'min' else '>='} {target:g}")
  alone = sum(bool(e.tied_best) for e in entries) == 1
  body = []
  for e in order:
    cell = entry_cell(e, deterministic=deterministic)
    mark = ""
    if e.tied_best:
      mark = "best" if alone else "tied best"
      if markdown and alone:
        cell = f"**{cell}**"
    row = [str(e.rank), e.optimizer, f"{e.lr:.3g}", cell, mark]
    if searched:
      row[3:3] = [" ".join(f"{k}={v:.3g}" for k, v in (e.hparams or {}).items()) or "-"]
      row[5:5] = [study_range(e.study_means or ())]
    if timed:
      row.insert(-1, stats.target_text(e.steps_to_target) if e.steps_to_target else "-")
    body.append(row)
  return table(head, body, markdown=markdown)


def table(head: Sequence[str], body: Sequence[Sequence[str]], *,
          markdown: bool = False) -> str:
  """A table of the rows ``body`` under ``head``: Markdown (the results page), or plain
  text in aligned columns (the terminal).

  Example:
    >>> print(table(["optimizer", "rank"], [["adam", "1"], ["sgd", "2"]]))
    optimizer  rank
    ---------  ----
    adam       1
    sgd        2
    >>> print(table(["optimizer", "rank"], [["adam", "1"]], markdown=True))
    | optimizer | rank |
    |---|---|
    | adam | 1 |
  """
  if markdown:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
  widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]

  def line(cells: Sequence[str]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

  return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def _values_cell(values: Sequence[float]) -> str:
  """``mean [lo, hi]`` of per-seed values (``-`` where none was measured)."""
  finite = [v for v in values if v is not None and math.isfinite(v)]
  if not finite:
    return "-"
  return fmt_interval(stats.bootstrap_ci([float("nan") if v is None else v for v in values]))


def minima_table(minima: Mapping[str, Mapping], *, metric: str, markdown: bool = False) -> str:
  """The minima the optimizers' reported runs reached
  (:func:`~optax_survey.harness.analysis.minima.minima_of`'s records), one row per
  optimizer: its rate, 2/η and its own stability threshold, the sharpness (λ_max, the
  preconditioned λ_max(P⁻¹H), the adaptive λ_max(THT)), the Hessian's trace, the
  metric on the training and test splits and the gap; each ``mean [95% CI]`` over seeds.

  Example:
    >>> record = {"lr": 0.1, "two_over_lr": 20.0, "threshold": [20.0, "raw"],
    ...           "lambda_max": [9.0, 11.0], "preconditioned": [9.0, 11.0],
    ...           "adaptive": [0.5, 0.5], "trace": [30.0, 30.0], "train": [1.0, 1.0],
    ...           "test": [0.9, 0.8], "gap": [0.1, 0.2]}
    >>> head, _, row = minima_table({"sgd": record}, metric="acc", markdown=True).splitlines()
    >>> for h, v in zip(head.strip("| ").split(" | "), row.strip("| ").split(" | ")):
    ...   print(f"{h}: {v}")
    optimizer: sgd
    lr: 0.1
    2/η: 20
    stable below: 20
    λ_max: 10 [9, 11]
    λ_max(P⁻¹H): 10 [9, 11]
    adaptive: 0.5 (all seeds equal)
    tr H: 30 (all seeds equal)
    train acc: 1 (all seeds equal)
    test acc: 0.85 [0.8, 0.9]
    gap: 0.15 [0.1, 0.2]
  """
  head = ["optimizer", "lr", "2/η", "stable below", "λ_max", "λ_max(P⁻¹H)", "adaptive",
          "tr H", f"train {metric}", f"test {metric}", "gap"]
  body = []
  for name, r in minima.items():
    threshold = r.get("threshold")
    below = "-" if not threshold else (
        fmt(threshold[0], 3) + (" (P⁻¹H)" if threshold[1] == "preconditioned" else ""))
    body.append([name, f"{r['lr']:.3g}", fmt(r["two_over_lr"], 3), below]
                + [_values_cell(r[k]) for k in ("lambda_max", "preconditioned", "adaptive",
                                                "trace", "train", "test", "gap")])
  return table(head, body, markdown=markdown)


def study_range(means: Sequence[float]) -> str:
  """The spread of a search's number over its studies: ``[lowest, highest]`` of the
  finite study means, and how many studies' reruns diverged.

  Example:
    >>> study_range([0.91, 0.87, float("nan")])
    '[0.87, 0.91], 1 diverged'
  """
  finite = [m for m in means if math.isfinite(m)]
  text = f"[{min(finite):.3g}, {max(finite):.3g}]" if finite else "-"
  lost = len(means) - len(finite)
  return text + (f", {lost} diverged" if lost else "")


def entry_cell(entry: Entry, *, deterministic: bool = False) -> str:
  """An entry's number as a table shows it: ``mean [lo, hi]``, or ``diverged (k of n
  seeds)`` when a seed's run diverged (a non-finite loss, parameter or metric: the
  entry is no result, whatever the other seeds give).

  Example:
    >>> import math
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> e = Entry(task="t", optimizer="sgd", budget="one-shot", lr=10.0, seeds=5,
    ...           first_seed=0, steps=100, metric="acc", mode="max", split="test",
    ...           values=(math.nan,) * 2 + (0.5,) * 3, ci=Interval(math.nan, math.nan,
    ...           math.nan), diverged=2, selected_on="published default")
    >>> entry_cell(e)
    'diverged (2 of 5 seeds)'
  """
  if entry.diverged:
    return f"diverged ({entry.diverged} of {entry.seeds} seeds)"
  return fmt_interval(entry.ci, deterministic=deterministic)


def _sort_key(entry: Entry, mode: str) -> float:
  m = entry.ci[0]
  if m is None or not math.isfinite(m):
    return math.inf
  return m if mode == "min" else -m


def header(task: Task, *, seeds: int, steps: int) -> str:
  """The lines above a comparison's tables: the task, the runs, how the rate was chosen.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> print(header(get_task("quadratic"), seeds=5, steps=300))  # doctest: +ELLIPSIS
    quadratic: ill-conditioned 2-D quadratic valley ...
    300 steps, 5 seeds per number; mean [95% bootstrap CI] over seeds; no held-out set: ...
  """
  where = ("learning rate selected on the validation split, test metric reported"
           if task.held_out else
           "no held-out set: the final objective is selected on and reported")
  return (f"{task.name}: {task.description}\n"
          f"{steps} steps, {seeds} seed{'s' if seeds != 1 else ''} per number; "
          f"mean [95% bootstrap CI] over seeds; {where}")


def summary(task: Task, *, seeds: int, steps: int, tables: Mapping[str, str],
            notes: Sequence[str]) -> str:
  """Header, the table of each budget (``tables``: budget -> table) and the notes, as the
  command line prints a comparison.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> text = summary(get_task("quadratic"), seeds=5, steps=300,
    ...                tables={"one-shot": "(the table)"}, notes=["A note."])
    >>> print(text)  # doctest: +ELLIPSIS
    quadratic: ...
    300 steps, 5 seeds per number; ...
    <BLANKLINE>
    one-shot: published default learning rate
    (the table)
    <BLANKLINE>
    Note: A note.
  """
  parts = [header(task, seeds=seeds, steps=steps)]
  for budget, table in tables.items():
    if budget == "one-shot":
      what = "one-shot: published default learning rate"
    elif budget == "search":
      what = ("search: each study's best trial of a quasi-random search "
              f"({'on validation' if task.held_out else 'of the final objective'}), rerun "
              "on fresh seeds; the median study's number, every study's range beside it")
    elif task.held_out:
      what = "tuned: best of the learning-rate grid on validation, test metric on fresh seeds"
    else:
      what = "tuned: best final objective of the learning-rate grid, rerun on fresh seeds"
    parts.append(f"{what}\n{table}")
  text = "\n\n".join(parts)
  if notes:
    text += "\n\n" + "\n".join(f"Note: {n}" for n in notes)
  return text
