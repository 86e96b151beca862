r"""Wrappers around whole optimizers: Lookahead."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey.primitives import FirstMomentState, MomentumState

__all__ = ["LookaheadState", "lookahead", "lookahead_slow_params"]

PULLBACK_MOMENTUM = ("none", "reset", "pullback")

# The inner states that hold a first moment, and the name of that field: ours
# and optax's (optax.sgd's momentum trace, optax.adam's mu).
_MOMENT_FIELDS = {
    FirstMomentState: "mu",
    MomentumState: "momentum",
    optax.TraceState: "trace",
    optax.ScaleByAdamState: "mu",
}


class LookaheadState(NamedTuple):
  """State of :func:`lookahead`.

  Attributes:
    inner_state: the state of the inner ("fast") optimizer, kept across syncs.
    slow_params: the slow weights φ.
    steps_since_sync: inner steps since the last synchronisation, in
      ``[0, k)``; kept modulo ``k`` so it never overflows (optax.lookahead's
      name; the inner optimizer's ``count`` stays the one ``count``).
    slow_momentum: with ``pullback_momentum="pullback"``, the first moments
      at the last synchronisation (a tuple, one per first-moment state of the
      inner optimizer); otherwise ``None``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> state = osv.lookahead(osv.sgd(0.1)).init(jnp.array([1.0, 2.0], dtype=jnp.float32))
    >>> isinstance(state, osv.LookaheadState)
    True
    >>> print(state.slow_params, state.steps_since_sync)
    [1. 2.] 0
  """

  inner_state: Any
  slow_params: chex.ArrayTree
  steps_since_sync: chex.Array
  slow_momentum: Any = None


def _is_moment_state(node: Any) -> bool:
  return type(node) in _MOMENT_FIELDS


def _moments(inner_state: Any) -> list:
  """The first-moment states inside an inner optimizer's state, in tree order."""
  leaves = jax.tree.leaves(inner_state, is_leaf=_is_moment_state)
  return [leaf for leaf in leaves if _is_moment_state(leaf)]


def _map_moments(fn, inner_state: Any, *others: Any) -> Any:
  """Rewrites the first moments of ``inner_state`` with ``fn(moment, *others_i)``."""
  leaves, treedef = jax.tree.flatten(inner_state, is_leaf=_is_moment_state)
  i, out = 0, []
  for leaf in leaves:
    if _is_moment_state(leaf):
      field = _MOMENT_FIELDS[type(leaf)]
      new = fn(getattr(leaf, field), *(o[i] for o in others))
      leaf = leaf._replace(**{field: new})
      i += 1
    out.append(leaf)
  return jax.tree.unflatten(treedef, out)


def lookahead(
    inner: optax.GradientTransformation,
    *,
    sync_period: int = 5,
    slow_step_size: float = 0.8,
    pullback_momentum: str = "none",
) -> optax.GradientTransformationExtraArgs:
  r"""Lookahead ("k steps forward, 1 step back") on plain parameter pytrees.

  The inner optimizer moves the fast weights θ; after every ``k`` inner steps
  the slow weights φ move towards them and the fast weights restart there:

  .. math:: \phi \leftarrow \phi + \alpha(\theta_{k} - \phi),\qquad \theta \leftarrow \phi

  With ``pullback_momentum`` the inner optimizer's first moment (``m`` of the
  Adam family, the momentum buffer of SGDM/NAG/RMSProp) is also handled at a
  sync: ``"reset"`` zeroes it; ``"pullback"`` interpolates it like the
  weights, ``m ← α m + (1-α) m_φ``, and keeps the result as ``m_φ`` (zero at
  first).  The authors' code and ``pytorch_optimizer.Lookahead`` do this to
  SGD's momentum buffer only; here it acts on every first moment of the inner
  state (``FirstMomentState.mu``, ``MomentumState.momentum``, and optax's
  ``TraceState.trace`` and ``ScaleByAdamState.mu``).

  Unlike ``optax.lookahead`` (which needs ``optax.LookaheadParams``), the
  parameters are the fast weights themselves: ``update(grads, state,
  params)`` returns updates such that ``optax.apply_updates(params, updates)``
  is the new fast weights, and :func:`lookahead_slow_params` reads φ from the
  state (evaluate on φ).  φ starts at θ_0; the inner state is kept across
  syncs.  Integer leaves (e.g. a step counter among the parameters) keep
  their dtype; φ of an integer leaf is rounded toward zero, as ``astype``.
  Reference: Zhang, Lucas, Hinton & Ba, NeurIPS 2019, Alg. 1;
  michaelrzhang/lookahead (``la_steps=5``, ``la_alpha=0.8``,
  ``pullback_momentum="none"``: our defaults) = ``pytorch_optimizer.Lookahead``
  (default ``alpha=0.5``, the paper's experiments) and ``optax.lookahead``.

  Args:
    inner: any optax optimizer (the "fast" optimizer), e.g. ``adam(1e-3)``.
    sync_period: k >= 1, the number of inner steps between synchronisations (an
      integer, or a traced integer: one program for several k under ``jax.vmap``).
    slow_step_size: α in [0, 1].
    pullback_momentum: ``"none"``, ``"reset"`` or ``"pullback"``.

  Returns:
    An ``optax.GradientTransformationExtraArgs`` with state
    :class:`LookaheadState`.

  Raises:
    TypeError: ``inner`` is not an optimizer (e.g. the function ``adam``).
    ValueError: a bad ``sync_period``, ``slow_step_size`` or
      ``pullback_momentum``; at ``init``, a pullback with no first moment in
      the inner state.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> tx = osv.lookahead(osv.sgd(0.1), sync_period=2, slow_step_size=0.5)
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> state = tx.init(params)
    >>> for _ in range(2):   # step 2 syncs: φ = φ + 0.5 (θ_2 - φ), and θ restarts at φ
    ...   updates, state = tx.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    ...   print(np.round(np.asarray(params), 4))
    [0.9 2.2]
    [0.9 2.2]
    >>> print(np.round(np.asarray(osv.lookahead_slow_params(state)), 4))   # evaluate on φ
    [0.9 2.2]
  """
  check.check_transformation("inner", inner, "lookahead(optax_survey.adam(1e-3))")
  check.check_int_at_least("sync_period", sync_period, 1)
  alpha = check.check_number("slow_step_size", slow_step_size, lower=0.0, upper=1.0)
  check.check_choice("pullback_momentum", pullback_momentum, PULLBACK_MOMENTUM)
  inner = optax.with_extra_args_support(inner)

  def init_fn(params):
    inner_state = inner.init(params)
    slow_momentum = None
    if pullback_momentum != "none":
      moments = _moments(inner_state)
      if not moments:
        raise ValueError(
            f"lookahead(pullback_momentum={pullback_momentum!r}) acts on the inner "
            "optimizer's first moment, and this inner optimizer has none (e.g. sgd, "
            "adagrad, rmsprop without momentum): use pullback_momentum='none'."
        )
      if pullback_momentum == "pullback":
        slow_momentum = tuple(
            jax.tree.map(jnp.zeros_like, getattr(m, _MOMENT_FIELDS[type(m)]))
            for m in moments
        )
    slow = jax.tree.map(jnp.array, params)  # a copy: the donated params die
    return LookaheadState(inner_state, slow, jnp.zeros([], jnp.int32), slow_momentum)

  def _interpolate(slow, fast):
    """φ + α(θ - φ), in φ's dtype."""
    return jax.tree.map(
        lambda s, f: (s + alpha * (f - s)).astype(jnp.result_type(s)), slow, fast
    )

  def _synchronise(params, inner_updates, slow, inner_state, slow_momentum):
    """A sync step: φ ← φ + α(θ_k − φ), updates that put θ at the new φ."""
    fast = jax.tree.map(
        lambda p, u: (p + u).astype(jnp.result_type(p)), params, inner_updates
    )
    synced = _interpolate(slow, fast)
    updates = jax.tree.map(
        lambda p, s, u: (s - p).astype(jnp.result_type(u)), params, synced, inner_updates
    )
    if pullback_momentum == "reset":
      inner_state = _map_moments(lambda m: jax.tree.map(jnp.zeros_like, m), inner_state)
    elif pullback_momentum == "pullback":
      pulled = []

      def pull(m, cached):
        new = _interpolate(cached, m)  # α m + (1-α) m_φ
        pulled.append(new)
        return new

      inner_state = _map_moments(pull, inner_state, slow_momentum)
      slow_momentum = tuple(pulled)
    return updates, synced, inner_state, slow_momentum

  def _keep_slow(params, inner_updates, slow, inner_state, slow_momentum):
    """An inner step: the fast weights move, φ is left as it is."""
    del params
    return inner_updates, slow, inner_state, slow_momentum

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError("lookahead needs `params` (the fast weights) in update().")
    inner_updates, inner_state = inner.update(
        updates, state.inner_state, params, **extra_args
    )
    count = (state.steps_since_sync + 1) % sync_period
    # A branch, not a jnp.where over both: between syncs the step is the inner
    # step alone and φ is neither read nor written.  With the where, XLA on
    # CPU copied θ and φ to temporaries every step, which cost several times
    # the Adam step itself (before/after in benchmarks/results/perf.md).
    new_updates, new_slow, inner_state, slow_momentum = jax.lax.cond(
        count == 0, _synchronise, _keep_slow,
        params, inner_updates, state.slow_params, inner_state, state.slow_momentum,
    )
    return new_updates, LookaheadState(inner_state, new_slow, count, slow_momentum)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def lookahead_slow_params(state: Any) -> chex.ArrayTree:
  """The slow weights φ from a :func:`lookahead` state (possibly nested).

  Args:
    state: the state of a :func:`lookahead` optimizer, or of an ``optax``
      wrapper or chain containing exactly one.

  Returns:
    The slow weights, shaped like the parameters.

  Raises:
    ValueError: no or several :class:`LookaheadState` in ``state``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optax_survey as osv
    >>> tx = optax.chain(optax.clip_by_global_norm(1.0), osv.lookahead(osv.adam(1e-3)))
    >>> state = tx.init(jnp.array([1.0, 2.0], dtype=jnp.float32))
    >>> print(osv.lookahead_slow_params(state))   # φ starts at θ_0
    [1. 2.]
  """
  found = []

  def visit(node):
    if isinstance(node, LookaheadState):
      found.append(node)
    elif isinstance(node, (tuple, list)):
      for child in node:
        visit(child)
    elif isinstance(node, dict):
      for child in node.values():
        visit(child)
    elif hasattr(node, "inner_state"):  # optax wrappers (masked, inject...)
      visit(node.inner_state)

  visit(state)
  if len(found) != 1:
    raise ValueError(
        f"expected exactly one LookaheadState in the optimizer state, found {len(found)}."
    )
  return found[0].slow_params
