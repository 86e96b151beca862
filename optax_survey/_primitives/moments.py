r"""Moment stages: the first moment ``flow.mu`` and the second moment ``flow.nu``.

The EMA of the gradient (:func:`ema_first_moment`); the second moments of
Adam (EMA), AdaGrad (sum), Yogi (sign-additive) and AdaBelief (EMA of
``|g - m|²``); AMSGrad's running maximum and centred RMSProp's mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from optax_survey import _validation as check
from optax_survey._primitives.helpers import (
  _ema,
  _full_like,
  _moment_like,
  _scaled_square,
  _store,
  _widen,
)
from optax_survey.flow import (
  FIRST_MOMENT,
  FRICTION,
  MU_BIAS_CORRECTED,
  NU_BIAS_CORRECTED,
  NU_MAX,
  NU_USED,
  Flow,
  as_flow,
  direction,
  record,
  refuse,
  require,
  second_moment,
)

__all__ = [
    "FirstMomentState", "ema_first_moment", "SecondMomentState", "ema_second_moment",
    "accumulate_second_moment", "yogi_second_moment", "belief_second_moment",
    "MaxSecondMomentState", "track_max_second_moment", "CenteredSecondMomentState",
    "center_second_moment",
]


class FirstMomentState(NamedTuple):
  """``mu``: the EMA of the raw gradient, m_t.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.ema_first_moment(0.9).init(params)
    >>> isinstance(state, osv.FirstMomentState)
    True
    >>> print(state.mu)
    [0. 0.]
  """

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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(osv.ema_first_moment(0.9), osv.apply_learning_rate(0.1), osv.descend())
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(optax.tree_utils.tree_get(state, "mu")), 4))   # m_1 = 0.1 g_1
    [ 0.1 -0.2]
    >>> print(np.round(np.asarray(updates), 4))   # -0.1 m_1
    [-0.01  0.02]
  """
  b1 = check.check_decay("b1", b1)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)

  def init_fn(params):
    return FirstMomentState(mu=_moment_like(params, initial_value, mu_dtype, "ema_first_moment"))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, "ema_first_moment")
    refuse(flow, "ema_first_moment", "mu", "the direction `mu` is already set; put it first")
    mu = jax.tree.map(_ema(b1), _widen(state.mu, flow.grad), flow.grad)
    new = record(flow, "ema_first_moment", add=[FIRST_MOMENT], mu=mu)
    return new, FirstMomentState(mu=_store(mu, state.mu))

  return optax.GradientTransformation(init_fn, update_fn)


class SecondMomentState(NamedTuple):
  """``nu``: the second-moment estimate v_t (EMA, sum, Yogi or belief); real.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.ema_second_moment(0.999).init(params)
    >>> isinstance(state, osv.SecondMomentState)
    True
    >>> print(state.nu)
    [0. 0.]
    >>> print(osv.ema_second_moment(0.999).init(params.astype(jnp.complex64)).nu.dtype)   # real
    float32
  """

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
    flow = as_flow(updates, stage)
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
    >>> print(np.round(np.asarray(optax.tree_utils.tree_get(state, "nu")), 4))   # v_1 = 0.01 g_1²
    [0.01 0.04]
    >>> print(np.round(np.asarray(updates), 4))
    [-0.1  0.1]
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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.accumulate_second_moment(), osv.adaptive_step_size(1e-10),
    ...     osv.apply_learning_rate(1e-2), osv.descend(),  # AdaGrad
    ... )
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(grads, state, params)
    >>> print(optax.tree_utils.tree_get(state, "nu"))   # G_2 = 2 g²
    [2. 8.]
    >>> print(np.round(np.asarray(updates), 4))   # -0.01 g / sqrt(2 g²)
    [-0.0071  0.0071]
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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9, initial_value=1e-6),
    ...     osv.yogi_second_moment(0.999), osv.bias_correction(0.9, 0.999),
    ...     osv.adaptive_step_size(1e-3), osv.apply_learning_rate(1e-2), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> nu = optax.tree_utils.tree_get(state, "nu")
    >>> print(np.round(np.asarray(nu), 4))   # v_0 + 0.001 g² (v_0 < g²)
    [0.001 0.004]
    >>> print(np.round(np.asarray(updates), 4))
    [-0.01  0.01]
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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.belief_second_moment(0.999),
    ...     osv.bias_correction(0.9, 0.999), osv.adaptive_step_size(1e-16),
    ...     osv.apply_learning_rate(1e-3), osv.descend(),  # AdaBelief, rectify=False
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> s = optax.tree_utils.tree_get(state, "nu")   # 0.001 |g - m|², m = 0.1 g
    >>> print(np.round(np.asarray(s / (0.001 * grads**2)), 4))
    [0.81 0.81]
    >>> print(np.round(np.asarray(updates), 4))   # -α m̂ / sqrt(ŝ) = -α sign(g) / 0.9
    [-0.0011  0.0011]
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
  """``nu_max``: the running elementwise maximum of the second moment.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.track_max_second_moment().init(params)
    >>> isinstance(state, osv.MaxSecondMomentState)
    True
    >>> print(state.nu_max)
    [0. 0.]
  """

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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
    ...     osv.track_max_second_moment(), osv.bias_correction(0.9, 0.999),
    ...     osv.adaptive_step_size(1e-8), osv.apply_learning_rate(1e-3), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> for g in (grads, jnp.zeros_like(grads)):   # v shrinks at the second step
    ...   updates, state = tx.update(g, state, params)
    >>> print(np.round(np.asarray(1000 * optax.tree_utils.tree_get(state, "nu")), 4))
    [0.999 3.996]
    >>> print(np.round(np.asarray(1000 * optax.tree_utils.tree_get(state, "nu_max")), 4))
    [1. 4.]
  """
  nu_dtype = check.check_float_dtype("nu_dtype", nu_dtype)
  stage = "track_max_second_moment"

  def init_fn(params):
    return MaxSecondMomentState(nu_max=_full_like(params, 0.0, nu_dtype, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, stage)
    require(flow, stage, "nu", "put a second-moment stage (ema_second_moment) before it")
    refuse(flow, stage, NU_USED, "the step size was already computed from `nu`; put "
           "it before adaptive_step_size()")
    nu = second_moment(flow)  # (after bias_correction: the max of v̂, optax's form)
    nu_max = jax.tree.map(jnp.maximum, _widen(state.nu_max, nu), nu)
    new = record(flow, stage, add=[NU_MAX], nu=nu_max, nu_divisor=None)
    return new, MaxSecondMomentState(nu_max=_store(nu_max, state.nu_max))

  return optax.GradientTransformation(init_fn, update_fn)


class CenteredSecondMomentState(NamedTuple):
  """``grad_mean``: the EMA of the gradient used to centre RMSProp.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> state = osv.center_second_moment(0.99).init(params)
    >>> isinstance(state, osv.CenteredSecondMomentState)
    True
    >>> print(state.grad_mean)
    [0. 0.]
  """

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

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = optax.chain(
    ...     osv.count_steps(), osv.ema_second_moment(0.99), osv.center_second_moment(0.99),
    ...     osv.adaptive_step_size(1e-8), osv.apply_learning_rate(1e-2), osv.descend(),
    ... )
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> grad_mean = optax.tree_utils.tree_get(state, "grad_mean")
    >>> print(np.round(np.asarray(grad_mean), 4))   # ḡ_1 = 0.01 g
    [ 0.01 -0.02]
    >>> print(np.round(np.asarray(updates), 4))   # -0.01 g / sqrt(0.01 g² - ḡ²)
    [-0.1005  0.1005]
  """
  decay = check.check_decay("decay", decay)
  mu_dtype = check.check_moment_dtype("mu_dtype", mu_dtype)
  stage = "center_second_moment"

  def init_fn(params):
    return CenteredSecondMomentState(grad_mean=_moment_like(params, 0.0, mu_dtype, stage))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates, stage)
    require(flow, stage, "nu", "put ema_second_moment() before it")
    for fact in (NU_USED, NU_BIAS_CORRECTED, NU_MAX):
      refuse(flow, stage, fact, "it centres the raw second moment; put it right after "
             "ema_second_moment()")
    mean = jax.tree.map(_ema(decay), _widen(state.grad_mean, flow.grad), flow.grad)
    nu = jax.tree.map(lambda v, a: v - _scaled_square(None, a), flow.nu, mean)
    new = record(flow, stage, nu=nu)
    return new, CenteredSecondMomentState(grad_mean=_store(mean, state.grad_mean))

  return optax.GradientTransformation(init_fn, update_fn)
