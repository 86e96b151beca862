"""Ranks within a task and across tasks: each entry's rank and tie with the best, the
optimizers' mean ranks, performance profiles and how much tuning reorders them.

Everything here is computed from the stored intervals alone, so that a summary
read back from ``survey.json`` can be re-ranked (:func:`restat`) without
training.

>>> from optax_survey.harness.analysis.stats import Interval
>>> from optax_survey.harness.results import Entry
>>> def entry(name, mean, lo, hi):
...   return Entry(task="t", optimizer=name, budget="tuned", lr=0.1, seeds=3, first_seed=3,
...                steps=10, metric="loss", mode="min", split="test", values=(mean,),
...                ci=Interval(mean, lo, hi), diverged=0, selected_on="validation split")
>>> ranked = rank_entries([entry("a", 1.0, 0.9, 1.1), entry("b", 1.05, 1.0, 1.1),
...                        entry("c", 2.0, 1.9, 2.1)], mode="min")
>>> [(e.optimizer, e.rank, e.tied_best) for e in ranked]
[('a', 1, True), ('b', 1, True), ('c', 3, False)]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optax_survey.harness.analysis import stats
from optax_survey.harness.preflight import BUDGETS
from optax_survey.harness.results import Entry, entries_of

__all__ = ["aggregate", "rank_entries", "restat"]


def rank_entries(entries: Sequence[Entry], mode: str) -> list[Entry]:
  """``entries`` with each one's ``rank`` (ties kept) and ``tied_best`` set, budget by
  budget, from its stored interval ``ci``; in the order given."""
  ranked = {id(e): e for e in entries}
  for budget in BUDGETS:
    group = [e for e in entries if e.budget == budget]
    if not group:
      continue
    ivs = [stats.Interval(*e.ci) for e in group]
    ranks = stats.ranks_with_ties(ivs, mode=mode)
    tied, _ = stats.tied_with_best(ivs, mode=mode)
    for e, r, t in zip(group, ranks, tied, strict=True):
      ranked[id(e)] = dataclasses.replace(e, rank=r, tied_best=bool(t))
  return [ranked[id(e)] for e in entries]


def _rho(curve: Sequence[float], taus: np.ndarray, tau: float) -> float:
  i = int(np.searchsorted(taus, tau * (1 + 1e-9), side="right")) - 1
  return float(curve[max(i, 0)])


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
  ranks: dict[str, dict[str, dict[str, int | None]]] = {b: {} for b in BUDGETS}
  dist: dict[str, list[list[float]]] = {b: [] for b in BUDGETS}
  best_sets: dict[str, dict[str, list[str]]] = {b: {} for b in BUDGETS}
  for tname, rec in tasks.items():
    entries = entries_of(rec["entries"])
    for budget in BUDGETS:
      es = {e.optimizer: e for e in entries if e.budget == budget}
      ranks[budget][tname] = {o: es[o].rank for o in optimizers}
      best_sets[budget][tname] = sorted(o for o in optimizers if es[o].tied_best)
    means = {(e.budget, e.optimizer): e.ci[0] for e in entries}
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
  task's ranks and ties (:func:`rank_entries`) and the aggregate (:func:`aggregate`).
  The measured values are not touched.

  Returns:
    ``summary``.
  """
  for record in summary["tasks"].values():
    record["entries"] = [e.to_dict() for e in rank_entries(entries_of(record["entries"]),
                                                           record["mode"])]
  summary["aggregate"] = aggregate(summary["tasks"], summary["optimizers"])
  return summary
