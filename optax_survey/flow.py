"""The value that flows through an optax_survey chain.

A plain ``optax.chain`` hands each stage only the previous stage's output, so
Adam cannot be written as "first moment, then second moment": both moments
need the raw gradient.  optax_survey stages therefore pass a :class:`Flow`,
a record of four pytrees shaped like the parameters::

    grad  g_t   the raw gradient (after any L2 penalty), never rewritten
    mu    m     the numerator of the step, the "direction"   (None: use grad)
    nu    v     the second-moment estimate the step divides by (None: none yet)
    eta   η     the per-element step size                      (None: 1)

and the last stage, :func:`optax_survey.descend`, collapses it into the
update ``u = -η ⊙ m``.  Each primitive reads the fields it needs and rewrites
the ones it owns, so primitives stay one idea each, and can be inserted,
removed or reordered.  Under ``jax.jit`` the whole chain is one elementwise
graph per leaf with no trace of the stage boundaries (``docs/design.md``).

The first optax_survey stage of a chain turns plain gradients into a
``Flow`` (:func:`as_flow`); nothing needs to be declared.  optax built-ins
such as ``optax.clip_by_global_norm`` act on plain trees: put them before the
first optax_survey stage or after ``descend()``.  See ``docs/design.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "Flow", "as_flow", "direction", "step", "scale_eta", "scale_eta_by_scalar",
    "scalar_like",
]


class Flow(NamedTuple):
  """Per-step record passed between optax_survey stages (see module doc)."""

  grad: Any
  mu: Any = None
  nu: Any = None
  eta: Any = None


def as_flow(updates: Any) -> Flow:
  """Wraps plain gradients in a :class:`Flow`; passes a ``Flow`` through."""
  if isinstance(updates, Flow):
    return updates
  return Flow(grad=updates)


def direction(flow: Flow) -> Any:
  """The current numerator ``m`` (the raw gradient until a stage sets one)."""
  return flow.grad if flow.mu is None else flow.mu


def step(flow: Flow) -> Any:
  """The current step ``η ⊙ m``, i.e. the update up to its sign."""
  if flow.eta is None:
    return direction(flow)
  return jax.tree.map(lambda e, m: e * m, flow.eta, direction(flow))


def scale_eta(flow: Flow, factor: Any) -> Flow:
  """Multiplies the step size η by ``factor``, a pytree shaped like the grads."""
  if flow.eta is None:
    return flow._replace(eta=factor)
  return flow._replace(eta=jax.tree.map(lambda e, f: e * f, flow.eta, factor))


def scalar_like(scalar: Any, leaf: Any) -> jax.Array:
  """A per-step scalar in the precision of ``leaf`` (at least float32).

  Step-number scalars (``1 - β^t``, ``r_t``, bounds) are computed in the default
  float type, float64 under ``jax_enable_x64``; as in PyTorch, where they are
  Python floats, they must not promote float32 parameters to float64.
  """
  return jnp.asarray(scalar, jnp.promote_types(jnp.result_type(leaf), jnp.float32))


def scale_eta_by_scalar(flow: Flow, scalar: Any) -> Flow:
  """Multiplies η by one scalar (a learning rate, a bias correction...).

  The scalar is broadcast per leaf; no full-size array is materialised.
  """
  return scale_eta(flow, jax.tree.map(lambda g: scalar_like(scalar, g), flow.grad))
