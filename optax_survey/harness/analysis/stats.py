"""Statistics of the comparison: intervals over seeds, noise-aware ranks, the
verdict rule, the performance profile and how much tuning reorders a ranking.

Everything here is pure NumPy on small arrays (one value per seed), with a
fixed random generator, so that a results page regenerated from the same
numbers is byte-identical.

* :func:`bootstrap_ci`: mean and 95% percentile-bootstrap interval over seeds.
* :func:`beyond_noise`: whether one optimizer is better than another by more
  than the seed noise (difference > 2 standard errors, or intervals apart).
* :func:`verdict`: the rule that turns such comparisons into a claim's verdict.
* :func:`ranks_with_ties`, :func:`tied_with_best`: ranks that do not separate
  optimizers whose intervals overlap.
* :func:`profile_distance`, :func:`performance_profile`: the fraction of tasks
  on which an optimizer is within x of the best.
* :func:`kendall_tau`: Kendall's tau-b between two rankings.
* :func:`select_lr`: the learning rate with the best validation score
  (:func:`best_mean_index`: the same rule for ``jax.numpy`` arrays).
* :func:`end_slope`: how far from convergence a run stops (the least-squares slope of
  its validation curve over the last part of training).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "CONFIRMED", "CONTRADICTED", "NOT_RESOLVED", "Interval", "best_mean_index", "beyond_noise",
    "bootstrap_ci", "end_slope", "end_window",
    "kendall_tau", "performance_profile", "profile_distance", "ranks_with_ties", "select_lr",
    "profile_score", "select_by_time_to_target", "standard_error", "steps_to_target",
    "target_text", "tied_with_best", "time_ratios", "verdict",
]

CONFIRMED = "confirmed"
NOT_RESOLVED = "not resolved at this budget"
CONTRADICTED = "contradicted"

# Relative size below which a difference of deterministic numbers is float round-off.
_RTOL = 1e-6


class Interval(NamedTuple):
  """A mean over seeds and its confidence interval ``[lo, hi]``.

  Example:
    >>> iv = Interval(mean=0.5, lo=0.4, hi=0.6)
    >>> iv.mean, iv.lo <= iv.mean <= iv.hi
    (0.5, True)
  """

  mean: float
  lo: float
  hi: float


def _check_mode(mode: str) -> None:
  if mode not in ("min", "max"):
    raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def bootstrap_ci(values: Sequence[float] | np.ndarray, *, level: float = 0.95,
                 n_boot: int = 2000, seed: int = 0) -> Interval:
  """Mean over seeds and its percentile-bootstrap interval.

  The definition, exactly: ``rng = np.random.default_rng(seed)``;
  ``idx = rng.integers(0, n, size=(n_boot, n))``; the bootstrap means are
  ``values[idx].mean(axis=1)``; the interval is their ``(1 - level)/2`` and
  ``(1 + level)/2`` quantiles (``np.quantile``, linear interpolation).

  Args:
    values: one number per seed.
    level: coverage of the interval, in (0, 1).
    n_boot: number of bootstrap resamples, >= 1.
    seed: seed of the resampling generator (fixed: reproducible intervals).

  Returns:
    ``Interval(mean, lo, hi)``; all NaN if a value is not finite (a seed
    diverged) or there are no values; ``lo == hi == mean`` if all values agree.

  Example:
    >>> iv = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])  # e.g. a final loss per seed
    >>> print(f"{iv.mean:.2f} [{iv.lo:.2f}, {iv.hi:.2f}]")
    3.00 [1.80, 4.20]
    >>> bootstrap_ci([2.0, 2.0, 2.0])  # every seed agrees: no spread
    Interval(mean=2.0, lo=2.0, hi=2.0)
    >>> bootstrap_ci([1.0, float("nan")])  # a seed diverged
    Interval(mean=nan, lo=nan, hi=nan)

  References:
    Efron & Tibshirani, An Introduction to the Bootstrap, Chapman & Hall, 1993
    (the percentile interval).
  """
  if not 0.0 < level < 1.0:
    raise ValueError(f"level must be in (0, 1), got {level}")
  if n_boot < 1:
    raise ValueError(f"n_boot must be >= 1, got {n_boot}")
  x = np.asarray(values, np.float64).ravel()
  if x.size == 0 or not np.all(np.isfinite(x)):
    return Interval(math.nan, math.nan, math.nan)
  mean = float(x.mean())
  if np.all(x == x[0]):
    return Interval(mean, mean, mean)
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, x.size, size=(n_boot, x.size))
  means = x[idx].mean(axis=1)
  lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
  return Interval(mean, min(float(lo), mean), max(float(hi), mean))


def standard_error(values: Sequence[float] | np.ndarray) -> float:
  """Standard error of the mean, ``std(ddof=1) / sqrt(n)`` (0 for one value).

  Example:
    >>> round(standard_error([1.0, 2.0, 3.0, 4.0]), 4)
    0.6455
    >>> standard_error([5.0])  # one seed: no estimate of the noise
    0.0
  """
  x = np.asarray(values, np.float64).ravel()
  if x.size < 2:
    return 0.0
  return float(x.std(ddof=1) / math.sqrt(x.size))


def beyond_noise(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                 mode: str) -> int:
  """Whether ``a`` beats ``b`` by more than the seed noise.

  "Beyond noise" means: the difference of the means is larger than two
  standard errors of that difference (``2 sqrt(se_a² + se_b²)``), or the 95%
  bootstrap intervals do not overlap.  The second test needs spread on both
  sides: when one side's seeds all agree its interval is a point, and "apart"
  would only ask whether the other side's percentile interval excludes that
  point, a one-sample test that the percentile bootstrap passes too easily with
  5 seeds (its coverage is below 95% for small samples); there the 2-SE test
  alone decides.  For deterministic numbers (no spread on either side) any
  difference larger than float round-off counts.

  Args:
    a, b: one value per seed of each side.
    mode: ``"min"`` (lower is better) or ``"max"``.

  Returns:
    ``+1`` if ``a`` is better beyond noise, ``-1`` if ``b`` is, ``0`` otherwise
    (also when a side diverged, or has fewer than 2 values: no noise estimate).

  Example:
    >>> a, b = [1.0, 1.1, 0.9], [2.0, 2.1, 1.9]  # final losses, three seeds each
    >>> beyond_noise(a, b, mode="min")  # a is lower, by far more than the noise
    1
    >>> beyond_noise(a, b, mode="max")  # were higher better, b would win
    -1
    >>> beyond_noise(a, [1.05, 1.15, 0.95], mode="min")  # a difference within the noise
    0
    >>> beyond_noise([1.0], b, mode="min")  # one seed: no noise estimate, no decision
    0

  References:
    Efron & Tibshirani, An Introduction to the Bootstrap, Chapman & Hall, 1993
    (the percentile interval).
  """
  _check_mode(mode)
  x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
  if x.size < 2 or y.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    return 0
  diff = float(x.mean() - y.mean())
  if mode == "min":
    diff = -diff
  if abs(diff) <= _RTOL * max(abs(float(x.mean())), abs(float(y.mean())), 1e-30):
    return 0
  se = math.hypot(standard_error(x), standard_error(y))
  ia, ib = bootstrap_ci(x), bootstrap_ci(y)
  spread = ia.lo < ia.hi and ib.lo < ib.hi
  apart = spread and (ia.hi < ib.lo or ib.hi < ia.lo)
  if abs(diff) > 2.0 * se or apart:
    return 1 if diff > 0 else -1
  return 0


def verdict(directions: Sequence[int]) -> str:
  """The verdict on a claim from its checks, the first at the tuned learning rates.

  Args:
    directions: one :func:`beyond_noise` result per check of the claim: ``+1``
      (the claimed effect, beyond noise), ``0`` (within noise), ``-1`` (the
      opposite, beyond noise).  ``directions[0]`` is the check at each
      optimizer's tuned learning rate; the others (e.g. at the paper's rate)
      must agree too.

  Returns:
    ``"confirmed"`` if every check shows the effect beyond noise;
    ``"contradicted"`` if the check at the tuned rates shows the opposite
    beyond noise; otherwise ``"not resolved at this budget"``.

  Example:
    >>> verdict([1, 1])  # beyond noise at the tuned rates and at the paper's rate
    'confirmed'
    >>> verdict([1, 0])  # at the paper's rate the difference is within the noise
    'not resolved at this budget'
    >>> verdict([-1, 1])  # the opposite, beyond noise, at the tuned rates
    'contradicted'
  """
  checks = list(directions)
  if not checks:
    raise ValueError("verdict needs at least one check (the one at the tuned rates)")
  for d in checks:
    if d not in (-1, 0, 1):
      raise ValueError(f"each direction must be -1, 0 or 1, got {d!r}")
  if all(d == 1 for d in checks):
    return CONFIRMED
  if checks[0] == -1:
    return CONTRADICTED
  return NOT_RESOLVED


def _better_beyond(a: Interval, b: Interval, mode: str) -> bool:
  """``a``'s interval lies entirely on the better side of ``b``'s, by more than float
  round-off (two runs that end in the same minimum differ in the 7th digit)."""
  if not math.isfinite(a.mean):
    return False
  if not math.isfinite(b.mean):
    return True
  gap = (b.lo - a.hi) if mode == "min" else (a.lo - b.hi)
  return gap > _RTOL * max(abs(a.mean), abs(b.mean), 1e-30)


def ranks_with_ties(intervals: Sequence[Interval], *, mode: str) -> list[int]:
  """Ranks that never separate optimizers whose intervals overlap.

  An optimizer's rank is 1 + the number of optimizers whose interval lies
  entirely on the better side of its own; a diverged one (NaN) is behind every
  finite one.  Optimizers tied with the best all get rank 1.

  Args:
    intervals: one :class:`Interval` per optimizer.
    mode: ``"min"`` or ``"max"``.

  Returns:
    One integer rank per optimizer, in the order given.

  Example:
    >>> nan = float("nan")
    >>> intervals = [Interval(1.0, 0.9, 1.1), Interval(1.05, 1.0, 1.1),
    ...              Interval(2.0, 1.9, 2.1), Interval(nan, nan, nan)]  # the last diverged
    >>> ranks_with_ties(intervals, mode="min")  # the first two overlap: both rank 1
    [1, 1, 3, 4]
  """
  _check_mode(mode)
  return [1 + sum(_better_beyond(other, mine, mode) for other in intervals)
          for mine in intervals]


def tied_with_best(intervals: Sequence[Interval], *, mode: str) -> tuple[list[bool], bool]:
  """Which optimizers are tied with the best mean, and whether the best stands alone.

  Returns:
    ``(tied, alone)``: ``tied[i]`` is True for the best mean and every
    optimizer whose interval overlaps the best's; ``alone`` is True when no
    other optimizer is tied (then the best may be printed in bold).

  Example:
    >>> a, b, c = Interval(1.0, 0.9, 1.1), Interval(1.05, 1.0, 1.1), Interval(2.0, 1.9, 2.1)
    >>> tied_with_best([a, b, c], mode="min")  # b's interval overlaps the best's (a's)
    ([True, True, False], False)
    >>> tied_with_best([a, c], mode="min")  # a stands alone
    ([True, False], True)
  """
  _check_mode(mode)
  means = [iv.mean if math.isfinite(iv.mean) else math.nan for iv in intervals]
  finite = [i for i, m in enumerate(means) if math.isfinite(m)]
  if not finite:
    return [False] * len(intervals), False
  best = (min if mode == "min" else max)(finite, key=lambda i: means[i])
  tied = [i == best or (math.isfinite(means[i]) and not _better_beyond(intervals[best], iv, mode))
          for i, iv in enumerate(intervals)]
  return tied, sum(tied) == 1


def profile_distance(value: float, best: float, start: float) -> float:
  """How far ``value`` is from ``best``, as a fraction of the way from ``start``.

  ``|value - best| / |start - best|``: 0 for the best optimizer, 1 for one that
  ended where training began (larger if it ended further away, ``inf`` if it
  diverged).  The scale is the task's own (the metric before training), so
  accuracies, losses and iterates become comparable.

  Example:
    >>> profile_distance(0.5, best=0.0, start=2.0)  # a quarter of the way back to the start
    0.25
    >>> profile_distance(float("nan"), best=0.0, start=2.0)  # diverged
    inf

  References:
    Moré & Wild, `Benchmarking Derivative-Free Optimization Algorithms
    <https://doi.org/10.1137/080724083>`__, SIAM Journal on Optimization 20(1), 2009
    (the same test, ``|value - best| <= tau |start - best|``, on the function value).
  """
  if not math.isfinite(value):
    return math.inf
  scale = abs(start - best)
  if scale == 0.0:
    return 0.0 if value == best else math.inf
  return abs(value - best) / scale


def performance_profile(distances: np.ndarray, taus: np.ndarray) -> np.ndarray:
  """Fraction of tasks on which each optimizer is within ``tau`` of the best.

  Args:
    distances: ``[n_tasks, n_optimizers]`` (:func:`profile_distance`).
    taus: the thresholds.

  Returns:
    ``[n_optimizers, len(taus)]``: ``mean over tasks of (distance <= tau)``.

  Example:
    >>> import numpy as np
    >>> distances = np.array([[0.0, 0.05],   # task 1: the first optimizer is the best
    ...                       [0.0, 0.5],
    ...                       [0.2, 0.0]])   # task 3: the second one is
    >>> performance_profile(distances, np.array([0.01, 0.1, 1.0])).round(3).tolist()
    [[0.667, 0.667, 1.0], [0.333, 0.667, 1.0]]

  References:
    Dolan & Moré, `Benchmarking optimization software with performance profiles
    <https://arxiv.org/abs/cs/0102001>`__, Mathematical Programming 91, 2002 (here
    with :func:`profile_distance` in place of their ratio to the best).
  """
  d = np.asarray(distances, np.float64)
  if d.ndim != 2:
    raise ValueError(f"distances must be [n_tasks, n_optimizers], got shape {d.shape}")
  t = np.asarray(taus, np.float64).ravel()
  return (d[:, :, None] <= t[None, None, :]).mean(axis=0)


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
  """Kendall's tau-b between two scorings of the same items (ties allowed).

  ``(concordant - discordant) / sqrt((n0 - ties_a) (n0 - ties_b))`` over all
  pairs, ``n0 = n (n - 1) / 2``; NaN if either scoring is constant.

  Example:
    >>> round(kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]), 4)  # one pair of six swapped
    0.6667
    >>> round(kendall_tau([1, 1, 2], [1, 2, 3]), 4)  # a tie in the first scoring
    0.8165
    >>> kendall_tau([1, 2, 3], [3, 2, 1]), kendall_tau([1, 1, 1], [1, 2, 3])
    (-1.0, nan)

  References:
    Kendall, The treatment of ties in ranking problems, Biometrika 33(3),
    239-251, 1945.
  """
  x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(f"kendall_tau needs two 1-D sequences of one length, got {x.shape}, "
                     f"{y.shape}")
  n = x.size
  conc = disc = ties_x = ties_y = 0
  for i in range(n):
    for j in range(i + 1, n):
      dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
      if dx == 0:
        ties_x += 1
      if dy == 0:
        ties_y += 1
      if dx * dy > 0:
        conc += 1
      elif dx * dy < 0:
        disc += 1
  n0 = n * (n - 1) // 2
  denom = math.sqrt((n0 - ties_x) * (n0 - ties_y))
  return (conc - disc) / denom if denom > 0 else math.nan


def best_mean_index(scores, *, mode: str, xp=np):
  """The index of the row of ``scores`` with the best mean, in any array namespace.

  The rule of :func:`select_lr`, written once for NumPy (``xp=np``) and for
  ``jax.numpy`` (``xp=jnp``: the harness's compiled program selects the rate
  on the device, without a host round-trip, and trains the fresh seeds at it).
  A row with a non-finite entry is never the best unless every row has one
  (then 0); of equal means the first wins.

  Args:
    scores: ``[n_lr, n_seeds]``.
    mode: ``"min"`` or ``"max"``.
    xp: the array namespace of ``scores``.

  Returns:
    A 0-d integer array of ``xp``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> scores = np.array([[1.0, 1.2], [0.5, 0.7], [np.nan, 0.1]])  # diverged at lr 3
    >>> int(best_mean_index(scores, mode="min"))
    1
    >>> int(best_mean_index(jnp.asarray(scores), mode="min", xp=jnp))  # the same on device
    1
  """
  _check_mode(mode)
  ok = xp.all(xp.isfinite(scores), axis=1)
  means = xp.where(ok, xp.where(ok[:, None], scores, 0.0).mean(axis=1),
                   xp.inf if mode == "min" else -xp.inf)
  return xp.argmin(means) if mode == "min" else xp.argmax(means)


def select_lr(scores: np.ndarray, *, mode: str) -> int:
  """The index of the learning rate with the best mean score over seeds.

  Args:
    scores: ``[n_lr, n_seeds]`` validation scores (never test scores: the
      caller passes only the validation split's metric).  A learning rate at
      which a seed diverged (non-finite score) is never selected unless all did
      (then the first).
    mode: ``"min"`` or ``"max"``.

  Returns:
    The index of the selected learning rate (the first of equal means).

  Example:
    >>> import numpy as np
    >>> scores = np.array([[1.0, 1.2],      # validation loss at lr 1e-3, two seeds
    ...                    [0.5, 0.7],      # at lr 1e-2
    ...                    [np.nan, 0.1]])  # at lr 1e-1: a seed diverged
    >>> select_lr(scores, mode="min")
    1
    >>> select_lr(-scores, mode="max")  # an accuracy-like score: higher is better
    1

  References:
    Schmidt, Schneider & Hennig, `Descending through a Crowded Valley - Benchmarking
    Deep Learning Optimizers <https://arxiv.org/abs/2007.01547>`__, ICML 2021 (the
    tuning protocol).

    Dahl et al., `Benchmarking Neural Network Training Algorithms
    <https://arxiv.org/abs/2306.07179>`__, 2023 (AlgoPerf).
  """
  _check_mode(mode)
  s = np.asarray(scores, np.float64)
  if s.ndim != 2 or s.shape[0] == 0:
    raise ValueError(f"scores must be [n_lr, n_seeds], got shape {s.shape}")
  return int(best_mean_index(s, mode=mode))


def steps_to_target(curves: np.ndarray, eval_steps: Sequence[int] | np.ndarray,
                    target: float, *,
                    mode: str) -> np.ndarray:
  """The first evaluated step at which each run reaches ``target`` (AlgoPerf's time to
  result, counted in steps), or ``inf`` where it never does ("did not reach": a number
  no mean may take in).

  Args:
    curves: ``[..., E]``: a metric at the evaluations ``eval_steps`` (a NaN never
      reaches: a diverged run did not reach).
    eval_steps: ``[E]``, the steps of the evaluations.
    target: the metric's target value.
    mode: ``"min"`` (reached at ``<= target``) or ``"max"`` (``>= target``).

  Returns:
    ``[...]`` float64: a step from ``eval_steps``, or ``inf``.

  Example:
    >>> import numpy as np
    >>> acc = np.array([[0.1, 0.5, 0.91, 0.95], [0.1, 0.4, 0.6, 0.8]])  # two seeds
    >>> steps_to_target(acc, [0, 100, 200, 300], 0.9, mode="max")
    array([200.,  inf])

  References:
    Dahl et al., `Benchmarking Neural Network Training Algorithms
    <https://arxiv.org/abs/2306.07179>`__, 2023 (time to a validation target).
  """
  _check_mode(mode)
  c = np.asarray(curves, np.float64)
  steps = np.asarray(eval_steps, np.float64)
  if c.shape[-1] != steps.shape[0]:
    raise ValueError(f"curves have {c.shape[-1]} evaluations, eval_steps {steps.shape[0]}")
  with np.errstate(invalid="ignore"):
    hit = c <= target if mode == "min" else c >= target
  first = np.argmax(hit, axis=-1)
  return np.where(hit.any(axis=-1), steps[first], np.inf)


def target_text(steps: Sequence[float] | np.ndarray) -> str:
  """Steps to target over seeds as a table shows them: ``mean [lo, hi]`` when every seed
  reached it, else ``did not reach (k of n seeds)``: a miss is never averaged.

  Example:
    >>> target_text([200.0, 300.0]), target_text([200.0, float("inf")])
    ('250 [200, 300]', 'did not reach (1 of 2 seeds)')
  """
  s = np.asarray(steps, np.float64)
  missed = int((~np.isfinite(s)).sum())
  if missed:
    return f"did not reach ({missed} of {s.size} seeds)"
  iv = bootstrap_ci(s)
  return f"{iv.mean:.4g} [{iv.lo:.4g}, {iv.hi:.4g}]"


def select_by_time_to_target(steps: np.ndarray, finals: np.ndarray, *, mode: str) -> int:
  """The index of the trial that reaches the target in the fewest steps, mean over
  seeds, among those that reach it on every seed (of equal means, the better final
  value; then the first); where none does, the best final value (:func:`select_lr`).

  Args:
    steps: ``[n, seeds]`` steps to target (:func:`steps_to_target`; ``inf``: missed).
    finals: ``[n, seeds]`` the final values of the same (validation) metric.
    mode: ``"min"`` or ``"max"`` for ``finals``.

  Example:
    >>> import numpy as np
    >>> steps = np.array([[300.0, 200.0], [100.0, np.inf], [200.0, 300.0]])
    >>> finals = np.array([[0.96, 0.95], [0.99, 0.90], [0.97, 0.96]])
    >>> select_by_time_to_target(steps, finals, mode="max")  # 250 and 250: the better end
    2
  """
  _check_mode(mode)
  s = np.asarray(steps, np.float64)
  f = np.asarray(finals, np.float64)
  reached = np.asarray(np.isfinite(s).all(axis=1))
  if not reached.any():
    return select_lr(f, mode=mode)
  mean_steps = np.where(reached, np.where(reached[:, None], s, 0.0).mean(axis=1), np.inf)
  fastest = np.flatnonzero(mean_steps == mean_steps.min())
  return int(fastest[select_lr(f[fastest], mode=mode)])


def time_ratios(times: np.ndarray) -> np.ndarray:
  """Each optimizer's time to result over the fastest optimizer's, per task (AlgoPerf's
  performance ratio): ``inf`` where it did not reach the target, or where no optimizer
  did.

  Args:
    times: ``[n_tasks, n_optimizers]`` steps (or seconds) to target, ``inf`` for a miss.

  Example:
    >>> import numpy as np
    >>> time_ratios(np.array([[100.0, 200.0], [300.0, np.inf]])).tolist()
    [[1.0, 2.0], [1.0, inf]]
  """
  t = np.asarray(times, np.float64)
  if t.ndim != 2:
    raise ValueError(f"times must be [n_tasks, n_optimizers], got shape {t.shape}")
  best = t.min(axis=1, keepdims=True)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(np.isfinite(t) & np.isfinite(best), t / best, np.inf)


def profile_score(ratios: np.ndarray, *, tau_max: float = 4.0) -> np.ndarray:
  """AlgoPerf's score: the area under each optimizer's performance profile
  ``rho(tau)`` (the fraction of tasks with ratio ``<= tau``) over ``tau`` in ``[1,
  tau_max]``, divided by ``tau_max - 1``: 1 if it is the fastest everywhere, 0 if it
  never comes within ``tau_max`` of the fastest.  Exact for a step profile: a task with
  ratio ``r <= tau_max`` adds ``(tau_max - r) / (tau_max - 1)`` over the tasks.

  Args:
    ratios: ``[n_tasks, n_optimizers]`` (:func:`time_ratios`; ``inf`` for a miss).
    tau_max: the largest ratio that counts (AlgoPerf: 4).

  Returns:
    ``[n_optimizers]`` scores in ``[0, 1]``.

  Example:
    >>> import numpy as np
    >>> profile_score(np.array([[1.0, 2.5], [1.0, np.inf]])).tolist()  # 1.5/3 on one task
    [1.0, 0.25]

  References:
    Dahl et al., `Benchmarking Neural Network Training Algorithms
    <https://arxiv.org/abs/2306.07179>`__, 2023, Section 4.5 (the integrated
    performance profile, tau_max = 4).
  """
  r = np.asarray(ratios, np.float64)
  if r.ndim != 2:
    raise ValueError(f"ratios must be [n_tasks, n_optimizers], got shape {r.shape}")
  if not tau_max > 1:
    raise ValueError(f"tau_max must be > 1, got {tau_max}")
  gain = np.where(r <= tau_max, tau_max - np.maximum(r, 1.0), 0.0)
  return gain.mean(axis=0) / (tau_max - 1.0)


def end_window(eval_steps: Sequence[int] | np.ndarray, *, fraction: float = 1 / 3) -> np.ndarray:
  """The evaluations in the last ``fraction`` of training: the indices of ``eval_steps``
  at or after ``last - fraction * (last - first)``, at least the last two.

  Example:
    >>> end_window([0, 600, 1200, 1800, 2400, 3000]).tolist()  # steps 2000 .. 3000
    [4, 5]
    >>> end_window([0, 100, 200, 300, 400, 500, 600]).tolist()  # steps 400 .. 600
    [4, 5, 6]
  """
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f"fraction must be in (0, 1], got {fraction}")
  steps = np.asarray(eval_steps, np.float64)
  if steps.ndim != 1 or steps.size < 2:
    raise ValueError(f"eval_steps must hold at least 2 evaluations, got shape {steps.shape}")
  start = steps[-1] - fraction * (steps[-1] - steps[0])
  inside = np.flatnonzero(steps >= start - 1e-9 * max(1.0, abs(start)))
  return inside if inside.size >= 2 else np.arange(steps.size - 2, steps.size)


def end_slope(curves: np.ndarray, eval_steps: Sequence[int] | np.ndarray, *,
              fraction: float = 1 / 3, per: float = 1000.0) -> np.ndarray:
  """How far from convergence each run stops: the least-squares slope of its curve over
  the evaluations of the last ``fraction`` of training (:func:`end_window`), in the
  metric's units per ``per`` steps.  Near 0: the curve has flattened; a slope the size of
  the curve's differences between runs: training was stopped while still moving.

  Args:
    curves: ``[..., E]``, a metric at the evaluations ``eval_steps`` (the validation
      curve; a NaN in the window, a diverged run, gives NaN).
    eval_steps: ``[E]``, the steps of the evaluations.
    fraction: the part of training the slope is fitted over, in (0, 1].
    per: the slope's step unit.

  Returns:
    ``[...]`` float64: each run's slope (NumPy's ``polyfit(steps, curve, 1)[0] * per``
    over the window).

  Example: an accuracy still climbing by 0.01 per 100 steps, and a flat one:

    >>> import numpy as np
    >>> steps = np.arange(0, 700, 100)
    >>> curves = np.stack([0.5 + 1e-4 * steps, np.full(7, 0.9)])
    >>> end_slope(curves, steps).round(6).tolist()  # per 1000 steps
    [0.1, 0.0]
  """
  c = np.asarray(curves, np.float64)
  steps = np.asarray(eval_steps, np.float64)
  if c.shape[-1] != steps.shape[0]:
    raise ValueError(f"curves have {c.shape[-1]} evaluations, eval_steps {steps.shape[0]}")
  window = end_window(steps, fraction=fraction)
  x = steps[window] - steps[window].mean()
  y = c[..., window]
  return (y - y.mean(axis=-1, keepdims=True)) @ x / (x @ x) * per
