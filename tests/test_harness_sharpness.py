"""analysis/sharpness.py against dense Hessians (jax.hessian, numpy.linalg.eigvalsh) on a
small network, and against quadratics whose spectra are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from optax_survey.harness.analysis import sharpness


def small_mlp():
  """A 3-4-2 tanh network's cross-entropy on 16 fixed points (38 parameters), at
  parameters away from any minimum (an indefinite Hessian)."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(16, 3)))
  y = jnp.asarray(rng.integers(0, 2, size=16))
  params = {"w1": jnp.asarray(rng.normal(size=(3, 4))), "b1": jnp.asarray(rng.normal(size=4)),
            "w2": jnp.asarray(rng.normal(size=(4, 2))), "b2": jnp.asarray(rng.normal(size=2))}

  def loss(p):
    logits = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(16), y])

  return loss, params


def dense(loss, params):
  flat, unravel = ravel_pytree(params)
  return np.asarray(jax.hessian(lambda f: loss(unravel(f)))(flat), np.float64), flat


def test_the_largest_eigenvalue_matches_the_dense_hessians():
  loss, params = small_mlp()
  h, _ = dense(loss, params)
  expected = np.linalg.eigvalsh(h)[-1]
  for iterations in (38, 20):  # the full space; a smaller Krylov space: the top converges
    got = float(sharpness.top_eigenvalue(loss, params, iterations=iterations))
    assert got == pytest.approx(expected, rel=1e-3), iterations


def test_preconditioned_and_adaptive_sharpness_match_the_dense_scaled_hessians():
  loss, params = small_mlp()
  h, flat = dense(loss, params)
  rng = np.random.default_rng(1)
  p = jax.tree.map(lambda w: jnp.asarray(rng.uniform(0.1, 2.0, size=w.shape)), params)
  p_flat = np.asarray(ravel_pytree(p)[0])
  expected = np.linalg.eigvals(np.diag(1 / p_flat) @ h).real.max()  # P^-1 H, not symmetric
  assert float(sharpness.preconditioned(loss, params, p, iterations=38)) == pytest.approx(
      expected, rel=1e-3)
  t = np.abs(np.asarray(flat)) + sharpness.ASAM_ETA
  expected = np.linalg.eigvalsh(np.diag(t) @ h @ np.diag(t))[-1]
  assert float(sharpness.adaptive(loss, params, iterations=38)) == pytest.approx(
      expected, rel=1e-3)


def test_adaptive_sharpness_ignores_a_relu_rescaling_that_raw_sharpness_sees():
  """w1 -> a w1, w2 -> w2 / a leaves a ReLU network's function unchanged (Dinh et al.):
  the raw sharpness moves by ~a^2, the adaptive one (eta = 0) not at all."""
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(8, 3)))
  target = jnp.asarray(rng.normal(size=(8,)))
  params = {"w1": jnp.asarray(rng.normal(size=(3, 5))), "w2": jnp.asarray(rng.normal(size=5))}

  def loss(p):
    return jnp.mean((jax.nn.relu(x @ p["w1"]) @ p["w2"] - target) ** 2)

  scaled = {"w1": params["w1"] * 4.0, "w2": params["w2"] / 4.0}
  assert float(loss(scaled)) == pytest.approx(float(loss(params)), rel=1e-12)
  raw = [float(sharpness.top_eigenvalue(loss, q, iterations=20)) for q in (params, scaled)]
  ada = [float(sharpness.adaptive(loss, q, eta=0.0, iterations=20)) for q in (params, scaled)]
  assert raw[1] / raw[0] > 4.0
  assert ada[1] == pytest.approx(ada[0], rel=1e-6)


def test_known_spectra_and_the_hutchinson_trace_within_its_error():
  rng = np.random.default_rng(3)
  q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
  eigenvalues = np.linspace(-2.0, 7.0, 30)
  a = jnp.asarray(q @ np.diag(eigenvalues) @ q.T)

  def loss(w):
    return 0.5 * w @ a @ w

  w0 = jnp.ones(30)
  assert float(sharpness.top_eigenvalue(loss, w0, iterations=30)) == pytest.approx(7.0,
                                                                                   rel=1e-9)
  mean, se = sharpness.hutchinson_trace(loss, w0, probes=400)
  assert abs(float(mean) - eigenvalues.sum()) < 4 * float(se) and float(se) > 0
  # Rademacher probes: zᵀAz = tr A + 2 sum_{i<j} a_ij z_i z_j; its variance, from A
  off = np.asarray(a) - np.diag(np.diag(np.asarray(a)))
  assert float(se) == pytest.approx(np.sqrt(2 * (off ** 2).sum() / 400), rel=0.2)


def test_vmapped_over_runs_each_run_gets_its_own():
  loss, params = small_mlp()
  stacked = jax.tree.map(lambda w: jnp.stack([w, 0.5 * w, 2.0 * w]), params)
  together = jax.vmap(lambda p: sharpness.top_eigenvalue(loss, p, iterations=38))(stacked)
  for i in range(3):
    alone = np.linalg.eigvalsh(dense(loss, jax.tree.map(lambda w, i=i: w[i], stacked))[0])[-1]
    assert float(together[i]) == pytest.approx(alone, rel=1e-3)
