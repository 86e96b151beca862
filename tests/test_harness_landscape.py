"""analysis/landscape.py against NumPy: lines and planes of a known function, and the
filter normalisation's per-filter norms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness.analysis import landscape


def quartic(p):
  return jnp.sum(p["w"] ** 4) + jnp.sum(jnp.sin(p["b"]))


def numpy_quartic(w, b):
  return np.sum(w ** 4) + np.sum(np.sin(b))


@pytest.mark.parametrize("chunk", [None, 5])  # one vmap; jax.lax.map, 5 points at a time
def test_a_line_and_a_plane_are_the_function_at_numpys_points(chunk):
  rng = np.random.default_rng(0)
  a = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
  b = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
  alphas = np.linspace(-0.5, 1.5, 9)
  got = landscape.line(quartic, jax.tree.map(jnp.asarray, a), jax.tree.map(jnp.asarray, b),
                       alphas, chunk=chunk)
  expected = [numpy_quartic(a["w"] + t * (b["w"] - a["w"]), a["b"] + t * (b["b"] - a["b"]))
              for t in alphas]
  np.testing.assert_allclose(got, expected, rtol=1e-12)
  d1 = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
  d2 = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
  xs, ys = np.linspace(-1, 1, 4), np.linspace(-2, 2, 3)
  grid = landscape.plane(quartic, *(jax.tree.map(jnp.asarray, t) for t in (a, d1, d2)), xs, ys,
                         chunk=chunk)
  assert grid.shape == (3, 4)
  for i, y in enumerate(ys):
    for j, x in enumerate(xs):
      expected = numpy_quartic(a["w"] + x * d1["w"] + y * d2["w"],
                               a["b"] + x * d1["b"] + y * d2["b"])
      assert float(grid[i, j]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("axis", [-1, 0])
def test_each_filter_of_the_direction_has_its_filters_norm(axis):
  rng = np.random.default_rng(1)
  params = {"dense": jnp.asarray(rng.normal(size=(5, 4))),
            "conv": jnp.asarray(rng.normal(size=(6, 3, 2))), "bias": jnp.ones(4)}
  d = landscape.filter_normalized(jax.random.PRNGKey(3), params, filter_axis=axis)
  for name in ("dense", "conv"):
    w, u = np.asarray(params[name]), np.asarray(d[name])
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    direction = np.moveaxis(u, axis, 0).reshape(w.shape[axis], -1)
    np.testing.assert_allclose(np.linalg.norm(direction, axis=1),
                               np.linalg.norm(moved, axis=1), rtol=1e-12)
    assert not np.allclose(direction / np.linalg.norm(direction, axis=1, keepdims=True),
                           moved / np.linalg.norm(moved, axis=1, keepdims=True))
  np.testing.assert_array_equal(d["bias"], 0.0)
  # a per-leaf rule: PyTorch's [out, in, k] convolution beside a [in, out] dense layer
  mixed = landscape.filter_normalized(jax.random.PRNGKey(3), params,
                                      filter_axis=lambda leaf: 0 if leaf.ndim == 3 else -1)
  np.testing.assert_allclose(np.linalg.norm(np.asarray(mixed["conv"]).reshape(6, -1), axis=1),
                             np.linalg.norm(np.asarray(params["conv"]).reshape(6, -1), axis=1),
                             rtol=1e-12)
