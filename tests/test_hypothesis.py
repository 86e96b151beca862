"""Property-based tests over random pytrees and hyperparameters (hypothesis).

Eager (no jit) on a small set of shapes, so few kernels are compiled.
"""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import optax_survey
from conftest import require
from optax_survey import primitives as P
from optax_survey.flow import Flow

torch = require("torch")
adabound_ref = require("adabound")

SETTINGS = settings(max_examples=25, deadline=None)
ALIASES = [name for name in optax_survey.OPTIMIZERS if name != "lookahead"]
SHAPES = [(), (0,), (3,), (2, 2), (0, 3)]

# Magnitudes below 1e-100 are left out: their squares are subnormal, which XLA
# on CPU flushes to zero while NumPy keeps them (a platform convention, not a
# property of the optimizers).
values = st.one_of(
    st.just(0.0),
    st.floats(-10.0, 10.0, width=64).filter(lambda x: x == 0 or abs(x) >= 1e-100),
)
nonzero_values = st.one_of(st.floats(0.01, 10.0), st.floats(-10.0, -0.01))
decays = st.floats(0.0, 0.999)
epss = st.floats(1e-12, 1e-3)
lrs = st.floats(1e-5, 1.0)


class Pair:
  """A (params, grads) leaf; not a pytree node, so tree maps stop at it."""

  def __init__(self, p, g):
    self.p, self.g = p, g


def _pair(shape, elements):
  arr = hnp.arrays(np.float64, shape, elements=elements)
  return st.builds(Pair, arr, arr)


pair_leaves = st.one_of(
    st.sampled_from(SHAPES).flatmap(lambda s: _pair(s, values)), st.none())
keys = st.text("abcxyz", min_size=1, max_size=2)
trees = st.recursive(
    pair_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(keys, children, max_size=3),
        st.tuples(children, children),
    ),
    max_leaves=5,
)


def split(tree):
  is_pair = lambda x: isinstance(x, Pair)
  params = jax.tree.map(lambda x: jnp.asarray(x.p), tree, is_leaf=is_pair)
  grads = jax.tree.map(lambda x: jnp.asarray(x.g), tree, is_leaf=is_pair)
  return params, grads


def hyper_kwargs(name, draw):
  params = inspect.signature(getattr(optax_survey, name)).parameters
  kw = {"learning_rate": draw(lrs)}
  for arg in ("b1", "b2"):
    if arg in params:
      kw[arg] = draw(decays)
  if "eps" in params:
    kw["eps"] = draw(epss)
  return kw


def leaves_with_none(tree):
  return jax.tree.leaves(tree, is_leaf=lambda x: x is None)


@SETTINGS
@given(tree=trees, name=st.sampled_from(ALIASES + ["lookahead"]), data=st.data())
def test_updates_match_params_and_are_finite(tree, name, data):
  params, grads = split(tree)
  # lookahead and decoupled decay (adamw) read params=None as "no params
  # given" and refuse it, as optax.add_decayed_weights does.
  assume(not (name in ("lookahead", "adamw") and params is None))
  inner = "adam" if name == "lookahead" else name
  kw = hyper_kwargs(inner, data.draw)
  tx = getattr(optax_survey, inner)(**kw)
  if name == "lookahead":
    tx = optax_survey.lookahead(tx, sync_period=2)
  state = tx.init(params)
  for _ in range(3):
    updates, state = tx.update(grads, state, params)
    assert jax.tree.structure(updates) == jax.tree.structure(params)
    for u, p in zip(leaves_with_none(updates), leaves_with_none(params)):
      if p is None:
        assert u is None
        continue
      assert u.shape == p.shape and u.dtype == p.dtype
      assert np.all(np.isfinite(np.asarray(u))), (name, kw)
    params = optax.apply_updates(params, updates)


@SETTINGS
@given(tree=trees, lr=lrs)
def test_sgd_is_minus_lr_times_grad(tree, lr):
  params, grads = split(tree)
  tx = optax_survey.sgd(lr)
  updates, _ = tx.update(grads, tx.init(params), params)
  for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads)):
    np.testing.assert_allclose(u, -lr * np.asarray(g), rtol=1e-15, atol=0)


@SETTINGS
@given(tree=trees, lr=lrs, b1=decays, b2=decays, eps=epss)
def test_adam_first_update_closed_form(tree, lr, b1, b2, eps):
  params, grads = split(tree)
  tx = optax_survey.adam(lr, b1=b1, b2=b2, eps=eps)
  updates, _ = tx.update(grads, tx.init(params), params)
  for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads)):
    g = np.asarray(g)
    expected = -lr * np.sign(g) * np.abs(g) / (np.abs(g) + eps)
    np.testing.assert_allclose(u, expected, rtol=1e-12, atol=1e-300)


@SETTINGS
@given(tree=trees, lr=lrs, eps=epss, g0=st.floats(0.0, 1.0))
def test_adagrad_first_update_closed_form(tree, lr, eps, g0):
  params, grads = split(tree)
  tx = optax_survey.adagrad(lr, eps=eps, initial_accumulator_value=g0)
  updates, _ = tx.update(grads, tx.init(params), params)
  for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads)):
    g = np.asarray(g)
    np.testing.assert_allclose(u, -lr * g / (np.sqrt(g0 + g * g) + eps),
                               rtol=1e-12, atol=1e-300)


@SETTINGS
@given(
    grads=st.lists(hnp.arrays(np.float64, (4,), elements=values), min_size=1, max_size=6),
    lr=lrs, final_lr=st.floats(1e-3, 1.0), gamma=st.floats(1e-4, 0.5),
    b1=decays, b2=decays, eps=epss, amsbound=st.booleans(),
)
def test_adabound_matches_the_authors_code(grads, lr, final_lr, gamma, b1, b2, eps, amsbound):
  """Random hyperparameters and gradients (zeros, tiny and large ones, where
  the bounds bite): the parameters after every step equal the authors'
  ``adabound.AdaBound`` (float64)."""
  tx = optax_survey.adabound(lr, b1=b1, b2=b2, final_lr=final_lr, gamma=gamma, eps=eps,
                             amsbound=amsbound)
  params = jnp.zeros(4)
  state = tx.init(params)
  ref_param = torch.zeros(4, dtype=torch.float64, requires_grad=True)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the package's deprecated add(scalar, t)
    ref = adabound_ref.AdaBound([ref_param], lr=lr, betas=(b1, b2), final_lr=final_lr,
                                gamma=gamma, eps=eps, amsbound=amsbound)
    for g in grads:
      updates, state = tx.update(jnp.asarray(g), state, params)
      params = optax.apply_updates(params, updates)
      ref_param.grad = torch.tensor(g, dtype=torch.float64)
      ref.step()
      np.testing.assert_allclose(params, ref_param.detach().numpy(), rtol=1e-10,
                                 atol=1e-12 * max(1.0, float(np.max(np.abs(params)))))


@SETTINGS
@given(grads=st.lists(hnp.arrays(np.float64, (5,), elements=values), min_size=2, max_size=5),
       b1=decays, b2=decays)
def test_amsgrad_max_never_decreases(grads, b1, b2):
  tx = optax_survey.amsgrad(1e-2, b1=b1, b2=b2)
  params = jnp.zeros(5)
  state = tx.init(params)
  previous = np.zeros(5)
  for g in grads:
    _, state = tx.update(jnp.asarray(g), state, params)
    nu_max = np.asarray(optax.tree_utils.tree_get(state, "nu_max"))
    nu = np.asarray(optax.tree_utils.tree_get(state, "nu"))
    assert np.all(nu_max >= previous)
    assert np.all(nu_max >= nu)
    previous = nu_max


@SETTINGS
@given(grads=st.lists(hnp.arrays(np.float64, (5,), elements=values), min_size=1, max_size=4))
def test_diffgrad_friction_in_half_open_unit_interval(grads):
  tx = P.diffgrad_friction()
  state = tx.init(jnp.zeros(5))
  prev = np.zeros(5)
  for g in grads:
    out, state = tx.update(Flow(grad=jnp.asarray(g), mu=jnp.ones(5)), state)
    xi = np.asarray(out.mu)
    assert np.all(xi >= 0.5) and np.all(xi < 1.0)
    np.testing.assert_allclose(xi, 1 / (1 + np.exp(-np.abs(prev - g))), rtol=1e-14)
    prev = g


@SETTINGS
@given(v0=st.one_of(st.just(0.0), st.floats(1e-6, 10.0)), g=hnp.arrays(np.float64, (6,), elements=values), b2=decays)
def test_yogi_moves_toward_g2(v0, g, b2):
  tx = P.yogi_second_moment(b2, v0)
  out, _ = tx.update(jnp.asarray(g), tx.init(jnp.zeros(6)))
  g2 = g * g
  change = np.asarray(out.nu) - v0
  assert np.all(change * np.sign(g2 - v0) >= 0)  # never away from g²
  np.testing.assert_allclose(np.abs(change), (1 - b2) * g2 * (g2 != v0), rtol=1e-12,
                             atol=1e-12 * v0)


@SETTINGS
@given(tree=trees, name=st.sampled_from(ALIASES + ["lookahead"]), data=st.data())
def test_state_structure_invariant(tree, name, data):
  params, grads = split(tree)
  assume(not (name in ("lookahead", "adamw") and params is None))
  inner = "adam" if name == "lookahead" else name
  tx = getattr(optax_survey, inner)(**hyper_kwargs(inner, data.draw))
  if name == "lookahead":
    tx = optax_survey.lookahead(tx, sync_period=2)
  state = tx.init(params)
  spec = lambda s: jax.tree.map(lambda x: (x.shape, x.dtype), s)
  structure, shapes = jax.tree.structure(state), spec(state)
  for _ in range(3):
    _, state = tx.update(grads, state, params)
    assert jax.tree.structure(state) == structure
    assert spec(state) == shapes
