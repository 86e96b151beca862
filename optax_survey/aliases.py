r"""The survey's optimizers, each an ``optax.chain`` of primitives.

Defaults reproduce the authors' reference code, or ``torch.optim`` where no
authors' code exists (README's optimizer table; ``docs/slips.md``).  Every
alias takes ``learning_rate`` first (a number or an optax schedule), every
other argument by keyword, and returns an
``optax.GradientTransformationExtraArgs`` usable like any optax optimizer.
Every chain starts with :func:`~optax_survey.count_steps`, its one step
counter (``optax.tree_utils.tree_get(state, "count")``).

``weight_decay`` is applied as each reference applies it: as an L2 penalty on
the gradient (:func:`~optax_survey.add_l2_penalty`) or decoupled
(:func:`~optax_survey.add_decoupled_weight_decay`); ``mask`` selects the
decayed leaves.  The weight-decay stage is always in the chain (idle at a
Python ``0``), so a plain optimizer and the same optimizer under
``optax.inject_hyperparams`` have the same state.  ``mu_dtype`` and
``nu_dtype`` (where taken) are the dtypes of the stored first and second
moments (``nu_dtype`` also of AMSGrad's and AMSBound's running max), e.g.
``jnp.bfloat16`` to halve their memory: see
:func:`~optax_survey.ema_first_moment` and
:func:`~optax_survey.ema_second_moment`; ``None`` keeps the parameters'
dtype.  ``eps_root`` is added inside the square root (as in optax), e.g. to
differentiate through an update.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import optax

from optax_survey import _validation as check
from optax_survey import primitives as P
from optax_survey.primitives import MaskOrFn, ScalarOrSchedule

__all__ = [
    "sgd", "sgdm", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
    "amsgrad", "yogi", "adabelief", "diffgrad", "adadb", "adabound",
    "amsbound", "adamod", "radam",
]

# AdaDB has no published code: defaults chosen by benchmarks/adadb_defaults.py
# (results in benchmarks/results/adadb_defaults.md; b3 is within noise).
ADADB_B3 = 0.5
ADADB_LAM = 0.5

Optimizer: TypeAlias = optax.GradientTransformationExtraArgs


def _chain(*stages: optax.GradientTransformation | None) -> Optimizer:
  return optax.chain(*(s for s in stages if s is not None))


def _adam_moments(b1, b2, mu_dtype, nu_dtype):
  return (
      P.ema_first_moment(b1, mu_dtype=mu_dtype),
      P.ema_second_moment(b2, nu_dtype=nu_dtype),
  )


# --------------------------------------------------------------- SGD family


def sgd(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
) -> Optimizer:
  r"""Stochastic gradient descent (survey Alg. 1).

  .. math:: \theta \leftarrow \theta - \alpha_t (g_t + \lambda\theta)

  Reference: Robbins & Monro (1951); ``torch.optim.SGD`` (lr 1e-3, L2 decay).
  Equals ``optax.sgd``.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay (a pytree of bools or a function of params).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.sgd(0.1)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # -α g
    >>> print(np.round(np.asarray(updates), 4))
    [-0.1  0.2]

  References:
    Robbins & Monro, `A Stochastic Approximation Method
    <https://doi.org/10.1214/aoms/1177729586>`__, The Annals of Mathematical
    Statistics 22(3), 1951.

    Reference code: `torch.optim.SGD
    <https://pytorch.org/docs/stable/generated/torch.optim.SGD.html>`__.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def sgdm(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
) -> Optimizer:
  r"""SGD with (heavy-ball) momentum (survey Alg. 2).

  .. math:: b_t = \mu b_{t-1} + g_t,\qquad \theta \leftarrow \theta - \alpha_t b_t

  Reference: Polyak (1964); ``torch.optim.SGD(momentum=0.9)`` =
  ``optax.sgd(lr, momentum=0.9)``.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    momentum: μ in [0, 1).
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored momentum buffer (``None``: the params').

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.sgdm(0.1, momentum=0.9)
    >>> state = tx.init(params)
    >>> for _ in range(2):   # b_1 = g, then b_2 = 0.9 g + g
    ...   updates, state = tx.update(grads, state, params)
    ...   print(np.round(np.asarray(updates), 4))
    [-0.1  0.2]
    [-0.19  0.38]

  References:
    Polyak, `Some methods of speeding up the convergence of iteration methods
    <https://doi.org/10.1016/0041-5553(64)90137-5>`__, USSR Computational
    Mathematics and Mathematical Physics, 1964.

    Reference code: `torch.optim.SGD
    <https://pytorch.org/docs/stable/generated/torch.optim.SGD.html>`__ with ``momentum=0.9``.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.trace_momentum(momentum, mu_dtype=mu_dtype),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def nag(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
) -> Optimizer:
  r"""Nesterov's accelerated gradient (survey Alg. 3), re-parametrised.

  .. math:: b_t = \mu b_{t-1} + g_t,\qquad \theta \leftarrow \theta - \alpha_t (g_t + \mu b_t)

  The survey evaluates the gradient at the look-ahead point ``θ - αμb``; this
  is the same trajectory under ``θ' = θ - αμ b`` (Sutskever et al. 2013,
  tested).  Reference: ``torch.optim.SGD(nesterov=True)`` =
  ``optax.sgd(..., nesterov=True)``.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    momentum: μ in [0, 1).
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored momentum buffer (``None``: the params').

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.nag(0.1, momentum=0.9)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # -α (g + μ b_1), b_1 = g
    >>> print(np.round(np.asarray(updates), 4))
    [-0.19  0.38]

  References:
    Nesterov, Soviet Mathematics Doklady 27, 1983 (the look-ahead gradient).

    Sutskever, Martens, Dahl & Hinton, `On the importance of initialization and
    momentum in deep learning <https://proceedings.mlr.press/v28/sutskever13.html>`__,
    ICML 2013 (the re-parametrised form computed here).

    Reference code: `torch.optim.SGD
    <https://pytorch.org/docs/stable/generated/torch.optim.SGD.html>`__ with ``nesterov=True``.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.trace_momentum(momentum, nesterov=True, mu_dtype=mu_dtype),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


# ----------------------------------------------------- classic adaptive rates


def adagrad(
    learning_rate: ScalarOrSchedule = 1e-2,
    *,
    eps: float = 1e-10,
    initial_accumulator_value: float = 0.0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdaGrad (survey Alg. 4).

  .. math:: G_t = G_{t-1} + |g_t|^2,\qquad
            \theta \leftarrow \theta - \frac{\alpha g_t}{\sqrt{G_t} + \epsilon}

  Reference: Duchi et al. (2011); ``torch.optim.Adagrad``.  ``optax.adagrad``
  differs (ε inside the root, ``G_0 = 0.1``).  The survey puts ε inside.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    eps: ε >= 0, outside the root.
    initial_accumulator_value: G_0 >= 0.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    nu_dtype: dtype of ``G``: ``jnp.float32`` suits bfloat16 parameters; a
      bfloat16 ``G`` stops growing after a few hundred steps
      (:func:`~optax_survey.accumulate_second_moment`).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adagrad(0.1)
    >>> state = tx.init(params)
    >>> for _ in range(2):   # G_1 = g², G_2 = 2 g²: the step shrinks by sqrt(2)
    ...   updates, state = tx.update(grads, state, params)
    ...   print(np.round(np.asarray(updates), 4))
    [-0.1  0.1]
    [-0.0707  0.0707]

  References:
    Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`__,
    JMLR 12, 2011.

    Reference code: `torch.optim.Adagrad
    <https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html>`__.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.accumulate_second_moment(initial_accumulator_value, nu_dtype=nu_dtype),
      P.adaptive_step_size(eps), P.apply_learning_rate(learning_rate), P.descend(),
  )


def adadelta(
    learning_rate: ScalarOrSchedule = 1.0,
    *,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""Adadelta.

  .. math::
     E[g^2]_t = \rho E[g^2]_{t-1} + (1-\rho) |g_t|^2,\quad
     \Delta_t = \frac{\sqrt{E[\Delta^2]_{t-1} + \epsilon}}{\sqrt{E[g^2]_t + \epsilon}} g_t,\quad
     \theta \leftarrow \theta - \alpha \Delta_t

  Reference: Zeiler (2012); ``torch.optim.Adadelta`` = ``optax.adadelta(1.0)``
  (``optax.adadelta()`` without a learning rate ascends).

  Args:
    learning_rate: α >= 0, or an optax schedule.
    rho: ρ in [0, 1), the decay of both averages.
    eps: ε >= 0, inside both roots.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    nu_dtype: dtype of the stored ``E[g²]`` only; ``E[Δ²]`` stays in the
      parameters' real dtype.  Adadelta's step is a ratio of the two,
      sensitive to rounding: on a coupled quadratic where the float32 run
      oscillates slowly near the minimum, a bfloat16 ``E[g²]`` diverged
      within 10 000 steps.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adadelta(1.0)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # the first step: sqrt(ε/((1-ρ) g²)) g
    >>> print(np.round(np.asarray(updates), 4))
    [-0.0032  0.0032]

  References:
    Zeiler, `ADADELTA: An Adaptive Learning Rate Method
    <https://arxiv.org/abs/1212.5701>`__, 2012.

    Reference code: `torch.optim.Adadelta
    <https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html>`__.
  """
  rho = check.check_decay("rho", rho)  # before ema_second_moment, which calls it b2
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.ema_second_moment(rho, nu_dtype=nu_dtype), P.delta_accumulator(rho, eps),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def rmsprop(
    learning_rate: ScalarOrSchedule = 1e-2,
    *,
    decay: float = 0.99,
    eps: float = 1e-8,
    momentum: float | None = None,
    centered: bool = False,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""RMSProp (survey Alg. 5), optionally centred and with momentum.

  .. math:: v_t = \alpha v_{t-1} + (1-\alpha) |g_t|^2,\qquad
            \theta \leftarrow \theta - \frac{\lambda g_t}{\sqrt{v_t} + \epsilon}

  With ``momentum=μ``: ``b_t = μ b_{t-1} + g_t/(sqrt(v_t)+ε)``, ``θ ← θ - λ
  b_t``; centred: ``v_t - ḡ_t²`` under the root.  Reference: Tieleman &
  Hinton (2012); ``torch.optim.RMSprop`` (decay 0.99, ε outside the root).
  ``optax.rmsprop(lr, decay=0.99, eps_in_sqrt=False)`` matches; optax's
  defaults (0.9, ε inside) do not.

  Args:
    learning_rate: λ >= 0, or an optax schedule.
    decay: α in [0, 1).
    eps: ε >= 0, outside the root.
    momentum: μ in [0, 1) or ``None`` (no momentum stage, as ``optax.rmsprop``;
      ``torch.optim.RMSprop``'s ``momentum=0``).  A number, 0 included, adds
      the momentum buffer.
    centered: centred RMSProp.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored momentum buffer and centred mean.
    nu_dtype: dtype of the stored ``v``.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.rmsprop(0.01)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # -λ g / sqrt((1 - 0.99) g²)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.1  0.1]

  References:
    Tieleman & Hinton, `Lecture 6.5: RMSProp
    <https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf>`__,
    COURSERA: Neural Networks for Machine Learning, 2012.

    Graves, `Generating Sequences With Recurrent Neural Networks
    <https://arxiv.org/abs/1308.0850>`__, 2013 (centred, eq. 38).

    Reference code: `torch.optim.RMSprop
    <https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html>`__.
  """
  decay = check.check_decay("decay", decay)  # ema_second_moment would call it b2
  check.check_moment_dtype("mu_dtype", mu_dtype)  # even where no stage stores one
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.ema_second_moment(decay, nu_dtype=nu_dtype),
      P.center_second_moment(decay, mu_dtype=mu_dtype) if centered else None,
      P.adaptive_step_size(eps),
      None if momentum is None else P.trace_momentum(momentum, mu_dtype=mu_dtype),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


# ------------------------------------------------------------ Adam family


def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""Adam (survey Alg. 6, with ε outside the root as in the paper).

  .. math:: m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad
            v_t = \beta_2 v_{t-1} + (1-\beta_2) |g_t|^2,\quad
            \theta \leftarrow \theta - \alpha \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

  ``m̂ = m/(1-β1^t)``, ``v̂ = v/(1-β2^t)``; with ``nesterov=True``, NAdam's
  ``m̂`` (Dozat 2016, as ``optax.nadam``).  Reference: Kingma & Ba, ICLR
  2015; ``torch.optim.Adam`` (L2 ``weight_decay``) = ``optax.adam``.  The
  survey's ``sqrt(v̂ + δ)`` is a slip.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    nesterov: NAdam.
    weight_decay: L2 penalty λ >= 0 (``torch.optim.Adam``'s).
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adam(1e-3)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # the first step is -α sign(g)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.001  0.001]

  References:
    Kingma & Ba, `Adam: A Method for Stochastic Optimization
    <https://arxiv.org/abs/1412.6980>`__, ICLR 2015.

    Dozat, `Incorporating Nesterov Momentum into Adam
    <https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ>`__, ICLR 2016
    workshop (``nesterov=True``).

    Reference code: `torch.optim.Adam
    <https://pytorch.org/docs/stable/generated/torch.optim.Adam.html>`__.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.bias_correction(b1, b2, nesterov=nesterov),
      P.adaptive_step_size(eps, eps_root),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 1e-2,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdamW: Adam with decoupled weight decay.

  .. math:: \theta \leftarrow \theta - \alpha_t\Bigl(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
            + \lambda \theta\Bigr)

  Reference: Loshchilov & Hutter, ICLR 2019; ``torch.optim.AdamW``
  (``weight_decay=1e-2``; ``optax.adamw`` defaults to 1e-4).

  Args:
    learning_rate: α >= 0, or an optax schedule (the decay follows it).
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    nesterov: NAdamW.
    weight_decay: decoupled decay λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adamw(1e-3, weight_decay=0.1)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # -α (sign(g) + λ θ)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.0011  0.0008]

  References:
    Loshchilov & Hutter, `Decoupled Weight Decay Regularization
    <https://arxiv.org/abs/1711.05101>`__, ICLR 2019.

    Reference code: `torch.optim.AdamW
    <https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html>`__.
  """
  return _chain(
      P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.bias_correction(b1, b2, nesterov=nesterov),
      P.adaptive_step_size(eps, eps_root),
      P.apply_learning_rate(learning_rate),
      P.add_decoupled_weight_decay(learning_rate, weight_decay, mask),
      P.descend(),
  )


def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AMSGrad (survey Alg. 8) in the form of ``torch.optim.Adam(amsgrad=True)``.

  .. math:: v^{\max}_t = \max(v^{\max}_{t-1}, v_t),\qquad
            \theta \leftarrow \theta
            - \alpha\frac{\hat m_t}{\sqrt{v^{\max}_t/(1-\beta_2^t)} + \epsilon}

  The max is of the raw ``v``; ``optax.amsgrad`` and the survey take the max
  of ``v̂`` (differs from step 2).  Reference: Reddi et al., ICLR 2018.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment and its running max.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.amsgrad(1e-3)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.001  0.001]
    >>> nu_max = optax.tree_utils.tree_get(state, "nu_max")   # the max of the raw v
    >>> print(np.round(np.asarray(nu_max), 4))
    [0.001 0.004]

  References:
    Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
    <https://openreview.net/forum?id=ryQu7f-RZ>`__, ICLR 2018.

    Reference code: `torch.optim.Adam
    <https://pytorch.org/docs/stable/generated/torch.optim.Adam.html>`__ with ``amsgrad=True``.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.track_max_second_moment(nu_dtype=nu_dtype),
      P.bias_correction(b1, b2),
      P.adaptive_step_size(eps, eps_root),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def yogi(
    learning_rate: ScalarOrSchedule = 1e-2,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-3,
    eps_root: float = 0.0,
    initial_accumulator_value: float = 1e-6,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""Yogi (survey Alg. 7, with the sign of the update fixed).

  .. math:: v_t = v_{t-1} - (1-\beta_2)\,\mathrm{sign}(v_{t-1} - |g_t|^2)\,|g_t|^2,\qquad
            \theta \leftarrow \theta - \alpha\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

  ``m_0 = v_0 = 1e-6``.  Reference: Zaheer et al., NeurIPS 2018;
  ``torch_optimizer.Yogi`` = ``optax.yogi`` (lr 1e-2, ε 1e-3, L2 decay).

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    initial_accumulator_value: m_0 = v_0 >= 0.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.yogi(1e-2)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.01  0.01]

  References:
    Zaheer et al., `Adaptive Methods for Nonconvex Optimization
    <https://papers.nips.cc/paper/8186-adaptive-methods-for-nonconvex-optimization>`__,
    NeurIPS 2018.

    Reference code: ``torch_optimizer.Yogi``
    (`jettify/pytorch-optimizer <https://github.com/jettify/pytorch-optimizer>`__)
    and ``optax.yogi``.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      P.ema_first_moment(b1, initial_value=initial_accumulator_value, mu_dtype=mu_dtype),
      P.yogi_second_moment(b2, initial_accumulator_value, nu_dtype=nu_dtype),
      P.bias_correction(b1, b2),
      P.adaptive_step_size(eps, eps_root),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def adabelief(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    rectify: bool = True,
    degenerated_to_sgd: bool = True,
    threshold: float = 5.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdaBelief (survey Alg. 9), as ``adabelief-pytorch==0.2.1`` computes it.

  .. math:: s_t = \beta_2 s_{t-1} + (1-\beta_2)|g_t - m_t|^2 + \epsilon,\qquad
            \theta \leftarrow \theta - \alpha\frac{\hat m_t}{\sqrt{s_t/(1-\beta_2^t)} + \epsilon}

  Defaults of the authors' 0.2.1 package: ε=1e-16, ``rectify=True``
  (RAdam-style rectification, folded, SGD below the threshold when
  ``degenerated_to_sgd``) and decoupled weight decay.  The paper, the survey
  and ``optax.adabelief`` have no rectification: ``rectify=False``.
  Reference: Zhuang et al., NeurIPS 2020; juntang-zhuang/Adabelief-Optimizer.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, added to ``s`` every step and to its root.
    eps_root: >= 0, inside the root.
    weight_decay: decoupled decay λ >= 0.
    rectify: RAdam's rectification (the authors' default).
    degenerated_to_sgd: SGD with momentum while rectification is inactive.
    threshold: the rectification threshold, >= 4.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adabelief(1e-3)   # rectified: SGD on m̂ while ρ_t < 5
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.001  0.002]
    >>> tx = osv.adabelief(1e-3, rectify=False)   # the paper's rule: 1/0.9 of α sign(g)
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.0011  0.0011]

  References:
    Zhuang et al., `AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients <https://arxiv.org/abs/2010.07468>`__, NeurIPS 2020.

    Reference code: `juntang-zhuang/Adabelief-Optimizer
    <https://github.com/juntang-zhuang/Adabelief-Optimizer>`__
    (``adabelief-pytorch==0.2.1``).
  """
  step_size: tuple[optax.GradientTransformation, ...]
  if rectify:
    step_size = (
        P.adaptive_step_size(eps, eps_root),
        P.folded_bias_correction(b1, b2),
        P.rectification(b1, b2, threshold, degenerated_to_sgd),
    )
  else:
    step_size = (P.bias_correction(b1, b2), P.adaptive_step_size(eps, eps_root))
  return _chain(
      P.count_steps(),
      P.ema_first_moment(b1, mu_dtype=mu_dtype),
      P.belief_second_moment(b2, eps, nu_dtype=nu_dtype),
      *step_size,
      P.apply_learning_rate(learning_rate),
      P.add_decoupled_weight_decay(learning_rate, weight_decay, mask),
      P.descend(),
  )


def diffgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""diffGrad (survey Alg. 10), as the authors' ``diffGrad_v2.py``.

  .. math:: \xi_t = \frac{1}{1 + e^{-|g_{t-1} - g_t|}},\qquad
            \theta \leftarrow \theta - \alpha\frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
            \frac{\xi_t m_t}{\sqrt{v_t} + \epsilon}

  Bias correction folded into the step, L2 weight decay.  Reference: Dubey et
  al., IEEE TNNLS 2020; shivram1987/diffGrad = ``torch_optimizer.DiffGrad``.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: L2 penalty λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.diffgrad(1e-3)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # -α AbsSig(g) sign(g) (g_0 = 0)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.0007  0.0009]

  References:
    Dubey et al., `diffGrad: An Optimization Method for Convolutional Neural
    Networks <https://arxiv.org/abs/1909.11015>`__, IEEE TNNLS, 2020.

    Reference code: `shivram1987/diffGrad <https://github.com/shivram1987/diffGrad>`__
    (``diffGrad_v2.py``) = ``torch_optimizer.DiffGrad``.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.diffgrad_friction(),
      P.adaptive_step_size(eps, eps_root),
      P.folded_bias_correction(b1, b2),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def adadb(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = ADADB_B3,
    lam: float = ADADB_LAM,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdaDB (survey Alg. 11): diffGrad with AdaDB's three-difference friction.

  .. math::
     \Delta g_t = \beta_3 (g_{t-1} - g_t) + \beta_3^2 (g_{t-2} - g_{t-1})
                 + \beta_3^3 (g_{t-3} - g_{t-2}),

     \xi_t = \mathrm{AbsSig}(\Delta g_t)\ \text{(signs of } g_t, g_{t-1} \text{ differ)},\quad
     1 + \lambda\,\mathrm{AbsSig}(\Delta g_t)\ \text{(otherwise)},

     \theta \leftarrow \theta - \alpha\frac{\xi_t \hat m_t}{\sqrt{\hat v_t} + \epsilon}

  No code is published and the paper's text is not available here, so the
  survey's Algorithm 11 is the specification (with its ``β2²`` read as
  ``β3²``; exact bias correction as printed).  The paper's adaptive batch
  size is outside an optimizer's scope.  Defaults ``b3=0.5``, ``lam=0.5``
  come from ``benchmarks/adadb_defaults.py``: best mean rank of the final loss
  over a 5x5 grid (b3, λ) on a noisy quadratic, Rosenbrock and a small MLP at
  lr 1e-3 and at a tuned lr, ranks within 1 tied, ties to the smaller λ and
  then b3 nearest 0.5.  λ in {0.5, 1} clearly beats λ <= 0.25 (partly because
  ξ > 1 enlarges the step); b3 is not resolved (within noise), and with a
  tuned lr the quadratic and MLP differences are all within seed noise.
  Complex parameters: "signs differ" is an angle above 90° between
  ``g_t`` and ``g_{t-1}`` (:func:`~optax_survey.adadb_friction`).
  Reference: Khan, Jawad & Khan, IEEE Access 9 (2021).

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    b3: the weight of the gradient differences, in [0, 1].
    lam: λ >= 0.
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: L2 penalty λ_wd >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adadb(1e-3)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))   # ξ = 1 + λ AbsSig(Δg) (g_0 = 0)
    [-0.0013  0.0014]

  References:
    Khan, Jawad & Khan, `Adadb: Adaptive Diff-Batch Optimization Technique for
    Gradient Descent <https://doi.org/10.1109/ACCESS.2021.3096976>`__, IEEE
    Access 9, 2021.

    No reference code is published: the survey's Algorithm 11 is the
    specification.
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.adadb_friction(b3, lam),
      P.bias_correction(b1, b2),
      P.adaptive_step_size(eps, eps_root),
      P.apply_learning_rate(learning_rate), P.descend(),
  )


def adabound(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    amsbound: bool = False,
    base_lr: float | None = None,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdaBound (survey Alg. 12), as the authors' code computes it.

  .. math::
     \eta_t = \mathrm{clip}\Bigl(
        \frac{\alpha_t\sqrt{1-\beta_2^t}}{(1-\beta_1^t)(\sqrt{v_t}+\epsilon)},
        \eta_l(t), \eta_u(t)\Bigr),\qquad \theta \leftarrow \theta - \eta_t m_t

  with ``η_l = α*(1 - 1/(γt+1))``, ``η_u = α*(1 + 1/(γt))``, ``α* =
  final_lr·α_t/α_0``: the bounds follow the learning rate, scheduled or
  injected, as the authors' code follows its ``lr`` (``α_0`` is the learning
  rate at ``init``).  No ``1/sqrt(t)`` factor (the paper and survey have
  one: use :func:`~optax_survey.bound_step_size` with ``decay_by_sqrt_t``).
  ``amsbound=True`` tracks the max of ``v``.  L2 weight decay.
  Reference: Luo et al., ICLR 2019; Luolc/AdaBound (``adabound`` on PyPI).

  Args:
    learning_rate: α > 0 (or 0 with ``base_lr``), or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    final_lr: the SGD learning rate the bounds converge to, > 0.
    gamma: the convergence speed of the bounds, >= 0.
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: L2 penalty λ >= 0.
    amsbound: AMSBound.
    base_lr: α_0 > 0 for a schedule that starts at 0 (warm-up).
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment (and its max).

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adabound(1e-3, final_lr=0.1)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)   # inside the bounds at t = 1
    >>> print(np.round(np.asarray(updates), 4))
    [-0.001  0.001]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate
    <https://arxiv.org/abs/1902.09843>`__, ICLR 2019.

    Reference code: `Luolc/AdaBound <https://github.com/Luolc/AdaBound>`__
    (``adabound`` on PyPI).
  """
  return _chain(
      P.add_l2_penalty(weight_decay, mask), P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.track_max_second_moment(nu_dtype=nu_dtype) if amsbound else None,
      P.adaptive_step_size(eps, eps_root),
      P.folded_bias_correction(b1, b2),
      P.apply_learning_rate(learning_rate),
      P.bound_step_size(learning_rate, final_lr, gamma, base_lr=base_lr),
      P.descend(),
  )


def amsbound(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    final_lr: float = 0.1,
    gamma: float = 1e-3,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    base_lr: float | None = None,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AMSBound: :func:`adabound` with the max of the raw second moment.

  .. math:: v^{\max}_t = \max(v^{\max}_{t-1}, v_t),\qquad
            \eta_t = \mathrm{clip}\Bigl(\frac{\alpha_t\sqrt{1-\beta_2^t}}
            {(1-\beta_1^t)(\sqrt{v^{\max}_t}+\epsilon)}, \eta_l(t), \eta_u(t)\Bigr)

  Reference: Luo et al., ICLR 2019; ``adabound.AdaBound(amsbound=True)``.

  Args:
    learning_rate: α > 0 (or 0 with ``base_lr``), or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    final_lr: the SGD learning rate the bounds converge to, > 0.
    gamma: the convergence speed of the bounds, >= 0.
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: L2 penalty λ >= 0.
    base_lr: α_0 > 0 for a schedule that starts at 0 (warm-up).
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment and its max.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.amsbound(1e-3, final_lr=0.1)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates), 4))
    [-0.001  0.001]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate
    <https://arxiv.org/abs/1902.09843>`__, ICLR 2019.

    Reference code: `Luolc/AdaBound <https://github.com/Luolc/AdaBound>`__
    (``adabound.AdaBound(amsbound=True)``).
  """
  return adabound(
      learning_rate, b1=b1, b2=b2, final_lr=final_lr, gamma=gamma, eps=eps,
      eps_root=eps_root, weight_decay=weight_decay, amsbound=True, base_lr=base_lr,
      mask=mask, mu_dtype=mu_dtype, nu_dtype=nu_dtype,
  )


def adamod(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""AdaMod (survey Alg. 13), as the authors' code computes it.

  .. math::
     \eta_t = \frac{\alpha\sqrt{1-\beta_2^t}}{(1-\beta_1^t)(\sqrt{v_t}+\epsilon)},\quad
     s_t = \beta_3 s_{t-1} + (1-\beta_3)\eta_t,\quad
     \theta \leftarrow \theta - \min(\eta_t, s_t)\, m_t

  Folded bias correction, raw ``m``, decoupled weight decay, ``b3=0.999``.
  Reference: Ding et al. (2019); lancopku/AdaMod (``adamod`` on PyPI).

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    b3: β3 in [0, 1), the decay of the EMA of step sizes.
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: decoupled decay λ >= 0.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.adamod(1e-3)
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state, params)
    >>> print(np.round(np.asarray(updates / 1e-3), 4))   # s_1 = (1 - β3) η_1: 1/1000 of Adam's
    [-0.001  0.001]

  References:
    Ding et al., `An Adaptive and Momental Bound Method for Stochastic Learning
    <https://arxiv.org/abs/1910.12249>`__, 2019.

    Reference code: `lancopku/AdaMod <https://github.com/lancopku/AdaMod>`__
    (``adamod`` on PyPI).
  """
  return _chain(
      P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.adaptive_step_size(eps, eps_root),
      P.folded_bias_correction(b1, b2),
      P.apply_learning_rate(learning_rate),
      P.momental_bound(b3),
      P.add_decoupled_weight_decay(learning_rate, weight_decay, mask),
      P.descend(),
  )


def radam(
    learning_rate: ScalarOrSchedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    threshold: float = 5.0,
    degenerated_to_sgd: bool = False,
    mask: MaskOrFn = None,
    mu_dtype: Any | None = None,
    nu_dtype: Any | None = None,
) -> Optimizer:
  r"""RAdam (survey Alg. 14), as the authors' code computes it.

  .. math::
     \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\quad
     \theta \leftarrow \theta - \alpha r_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
     \frac{m_t}{\sqrt{v_t}+\epsilon}\quad (\rho_t \ge \text{threshold})

  Earlier steps are SGD with ``m̂`` when ``degenerated_to_sgd`` and no update
  otherwise (the authors' default).  Decoupled weight decay, applied only on
  steps that update, as in the authors' code.  ``torch.optim.RAdam`` is this
  with ``degenerated_to_sgd=True`` (and ``decoupled_weight_decay=True``).
  ``ρ_t`` is computed without cancellation (float32 steps match PyTorch's
  double-precision scalars).  Reference: Liu et al., ICLR 2020;
  LiyuanLucasLiu/RAdam = ``pytorch_optimizer.RAdam``.

  Args:
    learning_rate: α >= 0, or an optax schedule.
    b1: β1 in [0, 1).
    b2: β2 in [0, 1).
    eps: ε >= 0, outside the root.
    eps_root: >= 0, inside the root.
    weight_decay: decoupled decay λ >= 0.
    threshold: the rectification threshold, >= 4.
    degenerated_to_sgd: SGD with ``m̂`` while rectification is inactive.
    mask: the leaves that decay.
    mu_dtype: dtype of the stored first moment.
    nu_dtype: dtype of the stored second moment.

  Returns:
    An ``optax.GradientTransformationExtraArgs``.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
    >>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.radam(1e-3)
    >>> state = tx.init(params)
    >>> moved = []
    >>> for _ in range(6):   # no update while ρ_t < 5: the first five steps
    ...   updates, state = tx.update(grads, state, params)
    ...   moved.append(bool(jnp.any(updates != 0)))
    >>> moved
    [False, False, False, False, False, True]

  References:
    Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
    <https://arxiv.org/abs/1908.03265>`__, ICLR 2020.

    Reference code: `LiyuanLucasLiu/RAdam <https://github.com/LiyuanLucasLiu/RAdam>`__;
    `torch.optim.RAdam
    <https://pytorch.org/docs/stable/generated/torch.optim.RAdam.html>`__ is it with
    ``degenerated_to_sgd=True``.
  """
  decay_rate = learning_rate
  if not degenerated_to_sgd and not check.is_python_zero(weight_decay):
    lr_fn = learning_rate if callable(learning_rate) else (lambda _: learning_rate)
    decay_rate = lambda count: lr_fn(count) * P.rectification_is_active(  # noqa: E731
        optax.safe_increment(count), b2, threshold  # no int32 wrap-around
    )
  return _chain(
      P.count_steps(),
      *_adam_moments(b1, b2, mu_dtype, nu_dtype),
      P.adaptive_step_size(eps, eps_root),
      P.folded_bias_correction(b1, b2),
      P.rectification(b1, b2, threshold, degenerated_to_sgd),
      P.apply_learning_rate(learning_rate),
      P.add_decoupled_weight_decay(decay_rate, weight_decay, mask),
      P.descend(),
  )
