"""Argument validation shared by every primitive and optimizer.

Concrete Python / NumPy / JAX values are checked at construction time and a
``ValueError`` (or ``TypeError``) names the argument and its allowed range.
Traced values (under ``jit``, ``vmap``, ``grad``...) and schedules pass
through untouched: they cannot be inspected without a host round-trip, and a
vmapped hyperparameter sweep must not be refused.

Every check returns the value to use.  That is the value itself, except for a
complex array with a zero imaginary part, which becomes its real part:
``optax.inject_hyperparams`` casts hyperparameters to the parameters' dtype,
complex64 for complex parameters.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "check_number",
    "check_learning_rate",
    "check_decay",
    "check_non_negative",
    "check_positive",
    "check_int_at_least",
    "check_float_dtype",
    "check_moment_dtype",
    "check_choice",
    "check_transformation",
    "is_python_zero",
]


def _concrete_values(name: str, value: Any) -> np.ndarray | None:
  """Returns ``value`` as a float array, or ``None`` when it cannot be seen."""
  if isinstance(value, jax.core.Tracer):
    return None
  if isinstance(value, bool) or isinstance(value, np.bool_):
    raise TypeError(f"{name} must be a real number, got the bool {value!r}.")
  if isinstance(value, numbers.Real):
    return np.asarray(float(value))
  if isinstance(value, (np.ndarray, np.generic, jax.Array)):
    array = np.asarray(value)
    if np.iscomplexobj(array) and not np.any(array.imag):
      array = array.real  # a real value in a complex dtype (inject_hyperparams)
    if not jnp.issubdtype(array.dtype, jnp.number) or np.iscomplexobj(array):
      raise TypeError(f"{name} must be real-valued, got dtype {array.dtype}.")
    return array.astype(np.float64)
  raise TypeError(
      f"{name} must be a real number (or a JAX array), got {type(value).__name__}."
  )


def _describe(lower, upper, lower_inclusive, upper_inclusive) -> str:
  if upper is None:
    return f"{'>=' if lower_inclusive else '>'} {lower}"
  left = "[" if lower_inclusive else "("
  right = "]" if upper_inclusive else ")"
  return f"in {left}{lower}, {upper}{right}"


def check_number(
    name: str,
    value: Any,
    *,
    lower: float | None = None,
    upper: float | None = None,
    lower_inclusive: bool = True,
    upper_inclusive: bool = True,
) -> Any:
  """Raises if a concrete ``value`` lies outside the given interval (or is NaN).

  Returns:
    ``value``, a complex array with zero imaginary part as its real part.
  """
  array = _concrete_values(name, value)
  if array is None:
    return _real_part(value)
  ok = ~np.isnan(array)
  if lower is not None:
    ok &= (array >= lower) if lower_inclusive else (array > lower)
  if upper is not None:
    ok &= (array <= upper) if upper_inclusive else (array < upper)
  if not np.all(ok):
    shown = value if array.ndim == 0 else array[~ok].ravel()[0]
    if lower is None:
      rule = f"{'<=' if upper_inclusive else '<'} {upper}"
    else:
      rule = _describe(lower, upper, lower_inclusive, upper_inclusive)
    raise ValueError(f"{name} must be {rule}, got {shown}{_low_precision_hint(value)}.")
  return _real_part(value)


def _real_part(value: Any) -> Any:
  """A complex (or traced complex) hyperparameter as its real part."""
  if isinstance(value, (jax.Array, np.ndarray, np.generic)) and jnp.iscomplexobj(value):
    return jnp.real(jnp.asarray(value))
  return value


def _low_precision_hint(value: Any) -> str:
  dtype = getattr(value, "dtype", None)
  if dtype is not None and jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16)):
    return (
        f" (a {jnp.dtype(dtype).name} hyperparameter: optax.inject_hyperparams "
        "casts hyperparameters to the parameters' dtype; pass "
        "hyperparam_dtype=jnp.float32 to it)"
    )
  return ""


def check_learning_rate(value: Any, name: str = "learning_rate") -> Any:
  """A learning rate is a schedule (not inspected) or a number >= 0."""
  if callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
    return value
  return check_number(name, value, lower=0.0)


def check_decay(name: str, value: Any) -> Any:
  """EMA decay rates (``b1``, ``b2``, ``b3``, ``rho``, ``decay``) lie in [0, 1)."""
  return check_number(name, value, lower=0.0, upper=1.0, upper_inclusive=False)


def check_non_negative(name: str, value: Any) -> Any:
  """A number >= 0 (``eps``, ``weight_decay``...)."""
  return check_number(name, value, lower=0.0)


def check_positive(name: str, value: Any) -> Any:
  """A number > 0 (``final_lr``, ``base_lr``)."""
  return check_number(name, value, lower=0.0, lower_inclusive=False)


def check_int_at_least(name: str, value: Any, minimum: int) -> None:
  """For counts such as ``sync_period``: a Python/NumPy integer >= minimum, or a traced
  value of an integer dtype (passed through: a search vmaps over it)."""
  if isinstance(value, jax.core.Tracer):
    if not jnp.issubdtype(value.dtype, jnp.integer):
      raise TypeError(f"{name} must be an integer, got a traced {value.dtype} value.")
    return
  if isinstance(value, (bool, np.bool_)) or not isinstance(
      value, (numbers.Integral, np.integer)
  ):
    raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}.")
  if value < minimum:
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")


def _state_dtype(name: str, dtype: Any, kind: Any, allowed: str) -> Any:
  """``None``, or ``dtype`` as a ``numpy.dtype`` if it is a ``kind`` dtype."""
  if dtype is None:
    return None
  try:
    resolved = jnp.dtype(dtype)
  except (TypeError, ValueError):
    resolved = None
  if resolved is None or not jnp.issubdtype(resolved, kind):
    shown = resolved if resolved is not None else repr(dtype)
    raise TypeError(
        f"{name} must be None or a {allowed} dtype (e.g. jnp.bfloat16 or "
        f"jnp.float32), got {shown}."
    )
  return resolved


def check_float_dtype(name: str, dtype: Any) -> Any:
  """For second-moment dtypes (``nu_dtype``): ``None`` or a real floating dtype.

  Returns ``None`` or the dtype as a ``numpy.dtype`` (``jnp.bfloat16``,
  ``"bfloat16"`` and ``np.dtype("bfloat16")`` are the same); anything else
  (an integer, bool or complex dtype, or not a dtype) is a ``TypeError``.
  """
  return _state_dtype(name, dtype, jnp.floating, "floating")


def check_moment_dtype(name: str, dtype: Any) -> Any:
  """For a first moment's dtype (``mu_dtype``): ``None``, floating or complex.

  Whether it suits the parameters (complex parameters need a complex first
  moment, real ones a real one) is checked at ``init``, where they are known.
  """
  return _state_dtype(name, dtype, jnp.inexact, "floating or complex")


def check_choice(name: str, value: Any, choices: tuple) -> Any:
  """One of a few strings, e.g. ``pullback_momentum``."""
  if not isinstance(value, str) or value not in choices:
    raise ValueError(
        f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}."
    )
  return value


def check_transformation(name: str, value: Any, example: str) -> Any:
  """An optax ``GradientTransformation`` (not the function that makes one)."""
  if isinstance(value, tuple) and hasattr(value, "init") and hasattr(value, "update"):
    return value
  if callable(value):
    what = getattr(value, "__name__", type(value).__name__)
    raise TypeError(
        f"{name} must be an optimizer (an optax GradientTransformation), got the "
        f"function {what}: call it, e.g. {example}."
    )
  raise TypeError(
      f"{name} must be an optimizer (an optax GradientTransformation), got "
      f"{type(value).__name__}: e.g. {example}."
  )


def is_python_zero(value: Any) -> bool:
  """True only for a plain Python number equal to zero.

  Used to leave out a stage (e.g. weight decay 0) without changing the state
  structure of ``optax.inject_hyperparams``, which passes arrays.
  """
  return (
      isinstance(value, numbers.Real)
      and not isinstance(value, bool)
      and not isinstance(value, (np.ndarray, np.generic))
      and not math.isnan(value)
      and value == 0
  )
