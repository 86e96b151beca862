"""analysis/stats.py: intervals, the noise test, the verdict rule, ranks, profiles,
Kendall's tau and selection, against independent oracles (the exact bootstrap
distribution, SciPy, synthetic results whose answer is known).
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness.analysis import stats


def exact_bootstrap_quantiles(x, level=0.95):
  """The percentile interval of the exact bootstrap distribution of the mean: every
  one of the n^n equally likely resamples, enumerated."""
  means = np.sort([np.mean(c) for c in itertools.product(x, repeat=len(x))])
  return np.quantile(means, [(1 - level) / 2, (1 + level) / 2])


def test_bootstrap_interval_is_the_exact_bootstrap_percentile_interval():
  x = np.array([0.91, 0.95, 0.96, 0.99, 1.02])
  lo, hi = exact_bootstrap_quantiles(x)
  iv = stats.bootstrap_ci(x, n_boot=200_000)
  assert iv.mean == pytest.approx(x.mean(), abs=1e-15)
  width = hi - lo
  assert iv.lo == pytest.approx(lo, abs=0.02 * width)
  assert iv.hi == pytest.approx(hi, abs=0.02 * width)
  # the default (2000 resamples) is within a few percent of the exact interval, and
  # the same numbers always give the same interval (fixed generator)
  default = stats.bootstrap_ci(x)
  assert default == stats.bootstrap_ci(list(x))
  assert default.lo == pytest.approx(lo, abs=0.1 * width)
  assert default.hi == pytest.approx(hi, abs=0.1 * width)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
  rng = np.random.default_rng(1)
  hits = 0
  trials = 400
  for _ in range(trials):
    sample = rng.normal(3.0, 2.0, size=30)
    iv = stats.bootstrap_ci(sample, n_boot=1000, seed=int(rng.integers(1 << 30)))
    hits += iv.lo <= 3.0 <= iv.hi
  assert 0.89 <= hits / trials <= 0.985, hits / trials


def test_bootstrap_interval_of_equal_and_of_diverged_seeds():
  assert stats.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
  assert all(math.isnan(v) for v in stats.bootstrap_ci([0.5, float("nan"), 0.4]))
  with pytest.raises(ValueError, match="level"):
    stats.bootstrap_ci([1.0, 2.0], level=95)


def test_beyond_noise_on_synthetic_results_with_a_known_answer():
  rng = np.random.default_rng(0)
  noise = rng.normal(0.0, 0.01, size=(2, 5))
  good, bad = 0.95 + noise[0], 0.90 + noise[1]  # 5 noise standard deviations apart
  assert stats.beyond_noise(good, bad, mode="max") == 1
  assert stats.beyond_noise(bad, good, mode="max") == -1
  assert stats.beyond_noise(bad, good, mode="min") == 1  # lower is better
  # the same means, but the noise is as large as the gap: not resolved
  wide = rng.normal(0.0, 0.2, size=(2, 5))
  assert stats.beyond_noise(0.95 + wide[0] - wide[0].mean(), 0.90 + wide[1] - wide[1].mean(),
                            mode="max") == 0
  # the first claim of issue 10: 0.964 ± 0.008 vs 0.959 ± 0.001 over 3 seeds is noise
  radam = np.array([0.956, 0.964, 0.972])
  adam = np.array([0.958, 0.959, 0.960])
  assert stats.beyond_noise(radam, adam, mode="max") == 0
  # deterministic numbers: any real difference counts, float round-off does not
  assert stats.beyond_noise([-0.994] * 3, [0.993] * 3, mode="min") == 1
  assert stats.beyond_noise([1.0] * 3, [1.0 + 1e-9] * 3, mode="min") == 0
  assert stats.beyond_noise([1.0, float("nan")], [2.0, 2.0], mode="min") == 0
  # one side without spread: its interval is a point, so "intervals apart" is not evidence;
  # the 2-SE test decides (the committed page's RAdam warm-up check: every Adam seed's loss
  # never rose, RAdam's rose by 0.0084 on average with 2 SE = 0.0088: noise)
  radam_rise = np.array([0.00846, 0.02408, 0.0, 0.00941, 0.0])
  se = stats.standard_error(radam_rise)
  assert radam_rise.mean() < 2 * se
  iv = stats.bootstrap_ci(radam_rise)
  assert iv.lo > 0.0  # the percentile interval alone would call it apart from 0
  assert stats.beyond_noise(radam_rise, [0.0] * 5, mode="min") == 0
  assert stats.beyond_noise(radam_rise + 0.001, [0.0] * 5, mode="min") == -1  # > 2 SE


def test_difference_above_two_standard_errors_counts_even_if_intervals_touch():
  a = np.array([1.0, 1.2, 1.4, 1.6, 1.8])  # mean 1.4, se 0.141
  b = a - 0.45  # difference 0.45 > 2 * sqrt(2) * 0.141 = 0.40
  assert stats.standard_error(a) == pytest.approx(np.std(a, ddof=1) / np.sqrt(5))
  assert stats.beyond_noise(a, b, mode="max") == 1
  assert stats.beyond_noise(a, a - 0.3, mode="max") == 0  # 0.3 < 0.40, intervals overlap


@pytest.mark.parametrize("directions, expected", [
    ([1], "confirmed"),
    ([1, 1], "confirmed"),
    ([1, 0], "not resolved at this budget"),  # only at one rate: not enough
    ([0, 1], "not resolved at this budget"),  # not at the tuned rates
    ([0], "not resolved at this budget"),
    ([-1, 1], "contradicted"),
    ([-1], "contradicted"),
])
def test_verdict_rule(directions, expected):
  assert stats.verdict(directions) == expected


def test_verdict_rule_rejects_what_is_not_a_direction():
  with pytest.raises(ValueError, match="at least one"):
    stats.verdict([])
  with pytest.raises(ValueError, match="-1, 0 or 1"):
    stats.verdict([2])


def test_ranks_keep_ties_and_the_best_is_bold_only_when_apart():
  iv = stats.Interval
  ivs = [iv(0.90, 0.88, 0.92), iv(0.91, 0.89, 0.93), iv(0.80, 0.79, 0.81),
         iv(float("nan"), float("nan"), float("nan"))]
  # higher is better: the first two overlap (both rank 1), the third is behind both,
  # the diverged one behind everything
  assert stats.ranks_with_ties(ivs, mode="max") == [1, 1, 3, 4]
  tied, alone = stats.tied_with_best(ivs, mode="max")
  assert tied == [True, True, False, False] and not alone
  tied, alone = stats.tied_with_best(ivs[1:], mode="max")
  assert tied == [True, False, False] and alone
  # lower is better reverses the order
  assert stats.ranks_with_ties(ivs[:3], mode="min") == [2, 2, 1]
  # runs that end in the same minimum differ by float32 round-off: a tie, not a ranking
  same = [iv(31.8384853, 31.8384846, 31.8384857), iv(31.8384861, 31.8384858, 31.8384869),
          iv(31.838486, 31.838486, 31.838486)]
  assert stats.ranks_with_ties(same, mode="min") == [1, 1, 1]


def test_kendall_tau_b_matches_scipy_with_ties():
  from conftest import require
  scipy_stats = require("scipy.stats")  # a dependency of jax: present wherever jax is
  rng = np.random.default_rng(2)
  for _ in range(20):
    a = rng.integers(0, 5, size=12).astype(float)
    b = a + rng.integers(-2, 3, size=12)
    expected = scipy_stats.kendalltau(a, b).statistic
    assert stats.kendall_tau(a, b) == pytest.approx(expected, abs=1e-12)


def test_performance_profile_by_hand():
  # 2 tasks, 3 optimizers; task 1: accuracies from a start of 0, best 1
  d1 = [stats.profile_distance(v, 1.0, 0.0) for v in (1.0, 0.875, 0.0)]
  assert d1 == [0.0, 0.125, 1.0]
  # task 2: losses from a start of 10, best 0; one optimizer diverged
  d2 = [stats.profile_distance(v, 0.0, 10.0) for v in (5.0, 0.0, float("nan"))]
  assert d2[:2] == pytest.approx([0.5, 0.0]) and d2[2] == math.inf
  rho = stats.performance_profile(np.array([d1, d2]), np.array([0.0, 0.125, 0.5, 1.0]))
  np.testing.assert_allclose(rho, [[0.5, 0.5, 1.0, 1.0],
                                   [0.5, 1.0, 1.0, 1.0],
                                   [0.0, 0.0, 0.0, 0.5]])


def test_select_lr_takes_the_best_mean_and_never_a_diverged_rate():
  # rate 2 has the best single seed but another seed diverged; rates 1 and 3 tie (0.8)
  scores = np.array([[0.5, 0.6], [0.9, 0.7], [0.99, float("nan")], [0.8, 0.8]])
  assert stats.select_lr(scores, mode="max") == 1  # the first of equal means
  scores[3] = [0.85, 0.85]
  assert stats.select_lr(scores, mode="max") == 3
  assert stats.select_lr(-scores, mode="min") == 3
  # the compiled program selects with jax.numpy in float32, under jit: the same answers
  # (scores exact in binary, so that the tie is a tie in float32 too)
  select = jax.jit(lambda s, mode: stats.best_mean_index(s, mode=mode, xp=jnp),
                   static_argnums=1)
  scores = jnp.asarray([[0.5, 0.625], [0.875, 0.625], [1.0, np.nan], [0.75, 0.75]])
  assert int(select(scores, "max")) == 1 == stats.select_lr(np.asarray(scores), mode="max")
  scores = scores.at[3].set(0.875)
  assert int(select(scores, "max")) == 3 and int(select(-scores, "min")) == 3
  all_diverged = np.full((3, 2), np.nan)
  assert stats.select_lr(all_diverged, mode="min") == 0
  assert int(select(jnp.asarray(all_diverged, jnp.float32), "min")) == 0


@pytest.mark.parametrize("mode", ["min", "max"])
def test_steps_to_target_against_a_loop_over_stored_curves(mode):
  """The first evaluation at the target, counted by a plain loop over random curves
  (with NaNs: a diverged run never reaches); a miss is inf, never a number."""
  rng = np.random.default_rng(3)
  curves = rng.uniform(0.0, 1.0, size=(4, 5, 9))
  curves[1, 2, 4:] = np.nan
  eval_steps = np.arange(9) * 25
  target = 0.2 if mode == "min" else 0.8
  got = stats.steps_to_target(curves, eval_steps, target, mode=mode)
  for i in range(4):
    for j in range(5):
      expected = np.inf
      for k in range(9):
        v = curves[i, j, k]
        if not np.isnan(v) and (v <= target if mode == "min" else v >= target):
          expected = eval_steps[k]
          break
      assert got[i, j] == expected, (i, j)
  assert np.isinf(got).any() and np.isfinite(got).any()


def test_a_seed_that_did_not_reach_the_target_is_never_averaged():
  assert stats.target_text([100.0, np.inf, np.inf]) == "did not reach (2 of 3 seeds)"
  reached = stats.target_text([100.0, 200.0, 300.0])
  mean, interval = reached.split(" ", 1)
  assert float(mean) == 200.0 and interval.startswith("[") and "inf" not in reached


def test_time_to_target_selection_prefers_every_seed_reaching_then_fewer_steps():
  inf = np.inf
  steps = np.array([[100.0, inf], [300.0, 300.0], [200.0, 400.0], [inf, inf]])
  finals = np.array([[0.1, 0.9], [0.5, 0.5], [0.2, 0.2], [0.0, 0.0]])  # a loss
  # trial 0 misses on a seed; trials 1 and 2 both average 300: the lower final loss wins
  assert stats.select_by_time_to_target(steps, finals, mode="min") == 2
  # nobody reaches: the best final value (trial 3)
  assert stats.select_by_time_to_target(np.full((4, 2), inf), finals, mode="min") == 3


def test_the_profile_score_is_the_area_under_the_counted_profile():
  """AlgoPerf's integrated profile against a Riemann sum of the fraction of tasks within
  tau, counted on a fine grid of tau in [1, 4] (misses and a task nobody reached
  included)."""
  inf = np.inf
  times = np.array([[100.0, 150.0, 400.0, inf],
                    [300.0, 200.0, 250.0, 900.0],
                    [inf, inf, inf, inf],
                    [50.0, 60.0, 55.0, 45.0]])
  ratios = stats.time_ratios(times)
  assert ratios[0].tolist() == [1.0, 1.5, 4.0, inf] and np.isinf(ratios[2]).all()
  taus = np.linspace(1.0, 4.0, 300_001)
  rho = (ratios[:, :, None] <= taus[None, None, :]).mean(axis=0)  # [optimizers, taus]
  area = rho[:, :-1].sum(axis=1) * (taus[1] - taus[0]) / 3.0
  np.testing.assert_allclose(stats.profile_score(ratios), area, atol=1e-4)


@pytest.mark.parametrize("n_evals", [3, 6, 11, 17])
def test_the_slope_at_the_end_is_numpys_polyfit_over_the_last_third(n_evals):
  """Against ``np.polyfit(steps, curve, 1)`` on the evaluations at or after two thirds of
  training, on synthetic curves (noisy saturating, linear, a NaN before the window) over
  uneven evaluation steps; a NaN inside the window gives NaN."""
  rng = np.random.default_rng(n_evals)
  steps = np.sort(rng.choice(np.arange(1, 6000), n_evals - 1, replace=False))
  steps = np.concatenate([[0], steps])
  curves = np.stack([0.7 - 0.6 * np.exp(-steps / 900.0) + 0.01 * rng.normal(size=n_evals),
                     0.3 + 2e-5 * steps, np.full(n_evals, 0.5)])
  curves[2, 0] = np.nan  # before the window: no effect
  got = stats.end_slope(curves, steps)
  inside = steps >= steps[-1] - (steps[-1] - steps[0]) / 3
  if inside.sum() < 2:
    inside[-2:] = True
  expected = [np.polyfit(steps[inside], c[inside], 1)[0] * 1000 for c in curves]
  np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(got[1], 0.02, rtol=1e-9)  # linear: its own slope
  curves[1, -1] = np.nan
  assert np.isnan(stats.end_slope(curves, steps)[1])


def test_the_slope_window_and_unit_can_change():
  steps = np.arange(0, 1100, 100)
  curve = np.where(steps < 500, steps / 1000.0, 0.5)  # flat from step 500 on
  assert stats.end_slope(curve, steps, fraction=0.5)[()] == pytest.approx(0.0, abs=1e-12)
  assert stats.end_slope(curve, steps, fraction=1.0, per=1)[()] == pytest.approx(
      np.polyfit(steps, curve, 1)[0])
  with pytest.raises(ValueError, match="fraction"):
    stats.end_window(steps, fraction=0.0)
  with pytest.raises(ValueError, match="evaluations"):
    stats.end_slope(curve[:-1], steps)
