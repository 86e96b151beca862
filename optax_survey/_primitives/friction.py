r"""Friction stages: a coefficient ``ξ`` per element multiplying the first moment.

diffGrad's (:func:`diffgrad_friction`, from the last gradient difference) and
AdaDB's (:func:`adadb_friction`, from the last three, with a sign rule).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey._primitives.helpers import _abs_sig, _full_like, _store
from optax_survey.flow import FRICTION, as_flow, direction, real_dtype, record

__all__ = ["FrictionState", "diffgrad_friction", "AdaDBFrictionState", "adadb_friction"]


def _after(value: Any, earlier: Any) -> Any:
  """``value``, computed after ``earlier``: ``value + min(|earlier|, 0)``.

  ``min(|x|, 0)`` is 0 for every number but NaN, so the result is ``value``
  (bit for bit, NaN aside); the data dependency makes XLA compute it after
  ``earlier``.  A friction stage reads its stored gradients once, into ξ,
  and stores the new ones after ξ: XLA then computes ξ in place of the old
  gradients and overwrites them afterwards, with no copy.  Without the
  dependency XLA on CPU copied each old buffer to a fresh parameter-sized
  temporary before rewriting it, and a temporary of 32 MiB or more is a fresh
  mapping whose pages are faulted in at every step
  (``benchmarks/results/perf.md``).
  """
  return jax.tree.map(
      lambda v, e: v + jnp.minimum(jnp.abs(e), 0).astype(real_dtype(v)), value, earlier
  )


class FrictionState(NamedTuple):
  """``prev_grad``: g_{t-1} (zero before the first step).

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.diffgrad_friction().init(params)
    >>> isinstance(state, osv.FrictionState)
    True
    >>> print(state.prev_grad)
    [0. 0.]
  """

  prev_grad: chex.ArrayTree


def diffgrad_friction() -> optax.GradientTransformation:
  r"""diffGrad's friction coefficient (DFC) on the first moment.

  .. math:: \xi_t = \mathrm{AbsSig}(g_{t-1} - g_t) = \frac{1}{1 + e^{-|g_{t-1} - g_t|}},
            \qquad m \leftarrow \xi_t\, m

  ``g_0 = 0``, so ``ξ_1 = σ(|g_1|)``.  ``ξ → 1/2`` where the gradient barely
  changes (friction) and ``→ 1`` where it changes fast.  Complex gradients:
  ``|·|`` is the modulus.  Reference: Dubey et al., IEEE TNNLS 2020;
  authors' ``diffGrad_v2.py`` = ``torch_optimizer.DiffGrad``.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`FrictionState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.diffgrad_friction(), osv.adaptive_step_size(1e-8),
    ...     osv.folded_bias_correction(0.9, 0.999), osv.apply_learning_rate(1e-3),
    ...     osv.descend(),  # diffGrad
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # ξ_1 = AbsSig(g_1) (g_0 = 0): -α ξ_1 sign(g)
    [-0.0007  0.0009]
    >>> print(optax.tree_utils.tree_get(state, "prev_grad"))   # g_1, for the next step
    [ 1. -2.]
  """

  def init_fn(params):
    return FrictionState(prev_grad=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, "diffgrad_friction")
    xi = jax.tree.map(lambda p, g: _abs_sig(p - g), state.prev_grad, flow.grad)
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new = record(flow, "diffgrad_friction", add=[FRICTION], mu=mu)
    prev = _after(flow.grad, xi)
    return new, FrictionState(prev_grad=_store(prev, state.prev_grad))

  return optax.GradientTransformation(init_fn, update_fn)


class AdaDBFrictionState(NamedTuple):
  """The last three gradients ``g_{t-1}, g_{t-2}, g_{t-3}`` (zero at start).

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.adadb_friction().init(params)
    >>> isinstance(state, osv.AdaDBFrictionState)
    True
    >>> print(state.prev_grad, state.prev_grad_2, state.prev_grad_3)
    [0. 0.] [0. 0.] [0. 0.]
  """

  prev_grad: chex.ArrayTree
  prev_grad_2: chex.ArrayTree
  prev_grad_3: chex.ArrayTree


def adadb_friction(b3: float = 0.5, lam: float = 0.5) -> optax.GradientTransformation:
  r"""AdaDB's three-difference friction coefficient with the sign rule.

  .. math::
     \Delta g_t = \beta_3 (g_{t-1} - g_t) + \beta_3^2 (g_{t-2} - g_{t-1})
                + \beta_3^3 (g_{t-3} - g_{t-2})

  ``ξ_t = AbsSig(Δg_t) ∈ [1/2, 1)`` where ``g_t`` and ``g_{t-1}`` have opposite
  signs (``g_t g_{t-1} < 0``: slow down), and ``ξ_t = 1 + λ AbsSig(Δg_t) ∈
  [1 + λ/2, 1 + λ)`` elsewhere, including where either is zero (speed up);
  then ``m ← ξ_t m``.  Complex gradients: "opposite signs" means an angle of
  more than 90° between ``g_t`` and ``g_{t-1}`` in the complex plane,
  ``Re(g_t conj(g_{t-1})) < 0`` (for real numbers, the sign rule), and
  ``AbsSig`` takes the modulus of ``Δg_t``.  The survey (Alg. 11) prints
  ``β2²`` in the middle term, a slip for ``β3²``.  With ``β3 = 1`` and a
  constant history the opposite-sign branch is diffGrad's friction.  No
  reference code is published; the defaults ``b3 = 0.5``, ``lam = 0.5`` come
  from ``benchmarks/adadb_defaults.py`` (best mean rank over a grid on three
  problems; λ in {0.5, 1} beats λ <= 0.25, while b3 and, with a tuned lr,
  most differences are within noise).  Reference: Khan, Jawad & Khan, IEEE
  Access 9 (2021).

  Args:
    b3: the weight of the gradient differences, in [0, 1].
    lam: λ >= 0, how much a same-sign step is enlarged.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`AdaDBFrictionState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.adadb_friction(0.5, 0.5), osv.bias_correction(0.9, 0.999),
    ...     osv.adaptive_step_size(1e-8), osv.apply_learning_rate(1e-3), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # no sign change (g_0 = 0): ξ = 1 + λ AbsSig(Δg)
    [-0.0013  0.0014]
  """
  b3 = check.check_number("b3", b3, lower=0.0, upper=1.0)
  lam = check.check_non_negative("lam", lam)

  def init_fn(params):
    # Three distinct buffers: one array shared by three fields cannot be
    # donated to a jitted step ("donate the same buffer twice").
    return AdaDBFrictionState(*(_full_like(params, 0.0) for _ in range(3)))

  def xi_fn(g, g1, g2, g3):
    delta = b3 * (g1 - g) + b3**2 * (g2 - g1) + b3**3 * (g3 - g2)
    # Compare directions, not the product: g * g1 underflows to -0 for tiny
    # gradients.  sign() of a complex number is z/|z|: Re(ĝ conj(ĝ1)) is the
    # cosine of the angle between them; for real numbers it is sign(g)sign(g1).
    opposite = jnp.real(jnp.sign(g) * jnp.conj(jnp.sign(g1))) < 0
    # With e = exp(-|Δg|): AbsSig = 1/(1+e) and 1 + λ AbsSig = (1+λ+e)/(1+e).
    # One division last: XLA keeps ξ whole in one loop, where it would
    # otherwise redo the sign rule (reading g_{t-1} again) in every reader.
    e = jnp.exp(-jnp.abs(delta))
    return jnp.where(opposite, 1.0, 1 + lam + e) / (1 + e)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, "adadb_friction")
    xi = jax.tree.map(
        xi_fn, flow.grad, state.prev_grad, state.prev_grad_2, state.prev_grad_3
    )
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new = record(flow, "adadb_friction", add=[FRICTION], mu=mu)
    # The shift g_{t-2} -> 3rd, g_{t-1} -> 2nd, g_t -> 1st, each after ξ (which
    # read all three) and after the previous move: XLA then overwrites the
    # three buffers in place, in that order (see _after), instead of copying
    # all three to temporaries first.
    third = _after(state.prev_grad_2, xi)
    second = _after(state.prev_grad, third)
    first = _after(flow.grad, second)
    new_state = AdaDBFrictionState(
        _store(first, state.prev_grad), _store(second, state.prev_grad_2),
        _store(third, state.prev_grad_3),
    )
    return new, new_state

  return optax.GradientTransformation(init_fn, update_fn)
