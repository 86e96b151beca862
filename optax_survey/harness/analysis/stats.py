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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "CONFIRMED", "CONTRADICTED", "NOT_RESOLVED", "Interval", "best_mean_index", "beyond_noise",
    "bootstrap_ci",
    "kendall_tau", "performance_profile", "profile_distance", "ranks_with_ties", "select_lr",
    "standard_error", "tied_with_best", "verdict",
]

CONFIRMED = "confirmed"
NOT_RESOLVED = "not resolved at this budget"
CONTRADICTED = "contradicted"

# Relative size below which a difference of deterministic numbers is float round-off.
_RTOL = 1e-6


class Interval(NamedTuple):
  """A mean over seeds and its confidence interval ``[lo, hi]``."""

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
  """Standard error of the mean, ``std(ddof=1) / sqrt(n)`` (0 for one value)."""
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
  """
  _check_mode(mode)
  s = np.asarray(scores, np.float64)
  if s.ndim != 2 or s.shape[0] == 0:
    raise ValueError(f"scores must be [n_lr, n_seeds], got shape {s.shape}")
  return int(best_mean_index(s, mode=mode))
