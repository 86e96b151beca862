r"""NumPy transcriptions of the 18 optimizers for complex parameters: a test oracle.

Written from the docstrings of ``optax_survey`` and ``docs/references.md``,
not from the library's code, with optax's convention for complex numbers:

* second moments are built from ``|g|²`` and are real; step sizes ``η`` are
  real; maxima, clips, minima and signs act on those real numbers;
* first moments, momentum buffers, gradient differences and updates are
  complex;
* diffGrad's and AdaDB's ``AbsSig`` take the modulus ``|Δg|``; AdaDB's
  "opposite signs" is ``Re(sign(g_t) conj(sign(g_{t-1}))) < 0`` with
  ``sign(z) = z/|z|`` (an angle above 90°; the usual rule for real numbers);
* the gradient handed to an optimizer is the conjugated gradient of a real
  loss (``jnp.conj(jax.grad(loss)(z))``, i.e. ``∂L/∂x + i ∂L/∂y``).

Everything is plain double precision (complex128 vectors, a Python loop over
steps).  Step-number scalars (``1 - β^t``, RAdam's ``ρ_t`` and ``r_t``) are
computed exactly with ``fractions.Fraction`` and rounded once, so they carry no
cancellation error of their own.

Each optimizer is a class: ``opt = Adam(theta0, lr=...)``, then
``theta = opt.step(theta, g)`` once per step.  ``opt.events`` counts which
branches of the rule were taken (a clip at the lower bound, an AdaDB
"opposite" step...), so a test can check that its problem exercised them.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np

__all__ = [
    "SGD", "SGDM", "NAG", "AdaGrad", "Adadelta", "RMSProp", "Adam", "AdamW",
    "AMSGrad", "Yogi", "AdaBelief", "DiffGrad", "AdaDB", "AdaBound", "AMSBound",
    "AdaMod", "RAdam", "Lookahead",
]


# ------------------------------------------------------------------ helpers


def abs2(z: np.ndarray) -> np.ndarray:
  """``|z|²`` as a real array."""
  return z.real**2 + z.imag**2


def unit(z: np.ndarray) -> np.ndarray:
  """``sign(z) = z/|z|`` (0 at 0); ±1 for real numbers."""
  out = np.zeros_like(z)
  nonzero = z != 0
  out[nonzero] = z[nonzero] / np.abs(z[nonzero])
  return out


def abs_sig(z: np.ndarray) -> np.ndarray:
  """``AbsSig(z) = 1/(1 + exp(-|z|))``, ``|z|`` the modulus."""
  return 1.0 / (1.0 + np.exp(-np.abs(z)))


def one_minus_power(b: float, t: int) -> float:
  """``1 - b^t`` for the binary value of ``b``, exact, rounded once."""
  return float(1 - Fraction(b) ** t)


def radam_rho(b2: float, t: int) -> tuple[float, float]:
  """RAdam's ``(ρ_t, r_t)`` (``r_t`` is NaN where ``ρ_t <= 4``), exact then rounded."""
  b = Fraction(b2)
  rho_inf = 2 / (1 - b) - 1
  rho = rho_inf - 2 * t * b**t / (1 - b**t)
  if rho <= 4:
    return float(rho), math.nan
  ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
  return float(rho), math.sqrt(ratio)


class _Optimizer:
  """Holds the step number ``t`` and the branch counters."""

  def __init__(self, theta0: np.ndarray):
    self.t = 0
    self.zeros = np.zeros_like(theta0)  # complex for complex params
    self.real_zeros = np.zeros(theta0.shape)  # second moments are real
    self.events = Counter()

  def step(self, theta: np.ndarray, g: np.ndarray) -> np.ndarray:
    self.t += 1
    return self._step(theta, g)

  def _step(self, theta, g):
    raise NotImplementedError


# -------------------------------------------------------------- SGD family


class SGD(_Optimizer):
  """``θ ← θ - α g``."""

  def __init__(self, theta0, lr=1e-3):
    super().__init__(theta0)
    self.lr = lr

  def _step(self, theta, g):
    return theta - self.lr * g


class SGDM(_Optimizer):
  """``b ← μ b + g``; ``θ ← θ - α b`` (heavy ball) or ``θ - α (g + μ b)`` (Nesterov)."""

  moment = "b"  # the first-moment buffer Lookahead's pullback acts on

  def __init__(self, theta0, lr=1e-3, momentum=0.9, nesterov=False):
    super().__init__(theta0)
    self.lr, self.mu, self.nesterov = lr, momentum, nesterov
    self.b = self.zeros.copy()

  def _step(self, theta, g):
    self.b = self.mu * self.b + g
    direction = g + self.mu * self.b if self.nesterov else self.b
    return theta - self.lr * direction


def NAG(theta0, lr=1e-3, momentum=0.9):  # noqa: N802  (a class-like factory)
  return SGDM(theta0, lr, momentum, nesterov=True)


# ----------------------------------------------------- classic adaptive rates


class AdaGrad(_Optimizer):
  """``G ← G + |g|²``; ``θ ← θ - α g/(sqrt(G) + ε)``."""

  def __init__(self, theta0, lr=1e-2, eps=1e-10, initial_accumulator_value=0.0):
    super().__init__(theta0)
    self.lr, self.eps = lr, eps
    self.G = self.real_zeros + initial_accumulator_value

  def _step(self, theta, g):
    self.G = self.G + abs2(g)
    return theta - self.lr * g / (np.sqrt(self.G) + self.eps)


class Adadelta(_Optimizer):
  """``E[g²] ← ρE[g²] + (1-ρ)|g|²``; ``Δ = sqrt(E[Δ²]+ε)/sqrt(E[g²]+ε) g``;
  ``E[Δ²] ← ρE[Δ²] + (1-ρ)|Δ|²``; ``θ ← θ - α Δ``."""

  def __init__(self, theta0, lr=1.0, rho=0.9, eps=1e-6):
    super().__init__(theta0)
    self.lr, self.rho, self.eps = lr, rho, eps
    self.Eg2 = self.real_zeros.copy()
    self.Ed2 = self.real_zeros.copy()

  def _step(self, theta, g):
    rho, eps = self.rho, self.eps
    self.Eg2 = rho * self.Eg2 + (1 - rho) * abs2(g)
    delta = np.sqrt(self.Ed2 + eps) / np.sqrt(self.Eg2 + eps) * g
    self.Ed2 = rho * self.Ed2 + (1 - rho) * abs2(delta)
    return theta - self.lr * delta


class RMSProp(_Optimizer):
  """``v ← αv + (1-α)|g|²``; centred: ``ḡ ← αḡ + (1-α)g``, ``v - |ḡ|²`` under the
  root; ``d = g/(sqrt(·) + ε)``; momentum: ``b ← μb + d``, step ``b``."""

  moment = "b"

  def __init__(self, theta0, lr=1e-2, decay=0.99, eps=1e-8, momentum=None,
               centered=False):
    super().__init__(theta0)
    self.lr, self.decay, self.eps = lr, decay, eps
    self.momentum, self.centered = momentum, centered
    self.v = self.real_zeros.copy()
    self.gbar = self.zeros.copy()
    self.b = self.zeros.copy()

  def _step(self, theta, g):
    a = self.decay
    self.v = a * self.v + (1 - a) * abs2(g)
    denominator = self.v
    if self.centered:
      self.gbar = a * self.gbar + (1 - a) * g
      denominator = self.v - abs2(self.gbar)
    d = g / (np.sqrt(denominator) + self.eps)
    if self.momentum is not None:
      self.b = self.momentum * self.b + d
      d = self.b
    return theta - self.lr * d


# ------------------------------------------------------------ Adam family


class _Moments(_Optimizer):
  """``m ← β1 m + (1-β1) g`` (complex), ``v ← β2 v + (1-β2)|g|²`` (real)."""

  moment = "m"

  def __init__(self, theta0, lr, b1, b2, eps):
    super().__init__(theta0)
    self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
    self.m = self.zeros.copy()
    self.v = self.real_zeros.copy()

  def update_moments(self, g):
    self.m = self.b1 * self.m + (1 - self.b1) * g
    self.v = self.b2 * self.v + (1 - self.b2) * abs2(g)

  def corrections(self):
    return one_minus_power(self.b1, self.t), one_minus_power(self.b2, self.t)


class Adam(_Moments):
  """``θ ← θ - α m̂/(sqrt(v̂) + ε)``; L2 ``g ← g + λθ``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    super().__init__(theta0, lr, b1, b2, eps)
    self.wd = weight_decay

  def _step(self, theta, g):
    g = g + self.wd * theta
    self.update_moments(g)
    bc1, bc2 = self.corrections()
    return theta - self.lr * (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)


class AdamW(_Moments):
  """``θ ← θ - α (m̂/(sqrt(v̂) + ε) + λθ)``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2):
    super().__init__(theta0, lr, b1, b2, eps)
    self.wd = weight_decay

  def _step(self, theta, g):
    self.update_moments(g)
    bc1, bc2 = self.corrections()
    adam = (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)
    return theta - self.lr * (adam + self.wd * theta)


class AMSGrad(_Moments):
  """``v_max ← max(v_max, v)`` (raw v); ``θ ← θ - α m̂/(sqrt(v_max/bc2) + ε)``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    super().__init__(theta0, lr, b1, b2, eps)
    self.v_max = self.real_zeros.copy()

  def _step(self, theta, g):
    self.update_moments(g)
    self.events["max kept an older v"] += int(np.sum(self.v_max > self.v))
    self.v_max = np.maximum(self.v_max, self.v)
    bc1, bc2 = self.corrections()
    return theta - self.lr * (self.m / bc1) / (np.sqrt(self.v_max / bc2) + self.eps)


class Yogi(_Moments):
  """``m_0 = v_0 = 1e-6``; ``v ← v - (1-β2) sign(v - |g|²)|g|²``; Adam's step."""

  def __init__(self, theta0, lr=1e-2, b1=0.9, b2=0.999, eps=1e-3,
               initial_accumulator_value=1e-6):
    super().__init__(theta0, lr, b1, b2, eps)
    self.m = self.m + initial_accumulator_value
    self.v = self.v + initial_accumulator_value

  def _step(self, theta, g):
    self.m = self.b1 * self.m + (1 - self.b1) * g
    s = np.sign(self.v - abs2(g))
    self.events["v grows"] += int(np.sum(s < 0))
    self.events["v shrinks"] += int(np.sum(s > 0))
    self.v = self.v - (1 - self.b2) * s * abs2(g)
    bc1, bc2 = self.corrections()
    return theta - self.lr * (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)


class AdaBelief(_Moments):
  """``s ← β2 s + (1-β2)|g - m|² + ε`` (m of this step).  Rectified (default):
  RAdam's folded step with ``s`` for ``v``, ``α m̂`` below the threshold (with
  ``degenerated_to_sgd``); otherwise ``θ ← θ - α m̂/(sqrt(s/bc2) + ε)``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-16, rectify=True,
               degenerated_to_sgd=True, threshold=5.0):
    super().__init__(theta0, lr, b1, b2, eps)
    self.rectify, self.degenerated_to_sgd = rectify, degenerated_to_sgd
    self.threshold = threshold

  def _step(self, theta, g):
    self.m = self.b1 * self.m + (1 - self.b1) * g
    self.v = self.b2 * self.v + (1 - self.b2) * abs2(g - self.m) + self.eps
    bc1, bc2 = self.corrections()
    if not self.rectify:
      return theta - self.lr * (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)
    rho, r = radam_rho(self.b2, self.t)
    if rho >= self.threshold:
      self.events["rectified"] += 1
      step = r * math.sqrt(bc2) / bc1 * self.m / (np.sqrt(self.v) + self.eps)
      return theta - self.lr * step
    self.events["not rectified"] += 1
    return theta - self.lr * self.m / bc1 if self.degenerated_to_sgd else theta


class DiffGrad(_Moments):
  """``ξ = AbsSig(g_{t-1} - g_t)`` (``g_0 = 0``);
  ``θ ← θ - α sqrt(bc2)/bc1 ξ m/(sqrt(v) + ε)`` (folded)."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    super().__init__(theta0, lr, b1, b2, eps)
    self.g_prev = self.zeros.copy()

  def _step(self, theta, g):
    self.update_moments(g)
    xi = abs_sig(self.g_prev - g)
    self.g_prev = g
    bc1, bc2 = self.corrections()
    return theta - self.lr * math.sqrt(bc2) / bc1 * xi * self.m / (np.sqrt(self.v) + self.eps)


class AdaDB(_Moments):
  """``Δg = β3(g1 - g) + β3²(g2 - g1) + β3³(g3 - g2)`` (``g_k = g_{t-k}``, 0 at
  start); ``ξ = AbsSig(Δg)`` where ``g`` and ``g1`` point more than 90° apart,
  ``1 + λ AbsSig(Δg)`` elsewhere (a zero gradient included);
  ``θ ← θ - α ξ m̂/(sqrt(v̂) + ε)``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, b3=0.5, lam=0.5, eps=1e-8):
    super().__init__(theta0, lr, b1, b2, eps)
    self.b3, self.lam = b3, lam
    self.g1, self.g2, self.g3 = (self.zeros.copy() for _ in range(3))

  def _step(self, theta, g):
    self.update_moments(g)
    b3 = self.b3
    dg = b3 * (self.g1 - g) + b3**2 * (self.g2 - self.g1) + b3**3 * (self.g3 - self.g2)
    opposite = np.real(unit(g) * np.conj(unit(self.g1))) < 0
    self.events["opposite"] += int(np.sum(opposite))
    self.events["same"] += int(np.sum(~opposite))
    xi = np.where(opposite, abs_sig(dg), 1 + self.lam * abs_sig(dg))
    self.g1, self.g2, self.g3 = g, self.g1, self.g2
    bc1, bc2 = self.corrections()
    return theta - self.lr * xi * (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)


class AdaBound(_Moments):
  """``η = clip(α sqrt(bc2)/bc1/(sqrt(v) + ε), lo, hi)`` with
  ``lo = final_lr(1 - 1/(γt+1))``, ``hi = final_lr(1 + 1/(γt))``; ``θ ← θ - η m``
  (raw m).  AMSBound: ``v`` replaced by the running max of the raw ``v``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, final_lr=0.1, gamma=1e-3,
               eps=1e-8, amsbound=False):
    super().__init__(theta0, lr, b1, b2, eps)
    self.final_lr, self.gamma, self.amsbound = final_lr, gamma, amsbound
    self.v_max = self.real_zeros.copy()

  def _step(self, theta, g):
    self.update_moments(g)
    v = self.v
    if self.amsbound:
      self.events["max kept an older v"] += int(np.sum(self.v_max > self.v))
      self.v_max = v = np.maximum(self.v_max, self.v)
    bc1, bc2 = self.corrections()
    eta = self.lr * math.sqrt(bc2) / bc1 / (np.sqrt(v) + self.eps)
    gt = self.gamma * self.t
    lo = self.final_lr * (1 - 1 / (gt + 1))
    hi = self.final_lr * (1 + 1 / gt)
    self.events["clipped up to the lower bound"] += int(np.sum(eta < lo))
    self.events["clipped down to the upper bound"] += int(np.sum(eta > hi))
    return theta - np.clip(eta, lo, hi) * self.m


def AMSBound(theta0, **kwargs):  # noqa: N802
  return AdaBound(theta0, amsbound=True, **kwargs)


class AdaMod(_Moments):
  """``η = α sqrt(bc2)/bc1/(sqrt(v) + ε)``; ``s ← β3 s + (1-β3) η`` (``s_0 = 0``);
  ``θ ← θ - min(η, s) m``; decoupled decay ``θ ← θ - λαθ``."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, b3=0.999, eps=1e-8,
               weight_decay=0.0):
    super().__init__(theta0, lr, b1, b2, eps)
    self.b3, self.wd = b3, weight_decay
    self.s = self.real_zeros.copy()

  def _step(self, theta, g):
    self.update_moments(g)
    bc1, bc2 = self.corrections()
    eta = self.lr * math.sqrt(bc2) / bc1 / (np.sqrt(self.v) + self.eps)
    self.s = self.b3 * self.s + (1 - self.b3) * eta
    self.events["capped by the EMA"] += int(np.sum(self.s < eta))
    self.events["not capped"] += int(np.sum(self.s > eta))
    return theta - np.minimum(eta, self.s) * self.m - self.wd * self.lr * theta


class RAdam(_Moments):
  """``ρ_t ≥ threshold``: ``θ ← θ - α r_t sqrt(bc2)/bc1 m/(sqrt(v) + ε)`` (folded);
  else ``θ - α m̂`` (``degenerated_to_sgd``) or no update.  Decoupled decay
  ``- λαθ`` on the steps that update."""

  def __init__(self, theta0, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, threshold=5.0,
               degenerated_to_sgd=False, weight_decay=0.0):
    super().__init__(theta0, lr, b1, b2, eps)
    self.threshold, self.degenerated_to_sgd = threshold, degenerated_to_sgd
    self.wd = weight_decay

  def _step(self, theta, g):
    self.update_moments(g)
    bc1, bc2 = self.corrections()
    rho, r = radam_rho(self.b2, self.t)
    decay = self.wd * self.lr * theta
    if rho >= self.threshold:
      self.events["rectified"] += 1
      step = r * math.sqrt(bc2) / bc1 * self.m / (np.sqrt(self.v) + self.eps)
      return theta - self.lr * step - decay
    self.events["not rectified"] += 1
    if self.degenerated_to_sgd:
      return theta - self.lr * self.m / bc1 - decay
    return theta


# ---------------------------------------------------------------- Lookahead


class Lookahead:
  """Slow weights ``φ = θ_0``; after inner steps k, 2k, ...:
  ``φ ← φ + α(θ - φ)``, ``θ ← φ``.  ``pullback_momentum``: ``"reset"`` zeroes
  the inner first moment at a sync, ``"pullback"`` sets it to
  ``α m + (1-α) m_φ`` and caches that as ``m_φ`` (0 at first)."""

  def __init__(self, inner, theta0, sync_period=5, slow_step_size=0.8,
               pullback_momentum="none"):
    self.inner, self.k, self.alpha = inner, sync_period, slow_step_size
    self.pullback = pullback_momentum
    self.slow = theta0.copy()
    self.cached = np.zeros_like(theta0)
    self.events = inner.events

  def step(self, theta, g):
    fast = self.inner.step(theta, g)
    if self.inner.t % self.k:
      return fast
    self.events["sync"] += 1
    self.slow = self.slow + self.alpha * (fast - self.slow)
    if self.pullback != "none":
      m = getattr(self.inner, self.inner.moment)
      if self.pullback == "reset":
        m = np.zeros_like(m)
      else:
        m = self.alpha * m + (1 - self.alpha) * self.cached
        self.cached = m
      setattr(self.inner, self.inner.moment, m)
    return self.slow.copy()
