"""Lookahead on plain parameter pytrees, checked against optax.lookahead and NumPy."""

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


def _find(tree, cls):
  """The one node of type ``cls`` in an optimizer state."""
  found = [x for x in jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, cls))
           if isinstance(x, cls)]
  assert len(found) == 1, (cls, tree)
  return found[0]


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
          fast=p, slow=lookahead_slow_params(s), count=s.steps_since_sync, inner=s.inner_state,
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
    # bias-correction count: not reset at syncs
    assert int(_find(s.inner_state, osv.CountState).count) == i
  assert isinstance(_find(s.inner_state, osv.FirstMomentState), osv.FirstMomentState)


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
  assert int(s_j.steps_since_sync) == 1


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

  (_, s, _, _), (norms, fast, slow_traj, lp) = jax.device_get(_compile(run)())
  assert np.all(norms > 1.0)  # the clip is active at every step
  for a, b in zip(jax.tree.leaves((fast, slow_traj)), jax.tree.leaves((lp.fast, lp.slow))):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  slow = lookahead_slow_params(s)  # outside jit too: the same array as inside
  np.testing.assert_array_equal(slow["w"], slow_traj["w"][-1])
  # and optax's final slow weights, to the tolerance above (XLA may fuse the
  # two implementations' φ + α(θ - φ) differently: 1 ulp apart)
  np.testing.assert_allclose(slow["w"], lp.slow["w"][-1], rtol=1e-13, atol=1e-14)
  assert isinstance(s[1], LookaheadState)
  assert jax.tree.structure(slow) == jax.tree.structure(PARAMS0)
  # after 2 syncs the slow weights are not the initial ones
  assert not np.allclose(slow["w"], PARAMS0["w"])


def test_slow_params_inside_inject_hyperparams_and_nested_chains():
  tx = optax.inject_hyperparams(
      lambda learning_rate: optax.chain(
          optax.identity(),
          optax.chain(lookahead(osv.sgd(learning_rate), sync_period=1, slow_step_size=0.5)),
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


# ------------------------------------------------------------ the defaults


def test_defaults_are_the_authors_k5_alpha08():
  """lookahead(adam) with no settings runs as optax.lookahead(k=5, α=0.8)
  (michaelrzhang/lookahead's la_steps=5, la_alpha=0.8), and not as α=0.5
  (the old default) or k=3."""
  steps, r = _runs(5, 0.8)
  tx = lookahead(inner_opt())

  def run():
    def body(carry, _):
      p, s = carry
      u, s = tx.update(quad_grad(p), s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, lookahead_slow_params(s), s.steps_since_sync, s.slow_momentum)

    return jax.lax.scan(body, (PARAMS0, tx.init(PARAMS0)), None, length=steps)[1]

  fast, slow, since, slow_momentum = jax.device_get(_compile(run)())
  assert slow_momentum is None  # pullback_momentum="none"
  np.testing.assert_array_equal(since, np.arange(1, steps + 1) % 5)
  for a, b in zip(jax.tree.leaves((fast, slow)), jax.tree.leaves((r["ofast"], r["oslow"]))):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
  # the check can fail: other settings give other trajectories
  for other in (_runs(5, 0.5)[1], _runs(3, 0.8)[1]):
    n = min(steps, other["oslow"]["w"].shape[0])
    assert np.max(np.abs(slow["w"][:n] - other["oslow"]["w"][:n])) > 1e-3


def test_settings_are_keyword_only():
  with pytest.raises(TypeError):
    lookahead(osv.sgd(0.1), 5, 0.5)  # pylint: disable=too-many-function-args


# ------------------------------------------------- pullback_momentum: oracles


def _flat(tree, steps=None):
  """The leaves of ``tree`` in one vector (one row per step with ``steps``)."""
  leaves = jax.tree.leaves(jax.device_get(tree))
  if steps is None:
    return np.concatenate([np.asarray(x).reshape(-1) for x in leaves])
  return np.concatenate([np.asarray(x).reshape(steps, -1) for x in leaves], axis=1)


def _trajectory(tx, steps, noise=None, record=None):
  """Runs ``tx`` on the quadratic (plus ``noise[t]``, a params-shaped tree with a
  leading time axis) in a jitted lax.scan; returns, per step, the fast weights
  flattened, the slow ones flattened and ``record(state)``."""
  if noise is None:
    noise = jax.tree.map(lambda p: jnp.zeros((steps,) + p.shape, p.dtype), PARAMS0)

  def run():
    def body(carry, n):
      p, s = carry
      g = jax.tree.map(jnp.add, quad_grad(p), n)
      u, s = tx.update(g, s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, lookahead_slow_params(s), record(s) if record else None)

    return jax.lax.scan(body, (PARAMS0, tx.init(PARAMS0)), noise)[1]

  fast, slow, rec = jax.device_get(_compile(run)())
  return _flat(fast, steps), _flat(slow, steps), rec


def _np_quadratic():
  return _flat(PARAMS0).astype(np.float64), _flat(CURV), _flat(TARGET)


def _np_sync(x, slow, moments, cached, mode, alpha):
  """Lookahead's sync, transcribed: φ ← φ + α(θ - φ), θ ← φ; each first moment
  zeroed ("reset") or m ← α m + (1-α) m_φ, m_φ ← m ("pullback")."""
  slow = slow + alpha * (x - slow)
  if mode == "reset":
    moments = [np.zeros_like(m) for m in moments]
  elif mode == "pullback":
    moments = [alpha * m + (1 - alpha) * c for m, c in zip(moments, cached)]
    cached = [m.copy() for m in moments]
  return slow.copy(), slow, moments, cached


def np_adam_lookahead(steps, k, alpha, mode, lr=0.1, b1=0.9, b2=0.999, eps=1e-8):
  """Adam (Kingma & Ba, Alg. 1) inside lookahead, in NumPy float64."""
  x, h, c = _np_quadratic()
  slow, m, v, m_slow = x.copy(), np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
  out = {"fast": [], "slow": [], "mu": [], "m_slow": []}
  for t in range(1, steps + 1):
    g = h * (x - c)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    if t % k == 0:
      x, slow, (m,), (m_slow,) = _np_sync(x, slow, [m], [m_slow], mode, alpha)
    for name, val in zip(out, (x, slow, m, m_slow)):
      out[name].append(val.copy())
  return {name: np.stack(val) for name, val in out.items()}


@functools.lru_cache(maxsize=None)
def _adam_pullback_run(mode):
  k, alpha, steps = 4, 0.6, 34
  tx = lookahead(inner_opt(), sync_period=k, slow_step_size=alpha, pullback_momentum=mode)
  fast, slow, (mu, slow_momentum) = _trajectory(
      tx, steps, record=lambda s: (_find(s.inner_state, osv.FirstMomentState).mu,
                                   s.slow_momentum))
  return (k, alpha, steps), fast, slow, mu, slow_momentum


@pytest.mark.parametrize("mode", ["none", "reset", "pullback"])
def test_pullback_momentum_around_adam_matches_numpy(mode):
  (k, alpha, steps), fast, slow, mu, slow_momentum = _adam_pullback_run(mode)
  ref = np_adam_lookahead(steps, k, alpha, mode)
  tol = dict(rtol=1e-12, atol=1e-13)
  np.testing.assert_allclose(fast, ref["fast"], **tol)
  np.testing.assert_allclose(slow, ref["slow"], **tol)
  np.testing.assert_allclose(_flat(mu, steps), ref["mu"], **tol)
  synced = np.arange(1, steps + 1) % k == 0
  if mode == "pullback":
    assert isinstance(slow_momentum, tuple) and len(slow_momentum) == 1
    m_slow = _flat(slow_momentum[0], steps)
    np.testing.assert_allclose(m_slow, ref["m_slow"], **tol)
    # right after a sync the first moment is its slow copy
    np.testing.assert_array_equal(_flat(mu, steps)[synced], m_slow[synced])
  else:
    assert slow_momentum is None
  if mode == "reset":
    assert np.all(_flat(mu, steps)[synced] == 0)
  if mode != "none":  # the check can fail: the moment handling changes the run
    plain = np_adam_lookahead(steps, k, alpha, "none")
    assert np.max(np.abs(fast - plain["fast"])) > 1e-4
    other = np_adam_lookahead(steps, k, alpha, {"reset": "pullback", "pullback": "reset"}[mode])
    assert np.max(np.abs(fast - other["fast"])) > 1e-4


def np_centered_rmsprop_momentum_lookahead(
    steps, k, alpha, mode, noise, lr, decay, momentum, eps, pull_grad_mean=False):
  """torch.optim.RMSprop(centered=True, momentum) inside lookahead, in NumPy.

  Only the momentum buffer is a first moment; ``pull_grad_mean=True`` also
  (wrongly) treats the centred mean ḡ as one, to show the test tells them apart.
  """
  x, h, c = _np_quadratic()
  slow = x.copy()
  v, gbar, b = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
  b_slow, gbar_slow = np.zeros_like(x), np.zeros_like(x)
  out = {"fast": [], "slow": [], "momentum": [], "grad_mean": [], "nu": [], "b_slow": []}
  for t in range(1, steps + 1):
    g = h * (x - c) + noise[t - 1]
    v = decay * v + (1 - decay) * g * g
    gbar = decay * gbar + (1 - decay) * g
    b = momentum * b + g / (np.sqrt(v - gbar * gbar) + eps)
    x = x - lr * b
    if t % k == 0:
      if pull_grad_mean:
        x, slow, (b, gbar), (b_slow, gbar_slow) = _np_sync(
            x, slow, [b, gbar], [b_slow, gbar_slow], mode, alpha)
      else:
        x, slow, (b,), (b_slow,) = _np_sync(x, slow, [b], [b_slow], mode, alpha)
    for name, val in zip(out, (x, slow, b, gbar, v, b_slow)):
      out[name].append(val.copy())
  return {name: np.stack(val) for name, val in out.items()}


@pytest.mark.parametrize("mode", ["reset", "pullback"])
def test_pullback_momentum_acts_on_rmsprop_momentum_not_on_the_centred_mean(mode):
  """Centred RMSProp with momentum has two gradient EMAs: the centred mean ḡ
  (CenteredSecondMomentState, part of the second moment) and the momentum
  buffer (MomentumState).  Only the buffer is pulled back / reset."""
  k, alpha, steps = 3, 0.7, 33
  hyper = dict(lr=0.02, decay=0.9, momentum=0.9, eps=1e-8)
  rng = np.random.default_rng(1)
  noise = [rng.normal(scale=0.5, size=(steps,) + p.shape) for p in jax.tree.leaves(PARAMS0)]
  noise_tree = jax.tree.unflatten(jax.tree.structure(PARAMS0), [jnp.asarray(n) for n in noise])
  inner = osv.rmsprop(hyper["lr"], decay=hyper["decay"], momentum=hyper["momentum"],
                      eps=hyper["eps"], centered=True)
  tx = lookahead(inner, sync_period=k, slow_step_size=alpha, pullback_momentum=mode)

  def record(s):
    return dict(
        momentum=_find(s.inner_state, osv.MomentumState).momentum,
        grad_mean=_find(s.inner_state, osv.CenteredSecondMomentState).grad_mean,
        nu=_find(s.inner_state, osv.SecondMomentState).nu,
        slow_momentum=s.slow_momentum,
    )

  fast, slow, rec = _trajectory(tx, steps, noise_tree, record)
  np_noise = np.concatenate([n.reshape(steps, -1) for n in noise], axis=1)
  ref = np_centered_rmsprop_momentum_lookahead(steps, k, alpha, mode, np_noise, **hyper)
  tol = dict(rtol=1e-12, atol=1e-13)
  np.testing.assert_allclose(fast, ref["fast"], **tol)
  np.testing.assert_allclose(slow, ref["slow"], **tol)
  for name in ("momentum", "grad_mean", "nu"):
    np.testing.assert_allclose(_flat(rec[name], steps), ref[name], **tol, err_msg=name)
  if mode == "pullback":
    assert len(rec["slow_momentum"]) == 1  # the momentum buffer only
    np.testing.assert_allclose(_flat(rec["slow_momentum"][0], steps), ref["b_slow"], **tol)
  else:
    assert rec["slow_momentum"] is None
  # the check can fail: treating ḡ as a first moment gives another run
  wrong = np_centered_rmsprop_momentum_lookahead(
      steps, k, alpha, mode, np_noise, **hyper, pull_grad_mean=True)
  assert np.max(np.abs(_flat(rec["grad_mean"], steps) - wrong["grad_mean"])) > 1e-3
  assert np.max(np.abs(fast - wrong["fast"])) > 1e-6


def test_pullback_of_optax_first_moments_against_the_inner_optimizer():
  """Around optax's own stages (ScaleByAdamState.mu and TraceState.trace, two
  first moments): between syncs the inner state is the inner optimizer's; at
  a sync each moment is α m + (1-α) m_φ, with m the inner optimizer's and m_φ
  the state's previous slow_momentum; ν and the counts are left alone."""
  k, alpha = 3, 0.7
  inner = optax.chain(optax.scale_by_adam(), optax.trace(0.9), optax.scale(-0.05))
  tx = lookahead(inner, sync_period=k, slow_step_size=alpha, pullback_momentum="pullback")
  update, inner_update = jax.jit(tx.update), jax.jit(inner.update)
  p, s = PARAMS0, tx.init(PARAMS0)
  assert len(s.slow_momentum) == 2
  for i in range(1, 3 * k + 2):
    g = quad_grad(p)
    _, alone = inner_update(g, s.inner_state, p)
    u, new = update(g, s, p)
    p = optax.apply_updates(p, u)
    adam = _find(new.inner_state, optax.ScaleByAdamState)
    trace = _find(new.inner_state, optax.TraceState)
    adam_alone, trace_alone = _find(alone, optax.ScaleByAdamState), _find(alone, optax.TraceState)
    np.testing.assert_array_equal(_flat(adam.nu), _flat(adam_alone.nu))
    assert int(adam.count) == int(adam_alone.count) == i
    if i % k:
      np.testing.assert_array_equal(_flat(adam.mu), _flat(adam_alone.mu))
      np.testing.assert_array_equal(_flat(trace.trace), _flat(trace_alone.trace))
      np.testing.assert_array_equal(_flat(new.slow_momentum), _flat(s.slow_momentum))
    else:
      for got, m, cached in ((adam.mu, adam_alone.mu, s.slow_momentum[0]),
                             (trace.trace, trace_alone.trace, s.slow_momentum[1])):
        expected = alpha * _flat(m) + (1 - alpha) * _flat(cached)
        np.testing.assert_allclose(_flat(got), expected, rtol=1e-14, atol=1e-15)
        assert np.max(np.abs(_flat(got) - _flat(m))) > 1e-4  # it was pulled back
      np.testing.assert_array_equal(_flat(new.slow_momentum[0]), _flat(adam.mu))
      np.testing.assert_array_equal(_flat(new.slow_momentum[1]), _flat(trace.trace))
    s = new


# ----------------------------------------------- pullback_momentum: the state


@pytest.mark.parametrize("mode", ["none", "reset"])
def test_slow_momentum_is_none_without_pullback(mode):
  tx = lookahead(inner_opt(), sync_period=2, pullback_momentum=mode)
  s = tx.init(PARAMS0)
  assert s.slow_momentum is None
  update = jax.jit(tx.update)
  for _ in range(3):
    _, s = update(quad_grad(PARAMS0), s, PARAMS0)
    assert s.slow_momentum is None


@pytest.mark.parametrize("mu_dtype", [None, jnp.float32])
def test_pullback_state_is_stable_under_jit(mu_dtype):
  """slow_momentum: a tuple of zero trees like the first moments at init; the
  jitted update is traced once over several syncs and keeps every shape and
  dtype (a float32 moment of float64 params included)."""
  k = 2
  tx = lookahead(osv.adam(0.1, mu_dtype=mu_dtype), sync_period=k, pullback_momentum="pullback")
  # PARAMS0["b"]["scale"] is weakly typed (jnp.asarray(1.5)), the updated one
  # is not: start from strongly typed params, or jit retraces once for that.
  p = jax.tree.map(lambda x: jnp.asarray(x, x.dtype), PARAMS0)
  assert not any(jax.typeof(x).weak_type for x in jax.tree.leaves(p))
  s = tx.init(p)
  mu = _find(s.inner_state, osv.FirstMomentState).mu
  assert isinstance(s.slow_momentum, tuple) and len(s.slow_momentum) == 1
  assert jax.tree.structure(s.slow_momentum[0]) == jax.tree.structure(PARAMS0)
  for a, b in zip(jax.tree.leaves(s.slow_momentum[0]), jax.tree.leaves(mu)):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.dtype == (jnp.float32 if mu_dtype else jnp.float64)
    assert not np.any(a)
  shapes = jax.eval_shape(lambda: s)
  traces = []

  def step(g, s, p):
    traces.append(1)
    return tx.update(g, s, p)

  step = jax.jit(step)
  for _ in range(3 * k + 1):
    u, s = step(quad_grad(p), s, p)
    p = optax.apply_updates(p, u)
    assert jax.eval_shape(lambda: s) == shapes
  assert len(traces) == 1
  assert int(s.steps_since_sync) == 1
  assert np.any(_flat(s.slow_momentum) != 0)  # it was written at the syncs


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("mode", ["reset", "pullback"])
@pytest.mark.parametrize(
    "inner", [osv.sgd(0.1), osv.adagrad(0.1), osv.rmsprop(0.1, centered=True)],
    ids=["sgd", "adagrad", "rmsprop-centered-no-momentum"])
def test_pullback_without_first_moment_raises_at_init(inner, mode):
  tx = lookahead(inner, pullback_momentum=mode)  # built fine: the state decides
  with pytest.raises(ValueError, match="first moment.*pullback_momentum='none'"):
    tx.init(PARAMS0)
  lookahead(inner).init(PARAMS0)  # "none" needs none


def test_bad_pullback_momentum_raises():
  with pytest.raises(ValueError, match=r"pullback_momentum.*'none', 'reset', 'pullback'.*bogus"):
    lookahead(inner_opt(), pullback_momentum="bogus")
  with pytest.raises(ValueError, match="pullback_momentum"):
    lookahead(inner_opt(), pullback_momentum=True)


def test_factory_instead_of_optimizer_raises():
  with pytest.raises(TypeError, match=r"function adam: call it.*adam\(1e-3\)"):
    lookahead(osv.adam)


# ------------------------------------------------------------ integer leaves


@pytest.mark.parametrize(
    "name,mode", [("sgd", "none"), ("adam", "none"), ("adam", "pullback")])
def test_integer_leaves_keep_dtype_and_value(name, mode):
  """{"w": float32, "step": int32}: runs under jit over several syncs, the int
  leaf stays int32 and 7 (fast and slow), and w is exactly the w of a run
  without the int leaf."""
  k, steps = 3, 3 * 3 + 2
  w0 = jnp.asarray([1.0, -2.0, 0.5, 3.0], jnp.float32)
  h = jnp.asarray([0.5, 1.0, 2.0, 3.0], jnp.float32)

  def make():
    return lookahead(getattr(osv, name)(0.1), sync_period=k, slow_step_size=0.8,
                     pullback_momentum=mode)

  def grad_w(w):
    return h * (w - jnp.float32(0.3))

  def run_with_int():
    tx = make()

    def body(carry, _):
      p, s = carry
      g = {"w": grad_w(p["w"]), "step": jnp.zeros([], jnp.int32)}
      u, s = tx.update(g, s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, lookahead_slow_params(s))

    p0 = {"w": w0, "step": jnp.asarray(7, jnp.int32)}
    return jax.lax.scan(body, (p0, tx.init(p0)), None, length=steps)

  def run_without():
    tx = make()

    def body(carry, _):
      p, s = carry
      u, s = tx.update({"w": grad_w(p["w"])}, s, p)
      p = optax.apply_updates(p, u)
      return (p, s), (p, lookahead_slow_params(s))

    p0 = {"w": w0}
    return jax.lax.scan(body, (p0, tx.init(p0)), None, length=steps)

  (_, s), (fast, slow) = jax.device_get(jax.jit(run_with_int)())
  _, (fast_ref, slow_ref) = jax.device_get(jax.jit(run_without)())
  for tree in (fast, slow):
    assert tree["step"].dtype == np.int32 and tree["w"].dtype == np.float32
    np.testing.assert_array_equal(tree["step"], np.full(steps, 7))
  assert s.slow_params["step"].dtype == np.int32
  np.testing.assert_array_equal(fast["w"], fast_ref["w"])
  np.testing.assert_array_equal(slow["w"], slow_ref["w"])
  # non-trivial: the run moved and the slow weights moved at the syncs
  assert np.all(np.any(slow["w"][k - 1::k] != np.asarray(w0), axis=1))
  assert np.max(np.abs(fast["w"][-1] - np.asarray(w0))) > 0.1


# --------------------------------------------------------------- counters


@pytest.mark.parametrize("mode", ["none", "pullback"])
def test_count_is_the_inner_step_count(mode):
  """tree_get(state, "count") finds exactly one count, the inner optimizer's
  number of updates (not reset at syncs); steps_since_sync cycles 1..k-1, 0."""
  k = 4
  tx = lookahead(inner_opt(), sync_period=k, pullback_momentum=mode)
  s, p = tx.init(PARAMS0), PARAMS0
  assert len(optax.tree_utils.tree_get_all_with_path(s, "count")) == 1
  assert int(optax.tree_utils.tree_get(s, "count")) == 0
  update = jax.jit(tx.update)
  since = []
  for i in range(1, 3 * k + 2):
    u, s = update(quad_grad(p), s, p)
    p = optax.apply_updates(p, u)
    count = optax.tree_utils.tree_get(s, "count")
    assert int(count) == i
    assert count is _find(s.inner_state, osv.CountState).count
    since.append(int(s.steps_since_sync))
  assert since == [1, 2, 3, 0] * 3 + [1]
