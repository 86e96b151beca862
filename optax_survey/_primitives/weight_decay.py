r"""Weight decay: the L2 penalty on the gradient, or decoupled in ``flow.decay``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey._primitives.helpers import MaskOrFn, ScalarOrSchedule
from optax_survey.flow import (
  Flow,
  as_flow,
  is_final,
  mark_final,
  record,
  refuse,
  scalar_like,
  step_number,
)

__all__ = ["add_l2_penalty", "add_decoupled_weight_decay"]


def _masked(tx: optax.GradientTransformation, mask: MaskOrFn):
  return tx if mask is None else optax.masked(tx, mask)


def add_l2_penalty(weight_decay: float, mask: MaskOrFn = None) -> optax.GradientTransformation:
  r"""L2 regularisation: adds ``λθ`` to the raw gradient.

  .. math:: g_t \leftarrow g_t + \lambda \theta_{t-1}

  Acts on plain gradients: put it first, before any optax_survey stage (the
  moments then see the penalised gradient, as in ``torch.optim.Adam``'s
  ``weight_decay``); after another stage or after ``descend()`` it raises.
  A Python ``weight_decay=0`` does no work; an array (as
  ``optax.inject_hyperparams`` passes) is applied, so the two have the same
  state.  Reference: ``torch.optim`` optimizers' ``weight_decay``.

  Args:
    weight_decay: λ >= 0.
    mask: the leaves that decay (optax style: a pytree of bools, or a
      function of the params returning one); ``None``: all.

  Returns:
    A stateless ``optax.GradientTransformation`` (``optax.masked`` with a mask).

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.add_l2_penalty(0.1), osv.apply_learning_rate(1.0), osv.descend())
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))   # -(g + 0.1 θ)
    [-1.1  1.8]
  """
  weight_decay = check.check_non_negative("weight_decay", weight_decay)
  idle = check.is_python_zero(weight_decay)

  def update_fn(updates, state, params=None):
    if isinstance(updates, Flow):
      raise TypeError(
          "add_l2_penalty acts on the raw gradient: put it before the first "
          "optax_survey stage of the chain."
      )
    if is_final(updates):
      raise ValueError(
          "add_l2_penalty came after descend(): it adds λθ to the raw gradient, before "
          "the optimizer sees it, and after a complete optimizer there is none. Put it "
          "first in the chain, or use add_decoupled_weight_decay(learning_rate, "
          "weight_decay) after the optimizer for decay on the final updates."
      )
    if idle:
      return updates, state
    if params is None:  # (optax has no public NO_PARAMS_MSG)
      raise ValueError("add_l2_penalty needs `params` in update().")
    # (an injected weight_decay is an array: keep the gradients' dtype)
    new = jax.tree.map(
        lambda g, p: (g + weight_decay * p).astype(jnp.result_type(g)), updates, params
    )
    return new, state

  tx = optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
  return _masked(tx, mask)


def _mask_leaves(mask: MaskOrFn, params: Any) -> Any:
  """The mask as a full tree of Python bools shaped like the params."""
  if mask is None:
    return jax.tree.map(lambda _: True, params)
  tree = mask(params) if callable(mask) else mask
  return jax.tree.map(lambda m, sub: jax.tree.map(lambda _: bool(m), sub), tree, params)


def add_decoupled_weight_decay(
    learning_rate: ScalarOrSchedule, weight_decay: float, mask: MaskOrFn = None
) -> optax.GradientTransformation:
  r"""Decoupled weight decay.

  .. math:: d \leftarrow \alpha_t \lambda \theta_{t-1},\qquad
            u = -s\,\eta \odot m - d
            \quad (\theta \leftarrow (1 - \alpha_t\lambda)\theta - s\,\eta \odot m)

  Two places, one rule:

  * before :func:`descend`, anywhere among the optax_survey stages: it sets
    ``flow.decay = α_t λ θ``, which ``descend()`` subtracts;
  * after a complete optimizer (``descend()``, e.g.
    ``optax.chain(osv.yogi(lr), osv.add_decoupled_weight_decay(lr, wd))``):
    it subtracts ``α_t λ θ`` from the final updates, ``u ← u - α_t λ θ``,
    as ``optax.add_decayed_weights`` acts after ``optax.adam``.  This is how to
    get decoupled decay for Yogi, diffGrad, AdaBound or AdaBelief, whose own
    ``weight_decay`` is the authors' L2 form (``pytorch_optimizer`` decouples
    it by default).

  The decay scales with the (scheduled) learning rate ``α_t``, as in
  ``torch.optim.AdamW``, AdaMod, AdaBelief and RAdam.  A schedule is
  evaluated at ``t - 1`` from the flow's step count (:func:`count_steps`
  before it); after ``descend()`` there is no count (an optimizer keeps one
  ``count``), so there a schedule raises: schedule both through
  ``optax.inject_hyperparams`` instead (example below).  A Python
  ``weight_decay=0`` does no work; an array (``optax.inject_hyperparams``) is
  applied, so the two have the same state.  Reference: Loshchilov & Hutter,
  ICLR 2019.

  Args:
    learning_rate: α >= 0 or a schedule.
    weight_decay: λ >= 0.
    mask: the leaves that decay (a pytree of bools, or a function of the
      params returning one); ``None``: all.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.apply_learning_rate(0.1), osv.add_decoupled_weight_decay(0.1, 0.5), osv.descend()
    ... )
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))   # -α g - α λ θ
    [-0.15  0.1 ]
    >>> tx = optax.chain(osv.sgd(0.1), osv.add_decoupled_weight_decay(0.1, 0.5))
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))   # the same, on SGD's final updates
    [-0.15  0.1 ]
    >>> schedule = optax.linear_schedule(0.1, 0.0, transition_steps=10)
    >>> tx = optax.inject_hyperparams(   # a schedule for both, evaluated once per step
    ...     lambda learning_rate: optax.chain(
    ...         osv.sgd(learning_rate), osv.add_decoupled_weight_decay(learning_rate, 0.5))
    ... )(learning_rate=schedule)
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))   # schedule(0) = 0.1: as above
    [-0.15  0.1 ]
  """
  learning_rate = check.check_learning_rate(learning_rate)
  weight_decay = check.check_non_negative("weight_decay", weight_decay)
  idle = check.is_python_zero(weight_decay)
  stage = "add_decoupled_weight_decay"

  def term(lr: Any, params: Any) -> Any:
    """``α λ θ`` on the decaying leaves, ``0`` on the others."""
    if params is None:
      raise ValueError("add_decoupled_weight_decay needs `params` in update().")
    rate = lr * weight_decay
    return jax.tree.map(
        lambda m, p: scalar_like(rate, p) * p if m else 0, _mask_leaves(mask, params), params
    )

  def after_descend(updates: Any, params: Any) -> Any:
    """``u - α λ θ`` on the final updates of a complete optimizer."""
    if idle:
      return updates
    if callable(learning_rate):
      raise ValueError(
          "add_decoupled_weight_decay after descend() got a schedule, but the step "
          "count stays inside the optimizer: pass a number, or schedule both with "
          "optax.inject_hyperparams(lambda learning_rate: optax.chain(optimizer("
          "learning_rate), add_decoupled_weight_decay(learning_rate, weight_decay)))"
          "(learning_rate=schedule)."
      )
    decayed = jax.tree.map(
        lambda u, d: u if isinstance(d, int) else (u - d).astype(jnp.result_type(u)),
        updates, term(learning_rate, params),
    )
    return mark_final(decayed)

  def update_fn(updates, state, params=None):
    if is_final(updates):
      return after_descend(updates, params), state
    flow = as_flow(updates, stage)
    refuse(flow, stage, "decay", "the decoupled weight decay is already set; keep one")
    if idle:
      return record(flow, stage), state
    if callable(learning_rate):
      lr = learning_rate(step_number(flow, stage) - 1)
    else:
      lr = learning_rate
    return record(flow, stage, decay=term(lr, params)), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
