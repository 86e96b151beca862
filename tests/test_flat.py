"""Flat-parameters mode (optax_survey/flat.py) and ``optax.flatten``.

For every optimizer, 10 jitted steps on a nested tree of several leaves run
(a) on the tree, (b) on the raveled vector (``flatten_params`` +
``flat_loss``) and (c) wrapped in ``optax.flatten``; (b) and (c) must give
the tree run's parameters (and Lookahead's slow weights) to float64
round-off.  Measured (CPU, jitted): 12 of the 18 agree bit for bit, the
others (adam, adamw, amsgrad, yogi, adadb, lookahead) within 2.3e-16
absolute, 1.8e-15 relative; both flat modes give the same numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey as osv

ALIASES = [name for name in osv.OPTIMIZERS if name != "lookahead"]
STEPS = 10
RTOL, ATOL = 1e-12, 1e-14

_rng = np.random.default_rng(0)
PARAMS0 = {
    "layers": [
        {"w": jnp.asarray(_rng.normal(size=(3, 4))), "b": jnp.asarray(_rng.normal(size=4))}
        for _ in range(2)
    ],
    "head": {"w": jnp.asarray(_rng.normal(size=(4, 2))), "b": jnp.asarray(_rng.normal(size=2))},
    "scale": jnp.asarray(0.7),
}
# Targets far from the start and a different curvature per element: every
# gradient element is nonzero along the run.
TARGETS = jax.tree.map(lambda p: jnp.asarray(3.0 * _rng.normal(size=p.shape)), PARAMS0)
FLAT0, UNRAVEL = osv.flatten_params(PARAMS0)


def loss_fn(params, scale=1.0):
  def leaf(p, t):
    return jnp.sum((1.0 + jnp.abs(t)) * (p - t) ** 2 + jnp.sin(p))
  return scale * sum(jax.tree.leaves(jax.tree.map(leaf, params, TARGETS)))


def make(name: str, **kwargs) -> optax.GradientTransformation:
  """Learning rates that move every optimizer visibly in 10 steps; Lookahead
  syncs 3 times (k=3)."""
  if name == "lookahead":
    return osv.lookahead(make("adam", **kwargs), sync_period=3, slow_step_size=0.5)
  return getattr(osv, name)(1.0 if name == "adadelta" else 0.05, **kwargs)


def run(*specs):
  """``STEPS`` steps of each ``(tx, params0, loss)``, all in one jitted call
  (one compilation); returns the final ``(params, state)`` of each."""

  def one(tx, params, loss):
    def body(carry, _):
      p, s = carry
      u, s = tx.update(jax.grad(loss)(p), s, p)
      return (optax.apply_updates(p, u), s), None

    return jax.lax.scan(body, (params, tx.init(params)), None, length=STEPS)[0]

  return jax.jit(lambda ps: [one(tx, p, loss) for (tx, _, loss), p in zip(specs, ps)])(
      [params0 for _, params0, _ in specs])


def assert_trees_close(actual, expected):
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    assert a.shape == e.shape and a.dtype == e.dtype
    np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=RTOL, atol=ATOL)


def ravel(tree):
  return osv.flatten_params(tree)[0]


# ------------------------------------------------------------- trajectories


@pytest.mark.parametrize("name", osv.OPTIMIZERS)
def test_flat_mode_and_optax_flatten_equal_the_tree_run(name):
  (tree, tree_state), (flat, flat_state), (wrapped, wrapped_state) = run(
      (make(name), PARAMS0, loss_fn),
      (make(name), FLAT0, osv.flat_loss(loss_fn, UNRAVEL)),
      (optax.flatten(make(name)), PARAMS0, loss_fn))

  assert np.max(np.abs(ravel(tree) - FLAT0)) > 1e-3, "the optimizer never moved"
  assert flat.shape == FLAT0.shape
  assert_trees_close(UNRAVEL(flat), tree)
  assert_trees_close(wrapped, tree)
  # the state is flat in both flat modes: one leaf per tree-shaped buffer
  n_buffers = len(jax.tree.leaves(tree_state)) // len(jax.tree.leaves(PARAMS0))
  scalars = len(jax.tree.leaves(tree_state)) % len(jax.tree.leaves(PARAMS0))
  for state in (flat_state, wrapped_state):
    assert len(jax.tree.leaves(state)) == n_buffers + scalars


def test_lookahead_slow_weights_in_flat_mode():
  """Lookahead acts on params: in flat mode its slow weights are the flat
  vector, ``unravel`` gives the tree run's."""
  (fast, tree_state), (_, flat_state), (_, wrapped_state) = run(
      (make("lookahead"), PARAMS0, loss_fn),
      (make("lookahead"), FLAT0, osv.flat_loss(loss_fn, UNRAVEL)),
      (optax.flatten(make("lookahead")), PARAMS0, loss_fn))
  slow = osv.lookahead_slow_params(tree_state)
  assert np.max(np.abs(ravel(slow) - FLAT0)) > 1e-3
  assert not np.allclose(ravel(slow), ravel(fast))  # 10 steps: 1 past the last sync
  assert_trees_close(UNRAVEL(osv.lookahead_slow_params(flat_state)), slow)
  assert_trees_close(UNRAVEL(osv.lookahead_slow_params(wrapped_state)), slow)


def _decay_matrices(params):
  return jax.tree.map(lambda p: p.ndim > 1, params)


@pytest.mark.parametrize("name", osv.OPTIMIZERS)
def test_flat_mask_reproduces_a_weight_decay_mask(name):
  """``mask=`` (leaves) on the tree equals ``weight_decay * flat_mask`` on the
  flat vector (and inside ``optax.flatten``), for L2 and decoupled decay alike."""
  decay = 0.1 * osv.flat_mask(_decay_matrices, PARAMS0)
  (masked, _), (unmasked, _), (flat, _), (wrapped, _) = run(
      (make(name, weight_decay=0.1, mask=_decay_matrices), PARAMS0, loss_fn),
      (make(name, weight_decay=0.1), PARAMS0, loss_fn),
      (make(name, weight_decay=decay), FLAT0, osv.flat_loss(loss_fn, UNRAVEL)),
      (optax.flatten(make(name, weight_decay=decay)), PARAMS0, loss_fn))

  assert not np.allclose(ravel(masked), ravel(unmasked), rtol=1e-6), "mask had no effect"
  assert_trees_close(UNRAVEL(flat), masked)
  assert_trees_close(wrapped, masked)


def test_flat_mask_values_prefix_masks_and_dtype():
  m = osv.flat_mask(_decay_matrices, PARAMS0)
  assert m.shape == FLAT0.shape and m.dtype == FLAT0.dtype
  expected = _decay_matrices(PARAMS0)
  assert_trees_close(UNRAVEL(m), jax.tree.map(
      lambda keep, p: jnp.full(p.shape, float(keep)), expected, PARAMS0))
  # a prefix of the tree (as optax.masked accepts), and float32 parameters
  prefix = {"layers": True, "head": False, "scale": False}
  p32 = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS0)
  m32 = osv.flat_mask(prefix, p32)
  assert m32.dtype == jnp.float32
  layers = sum(p.size for p in jax.tree.leaves(PARAMS0["layers"]))
  assert float(m32.sum()) == layers
  np.testing.assert_array_equal(UNRAVEL(m32.astype(FLAT0.dtype))["head"]["w"], 0.0)


# ------------------------------------------------------------------- helpers


def test_flatten_params_round_trips_in_leaf_order():
  flat, unravel = osv.flatten_params(PARAMS0)
  assert flat.ndim == 1 and flat.dtype == jnp.float64
  np.testing.assert_array_equal(
      flat, jnp.concatenate([p.ravel() for p in jax.tree.leaves(PARAMS0)]))
  assert_trees_close(unravel(flat), PARAMS0)
  # inside jit (traced leaves) too
  np.testing.assert_array_equal(jax.jit(lambda p: osv.flatten_params(p)[0])(PARAMS0), flat)


def test_flat_loss_gradient_is_the_raveled_tree_gradient():
  loss = osv.flat_loss(loss_fn, UNRAVEL)
  value, grads = jax.jit(jax.value_and_grad(loss))(FLAT0, scale=2.0)
  tree_value, tree_grads = jax.jit(jax.value_and_grad(loss_fn))(PARAMS0, scale=2.0)
  assert value == tree_value
  np.testing.assert_allclose(grads, ravel(tree_grads), rtol=RTOL)
  aux = osv.flat_loss(lambda p, x: (loss_fn(p), x + 1), UNRAVEL)
  (value, out), grads = jax.jit(jax.value_and_grad(aux, has_aux=True))(FLAT0, 1)
  assert out == 2 and value == tree_value / 2 and grads.shape == FLAT0.shape


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "params has no array leaves"),
        ({"a": [], "b": None}, "params has no array leaves"),
        ({"a": jnp.zeros(2), "b": 1.5}, "params['b'] is a float"),
        ({"a": jnp.zeros(2), "n": jnp.arange(3)}, "params['n'] has int"),
        ({"a": jnp.zeros(2, jnp.float32), "b": jnp.zeros(2, jnp.bfloat16)}, "mix dtypes"),
    ],
)
def test_flatten_params_rejects_what_it_cannot_ravel_faithfully(params, message):
  with pytest.raises(TypeError, match="params") as info:
    osv.flatten_params(params)
  assert message in str(info.value)


def test_flat_mask_validates():
  with pytest.raises(TypeError, match="mix dtypes"):
    osv.flat_mask(True, {"a": jnp.zeros(2, jnp.float32), "b": jnp.zeros(2)})
  with pytest.raises(ValueError, match="mask must have the structure of params"):
    osv.flat_mask({"w": True}, {"w": jnp.zeros(2), "b": jnp.zeros(2)})


def test_flat_loss_validates():
  with pytest.raises(TypeError, match="loss_fn must be callable"):
    osv.flat_loss(1.0, UNRAVEL)
  with pytest.raises(TypeError, match="unravel must be callable"):
    osv.flat_loss(loss_fn, FLAT0)
