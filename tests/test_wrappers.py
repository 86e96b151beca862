"""Lookahead on plain parameter pytrees, checked against optax.lookahead."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey as osv
from optax_survey import LookaheadState, lookahead, lookahead_slow_params

# XLA CPU -O0: halves compile time; both implementations are compiled alike.
FAST_COMPILE = {"xla_backend_optimization_level": 0}

PARAMS0 = {
    "w": jnp.asarray([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]]),
    "b": {"bias": jnp.asarray([0.3, -0.7, 1.1, 2.0]), "scale": jnp.asarray(1.5)},
}
CURV = jax.tree.map(lambda p: 0.5 + jnp.abs(p), PARAMS0)  # curvatures in [0.75, 3.5]
TARGET = jax.tree.map(lambda p: 0.3 * jnp.ones_like(p), PARAMS0)


def quad_grad(p):
  return jax.tree.map(lambda h, x, c: h * (x - c), CURV, p, TARGET)


def inner_opt():
  return osv.adam(0.1)


def _compile(fn):
  return jax.jit(fn).lower().compile(FAST_COMPILE)


@functools.lru_cache(maxsize=None)
def _runs(k: int, alpha: float):
  """Ours and optax.lookahead (same inner adam), 3 sync periods + 2 steps."""
  steps = 3 * k + 2 if k > 1 else 8
  ours = lookahead(inner_opt(), sync_period=k, slow_step_size=alpha)
  theirs = optax.lookahead(inner_opt(), sync_period=k, slow_step_size=alpha)

  def run():
    def body(carry, _):
      p, s, lp, ls = carry
      u, s = ours.update(quad_grad(p), s, p)
      p = optax.apply_updates(p, u)
      lu, ls = theirs.update(quad_grad(lp.fast), ls, lp)
      lp = optax.apply_updates(lp, lu)
      out = dict(
          fast=p, slow=lookahead_slow_params(s), count=s.count, inner=s.inner_state,
          ofast=lp.fast, oslow=lp.slow, ocount=ls.steps_since_sync, oinner=ls.fast_state,
      )
      return (p, s, lp, ls), out

    lp0 = optax.LookaheadParams.init_synced(PARAMS0)
    init = (PARAMS0, ours.init(PARAMS0), lp0, theirs.init(lp0))
    return jax.lax.scan(body, init, None, length=steps)[1]

  return steps, jax.device_get(_compile(run)())


CASES = [(k, a) for k in (1, 3, 5) for a in (0.5, 0.8)]


@pytest.mark.parametrize("k,alpha", CASES)
def test_matches_optax_lookahead_step_by_step(k, alpha):
  steps, r = _runs(k, alpha)
  assert steps >= 3 * k
  for a, b in zip(jax.tree.leaves(r["fast"]), jax.tree.leaves(r["ofast"])):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  for a, b in zip(jax.tree.leaves(r["slow"]), jax.tree.leaves(r["oslow"])):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  # the same inner state (kept across syncs on both sides)
  for a, b in zip(jax.tree.leaves(r["inner"]), jax.tree.leaves(r["oinner"])):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  np.testing.assert_array_equal(r["count"], r["ocount"])
  # non-trivial: the slow weights moved at each sync and only then
  t = np.arange(1, steps + 1)
  slow_w = r["slow"]["w"]
  moved = np.any(slow_w != np.concatenate([PARAMS0["w"][None], slow_w[:-1]]), axis=(1, 2))
  np.testing.assert_array_equal(moved, t % k == 0)


@pytest.mark.parametrize("k,alpha", CASES)
def test_fast_weights_restart_at_slow_weights_after_sync(k, alpha):
  steps, r = _runs(k, alpha)
  t = np.arange(1, steps + 1)
  for fast, slow in zip(jax.tree.leaves(r["fast"]), jax.tree.leaves(r["slow"])):
    synced = t % k == 0
    np.testing.assert_allclose(fast[synced], slow[synced], rtol=4e-16, atol=1e-16)
    if k > 1:  # between syncs the fast weights run ahead
      assert np.all(np.any(fast[~synced] != slow[~synced], axis=tuple(range(1, fast.ndim))))


@pytest.mark.parametrize("k,alpha", CASES)
def test_count_is_kept_modulo_sync_period(k, alpha):
  steps, r = _runs(k, alpha)
  t = np.arange(1, steps + 1)
  assert r["count"].dtype == np.int32
  np.testing.assert_array_equal(r["count"], t % k)
  assert r["count"].min() >= 0 and r["count"].max() < k


def test_sync_closed_form_with_sgd():
  """k = 2, α = 0.8, inner SGD(lr) on a fixed gradient g: after 2 inner steps the
  fast weights are θ0 - 2 lr g, the slow ones θ0 + α(-2 lr g) = θ0 - 1.6 lr g."""
  lr, g = 0.1, jnp.asarray([1.0, -2.0, 0.5])
  theta0 = jnp.asarray([0.0, 1.0, -1.0])
  tx = lookahead(osv.sgd(lr), sync_period=2, slow_step_size=0.8)
  s = tx.init(theta0)
  p = theta0
  expected_fast = [theta0 - lr * g, theta0 - 1.6 * lr * g, theta0 - 2.6 * lr * g,
                   theta0 - (1.6 + 0.8 * 2) * lr * g]
  expected_slow = [theta0, theta0 - 1.6 * lr * g, theta0 - 1.6 * lr * g,
                   theta0 - (1.6 + 0.8 * 2) * lr * g]
  for ef, es in zip(expected_fast, expected_slow):
    u, s = tx.update(g, s, p)
    p = optax.apply_updates(p, u)
    np.testing.assert_allclose(p, ef, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(lookahead_slow_params(s), es, rtol=1e-15, atol=1e-15)


def test_inner_state_is_kept_across_syncs():
  """On a fixed gradient sequence the inner adam state (moments and step count)
  inside lookahead equals that of adam alone, across 3 syncs: no reset."""
  k = 2
  rng = np.random.default_rng(0)
  grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), PARAMS0)
           for _ in range(3 * k + 1)]
  tx = lookahead(inner_opt(), sync_period=k, slow_step_size=0.5)
  alone = inner_opt()
  s, sa, p = tx.init(PARAMS0), alone.init(PARAMS0), PARAMS0
  update, update_alone = jax.jit(tx.update), jax.jit(alone.update)
  for i, g in enumerate(grads, start=1):
    u, s = update(g, s, p)
    p = optax.apply_updates(p, u)
    _, sa = update_alone(g, sa, PARAMS0)
    for a, b in zip(jax.tree.leaves(s.inner_state), jax.tree.leaves(sa)):
      np.testing.assert_array_equal(a, b)
    assert int(s.inner_state[2].count) == i  # bias-correction count: not reset at syncs
  assert isinstance(s.inner_state[0], osv.FirstMomentState)


def test_jit_and_eager_agree():
  tx = lookahead(osv.sgdm(0.1), sync_period=2, slow_step_size=0.5)
  s_e = s_j = tx.init(PARAMS0)
  p_e = p_j = PARAMS0
  update = jax.jit(tx.update)
  for _ in range(3):
    u, s_e = tx.update(quad_grad(p_e), s_e, p_e)
    p_e = optax.apply_updates(p_e, u)
    u, s_j = update(quad_grad(p_j), s_j, p_j)
    p_j = optax.apply_updates(p_j, u)
  for a, b in zip(jax.tree.leaves((p_e, s_e)), jax.tree.leaves((p_j, s_j))):
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
  assert int(s_j.count) == 1


def test_update_without_params_raises():
  tx = lookahead(inner_opt())
  state = tx.init(PARAMS0)
  with pytest.raises(ValueError, match="`params`"):
    tx.update(quad_grad(PARAMS0), state)


def test_init_copies_params():
  """The slow weights are a copy, not an alias of the (possibly donated) params."""
  p = {"x": jnp.asarray([1.0, 2.0])}
  s = lookahead(osv.sgd(0.1)).init(p)
  assert s.slow_params["x"] is not p["x"]
  np.testing.assert_array_equal(s.slow_params["x"], p["x"])


def test_slow_params_nested_in_chain():
  """chain(clip, lookahead(adam)) equals optax.lookahead(chain(clip, adam)) and
  lookahead_slow_params finds the slow weights inside the chain's state."""
  k, alpha, steps = 3, 0.5, 7
  ours = optax.chain(optax.clip_by_global_norm(1.0),
                     lookahead(inner_opt(), sync_period=k, slow_step_size=alpha))
  theirs = optax.lookahead(optax.chain(optax.clip_by_global_norm(1.0), inner_opt()),
                           sync_period=k, slow_step_size=alpha)

  def run():
    def body(carry, _):
      p, s, lp, ls = carry
      g = quad_grad(p)
      u, s = ours.update(g, s, p)
      p = optax.apply_updates(p, u)
      lu, ls = theirs.update(quad_grad(lp.fast), ls, lp)
      lp = optax.apply_updates(lp, lu)
      return (p, s, lp, ls), (optax.tree.norm(g), p, lookahead_slow_params(s), lp)

    lp0 = optax.LookaheadParams.init_synced(PARAMS0)
    init = (PARAMS0, ours.init(PARAMS0), lp0, theirs.init(lp0))
    return jax.lax.scan(body, init, None, length=steps)

  (_, s, _, _), (norms, fast, slow, lp) = jax.device_get(_compile(run)())
  assert np.all(norms > 1.0)  # the clip is active at every step
  for a, b in zip(jax.tree.leaves((fast, slow)), jax.tree.leaves((lp.fast, lp.slow))):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  slow = lookahead_slow_params(s)  # outside jit too
  np.testing.assert_array_equal(slow["w"], lp.slow["w"][-1])
  assert isinstance(s[1], LookaheadState)
  assert jax.tree.structure(slow) == jax.tree.structure(PARAMS0)
  # after 2 syncs the slow weights are not the initial ones
  assert not np.allclose(slow["w"], PARAMS0["w"])


def test_slow_params_inside_inject_hyperparams_and_nested_chains():
  tx = optax.inject_hyperparams(
      lambda learning_rate: optax.chain(
          optax.identity(), optax.chain(lookahead(osv.sgd(learning_rate), 1, 0.5))
      )
  )(learning_rate=0.1)
  p = PARAMS0
  s = tx.init(p)
  u, s = tx.update(quad_grad(p), s, p)
  slow = lookahead_slow_params(s)
  # k = 1: slow = θ0 + 0.5(θ0 - lr g - θ0) = θ0 - 0.05 g
  expected = jax.tree.map(lambda x, g: x - 0.05 * g, PARAMS0, quad_grad(PARAMS0))
  for a, b in zip(jax.tree.leaves(slow), jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-15)


def test_slow_params_without_or_with_two_lookaheads_raises():
  s = inner_opt().init(PARAMS0)
  with pytest.raises(ValueError, match="LookaheadState.*found 0"):
    lookahead_slow_params(s)
  two = optax.chain(lookahead(osv.sgd(0.1)), lookahead(osv.sgd(0.1)))
  with pytest.raises(ValueError, match="found 2"):
    lookahead_slow_params(two.init(PARAMS0))


@pytest.mark.parametrize(
    "kwargs,error",
    [({"sync_period": 0}, ValueError), ({"sync_period": 2.0}, TypeError),
     ({"slow_step_size": 1.5}, ValueError), ({"slow_step_size": -0.1}, ValueError)],
)
def test_invalid_arguments(kwargs, error):
  with pytest.raises(error):
    lookahead(osv.sgd(0.1), **kwargs)
