r"""The last stage, :func:`descend`: the flow collapsed into the update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optax_survey.flow import LEARNING_RATE, Flow, is_final, mark_final, require, step

__all__ = ["descend"]


def descend() -> optax.GradientTransformation:
  r"""The last stage: collapses the flow into the update.

  .. math:: u_t = -s\, \eta \odot m - d

  Updates have the dtype of the gradients (like the parameters they are added
  to), so that ``optax.apply_updates(params, updates)`` is the step (optax's
  sign convention; reference: ``optax.scale_by_learning_rate``'s ``-α``).
  After it, optax built-ins act on plain updates, and so does
  :func:`add_decoupled_weight_decay`; any other optax_survey stage after it
  raises a ``ValueError`` that says where it belongs.

  It refuses what would be a silent mistake: no
  :func:`apply_learning_rate` before it (the step would be taken with rate 1:
  write ``apply_learning_rate(1.0)`` for that), plain updates (no optax_survey
  stage before it), and ``descend()`` twice.

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
    >>> tx = optax.chain(osv.ema_first_moment(0.9), osv.descend())
    >>> tx.update(grads, tx.init(params))
    Traceback (most recent call last):
    ...
    ValueError: descend needs the learning rate applied to the step size: put apply_learning_rate...
  """

  def update_fn(updates, state, params=None):
    del params
    if is_final(updates):
      raise ValueError(
          "descend() came after descend(): the updates are already final; keep one "
          "descend(), at the end of the optax_survey stages."
      )
    if not isinstance(updates, Flow):
      raise ValueError(
          "descend() received plain updates, not the optax_survey Flow it collapses: "
          "it must come after the optax_survey stages (at least "
          "apply_learning_rate()), once per chain."
      )
    flow = updates
    require(flow, "descend", LEARNING_RATE, "put apply_learning_rate(learning_rate) before "
            "it (apply_learning_rate(1.0) for a step with rate 1)")

    def leaf(s, d, g):
      u = -s
      if not (isinstance(d, int) and d == 0):
        u = u - d
      return u.astype(jnp.result_type(g))

    decay = flow.decay if flow.decay is not None else jax.tree.map(lambda _: 0, flow.grad)
    return mark_final(jax.tree.map(leaf, step(flow), decay, flow.grad)), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
