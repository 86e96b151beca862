r"""Wrappers around whole optimizers: Lookahead."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check

__all__ = ["LookaheadState", "lookahead", "lookahead_slow_params"]


class LookaheadState(NamedTuple):
  """State of :func:`lookahead`.

  Attributes:
    inner_state: the state of the inner ("fast") optimizer, kept across syncs.
    slow_params: the slow weights φ.
    count: inner steps since the last synchronisation, in ``[0, k)``; kept
      modulo ``k`` so it never overflows.
  """

  inner_state: Any
  slow_params: chex.ArrayTree
  count: chex.Array


def lookahead(
    inner: optax.GradientTransformation,
    sync_period: int = 5,
    slow_step_size: float = 0.5,
) -> optax.GradientTransformationExtraArgs:
  r"""Lookahead ("k steps forward, 1 step back") on plain parameter pytrees.

  The inner optimizer moves the fast weights θ; after every ``k`` inner steps
  the slow weights φ move towards them and the fast weights restart there:

  .. math:: \phi \leftarrow \phi + \alpha(\theta_{k} - \phi),\qquad \theta \leftarrow \phi

  Unlike ``optax.lookahead`` (which needs ``optax.LookaheadParams``), the
  parameters are the fast weights themselves: ``update(grads, state,
  params)`` returns updates such that ``optax.apply_updates(params, updates)``
  is the new fast weights, and :func:`lookahead_slow_params` reads φ from the
  state (evaluate on φ).  φ starts at θ_0; the inner state is kept across
  syncs.  Reference: Zhang, Lucas, Hinton & Ba, NeurIPS 2019, Alg. 1;
  michaelrzhang/lookahead (= ``pytorch_optimizer.Lookahead``, ``optax.lookahead``).
  The authors' default is α=0.8; the paper's experiments and most libraries
  use α=0.5.

  Args:
    inner: any optax transformation (the "fast" optimizer).
    sync_period: k >= 1, the number of inner steps between synchronisations.
    slow_step_size: α in [0, 1].

  Example::

    tx = lookahead(adam(1e-3), sync_period=5, slow_step_size=0.5)
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    eval_params = lookahead_slow_params(state)
  """
  check.check_int_at_least("sync_period", sync_period, 1)
  check.check_number("slow_step_size", slow_step_size, lower=0.0, upper=1.0)
  inner = optax.with_extra_args_support(inner)

  def init_fn(params):
    slow = jax.tree.map(jnp.array, params)  # a copy: the donated params die
    return LookaheadState(inner.init(params), slow, jnp.zeros([], jnp.int32))

  def _synchronise(params, inner_updates, slow):
    """A sync step: φ ← φ + α(θ_k − φ), and updates that put θ at the new φ."""
    fast = jax.tree.map(
        lambda p, u: (p + u).astype(jnp.result_type(p)), params, inner_updates
    )
    synced = jax.tree.map(lambda s, f: s + slow_step_size * (f - s), slow, fast)
    return jax.tree.map(lambda p, s: s - p, params, synced), synced

  def _keep_slow(params, inner_updates, slow):
    """An inner step: the fast weights move, φ is left as it is."""
    del params
    return inner_updates, slow

  def update_fn(updates, state, params=None, **extra_args):
    if params is None:
      raise ValueError("lookahead needs `params` (the fast weights) in update().")
    inner_updates, inner_state = inner.update(
        updates, state.inner_state, params, **extra_args
    )
    count = (state.count + 1) % sync_period
    # A branch, not a jnp.where over both: between syncs the step is the inner
    # step alone and φ is neither read nor written.  With the where, XLA on
    # CPU copied θ and φ to temporaries every step, which cost several times
    # the Adam step itself (before/after in benchmarks/results/perf.md).
    new_updates, new_slow = jax.lax.cond(
        count == 0, _synchronise, _keep_slow, params, inner_updates, state.slow_params
    )
    return new_updates, LookaheadState(inner_state, new_slow, count)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def lookahead_slow_params(state: Any) -> chex.ArrayTree:
  """The slow weights φ from a :func:`lookahead` state (possibly nested).

  Searches ``state`` (e.g. the state of an ``optax.chain`` containing a
  lookahead) for the one :class:`LookaheadState`.
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
