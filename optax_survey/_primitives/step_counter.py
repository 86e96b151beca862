r"""The step counter: the one ``count`` of an optax_survey optimizer.

:func:`count_steps` sets ``flow.count = t``; every stage that depends on the
step number reads it from the flow.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax.numpy as jnp
import optax

from optax_survey.flow import as_flow, record, refuse

__all__ = ["CountState", "count_steps"]


class CountState(NamedTuple):
  """State of :func:`count_steps`: ``count``, the number of steps done.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.count_steps().init(params)
    >>> isinstance(state, osv.CountState)
    True
    >>> print(state.count)
    0
  """

  count: chex.Array


def count_steps() -> optax.GradientTransformation:
  r"""The step counter: sets ``flow.count = t``, the number of this step.

  .. math:: t \leftarrow t + 1 \quad (t = 1 \text{ at the first update})

  Every stage that depends on the step number (bias corrections,
  rectification, AdaBound's bounds, a learning-rate schedule) reads ``t``
  from the flow, so an optimizer has exactly one counter, and
  ``optax.tree_utils.tree_get(state, "count")`` reads it.  Put it first, or at
  least before the stages that need ``t``.  The counter saturates at the
  int32 maximum (``optax.safe_increment``).  Reference: the ``count`` of
  optax's states (``optax.ScaleByAdamState``); PyTorch's ``state["step"]``.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`CountState`.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.count_steps(), osv.apply_learning_rate(0.1), osv.descend())
    >>> state = tx.init(params)
    >>> for _ in range(3):
    ...   updates, state = tx.update(grads, state, params)
    >>> print(optax.tree_utils.tree_get(state, "count"))
    3
  """

  def init_fn(params):
    del params
    return CountState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, "count_steps")
    refuse(flow, "count_steps", "count", "the steps are already counted: keep one count_steps()")
    t = optax.safe_increment(state.count)
    return record(flow, "count_steps", count=t), CountState(count=t)

  return optax.GradientTransformation(init_fn, update_fn)
