"""Helpers shared by the stages: state buffers and their dtypes, stateless stages.

Private to the modules of ``optax_survey._primitives``, which import them;
:mod:`optax_survey.primitives` re-exports the stages, not these, except the two
argument types ``ScalarOrSchedule`` and ``MaskOrFn`` (the aliases' too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import jax
import jax.numpy as jnp
import optax

from optax_survey.flow import Flow, as_flow, real_dtype

ScalarOrSchedule: TypeAlias = float | jax.Array | optax.Schedule
MaskOrFn: TypeAlias = Any | Callable[[Any], Any] | None


def _full_like(params: Any, value: Any, dtype: Any = None, *, real: bool = False) -> Any:
  """A buffer per leaf, filled with ``value``.

  ``full_like`` (not ``full(shape)``) keeps each parameter's sharding, as
  optax does.  ``dtype`` overrides the parameters' dtype; ``real=True`` takes
  the real counterpart of a complex parameter dtype (second moments).
  """
  def leaf(p):
    own = real_dtype(p) if real else jnp.result_type(p)
    return jnp.full_like(p, value, dtype=dtype or own)

  return jax.tree.map(leaf, params)


def _moment_like(params: Any, value: Any, mu_dtype: Any, stage: str) -> Any:
  """A first-moment buffer: ``mu_dtype`` must be complex exactly where the params are."""
  if mu_dtype is not None:
    for p in jax.tree.leaves(params):
      if jnp.iscomplexobj(p) != jnp.issubdtype(mu_dtype, jnp.complexfloating):
        raise TypeError(
            f"{stage}: mu_dtype={jnp.dtype(mu_dtype).name} cannot store the first "
            f"moment of {jnp.result_type(p).name} parameters: pass a "
            f"{'complex' if jnp.iscomplexobj(p) else 'real floating'} dtype or None."
        )
  return _full_like(params, value, mu_dtype)


def _store(new: Any, old: Any) -> Any:
  """``new`` cast leaf by leaf to the dtype of the stored ``old``.

  An update never changes a state's dtypes: the state can be a ``lax.scan``
  carry, a ``lax.cond`` branch, a donated buffer, a checkpoint.
  """
  return jax.tree.map(lambda n, o: n.astype(o.dtype), new, old)


def _widen(stored: Any, like: Any, *, real: bool = False) -> Any:
  """A stored state read in the wider of its dtype and ``like``'s (real part).

  Without it, ``b * stored`` with a Python ``b`` would round in bfloat16 when
  the state is stored as bfloat16 but the gradients are float32.
  """
  def leaf(s, x):
    other = real_dtype(x) if real else jnp.result_type(x)
    return s.astype(jnp.promote_types(s.dtype, other))

  return jax.tree.map(leaf, stored, like)


def _scaled_square(c: Any, x: jax.Array) -> jax.Array:
  """``c |x|²`` evaluated as ``(c x) x``, as PyTorch's ``addcmul(x, x, value=c)``.

  Multiplying by ``c = 1 - β`` first keeps ``|x|`` up to ``sqrt(max/c)`` from
  overflowing (``g = 1e20`` in float32: ``g·g`` is inf, ``(c g) g`` is not).
  Complex ``x``: ``c re² + c im²``, a real number.
  """
  if jnp.iscomplexobj(x):
    re, im = jnp.real(x), jnp.imag(x)
    return _scaled_square(c, re) + _scaled_square(c, im)
  return x * x if c is None else (c * x) * x


def _ema(decay: Any) -> Callable[[Any, Any], Any]:
  """The exponential moving average update ``old -> decay·old + (1-decay)·new``."""
  return lambda old, new: decay * old + (1 - decay) * new


def _abs_sig(x: jax.Array) -> jax.Array:
  """AbsSig(x) = 1 / (1 + exp(-|x|)), in [0.5, 1); ``|x|`` is the modulus if complex."""
  return 1 / (1 + jnp.exp(-jnp.abs(x)))


def _at(learning_rate: ScalarOrSchedule, count: Any) -> Any:
  return learning_rate(count) if callable(learning_rate) else learning_rate


def _stateless(update: Callable[[Flow, Any], Flow], stage: str) -> optax.GradientTransformation:
  """A stage named ``stage``, without state, whose update is ``flow, params -> flow``."""

  def update_fn(updates, state, params=None):
    return update(as_flow(updates, stage), params), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
