r"""Stages that rewrite the direction from the current step ``η ⊙ m``.

Heavy-ball and Nesterov momentum (:func:`trace_momentum`) and Adadelta's
step (:func:`delta_accumulator`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey._primitives.helpers import (
  _full_like,
  _moment_like,
  _scaled_square,
  _store,
  _widen,
)
from optax_survey.flow import (
  FIRST_MOMENT,
  FRICTION,
  MOMENTUM,
  MU_BIAS_CORRECTED,
  NU_USED,
  as_flow,
  direction,
  record,
  refuse,
  require,
  second_moment,
  step,
)

__all__ = ["MomentumState", "trace_momentum", "DeltaAccumulatorState", "delta_accumulator"]


class MomentumState(NamedTuple):
  """``momentum``: the momentum buffer ("velocity").

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.trace_momentum(0.9).init(params)
    >>> isinstance(state, osv.MomentumState)
    True
    >>> print(state.momentum)
    [0. 0.]
  """

  momentum: chex.ArrayTree


def trace_momentum(
    momentum: float = 0.9, nesterov: bool = False, *, mu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Heavy-ball or Nesterov momentum on the current step ``d = η ⊙ m``.

  .. math:: b_t = \mu b_{t-1} + d_t,\qquad
            \mathrm{flow.mu} \leftarrow b_t \ \text{or}\ d_t + \mu b_t\ (\text{Nesterov}),
            \qquad \eta \leftarrow 1

  ``b_0 = 0``, so ``b_1 = d_1`` as in ``torch.optim.SGD``.  Put it before
  :func:`apply_learning_rate`.  On plain gradients ``d = g`` (SGDM/NAG); after
  :func:`adaptive_step_size` ``d = g/(sqrt(v)+ε)`` (``torch.optim.RMSprop``
  with momentum).  The Nesterov form is Sutskever et al.'s
  re-parametrisation of the survey's look-ahead gradient (Alg. 3).
  Reference: Polyak (1964); Sutskever et al. (ICML 2013); ``torch.optim.SGD``.

  Args:
    momentum: μ, in [0, 1).
    nesterov: Nesterov's form.
    mu_dtype: dtype of the stored buffer (e.g. ``jnp.bfloat16``); ``None``
      (default): the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`MomentumState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.trace_momentum(0.9), osv.apply_learning_rate(0.1), osv.descend())
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(grads, state)
    ...   print(np.round(np.asarray(updates), 4))
    [-0.1  0.2]
    [-0.19  0.38]
    >>> print(np.round(np.asarray(optax.tree_utils.tree_get(state, "momentum")), 4))   # b_2 = 1.9 g
    [ 1.9 -3.8]
  """
  momentum = check.check_number("momentum", momentum, lower=0.0, upper=1.0,
                                upper_inclusive=False)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)

  def init_fn(params):
    return MomentumState(momentum=_moment_like(params, 0.0, mu_dtype, "trace_momentum"))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, "trace_momentum")
    d = step(flow)
    buf = jax.tree.map(lambda b, x: momentum * b + x, _widen(state.momentum, d), d)
    mu = jax.tree.map(lambda x, b: x + momentum * b, d, buf) if nesterov else buf
    new = record(flow, "trace_momentum", add=[MOMENTUM],
                 remove=[FIRST_MOMENT, MU_BIAS_CORRECTED, FRICTION],
                 mu=mu, eta=None, eta_of_nu=None, scale=None)
    return new, MomentumState(momentum=_store(buf, state.momentum))

  return optax.GradientTransformation(init_fn, update_fn)


class DeltaAccumulatorState(NamedTuple):
  """``delta_nu``: Adadelta's EMA of squared updates, E[Δ²]; real.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.delta_accumulator().init(params)
    >>> isinstance(state, osv.DeltaAccumulatorState)
    True
    >>> print(state.delta_nu)
    [0. 0.]
  """

  delta_nu: chex.ArrayTree


def delta_accumulator(rho: float = 0.9, eps: float = 1e-6) -> optax.GradientTransformation:
  r"""Adadelta's step: the RMS of past updates over the RMS of gradients.

  .. math:: \Delta_t = \sqrt{\frac{E[\Delta^2]_{t-1} + \epsilon}{E[g^2]_t + \epsilon}}\; m_t,\qquad
            E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)|\Delta_t|^2

  ``E[g²]_t`` is ``flow.nu`` (put a second-moment stage such as
  :func:`ema_second_moment` first) and ``m_t`` the current direction (the
  raw gradient, or a first moment).  Writes ``flow.mu = Δ_t``; it sets the
  step size itself, so no step-size stage may come before it.  One square
  root of the ratio, not ``sqrt(E[Δ²]+ε) / sqrt(E[g²]+ε)`` as the reference
  writes it: the same number to round-off, and XLA on CPU then keeps one
  parameter-sized temporary per step instead of two
  (benchmarks/results/perf.md).  Reference: Zeiler (2012);
  ``torch.optim.Adadelta`` (= ``optax.adadelta`` with a learning rate).

  Args:
    rho: decay rate of ``E[Δ²]``, in [0, 1).
    eps: ε >= 0, inside both roots.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`DeltaAccumulatorState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.ema_second_moment(0.9), osv.delta_accumulator(0.9, 1e-6),
    ...     osv.apply_learning_rate(1.0), osv.descend(),  # Adadelta
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # sqrt(ε / (0.1 g²)) g: about sqrt(10 ε) sign(g)
    [-0.0032  0.0032]
  """
  rho = check.check_decay("rho", rho)
  eps = check.check_non_negative("eps", eps)
  stage = "delta_accumulator"

  def init_fn(params):
    return DeltaAccumulatorState(delta_nu=_full_like(params, 0.0, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, stage)
    require(flow, stage, "nu", "put a second-moment stage (ema_second_moment) before it")
    for field in ("eta", "scale"):
      refuse(flow, stage, field, "it sets Adadelta's step size itself; put it right "
             "after the second moment, before any step-size stage")
    nu = second_moment(flow)
    acc_old = _widen(state.delta_nu, nu)
    delta = jax.tree.map(
        lambda a, v, m: jnp.sqrt((a + eps) / (v + eps)) * m,
        acc_old, nu, direction(flow),
    )
    acc = jax.tree.map(lambda a, d: rho * a + _scaled_square(1 - rho, d), acc_old, delta)
    new = record(flow, stage, add=[NU_USED], remove=[FIRST_MOMENT, FRICTION], mu=delta)
    return new, DeltaAccumulatorState(delta_nu=_store(acc, state.delta_nu))

  return optax.GradientTransformation(init_fn, update_fn)
