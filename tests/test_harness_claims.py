"""analysis/claims.py: each claim's verdict and evidence, on synthetic runs whose answer is
known, against NumPy (means, standard errors and the quantities each claim measures,
computed here from their definitions)."""

import math

import numpy as np
import pytest

from optax_survey.harness import Task
from optax_survey.harness.analysis import claims, stats
from optax_survey.harness.render import report
from optax_survey.harness.results import Comparison, Entry
from optax_survey.harness.runs import RunResult

SEEDS = 5


def run(name, *, steps=10, lrs=(0.1,), path=None, slow_path=None, loss=None, update_norm=None,
        metric=None, first_seed=SEEDS):
  """A RunResult with the given curves (zeros elsewhere)."""
  shape = (len(lrs), SEEDS)
  return RunResult(
      task="t", optimizer=name, lrs=list(lrs), seeds=SEEDS, steps=steps,
      eval_steps=np.array([0, steps]),
      metrics={"acc": np.zeros(shape + (2,)) if metric is None else metric},
      loss=np.zeros(shape + (steps,)) if loss is None else loss,
      update_norm=np.ones(shape + (steps,)) if update_norm is None else update_norm,
      path=path, slow_path=slow_path, seed_offset=first_seed)


def entry(name, budget, values, lr=0.1, metric="acc", mode="max"):
  values = tuple(float(v) for v in values)
  return Entry(task="t", optimizer=name, budget=budget, lr=lr, seeds=SEEDS,
               first_seed=SEEDS if budget == "tuned" else 0, steps=10, metric=metric,
               mode=mode, split="test", values=values, ci=stats.bootstrap_ci(values),
               diverged=0, selected_on="validation split")


def comparison(task_name, runs, entries, *, metric="acc", mode="max", deterministic=False):
  task = Task(name=task_name, init_params=lambda k, s: np.zeros(1), loss=lambda p, b: 0.0,
              evaluate=lambda p: {metric: 0.0}, metric=metric, mode=mode,
              deterministic=deterministic)
  names = list(runs)
  return Comparison(task, "tuned", names, SEEDS, 10, grid=dict(runs), reruns=dict(runs),
                    entries=list(entries), rows=[], notes=[])


def numpy_evidence(a, b):
  """The difference of means and 2 SE, formatted as the evidence prints them."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
  return (f"difference {report.fmt(a.mean() - b.mean(), 3)}, "
          f"2 SE = {report.fmt(2 * se, 2)}")


A = np.array([1.00, 1.10, 0.90, 1.05, 0.95])


def test_a_claim_is_confirmed_only_when_every_check_is_beyond_noise():
  clear = ("tuned", A, A + 5.0, "min")
  result = claims.claim("A beats B", [clear], names=("A", "B"))
  assert result["verdict"] == "confirmed"
  assert numpy_evidence(A, A + 5.0) in result["evidence"]
  assert result["checks"] == [{"label": "tuned", "direction": 1, "a": A.tolist(),
                               "b": (A + 5.0).tolist(), "mode": "min"}]
  # the same at the tuned rates, within noise elsewhere: not resolved
  within = ("elsewhere", A, A + 0.01, "min")
  assert claims.claim("A beats B", [clear, within], names=("A", "B"))["verdict"] == (
      "not resolved at this budget")
  # the opposite beyond noise at the tuned rates: contradicted
  assert claims.claim("A beats B", [("tuned", A + 5.0, A, "min")],
                      names=("A", "B"))["verdict"] == "contradicted"


def test_figure1_counts_the_sign_changes_of_y():
  steps = 6
  zigzag = np.zeros((1, SEEDS, steps + 1, 2))
  zigzag[..., 1] = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0]  # 6 sign changes
  straight = np.zeros((1, SEEDS, steps + 1, 2))
  straight[..., 1] = [1.0, 0.8, 0.6, -0.1, -0.2, -0.3, -0.4]  # 1 sign change
  runs = {"sgd": run("sgd", steps=steps, path=zigzag),
          "sgdm": run("sgdm", steps=steps, path=straight)}
  cmp = comparison("quadratic", runs, [], metric="loss", mode="min")
  result = claims.figure1(cmp, runs, steps)
  assert result["verdict"] == "confirmed"
  assert result["checks"][0]["a"] == [6.0] * SEEDS and result["checks"][0]["b"] == [1.0] * SEEDS
  # momentum that zig-zags as much: not resolved
  tied = {"sgd": runs["sgd"], "sgdm": run("sgdm", steps=steps, path=zigzag)}
  assert claims.figure1(comparison("quadratic", tied, [], metric="loss", mode="min"), tied,
                        steps)["verdict"] == "not resolved at this budget"


def test_adagrad_step_shrink_is_first_5_percent_over_last_10_percent():
  steps = 100
  rng = np.random.default_rng(0)
  vanishing = np.tile(np.linspace(1.0, 0.01, steps), (1, SEEDS, 1)) * rng.uniform(
      0.9, 1.1, (1, SEEDS, 1))
  steady = np.ones((1, SEEDS, steps)) * rng.uniform(0.9, 1.1, (1, SEEDS, 1))
  runs = {"adagrad": run("adagrad", steps=steps, update_norm=vanishing),
          "adam": run("adam", steps=steps, update_norm=steady)}
  cmp = comparison("digits-mlp", runs, [entry("adagrad", "tuned", A), entry("adam", "tuned", A)])
  result = claims.adagrad(cmp)
  expected = vanishing[0, :, :5].mean(-1) / vanishing[0, :, -10:].mean(-1)
  np.testing.assert_allclose(result["checks"][0]["a"], expected, rtol=1e-12)
  np.testing.assert_allclose(result["checks"][0]["b"], 1.0, rtol=1e-12)
  assert result["verdict"] == "confirmed"


def test_wilson_compares_the_tuned_and_the_one_shot_entries():
  sgdm, adam = np.ones(SEEDS), np.array([0.80, 0.82, 0.79, 0.81, 0.80])
  entries = [entry("sgdm", "tuned", sgdm), entry("adam", "tuned", adam),
             entry("sgdm", "one-shot", sgdm), entry("adam", "one-shot", adam)]
  cmp = comparison("wilson-separable", {"sgdm": run("sgdm"), "adam": run("adam")}, entries)
  result = claims.wilson(cmp)
  assert result["verdict"] == "confirmed"
  assert [c["a"] for c in result["checks"]] == [sgdm.tolist()] * 2
  assert numpy_evidence(sgdm, adam) in result["evidence"]
  # one-shot Adam as good as SGDM: the claim is not confirmed
  entries[3] = entry("adam", "one-shot", sgdm)
  assert claims.wilson(comparison("wilson-separable", {"sgdm": run("sgdm"),
                                                       "adam": run("adam")},
                                  entries))["verdict"] == "not resolved at this budget"


@pytest.mark.parametrize("present, expected", [
    ({"wilson-separable": ("sgdm", "adam")}, 1),
    ({"wilson-separable": ("sgdm",)}, 0),  # Adam not run: nothing to compare
    ({"reddi": ("adam",)}, 0),
])
def test_all_claims_makes_the_claims_whose_tasks_and_optimizers_ran(present, expected):
  comparisons = {}
  for task_name, names in present.items():
    entries = [entry(n, b, np.ones(SEEDS)) for n in names for b in ("tuned", "one-shot")]
    comparisons[task_name] = comparison(task_name, {n: run(n) for n in names}, entries)
  made = claims.all_claims(comparisons, figure_runs={}, figure_steps=10, spread=None,
                           paper_lrs={})
  assert len(made) == expected


def with_minima(sgdm, adam, *, metric="acc", mode="max"):
  """A network task's comparison whose minima records hold the given per-seed values
  (quantity -> (sgdm values, adam values))."""
  names = ("sgdm", "adam")
  entries = [entry(n, "tuned", np.ones(SEEDS)) for n in names]
  cmp = comparison("mnist1d-mlp", {n: run(n) for n in names}, entries, metric=metric, mode=mode)
  for n, values in (("sgdm", sgdm), ("adam", adam)):
    cmp.minima[n] = {k: list(v) for k, v in values.items()} | {"two_over_lr": 20.0}
  return cmp


def test_sharper_compares_lambda_max_and_the_adaptive_sharpness():
  low, high = A, A + 1.0
  quantities = lambda lam, ada: {"lambda_max": lam, "adaptive": ada, "trace": A}  # noqa: E731
  result = claims.sharper(with_minima(quantities(low, low), quantities(high, high)))
  assert result["verdict"] == "confirmed"
  assert [c["mode"] for c in result["checks"]] == ["min", "min"]
  assert numpy_evidence(low, high) in result["evidence"]
  # Adam's raw λ_max larger, its adaptive sharpness not: not confirmed
  result = claims.sharper(with_minima(quantities(low, low), quantities(high, low)))
  assert result["verdict"] == "not resolved at this budget"
  # Adam flatter, beyond the noise: contradicted
  result = claims.sharper(with_minima(quantities(high, high), quantities(low, low)))
  assert result["verdict"] == "contradicted"


def test_generalizes_compares_the_gap_and_the_test_metric():
  sgdm = {"gap": A * 0.01, "test": 0.9 + A * 0.01, "train": np.ones(SEEDS)}
  adam = {"gap": 0.1 + A * 0.01, "test": 0.8 + A * 0.01, "train": np.ones(SEEDS)}
  result = claims.generalizes(with_minima(sgdm, adam))
  assert result["verdict"] == "confirmed"
  assert [c["mode"] for c in result["checks"]] == ["min", "max"]
  np.testing.assert_allclose(result["checks"][0]["b"], adam["gap"], rtol=1e-12)
  # on a loss (lower is better), a lower test loss is the better side
  sgdm_loss = dict(sgdm, test=2.0 + A * 0.01)
  adam_loss = dict(adam, test=2.5 + A * 0.01)
  result = claims.generalizes(with_minima(sgdm_loss, adam_loss, metric="loss", mode="min"))
  assert result["verdict"] == "confirmed"
  assert result["checks"][1]["mode"] == "min"


def test_all_claims_checks_the_minima_where_they_were_measured():
  quantities = {"lambda_max": A, "adaptive": A, "trace": A, "gap": A, "test": A, "train": A}
  measured = with_minima(quantities, quantities)
  made = claims.all_claims({"mnist1d-mlp": measured}, figure_runs={}, figure_steps=10,
                           spread=None, paper_lrs={})
  assert [c["claim"].split(":")[0] for c in made] == [
      "Adaptive methods converge to sharper minima than SGD with momentum",
      "Adaptive methods generalize worse than SGD with momentum"]
  measured.minima = {}  # not measured: no claim
  assert claims.all_claims({"mnist1d-mlp": measured}, figure_runs={}, figure_steps=10,
                           spread=None, paper_lrs={}) == []
