"""analysis/ranking.py: ranks with ties, the aggregate across tasks, restat."""

import copy
import json
import pathlib

import numpy as np

from optax_survey.harness.analysis import ranking, stats
from optax_survey.harness.results import Entry

RESULTS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def entry(name, budget, mean, lo, hi):
  return Entry(task="t", optimizer=name, budget=budget, lr=0.1, seeds=3, first_seed=0,
               steps=10, metric="loss", mode="min", split="test", values=(mean,),
               ci=stats.Interval(mean, lo, hi), diverged=0, selected_on="x")


def test_ranks_are_given_budget_by_budget_with_ties_kept():
  # by hand: a and b overlap (tied for best); c is apart from both; the one-shot budget
  # is ranked on its own, where c is best
  entries = [entry("a", "tuned", 1.0, 0.9, 1.1), entry("a", "one-shot", 5.0, 4.9, 5.1),
             entry("b", "tuned", 1.05, 1.0, 1.1), entry("b", "one-shot", 4.0, 3.9, 4.1),
             entry("c", "tuned", 2.0, 1.9, 2.1), entry("c", "one-shot", 1.0, 0.9, 1.1)]
  ranked = ranking.rank_entries(entries, "min")
  assert [(e.optimizer, e.budget, e.rank, e.tied_best) for e in ranked] == [
      ("a", "tuned", 1, True), ("a", "one-shot", 3, False),
      ("b", "tuned", 1, True), ("b", "one-shot", 2, False),
      ("c", "tuned", 3, False), ("c", "one-shot", 1, True)]
  assert all(e.rank is None for e in entries)  # the records are frozen: new ones are made
  # higher is better: c leads, a and b overlap each other and both trail c
  assert [e.rank for e in ranking.rank_entries(entries, "max")][::2] == [2, 2, 1]


def test_restat_of_the_committed_summary_gives_its_ranks_and_aggregate_again():
  # the oracle: the committed survey.json, ranked and aggregated by the harness as it was
  # before it was reshaped; recomputing from its stored intervals changes nothing
  committed = json.loads((RESULTS / "survey.json").read_text())
  again = ranking.restat(copy.deepcopy(committed))
  assert again["tasks"] == committed["tasks"]
  # the profile's grid of tau is np.geomspace's, whose last digits vary with NumPy's version
  taus = again["aggregate"].pop("taus"), committed["aggregate"].pop("taus")
  np.testing.assert_allclose(*taus, rtol=1e-13)
  assert again["aggregate"] == committed["aggregate"]


def test_the_networks_and_the_test_functions_are_ranked_apart():
  """Each group's mean rank is NumPy's mean of the stored ranks over its tasks alone
  (the committed full survey: 5 network tasks, 8 test functions)."""
  committed = json.loads((RESULTS / "survey.json").read_text())
  groups = ranking.aggregate_groups(committed["tasks"], committed["optimizers"])
  kinds = {"networks": {"nn"}, "test functions": {"2d", "online"}}
  assert list(groups) == ["networks", "test functions"]
  for group, agg in groups.items():
    names = [t for t, r in committed["tasks"].items() if r["kind"] in kinds[group]]
    assert agg["tasks"] == names and len(names) == (5 if group == "networks" else 8)
    for budget in ("tuned", "one-shot"):
      for o in committed["optimizers"]:
        ranks = [e["rank"] for t in names for e in committed["tasks"][t]["entries"]
                 if e["optimizer"] == o and e["budget"] == budget]
        assert agg["mean_rank"][budget][o] == np.mean(ranks)
