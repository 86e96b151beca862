r"""Step-number scalars: bias corrections, RAdam's SMA lengths, AdaBound's bounds.

PyTorch computes these in double precision (they are Python floats); a JAX
step with ``jax_enable_x64`` off has no double precision inside ``jit``.
Two things keep them as exact as float32 allows:

* What depends on a hyperparameter alone is computed in Python's double
  precision when the hyperparameter is a concrete Python number
  (``log β``, ``ρ_∞ = 2/(1-β2) - 1``): rounding ``0.999`` to float32 first
  and then computing ``ρ_∞`` gives 1999.026, not 1999.
* What depends on the step number ``t`` (a traced integer) is written in
  forms without cancellation: ``1 - β^t = -expm1(t log β)``, and RAdam's
  ``ρ_t = ρ_∞ - 2tβ^t/(1-β^t)``, a difference of two numbers near 2000 at
  the first steps, as ``1 + 2(t-1) D`` with ``D`` a divided difference of
  ``x/(e^x - 1)`` evaluated by its Bernoulli series where the two are close.

Each function returns a scalar in the default float dtype (float64 under
``jax_enable_x64``, else float32); a hyperparameter that arrives as an array
(``optax.inject_hyperparams``, a vmapped sweep) is used in its own precision.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "as_float", "log_decay", "decay_power", "one_minus_power", "sma_length",
    "sma_length_inf", "adabound_bounds",
]


def _concrete(x: Any) -> bool:
  return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _float() -> jnp.dtype:
  return jnp.result_type(float)  # float64 under jax_enable_x64, else float32


def as_float(x: Any) -> jax.Array:
  """``x`` (a Python number, an array or a traced value) as a real float scalar.

  A Python number becomes a strongly typed array of the default float dtype,
  so a state that holds it keeps its dtype under ``lax.scan``.
  """
  if _concrete(x):
    return jnp.asarray(x, _float())
  x = jnp.asarray(x)
  if jnp.iscomplexobj(x):
    x = jnp.real(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(_float())
  return x


def log_decay(b: Any) -> Any:
  """``log β``: in Python double precision for a Python number (``-inf`` at 0)."""
  if _concrete(b):
    return math.log(b) if b > 0 else -math.inf
  return jnp.log(as_float(b))


def decay_power(b: Any, t: jax.Array) -> jax.Array:
  """``β^t = exp(t log β)`` for an integer step ``t``."""
  return jnp.exp(jnp.asarray(t, _float()) * log_decay(b))


def one_minus_power(b: Any, t: jax.Array) -> jax.Array:
  """``1 - β^t``, computed as ``-expm1(t log β)`` (no cancellation at small t)."""
  return -jnp.expm1(jnp.asarray(t, _float()) * log_decay(b))


def sma_length_inf(b2: Any) -> Any:
  """RAdam's ``ρ_∞ = 2/(1-β2) - 1`` (a Python float for a Python ``b2``)."""
  if _concrete(b2):
    return 2.0 / (1.0 - b2) - 1.0
  return 2 / (1 - as_float(b2)) - 1


# Bernoulli coefficients of f(x) = x / (e^x - 1) = Σ_n B_n x^n / n!, n >= 1:
# (n, B_n / n!) for n = 1, 2, 4, ..., 14 (B_n = 0 for odd n > 1).
_BERNOULLI = (
    (1, -1 / 2), (2, 1 / 12), (4, -1 / 720), (6, 1 / 30240),
    (8, -1 / 1209600), (10, 1 / 47900160), (12, -691 / 2730 / 479001600),
    (14, 7 / 6 / 87178291200),
)
_SERIES_LIMIT = 0.5  # below: the series (error < 1e-16); above: the direct form


def _divided_difference(a: jax.Array, z: jax.Array) -> jax.Array:
  """``(f(a) - f(z)) / (z - a)`` for ``f(x) = x/(e^x-1)``, ``0 < a <= z <= 1/2``.

  From the series: ``-Σ_n c_n h_{n-1}(z, a)`` with the complete homogeneous
  polynomials ``h_m(z, a) = (z^{m+1} - a^{m+1})/(z - a) = z h_{m-1} + a^m``.
  """
  total = jnp.zeros_like(z)
  h, a_power, m = jnp.ones_like(z), jnp.ones_like(z), 0  # h_0 = 1
  for n, c in _BERNOULLI:
    while m < n - 1:
      m += 1
      a_power = a_power * a
      h = z * h + a_power
    total = total - c * h
  return total


def sma_length(b2: Any, t: jax.Array) -> jax.Array:
  r"""RAdam's approximate SMA length ``ρ_t = ρ_∞ - 2tβ2^t/(1-β2^t)`` at step t >= 1.

  With ``a = -log β2``, ``z = ta`` and ``f(x) = x/(e^x-1)``:
  ``ρ_t = ρ_∞ - (2/a) f(z) = 1 + 2(t-1) (f(a) - f(z))/(z - a)``.  The
  divided difference comes from the Bernoulli series while ``z <= 1/2``
  (the first 500 steps at β2 = 0.999, where ``ρ_t`` is a small difference
  of numbers near ``ρ_∞``) and from the direct form after.
  """
  tf = jnp.asarray(t, _float())
  a = -log_decay(b2)
  z = tf * a
  small = z <= _SERIES_LIMIT
  series = 1 + 2 * (tf - 1) * _divided_difference(
      jnp.asarray(a, _float()), jnp.where(small, z, _SERIES_LIMIT)
  )
  direct = sma_length_inf(b2) - 2 * tf / jnp.expm1(jnp.where(small, 1.0, z))
  return jnp.where(small, series, direct)


def adabound_bounds(final: Any, gamma: Any, t: jax.Array):
  r"""AdaBound's ``(η_l, η_u) = final · (γt/(γt+1), (γt+1)/(γt))``.

  The authors write ``1 - 1/(γt+1)`` and ``1 + 1/(γt)``: the same numbers,
  without the cancellation of the first at small ``γt``.
  """
  gt = (gamma if _concrete(gamma) else as_float(gamma)) * jnp.asarray(t, _float())
  return final * (gt / (gt + 1)), final * ((gt + 1) / gt)
