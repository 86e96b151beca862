"""The implementations before the performance work, kept to time them side by side.

``benchmarks/train_step.py`` times each optimizer against the version of it
that optax_survey shipped before its step was reworked for speed (same maths:
the float64 parity suites hold for both), so the results page shows
before/after ratios measured in one run.  Each stage here is a frozen copy of
the library's stage at that time, built from the library's own helpers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import optax_survey as osv
from optax_survey import primitives as P
from optax_survey._primitives import helpers as H
from optax_survey.flow import FRICTION, LEARNING_RATE, as_flow, direction, record, require, with_full_eta


def diffgrad_friction():
  def init_fn(params):
    return P.FrictionState(prev_grad=H._full_like(params, 0.0))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    mu = jax.tree.map(
        lambda p, g, m: H._abs_sig(p - g) * m, state.prev_grad, flow.grad, direction(flow)
    )
    new = record(flow, "diffgrad_friction", add=[FRICTION], mu=mu)
    return new, P.FrictionState(prev_grad=H._store(flow.grad, state.prev_grad))

  return optax.GradientTransformation(init_fn, update_fn)


def adadb_friction(b3=0.5, lam=0.5):
  def init_fn(params):
    return P.AdaDBFrictionState(*(H._full_like(params, 0.0) for _ in range(3)))

  def xi_fn(g, g1, g2, g3):
    delta = b3 * (g1 - g) + b3**2 * (g2 - g1) + b3**3 * (g3 - g2)
    sig = H._abs_sig(delta)
    opposite = jnp.real(jnp.sign(g) * jnp.conj(jnp.sign(g1))) < 0
    return jnp.where(opposite, sig, 1 + lam * sig)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    xi = jax.tree.map(xi_fn, flow.grad, state.prev_grad, state.prev_grad_2, state.prev_grad_3)
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new_state = P.AdaDBFrictionState(
        H._store(flow.grad, state.prev_grad), state.prev_grad, state.prev_grad_2)
    return record(flow, "adadb_friction", add=[FRICTION], mu=mu), new_state

  return optax.GradientTransformation(init_fn, update_fn)


def momental_bound(b3=0.999):
  def init_fn(params):
    return P.MomentalBoundState(eta_ema=H._full_like(params, 0.0, real=True))

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    require(flow, "momental_bound", LEARNING_RATE, "put apply_learning_rate() before it")
    flow = with_full_eta(flow)
    ema = jax.tree.map(H._ema(b3), H._widen(state.eta_ema, flow.eta), flow.eta)
    eta = jax.tree.map(jnp.minimum, flow.eta, ema)
    return record(flow, "momental_bound", eta=eta), P.MomentalBoundState(
        eta_ema=H._store(ema, state.eta_ema))

  return optax.GradientTransformation(init_fn, update_fn)


def _adam_front(lr=1e-3):
  return (P.add_l2_penalty(0.0), P.count_steps(), P.ema_first_moment(0.9),
          P.ema_second_moment(0.999))


def diffgrad(lr=1e-3):
  return optax.chain(*_adam_front(), diffgrad_friction(), P.adaptive_step_size(1e-8),
                     P.folded_bias_correction(0.9, 0.999), P.apply_learning_rate(lr),
                     P.descend())


def adadb(lr=1e-3):
  return optax.chain(*_adam_front(), adadb_friction(osv.aliases.ADADB_B3, osv.aliases.ADADB_LAM),
                     P.bias_correction(0.9, 0.999), P.adaptive_step_size(1e-8),
                     P.apply_learning_rate(lr), P.descend())


def adamod(lr=1e-3):
  return optax.chain(P.count_steps(), P.ema_first_moment(0.9), P.ema_second_moment(0.999),
                     P.adaptive_step_size(1e-8), P.folded_bias_correction(0.9, 0.999),
                     P.apply_learning_rate(lr), momental_bound(0.999),
                     P.add_decoupled_weight_decay(lr, 0.0), P.descend())


BEFORE = {"diffgrad": diffgrad, "adadb": adadb, "adamod": adamod}
