"""Unit tests of the primitives, one by one, against closed forms."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey
from optax_survey import flow as F
from optax_survey import primitives as P
from optax_survey.flow import Flow

G = jnp.array([0.5, -2.0, 0.0, 3.0])
PARAMS = jnp.array([1.0, -1.0, 2.0, 0.5])


def close(a, b, rtol=1e-12, atol=1e-15):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def run(tx, grads_list, params=PARAMS):
  """Runs ``tx`` over several inputs; returns the outputs and the final state."""
  state = tx.init(params)
  outs = []
  for g in grads_list:
    out, state = tx.update(g, state, params)
    outs.append(out)
  return outs, state


def counted(*stages):
  """The stages after ``count_steps()``, which gives them the step number t."""
  return optax.chain(P.count_steps(), *stages)


def flow_at(t, *facts, **fields):
  """A flow as earlier stages leave it at step ``t`` (``None``: not counted)."""
  count = None if t is None else jnp.asarray(t, jnp.int32)
  return Flow(count=count, facts=frozenset(facts), **fields)


def eta(f):
  """The whole per-element step size of a flow (its scalar factor folded in)."""
  return F.full_eta(f)


# ------------------------------------------------------------ state fields

STATE_FIELDS = [
    (P.FirstMomentState, ("mu",)),
    (P.SecondMomentState, ("nu",)),
    (P.MaxSecondMomentState, ("nu_max",)),
    (P.CenteredSecondMomentState, ("grad_mean",)),
    (P.CountState, ("count",)),
    (P.BoundStepSizeState, ("base_lr",)),
    (P.FrictionState, ("prev_grad",)),
    (P.AdaDBFrictionState, ("prev_grad", "prev_grad_2", "prev_grad_3")),
    (P.MomentalBoundState, ("eta_ema",)),
    (P.MomentumState, ("momentum",)),
    (P.DeltaAccumulatorState, ("delta_nu",)),
    (optax_survey.LookaheadState,
     ("inner_state", "slow_params", "steps_since_sync", "slow_momentum")),
]


@pytest.mark.parametrize("cls,fields", STATE_FIELDS)
def test_state_fields(cls, fields):
  assert cls._fields == fields


@pytest.mark.parametrize("tx,cls", [
    (P.ema_first_moment(), P.FirstMomentState),
    (P.ema_second_moment(), P.SecondMomentState),
    (P.accumulate_second_moment(), P.SecondMomentState),
    (P.yogi_second_moment(), P.SecondMomentState),
    (P.belief_second_moment(), P.SecondMomentState),
    (P.track_max_second_moment(), P.MaxSecondMomentState),
    (P.center_second_moment(), P.CenteredSecondMomentState),
    (P.count_steps(), P.CountState),
    (P.bias_correction(), optax.EmptyState),
    (P.folded_bias_correction(), optax.EmptyState),
    (P.rectification(), optax.EmptyState),
    (P.diffgrad_friction(), P.FrictionState),
    (P.adadb_friction(), P.AdaDBFrictionState),
    (P.apply_learning_rate(optax.constant_schedule(0.1)), optax.EmptyState),
    (P.apply_learning_rate(0.1), optax.EmptyState),
    (P.bound_step_size(0.1), P.BoundStepSizeState),
    (P.momental_bound(), P.MomentalBoundState),
    (P.trace_momentum(), P.MomentumState),
    (P.delta_accumulator(), P.DeltaAccumulatorState),
    (P.adaptive_step_size(), optax.EmptyState),
    (P.descend(), optax.EmptyState),
])
def test_init_state_type(tx, cls):
  state = tx.init(PARAMS)
  assert type(state) is cls
  for leaf in jax.tree.leaves(state):
    if leaf.dtype == jnp.int32:
      assert leaf.shape == () and int(leaf) == 0
    elif isinstance(state, P.BoundStepSizeState):
      assert leaf.shape == () and float(leaf) == 0.1  # α_0, the lr at init
    else:
      assert leaf.shape == PARAMS.shape


def test_primitives_re_exports_the_section_modules():
  """``optax_survey.primitives`` is the public face of ``optax_survey/_primitives/`` (one
  module per section): every public name of a section once, the same object through the
  section, ``primitives`` and ``optax_survey``; a section imports the shared helpers, never
  another section; a state pickles back to the same classes."""
  import ast
  import importlib
  import pickle
  import pkgutil

  from optax_survey import _primitives

  sections = [importlib.import_module(f"{_primitives.__name__}.{m.name}")
              for m in pkgutil.iter_modules(_primitives.__path__)]
  names = [n for s in sections for n in getattr(s, "__all__", ())]
  assert sorted(names) == sorted(P.__all__) and len(set(names)) == len(names)
  for s in sections:
    for name in getattr(s, "__all__", ()):
      assert getattr(P, name) is getattr(s, name) is getattr(optax_survey, name), name
    tree = ast.parse(open(s.__file__, encoding="utf-8").read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in imported if m and m.startswith(_primitives.__name__)} <= {
        f"{_primitives.__name__}.helpers"}, s.__name__
  state = optax_survey.adadb(1e-3).init(PARAMS)
  back = pickle.loads(pickle.dumps(state))
  assert jax.tree.structure(back) == jax.tree.structure(state)
  assert isinstance(back[2], P.FirstMomentState) and isinstance(back[4], P.AdaDBFrictionState)


# --------------------------------------------------------------- moments


def test_ema_first_moment():
  tx = P.ema_first_moment(0.8)
  (f1, f2), state = run(tx, [G, 2 * G])
  assert isinstance(f1, Flow) and f1.grad is G
  close(f1.mu, 0.2 * G)
  close(f2.mu, 0.8 * 0.2 * G + 0.2 * 2 * G)
  close(state.mu, f2.mu)
  assert f2.nu is None and f2.eta is None


def test_ema_first_moment_initial_value_and_mu_dtype():
  tx = P.ema_first_moment(0.5, initial_value=1e-6, mu_dtype=jnp.float32)
  state = tx.init(PARAMS)
  assert state.mu.dtype == jnp.float32
  close(state.mu, 1e-6, rtol=1e-6)
  out, state = tx.update(G, state, PARAMS)
  assert state.mu.dtype == jnp.float32
  close(out.mu, 0.5 * 1e-6 + 0.5 * G, rtol=1e-6)


def test_ema_second_moment():
  (f1, f2), state = run(P.ema_second_moment(0.9), [G, -G])
  close(f1.nu, 0.1 * G**2)
  close(f2.nu, 0.9 * 0.1 * G**2 + 0.1 * G**2)
  close(state.nu, f2.nu)
  assert f1.mu is None  # it does not touch the direction


def test_accumulate_second_moment():
  (f1, f2), state = run(P.accumulate_second_moment(0.1), [G, 2 * G])
  close(f1.nu, 0.1 + G**2)
  close(f2.nu, 0.1 + 5 * G**2)
  close(state.nu, f2.nu)


def test_yogi_second_moment_moves_toward_g2():
  b2 = 0.9
  v0 = 1.0
  g = jnp.array([0.5, 2.0, 1.0, 0.0])  # g² below, above, equal to v0, zero
  tx = P.yogi_second_moment(b2, initial_accumulator_value=v0)
  (f1,), _ = run(tx, [g])
  g2 = g * g
  close(f1.nu, v0 - (1 - b2) * jnp.sign(v0 - g2) * g2)
  # v moves toward g² (never away): down where g² < v0, up where g² > v0.
  assert f1.nu[0] < v0 and f1.nu[1] > v0 and f1.nu[2] == v0 and f1.nu[3] == v0
  assert np.all(np.abs(f1.nu - g2) <= np.abs(v0 - g2))
  close(f1.nu[0], 1.0 - 0.1 * 0.25)
  close(f1.nu[1], 1.0 + 0.1 * 4.0)


def test_belief_second_moment_stores_eps():
  b1, b2, eps = 0.9, 0.99, 1e-3
  tx = optax.chain(P.ema_first_moment(b1), P.belief_second_moment(b2, eps))
  (f1, f2), state = run(tx, [G, -G])
  m1 = (1 - b1) * G
  s1 = (1 - b2) * (G - m1) ** 2 + eps
  close(f1.nu, s1)
  m2 = b1 * m1 + (1 - b1) * (-G)
  s2 = b2 * s1 + (1 - b2) * (-G - m2) ** 2 + eps
  close(f2.nu, s2)
  close(state[1].nu, s2)  # the +eps is in the stored state, every step
  # With g = 0 and m = 0 (third element), s is exactly the accumulated eps.
  close(f2.nu[2], b2 * eps + eps)


def test_belief_second_moment_needs_the_first_moment_itself():
  # It used to take the raw gradient as m: (g - g)² = 0, s = eps, silently.
  with pytest.raises(ValueError, match=r"belief_second_moment needs a first moment .*"
                     r"put ema_first_moment\(\) before it"):
    run(P.belief_second_moment(0.9, 1e-4), [G])
  for stage in (P.diffgrad_friction(), counted(P.bias_correction(0.9, None))):
    tx = optax.chain(P.ema_first_moment(0.9), stage, P.belief_second_moment())
    with pytest.raises(ValueError, match=r"belief_second_moment cannot come after .*"
                       r"first moment m_t itself"):
      run(tx, [G])


def test_track_max_second_moment():
  tx = optax.chain(P.ema_second_moment(0.5), P.track_max_second_moment())
  g1 = jnp.array([2.0, 0.0, 1.0, 0.0])
  g2 = jnp.array([0.0, 2.0, 1.0, 0.0])
  (f1, f2), state = run(tx, [g1, g2])
  v1 = 0.5 * g1**2
  v2 = 0.5 * v1 + 0.5 * g2**2
  close(f1.nu, v1)
  close(f2.nu, jnp.maximum(v1, v2))
  close(state[1].nu_max, jnp.maximum(v1, v2))
  assert f2.nu[0] == v1[0] > v2[0]  # the max kept the old value


# (builder of a stage with the given nu_dtype, the rule it applies to (v, g, m))
SECOND_MOMENTS = {
    "ema": (lambda d: P.ema_second_moment(0.9, nu_dtype=d),
            lambda v, g, m: 0.9 * v + 0.1 * g * g),
    "accumulate": (lambda d: P.accumulate_second_moment(0.1, nu_dtype=d),
                   lambda v, g, m: v + g * g),
    "yogi": (lambda d: P.yogi_second_moment(0.9, 0.5, nu_dtype=d),
             lambda v, g, m: v - 0.1 * jnp.sign(v - g * g) * g * g),
    "belief": (lambda d: P.belief_second_moment(0.9, 1e-3, nu_dtype=d),
               lambda v, g, m: 0.9 * v + (0.1 * (g - m) * (g - m) + 1e-3)),
}


def as_first_moment(g):
  """Gradients with ``m = g`` as ema_first_moment would hand them on (belief needs it)."""
  return flow_at(None, F.FIRST_MOMENT, grad=g, mu=g)
G32 = jnp.array([0.3, -1.7, 0.0, 2.9], jnp.float32)
PARAMS32 = PARAMS.astype(jnp.float32)


@pytest.mark.parametrize("name", SECOND_MOMENTS)
def test_second_moment_nu_dtype_casts_only_the_stored_state(name):
  build, rule = SECOND_MOMENTS[name]
  tx = build(jnp.bfloat16)
  state = tx.init(PARAMS32)
  assert state.nu.dtype == jnp.bfloat16
  v = state.nu
  for g in (G32, -2 * G32, G32 + 1):
    flow, state = tx.update(as_first_moment(g), state, PARAMS32)
    # The flow's nu is computed in float32 from the stored (bfloat16) nu ...
    assert flow.nu.dtype == jnp.float32
    expected = rule(v.astype(jnp.float32), g, g)
    np.testing.assert_array_equal(flow.nu, expected)
    # ... and only the stored copy is rounded.
    assert state.nu.dtype == jnp.bfloat16
    np.testing.assert_array_equal(state.nu, expected.astype(jnp.bfloat16))
    v = state.nu


@pytest.mark.parametrize("name", SECOND_MOMENTS)
def test_second_moment_nu_dtype_none_or_same_dtype_changes_nothing(name):
  build, _ = SECOND_MOMENTS[name]
  gs = [as_first_moment(g) for g in (G32, -2 * G32, G32 + 1)]
  outs, state = run(build(None), gs, PARAMS32)
  for dtype in (jnp.float32, "float32"):
    outs_same, state_same = run(build(dtype), gs, PARAMS32)
    assert state_same.nu.dtype == state.nu.dtype == jnp.float32
    np.testing.assert_array_equal(state_same.nu, state.nu)
    for a, b in zip(outs, outs_same):
      np.testing.assert_array_equal(a.nu, b.nu)


@pytest.mark.parametrize("name", SECOND_MOMENTS)
def test_second_moment_nu_dtype_float32_for_bfloat16_params(name):
  build, rule = SECOND_MOMENTS[name]
  tx = build(jnp.float32)
  p16 = PARAMS.astype(jnp.bfloat16)
  state = tx.init(p16)
  assert state.nu.dtype == jnp.float32
  flow, state = tx.update(as_first_moment(G32.astype(jnp.bfloat16)), state, p16)
  assert flow.nu.dtype == state.nu.dtype == jnp.float32


def test_track_max_second_moment_nu_dtype():
  tx = optax.chain(P.ema_second_moment(0.5, nu_dtype=jnp.bfloat16),
                   P.track_max_second_moment(nu_dtype=jnp.bfloat16))
  state = tx.init(PARAMS32)
  assert state[0].nu.dtype == state[1].nu_max.dtype == jnp.bfloat16
  g1 = jnp.array([2.0, 0.0, 1.1, 0.3], jnp.float32)
  g2 = jnp.array([0.0, 2.0, 1.1, 0.1], jnp.float32)
  f1, state = tx.update(g1, state, PARAMS32)
  f2, state = tx.update(g2, state, PARAMS32)
  v1 = 0.5 * g1**2
  v2 = 0.5 * v1.astype(jnp.bfloat16).astype(jnp.float32) + 0.5 * g2**2
  assert f2.nu.dtype == jnp.float32 and state[1].nu_max.dtype == jnp.bfloat16
  expected = jnp.maximum(v1.astype(jnp.bfloat16).astype(jnp.float32), v2)
  np.testing.assert_array_equal(f2.nu, expected)
  np.testing.assert_array_equal(state[1].nu_max, expected.astype(jnp.bfloat16))
  # nu_dtype=None is the old stage: the same as leaving it out.
  a = run(optax.chain(P.ema_second_moment(0.5), P.track_max_second_moment()), [g1, g2],
          PARAMS32)
  b = run(optax.chain(P.ema_second_moment(0.5, nu_dtype=None),
                      P.track_max_second_moment(nu_dtype=None)), [g1, g2], PARAMS32)
  assert a[1][1].nu_max.dtype == jnp.float32
  np.testing.assert_array_equal(a[1][1].nu_max, b[1][1].nu_max)


def test_bfloat16_ema_second_moment_at_b2_0999_cannot_decrease():
  """The documented limit of a bfloat16 nu: a change (1 - b2)|g² - v| below
  half an ulp of v (>= 2^-9 v) is rounded away, so at b2 = 0.999 the stored v
  never decreases, and under a constant g it stops growing near g²/4."""
  tx = P.ema_second_moment(0.999, nu_dtype=jnp.bfloat16)
  p = jnp.zeros(1, jnp.float32)

  def body(state, g):
    return tx.update(g, state, p)[1], None

  ones = jnp.ones((2000, 1), jnp.float32)
  state = jax.lax.scan(body, tx.init(p), ones)[0]
  assert float(state.nu[0]) == 0.25  # float32: 1 - 0.999^2000 = 0.865
  state = jax.lax.scan(body, state, 0.1 * ones)[0]
  assert float(state.nu[0]) == 0.25  # float32: 0.126


def test_ema_first_moment_mu_dtype_bfloat16():
  tx = P.ema_first_moment(0.5, mu_dtype=jnp.bfloat16)
  state = tx.init(PARAMS32)
  assert state.mu.dtype == jnp.bfloat16
  flow, state = tx.update(G32, state, PARAMS32)
  flow, state = tx.update(-G32, state, PARAMS32)
  expected = 0.5 * (0.5 * G32).astype(jnp.bfloat16).astype(jnp.float32) - 0.5 * G32
  assert flow.mu.dtype == jnp.float32 and state.mu.dtype == jnp.bfloat16
  np.testing.assert_array_equal(flow.mu, expected)


def test_center_second_moment():
  d = 0.9
  tx = optax.chain(P.ema_second_moment(d), P.center_second_moment(d))
  (f1, f2), state = run(tx, [G, 3 * G])
  close(f1.nu, (1 - d) * G**2 - ((1 - d) * G) ** 2)
  mean2 = d * (1 - d) * G + (1 - d) * 3 * G
  v2 = d * (1 - d) * G**2 + (1 - d) * 9 * G**2
  close(f2.nu, v2 - mean2**2)
  close(state[1].grad_mean, mean2)
  assert np.all(np.asarray(f2.nu) >= 0)


# --------------------------------------------- bias correction and step size


def test_bias_correction():
  b1, b2 = 0.9, 0.99
  tx = counted(P.ema_first_moment(b1), P.ema_second_moment(b2),
                P.bias_correction(b1, b2))
  (f1, f2), state = run(tx, [G, G])
  close(f1.mu, G)  # m̂_1 = g exactly
  close(F.second_moment(f1), G**2)
  close(f2.mu, G)  # constant gradient: m̂ = g
  close(F.second_moment(f2), G**2)
  close(f2.nu, (1 - b2**2) * G**2)  # v itself; v̂ = v / nu_divisor
  close(f2.nu_divisor, 1 - b2**2)
  assert int(state[0].count) == 2


def test_bias_correction_nesterov_is_nadam():
  """NAdam's m̂ (Dozat 2016): b1 m_t/(1 - b1^{t+1}) + (1 - b1) g_t/(1 - b1^t),
  checked against optax.nadam's first two updates (a ~ 1/(|g|+eps) direction)."""
  b1, b2 = 0.9, 0.999
  tx = counted(P.ema_first_moment(b1), P.ema_second_moment(b2),
               P.bias_correction(b1, b2, nesterov=True), P.adaptive_step_size(1e-8),
               P.apply_learning_rate(0.1), P.descend())
  ref = optax.nadam(0.1)
  (u1, u2), _ = run(tx, [G, -0.5 * G])
  (r1, r2), _ = run(ref, [G, -0.5 * G])
  close(u1, r1, rtol=1e-13)
  close(u2, r2, rtol=1e-13)
  m1 = (1 - b1) * G
  close(u1, -0.1 * (b1 * m1 / (1 - b1**2) + (1 - b1) * G / (1 - b1))
        / (jnp.abs(G) + 1e-8), rtol=1e-13)
  with pytest.raises(ValueError, match="nesterov=True.*needs b1"):
    P.bias_correction(None, 0.9, nesterov=True)


def test_bias_correction_one_moment_only():
  (f1,), _ = run(counted(P.ema_first_moment(0.5), P.bias_correction(0.5, None)), [G])
  close(f1.mu, G)
  assert f1.nu is None
  (f1,), _ = run(counted(P.ema_second_moment(0.5), P.bias_correction(None, 0.5)), [G])
  close(F.second_moment(f1), G**2)
  assert f1.mu is None


def test_adaptive_step_size():
  tx = optax.chain(P.accumulate_second_moment(), P.adaptive_step_size(1e-3))
  (f1,), _ = run(tx, [G])
  close(f1.eta, 1 / (jnp.abs(G) + 1e-3))
  tx = optax.chain(P.accumulate_second_moment(), P.adaptive_step_size(0.0, eps_root=1e-2))
  (f1,), _ = run(tx, [G])
  close(f1.eta, 1 / jnp.sqrt(G**2 + 1e-2))
  # It multiplies an existing η.
  flow = Flow(grad=G, nu=jnp.full(4, 4.0), eta=jnp.full(4, 3.0))
  out, _ = P.adaptive_step_size(0.0).update(flow, optax.EmptyState())
  close(out.eta, 1.5)


def test_adaptive_step_size_eps_root_keeps_grad_finite():
  def eta0(v, eps_root):
    out, _ = P.adaptive_step_size(1e-8, eps_root).update(
        Flow(grad=v, nu=v), optax.EmptyState())
    return out.eta.sum()
  v = jnp.array([0.0, 1.0])
  assert not np.all(np.isfinite(jax.grad(eta0)(v, 0.0)))  # d sqrt(v)/dv = inf at 0
  assert np.all(np.isfinite(jax.grad(eta0)(v, 1e-12)))


def test_folded_bias_correction():
  b1, b2 = 0.9, 0.999
  tx = counted(P.folded_bias_correction(b1, b2))
  (f1, f2, f3), state = run(tx, [G, G, G])
  for t, f in ((1, f1), (2, f2), (3, f3)):
    close(eta(f), np.sqrt(1 - b2**t) / (1 - b1**t))
    assert f.mu is None and f.eta is None  # only the scalar factor changes
  assert int(state[0].count) == 3


# ----------------------------------------------------------- rectification


def _rho(t, b2):
  rho_inf = 2 / (1 - b2) - 1
  return rho_inf - 2 * t * b2**t / (1 - b2**t), rho_inf


def test_rectification_is_active_first_step_is_6():
  active = [bool(P.rectification_is_active(jnp.asarray(t), 0.999, 5.0)) for t in range(1, 10)]
  assert active == [False] * 5 + [True] * 4
  # With the paper's ρ_t > 4 rule (threshold 4) step 5 is active too.
  assert bool(P.rectification_is_active(jnp.asarray(5), 0.999, 4.0))
  assert not bool(P.rectification_is_active(jnp.asarray(4), 0.999, 4.0))


@pytest.mark.parametrize("degenerated", [False, True])
def test_rectification_branches(degenerated):
  b1, b2 = 0.9, 0.999
  tx = P.rectification(b1, b2, 5.0, degenerated_to_sgd=degenerated)
  eta_in = jnp.array([1.0, 2.0, 0.5, 4.0])
  state = tx.init(PARAMS)
  for t in range(1, 9):
    flow = flow_at(t, F.NU_USED, F.FOLDED_BIAS_CORRECTION, grad=G, eta=eta_in)
    out, state = tx.update(flow, state, PARAMS)
    assert np.all(np.isfinite(np.asarray(eta(out))))
    rho_t, rho_inf = _rho(t, b2)
    if t < 6:
      expected = eta_in * 0 + (1 / (1 - b1**t) if degenerated else 0.0)
    else:
      r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
      expected = r * eta_in
      assert 0 < r < 1
    close(eta(out), expected, rtol=1e-10)


def test_rectification_no_nan_anywhere():
  # b2 = 0.5: ρ_∞ = 3 < 4, never active and (ρ - 4) < 0 inside the sqrt.
  tx = P.rectification(0.9, 0.5, 4.0)
  state = tx.init(PARAMS)
  for t in range(1, 4):
    out, state = tx.update(flow_at(t, F.NU_USED, F.FOLDED_BIAS_CORRECTION, grad=G),
                           state, PARAMS)  # η from 1
    close(eta(out), 0.0)
  # Differentiating through both branches stays finite.
  def f(eta_in):
    tx = P.rectification(0.9, 0.999, 5.0)
    state = tx.init(PARAMS)
    total = 0.0
    for t in range(1, 8):
      flow = flow_at(t, F.NU_USED, F.FOLDED_BIAS_CORRECTION, grad=G, eta=eta_in)
      out, state = tx.update(flow, state, PARAMS)
      total = total + jnp.sum(eta(out))
    return total
  g = jax.grad(f)(jnp.ones(4))
  assert np.all(np.isfinite(np.asarray(g)))
  assert np.all(np.asarray(g) > 0)  # steps 6 and 7 depend on η


# ---------------------------------------------------------------- friction


def test_diffgrad_friction():
  sig = lambda x: 1 / (1 + np.exp(-np.abs(x)))
  g1 = jnp.array([1.0, -1.0, 0.0, 5.0])
  g2 = jnp.array([1.0, 1.0, 0.0, -5.0])
  (f1, f2), state = run(P.diffgrad_friction(), [g1, g2])
  close(f1.mu, sig(g1) * g1)  # g_0 = 0
  close(f2.mu, sig(g1 - g2) * g2)
  close(state.prev_grad, g2)
  # ξ = 1/2 where the gradient did not change.
  assert f2.mu[0] == 0.5 * g2[0]
  # It scales an existing direction m, not the raw gradient.
  out, _ = P.diffgrad_friction().update(
      Flow(grad=g1, mu=jnp.ones(4)), P.diffgrad_friction().init(g1))
  xi = np.asarray(out.mu)
  assert np.all((xi >= 0.5) & (xi < 1.0))


def test_adadb_friction():
  b3, lam = 0.5, 0.5
  sig = lambda x: 1 / (1 + np.exp(-np.abs(x)))
  gs = [jnp.array([1.0, 1.0]), jnp.array([2.0, -1.0]), jnp.array([1.5, 2.0]),
        jnp.array([-1.0, 3.0])]
  tx = P.adadb_friction(b3, lam)
  state = tx.init(gs[0])
  hist = [np.zeros(2)] * 3
  for g in gs:
    out, state = tx.update(Flow(grad=g, mu=jnp.ones(2)), state, None)
    g_, (h1, h2, h3) = np.asarray(g), hist
    delta = b3 * (h1 - g_) + b3**2 * (h2 - h1) + b3**3 * (h3 - h2)
    xi = np.where(g_ * h1 < 0, sig(delta), 1 + lam * sig(delta))
    close(out.mu, xi)
    hist = [g_, h1, h2]
  close(state.prev_grad, gs[3])
  close(state.prev_grad_2, gs[2])
  close(state.prev_grad_3, gs[1])


# -------------------------------------------------- learning rate and bounds


def test_apply_learning_rate_constant_and_schedule():
  (f1,), _ = run(P.apply_learning_rate(0.1), [G])
  assert f1.eta is None and f1.scale == 0.1  # a scalar factor, not an array
  schedule = lambda count: 0.1 * (count + 1.0)
  (f1, f2, f3), state = run(counted(P.apply_learning_rate(schedule)), [G, G, G])
  for t, f in ((1, f1), (2, f2), (3, f3)):
    close(F.step(f), schedule(t - 1) * G)  # evaluated at the steps taken
  assert int(state[0].count) == 3
  with pytest.raises(ValueError, match=r"apply_learning_rate needs the step number t: "
                     r"put optax_survey.count_steps\(\) first"):
    run(P.apply_learning_rate(schedule), [G])


def test_bound_step_size_formula():
  lr, final_lr, gamma = 0.01, 0.1, 1e-3
  tx = optax.chain(P.apply_learning_rate(lr), P.bound_step_size(lr, final_lr, gamma))
  eta_in = jnp.array([1e-6, 1.0, 1e6, 1e-2])
  state = tx.init(PARAMS)
  for t in range(1, 4):
    out, state = tx.update(flow_at(t, grad=G, eta=eta_in), state, PARAMS)
    lower = final_lr * (1 - 1 / (gamma * t + 1))
    upper = final_lr * (1 + 1 / (gamma * t))
    close(out.eta, np.clip(np.asarray(eta_in) * lr, lower, upper))
    assert out.eta[0] == pytest.approx(lower) and out.eta[2] == pytest.approx(upper)
    assert out.eta[1] == pytest.approx(lr)  # inside the bounds: untouched


def test_bound_step_size_follows_schedule_and_sqrt_t():
  schedule = lambda count: 0.01 * 0.5**count
  tx = P.bound_step_size(schedule, 0.1, 1e-3, decay_by_sqrt_t=True)
  state = tx.init(PARAMS)
  for t in range(1, 4):
    flow = flow_at(t, F.LEARNING_RATE, grad=G, eta=jnp.full(4, 1e-9))
    out, state = tx.update(flow, state, PARAMS)
    final = 0.1 * schedule(t - 1) / schedule(0)
    lower = final * (1 - 1 / (1e-3 * t + 1))
    close(out.eta, lower / np.sqrt(t) * np.ones(4))


def test_bound_step_size_needs_the_learning_rate():
  tx = counted(P.adaptive_step_size(), P.bound_step_size(0.1))
  with pytest.raises(ValueError, match=r"bound_step_size needs the learning rate applied "
                     r"to the step size: put apply_learning_rate\(\) before it"):
    run(optax.chain(P.ema_second_moment(), tx), [G])


def test_momental_bound():
  b3 = 0.9
  tx = P.momental_bound(b3)
  state = tx.init(PARAMS)
  e1 = jnp.array([1.0, 2.0, 3.0, 4.0])
  out, state = tx.update(flow_at(None, F.LEARNING_RATE, grad=G, eta=e1), state)
  close(state.eta_ema, (1 - b3) * e1)
  close(out.eta, (1 - b3) * e1)  # s_0 = 0: the first steps are damped
  e2 = jnp.array([0.01, 2.0, 3.0, 4.0])
  out, state = tx.update(flow_at(None, F.LEARNING_RATE, grad=G, eta=e2), state)
  s2 = b3 * (1 - b3) * e1 + (1 - b3) * e2
  close(state.eta_ema, s2)
  close(out.eta, np.minimum(e2, s2))
  assert out.eta[0] == e2[0]  # a step below its EMA passes
  with pytest.raises(ValueError, match=r"momental_bound needs the learning rate applied"):
    tx.update(G, state)


# -------------------------------------------------------- momentum, delta


def test_trace_momentum_heavy_ball():
  mu = 0.9
  (f1, f2), state = run(P.trace_momentum(mu), [G, 2 * G])
  close(f1.mu, G)  # b_1 = d_1
  close(f2.mu, mu * G + 2 * G)
  close(state.momentum, f2.mu)
  assert f2.eta is None


def test_trace_momentum_nesterov():
  mu = 0.9
  (f1, f2), state = run(P.trace_momentum(mu, nesterov=True), [G, 2 * G])
  close(f1.mu, G + mu * G)
  b2 = mu * G + 2 * G
  close(f2.mu, 2 * G + mu * b2)
  close(state.momentum, b2)


def test_trace_momentum_on_current_step():
  # d = η ⊙ m, and η is reset to 1 afterwards.
  flow = Flow(grad=G, mu=jnp.ones(4), eta=jnp.full(4, 0.5))
  out, state = P.trace_momentum(0.5).update(flow, P.trace_momentum(0.5).init(G))
  close(out.mu, 0.5)
  close(state.momentum, 0.5)
  assert out.eta is None


def test_delta_accumulator():
  rho, eps = 0.9, 1e-6
  tx = P.delta_accumulator(rho, eps)
  g1 = jnp.array([1.0, -2.0, 0.0, 0.5])
  v1 = jnp.array([4.0, 1.0, 0.25, 0.0])
  state = tx.init(g1)
  out, state = tx.update(Flow(grad=g1, nu=v1), state)
  delta1 = np.sqrt(eps) / np.sqrt(v1 + eps) * g1  # the reference's two roots
  close(out.mu, delta1)
  close(state.delta_nu, (1 - rho) * delta1**2)
  # a first moment, when there is one, is the direction
  m2, v2 = jnp.full(4, 0.3), jnp.full(4, 2.0)
  out, state = tx.update(Flow(grad=G, mu=m2, nu=v2), state)
  acc1 = (1 - rho) * delta1**2
  delta2 = np.sqrt(acc1 + eps) / np.sqrt(v2 + eps) * m2
  close(out.mu, delta2)
  close(state.delta_nu, rho * acc1 + (1 - rho) * delta2**2)
  assert out.eta is None


def test_delta_accumulator_needs_nu_and_no_step_size_before_it():
  tx = P.delta_accumulator()
  state = tx.init(G)
  with pytest.raises(ValueError, match="delta_accumulator needs a second moment `nu`.*"
                     "ema_second_moment"):
    tx.update(Flow(grad=G), state)
  with pytest.raises(ValueError, match="before any step-size stage"):
    tx.update(Flow(grad=G, nu=G * G, eta=jnp.ones(4)), state)


# ------------------------------------------------------------ weight decay


def test_add_l2_penalty():
  tx = P.add_l2_penalty(0.1)
  out, _ = tx.update(G, tx.init(PARAMS), PARAMS)
  close(out, G + 0.1 * PARAMS)
  assert not isinstance(out, Flow)
  with pytest.raises(ValueError, match=r"add_l2_penalty needs `params`"):
    tx.update(G, tx.init(PARAMS), None)


def test_add_l2_penalty_after_flow_stage_is_a_type_error():
  tx = optax.chain(P.ema_first_moment(), P.add_l2_penalty(0.1))
  with pytest.raises(TypeError, match=r"add_l2_penalty acts on the raw gradient.*before"):
    tx.update(G, tx.init(PARAMS), PARAMS)


def test_add_l2_penalty_mask():
  params = {"w": jnp.ones(2), "b": jnp.ones(2)}
  grads = {"w": jnp.zeros(2), "b": jnp.zeros(2)}
  tx = P.add_l2_penalty(0.5, mask={"w": True, "b": False})
  out, _ = tx.update(grads, tx.init(params), params)
  close(out["w"], 0.5)
  close(out["b"], 0.0)


def test_add_decoupled_weight_decay():
  tx = optax.chain(P.apply_learning_rate(1.0), P.add_decoupled_weight_decay(0.1, 0.01),
                   P.descend())
  out, _ = tx.update(G, tx.init(PARAMS), PARAMS)
  close(out, -G - 0.1 * 0.01 * PARAMS)  # descend() subtracts the decay term
  schedule = lambda count: 0.1 * (count + 1.0)
  tx = counted(P.apply_learning_rate(1.0), P.add_decoupled_weight_decay(schedule, 0.01),
               P.descend())
  (u1, u2), state = run(tx, [G, G])
  close(u1, -G - 0.1 * 0.01 * PARAMS)  # schedule(0) on the first step
  close(u2, -G - 0.2 * 0.01 * PARAMS)
  assert int(state[0].count) == 2
  with pytest.raises(ValueError, match=r"add_decoupled_weight_decay needs `params`"):
    tx.update(G, state, None)
  # bfloat16 updates stay bfloat16.
  pb = PARAMS.astype(jnp.bfloat16)
  tx = optax.chain(P.apply_learning_rate(1.0), P.add_decoupled_weight_decay(0.1, 0.01),
                   P.descend())
  out, _ = tx.update(pb, tx.init(pb), pb)
  assert out.dtype == jnp.bfloat16
  # A Python zero does nothing; twice is refused.
  tx = optax.chain(P.apply_learning_rate(1.0), P.add_decoupled_weight_decay(0.1, 0.0),
                   P.descend())
  close(tx.update(G, tx.init(PARAMS), PARAMS)[0], -G)
  tx = optax.chain(P.apply_learning_rate(1.0), P.add_decoupled_weight_decay(0.1, 0.01),
                   P.add_decoupled_weight_decay(0.1, 0.01), P.descend())
  with pytest.raises(ValueError, match="decoupled weight decay is already set"):
    tx.update(G, tx.init(PARAMS), PARAMS)


def _np_decoupled(updates, params, rate, mask):
  """NumPy: u - α λ θ on the decaying leaves (Loshchilov & Hutter)."""
  return {k: np.asarray(updates[k], np.float64)
          - (rate * np.asarray(params[k], np.float64) if mask[k] else 0.0) for k in updates}


@pytest.mark.parametrize("transform", ["eager", "jit"])
def test_add_decoupled_weight_decay_after_descend_acts_on_the_final_updates(transform):
  """After a complete optimizer it subtracts α λ θ from the final updates,
  as optax.add_decayed_weights acts after optax.adam (it used to return a
  Flow that failed later as a pytree mismatch).  Oracle: NumPy on the
  optimizer's own updates; masks; the updates keep their dtype."""
  params = {"w": jnp.array([1.0, -2.0, 0.5]), "b": jnp.array([3.0, -1.0])}
  grads = {"w": jnp.array([0.2, 0.1, -0.3]), "b": jnp.array([-1.0, 2.0])}
  mask = {"w": True, "b": False}
  inner = optax_survey.yogi(0.1)
  tx = optax.chain(optax_survey.yogi(0.1), P.add_decoupled_weight_decay(0.1, 0.5, mask=mask))
  update = jax.jit(tx.update) if transform == "jit" else tx.update
  plain, _ = inner.update(grads, inner.init(params), params)
  ours, state = update(grads, tx.init(params), params)
  expected = _np_decoupled(plain, params, 0.1 * 0.5, mask)
  for k in params:
    close(ours[k], expected[k])
  assert ours["b"].dtype == plain["b"].dtype
  # The same rule as the stage before descend(): one rule in both places.
  inside = optax.chain(P.count_steps(), P.apply_learning_rate(0.1),
                       P.add_decoupled_weight_decay(0.1, 0.5), P.descend())
  after = optax.chain(P.count_steps(), P.apply_learning_rate(0.1), P.descend(),
                      P.add_decoupled_weight_decay(0.1, 0.5))
  close(run(inside, [G])[0][0], run(after, [G])[0][0])
  close(run(after, [G])[0][0], -0.1 * G - 0.05 * PARAMS)
  # bfloat16 final updates stay bfloat16; a Python zero returns them as they are.
  pb, gb = PARAMS.astype(jnp.bfloat16), G.astype(jnp.bfloat16)
  tx = optax.chain(optax_survey.sgd(0.1), P.add_decoupled_weight_decay(0.1, 0.5))
  out, _ = tx.update(gb, tx.init(pb), pb)
  assert out.dtype == jnp.bfloat16
  close(np.asarray(out, np.float32), -0.1 * np.asarray(gb, np.float32) - 0.05 * np.asarray(
      pb, np.float32), rtol=1e-2)
  tx = optax.chain(optax_survey.sgd(0.1), P.add_decoupled_weight_decay(0.1, 0.0))
  close(tx.update(G, tx.init(PARAMS), PARAMS)[0], -0.1 * G)


def test_add_decoupled_weight_decay_after_descend_under_inject_hyperparams_and_vmap():
  """Both rates injected as arrays (and changed) or vmapped over: u - α λ θ."""
  make = optax.inject_hyperparams(lambda learning_rate, weight_decay: optax.chain(
      optax_survey.sgd(learning_rate),
      P.add_decoupled_weight_decay(learning_rate, weight_decay)))
  tx = make(learning_rate=0.1, weight_decay=0.5)
  state = tx.init(PARAMS)
  state.hyperparams["learning_rate"] = jnp.asarray(0.2)
  out, _ = tx.update(G, state, PARAMS)
  close(out, -0.2 * G - 0.2 * 0.5 * PARAMS)
  rates = jnp.array([0.1, 0.3])

  def one(rate):
    tx = optax.chain(optax_survey.sgd(rate), P.add_decoupled_weight_decay(rate, 0.5))
    return tx.update(G, tx.init(PARAMS), PARAMS)[0]

  out = jax.vmap(one)(rates)
  for r, row in zip(np.asarray(rates), np.asarray(out), strict=True):
    close(row, -r * G - r * 0.5 * PARAMS, rtol=1e-6)


def test_add_decoupled_weight_decay_after_descend_refuses_a_schedule():
  """After descend() the step count stays inside the optimizer: a schedule
  would be evaluated at no step, so it raises and says to inject both."""
  schedule = optax.linear_schedule(0.1, 0.0, 10)
  tx = optax.chain(optax_survey.sgd(schedule), P.add_decoupled_weight_decay(schedule, 0.5))
  with pytest.raises(ValueError, match=r"after descend\(\) got a schedule.*"
                     r"optax.inject_hyperparams"):
    tx.update(G, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name,args", [
    ("count_steps", ()),
    ("ema_first_moment", ()),
    ("ema_second_moment", ()),
    ("accumulate_second_moment", ()),
    ("yogi_second_moment", ()),
    ("belief_second_moment", ()),
    ("track_max_second_moment", ()),
    ("center_second_moment", ()),
    ("bias_correction", ()),
    ("folded_bias_correction", ()),
    ("adaptive_step_size", ()),
    ("rectification", ()),
    ("diffgrad_friction", ()),
    ("adadb_friction", ()),
    ("trace_momentum", ()),
    ("delta_accumulator", ()),
    ("apply_learning_rate", (0.1,)),
    ("bound_step_size", (0.1,)),
    ("momental_bound", ()),
])
def test_a_stage_after_a_complete_optimizer_says_where_it_belongs(name, args):
  """It used to wrap the final updates into a Flow, which failed later as a
  pytree mismatch (or, for a moment, silently took the updates for gradients)."""
  tx = optax.chain(optax_survey.adam(0.1), getattr(P, name)(*args))
  for update in (tx.update, jax.jit(tx.update)):
    with pytest.raises(ValueError, match=rf"^{name} came after descend\(\).*Put {name} into "
                       r"the chain before descend\(\)"):
      update(G, tx.init(PARAMS), PARAMS)
  # After an optax built-in the updates are new arrays: it takes them for
  # gradients, as the first stage of a chain must.
  ok = optax.chain(optax_survey.sgd(0.1), optax.scale(-1.0), P.count_steps())
  assert isinstance(ok.update(G, ok.init(PARAMS), PARAMS)[0], Flow)


def test_add_l2_penalty_after_a_complete_optimizer_raises():
  tx = optax.chain(optax_survey.sgd(0.1), P.add_l2_penalty(0.1))
  with pytest.raises(ValueError, match=r"add_l2_penalty came after descend\(\).*"
                     r"add_decoupled_weight_decay"):
    tx.update(G, tx.init(PARAMS), PARAMS)


def test_final_updates_are_remembered_by_identity_only():
  """``descend()`` marks its output by identity with weak references: a copy is
  not final, and nothing is kept alive."""
  import gc
  import weakref

  tx = optax_survey.sgd(0.1)
  updates, _ = tx.update(G, tx.init(PARAMS))
  assert F.is_final(updates) and not F.is_final(updates + 0) and not F.is_final(G)
  assert not F.is_final({}) and not F.is_final(Flow(grad=G))
  ref = weakref.ref(updates)
  del updates
  gc.collect()
  assert ref() is None


# --------------------------------------------------------------- descend


def test_descend_sign_and_dtype():
  rated = frozenset({F.LEARNING_RATE})  # as apply_learning_rate() leaves it
  flow = Flow(grad=G.astype(jnp.float32), mu=jnp.ones(4), eta=jnp.full(4, 0.25), facts=rated)
  out, _ = P.descend().update(flow, optax.EmptyState())
  assert out.dtype == jnp.float32  # the float64 step is cast to the grads' dtype
  close(out, -0.25)
  with pytest.raises(ValueError, match=r"descend\(\) received plain updates"):
    P.descend().update(G, optax.EmptyState())
  out, _ = P.descend().update(Flow(grad=G, eta=jnp.full(4, 2.0), facts=rated),
                              optax.EmptyState())
  close(out, -2 * G)
  gb = G.astype(jnp.bfloat16)
  out, _ = P.descend().update(Flow(grad=gb, mu=jnp.ones(4), eta=jnp.full(4, 0.1), facts=rated),
                              optax.EmptyState())
  assert out.dtype == jnp.bfloat16


def test_descend_without_a_learning_rate_raises():
  """It used to step with rate 1, silently (a chain that forgot the rate)."""
  for tx in (counted(P.ema_first_moment(), P.ema_second_moment(), P.bias_correction(),
                     P.adaptive_step_size(), P.descend()),
             optax.chain(P.add_decoupled_weight_decay(0.1, 0.01), P.descend())):
    with pytest.raises(ValueError, match=r"descend needs the learning rate.*"
                       r"put apply_learning_rate\(learning_rate\) before it"):
      tx.update(G, tx.init(PARAMS), PARAMS)
  alone = P.descend()  # plain gradients: no stage at all before it
  with pytest.raises(ValueError, match=r"at least apply_learning_rate\(\)"):
    alone.update(G, alone.init(PARAMS))
  unit = optax.chain(P.apply_learning_rate(1.0), P.descend())  # rate 1, said
  close(unit.update(G, unit.init(PARAMS))[0], -G)


def test_adam_written_out_equals_optax_adam():
  tx = counted(P.ema_first_moment(0.9), P.ema_second_moment(0.999),
               P.bias_correction(0.9, 0.999), P.adaptive_step_size(1e-8),
               P.apply_learning_rate(1e-3), P.descend())
  (u1, u2), _ = run(tx, [G, -G])
  (r1, r2), _ = run(optax.adam(1e-3), [G, -G])  # an independent Adam
  close(u1, r1)
  close(u2, r2)
  close(u1, -1e-3 * G / (jnp.abs(G) + 1e-8))  # the closed form of step 1


# ------------------------------------------------- ordering errors, wrapping


@pytest.mark.parametrize("tx,message", [
    (P.adaptive_step_size(), r"adaptive_step_size needs a second moment `nu` in the flow: "
     r"put a second-moment stage \(ema_second_moment\) before it"),
    (P.track_max_second_moment(), r"track_max_second_moment needs a second moment `nu`"),
    (P.center_second_moment(), r"center_second_moment needs a second moment `nu` in the "
     r"flow: put ema_second_moment\(\) before it"),
    (counted(P.bias_correction(0.9, 0.999)), r"bias_correction needs a first moment \(an "
     r"EMA of the gradients\) in `mu`: put ema_first_moment\(\) before it, or pass b1=None"),
    (counted(P.bias_correction(None, 0.999)), r"bias_correction needs a second moment `nu`"),
    (P.bias_correction(0.9, 0.999), r"bias_correction needs the step number t: put "
     r"optax_survey.count_steps\(\) first"),
    (P.momental_bound(), r"momental_bound needs the learning rate applied to the step "
     r"size: put apply_learning_rate\(\) before it"),
    (counted(P.bound_step_size(0.1)), r"bound_step_size needs the learning rate applied"),
    (counted(P.rectification()), r"rectification needs a step size computed from the "
     r"second moment: put adaptive_step_size\(\) before it"),
])
def test_stage_before_its_input_raises(tx, message):
  with pytest.raises(ValueError, match=message):
    tx.update(G, tx.init(PARAMS), PARAMS)


# Hand-built chains that used to compute something else without a word; each
# now raises, naming the stage and what to put where.
WRONG_CHAINS = {
    "first moment twice": (
        counted(P.ema_first_moment(), P.trace_momentum(), P.ema_first_moment()),
        r"ema_first_moment cannot come after .*trace_momentum.*direction `mu` is "
        r"already set"),
    "two second moments": (
        counted(P.ema_second_moment(), P.accumulate_second_moment()),
        r"accumulate_second_moment cannot come after .*already a second moment"),
    "adaptive step twice": (
        counted(P.ema_second_moment(), P.adaptive_step_size(), P.adaptive_step_size()),
        r"adaptive_step_size cannot come after .*keep one adaptive_step_size"),
    "bias correction after the step size": (
        counted(P.ema_second_moment(), P.adaptive_step_size(), P.bias_correction(None)),
        r"bias_correction cannot come after .*put it before adaptive_step_size"),
    "max after the step size": (
        counted(P.ema_second_moment(), P.adaptive_step_size(), P.track_max_second_moment()),
        r"track_max_second_moment cannot come after .*before adaptive_step_size"),
    "exact and folded bias correction": (
        counted(P.ema_first_moment(), P.ema_second_moment(), P.bias_correction(),
                P.adaptive_step_size(), P.folded_bias_correction()),
        r"folded_bias_correction cannot come after .*use one bias correction"),
    "folded then exact": (
        counted(P.ema_first_moment(), P.ema_second_moment(), P.folded_bias_correction(),
                P.bias_correction()),
        r"bias_correction cannot come after .*use one of the two"),
    "rectification after the learning rate": (
        counted(P.ema_second_moment(), P.adaptive_step_size(), P.folded_bias_correction(),
                P.apply_learning_rate(0.1), P.rectification()),
        r"rectification cannot come after .*put it before apply_learning_rate"),
    "rectification without bias correction": (
        counted(P.ema_second_moment(), P.adaptive_step_size(), P.rectification()),
        r"rectification needs `folded_bias_correction`: put folded_bias_correction\(\)"),
    "learning rate twice": (
        counted(P.apply_learning_rate(0.1), P.apply_learning_rate(0.1)),
        r"apply_learning_rate cannot come after .*keep one apply_learning_rate"),
    "count twice": (counted(P.count_steps()), r"count_steps cannot come after count_steps"),
    "step size before Adadelta's": (
        counted(P.ema_second_moment(), P.apply_learning_rate(1.0), P.delta_accumulator()),
        r"delta_accumulator cannot come after .*before any step-size stage"),
    "centring the corrected moment": (
        counted(P.ema_second_moment(), P.bias_correction(None), P.center_second_moment()),
        r"center_second_moment cannot come after .*centres the raw second moment"),
}


@pytest.mark.parametrize("name", WRONG_CHAINS)
def test_wrong_hand_built_chain_raises(name):
  tx, message = WRONG_CHAINS[name]
  with pytest.raises(ValueError, match=message):
    tx.update(G, tx.init(PARAMS), PARAMS)


def test_descend_twice_raises():
  # It used to negate twice: parameters went up.
  tx = optax.chain(P.apply_learning_rate(0.1), P.descend(), P.descend())
  with pytest.raises(ValueError, match=r"descend\(\) came after descend\(\).*keep one"):
    tx.update(G, tx.init(PARAMS), PARAMS)


def test_missing_descend_raises_a_clear_error():
  """It used to be JAX's bare "pytree structure error"."""
  tx = counted(P.ema_first_moment(), P.apply_learning_rate(0.1))
  updates, _ = tx.update(G, tx.init(PARAMS), PARAMS)
  with pytest.raises(TypeError, match=r"after the stages count_steps -> ema_first_moment "
                     r"-> apply_learning_rate.*does not end with optax_survey.descend"):
    optax.apply_updates(PARAMS, updates)
  with pytest.raises(TypeError, match="does not end with optax_survey.descend"):
    jax.jit(tx.update)(G, tx.init(PARAMS), PARAMS)  # a jitted update returning it
  # A dict of parameters fails in JAX's structure check, which names the type.
  params = {"w": PARAMS}
  updates, _ = tx.update(params, tx.init(params), params)
  with pytest.raises(ValueError, match=r"optax_survey.Flow.*does not end with "
                     r"optax_survey.descend\(\).*end the chain with descend\(\)"):
    optax.apply_updates(params, updates)


@pytest.mark.parametrize("builtin", [
    optax.clip(0.1), optax.clip_by_global_norm(1.0), optax.scale(2.0),
    optax.masked(optax.scale(2.0), True),
])
def test_optax_builtin_between_stages_raises(builtin):
  """An optax built-in between stages used to act on every field of the record
  (optax.clip_by_global_norm turned Adam's first step -0.1 into -0.045)."""
  tx = counted(P.ema_first_moment(), P.ema_second_moment(), builtin,
               P.bias_correction(), P.adaptive_step_size(), P.apply_learning_rate(0.1),
               P.descend())
  with pytest.raises(TypeError, match=r"a transformation that is not an optax_survey "
                     r"stage \(optax.clip.*sits between optax_survey stages"):
    tx.update(G, tx.init(PARAMS), PARAMS)
  # Before the first stage or after descend() they act on plain trees: fine.
  ok = optax.chain(builtin, counted(P.apply_learning_rate(0.1), P.descend()), builtin)
  updates, _ = ok.update(G, ok.init(PARAMS), PARAMS)
  assert np.all(np.isfinite(np.asarray(updates)))


def test_rectification_after_exact_bias_correction_is_optax_radam():
  """rectification after bias_correction (exact, optax's form) falls back to
  m̂ itself: the SGD branch is not divided by bc1 twice.  Oracle: optax.radam,
  first 8 steps (SGD branch for t <= 5, rectified after)."""
  tx = counted(P.ema_first_moment(0.9), P.ema_second_moment(0.999),
               P.bias_correction(0.9, 0.999), P.adaptive_step_size(1e-8),
               P.rectification(0.9, 0.999, 5.0, degenerated_to_sgd=True),
               P.apply_learning_rate(0.1), P.descend())
  ref = optax.radam(0.1, threshold=5.0)
  gs = [G * (1 + 0.3 * k) * (-1) ** k for k in range(8)]
  ours, _ = run(tx, gs)
  theirs, _ = run(ref, gs)
  for t, (a, b) in enumerate(zip(ours, theirs), start=1):
    # optax computes ρ_t as ρ_∞ - 2tβ^t/(1-β^t) in float64 (cancellation ~1e-12
    # at t = 6, 7); ours is exact: rtol 1e-10 covers it, a wrong branch does not.
    close(a, b, rtol=1e-10, atol=0)
  close(ours[0], -0.1 * G)  # step 1: SGD with m̂_1 = g, not g / bc1


def test_plain_gradients_are_wrapped():
  for tx in (P.ema_first_moment(), P.ema_second_moment(), P.apply_learning_rate(0.1),
             P.diffgrad_friction(), P.trace_momentum(), P.count_steps()):
    out, _ = tx.update(G, tx.init(PARAMS), PARAMS)
    assert isinstance(out, Flow)
    assert out.grad is G


# ------------------------------------------------------------------- Flow


def test_flow_helpers():
  g = {"a": jnp.array([1.0, -2.0]), "b": None, "c": jnp.array(3.0)}
  flow = F.as_flow(g)
  assert isinstance(flow, Flow) and flow.grad is g
  assert flow.mu is None and flow.nu is None and flow.eta is None and flow.scale is None
  assert F.as_flow(flow) is flow
  assert F.direction(flow) is g
  assert F.step(flow) is g  # η = 1
  m = {"a": jnp.array([2.0, 2.0]), "b": None, "c": jnp.array(1.0)}
  flow = flow._replace(mu=m)
  assert F.direction(flow) is m
  flow = F.scale_eta_by_scalar(F.scale_eta_by_scalar(flow, 0.5), 4.0)
  assert flow.eta is None and flow.scale == 2.0  # scalars multiply as scalars
  e = F.full_eta(flow)
  assert e["b"] is None and e["c"].shape == () and float(e["c"]) == 2.0
  flow = F.scale_eta(flow, {"a": jnp.array([2.0, 4.0]), "b": None, "c": jnp.array(3.0)})
  s = F.step(flow)
  close(s["a"], [8.0, 16.0])
  close(s["c"], 6.0)
  assert s["b"] is None
  whole = F.with_full_eta(flow)
  assert whole.scale is None
  close(whole.eta["a"], [4.0, 8.0])
  assert [f.name for f in dataclasses.fields(Flow)] == [
      "grad", "mu", "nu", "nu_divisor", "eta", "eta_of_nu", "scale", "count", "decay", "facts",
      "stages"]
  recorded = F.record(flow, "my_stage", add=[F.NU_USED])
  assert recorded.stages == ("my_stage",) and F.NU_USED in recorded.facts
  assert F.NU_USED not in F.record(recorded, "other", remove=[F.NU_USED]).facts


def test_flow_is_not_a_pytree():
  flow = Flow(grad=G, stages=("ema_first_moment",))
  for treat in (jax.tree.leaves, lambda f: jax.tree.map(lambda x: x, f)):
    with pytest.raises(TypeError, match=r"Flow .*was used as a pytree after the stages "
                       r"ema_first_moment"):
      treat(flow)
  assert "ema_first_moment" in repr(flow)


def test_scale_eta_by_scalar_keeps_float32():
  g32 = jnp.ones(3, jnp.float32)
  flow = F.scale_eta_by_scalar(Flow(grad=g32), jnp.asarray(0.1, jnp.float64))
  assert eta(flow).dtype == jnp.float32
  assert F.step(flow).dtype == jnp.float32


def test_scalar_like_is_real_for_complex_leaves():
  c64 = jnp.ones(2, jnp.complex64)
  assert F.scalar_like(0.5, c64).dtype == jnp.float32
  assert F.scalar_like(jnp.asarray(0.5 + 0j, jnp.complex64), c64).dtype == jnp.float32
  assert F.real_dtype(c64) == jnp.float32
  assert F.real_dtype(jnp.ones(2, jnp.bfloat16)) == jnp.bfloat16


# -------------------------------------------- None leaves and zero-size arrays

ALL_PRIMITIVE_CHAINS = [
    counted(P.ema_first_moment(), P.ema_second_moment(), P.center_second_moment(),
            P.track_max_second_moment(), P.adaptive_step_size(),
            P.folded_bias_correction(), P.rectification(degenerated_to_sgd=True),
            P.apply_learning_rate(0.1), P.bound_step_size(0.1),
            P.momental_bound(), P.descend()),
    optax.chain(P.add_l2_penalty(0.1), P.count_steps(), P.yogi_second_moment(),
                P.adaptive_step_size(0.0, 1e-8), P.diffgrad_friction(), P.adadb_friction(),
                P.trace_momentum(nesterov=True),
                P.apply_learning_rate(optax.constant_schedule(0.1)),
                P.add_decoupled_weight_decay(0.1, 0.01), P.descend()),
    counted(P.ema_first_moment(), P.belief_second_moment(), P.bias_correction(),
            P.adaptive_step_size(), P.apply_learning_rate(0.1), P.descend()),
    counted(P.accumulate_second_moment(), P.delta_accumulator(), P.apply_learning_rate(1.0),
            P.descend()),
]


@pytest.mark.parametrize("index", range(len(ALL_PRIMITIVE_CHAINS)))
def test_every_primitive_handles_none_scalar_and_empty_leaves(index):
  tx = ALL_PRIMITIVE_CHAINS[index]
  params = {"n": None, "s": jnp.asarray(1.5), "e": jnp.zeros((0, 2)), "v": jnp.ones(3)}
  state = tx.init(params)
  for t in range(2):
    grads = jax.tree.map(lambda p: p * 0.5 + t + 0.1, params)
    updates, state = tx.update(grads, state, params)
    assert updates["n"] is None
    assert updates["s"].shape == () and updates["e"].shape == (0, 2)
    assert updates["v"].shape == (3,)
    for u in jax.tree.leaves(updates):
      assert np.all(np.isfinite(np.asarray(u)))


def test_empty_parameter_tree():
  """A bare ``None`` (or empty) parameter tree is a valid, empty pytree: every
  stage is a no-op on it, and no "needs `nu`" error is raised.  (adamw's
  decoupled decay reads params=None as "params not given" and refuses it.)"""
  for name in [n for n in optax_survey.OPTIMIZERS if n != "lookahead"]:
    tx = getattr(optax_survey, name)()
    for params in ((None, {}, [None]) if name != "adamw" else ({}, [None])):
      updates, _ = tx.update(params, tx.init(params), params)
      assert jax.tree.structure(updates) == jax.tree.structure(params)


def test_bound_step_size_refuses_a_schedule_starting_at_zero():
  warmup = optax.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100)
  with pytest.raises(ValueError, match=r"schedule starts at 0\.0: pass base_lr > 0"):
    P.bound_step_size(warmup, 0.1, 1e-3)
  with pytest.raises(ValueError, match="base_lr"):
    optax_survey.adabound(warmup)


def test_bound_step_size_evaluates_the_schedule_on_an_int32_count():
  seen = []

  def schedule(count):
    seen.append(count.dtype)  # optax schedules may call array methods
    return 1e-3 * jnp.ones([], count.astype(jnp.float32).dtype)

  P.bound_step_size(schedule, 0.1, 1e-3)
  assert seen == [jnp.int32]


def test_adabound_with_warmup_and_base_lr_follows_the_schedule():
  warmup = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 5, 50)
  tx = optax_survey.adabound(warmup, final_lr=0.1, base_lr=1e-2)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  grads = {"w": jnp.array([1.0, -2.0, 0.5])}
  updates, state = tx.update(grads, state, params)
  close(updates["w"], jnp.zeros(3))  # α_1 = warmup(0) = 0: no step, no NaN
  for _ in range(5):
    updates, state = tx.update(grads, state, params)
  assert np.all(np.isfinite(updates["w"])) and np.all(np.asarray(updates["w"]) != 0)
