"""Transformation properties that every optimizer must have.

Parametrised over the 17 survey aliases (default arguments) and Lookahead
around Adam and SGDM: jit / no-jit agreement, vmap over independent problems,
vmapped and traced learning rates, differentiability through updates,
``optax.inject_hyperparams``, awkward pytrees, dtypes and step-counter
saturation.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey
from optax_survey import primitives as P

ALIASES = [name for name in optax_survey.OPTIMIZERS if name != "lookahead"]
LOOKAHEADS = ["lookahead_adam", "lookahead_sgdm"]
NAMES = ALIASES + LOOKAHEADS

# Aliases that take ``mu_dtype`` (an Adam-style first moment).
MU_DTYPE_ALIASES = [
    name for name in ALIASES
    if "mu_dtype" in inspect.signature(getattr(optax_survey, name)).parameters
]


def test_alias_list_is_complete():
  assert len(ALIASES) == 17
  assert "lookahead" in optax_survey.OPTIMIZERS
  for name in ALIASES:
    assert callable(getattr(optax_survey, name))
  assert set(MU_DTYPE_ALIASES) == {
      "adam", "adamw", "amsgrad", "yogi", "adabelief", "diffgrad", "adadb",
      "adabound", "amsbound", "adamod", "radam", "sgdm", "nag", "rmsprop",
  }


def _inner_name(name: str) -> str:
  return name.split("_", 1)[1] if name.startswith("lookahead_") else name


def default_lr(name: str) -> float:
  fn = getattr(optax_survey, _inner_name(name))
  return inspect.signature(fn).parameters["learning_rate"].default


def factory(name: str):
  """A function ``learning_rate -> optimizer`` (a plain alias or a Lookahead)."""
  if name in LOOKAHEADS:
    inner = getattr(optax_survey, _inner_name(name))
    return lambda learning_rate: optax_survey.lookahead(inner(learning_rate))
  return getattr(optax_survey, name)


def make(name: str, learning_rate=None, **kwargs):
  if learning_rate is None:
    learning_rate = default_lr(name)
  if name in LOOKAHEADS:
    return factory(name)(learning_rate)
  return getattr(optax_survey, name)(learning_rate, **kwargs)


# A smooth problem whose gradient is nonzero in every element along the first
# steps (targets far from the start, different curvatures per element).
TARGETS = {"w": jnp.array([3.0, -4.0, 5.0]), "b": {"c": jnp.array([[-6.0, 7.0]])}}
PARAMS0 = {"w": jnp.array([0.5, -1.0, 2.0]), "b": {"c": jnp.array([[0.3, -0.7]])}}


def loss_fn(params):
  def leaf(p, t):
    return jnp.sum(0.5 * (1.0 + jnp.abs(t)) * (p - t) ** 2 + jnp.sin(p))
  return sum(jax.tree.leaves(jax.tree.map(leaf, params, TARGETS)))


grad_fn = jax.grad(loss_fn)


def step_fn(name):
  def step(learning_rate, params, state):
    tx = make(name, learning_rate)
    grads = grad_fn(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, updates
  return step


def assert_trees_close(a, b, rtol=1e-10, atol=1e-13):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                               rtol=rtol, atol=atol)


def assert_all_finite(tree):
  for leaf in jax.tree.leaves(tree):
    assert np.all(np.isfinite(np.asarray(leaf, np.float64))), leaf


# ------------------------------------------------------------ jit and traced lr


@pytest.mark.parametrize("name", NAMES)
def test_jit_with_traced_lr_matches_eager(name):
  """One jitted step (the learning rate a traced argument) reused for 6 steps
  equals the same steps run op by op with the concrete learning rate."""
  lr = default_lr(name)
  step = step_fn(name)
  jitted = jax.jit(step)
  p_e = p_j = PARAMS0
  s_e = make(name, lr).init(PARAMS0)
  s_j = make(name, lr).init(PARAMS0)
  moved = False
  for _ in range(6):
    p_e, s_e, u_e = step(lr, p_e, s_e)
    p_j, s_j, u_j = jitted(jnp.asarray(lr), p_j, s_j)
    assert_trees_close(u_e, u_j)
    assert_all_finite(u_j)
    moved |= any(np.any(np.asarray(u) != 0) for u in jax.tree.leaves(u_j))
  assert moved, "the optimizer never moved"
  assert_trees_close(p_e, p_j)
  assert_trees_close(s_e, s_j)
  # One trace for every step: the state's structure and dtypes are stable.
  assert jitted._cache_size() == 1


# ------------------------------------------------------------------- vmap


@pytest.mark.parametrize("name", NAMES)
def test_vmap_over_independent_problems_equals_loop(name):
  batch = 3
  scales = jnp.array([1.0, -0.5, 2.0])
  bparams = jax.tree.map(lambda p: scales.reshape((-1,) + (1,) * p.ndim) * p[None] + 0.1,
                         PARAMS0)
  lr = default_lr(name)
  step = step_fn(name)
  tx = make(name, lr)

  bstate = jax.vmap(tx.init)(bparams)
  bp = bparams
  bupdates = []
  for _ in range(2):
    bp, bstate, bu = jax.vmap(step, in_axes=(None, 0, 0))(lr, bp, bstate)
    bupdates.append(bu)

  for i in range(batch):
    p = jax.tree.map(lambda x: x[i], bparams)
    s = tx.init(p)
    for t in range(2):
      p, s, u = step(lr, p, s)
      assert_trees_close(u, jax.tree.map(lambda x: x[i], bupdates[t]))
    assert_trees_close(s, jax.tree.map(lambda x: x[i], bstate))


@pytest.mark.parametrize("name", NAMES)
def test_vmapped_learning_rate_sweep_equals_separate_runs(name):
  """The optimizer is built inside the vmapped function from a traced lr."""
  lrs = default_lr(name) * np.array([0.25, 0.5, 1.0, 2.0])

  def run(lr):
    tx = make(name, lr)
    params, state = PARAMS0, tx.init(PARAMS0)
    step = step_fn(name)
    for _ in range(2):
      params, state, _ = step(lr, params, state)
    return params

  swept = jax.vmap(run)(jnp.asarray(lrs))
  finals = []
  for i, lr in enumerate(lrs):
    single = run(float(lr))
    finals.append(single)
    assert_trees_close(single, jax.tree.map(lambda x: x[i], swept))
  if name not in ("radam",):  # RAdam makes no update before step 6
    assert not np.allclose(finals[0]["w"], finals[-1]["w"]), "lr had no effect"


# ------------------------------------------------------------------- grad


@pytest.mark.parametrize("name", NAMES)
def test_grad_through_updates_is_finite(name, num_steps=2):
  """d loss(θ_T) / d θ_0 through the optimizer's updates.

  Every gradient element is nonzero here (see ``loss_fn``): where an element's
  second moment is exactly 0, ``sqrt`` has an infinite derivative and the
  result is NaN (see ``test_grad_at_zero_second_moment_needs_eps_root``).
  """
  def loss_after(params0):
    tx = make(name)
    params, state = params0, tx.init(params0)
    for _ in range(num_steps):
      grads = grad_fn(params)
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
    return loss_fn(params)

  for g0 in jax.tree.leaves(grad_fn(PARAMS0)):
    assert np.all(np.asarray(g0) != 0)
  g = jax.grad(loss_after)(PARAMS0)
  assert_all_finite(g)
  assert any(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(g))


def test_grad_at_zero_second_moment_needs_eps_root():
  """Documents why ``eps_root`` exists: with a gradient element exactly 0,
  v = 0 and d sqrt(v)/dv = inf, so d/dθ of Adam's update is inf * 0 = NaN
  there; ``adaptive_step_size(eps_root>0)`` keeps it finite."""
  target = jnp.array([1.0, 0.0, -2.0])
  p0 = jnp.array([0.5, 0.0, 1.0])  # the middle gradient is exactly 0

  def loss_after(p, tx):
    state = tx.init(p)
    updates, _ = tx.update(p - target, state, p)
    return jnp.sum(optax.apply_updates(p, updates) ** 2)

  plain = np.asarray(jax.grad(loss_after)(p0, optax_survey.adam(0.1)))
  assert np.isnan(plain[1]) and np.all(np.isfinite(plain[[0, 2]]))
  rooted = optax.chain(
      P.count_steps(), P.ema_first_moment(0.9), P.ema_second_moment(0.999),
      P.bias_correction(0.9, 0.999), P.adaptive_step_size(1e-8, eps_root=1e-16),
      P.apply_learning_rate(0.1), P.descend())
  fixed = np.asarray(jax.grad(loss_after)(p0, rooted))
  assert np.all(np.isfinite(fixed))
  np.testing.assert_allclose(fixed[[0, 2]], plain[[0, 2]], rtol=1e-6)
  # The alias takes it too, as optax.adam does.
  alias = np.asarray(jax.grad(loss_after)(p0, optax_survey.adam(0.1, eps_root=1e-16)))
  np.testing.assert_array_equal(alias, fixed)


# ------------------------------------------------------- inject_hyperparams
# The values under inject_hyperparams, with the learning rate changed mid-run,
# are checked against the PyTorch references in test_parity_reference.py.


@pytest.mark.parametrize("name", NAMES)
def test_optimizers_can_be_wrapped_in_inject_hyperparams(name):
  """optax's alias_test of the same name: plain and injected optimizers give
  the same updates and states of the same structure (a checkpoint of one
  restores into the other).  It used to fail: an injected weight_decay=0.0 (an
  array) added a stage, rmsprop a momentum buffer, radam a counter."""
  opt = make(name)
  opt_inject = optax.inject_hyperparams(factory(name))(learning_rate=default_lr(name))
  params = [jnp.negative(jnp.ones((2, 3))), jnp.ones((2, 5, 2))]
  grads = [jnp.ones((2, 3)), jnp.negative(jnp.ones((2, 5, 2)))]
  state = jax.jit(opt.init)(params)
  updates, new_state = jax.jit(opt.update)(grads, state, params)
  state_inject = jax.jit(opt_inject.init)(params)
  updates_inject, new_state_inject = jax.jit(opt_inject.update)(grads, state_inject, params)
  assert_trees_close(updates_inject, updates, rtol=1e-12, atol=0)
  assert jax.tree.structure(new_state_inject.inner_state) == jax.tree.structure(new_state)
  assert_trees_close(new_state_inject.inner_state, new_state, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["adam", "adamw", "radam", "rmsprop", "adabelief", "sgd"])
def test_injected_weight_decay_keeps_the_plain_structure(name):
  plain = getattr(optax_survey, name)()
  injected = optax.inject_hyperparams(getattr(optax_survey, name))()
  assert jax.tree.structure(injected.init(PARAMS0).inner_state) == jax.tree.structure(
      plain.init(PARAMS0))


# ------------------------------------------------ state dtype and shape stability

STABILITY_DTYPES = [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64, jnp.complex64]


@pytest.mark.parametrize("dtype", STABILITY_DTYPES, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_state_shape_dtype_stability_under_scan_and_cond(name, dtype):
  """optax's test_state_shape_dtype_shard_stability, and a lax.scan: an update
  never changes the state's dtypes or shapes (AdaMod with bfloat16 parameters
  used to: its step-size EMA came back float32, a scan carry type error)."""
  tx = make(name)
  target = jnp.array([1.0, -1.0, 1.0], dtype) * (1 + 1j if jnp.iscomplexobj(dtype) else 1)
  params0 = jnp.array([-1.0, 10.0, 1.0], dtype)

  def grads_at(p):
    return jnp.conj(jax.grad(lambda q: jnp.sum(jnp.abs(q - target) ** 2))(p))

  state0 = tx.init(params0)
  spec = jax.tree.map(lambda x: (x.shape, x.dtype), state0)

  def step(carry, _):
    p, s = carry
    cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0  # unknown to XLA
    updates, s_new = jax.lax.cond(
        cond, lambda: tx.update(grads_at(p), s, p), lambda: (jnp.zeros_like(p), s))
    return (optax.apply_updates(p, updates), s_new), None

  (params, state), _ = jax.jit(
      lambda c: jax.lax.scan(step, c, None, length=3))((params0, state0))
  assert params.dtype == jnp.dtype(dtype)
  assert jax.tree.map(lambda x: (x.shape, x.dtype), state) == spec
  assert np.all(np.isfinite(np.asarray(params, np.complex128)))


# --------------------------------------------------------------- pytrees


def _odd_tree(dtype=jnp.float64):
  return {
      "nested": {"list": [jnp.array([1.0, -2.0], dtype), (jnp.array(3.0, dtype), None)]},
      "none": None,
      "scalar": jnp.array(-0.5, dtype),
      "empty": jnp.zeros((0, 3), dtype),
      "tuple": (jnp.ones((2, 2), dtype), [jnp.zeros((0,), dtype)]),
  }


@pytest.mark.parametrize("name", NAMES)
def test_nested_pytrees_with_none_scalar_and_empty_leaves(name):
  params = _odd_tree()
  tx = make(name)
  state = tx.init(params)
  for t in range(2):
    grads = jax.tree.map(lambda p: 0.5 * p + 0.25 * (t + 1), params)
    updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(params)
    assert updates["none"] is None
    assert updates["nested"]["list"][1][1] is None
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
      assert u.shape == p.shape and u.dtype == p.dtype
    assert_all_finite(updates)
    params = optax.apply_updates(params, updates)
  assert params["none"] is None


# ----------------------------------------------------------------- dtypes


def _floating_dtypes(tree):
  return {
      jnp.dtype(x.dtype) for x in jax.tree.leaves(tree)
      if jnp.issubdtype(x.dtype, jnp.floating)
  }


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_float_dtypes_are_kept(name, dtype):
  params = jax.tree.map(lambda p: p.astype(dtype), PARAMS0)
  tx = make(name)
  state = tx.init(params)
  init_dtypes = jax.tree.map(lambda x: x.dtype, state)
  for _ in range(2):
    grads = jax.tree.map(lambda g: g.astype(dtype), grad_fn(params))
    updates, state = tx.update(grads, state, params)
    for u in jax.tree.leaves(updates):
      assert u.dtype == dtype
    params = optax.apply_updates(params, updates)
    for p in jax.tree.leaves(params):
      assert p.dtype == dtype
    # The state keeps its dtypes (e.g. no float64 creeping into a float32 state).
    assert jax.tree.map(lambda x: x.dtype, state) == init_dtypes
  # (AdaBound's α_0 is a scalar in the default float, as the step scalars are.)
  buffers = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(
      x, P.BoundStepSizeState)) if not isinstance(s, P.BoundStepSizeState)]
  assert _floating_dtypes(buffers) <= {jnp.dtype(dtype)}


@pytest.mark.parametrize("name", MU_DTYPE_ALIASES)
def test_bfloat16_params_with_float32_first_moment(name):
  p32 = jnp.array([0.5, -1.0, 2.0, 3.0], jnp.float32)
  g32 = jnp.array([0.25, -0.5, 1.5, 0.125], jnp.float32)
  results = {}
  extra = {"momentum": 0.9, "centered": True} if name == "rmsprop" else {}
  for dtype in (jnp.float32, jnp.bfloat16):
    tx = getattr(optax_survey, name)(0.1, mu_dtype=jnp.float32, **extra)
    params = p32.astype(dtype)
    state = tx.init(params)
    for t in range(7):  # RAdam's first rectified step is the 6th
      grads = (g32 * (1 + 0.5 * t) * (-1) ** t).astype(dtype)
      updates, state = tx.update(grads, state, params)
      assert updates.dtype == dtype
      params = optax.apply_updates(params, updates)
      assert params.dtype == dtype
    first_moments = [s for s in state if isinstance(
        s, (P.FirstMomentState, P.MomentumState, P.CenteredSecondMomentState))]
    assert len(first_moments) == (2 if name == "rmsprop" else 1)
    for moment in first_moments:
      assert jax.tree.leaves(moment)[0].dtype == jnp.float32
    results[dtype] = (updates, params)
  u16, p16 = results[jnp.bfloat16]
  u32, p32_final = results[jnp.float32]
  scale = float(np.max(np.abs(np.asarray(u32)))) + 1e-12
  np.testing.assert_allclose(np.asarray(u16, np.float32), u32, rtol=3e-2, atol=3e-2 * scale)
  np.testing.assert_allclose(np.asarray(p16, np.float32), p32_final, rtol=2e-2, atol=1e-2)


# ------------------------------------------------------ counter saturation

INT32_MAX = int(np.iinfo(np.int32).max)


def _count_leaves(state):
  found = []

  def visit(path, x):
    if (path and isinstance(path[-1], jax.tree_util.GetAttrKey)
        and path[-1].name == "count" and x.dtype == jnp.int32):
      found.append(x)
    return x

  jax.tree_util.tree_map_with_path(visit, state)
  return found


def _set_counts(state, value):
  def replace(path, x):
    if (path and isinstance(path[-1], jax.tree_util.GetAttrKey)
        and path[-1].name == "count" and x.dtype == jnp.int32):
      return jnp.asarray(value, jnp.int32)
    return x
  return jax.tree_util.tree_map_with_path(replace, state)


def _lookahead_states(state):
  return [s for s in jax.tree.leaves(
      state, is_leaf=lambda x: isinstance(x, optax_survey.LookaheadState))
          if isinstance(s, optax_survey.LookaheadState)]


@pytest.mark.parametrize("name", NAMES)
def test_step_counters_saturate(name):
  tx = make(name)
  params = PARAMS0
  state = _set_counts(tx.init(params), INT32_MAX - 1)
  assert len(_count_leaves(state)) == 1  # one step counter per optimizer
  for _ in range(3):
    updates, state = tx.update(grad_fn(params), state, params)
    assert_all_finite(updates)
    params = optax.apply_updates(params, updates)
  assert_all_finite(state)
  lookaheads = _lookahead_states(state)
  assert len(lookaheads) == (1 if name in LOOKAHEADS else 0)
  for la in lookaheads:
    assert 0 <= int(la.steps_since_sync) < 5
  for count in _count_leaves(state):
    assert int(count) == INT32_MAX


def test_lookahead_count_stays_below_sync_period():
  tx = optax_survey.lookahead(optax_survey.sgd(0.1), sync_period=3)
  params = jnp.array([1.0, -1.0])
  state = tx.init(params)
  seen = []
  for _ in range(8):
    _, state = tx.update(jnp.array([0.5, 0.25]), state, params)
    seen.append(int(state.steps_since_sync))
  assert seen == [1, 2, 0, 1, 2, 0, 1, 2]
  # Started anywhere (even at int32 max), the counter is brought into [0, k).
  for start in (INT32_MAX - 1, INT32_MAX):
    _, s = tx.update(jnp.array([0.5, 0.25]), state._replace(
        steps_since_sync=jnp.asarray(start, jnp.int32)), params)
    assert 0 <= int(s.steps_since_sync) < 3


def test_radam_decoupled_decay_continues_at_saturated_count():
  """RAdam applies decoupled decay only on rectified steps; at a saturated
  step counter the step is still rectified, so the decay must still apply
  (``count + 1`` used to wrap around to a negative step number)."""
  params = jnp.array([1.0, -2.0, 3.0])
  grads = jnp.array([0.5, 0.25, -1.0])
  with_decay = optax_survey.radam(0.1, weight_decay=0.1)
  without = optax_survey.radam(0.1)
  s_w = _set_counts(with_decay.init(params), INT32_MAX - 1)
  s_o = _set_counts(without.init(params), INT32_MAX - 1)
  for _ in range(3):
    u_w, s_w = with_decay.update(grads, s_w, params)
    u_o, s_o = without.update(grads, s_o, params)
    np.testing.assert_allclose(u_w - u_o, -0.1 * 0.1 * params, rtol=1e-9)
