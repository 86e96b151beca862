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

__all__ = ["GROUPS", "aggregate", "aggregate_groups", "budgets_of", "rank_entries", "restat",
           "time_to_target"]

# The budgets every survey runs on every task; a preset may add the search budget.
SURVEY_BUDGETS = ("tuned", "one-shot")


def budgets_of(tasks: Mapping[str, Mapping[str, Any]]) -> list[str]:
  """The budgets every task's record has entries at, in :data:`BUDGETS`' order.

  Example:
    >>> budgets_of({"t": {"entries": [{"budget": "one-shot"}, {"budget": "tuned"}]}})
    ['tuned', 'one-shot']
  """
  present = [{e["budget"] for e in rec["entries"]} for rec in tasks.values()]
  return [b for b in BUDGETS if present and all(b in p for p in present)]


def time_to_target(entry: Entry) -> float:
  """An entry's time to result: the median over seeds of its steps to the target
  (``inf`` when half of its seeds or more did not reach it; NaN without a target).

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> e = Entry(task="t", optimizer="sgd", budget="tuned", lr=0.1, seeds=3, first_seed=3,
    ...           steps=10, metric="loss", mode="min", split="test", values=(1.0,) * 3,
    ...           ci=Interval(1.0, 1.0, 1.0), diverged=0, selected_on="validation split",
    ...           steps_to_target=(40.0, float("inf"), 20.0))
    >>> time_to_target(e)
    40.0
  """
  if entry.steps_to_target is None:
    return math.nan
  return float(np.median(np.asarray(entry.steps_to_target, np.float64)))


def rank_entries(entries: Sequence[Entry], mode: str) -> list[Entry]:
  """``entries`` with each one's ``rank`` (ties kept) and ``tied_best`` set, budget by
  budget, from its stored interval ``ci``; in the order given.

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, budget, mean):  # three seeds' final loss, interval mean +- 0.1
    ...   return Entry(task="t", optimizer=name, budget=budget, lr=0.1, seeds=3,
    ...                first_seed=3, steps=10, metric="loss", mode="min", split="test",
    ...                values=(mean,), ci=Interval(mean, mean - 0.1, mean + 0.1),
    ...                diverged=0, selected_on="validation split")
    >>> ranked = rank_entries([entry("sgd", "tuned", 1.0), entry("adam", "tuned", 1.15),
    ...                        entry("rmsprop", "tuned", 2.0), entry("sgd", "one-shot", 3.0)],
    ...                       mode="min")
    >>> for e in ranked:  # adam's interval overlaps sgd's: a tie, both rank 1
    ...   print(e.optimizer, e.budget, e.rank, e.tied_best)
    sgd tuned 1 True
    adam tuned 1 True
    rmsprop tuned 3 False
    sgd one-shot 1 True
  """
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
    A dict over the budgets every task has (:func:`budgets_of`): ``"budgets"``;
    ``"mean_rank"`` (budget -> optimizer -> mean rank); ``"ranks"`` (budget -> task ->
    optimizer -> rank); ``"kendall_tau"``, Kendall's tau-b between the mean ranks
    one-shot and tuned, and ``"kendall_taus"``, every pair of budgets (``"A vs B"`` ->
    tau); ``"profile"`` (budget -> optimizer -> rho at each of ``"taus"``);
    ``"best_sets"`` (budget -> task -> the optimizers tied with the best);
    ``"best_changed"``, the tasks whose tied-best set differs one-shot and tuned;
    ``"moves"``, an optimizer's mean rank one-shot minus tuned (positive: tuning helped
    it); ``"profile_at"`` (budget -> optimizer -> rho at 0.01 and 0.1); and, where some
    task has a target, ``"time_to_target"``: ``"tasks"`` (those whose every entry has
    steps to target), ``"score"`` (budget -> optimizer -> AlgoPerf's integrated
    performance profile of the time to result, :func:`time_to_target`, each budget
    scored on its own, :func:`~optax_survey.harness.analysis.stats.profile_score`) and
    ``"reached"`` (budget -> optimizer -> the tasks whose target it reached).

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, budget, mean):  # three seeds' final loss, interval mean +- 0.1
    ...   return Entry(task="t", optimizer=name, budget=budget, lr=0.1, seeds=3,
    ...                first_seed=3, steps=10, metric="loss", mode="min", split="test",
    ...                values=(mean,), ci=Interval(mean, mean - 0.1, mean + 0.1),
    ...                diverged=0, selected_on="validation split")
    >>> es = [entry("sgd", "one-shot", 1.0), entry("adam", "one-shot", 3.0),
    ...       entry("sgd", "tuned", 1.0), entry("adam", "tuned", 0.5)]  # tuning helps adam
    >>> record = {"entries": [e.to_dict() for e in rank_entries(es, "min")], "mode": "min",
    ...           "start": 10.0}  # the loss before training
    >>> agg = aggregate({"t": record}, ["sgd", "adam"])
    >>> agg["mean_rank"]
    {'tuned': {'sgd': 2.0, 'adam': 1.0}, 'one-shot': {'sgd': 1.0, 'adam': 2.0}}
    >>> agg["kendall_tau"], agg["best_changed"], agg["moves"]
    (-1.0, ['t'], {'sgd': -1.0, 'adam': 1.0})
    >>> agg["profile_at"]["one-shot"]["adam"]  # 2.5 / 9.5 from the best: within neither
    {'0.01': 0.0, '0.1': 0.0}

  References:
    Dolan & Moré, `Benchmarking optimization software with performance profiles
    <https://arxiv.org/abs/cs/0102001>`__, Mathematical Programming 91, 2002.

    Kendall, The treatment of ties in ranking problems, Biometrika 33(3),
    239-251, 1945.

    Schmidt, Schneider & Hennig, `Descending through a Crowded Valley - Benchmarking
    Deep Learning Optimizers <https://arxiv.org/abs/2007.01547>`__, ICML 2021 (how
    much tuning changes a ranking).
  """
  budgets = budgets_of(tasks)
  ranks: dict[str, dict[str, dict[str, int | None]]] = {b: {} for b in budgets}
  dist: dict[str, list[list[float]]] = {b: [] for b in budgets}
  best_sets: dict[str, dict[str, list[str]]] = {b: {} for b in budgets}
  times: dict[str, list[list[float]]] = {b: [] for b in budgets}
  timed: list[str] = []
  for tname, rec in tasks.items():
    entries = entries_of(rec["entries"])
    for budget in budgets:
      es = {e.optimizer: e for e in entries if e.budget == budget}
      ranks[budget][tname] = {o: es[o].rank for o in optimizers}
      best_sets[budget][tname] = sorted(o for o in optimizers if es[o].tied_best)
    means = {(e.budget, e.optimizer): e.ci[0] for e in entries if e.budget in budgets}
    finite = [m for m in means.values() if m is not None and math.isfinite(m)]
    best = (min if rec["mode"] == "min" else max)(finite) if finite else math.nan
    for budget in budgets:
      dist[budget].append([stats.profile_distance(
          means[(budget, o)] if means[(budget, o)] is not None else math.nan, best,
          rec["start"]) for o in optimizers])
    by = {(e.budget, e.optimizer): time_to_target(e) for e in entries}
    if all(not math.isnan(by[(b, o)]) for b in budgets for o in optimizers):
      timed.append(tname)
      for budget in budgets:
        times[budget].append([by[(budget, o)] for o in optimizers])
  mean_rank = {b: {o: float(np.mean([ranks[b][t][o] for t in tasks])) for o in optimizers}
               for b in budgets}
  taus = np.geomspace(1e-3, 10.0, 61)
  profile = {b: {o: row.tolist() for o, row in zip(
      optimizers, stats.performance_profile(np.asarray(dist[b]), taus), strict=True)}
      for b in budgets}
  pairs = {f"{a} vs {b}": stats.kendall_tau([mean_rank[a][o] for o in optimizers],
                                            [mean_rank[b][o] for o in optimizers])
           for i, a in enumerate(budgets) for b in budgets[i + 1:]}
  out = {
      "budgets": budgets, "ranks": ranks, "mean_rank": mean_rank,
      "kendall_tau": pairs["tuned vs one-shot"], "kendall_taus": pairs,
      "taus": taus.tolist(), "profile": profile, "best_sets": best_sets,
      "best_changed": [t for t in tasks
                       if best_sets["one-shot"][t] != best_sets["tuned"][t]],
      "moves": {o: mean_rank["one-shot"][o] - mean_rank["tuned"][o] for o in optimizers},
      "profile_at": {b: {o: {"0.01": _rho(profile[b][o], taus, 0.01),
                             "0.1": _rho(profile[b][o], taus, 0.1)} for o in optimizers}
                     for b in budgets},
  }
  if timed:  # each budget scored as its own AlgoPerf ruleset
    out["time_to_target"] = {
        "tasks": timed,
        "score": {b: dict(zip(optimizers, stats.profile_score(stats.time_ratios(
            np.asarray(times[b]))).tolist(), strict=True)) for b in budgets},
        "reached": {b: {o: int(np.isfinite(np.asarray(times[b])[:, i]).sum())
                        for i, o in enumerate(optimizers)} for b in budgets}}
  return out


# The page's two families of tasks, ranked apart: a researcher choosing an optimizer
# for a network reads the first; the test functions are many and would decide a
# ranking over both.
GROUPS = {"networks": ("nn",), "test functions": ("2d", "online")}


def aggregate_groups(tasks: Mapping[str, Mapping[str, Any]],
                     optimizers: Sequence[str]) -> dict[str, dict]:
  """:func:`aggregate` over each of :data:`GROUPS` that has tasks (by each record's
  ``kind``): ``{group: {"tasks": [...], **aggregate}}``.

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> def entry(name, budget, mean):  # three seeds' final loss, interval mean +- 0.1
    ...   return Entry(task="t", optimizer=name, budget=budget, lr=0.1, seeds=3,
    ...                first_seed=3, steps=10, metric="loss", mode="min", split="test",
    ...                values=(mean,), ci=Interval(mean, mean - 0.1, mean + 0.1),
    ...                diverged=0, selected_on="validation split")
    >>> def record(kind, sgd, adam):
    ...   es = [entry("sgd", b, sgd) for b in ("tuned", "one-shot")] + [
    ...       entry("adam", b, adam) for b in ("tuned", "one-shot")]
    ...   return {"entries": [e.to_dict() for e in rank_entries(es, "min")], "mode": "min",
    ...           "start": 10.0, "kind": kind}
    >>> groups = aggregate_groups({"net": record("nn", 1.0, 0.5),
    ...                            "bowl": record("2d", 0.5, 1.0)}, ["sgd", "adam"])
    >>> groups["networks"]["mean_rank"]["tuned"], groups["test functions"]["tasks"]
    ({'sgd': 2.0, 'adam': 1.0}, ['bowl'])
  """
  out = {}
  for group, kinds in GROUPS.items():
    members = {t: r for t, r in tasks.items() if r.get("kind") in kinds}
    if members:
      out[group] = {"tasks": list(members), **aggregate(members, optimizers)}
  return out


def restat(summary: dict[str, Any]) -> dict[str, Any]:
  """Recomputes, in place, every statistic derived from the stored intervals: each
  task's ranks and ties (:func:`rank_entries`), the aggregate (:func:`aggregate`) and
  each group's (:func:`aggregate_groups`).
  The measured values are not touched.

  Returns:
    ``summary``.

  Example:
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, budget, mean):  # three seeds' final loss, interval mean +- 0.1
    ...   return Entry(task="t", optimizer=name, budget=budget, lr=0.1, seeds=3,
    ...                first_seed=3, steps=10, metric="loss", mode="min", split="test",
    ...                values=(mean,), ci=Interval(mean, mean - 0.1, mean + 0.1),
    ...                diverged=0, selected_on="validation split")
    >>> es = [entry("sgd", "one-shot", 1.0), entry("adam", "one-shot", 3.0),
    ...       entry("sgd", "tuned", 1.0), entry("adam", "tuned", 0.5)]
    >>> summary = {"optimizers": ["sgd", "adam"], "tasks": {"t": {
    ...     "entries": [e.to_dict() for e in es], "mode": "min", "start": 10.0}}}
    >>> restat(summary) is summary
    True
    >>> [(e["optimizer"], e["budget"], e["rank"]) for e in summary["tasks"]["t"]["entries"]]
    [('sgd', 'one-shot', 1), ('adam', 'one-shot', 2), ('sgd', 'tuned', 2), ('adam', 'tuned', 1)]
    >>> summary["aggregate"]["kendall_tau"]
    -1.0
  """
  for record in summary["tasks"].values():
    record["entries"] = [e.to_dict() for e in rank_entries(entries_of(record["entries"]),
                                                           record["mode"])]
  summary["aggregate"] = aggregate(summary["tasks"], summary["optimizers"])
  summary["groups"] = aggregate_groups(summary["tasks"], summary["optimizers"])
  return summary
