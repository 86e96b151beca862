r"""The learning rate, and the bounds on the step size that are in its units.

:func:`apply_learning_rate` (a number or a schedule), AdaBound's dynamic
bounds (:func:`bound_step_size`) and AdaMod's momental bound.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _scalars as S
from optax_survey import _validation as check
from optax_survey._primitives.helpers import (
  ScalarOrSchedule,
  _at,
  _ema,
  _full_like,
  _stateless,
  _store,
  _widen,
)
from optax_survey.flow import (
  LEARNING_RATE,
  Flow,
  as_flow,
  record,
  refuse,
  require,
  scalar_like,
  scale_eta_by_scalar,
  step_number,
  with_full_eta,
)

__all__ = [
    "apply_learning_rate", "BoundStepSizeState", "bound_step_size", "MomentalBoundState",
    "momental_bound",
]


def apply_learning_rate(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
  r"""Multiplies the step size by the learning rate.

  .. math:: \eta \leftarrow \alpha_t\, \eta

  ``learning_rate`` is a number (possibly traced, for vmapped sweeps or
  ``optax.inject_hyperparams``) or an optax schedule evaluated at the number
  of steps already taken (``α_t = schedule(t - 1)``, as a torch LR scheduler
  stepped after each step; needs :func:`count_steps` before it).  Reference:
  ``optax.scale_by_learning_rate``; ``torch.optim.lr_scheduler``.

  Args:
    learning_rate: α >= 0, or a schedule.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.apply_learning_rate(0.1), osv.descend())   # SGD
    >>> updates, _ = tx.update(grads, tx.init(params))
    >>> print(np.round(np.asarray(updates), 4))
    [-0.1  0.2]
    >>> schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    >>> tx = optax.chain(osv.count_steps(), osv.apply_learning_rate(schedule), osv.descend())
    >>> state = tx.init(params)
    >>> for _ in range(3):   # α_t = schedule(t - 1)
    ...   updates, state = tx.update(grads, state)
    ...   print(np.round(np.asarray(updates), 4))
    [-0.1  0.2]
    [-0.05  0.1 ]
    [-0.025  0.05 ]
  """
  learning_rate = check.check_learning_rate(learning_rate)
  stage = "apply_learning_rate"

  def scale(flow: Flow, params: Any) -> Flow:
    del params
    refuse(flow, stage, LEARNING_RATE, "the learning rate is already applied; keep one "
           "apply_learning_rate()")
    if callable(learning_rate):
      rate = learning_rate(step_number(flow, stage) - 1)
    else:
      rate = learning_rate
    return record(scale_eta_by_scalar(flow, rate), stage, add=[LEARNING_RATE])

  return _stateless(scale, stage)


def _check_schedule_start(schedule: optax.Schedule) -> None:
  """The bounds divide by α_0 = schedule(0): refuse a concrete zero start."""
  try:  # evaluated like the stage does: on an int32 step count
    start = float(schedule(jnp.zeros([], jnp.int32)))
  except (TypeError, jax.errors.ConcretizationTypeError):
    return  # not evaluable outside a trace: nothing to check
  if start <= 0:
    raise ValueError(
        f"bound_step_size scales its bounds by learning_rate(t)/learning_rate(0), "
        f"but the schedule starts at {start}: pass base_lr > 0 (e.g. the peak "
        "learning rate of a warm-up schedule)."
    )


class BoundStepSizeState(NamedTuple):
  """``base_lr``: AdaBound's α_0, the learning rate when the optimizer was made.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.bound_step_size(1e-3).init(params)
    >>> isinstance(state, osv.BoundStepSizeState)
    True
    >>> round(float(state.base_lr), 6)   # α_0, the learning rate at init
    0.001
  """

  base_lr: chex.Array


def bound_step_size(
    learning_rate: ScalarOrSchedule,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    *,
    base_lr: float | None = None,
    decay_by_sqrt_t: bool = False,
) -> optax.GradientTransformation:
  r"""AdaBound's dynamic bounds on the per-element step size.

  .. math::
     \alpha^* = \text{final\_lr}\cdot\alpha_t / \alpha_0,\quad
     \eta_l = \alpha^*\Bigl(1 - \frac{1}{\gamma t + 1}\Bigr),\quad
     \eta_u = \alpha^*\Bigl(1 + \frac{1}{\gamma t}\Bigr),\quad
     \eta \leftarrow \mathrm{clip}(\eta, \eta_l, \eta_u)

  The bounds follow the learning rate (``α_t / α_0``) as the authors' code
  does when its ``lr`` is changed, by a torch LR scheduler or by hand: ``α_0``
  is the learning rate at ``init`` (the authors' ``base_lrs``, taken when the
  optimizer is made), kept in the state, so that under
  ``optax.inject_hyperparams`` the bounds follow the injected learning rate.
  ``base_lr`` overrides ``α_0`` (for a schedule that starts at 0).
  ``decay_by_sqrt_t=True`` also divides by ``sqrt(t)``, as the paper and the
  survey write (the code does not).  Put it after :func:`apply_learning_rate`
  (η includes the learning rate).  The bounds are computed as ``γt/(γt+1)``
  and ``(γt+1)/(γt)``, without cancellation.  Reference: Luo et al., ICLR
  2019; Luolc/AdaBound (``adabound`` on PyPI).

  Args:
    learning_rate: the same learning rate (or schedule) as
      :func:`apply_learning_rate`'s; > 0 at the start unless ``base_lr``.
    final_lr: the SGD learning rate the bounds converge to, > 0.
    gamma: the convergence speed of the bounds, >= 0.
    base_lr: α_0, > 0; default: the learning rate at ``init``.
    decay_by_sqrt_t: divide the clipped step size by ``sqrt(t)``.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`BoundStepSizeState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.adaptive_step_size(1e-8), osv.folded_bias_correction(0.9, 0.999),
    ...     osv.apply_learning_rate(1e-3),
    ...     osv.bound_step_size(1e-3, final_lr=1e-3, gamma=1.0),  # bounds [5e-4, 2e-3] at t = 1
    ...     osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> # η = α/|g| = [1e-2, 5e-3] clipped to 2e-3, times m_1 = 0.1 g
    >>> print(np.round(np.asarray(updates), 4))
    [-0.0002  0.0004]
  """
  learning_rate = check.check_learning_rate(learning_rate)
  final_lr = check.check_positive("final_lr", final_lr)
  gamma = check.check_non_negative("gamma", gamma)
  if base_lr is not None:
    base_lr = check.check_positive("base_lr", base_lr)
  elif not callable(learning_rate):
    check.check_positive("learning_rate", learning_rate)  # α_0 divides the bounds
  else:
    _check_schedule_start(learning_rate)
  stage = "bound_step_size"

  def init_fn(params):
    del params
    start = base_lr if base_lr is not None else _at(learning_rate, jnp.zeros([], jnp.int32))
    return BoundStepSizeState(base_lr=S.as_float(start))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, stage)
    t = step_number(flow, stage)
    require(flow, stage, LEARNING_RATE, "put apply_learning_rate() before it: the bounds "
            "are in learning-rate units")
    rate = S.as_float(_at(learning_rate, t - 1))
    lower, upper = S.adabound_bounds(final_lr * rate / state.base_lr, gamma, t)
    flow = with_full_eta(flow)
    if flow.eta is None:  # no per-element step size yet: the learning rate alone
      flow = flow._replace(eta=jax.tree.map(lambda g: scalar_like(1.0, g), flow.grad))

    def clip(e):
      clipped = jnp.clip(e, scalar_like(lower, e), scalar_like(upper, e))
      if not decay_by_sqrt_t:
        return clipped
      return clipped / scalar_like(jnp.sqrt(S.as_float(t)), e)

    return record(flow, stage, eta=jax.tree.map(clip, flow.eta), eta_of_nu=None), state

  return optax.GradientTransformation(init_fn, update_fn)


class MomentalBoundState(NamedTuple):
  """``eta_ema``: AdaMod's EMA of the step sizes, s_t; real.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.momental_bound(0.999).init(params)
    >>> isinstance(state, osv.MomentalBoundState)
    True
    >>> print(state.eta_ema)
    [0. 0.]
  """

  eta_ema: chex.ArrayTree


def momental_bound(b3: float = 0.999) -> optax.GradientTransformation:
  r"""AdaMod's momental bound: cap the step size by its own EMA.

  .. math:: s_t = \beta_3 s_{t-1} + (1-\beta_3)\eta_t,\qquad \eta_t \leftarrow \min(\eta_t, s_t)

  ``s_0 = 0`` and ``s`` is not bias-corrected, so early steps are damped.
  Put it after :func:`apply_learning_rate`.  ``s`` is stored in the
  parameters' real dtype.  Reference: Ding et al. (2019), lancopku/AdaMod
  (``adamod`` on PyPI; its docstring's 0.9999 is a slip).

  Args:
    b3: the decay rate of the EMA of step sizes, in [0, 1).

  Returns:
    An ``optax.GradientTransformation`` with state :class:`MomentalBoundState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.adaptive_step_size(1e-8), osv.folded_bias_correction(0.9, 0.999),
    ...     osv.apply_learning_rate(1e-3), osv.momental_bound(0.999), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates / 1e-3), 4))   # min(η_1, s_1), s_1 = 0.001 η_1: damped
    [-0.001  0.001]
  """
  b3 = check.check_decay("b3", b3)
  stage = "momental_bound"

  def init_fn(params):
    return MomentalBoundState(eta_ema=_full_like(params, 0.0, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, stage)
    require(flow, stage, LEARNING_RATE, "put apply_learning_rate() before it: it bounds "
            "the step size in learning-rate units")
    flow = with_full_eta(flow)
    if flow.eta is None:
      flow = flow._replace(eta=jax.tree.map(lambda g: scalar_like(1.0, g), flow.grad))
    ema = jax.tree.map(_ema(b3), _widen(state.eta_ema, flow.eta), flow.eta)
    eta = flow.eta
    if flow.eta_of_nu is not None:
      # η feeds the EMA and the min.  Computed once, XLA keeps it in a
      # parameter-sized temporary (a fresh mapping, faulted in every step, at
      # 32 MiB and more); recomputed for the min from the second moment behind
      # an optimization barrier (which XLA cannot merge with the first), it
      # costs a square root and a division per element instead.
      eta = flow.eta_of_nu(jax.lax.optimization_barrier(flow.nu))
    eta = jax.tree.map(jnp.minimum, eta, ema)
    new = record(flow, stage, eta=eta, eta_of_nu=None)
    return new, MomentalBoundState(eta_ema=_store(ema, state.eta_ema))

  return optax.GradientTransformation(init_fn, update_fn)
