"""The aliases: NAG's look-ahead form, chain structure, weight decay and masks."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import optax_survey as osv
from optax_survey import (
    BoundStepSizeState, CenteredSecondMomentState, CountState, DeltaAccumulatorState,
    FirstMomentState, MaxSecondMomentState, MomentumState, SecondMomentState,
)

# XLA CPU -O0: halves compile time; the runs themselves take milliseconds.
FAST_COMPILE = {"xla_backend_optimization_level": 0}

PARAMS0 = {
    "w": jnp.asarray([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]),
    "b": jnp.asarray([0.3, -0.7]),
    "s": jnp.asarray(1.5),
}
_FLAT0, _UNRAVEL = ravel_pytree(PARAMS0)
_N = _FLAT0.size


def _spd():
  rng = np.random.default_rng(3)
  q, _ = np.linalg.qr(rng.normal(size=(_N, _N)))
  eig = np.geomspace(0.1, 4.0, _N)  # condition number 40
  return jnp.asarray(q @ np.diag(eig) @ q.T)


A = _spd()
C = jnp.asarray(np.random.default_rng(4).normal(size=_N))


def coupled_grad(params):
  """Gradient of 0.5 (x - c)ᵀ A (x - c) over the flattened pytree x."""
  x, _ = ravel_pytree(params)
  return _UNRAVEL(A @ (x - C))


def diag_grad(params):
  """Gradient of a separable quadratic: each leaf's gradient depends on itself only."""
  return jax.tree.map(lambda p: (1.0 + jnp.abs(p)) * (p - 0.2), params)


def _compile(fn):
  return jax.jit(fn).lower().compile(FAST_COMPILE)


def _trajectory(tx, grad_fn, steps):
  """Parameters after each of ``steps`` steps (leaf arrays of shape (steps, ...))."""

  def run():
    def body(carry, _):
      p, s = carry
      u, s = tx.update(grad_fn(p), s, p)
      p = optax.apply_updates(p, u)
      return (p, s), p

    return jax.lax.scan(body, (PARAMS0, tx.init(PARAMS0)), None, length=steps)[1]

  return jax.device_get(_compile(run)())


# ------------------------------------------------------------------ (a) NAG


def test_nag_equals_survey_lookahead_form():
  """The survey's Alg. 3 with the learning rate inside the look-ahead (Sutskever):

      m_t = μ m_{t-1} + lr ∇f(θ_{t-1} - μ m_{t-1}),   θ_t = θ_{t-1} - m_t,  m_0 = 0,

  and torch/optax/ours, ``b_t = μ b_{t-1} + g_t``, ``θ'_t = θ'_{t-1} - lr (g_t + μ b_t)``
  with ``g_t = ∇f(θ'_{t-1})``, are the same trajectory under the change of variables
  ``θ' = θ - μ m`` (= θ - lr μ b, as m = lr b): ours evaluates the gradient at the
  survey's look-ahead point.  Proof: with φ_t = θ_t - μ m_t,
  φ_t = φ_{t-1} - lr g_t - μ(μ m_{t-1} + lr g_t) = φ_{t-1} - lr (g_t + μ b_t).
  """
  lr, mu, steps = 0.05, 0.9, 150
  ours = osv.nag(lr, momentum=mu)

  def run():
    def body(carry, _):
      p, s, theta, m = carry
      u, s = ours.update(coupled_grad(p), s, p)
      p = optax.apply_updates(p, u)
      g = coupled_grad(_UNRAVEL(theta - mu * m))  # survey: look-ahead gradient
      m = mu * m + lr * ravel_pytree(g)[0]
      theta = theta - m
      buf = optax.tree_utils.tree_get(s, "momentum")
      return (p, s, theta, m), (ravel_pytree(p)[0], ravel_pytree(buf)[0], theta, m)

    init = (PARAMS0, ours.init(PARAMS0), _FLAT0, jnp.zeros(_N))
    return jax.lax.scan(body, init, None, length=steps)[1]

  p, buf, theta, m = jax.device_get(_compile(run)())
  # ours' parameters are the survey's look-ahead points, at every step (measured
  # max difference 9e-16), and ours' momentum buffer is the survey's m / lr (2e-15)
  np.testing.assert_allclose(p, theta - mu * m, rtol=1e-13, atol=1e-14)
  np.testing.assert_allclose(buf, m / lr, rtol=1e-13, atol=1e-14)
  # non-trivial: it converges, and the two parametrisations are distinct points
  x_star = np.linalg.solve(np.asarray(A), np.asarray(A @ C))
  assert np.max(np.abs(theta[-1] - x_star)) < 1e-2 < np.max(np.abs(theta[0] - x_star))
  assert np.max(np.abs(p[5] - theta[5])) > 1e-2


def test_nag_survey_form_without_lr_is_different():
  """Alg. 3 as printed drops the lr from the look-ahead (θ - μ b with b in gradient
  units): that is a different method, which the test above would catch."""
  lr, mu = 0.02, 0.9
  theta = np.asarray(_FLAT0)
  b = np.zeros(_N)
  for _ in range(2):
    g = np.asarray(ravel_pytree(coupled_grad(_UNRAVEL(jnp.asarray(theta - mu * b))))[0])
    b = mu * b + g
    theta = theta - lr * b
  tx, p = osv.nag(lr, momentum=mu), PARAMS0
  s = tx.init(p)
  for _ in range(2):
    u, s = tx.update(coupled_grad(p), s, p)
    p = optax.apply_updates(p, u)
  lookahead_point = theta - lr * mu * b  # the right change of variables
  assert np.max(np.abs(ravel_pytree(p)[0] - lookahead_point)) > 1e-3


# -------------------------------------------------------- (b) chain structure


E = optax.EmptyState
L2 = E  # add_l2_penalty: always in the chain, idle at a Python 0


@pytest.mark.parametrize(
    "name,tx,types",
    [
        ("adam", osv.adam(), (L2, CountState, FirstMomentState, SecondMomentState,
                               E, E, E, E)),
        ("amsgrad", osv.amsgrad(), (L2, CountState, FirstMomentState, SecondMomentState,
                                     MaxSecondMomentState, E, E, E, E)),
        ("radam", osv.radam(), (CountState, FirstMomentState, SecondMomentState,
                                 E, E, E, E, E, E)),
        ("rmsprop_centered_momentum", osv.rmsprop(centered=True, momentum=0.9),
         (L2, CountState, SecondMomentState, CenteredSecondMomentState, E,
          MomentumState, E, E)),
        ("rmsprop", osv.rmsprop(), (L2, CountState, SecondMomentState, E, E, E)),
        ("adadelta", osv.adadelta(), (L2, CountState, SecondMomentState,
                                       DeltaAccumulatorState, E, E)),
        ("nag", osv.nag(), (L2, CountState, MomentumState, E, E)),
        ("sgd", osv.sgd(), (L2, CountState, E, E)),
        ("adabound", osv.adabound(), (L2, CountState, FirstMomentState, SecondMomentState,
                                       E, E, E, BoundStepSizeState, E)),
        # adamw: the decoupled weight decay stage (default 1e-2) before descend()
        ("adamw", osv.adamw(), (CountState, FirstMomentState, SecondMomentState,
                                 E, E, E, E, E)),
    ],
)
def test_alias_state_is_a_tuple_of_primitive_states(name, tx, types):
  assert isinstance(tx, optax.GradientTransformationExtraArgs), name
  state = tx.init(PARAMS0)
  assert type(state) is tuple
  assert tuple(type(s) for s in state) == types
  for s in state:
    for field in getattr(s, "_fields", ()):
      if field not in ("count", "base_lr"):  # per-parameter buffers are shaped like the params
        assert jax.tree.structure(getattr(s, field)) == jax.tree.structure(PARAMS0)


ALIASES = [name for name in osv.OPTIMIZERS if name != "lookahead"]


@pytest.mark.parametrize("name", ALIASES + ["lookahead"])
@pytest.mark.parametrize("schedule", [False, True], ids=["constant", "schedule"])
def test_one_step_counter_readable_with_tree_get(name, schedule):
  """Every optimizer has exactly one ``count`` (optax.tree_utils.tree_get used
  to raise "multiple values" for radam, adabound and adamw with a schedule),
  and it is the number of updates done."""
  lr = optax.exponential_decay(1e-2, 10, 0.9) if schedule else 1e-2
  tx = osv.lookahead(osv.adam(lr)) if name == "lookahead" else getattr(osv, name)(lr)
  state = tx.init(PARAMS0)
  assert len(optax.tree_utils.tree_get_all_with_path(state, "count")) == 1
  for k in range(1, 4):
    _, state = tx.update(diag_grad(PARAMS0), state, PARAMS0)
    assert int(optax.tree_utils.tree_get(state, "count")) == k


def test_adam_written_out_as_primitives_is_adam():
  """The recipe in the README and the adam alias, against optax.adam (an
  independent implementation of the same rule) over 20 steps."""
  explicit = optax.chain(
      osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
      osv.bias_correction(0.9, 0.999), osv.adaptive_step_size(1e-8),
      osv.apply_learning_rate(0.05), osv.descend())
  reference = _trajectory(optax.adam(0.05), diag_grad, 20)
  for tx in (explicit, osv.adam(0.05)):
    ours = _trajectory(tx, diag_grad, 20)
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
      np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ALIASES)
def test_arguments_after_the_learning_rate_are_keyword_only(name):
  """``osv.sgd(0.1, 0.9)`` used to mean weight_decay=0.9 (optax's is momentum)."""
  params = inspect.signature(getattr(osv, name)).parameters.values()
  first, *rest = params
  assert first.name == "learning_rate"
  assert rest and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
  with pytest.raises(TypeError, match="positional argument"):
    getattr(osv, name)(0.1, 0.9)


def test_adam_family_offers_what_optax_adam_offers():
  """eps_root and nesterov (NAdam), checked against optax."""
  p, g = PARAMS0, diag_grad(PARAMS0)
  for ours, theirs in (
      (osv.adam(0.1, eps_root=1e-6), optax.adam(0.1, eps_root=1e-6)),
      (osv.adam(0.1, nesterov=True), optax.nadam(0.1)),
      (osv.adamw(0.1, nesterov=True, weight_decay=0.1),
       optax.adamw(0.1, nesterov=True, weight_decay=0.1)),
  ):
    so, st = ours.init(p), theirs.init(p)
    for _ in range(5):
      uo, so = ours.update(g, so, p)
      ut, st = theirs.update(g, st, p)
      for a, b in zip(jax.tree.leaves(uo), jax.tree.leaves(ut)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
  eps_root = [n for n in ALIASES if "eps_root" in inspect.signature(getattr(osv, n)).parameters]
  assert set(eps_root) >= {"adam", "adamw", "amsgrad", "yogi", "adabelief", "diffgrad",
                           "adadb", "adabound", "amsbound", "adamod", "radam"}


# ------------------------------------------------ (c) weight_decay=0 and state


@pytest.mark.parametrize("alias", [osv.adam, osv.adamw, osv.sgd, osv.radam, osv.adabelief])
def test_weight_decay_stage_is_always_there(alias):
  """Python 0, int 0, an array 0 (inject_hyperparams) and a decay all give the
  same state structure, so checkpoints of one restore into the others."""
  structures = {
      jax.tree.structure(alias(weight_decay=wd).init(PARAMS0))
      for wd in (0.0, 0, jnp.asarray(0.0), 1e-3)
  }
  assert len(structures) == 1


@pytest.mark.parametrize("alias", [osv.adam, osv.adamw])
def test_array_zero_weight_decay_keeps_stage_and_changes_nothing(alias):
  tx0, tx1 = alias(0.1, weight_decay=0.0), alias(0.1, weight_decay=jnp.asarray(0.0))
  p0 = _trajectory(tx0, diag_grad, 5)
  p1 = _trajectory(tx1, diag_grad, 5)
  for a, b in zip(jax.tree.leaves(p0), jax.tree.leaves(p1)):
    np.testing.assert_array_equal(a, b)
  assert np.max(np.abs(p1["w"][-1] - PARAMS0["w"])) > 0.1


def test_inject_hyperparams_weight_decay_state_is_stable_and_live():
  """Under optax.inject_hyperparams the weight decay is an array, so the stage is
  kept even at 0: the state structure does not change, and setting the injected
  weight_decay afterwards takes effect."""
  tx = optax.inject_hyperparams(osv.adamw)(learning_rate=0.1, weight_decay=0.0)
  p = PARAMS0
  s = tx.init(p)
  assert jax.tree.structure(s.inner_state) == jax.tree.structure(
      osv.adamw(weight_decay=0.1).init(p))
  update = jax.jit(tx.update)  # one compilation: same structure and shapes twice
  u0, s_next = update(diag_grad(p), s, p)
  assert jax.tree.structure(s_next) == jax.tree.structure(s)
  s.hyperparams["weight_decay"] = jnp.asarray(0.5)
  u1, s_after = update(diag_grad(p), s, p)
  assert jax.tree.structure(s_after) == jax.tree.structure(s)
  # decoupled: the decay adds -lr·wd·θ to the update
  lr = np.asarray(s.hyperparams["learning_rate"])
  for a, b, x in zip(jax.tree.leaves(u1), jax.tree.leaves(u0), jax.tree.leaves(p)):
    np.testing.assert_allclose(a - b, -lr * 0.5 * np.asarray(x), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ (d) mask


@pytest.mark.parametrize("alias", [osv.adam, osv.adamw], ids=["l2", "decoupled"])
@pytest.mark.parametrize("mask_kind", ["tree", "callable"])
def test_mask_excludes_a_leaf_from_weight_decay(alias, mask_kind):
  mask = {"w": True, "b": False, "s": True}
  if mask_kind == "callable":
    mask = lambda params: {"w": True, "b": False, "s": True}  # noqa: E731
  wd, lr, steps = 0.3, 0.05, 25

  def run():
    out = []
    for tx in (alias(lr, weight_decay=wd, mask=mask), alias(lr, weight_decay=0.0),
               alias(lr, weight_decay=wd)):
      def body(carry, _, tx=tx):
        p, s = carry
        u, s = tx.update(diag_grad(p), s, p)
        p = optax.apply_updates(p, u)
        return (p, s), p
      out.append(jax.lax.scan(body, (PARAMS0, tx.init(PARAMS0)), None, length=steps)[1])
    return out

  masked, none, full = jax.device_get(_compile(run)())
  # the excluded leaf follows the no-decay run exactly
  np.testing.assert_array_equal(masked["b"], none["b"])
  # the decayed leaves follow the all-decay run exactly, and differ from no decay
  for k in ("w", "s"):
    np.testing.assert_array_equal(masked[k], full[k])
    assert np.max(np.abs(masked[k] - none[k])) > 1e-3
  assert np.max(np.abs(full["b"] - none["b"])) > 1e-3  # decay would have changed it


# ------------------------------------------- (e) RAdam: no decay while inactive


def test_radam_weight_decay_only_when_rectification_is_active():
  """degenerated_to_sgd=False: no update at all in steps 1..5 (ρ_t < 5 for
  b2 = 0.999), weight decay included; from step 6 on, the rectified step plus
  the decoupled decay -lr·wd·θ."""
  lr, wd, steps = 0.05, 0.1, 9
  t = jnp.arange(1, steps + 1)
  np.testing.assert_array_equal(
      osv.rectification_is_active(t, 0.999), np.asarray(t) >= 6)
  tx = osv.radam(lr, weight_decay=wd, degenerated_to_sgd=False)
  plain = osv.radam(lr, degenerated_to_sgd=False)
  p, s, sp = PARAMS0, tx.init(PARAMS0), plain.init(PARAMS0)
  for step in range(1, steps + 1):
    g = diag_grad(p)
    u, s = tx.update(g, s, p)
    up, sp = plain.update(g, sp, p)
    new_p = optax.apply_updates(p, u)
    if step <= 5:
      for x, y, z in zip(jax.tree.leaves(new_p), jax.tree.leaves(PARAMS0), jax.tree.leaves(u)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(z, 0.0)
    else:
      for a, b, x in zip(jax.tree.leaves(u), jax.tree.leaves(up), jax.tree.leaves(p)):
        np.testing.assert_allclose(a, b - lr * wd * x, rtol=1e-14, atol=1e-16)
        assert np.all(a != 0)
    p = new_p
  assert np.max(np.abs(p["w"] - PARAMS0["w"])) > 1e-3


def test_radam_degenerated_to_sgd_decays_from_step_1():
  lr, wd = 0.05, 0.1
  tx = osv.radam(lr, weight_decay=wd, degenerated_to_sgd=True)
  g = diag_grad(PARAMS0)
  u, _ = tx.update(g, tx.init(PARAMS0), PARAMS0)
  # step 1: SGD with m̂_1 = g, plus the decay
  for a, gg, x in zip(jax.tree.leaves(u), jax.tree.leaves(g), jax.tree.leaves(PARAMS0)):
    np.testing.assert_allclose(a, -lr * gg - lr * wd * x, rtol=1e-14, atol=1e-16)


# ------------------------------------------- (f) state dtypes: mu_dtype, nu_dtype

NU_DTYPE_ALIASES = [
    name for name in osv.OPTIMIZERS
    if name != "lookahead" and "nu_dtype" in inspect.signature(getattr(osv, name)).parameters
]
MOMENT_FIELDS = ("mu", "nu", "nu_max")
PARAMS32 = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS0)
_, _UNRAVEL32 = ravel_pytree(PARAMS32)
_A32, _C32 = A.astype(jnp.float32), C.astype(jnp.float32)
# Learning rates that move the parameters visibly in 20 steps.
_DTYPE_LR = {"adadelta": 1.0, "adagrad": 0.1}


def _coupled_grad32(params):
  """``coupled_grad`` in float32."""
  x, _ = ravel_pytree(params)
  return _UNRAVEL32(_A32 @ (x - _C32))


def _dtype_run(name, steps=20, **kwargs):
  """(final params, final state, last updates) of ``steps`` jitted steps from PARAMS32."""
  tx = getattr(osv, name)(_DTYPE_LR.get(name, 1e-2), **kwargs)

  def run():
    def body(carry, _):
      p, s = carry
      u, s = tx.update(_coupled_grad32(p), s, p)
      return (optax.apply_updates(p, u), s), u

    (p, s), us = jax.lax.scan(body, (PARAMS32, tx.init(PARAMS32)), None, length=steps)
    return p, s, jax.tree.map(lambda u: u[-1], us)

  return jax.device_get(_compile(run)())


def _leaves_by_field(state):
  """(field name, leaf) for every array in the state, named by its NamedTuple field."""
  out = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    names = [k.name for k in path if isinstance(k, jax.tree_util.GetAttrKey)]
    out.append((names[-1] if names else "", leaf))
  return out


MU_DTYPE_ALIASES = [
    name for name in NU_DTYPE_ALIASES
    if "b1" in inspect.signature(getattr(osv, name)).parameters
]


def _dtype_kwargs(name, dtype):
  takes_mu = "mu_dtype" in inspect.signature(getattr(osv, name)).parameters
  return {"nu_dtype": dtype, **({"mu_dtype": dtype} if takes_mu else {})}


def test_nu_dtype_aliases_are_the_adaptive_ones():
  assert set(NU_DTYPE_ALIASES) == {
      "adagrad", "adadelta", "rmsprop", "adam", "adamw", "amsgrad", "yogi",
      "adabelief", "diffgrad", "adadb", "adabound", "amsbound", "adamod", "radam",
  }


@pytest.mark.parametrize("name", NU_DTYPE_ALIASES)
def test_bfloat16_moments_store_bfloat16_and_track_float32(name):
  p32, s32, u32 = _dtype_run(name)
  p16, s16, u16 = _dtype_run(name, **_dtype_kwargs(name, jnp.bfloat16))
  fields = set()
  for (field, a), (_, b) in zip(_leaves_by_field(s16), _leaves_by_field(s32)):
    if field in MOMENT_FIELDS:  # (a) the moments are stored in bfloat16 ...
      fields.add(field)
      assert a.dtype == jnp.bfloat16 and b.dtype == jnp.float32, field
    elif field == "base_lr":  # AdaBound's α_0: a scalar in the default float
      assert a.dtype == b.dtype == jnp.result_type(float) and a.shape == ()
    elif jnp.issubdtype(a.dtype, jnp.floating):  # ... the other buffers are not
      assert a.dtype == b.dtype == jnp.float32, field
    else:  # ... and the counts are the same
      assert a.dtype == b.dtype == jnp.int32, field
      np.testing.assert_array_equal(a, b)
  assert "nu" in fields
  # (rmsprop's mu_dtype is for its momentum buffer, absent by default)
  assert ("mu" in fields) == (name in MU_DTYPE_ALIASES)
  assert ("nu_max" in fields) == (name in ("amsgrad", "amsbound"))
  # (b) the updates and parameters keep the parameters' dtype.
  for u, p in zip(jax.tree.leaves(u16), jax.tree.leaves(p16)):
    assert u.dtype == p.dtype == jnp.float32
  # (c) 20 steps stay close to the float32 run.  Every stored moment is rounded
  # to 8 significant bits (relative error <= 2^-9 = 0.002; v enters through a
  # square root, so half that); measured over these 20 steps: at most 0.44% of
  # the largest displacement (AdaMod, RAdam), 0.07-0.34% for the others.
  x16, x32, x0 = (ravel_pytree(t)[0] for t in (p16, p32, PARAMS32))
  displacement = float(np.max(np.abs(x32 - x0)))
  assert displacement > 1e-3
  np.testing.assert_allclose(x16, x32, rtol=0, atol=1e-2 * displacement)


@pytest.mark.parametrize("name", NU_DTYPE_ALIASES)
def test_default_state_dtypes_are_unchanged(name):
  """(d) None (the default) and the parameters' own dtype change nothing, bit for bit."""
  p, s, u = _dtype_run(name)
  for field, leaf in _leaves_by_field(s):
    if field not in ("count", "base_lr"):  # (the scalars: int32, default float)
      assert leaf.dtype == jnp.float32, field
  for dtype in (None, jnp.float32):
    p2, s2, u2 = _dtype_run(name, **_dtype_kwargs(name, dtype))
    for a, b in zip(jax.tree.leaves((p, s, u)), jax.tree.leaves((p2, s2, u2))):
      assert a.dtype == b.dtype
      np.testing.assert_array_equal(a, b)
