r"""Composable primitives: every stage of every survey optimizer.

Each function returns an ``optax.GradientTransformation`` whose state is a
NamedTuple of arrays.  Stages read and write the fields of a
:class:`~optax_survey.flow.Flow` (``grad``, ``mu``, ``nu``, ``eta``,
``scale``, ``count``, ``decay``); the last stage, :func:`descend`, turns it
into the update ``-s η ⊙ m - d``.  Notation: step ``t = 1, 2, ...``,
``bc1 = 1 - β1^t``, ``bc2 = 1 - β2^t``.

Every stage checks, while the update is traced, that the stages before it
produced what it reads, and raises a ``ValueError`` naming what to put where
otherwise (``docs/design.md`` lists the rules).

Complex parameters: second moments are of ``|g|²`` and stored as real
arrays (float32 for complex64), step sizes are real, bounds, maxima and signs
act on those real quantities; first moments, friction differences and the
update are complex.

Example, Adam written out (this is exactly :func:`optax_survey.adam`, whose
L2 stage is left idle at ``weight_decay=0``)::

    tx = optax.chain(
        count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
        bias_correction(0.9, 0.999), adaptive_step_size(1e-8),
        apply_learning_rate(1e-3), descend())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _scalars as S
from optax_survey import _validation as check
from optax_survey.flow import (
  FIRST_MOMENT,
  FOLDED_BIAS_CORRECTION,
  FRICTION,
  LEARNING_RATE,
  MOMENTUM,
  MU_BIAS_CORRECTED,
  NU_BIAS_CORRECTED,
  NU_MAX,
  NU_USED,
  RECTIFIED,
  Flow,
  as_flow,
  direction,
  real_dtype,
  record,
  refuse,
  require,
  scalar_like,
  scale_eta,
  scale_eta_by_scalar,
  second_moment,
  step,
  step_number,
  with_full_eta,
)

ScalarOrSchedule: TypeAlias = float | jax.Array | optax.Schedule
MaskOrFn: TypeAlias = Any | Callable[[Any], Any] | None

__all__ = [
    "CountState", "FirstMomentState", "SecondMomentState", "MaxSecondMomentState",
    "CenteredSecondMomentState", "FrictionState", "AdaDBFrictionState",
    "BoundStepSizeState", "MomentalBoundState", "MomentumState",
    "DeltaAccumulatorState",
    "count_steps", "ema_first_moment", "ema_second_moment",
    "accumulate_second_moment", "yogi_second_moment", "belief_second_moment",
    "track_max_second_moment", "center_second_moment", "bias_correction",
    "adaptive_step_size", "folded_bias_correction", "rectification",
    "rectification_is_active", "diffgrad_friction", "adadb_friction",
    "apply_learning_rate", "bound_step_size", "momental_bound",
    "trace_momentum", "delta_accumulator", "add_l2_penalty",
    "add_decoupled_weight_decay", "descend",
]


# ----------------------------------------------------------------- helpers


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


def _stateless(update: Callable[[Flow, Any], Flow]) -> optax.GradientTransformation:
  """A stage without state whose update is ``flow, params -> flow``."""

  def update_fn(updates, state, params=None):
    return update(as_flow(updates), params), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)


class CountState(NamedTuple):
  """State of :func:`count_steps`: ``count``, the number of steps done."""

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

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                bias_correction(0.9, 0.999), adaptive_step_size(1e-8),
                apply_learning_rate(1e-3), descend())        # Adam
  """

  def init_fn(params):
    del params
    return CountState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    refuse(flow, "count_steps", "count", "the steps are already counted: keep one count_steps()")
    t = optax.safe_increment(state.count)
    return record(flow, "count_steps", count=t), CountState(count=t)

  return optax.GradientTransformation(init_fn, update_fn)


# ------------------------------------------------------------------ moments


class FirstMomentState(NamedTuple):
  """``mu``: the EMA of the raw gradient, m_t."""

  mu: chex.ArrayTree


def ema_first_moment(
    b1: float = 0.9, *, initial_value: float = 0.0, mu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""First moment: an exponential moving average of the raw gradient.

  .. math:: m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad m_0 = \text{initial\_value}

  Writes ``flow.mu = m_t``.  References: Kingma & Ba, *Adam* (2015), Alg. 1;
  ``torch.optim.Adam``.  Yogi's reference code starts from ``m_0 = 1e-6``.

  Args:
    b1: decay rate, in [0, 1).
    initial_value: m_0.
    mu_dtype: dtype of the stored moment, e.g. ``jnp.bfloat16`` to halve its
      memory, or ``jnp.float32`` for bfloat16 parameters (complex parameters
      need a complex dtype); the update is computed in the gradient's dtype
      (or the stored dtype, if wider) and only the stored state is cast.
      ``None`` (default): the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`FirstMomentState`.

  Example::

    optax.chain(ema_first_moment(0.9), apply_learning_rate(0.1), descend())
  """
  b1 = check.check_decay("b1", b1)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)

  def init_fn(params):
    return FirstMomentState(mu=_moment_like(params, initial_value, mu_dtype, "ema_first_moment"))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    refuse(flow, "ema_first_moment", "mu", "the direction `mu` is already set; put it first")
    mu = jax.tree.map(_ema(b1), _widen(state.mu, flow.grad), flow.grad)
    new = record(flow, "ema_first_moment", add=[FIRST_MOMENT], mu=mu)
    return new, FirstMomentState(mu=_store(mu, state.mu))

  return optax.GradientTransformation(init_fn, update_fn)


class SecondMomentState(NamedTuple):
  """``nu``: the second-moment estimate v_t (EMA, sum, Yogi or belief); real."""

  nu: chex.ArrayTree


def _second_moment(
    stage: str,
    rule: Callable[[Any, Any, Any], Any],
    initial_value: float,
    nu_dtype: Any,
    needs: Callable[[Flow], None] = lambda flow: None,
) -> optax.GradientTransformation:
  """A stage keeping ``nu`` per leaf with ``nu_t = rule(nu_{t-1}, g_t, m_t)``.

  ``nu`` is stored as ``nu_dtype`` (``None``: the parameters' real dtype);
  the flow's ``nu`` is the uncast result of ``rule``.
  """
  nu_dtype = check.check_float_dtype("nu_dtype", nu_dtype)

  def init_fn(params):
    return SecondMomentState(nu=_full_like(params, initial_value, nu_dtype, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    refuse(flow, stage, "nu", "there is already a second moment `nu`; keep one")
    needs(flow)
    old = _widen(state.nu, flow.grad, real=True)
    nu = jax.tree.map(rule, old, flow.grad, direction(flow))
    return record(flow, stage, nu=nu), SecondMomentState(nu=_store(nu, state.nu))

  return optax.GradientTransformation(init_fn, update_fn)


_NU_DTYPE_DOC = """nu_dtype: dtype of the stored second moment (real), e.g. ``jnp.bfloat16``
      to halve its memory; the update is computed in the gradient's real
      dtype (or the stored dtype, if wider) and only the stored state is
      cast.  ``None`` (default): the parameters' real dtype."""


def ema_second_moment(
    b2: float = 0.999, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Second moment of the raw gradient, as an exponential moving average.

  .. math:: v_t = \beta_2 v_{t-1} + (1 - \beta_2) |g_t|^2, \qquad v_0 = 0

  Writes ``flow.nu = v_t``.  ``(1-β2)|g|²`` is evaluated as ``((1-β2) g) g``,
  as PyTorch does: a float32 gradient of 1e20 does not overflow ``v`` to inf.
  Used by Adam, RMSProp (``b2`` = ``decay``), Adadelta (``b2`` = ``rho``) and
  most survey optimizers.  Reference: Kingma & Ba (2015); ``torch.optim.Adam``.

  Args:
    b2: decay rate, in [0, 1).
    nu_dtype: dtype of the stored second moment (real), e.g. ``jnp.bfloat16``
      to halve its memory; the update is computed in the gradient's real
      dtype (or the stored dtype, if wider) and only the stored state is
      cast.  ``None`` (default): the parameters' real dtype.  A bfloat16
      ``v`` keeps 8 significant bits and a change ``(1-b2)|g²-v|`` below half
      an ulp of ``v`` (at least ``2^-9 v``) is rounded away: at ``b2=0.999``
      it never decreases and, under a constant gradient, stops growing at
      0.2 to 0.34 of ``g²``.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`SecondMomentState`.

  Example::

    optax.chain(count_steps(), ema_second_moment(0.99), adaptive_step_size(1e-8),
                apply_learning_rate(1e-2), descend())   # RMSProp
  """
  b2 = check.check_decay("b2", b2)
  return _second_moment(
      "ema_second_moment", lambda v, g, m: b2 * v + _scaled_square(1 - b2, g), 0.0, nu_dtype
  )


def accumulate_second_moment(
    initial_accumulator_value: float = 0.0, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""AdaGrad's accumulated sum of squared gradients.

  .. math:: G_t = G_{t-1} + |g_t|^2, \qquad G_0 = \text{initial\_accumulator\_value}

  Reference: Duchi, Hazan & Singer (JMLR 2011); ``torch.optim.Adagrad``
  (initial value 0; ``optax.adagrad`` starts at 0.1).

  Args:
    initial_accumulator_value: G_0, >= 0.
    nu_dtype: dtype of the stored sum (real), e.g. ``jnp.float32`` for
      bfloat16 parameters; only the stored state is cast.  ``None``
      (default): the parameters' real dtype.  A bfloat16 sum stops growing
      once ``g²`` is below half an ulp of it (about ``2^-9 G``): after a few
      hundred steps of similar gradients.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`SecondMomentState`.

  Example::

    optax.chain(accumulate_second_moment(), adaptive_step_size(1e-10),
                apply_learning_rate(1e-2), descend())   # AdaGrad
  """
  initial_accumulator_value = check.check_non_negative(
      "initial_accumulator_value", initial_accumulator_value
  )
  return _second_moment(
      "accumulate_second_moment", lambda v, g, m: v + _scaled_square(None, g),
      initial_accumulator_value, nu_dtype,
  )


def yogi_second_moment(
    b2: float = 0.999, initial_accumulator_value: float = 1e-6, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Yogi's sign-additive second moment.

  .. math:: v_t = v_{t-1} - (1 - \beta_2)\,\mathrm{sign}(v_{t-1} - |g_t|^2)\, |g_t|^2

  The change of ``v`` depends on ``g²`` alone, not on ``v`` as in Adam's EMA.
  The survey prints ``+`` for the ``-``; with ``+`` ``v`` moves away from
  ``g²``.  The sign is taken of ``(1-β2) v - (1-β2) g²`` (the same sign), so
  a huge gradient does not overflow.  Reference: Zaheer et al., NeurIPS
  2018, Alg. 2; ``torch_optimizer.Yogi`` and ``optax.yogi`` (both start at
  ``1e-6``).

  Args:
    b2: decay rate, in [0, 1).
    initial_accumulator_value: v_0, >= 0.
    nu_dtype: dtype of the stored second moment (real); only the stored state
      is cast.  ``None`` (default): the parameters' real dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`SecondMomentState`.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9, initial_value=1e-6),
                yogi_second_moment(0.999), bias_correction(0.9, 0.999),
                adaptive_step_size(1e-3), apply_learning_rate(1e-2), descend())
  """
  b2 = check.check_decay("b2", b2)
  initial_accumulator_value = check.check_non_negative(
      "initial_accumulator_value", initial_accumulator_value
  )

  def rule(v, g, m):
    change = _scaled_square(1 - b2, g)  # (1-β2) g²
    return v - jnp.sign((1 - b2) * v - change) * change

  return _second_moment("yogi_second_moment", rule, initial_accumulator_value, nu_dtype)


def belief_second_moment(
    b2: float = 0.999, eps: float = 1e-16, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""AdaBelief's second moment: the EMA of ``|g - m|²`` plus the stored eps.

  .. math:: s_t = \beta_2 s_{t-1} + (1 - \beta_2)|g_t - m_t|^2 + \epsilon

  ``m_t`` is the first moment of this step (put :func:`ema_first_moment`
  right before it).  The ``+ε`` is stored in ``s`` every step, as
  ``adabelief-pytorch`` does.  Reference: Zhuang et al., NeurIPS 2020,
  Alg. 2; ``adabelief-pytorch==0.2.1``.

  Args:
    b2: decay rate, in [0, 1).
    eps: the ε added to ``s`` every step, >= 0.
    nu_dtype: dtype of the stored second moment (real); only the stored state
      is cast.  ``None`` (default): the parameters' real dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`SecondMomentState`.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), belief_second_moment(0.999),
                bias_correction(0.9, 0.999), adaptive_step_size(1e-16),
                apply_learning_rate(1e-3), descend())   # AdaBelief, rectify=False
  """
  b2 = check.check_decay("b2", b2)
  eps = check.check_non_negative("eps", eps)

  def needs(flow):
    stage = "belief_second_moment"
    require(flow, stage, FIRST_MOMENT, "put ema_first_moment() before it")
    for fact in (FRICTION, MU_BIAS_CORRECTED):
      refuse(flow, stage, fact, "it needs the first moment m_t itself; put it right "
             "after ema_first_moment()")

  def rule(s, g, m):
    # ε joins the new term before the old s: the reference adds it last, the
    # same sum to round-off, but that order made XLA on CPU recompute s_t in
    # the parameter loop and copy the donated s to a temporary every step
    # (0 temporaries now; optax.adabelief has 1; benchmarks/results/perf.md).
    return b2 * s + (_scaled_square(1 - b2, g - m) + eps)

  return _second_moment("belief_second_moment", rule, 0.0, nu_dtype, needs)


class MaxSecondMomentState(NamedTuple):
  """``nu_max``: the running elementwise maximum of the second moment."""

  nu_max: chex.ArrayTree


def track_max_second_moment(*, nu_dtype: Any = None) -> optax.GradientTransformation:
  r"""Max tracking (AMSGrad / AMSBound): the running max of the raw ``v``.

  .. math:: v^{\max}_t = \max(v^{\max}_{t-1}, v_t)

  Replaces ``flow.nu`` by ``v^max``.  Put it before :func:`bias_correction`:
  like ``torch.optim.Adam(amsgrad=True)`` and AMSBound, the max is of the raw
  ``v`` and the current ``bc2`` divides it afterwards (``optax.amsgrad`` and
  the survey take the max of ``v̂``: put it after ``bias_correction`` for
  that).  Reference: Reddi, Kale & Kumar, ICLR 2018.

  Args:
    nu_dtype: dtype of the stored ``nu_max``, e.g. ``jnp.bfloat16`` (give it
      the second moment's ``nu_dtype``); the max is taken in the promoted
      dtype of the stored ``nu_max`` and ``flow.nu``.  ``None`` (default):
      the parameters' real dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`MaxSecondMomentState`.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                track_max_second_moment(), bias_correction(0.9, 0.999),
                adaptive_step_size(1e-8), apply_learning_rate(1e-3), descend())
  """
  nu_dtype = check.check_float_dtype("nu_dtype", nu_dtype)
  stage = "track_max_second_moment"

  def init_fn(params):
    return MaxSecondMomentState(nu_max=_full_like(params, 0.0, nu_dtype, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    require(flow, stage, "nu", "put a second-moment stage (ema_second_moment) before it")
    refuse(flow, stage, NU_USED, "the step size was already computed from `nu`; put "
           "it before adaptive_step_size()")
    nu = second_moment(flow)  # (after bias_correction: the max of v̂, optax's form)
    nu_max = jax.tree.map(jnp.maximum, _widen(state.nu_max, nu), nu)
    new = record(flow, stage, add=[NU_MAX], nu=nu_max, nu_divisor=None)
    return new, MaxSecondMomentState(nu_max=_store(nu_max, state.nu_max))

  return optax.GradientTransformation(init_fn, update_fn)


class CenteredSecondMomentState(NamedTuple):
  """``grad_mean``: the EMA of the gradient used to centre RMSProp."""

  grad_mean: chex.ArrayTree


def center_second_moment(
    decay: float = 0.99, *, mu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Centred RMSProp: subtract the squared EMA of the gradient from ``v``.

  .. math:: \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t,\qquad
            \mathrm{flow.nu} \leftarrow v_t - |\bar g_t|^2

  Put it right after the second moment.  Reference: Graves (2013), eq. 38;
  ``torch.optim.RMSprop(centered=True)``.

  Args:
    decay: decay rate α of the mean, in [0, 1) (RMSProp uses its ``decay``).
    mu_dtype: dtype of the stored mean ``ḡ`` (a first moment); ``None``
      (default): the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation`` with state
    :class:`CenteredSecondMomentState`.

  Example::

    optax.chain(count_steps(), ema_second_moment(0.99), center_second_moment(0.99),
                adaptive_step_size(1e-8), apply_learning_rate(1e-2), descend())
  """
  decay = check.check_decay("decay", decay)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)
  stage = "center_second_moment"

  def init_fn(params):
    return CenteredSecondMomentState(grad_mean=_moment_like(params, 0.0, mu_dtype, stage))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    require(flow, stage, "nu", "put ema_second_moment() before it")
    for fact in (NU_USED, NU_BIAS_CORRECTED, NU_MAX):
      refuse(flow, stage, fact, "it centres the raw second moment; put it right after "
             "ema_second_moment()")
    mean = jax.tree.map(_ema(decay), _widen(state.grad_mean, flow.grad), flow.grad)
    nu = jax.tree.map(lambda v, a: v - _scaled_square(None, a), flow.nu, mean)
    new = record(flow, stage, nu=nu)
    return new, CenteredSecondMomentState(grad_mean=_store(mean, state.grad_mean))

  return optax.GradientTransformation(init_fn, update_fn)


# -------------------------------------------------- bias correction, step size


def bias_correction(
    b1: float | None = 0.9, b2: float | None = 0.999, *, nesterov: bool = False
) -> optax.GradientTransformation:
  r"""Exact bias correction of both moments (Adam's paper form).

  .. math:: \hat m_t = m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t)

  With ``nesterov=True`` the first moment is NAdam's (Dozat 2016, as
  ``optax.nadam``):

  .. math:: \hat m_t = \frac{\beta_1 m_t}{1 - \beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1 - \beta_1^t}

  Rewrites ``flow.mu``, and sets ``flow.nu_divisor = 1 - β2^t`` (read ``v̂``
  with :func:`~optax_survey.flow.second_moment`; :func:`adaptive_step_size`
  takes ``sqrt(v)/sqrt(1 - β2^t)``, as PyTorch, so ``v̂`` never overflows);
  pass ``None`` for a moment to leave it alone.  Put it after the moments and before
  :func:`adaptive_step_size`, so that ``ε`` is added to ``sqrt(v̂)``.
  ``1 - β^t`` is computed as ``-expm1(t log β)``, without cancellation in
  float32.  Reference: Kingma & Ba (2015); ``torch.optim.Adam``,
  ``torch_optimizer.Yogi``, every optax optimizer.

  Args:
    b1: the first moment's decay rate in [0, 1), or ``None``.
    b2: the second moment's decay rate in [0, 1), or ``None``.
    nesterov: NAdam's first moment (needs ``b1``).

  Returns:
    An ``optax.GradientTransformation`` (stateless: ``t`` comes from
    :func:`count_steps`).

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                bias_correction(0.9, 0.999), adaptive_step_size(1e-8),
                apply_learning_rate(1e-3), descend())   # Adam
  """
  if b1 is not None:
    b1 = check.check_decay("b1", b1)
  elif nesterov:
    raise ValueError("bias_correction(nesterov=True) needs b1 (NAdam's first moment).")
  if b2 is not None:
    b2 = check.check_decay("b2", b2)
  stage = "bias_correction"

  def correct(flow: Flow, params: Any) -> Flow:
    del params
    if b1 is None and b2 is None:
      return record(flow, stage)
    t = step_number(flow, stage)
    refuse(flow, stage, FOLDED_BIAS_CORRECTION,
           "folded_bias_correction() already corrects the step size; use one of the two")
    add = []
    if b1 is not None:
      require(flow, stage, FIRST_MOMENT, "put ema_first_moment() before it, or pass b1=None")
      refuse(flow, stage, MU_BIAS_CORRECTED, "the first moment is already bias-corrected")
      bc1 = S.one_minus_power(b1, t)
      if nesterov:
        refuse(flow, stage, FRICTION, "NAdam's first moment needs m_t itself; put the "
               "friction after bias_correction()")
        bc1_next = S.one_minus_power(b1, t + 1)
        mu = jax.tree.map(
            lambda m, g: scalar_like(b1 / bc1_next, m) * m
            + scalar_like((1 - b1) / bc1, m) * g,
            flow.mu, flow.grad,
        )
      else:
        mu = jax.tree.map(lambda m: m / scalar_like(bc1, m), flow.mu)
      flow = flow._replace(mu=mu)
      add.append(MU_BIAS_CORRECTED)
    if b2 is not None:
      require(flow, stage, "nu", "put a second-moment stage before it, or pass b2=None")
      refuse(flow, stage, NU_USED, "the step size was already computed from `nu`; put it "
             "before adaptive_step_size()")
      refuse(flow, stage, NU_BIAS_CORRECTED, "the second moment is already bias-corrected")
      # v̂ = v / bc2 is kept as (v, bc2): adaptive_step_size divides after the
      # root, sqrt(v)/sqrt(bc2), as PyTorch does; v/bc2 itself would overflow
      # float32 for v near its maximum (a gradient of 1e19 or more).
      flow = flow._replace(nu_divisor=S.one_minus_power(b2, t))
      add.append(NU_BIAS_CORRECTED)
    return record(flow, stage, add=add)

  return _stateless(correct)


def adaptive_step_size(
    eps: float = 1e-8, eps_root: float = 0.0
) -> optax.GradientTransformation:
  r"""The adaptive per-element step size from the second moment.

  .. math:: \eta \leftarrow \eta \cdot \frac{1}{\sqrt{\nu + \epsilon_{root}} + \epsilon}

  After :func:`bias_correction` (``ν = v / (1 - β2^t)``) the root is taken as
  ``sqrt(v + ε_root (1 - β2^t)) / sqrt(1 - β2^t)``, PyTorch's order.

  ``ε`` outside the root is the convention of Adam and its descendants;
  RMSProp's survey form and Adadelta put it inside (``eps=0, eps_root=ε``).
  ``eps_root > 0`` also keeps ``jax.grad`` through the step finite where
  ``ν = 0`` (as in ``optax.scale_by_adam``).  Reference: Kingma & Ba (2015).

  Args:
    eps: added to the root, >= 0.
    eps_root: added inside the root, >= 0.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example::

    optax.chain(count_steps(), ema_second_moment(0.99), adaptive_step_size(1e-8),
                apply_learning_rate(1e-2), descend())   # RMSProp
  """
  eps = check.check_non_negative("eps", eps)
  eps_root = check.check_non_negative("eps_root", eps_root)
  stage = "adaptive_step_size"

  def inverse_root(v, divisor):
    if divisor is None:
      root = jnp.sqrt(v) if check.is_python_zero(eps_root) else jnp.sqrt(v + eps_root)
    else:  # sqrt(v/d + ε_root) = sqrt(v + ε_root d) / sqrt(d), PyTorch's order
      shifted = v if check.is_python_zero(eps_root) else v + scalar_like(eps_root * divisor, v)
      # times the scalar 1/sqrt(d), not divided by sqrt(d): XLA rewrites the
      # division into that product in some compilations (single device) and
      # not in others (SPMD-sharded), which made the two differ by an ulp.
      root = jnp.sqrt(shifted) * scalar_like(jax.lax.rsqrt(S.as_float(divisor)), v)
    return 1 / (root + eps)

  def adapt(flow: Flow, params: Any) -> Flow:
    del params
    require(flow, stage, "nu", "put a second-moment stage (ema_second_moment) before it")
    refuse(flow, stage, NU_USED, "a step size was already computed from `nu`; keep one "
           "adaptive_step_size()")
    divisor = flow.nu_divisor

    def eta_of_nu(nu):
      return jax.tree.map(lambda v: inverse_root(v, divisor), nu)

    first = flow.eta is None  # then η is exactly eta_of_nu(ν)
    flow = scale_eta(flow, eta_of_nu(flow.nu))
    if first:
      flow = flow._replace(eta_of_nu=eta_of_nu)
    return record(flow, stage, add=[NU_USED])

  return _stateless(adapt)


def folded_bias_correction(
    b1: float = 0.9, b2: float = 0.999
) -> optax.GradientTransformation:
  r"""Bias correction folded into the step size, as most authors' codes do.

  .. math:: \eta \leftarrow \eta \cdot \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}

  With ``η = 1/(sqrt(v) + ε)`` this is Adam with an effective
  ``ε / sqrt(1 - β2^t)``; it differs from :func:`bias_correction` only when
  ``|g|`` is near ``ε``.  Used by the reference codes of diffGrad, AdaBound,
  AdaMod and RAdam.  A scalar factor: its place among the step-size stages
  does not change the result.  Reference: Luo et al. (2019), Liu et al.
  (2020) and the other authors' codes.

  Args:
    b1: the first moment's decay rate, in [0, 1).
    b2: the second moment's decay rate, in [0, 1).

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                adaptive_step_size(1e-8), folded_bias_correction(0.9, 0.999),
                apply_learning_rate(1e-3), descend())
  """
  b1 = check.check_decay("b1", b1)
  b2 = check.check_decay("b2", b2)
  stage = "folded_bias_correction"

  def fold(flow: Flow, params: Any) -> Flow:
    del params
    t = step_number(flow, stage)
    for fact in (FOLDED_BIAS_CORRECTION, MU_BIAS_CORRECTED, NU_BIAS_CORRECTED):
      refuse(flow, stage, fact, "the moments or the step size are already "
             "bias-corrected; use one bias correction")
    factor = jnp.sqrt(S.one_minus_power(b2, t)) / S.one_minus_power(b1, t)
    return record(scale_eta_by_scalar(flow, factor), stage, add=[FOLDED_BIAS_CORRECTION])

  return _stateless(fold)


def rectification_is_active(
    t: jax.Array, b2: float = 0.999, threshold: float = 5.0
) -> jax.Array:
  r"""Whether RAdam's rectified (adaptive) step applies at step ``t >= 1``.

  .. math:: \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \ge \text{threshold},
            \qquad \rho_\infty = \frac{2}{1-\beta_2} - 1

  computed without cancellation (``optax_survey._scalars.sma_length``).
  Reference: Liu et al., ICLR 2020.

  Args:
    t: the step number (an integer array).
    b2: the second moment's decay rate.
    threshold: the rectification threshold.

  Returns:
    A boolean array shaped like ``t``.

  Example::

    rectification_is_active(jnp.arange(1, 8))   # False for t <= 5, then True
  """
  return S.sma_length(b2, t) >= threshold


def rectification(
    b1: float = 0.9,
    b2: float = 0.999,
    threshold: float = 5.0,
    degenerated_to_sgd: bool = False,
) -> optax.GradientTransformation:
  r"""RAdam's variance rectification of the bias-corrected adaptive step size.

  .. math::
     \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\quad
     r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                      {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

  If ``ρ_t >= threshold``: ``η ← r_t η``.  Otherwise the adaptive step is
  dropped: SGD with the bias-corrected first moment ``m̂`` when
  ``degenerated_to_sgd``, no update otherwise.  Put it after the adaptive step
  size and a bias correction, before the learning rate: after
  :func:`folded_bias_correction` (the authors' code; ``m̂ = m/bc1`` in the
  SGD branch) or after :func:`bias_correction` (``optax.radam``; ``m̂`` is
  already ``flow.mu``).  The authors' code and ours use ``ρ_t >= 5``; the
  paper and the survey say ``ρ_t > 4`` (they differ at step 5 only, for
  ``β2 = 0.999``).  ``ρ_t`` is computed in a form without cancellation.
  Reference: Liu et al., ICLR 2020; LiyuanLucasLiu/RAdam.

  Args:
    b1: the first moment's decay rate, in [0, 1).
    b2: the second moment's decay rate, in [0, 1).
    threshold: the rectification threshold, >= 4.
    degenerated_to_sgd: SGD on ``m̂`` (instead of no update) while inactive.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                adaptive_step_size(1e-8), folded_bias_correction(0.9, 0.999),
                rectification(0.9, 0.999), apply_learning_rate(1e-3), descend())
  """
  b1 = check.check_decay("b1", b1)
  b2 = check.check_decay("b2", b2)
  threshold = check.check_number("threshold", threshold, lower=4.0)
  stage = "rectification"
  rho_inf = S.sma_length_inf(b2)
  # (ρ∞ - 4)(ρ∞ - 2)/ρ∞, in double precision for a Python b2
  rho_inf_term = (rho_inf - 4) * (rho_inf - 2) / rho_inf

  def rectify(flow: Flow, params: Any) -> Flow:
    del params
    t = step_number(flow, stage)
    require(flow, stage, NU_USED, "put adaptive_step_size() before it")
    if not (FOLDED_BIAS_CORRECTION in flow.facts
            or {MU_BIAS_CORRECTED, NU_BIAS_CORRECTED} <= flow.facts):
      require(flow, stage, FOLDED_BIAS_CORRECTION,
              "put folded_bias_correction() (the authors' form) or bias_correction() "
              "(both moments) before it")
    refuse(flow, stage, LEARNING_RATE, "its SGD branch replaces the whole step size; put "
           "it before apply_learning_rate()")
    refuse(flow, stage, RECTIFIED, "the step size is already rectified")
    rho_t = S.sma_length(b2, t)
    active = rho_t >= threshold
    ratio = (rho_t - 4) * (rho_t - 2) / (rho_t * rho_inf_term)
    r_t = jnp.sqrt(jnp.where(active, ratio, 1.0))  # no NaN in the dead branch
    fallback: Any
    if not degenerated_to_sgd:
      fallback = 0.0
    elif MU_BIAS_CORRECTED in flow.facts:
      fallback = 1.0  # flow.mu is already m̂
    else:
      fallback = 1 / S.one_minus_power(b1, t)
    scale = 1.0 if flow.scale is None else flow.scale
    eta = None if flow.eta is None else jax.tree.map(
        lambda e: jnp.where(active, e, jnp.ones_like(e)), flow.eta
    )
    flow = flow._replace(eta=eta, eta_of_nu=None,
                         scale=jnp.where(active, r_t * scale, fallback))
    return record(flow, stage, add=[RECTIFIED])

  return _stateless(rectify)


# ------------------------------------------------------------------- friction


def _after(value: Any, earlier: Any) -> Any:
  """``value``, computed after ``earlier``: ``value + min(|earlier|, 0)``.

  ``min(|x|, 0)`` is 0 for every number but NaN, so the result is ``value``
  (bit for bit, NaN aside); the data dependency makes XLA compute it after
  ``earlier``.  A friction stage reads its stored gradients once, into ξ,
  and stores the new ones after ξ: XLA then computes ξ in place of the old
  gradients and overwrites them afterwards, with no copy.  Without the
  dependency XLA on CPU copied each old buffer to a fresh parameter-sized
  temporary before rewriting it, and a temporary of 32 MiB or more is a fresh
  mapping whose pages are faulted in at every step
  (``benchmarks/results/perf.md``).
  """
  return jax.tree.map(
      lambda v, e: v + jnp.minimum(jnp.abs(e), 0).astype(real_dtype(v)), value, earlier
  )


class FrictionState(NamedTuple):
  """``prev_grad``: g_{t-1} (zero before the first step)."""

  prev_grad: chex.ArrayTree


def diffgrad_friction() -> optax.GradientTransformation:
  r"""diffGrad's friction coefficient (DFC) on the first moment.

  .. math:: \xi_t = \mathrm{AbsSig}(g_{t-1} - g_t) = \frac{1}{1 + e^{-|g_{t-1} - g_t|}},
            \qquad m \leftarrow \xi_t\, m

  ``g_0 = 0``, so ``ξ_1 = σ(|g_1|)``.  ``ξ → 1/2`` where the gradient barely
  changes (friction) and ``→ 1`` where it changes fast.  Complex gradients:
  ``|·|`` is the modulus.  Reference: Dubey et al., IEEE TNNLS 2020;
  authors' ``diffGrad_v2.py`` = ``torch_optimizer.DiffGrad``.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`FrictionState`.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                diffgrad_friction(), adaptive_step_size(1e-8),
                folded_bias_correction(0.9, 0.999), apply_learning_rate(1e-3),
                descend())   # diffGrad
  """

  def init_fn(params):
    return FrictionState(prev_grad=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    xi = jax.tree.map(lambda p, g: _abs_sig(p - g), state.prev_grad, flow.grad)
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new = record(flow, "diffgrad_friction", add=[FRICTION], mu=mu)
    prev = _after(flow.grad, xi)
    return new, FrictionState(prev_grad=_store(prev, state.prev_grad))

  return optax.GradientTransformation(init_fn, update_fn)


class AdaDBFrictionState(NamedTuple):
  """The last three gradients ``g_{t-1}, g_{t-2}, g_{t-3}`` (zero at start)."""

  prev_grad: chex.ArrayTree
  prev_grad_2: chex.ArrayTree
  prev_grad_3: chex.ArrayTree


def adadb_friction(b3: float = 0.5, lam: float = 0.5) -> optax.GradientTransformation:
  r"""AdaDB's three-difference friction coefficient with the sign rule.

  .. math::
     \Delta g_t = \beta_3 (g_{t-1} - g_t) + \beta_3^2 (g_{t-2} - g_{t-1})
                + \beta_3^3 (g_{t-3} - g_{t-2})

  ``ξ_t = AbsSig(Δg_t) ∈ [1/2, 1)`` where ``g_t`` and ``g_{t-1}`` have opposite
  signs (``g_t g_{t-1} < 0``: slow down), and ``ξ_t = 1 + λ AbsSig(Δg_t) ∈
  [1 + λ/2, 1 + λ)`` elsewhere, including where either is zero (speed up);
  then ``m ← ξ_t m``.  Complex gradients: "opposite signs" means an angle of
  more than 90° between ``g_t`` and ``g_{t-1}`` in the complex plane,
  ``Re(g_t conj(g_{t-1})) < 0`` (for real numbers, the sign rule), and
  ``AbsSig`` takes the modulus of ``Δg_t``.  The survey (Alg. 11) prints
  ``β2²`` in the middle term, a slip for ``β3²``.  With ``β3 = 1`` and a
  constant history the opposite-sign branch is diffGrad's friction.  No
  reference code is published; the defaults ``b3 = 0.5``, ``lam = 0.5`` come
  from ``benchmarks/adadb_defaults.py`` (best mean rank over a grid on three
  problems; λ in {0.5, 1} beats λ <= 0.25, while b3 and, with a tuned lr,
  most differences are within noise).  Reference: Khan, Jawad & Khan, IEEE
  Access 9 (2021).

  Args:
    b3: the weight of the gradient differences, in [0, 1].
    lam: λ >= 0, how much a same-sign step is enlarged.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`AdaDBFrictionState`.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                adadb_friction(0.5, 0.5), bias_correction(0.9, 0.999),
                adaptive_step_size(1e-8), apply_learning_rate(1e-3), descend())
  """
  b3 = check.check_number("b3", b3, lower=0.0, upper=1.0)
  lam = check.check_non_negative("lam", lam)

  def init_fn(params):
    # Three distinct buffers: one array shared by three fields cannot be
    # donated to a jitted step ("donate the same buffer twice").
    return AdaDBFrictionState(*(_full_like(params, 0.0) for _ in range(3)))

  def xi_fn(g, g1, g2, g3):
    delta = b3 * (g1 - g) + b3**2 * (g2 - g1) + b3**3 * (g3 - g2)
    # Compare directions, not the product: g * g1 underflows to -0 for tiny
    # gradients.  sign() of a complex number is z/|z|: Re(ĝ conj(ĝ1)) is the
    # cosine of the angle between them; for real numbers it is sign(g)sign(g1).
    opposite = jnp.real(jnp.sign(g) * jnp.conj(jnp.sign(g1))) < 0
    # With e = exp(-|Δg|): AbsSig = 1/(1+e) and 1 + λ AbsSig = (1+λ+e)/(1+e).
    # One division last: XLA keeps ξ whole in one loop, where it would
    # otherwise redo the sign rule (reading g_{t-1} again) in every reader.
    e = jnp.exp(-jnp.abs(delta))
    return jnp.where(opposite, 1.0, 1 + lam + e) / (1 + e)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    xi = jax.tree.map(
        xi_fn, flow.grad, state.prev_grad, state.prev_grad_2, state.prev_grad_3
    )
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new = record(flow, "adadb_friction", add=[FRICTION], mu=mu)
    # The shift g_{t-2} -> 3rd, g_{t-1} -> 2nd, g_t -> 1st, each after ξ (which
    # read all three) and after the previous move: XLA then overwrites the
    # three buffers in place, in that order (see _after), instead of copying
    # all three to temporaries first.
    third = _after(state.prev_grad_2, xi)
    second = _after(state.prev_grad, third)
    first = _after(flow.grad, second)
    new_state = AdaDBFrictionState(
        _store(first, state.prev_grad), _store(second, state.prev_grad_2),
        _store(third, state.prev_grad_3),
    )
    return new, new_state

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------- learning rate and bounds


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

  Example::

    optax.chain(apply_learning_rate(0.1), descend())   # SGD
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

  return _stateless(scale)


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
  """``base_lr``: AdaBound's α_0, the learning rate when the optimizer was made."""

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

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                adaptive_step_size(1e-8), folded_bias_correction(0.9, 0.999),
                apply_learning_rate(1e-3), bound_step_size(1e-3, final_lr=0.1),
                descend())   # AdaBound
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
    flow = as_flow(updates)
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
  """``eta_ema``: AdaMod's EMA of the step sizes, s_t; real."""

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

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                adaptive_step_size(1e-8), folded_bias_correction(0.9, 0.999),
                apply_learning_rate(1e-3), momental_bound(0.999), descend())
  """
  b3 = check.check_decay("b3", b3)
  stage = "momental_bound"

  def init_fn(params):
    return MomentalBoundState(eta_ema=_full_like(params, 0.0, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
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


# ----------------------------------------------------------- momentum, delta


class MomentumState(NamedTuple):
  """``momentum``: the momentum buffer ("velocity")."""

  momentum: chex.ArrayTree


def trace_momentum(
    momentum: float = 0.9, nesterov: bool = False, *, mu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Heavy-ball or Nesterov momentum on the current step ``d = η ⊙ m``.

  .. math:: b_t = \mu b_{t-1} + d_t,\qquad
            \mathrm{flow.mu} \leftarrow b_t \ \text{or}\ d_t + \mu b_t\ (\text{Nesterov}),
            \qquad \eta \leftarrow 1

  ``b_0 = 0``, so ``b_1 = d_1`` as in ``torch.optim.SGD``.  Put it before
  :func:`apply_learning_rate`.  On plain gradients ``d = g`` (SGDM/NAG); after
  :func:`adaptive_step_size` ``d = g/(sqrt(v)+ε)`` (``torch.optim.RMSprop``
  with momentum).  The Nesterov form is Sutskever et al.'s
  re-parametrisation of the survey's look-ahead gradient (Alg. 3).
  Reference: Polyak (1964); Sutskever et al. (ICML 2013); ``torch.optim.SGD``.

  Args:
    momentum: μ, in [0, 1).
    nesterov: Nesterov's form.
    mu_dtype: dtype of the stored buffer (e.g. ``jnp.bfloat16``); ``None``
      (default): the parameters' dtype.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`MomentumState`.

  Example::

    optax.chain(trace_momentum(0.9), apply_learning_rate(1e-2), descend())  # SGDM
  """
  momentum = check.check_number("momentum", momentum, lower=0.0, upper=1.0,
                                upper_inclusive=False)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)

  def init_fn(params):
    return MomentumState(momentum=_moment_like(params, 0.0, mu_dtype, "trace_momentum"))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    d = step(flow)
    buf = jax.tree.map(lambda b, x: momentum * b + x, _widen(state.momentum, d), d)
    mu = jax.tree.map(lambda x, b: x + momentum * b, d, buf) if nesterov else buf
    new = record(flow, "trace_momentum", add=[MOMENTUM],
                 remove=[FIRST_MOMENT, MU_BIAS_CORRECTED, FRICTION],
                 mu=mu, eta=None, eta_of_nu=None, scale=None)
    return new, MomentumState(momentum=_store(buf, state.momentum))

  return optax.GradientTransformation(init_fn, update_fn)


class DeltaAccumulatorState(NamedTuple):
  """``delta_nu``: Adadelta's EMA of squared updates, E[Δ²]; real."""

  delta_nu: chex.ArrayTree


def delta_accumulator(rho: float = 0.9, eps: float = 1e-6) -> optax.GradientTransformation:
  r"""Adadelta's step: the RMS of past updates over the RMS of gradients.

  .. math:: \Delta_t = \sqrt{\frac{E[\Delta^2]_{t-1} + \epsilon}{E[g^2]_t + \epsilon}}\; m_t,\qquad
            E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)|\Delta_t|^2

  ``E[g²]_t`` is ``flow.nu`` (put a second-moment stage such as
  :func:`ema_second_moment` first) and ``m_t`` the current direction (the
  raw gradient, or a first moment).  Writes ``flow.mu = Δ_t``; it sets the
  step size itself, so no step-size stage may come before it.  One square
  root of the ratio, not ``sqrt(E[Δ²]+ε) / sqrt(E[g²]+ε)`` as the reference
  writes it: the same number to round-off, and XLA on CPU then keeps one
  parameter-sized temporary per step instead of two
  (benchmarks/results/perf.md).  Reference: Zeiler (2012);
  ``torch.optim.Adadelta`` (= ``optax.adadelta`` with a learning rate).

  Args:
    rho: decay rate of ``E[Δ²]``, in [0, 1).
    eps: ε >= 0, inside both roots.

  Returns:
    An ``optax.GradientTransformation`` with state :class:`DeltaAccumulatorState`.

  Example::

    optax.chain(ema_second_moment(0.9), delta_accumulator(0.9, 1e-6),
                apply_learning_rate(1.0), descend())   # Adadelta
  """
  rho = check.check_decay("rho", rho)
  eps = check.check_non_negative("eps", eps)
  stage = "delta_accumulator"

  def init_fn(params):
    return DeltaAccumulatorState(delta_nu=_full_like(params, 0.0, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    require(flow, stage, "nu", "put a second-moment stage (ema_second_moment) before it")
    for field in ("eta", "scale"):
      refuse(flow, stage, field, "it sets Adadelta's step size itself; put it right "
             "after the second moment, before any step-size stage")
    nu = second_moment(flow)
    acc_old = _widen(state.delta_nu, nu)
    delta = jax.tree.map(
        lambda a, v, m: jnp.sqrt((a + eps) / (v + eps)) * m,
        acc_old, nu, direction(flow),
    )
    acc = jax.tree.map(lambda a, d: rho * a + _scaled_square(1 - rho, d), acc_old, delta)
    new = record(flow, stage, add=[NU_USED], remove=[FIRST_MOMENT, FRICTION], mu=delta)
    return new, DeltaAccumulatorState(delta_nu=_store(acc, state.delta_nu))

  return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------- weight decay


def _masked(tx: optax.GradientTransformation, mask: MaskOrFn):
  return tx if mask is None else optax.masked(tx, mask)


def add_l2_penalty(weight_decay: float, mask: MaskOrFn = None) -> optax.GradientTransformation:
  r"""L2 regularisation: adds ``λθ`` to the raw gradient.

  .. math:: g_t \leftarrow g_t + \lambda \theta_{t-1}

  Acts on plain gradients: put it first, before any optax_survey stage (the
  moments then see the penalised gradient, as in ``torch.optim.Adam``'s
  ``weight_decay``).  A Python ``weight_decay=0`` does no work; an array (as
  ``optax.inject_hyperparams`` passes) is applied, so the two have the same
  state.  Reference: ``torch.optim`` optimizers' ``weight_decay``.

  Args:
    weight_decay: λ >= 0.
    mask: the leaves that decay (optax style: a pytree of bools, or a
      function of the params returning one); ``None``: all.

  Returns:
    A stateless ``optax.GradientTransformation`` (``optax.masked`` with a mask).

  Example::

    optax.chain(add_l2_penalty(1e-4), optax_survey.adam(1e-3))
  """
  weight_decay = check.check_non_negative("weight_decay", weight_decay)
  idle = check.is_python_zero(weight_decay)

  def update_fn(updates, state, params=None):
    if isinstance(updates, Flow):
      raise TypeError(
          "add_l2_penalty acts on the raw gradient: put it before the first "
          "optax_survey stage of the chain."
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

  Sets ``flow.decay = α_t λ θ``, which :func:`descend` subtracts: put it
  anywhere before ``descend()`` (a schedule needs :func:`count_steps` before
  it).  The decay scales with the (scheduled) learning rate ``α_t``, as in
  ``torch.optim.AdamW``, AdaMod, AdaBelief and RAdam.  A Python
  ``weight_decay=0`` does no work; an array (``optax.inject_hyperparams``) is
  applied, so the two have the same state.  Reference: Loshchilov & Hutter,
  ICLR 2019.

  Args:
    learning_rate: α >= 0 or a schedule (evaluated at ``t - 1``).
    weight_decay: λ >= 0.
    mask: the leaves that decay (a pytree of bools, or a function of the
      params returning one); ``None``: all.

  Returns:
    A stateless ``optax.GradientTransformation``.

  Example::

    optax.chain(count_steps(), ema_first_moment(0.9), ema_second_moment(0.999),
                bias_correction(0.9, 0.999), adaptive_step_size(1e-8),
                apply_learning_rate(1e-3), add_decoupled_weight_decay(1e-3, 1e-2),
                descend())   # AdamW
  """
  learning_rate = check.check_learning_rate(learning_rate)
  weight_decay = check.check_non_negative("weight_decay", weight_decay)
  idle = check.is_python_zero(weight_decay)
  stage = "add_decoupled_weight_decay"

  def decay(flow: Flow, params: Any) -> Flow:
    refuse(flow, stage, "decay", "the decoupled weight decay is already set; keep one")
    if idle:
      return record(flow, stage)
    if params is None:
      raise ValueError("add_decoupled_weight_decay needs `params` in update().")
    if callable(learning_rate):
      lr = learning_rate(step_number(flow, stage) - 1)
    else:
      lr = learning_rate
    rate = lr * weight_decay
    term = jax.tree.map(
        lambda m, p: scalar_like(rate, p) * p if m else 0, _mask_leaves(mask, params), params
    )
    return record(flow, stage, decay=term)

  return _stateless(decay)


# --------------------------------------------------------------------- output


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

  Example::

    optax.chain(apply_learning_rate(0.1), descend(), optax.clip(1.0))
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
