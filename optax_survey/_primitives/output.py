r"""The last stage, :func:`descend`: the flow collapsed into the update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optax_survey.flow import Flow, step

__all__ = ["descend"]


def descend() -> optax.GradientTransformation:
  r"""The last stage: collapses the flow into the update.

  .. math:: u_t = -s\, \eta \odot m - d

  Updates have the dtype of the gradients (like the parameters they are added
  to), so that ``optax.apply_updates(params, updates)`` is the step (optax's
  sign convention; reference: ``optax.scale_by_learning_rate``'s ``-α``).
  After it, optax built-ins act on plain updates.  It refuses plain updates:
  ``descend()`` twice in a chain, or with no optax_survey stage before it, is
  a mistake.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.apply_learning_rate(0.1), osv.descend(), optax.clip(0.15))
    >>> updates, _ = tx.update(grads, tx.init(params))
    >>> print(np.round(np.asarray(updates), 4))   # -0.1 g, then clipped by optax
    [-0.1   0.15]
  """

  def update_fn(updates, state, params=None):
    del params
    if not isinstance(updates, Flow):
      raise ValueError(
          "descend() received plain updates, not the optax_survey Flow it collapses: "
          "it must come after the optax_survey stages (at least "
          "apply_learning_rate()), once per chain."
      )
    flow = updates

    def leaf(s, d, g):
      u = -s
      if not (isinstance(d, int) and d == 0):
        u = u - d
      return u.astype(jnp.result_type(g))

    decay = flow.decay if flow.decay is not None else jax.tree.map(lambda _: 0, flow.grad)
    return jax.tree.map(leaf, step(flow), decay, flow.grad), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
