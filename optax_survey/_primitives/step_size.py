r"""Bias corrections and the adaptive step size ``flow.eta``.

Adam's exact bias correction (:func:`bias_correction`), the step size from the
second moment (:func:`adaptive_step_size`), the correction folded into the
step size as most authors' codes do it (:func:`folded_bias_correction`) and
RAdam's rectification.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from optax_survey import _scalars as S
from optax_survey import _validation as check
from optax_survey._primitives.helpers import _stateless
from optax_survey.flow import (
  FIRST_MOMENT,
  FOLDED_BIAS_CORRECTION,
  FRICTION,
  LEARNING_RATE,
  MU_BIAS_CORRECTED,
  NU_BIAS_CORRECTED,
  NU_USED,
  RECTIFIED,
  Flow,
  record,
  refuse,
  require,
  scalar_like,
  scale_eta,
  scale_eta_by_scalar,
  step_number,
)

__all__ = [
    "bias_correction", "adaptive_step_size", "folded_bias_correction",
    "rectification_is_active", "rectification",
]


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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.bias_correction(0.9, 0.999), osv.adaptive_step_size(1e-8),
    ...     osv.apply_learning_rate(1e-3), osv.descend(),  # Adam
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # m̂_1 = g, v̂_1 = g²: -α sign(g)
    [-0.001  0.001]
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

  return _stateless(correct, stage)


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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_second_moment(0.99), osv.adaptive_step_size(1e-8),
    ...     osv.apply_learning_rate(1e-2), osv.descend(),  # RMSProp
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # -0.01 g / sqrt(0.01 g²)
    [-0.1  0.1]
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

  return _stateless(adapt, stage)


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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.adaptive_step_size(1e-8), osv.folded_bias_correction(0.9, 0.999),
    ...     osv.apply_learning_rate(1e-3), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # α sqrt(bc2)/bc1 · m / sqrt(v) = α sign(g)
    [-0.001  0.001]
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

  return _stateless(fold, stage)


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

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> print(osv.rectification_is_active(jnp.arange(1, 8)))   # ρ_t >= 5 from t = 6
    [False False False False False  True  True]
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

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.adaptive_step_size(1e-8), osv.folded_bias_correction(0.9, 0.999),
    ...     osv.rectification(0.9, 0.999), osv.apply_learning_rate(1e-3), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> moved = []
    >>> for _ in range(6):
    ...   updates, state = tx.update(grads, state, params)
    ...   moved.append(bool(jnp.any(updates != 0)))
    >>> moved   # no update while ρ_t < 5 (degenerated_to_sgd=False)
    [False, False, False, False, False, True]
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

  return _stateless(rectify, stage)
