r"""Composable primitives: every stage of every survey optimizer.

Each function returns an ``optax.GradientTransformation`` whose state is a
NamedTuple of arrays.  Stages read and write the fields of a
:class:`~optax_survey.flow.Flow` (``grad``, ``mu``, ``nu``, ``eta``); the last
stage, :func:`descend`, turns it into the update ``-η ⊙ m``.  Notation: step
``t = 1, 2, ...``, ``bc1 = 1 - b1^t``, ``bc2 = 1 - b2^t``.

Example, Adam written out (this is exactly :func:`optax_survey.adam`)::

    tx = optax.chain(
        ema_first_moment(0.9), ema_second_moment(0.999),
        bias_correction(0.9, 0.999), adaptive_step_size(1e-8),
        apply_learning_rate(1e-3), descend())
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey.flow import (
    Flow,
    as_flow,
    direction,
    scalar_like,
    scale_eta,
    scale_eta_by_scalar,
    step,
)

ScalarOrSchedule = Union[float, jax.Array, optax.Schedule]
MaskOrFn = Optional[Union[Any, Callable[[Any], Any]]]

__all__ = [
    "FirstMomentState", "SecondMomentState", "MaxSecondMomentState",
    "CenteredSecondMomentState", "CountState", "FrictionState",
    "AdaDBFrictionState", "MomentalBoundState", "MomentumState",
    "DeltaAccumulatorState",
    "ema_first_moment", "ema_second_moment", "accumulate_second_moment",
    "yogi_second_moment", "belief_second_moment", "track_max_second_moment",
    "center_second_moment", "bias_correction", "adaptive_step_size",
    "folded_bias_correction", "rectification", "rectification_is_active",
    "diffgrad_friction", "adadb_friction", "apply_learning_rate",
    "bound_step_size", "momental_bound", "trace_momentum",
    "delta_accumulator", "add_l2_penalty", "add_decoupled_weight_decay",
    "descend",
]


# ----------------------------------------------------------------- helpers


def _full_like(params: Any, value: Any, dtype: Any = None) -> Any:
  # full_like (not full(shape)) keeps each parameter's sharding, as optax does.
  return jax.tree.map(
      lambda p: jnp.full_like(p, value, dtype=dtype or jnp.result_type(p)), params
  )


def _cast(tree: Any, dtype: Any) -> Any:
  return tree if dtype is None else optax.tree_utils.tree_cast(tree, dtype)


def _widen(stored: Any, grad: Any, dtype: Any) -> Any:
  """A state stored as ``dtype``, read in the wider of its and the gradient's dtype.

  Without it, ``b * stored`` with a Python ``b`` would round in bfloat16.
  ``dtype=None`` (state in the parameters' dtype) leaves it as it is.
  """
  if dtype is None:
    return stored
  return jax.tree.map(
      lambda s, g: s.astype(jnp.promote_types(s.dtype, jnp.result_type(g))), stored, grad
  )


def _zero_count() -> jax.Array:
  return jnp.zeros([], jnp.int32)


def _power(decay: Any, count: jax.Array) -> jax.Array:
  """``decay ** t`` in the default float precision (float64 under x64)."""
  return jnp.power(jnp.asarray(decay, dtype=jnp.result_type(float)), count)


def _ema(decay: Any) -> Callable[[Any, Any], Any]:
  """The exponential moving average update ``old -> decay·old + (1-decay)·new``."""
  return lambda old, new: decay * old + (1 - decay) * new


def _at(learning_rate: ScalarOrSchedule, count: jax.Array) -> Any:
  return learning_rate(count) if callable(learning_rate) else learning_rate


def _need(flow: Flow, field: str, stage: str, before: str) -> None:
  # A `None` gradient tree (no parameters) leaves every field None: nothing to do.
  if getattr(flow, field) is None and flow.grad is not None:
    raise ValueError(
        f"{stage} needs `{field}` in the flow: put {before} before it in the chain."
    )


class CountState(NamedTuple):
  """State of stages that only need the step number: ``count`` steps done."""

  count: chex.Array


def _counting(update_with_t: Callable[[Flow, jax.Array], Flow]):
  """A stage whose update depends only on the flow and the step number t."""

  def init_fn(params):
    del params
    return CountState(count=_zero_count())

  def update_fn(updates, state, params=None):
    del params
    t = optax.safe_increment(state.count)
    return update_with_t(as_flow(updates), t), CountState(count=t)

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
      memory, or ``jnp.float32`` for bfloat16 parameters; the update is
      computed in the gradient's dtype (or the stored dtype, if wider) and
      only the stored state is cast.
      ``None`` (default): the parameters' dtype.

  Example::

    optax.chain(ema_first_moment(0.9), apply_learning_rate(0.1), descend())
  """
  check.check_decay("b1", b1)
  mu_dtype = check.check_float_dtype("mu_dtype", mu_dtype)

  def init_fn(params):
    return FirstMomentState(mu=_full_like(params, initial_value, mu_dtype))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    mu = jax.tree.map(_ema(b1), _widen(state.mu, flow.grad, mu_dtype), flow.grad)
    return flow._replace(mu=mu), FirstMomentState(mu=_cast(mu, mu_dtype))

  return optax.GradientTransformation(init_fn, update_fn)


class SecondMomentState(NamedTuple):
  """``nu``: the second-moment estimate v_t (EMA, sum, Yogi or belief)."""

  nu: chex.ArrayTree


def _second_moment(
    rule: Callable[[Any, Any, Any], Any], initial_value: float, nu_dtype: Any = None
) -> optax.GradientTransformation:
  """A stage keeping ``nu`` per leaf with ``nu_t = rule(nu_{t-1}, g_t, m_t)``.

  ``nu`` is stored as ``nu_dtype`` (``None``: the parameters' dtype); the
  flow's ``nu`` is the uncast result of ``rule``.
  """
  nu_dtype = check.check_float_dtype("nu_dtype", nu_dtype)

  def init_fn(params):
    return SecondMomentState(nu=_full_like(params, initial_value, nu_dtype))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    old = _widen(state.nu, flow.grad, nu_dtype)
    nu = jax.tree.map(rule, old, flow.grad, direction(flow))
    return flow._replace(nu=nu), SecondMomentState(nu=_cast(nu, nu_dtype))

  return optax.GradientTransformation(init_fn, update_fn)


def ema_second_moment(
    b2: float = 0.999, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Second moment of the raw gradient, as an exponential moving average.

  .. math:: v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \qquad v_0 = 0

  Writes ``flow.nu = v_t``.  Used by Adam, RMSProp (``b2`` = ``decay``),
  Adadelta (``b2`` = ``rho``) and most survey optimizers.

  Args:
    b2: decay rate, in [0, 1).
    nu_dtype: dtype of the stored second moment, e.g. ``jnp.bfloat16`` to
      halve its memory; the update is computed in the gradient's dtype (or
      the stored dtype, if wider) and only the stored state is cast.  ``None``
      (default): the parameters' dtype.  A bfloat16 ``v`` keeps 8 significant
      bits and a change ``(1-b2)|g²-v|`` below half an ulp of ``v`` (at
      least ``2^-9 v``) is rounded away: at ``b2=0.999`` it never decreases
      and, under a constant gradient, stops growing at 0.2 to 0.34 of ``g²``.

  Example::

    optax.chain(ema_second_moment(0.99), adaptive_step_size(1e-8),
                apply_learning_rate(1e-2), descend())   # RMSProp
  """
  check.check_decay("b2", b2)
  ema = _ema(b2)
  return _second_moment(lambda v, g, m: ema(v, g * g), 0.0, nu_dtype)


def accumulate_second_moment(
    initial_accumulator_value: float = 0.0, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""AdaGrad's accumulated sum of squared gradients.

  .. math:: G_t = G_{t-1} + g_t^2, \qquad G_0 = \text{initial\_accumulator\_value}

  Reference: Duchi, Hazan & Singer (JMLR 2011); ``torch.optim.Adagrad``
  (initial value 0; ``optax.adagrad`` starts at 0.1).

  Args:
    initial_accumulator_value: G_0, >= 0.
    nu_dtype: dtype of the stored second moment, e.g. ``jnp.float32`` for
      bfloat16 parameters; the update is computed in the gradient's dtype (or
      the stored dtype, if wider) and only the stored state is cast.  ``None``
      (default): the parameters' dtype.  A bfloat16 sum stops growing once
      ``g²`` is below half an ulp of it (about ``2^-9 G``): after a few hundred
      steps of similar gradients.
  """
  check.check_non_negative("initial_accumulator_value", initial_accumulator_value)
  return _second_moment(lambda v, g, m: v + g * g, initial_accumulator_value, nu_dtype)


def yogi_second_moment(
    b2: float = 0.999, initial_accumulator_value: float = 1e-6, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""Yogi's sign-additive second moment.

  .. math:: v_t = v_{t-1} - (1 - \beta_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2

  The change of ``v`` depends on ``g²`` alone, not on ``v`` as in Adam's EMA.
  The survey prints ``+`` for the ``-``; with ``+`` ``v`` moves away from
  ``g²``.  Reference: Zaheer et al., NeurIPS 2018, Alg. 2;
  ``torch_optimizer.Yogi`` and ``optax.yogi`` (both start at ``1e-6``).

  Args:
    b2: decay rate, in [0, 1).
    initial_accumulator_value: v_0, >= 0.
    nu_dtype: dtype of the stored second moment, e.g. ``jnp.bfloat16`` to
      halve its memory; the update is computed in the gradient's dtype (or
      the stored dtype, if wider) and only the stored state is cast.  ``None``
      (default): the parameters' dtype.
  """
  check.check_decay("b2", b2)
  check.check_non_negative("initial_accumulator_value", initial_accumulator_value)

  def rule(v, g, m):
    g2 = g * g
    return v - (1 - b2) * jnp.sign(v - g2) * g2

  return _second_moment(rule, initial_accumulator_value, nu_dtype)


def belief_second_moment(
    b2: float = 0.999, eps: float = 1e-16, *, nu_dtype: Any = None
) -> optax.GradientTransformation:
  r"""AdaBelief's second moment: the EMA of ``(g - m)²`` plus the stored eps.

  .. math:: s_t = \beta_2 s_{t-1} + (1 - \beta_2)(g_t - m_t)^2 + \epsilon

  ``m_t`` is the current ``flow.mu`` (put :func:`ema_first_moment` first).
  The ``+ε`` is stored in ``s`` every step, as ``adabelief-pytorch`` does.
  Reference: Zhuang et al., NeurIPS 2020, Alg. 2; ``adabelief-pytorch==0.2.1``.

  Args:
    b2: decay rate, in [0, 1).
    eps: the ε added to ``s`` every step, >= 0.
    nu_dtype: dtype of the stored second moment, e.g. ``jnp.bfloat16`` to
      halve its memory; the update is computed in the gradient's dtype (or
      the stored dtype, if wider) and only the stored state is cast.  ``None``
      (default): the parameters' dtype.
  """
  check.check_decay("b2", b2)
  check.check_non_negative("eps", eps)

  def rule(s, g, m):
    # ε joins the new term before the old s: the reference adds it last, the
    # same sum to round-off, but that order made XLA on CPU recompute s_t in
    # the parameter loop and copy the donated s to a temporary every step
    # (0 temporaries now; optax.adabelief has 1; benchmarks/results/perf.md).
    r = g - m
    return b2 * s + ((1 - b2) * r * r + eps)

  return _second_moment(rule, 0.0, nu_dtype)


class MaxSecondMomentState(NamedTuple):
  """``nu_max``: the running elementwise maximum of the second moment."""

  nu_max: chex.ArrayTree


def track_max_second_moment(*, nu_dtype: Any = None) -> optax.GradientTransformation:
  r"""Max tracking (AMSGrad / AMSBound): the running max of the raw ``v``.

  .. math:: v^{\max}_t = \max(v^{\max}_{t-1}, v_t)

  Replaces ``flow.nu`` by ``v^max``.  Put it before :func:`bias_correction`:
  like ``torch.optim.Adam(amsgrad=True)`` and AMSBound, the max is of the raw
  ``v`` and the current ``bc2`` divides it afterwards (``optax.amsgrad`` and
  the survey take the max of ``v̂`` instead).
  Reference: Reddi, Kale & Kumar, ICLR 2018.

  Args:
    nu_dtype: dtype of the stored ``nu_max``, e.g. ``jnp.bfloat16`` to halve
      its memory (give it the second moment's ``nu_dtype``); the max is taken
      in the promoted dtype of the stored ``nu_max`` and ``flow.nu`` and only
      the stored state is cast.  ``None`` (default): the parameters' dtype.
  """
  nu_dtype = check.check_float_dtype("nu_dtype", nu_dtype)

  def init_fn(params):
    return MaxSecondMomentState(nu_max=_full_like(params, 0.0, nu_dtype))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    _need(flow, "nu", "track_max_second_moment", "a second-moment stage")
    nu_max = jax.tree.map(jnp.maximum, state.nu_max, flow.nu)
    return flow._replace(nu=nu_max), MaxSecondMomentState(nu_max=_cast(nu_max, nu_dtype))

  return optax.GradientTransformation(init_fn, update_fn)


class CenteredSecondMomentState(NamedTuple):
  """``grad_mean``: the EMA of the gradient used to centre RMSProp."""

  grad_mean: chex.ArrayTree


def center_second_moment(decay: float = 0.99) -> optax.GradientTransformation:
  r"""Centred RMSProp: subtract the squared EMA of the gradient from ``v``.

  .. math:: \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t,\qquad
            \mathrm{flow.nu} \leftarrow v_t - \bar g_t^2

  Reference: Graves (2013), eq. 38; ``torch.optim.RMSprop(centered=True)``.
  """
  check.check_decay("decay", decay)

  def init_fn(params):
    return CenteredSecondMomentState(grad_mean=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    _need(flow, "nu", "center_second_moment", "ema_second_moment")
    mean = jax.tree.map(_ema(decay), state.grad_mean, flow.grad)
    nu = jax.tree.map(lambda v, a: v - a * a, flow.nu, mean)
    return flow._replace(nu=nu), CenteredSecondMomentState(grad_mean=mean)

  return optax.GradientTransformation(init_fn, update_fn)


# -------------------------------------------------- bias correction, step size


def bias_correction(
    b1: Optional[float] = 0.9, b2: Optional[float] = 0.999
) -> optax.GradientTransformation:
  r"""Exact bias correction of both moments (Adam's paper form).

  .. math:: \hat m_t = m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t)

  Rewrites ``flow.mu`` and ``flow.nu``; pass ``None`` for a moment to leave
  it alone.  Put it before :func:`adaptive_step_size`, so that ``ε`` is added
  to ``sqrt(v̂)``.  Reference: Kingma & Ba (2015); ``torch.optim.Adam``,
  ``torch_optimizer.Yogi``, every optax optimizer.
  """
  if b1 is not None:
    check.check_decay("b1", b1)
  if b2 is not None:
    check.check_decay("b2", b2)

  def correct(flow: Flow, t: jax.Array) -> Flow:
    if b1 is not None:
      bc1 = 1 - _power(b1, t)
      flow = flow._replace(
          mu=jax.tree.map(lambda m: m / scalar_like(bc1, m), direction(flow))
      )
    if b2 is not None:
      _need(flow, "nu", "bias_correction(b2=...)", "a second-moment stage")
      bc2 = 1 - _power(b2, t)
      flow = flow._replace(
          nu=jax.tree.map(lambda v: v / scalar_like(bc2, v), flow.nu)
      )
    return flow

  return _counting(correct)


def adaptive_step_size(
    eps: float = 1e-8, eps_root: float = 0.0
) -> optax.GradientTransformation:
  r"""The adaptive per-element step size from the second moment.

  .. math:: \eta \leftarrow \eta \cdot \frac{1}{\sqrt{\nu + \epsilon_{root}} + \epsilon}

  ``ε`` outside the root is the convention of Adam and its descendants;
  RMSProp's survey form and Adadelta put it inside (``eps=0, eps_root=ε``).
  ``eps_root > 0`` also keeps ``jax.grad`` through the step finite where
  ``ν = 0``.
  """
  check.check_non_negative("eps", eps)
  check.check_non_negative("eps_root", eps_root)

  def inverse_root(v):
    root = jnp.sqrt(v) if check.is_python_zero(eps_root) else jnp.sqrt(v + eps_root)
    return 1 / (root + eps)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    _need(flow, "nu", "adaptive_step_size", "a second-moment stage")
    return scale_eta(flow, jax.tree.map(inverse_root, flow.nu)), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)


def folded_bias_correction(
    b1: float = 0.9, b2: float = 0.999
) -> optax.GradientTransformation:
  r"""Bias correction folded into the step size, as most authors' codes do.

  .. math:: \eta \leftarrow \eta \cdot \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t}

  With ``η = 1/(sqrt(v) + ε)`` this is Adam with an effective
  ``ε / sqrt(1 - β2^t)``; it differs from :func:`bias_correction` only when
  ``|g|`` is near ``ε``.  Used by the reference codes of diffGrad, AdaBound,
  AdaMod and RAdam.  Put it after :func:`adaptive_step_size`.
  """
  check.check_decay("b1", b1)
  check.check_decay("b2", b2)

  def fold(flow: Flow, t: jax.Array) -> Flow:
    factor = jnp.sqrt(1 - _power(b2, t)) / (1 - _power(b1, t))
    return scale_eta_by_scalar(flow, factor)

  return _counting(fold)


def _sma_lengths(t: jax.Array, b2: float):
  """RAdam's ``ρ_t`` and ``ρ_∞`` (approximate SMA lengths) at step t."""
  rho_inf = 2 / (1 - jnp.asarray(b2, jnp.result_type(float))) - 1
  b2_t = _power(b2, t)
  return rho_inf - 2 * t * b2_t / (1 - b2_t), rho_inf


def rectification_is_active(
    t: jax.Array, b2: float = 0.999, threshold: float = 5.0
) -> jax.Array:
  r"""Whether RAdam's rectified (adaptive) step applies at step ``t >= 1``.

  ``ρ_t = ρ_∞ - 2 t β2^t / (1 - β2^t) >= threshold``, ``ρ_∞ = 2/(1-β2) - 1``.
  """
  return _sma_lengths(t, b2)[0] >= threshold


def rectification(
    b1: float = 0.9,
    b2: float = 0.999,
    threshold: float = 5.0,
    degenerated_to_sgd: bool = False,
) -> optax.GradientTransformation:
  r"""RAdam's variance rectification of the (folded) adaptive step size.

  .. math::
     \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t},\quad
     r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                      {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

  If ``ρ_t >= threshold``: ``η ← r_t η``.  Otherwise the adaptive step is
  dropped: ``η ← 1/(1-β1^t)`` (SGD with the bias-corrected momentum) when
  ``degenerated_to_sgd``, else ``η ← 0`` (no update).  Put it after
  :func:`folded_bias_correction`, as in every reference code.  The authors'
  code and ours use ``ρ_t >= 5``; the paper and the survey say ``ρ_t > 4``
  (they differ at step 5 only, for ``β2 = 0.999``).
  Reference: Liu et al., ICLR 2020; LiyuanLucasLiu/RAdam.
  """
  check.check_decay("b1", b1)
  check.check_decay("b2", b2)
  check.check_number("threshold", threshold, lower=4.0)

  def rectify(flow: Flow, t: jax.Array) -> Flow:
    rho_t, rho_inf = _sma_lengths(t, b2)
    active = rho_t >= threshold
    ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / (
        (rho_inf - 4) * (rho_inf - 2) * rho_t
    )
    r_t = jnp.sqrt(jnp.where(active, ratio, 1.0))  # no NaN in the dead branch
    fallback = 1 / (1 - _power(b1, t)) if degenerated_to_sgd else 0.0
    eta = flow.eta if flow.eta is not None else jax.tree.map(
        lambda _: 1.0, flow.grad
    )
    return flow._replace(
        eta=jax.tree.map(
            lambda e: jnp.where(
                active, scalar_like(r_t, e) * e, scalar_like(fallback, e)
            ),
            eta,
        )
    )

  return _counting(rectify)


# ------------------------------------------------------------------- friction


class FrictionState(NamedTuple):
  """``prev_grad``: g_{t-1} (zero before the first step)."""

  prev_grad: chex.ArrayTree


def _abs_sig(x):
  """AbsSig(x) = 1 / (1 + exp(-|x|)), in [0.5, 1)."""
  return 1 / (1 + jnp.exp(-jnp.abs(x)))


def diffgrad_friction() -> optax.GradientTransformation:
  r"""diffGrad's friction coefficient (DFC) on the first moment.

  .. math:: \xi_t = \mathrm{AbsSig}(g_{t-1} - g_t) = \frac{1}{1 + e^{-|g_{t-1} - g_t|}},
            \qquad m \leftarrow \xi_t\, m

  ``g_0 = 0``, so ``ξ_1 = σ(|g_1|)``.  ``ξ → 1/2`` where the gradient barely
  changes (friction) and ``→ 1`` where it changes fast.  Reference: Dubey et
  al., IEEE TNNLS 2020; authors' ``diffGrad_v2.py`` = ``torch_optimizer.DiffGrad``.
  """

  def init_fn(params):
    return FrictionState(prev_grad=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    xi = jax.tree.map(lambda p, g: _abs_sig(p - g), state.prev_grad, flow.grad)
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    return flow._replace(mu=mu), FrictionState(prev_grad=flow.grad)

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
  then ``m ← ξ_t m``.  The survey
  (Alg. 11) prints ``β2²`` in the middle term, a slip for ``β3²``.  With
  ``β3 = 1`` and a constant history the opposite-sign branch is diffGrad's
  friction.  No reference code is published; the defaults
  ``b3 = 0.5``, ``lam = 0.5`` come from ``benchmarks/adadb_defaults.py``
  (best mean rank over a grid on three problems; λ in {0.5, 1} beats
  λ <= 0.25, while b3 and, with a tuned lr, most differences are within noise).
  Reference: Khan, Jawad & Khan, IEEE Access 9 (2021).
  """
  check.check_number("b3", b3, lower=0.0, upper=1.0)
  check.check_non_negative("lam", lam)

  def init_fn(params):
    # Three distinct buffers: one array shared by three fields cannot be
    # donated to a jitted step ("donate the same buffer twice").
    return AdaDBFrictionState(*(_full_like(params, 0.0) for _ in range(3)))

  def xi_fn(g, g1, g2, g3):
    delta = b3 * (g1 - g) + b3**2 * (g2 - g1) + b3**3 * (g3 - g2)
    sig = _abs_sig(delta)
    # compare signs, not the product: g * g1 underflows to -0 for tiny gradients
    opposite = jnp.sign(g) * jnp.sign(g1) < 0
    return jnp.where(opposite, sig, 1 + lam * sig)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    xi = jax.tree.map(
        xi_fn, flow.grad, state.prev_grad, state.prev_grad_2, state.prev_grad_3
    )
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new_state = AdaDBFrictionState(flow.grad, state.prev_grad, state.prev_grad_2)
    return flow._replace(mu=mu), new_state

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------- learning rate and bounds


def apply_learning_rate(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
  r"""Multiplies the step size by the learning rate: ``η ← α_t η``.

  ``learning_rate`` is a number (possibly traced, for vmapped sweeps) or an
  optax schedule evaluated at the number of steps already taken (``α_1 =
  schedule(0)``, as a torch LR scheduler stepped after each step).
  """
  check.check_learning_rate(learning_rate)
  if callable(learning_rate):
    return _counting(
        lambda flow, t: scale_eta_by_scalar(flow, learning_rate(t - 1))
    )

  def update_fn(updates, state, params=None):
    del params
    return scale_eta_by_scalar(as_flow(updates), learning_rate), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)


def _check_schedule_start(schedule: optax.Schedule) -> None:
  """The bounds divide by α_0 = schedule(0): refuse a concrete zero start."""
  try:  # evaluated like the stage does: on an int32 step count
    start = float(schedule(_zero_count()))
  except (TypeError, jax.errors.ConcretizationTypeError):
    return  # not evaluable outside a trace: nothing to check
  if start <= 0:
    raise ValueError(
        f"bound_step_size scales its bounds by learning_rate(t)/learning_rate(0), "
        f"but the schedule starts at {start}: pass base_lr > 0 (e.g. the peak "
        "learning rate of a warm-up schedule)."
    )


def bound_step_size(
    learning_rate: ScalarOrSchedule,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    *,
    base_lr: Optional[float] = None,
    decay_by_sqrt_t: bool = False,
) -> optax.GradientTransformation:
  r"""AdaBound's dynamic bounds on the per-element step size.

  .. math::
     \alpha^* = \text{final\_lr}\cdot\alpha_t / \alpha_0,\quad
     \eta_l = \alpha^*\Bigl(1 - \frac{1}{\gamma t + 1}\Bigr),\quad
     \eta_u = \alpha^*\Bigl(1 + \frac{1}{\gamma t}\Bigr),\quad
     \eta \leftarrow \mathrm{clip}(\eta, \eta_l, \eta_u)

  The bounds follow a learning-rate schedule (``α_t / α_0``) as the authors'
  code does under a torch LR scheduler; ``base_lr`` overrides ``α_0`` (for a
  schedule that starts at 0).  ``decay_by_sqrt_t=True`` also divides by
  ``sqrt(t)``, as the paper and the survey write (the code does not).  Put it
  after :func:`apply_learning_rate` (η includes the learning rate).
  Reference: Luo et al., ICLR 2019; Luolc/AdaBound (``adabound`` on PyPI).
  """
  check.check_learning_rate(learning_rate)
  check.check_positive("final_lr", final_lr)
  check.check_non_negative("gamma", gamma)
  if base_lr is not None:
    check.check_positive("base_lr", base_lr)
  elif not callable(learning_rate):
    check.check_positive("learning_rate", learning_rate)  # α_0 divides the bounds
  else:
    _check_schedule_start(learning_rate)

  def bound(flow: Flow, t: jax.Array) -> Flow:
    lr_0 = base_lr if base_lr is not None else _at(learning_rate, 0)
    final = final_lr * _at(learning_rate, t - 1) / lr_0
    lower = final * (1 - 1 / (gamma * t + 1))
    upper = final * (1 + 1 / (gamma * t))
    def clip(e):
      clipped = jnp.clip(e, scalar_like(lower, e), scalar_like(upper, e))
      if not decay_by_sqrt_t:
        return clipped
      sqrt_t = jnp.sqrt(jnp.asarray(t, jnp.result_type(float)))
      return clipped / scalar_like(sqrt_t, e)

    _need(flow, "eta", "bound_step_size", "apply_learning_rate")
    return flow._replace(eta=jax.tree.map(clip, flow.eta))

  return _counting(bound)


class MomentalBoundState(NamedTuple):
  """``eta_ema``: AdaMod's EMA of the step sizes, s_t."""

  eta_ema: chex.ArrayTree


def momental_bound(b3: float = 0.999) -> optax.GradientTransformation:
  r"""AdaMod's momental bound: cap the step size by its own EMA.

  .. math:: s_t = \beta_3 s_{t-1} + (1-\beta_3)\eta_t,\qquad \eta_t \leftarrow \min(\eta_t, s_t)

  ``s_0 = 0`` and ``s`` is not bias-corrected, so early steps are damped.
  Put it after :func:`apply_learning_rate`.  Reference: Ding et al. (2019),
  lancopku/AdaMod (``adamod`` on PyPI; its docstring's 0.9999 is a slip).
  """
  check.check_decay("b3", b3)

  def init_fn(params):
    return MomentalBoundState(eta_ema=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    _need(flow, "eta", "momental_bound", "apply_learning_rate")
    ema = jax.tree.map(_ema(b3), state.eta_ema, flow.eta)
    eta = jax.tree.map(jnp.minimum, flow.eta, ema)
    return flow._replace(eta=eta), MomentalBoundState(eta_ema=ema)

  return optax.GradientTransformation(init_fn, update_fn)


# ----------------------------------------------------------- momentum, delta


class MomentumState(NamedTuple):
  """``momentum``: the momentum buffer ("velocity")."""

  momentum: chex.ArrayTree


def trace_momentum(
    momentum: float = 0.9, nesterov: bool = False
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
  """
  check.check_number("momentum", momentum, lower=0.0, upper=1.0, upper_inclusive=False)

  def init_fn(params):
    return MomentumState(momentum=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    d = step(flow)
    buf = jax.tree.map(lambda b, x: momentum * b + x, state.momentum, d)
    mu = jax.tree.map(lambda x, b: x + momentum * b, d, buf) if nesterov else buf
    return flow._replace(mu=mu, eta=None), MomentumState(momentum=buf)

  return optax.GradientTransformation(init_fn, update_fn)


class DeltaAccumulatorState(NamedTuple):
  """``delta_nu``: Adadelta's EMA of squared updates, E[Δ²]."""

  delta_nu: chex.ArrayTree


def delta_accumulator(rho: float = 0.9, eps: float = 1e-6) -> optax.GradientTransformation:
  r"""Adadelta's step: the RMS of past updates over the RMS of gradients.

  .. math:: \Delta_t = \sqrt{\frac{E[\Delta^2]_{t-1} + \epsilon}{E[g^2]_t + \epsilon}}\; m_t,\qquad
            E[\Delta^2]_t = \rho E[\Delta^2]_{t-1} + (1-\rho)\Delta_t^2

  ``E[g²]_t`` is ``flow.nu`` (put a second-moment stage such as
  :func:`ema_second_moment` first) and ``m_t`` the current direction (the
  raw gradient, or a first moment).  Writes ``flow.mu = Δ_t``; it sets the
  step size itself, so no step-size stage may come before it.  One square
  root of the ratio, not ``sqrt(E[Δ²]+ε) / sqrt(E[g²]+ε)`` as the reference
  writes it: the same number to round-off, and XLA on CPU then keeps one
  parameter-sized temporary per step instead of two
  (benchmarks/results/perf.md).  Reference: Zeiler (2012);
  ``torch.optim.Adadelta`` (= ``optax.adadelta`` with a learning rate).

  Example::

    optax.chain(ema_second_moment(0.9), delta_accumulator(0.9, 1e-6),
                apply_learning_rate(1.0), descend())   # Adadelta
  """
  check.check_decay("rho", rho)
  check.check_non_negative("eps", eps)
  ema = _ema(rho)

  def init_fn(params):
    return DeltaAccumulatorState(delta_nu=_full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    _need(flow, "nu", "delta_accumulator", "a second-moment stage (ema_second_moment)")
    if flow.eta is not None:
      raise ValueError(
          "delta_accumulator sets Adadelta's step size itself: put it before any "
          "step-size stage (adaptive_step_size, apply_learning_rate, ...), right "
          "after the second moment."
      )
    delta = jax.tree.map(
        lambda a, v, m: jnp.sqrt((a + eps) / (v + eps)) * m,
        state.delta_nu, flow.nu, direction(flow),
    )
    acc = jax.tree.map(lambda a, d: ema(a, d * d), state.delta_nu, delta)
    return flow._replace(mu=delta), DeltaAccumulatorState(delta_nu=acc)

  return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------- weight decay


def _masked(tx: optax.GradientTransformation, mask: MaskOrFn):
  return tx if mask is None else optax.masked(tx, mask)


def add_l2_penalty(weight_decay: float, mask: MaskOrFn = None) -> optax.GradientTransformation:
  r"""L2 regularisation: adds ``λθ`` to the raw gradient, ``g ← g + λθ``.

  Acts on plain gradients: put it first, before any optax_survey stage (the
  moments then see the penalised gradient, as in ``torch.optim.Adam``'s
  ``weight_decay``).  ``mask`` selects the leaves that decay (optax style: a
  pytree of bools or a function of the params).
  """
  check.check_non_negative("weight_decay", weight_decay)

  def update_fn(updates, state, params=None):
    if isinstance(updates, Flow):
      raise TypeError(
          "add_l2_penalty acts on the raw gradient: put it before the first "
          "optax_survey stage of the chain."
      )
    if params is None:  # (optax has no public NO_PARAMS_MSG)
      raise ValueError("add_l2_penalty needs `params` in update().")
    new = jax.tree.map(lambda g, p: g + weight_decay * p, updates, params)
    return new, state

  tx = optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
  return _masked(tx, mask)


def add_decoupled_weight_decay(
    learning_rate: ScalarOrSchedule, weight_decay: float, mask: MaskOrFn = None
) -> optax.GradientTransformation:
  r"""Decoupled weight decay: ``u ← u - α_t λ θ`` (``θ ← (1 - α_t λ) θ``).

  Acts on the final updates: put it after :func:`descend`.  The decay scales
  with the (scheduled) learning rate ``α_t``, as in ``torch.optim.AdamW``,
  AdaMod, AdaBelief and RAdam.  Reference: Loshchilov & Hutter, ICLR 2019.
  """
  check.check_learning_rate(learning_rate)
  check.check_non_negative("weight_decay", weight_decay)

  def decay(updates, params, lr):
    if isinstance(updates, Flow):
      raise TypeError(
          "add_decoupled_weight_decay acts on the final updates: put it after "
          "descend()."
      )
    if params is None:
      raise ValueError("add_decoupled_weight_decay needs `params` in update().")
    rate = lr * weight_decay
    return jax.tree.map(  # keep the updates' dtype (bf16 stays bf16)
        lambda u, p: (u - scalar_like(rate, p) * p).astype(jnp.result_type(u)),
        updates, params,
    )

  if callable(learning_rate):
    def init_fn(params):
      del params
      return CountState(count=_zero_count())

    def update_fn(updates, state, params=None):
      lr = learning_rate(state.count)
      return decay(updates, params, lr), CountState(optax.safe_increment(state.count))
  else:
    init_fn = lambda _: optax.EmptyState()

    def update_fn(updates, state, params=None):
      return decay(updates, params, learning_rate), state

  return _masked(optax.GradientTransformation(init_fn, update_fn), mask)


# --------------------------------------------------------------------- output


def descend() -> optax.GradientTransformation:
  r"""The last stage: collapses the flow into the update ``u = -η ⊙ m``.

  Updates have the dtype of the gradients (like the parameters they are added
  to).  After it, optax built-ins and :func:`add_decoupled_weight_decay`
  act on plain updates.
  """

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    new = jax.tree.map(
        lambda s, g: (-s).astype(jnp.result_type(g)), step(flow), flow.grad
    )
    return new, state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update_fn)
