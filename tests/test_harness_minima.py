"""analysis/minima.py: the minima of the reported runs, against independent oracles: the
preconditioner against NumPy written from the papers and against the optimizer's own
step; the sharpness quantities against dense Hessians from ``jax.hessian``; the
stability thresholds against simulated gradient descent on quadratics; the final
parameters the engine keeps against a replay of the same runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optax_survey as osv
from optax_survey.harness import Task, compare, training
from optax_survey.harness.analysis import minima
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.runs import optimizer_of
from optax_survey.harness.tasks import get_task

QUAD = get_task("quadratic")


def grads(steps, n=3, seed=0):
  return np.random.default_rng(seed).normal(size=(steps, n))


def numpy_adam_p(gs, b2, eps, amsgrad=False):
  """Adam's P = sqrt(v̂) + ε after len(gs) steps (Kingma & Ba, Algorithm 1; AMSGrad: the
  running max of v, Reddi et al.; both bias-corrected as PyTorch does)."""
  v, v_max = np.zeros(gs.shape[1]), np.zeros(gs.shape[1])
  for g in gs:
    v = b2 * v + (1 - b2) * g ** 2
    v_max = np.maximum(v_max, v)
  t = len(gs)
  return np.sqrt((v_max if amsgrad else v) / (1 - b2 ** t)) + eps


def final_state(tx, gs):
  params = jnp.zeros(gs.shape[1])
  state = tx.init(params)
  for g in gs:
    updates, state = tx.update(jnp.asarray(g), state, params)
    params = params + updates
  return state, updates


@pytest.mark.parametrize("name, amsgrad", [("adam", False), ("amsgrad", True)])
def test_adam_preconditioner_is_numpy_from_the_paper(name, amsgrad):
  gs = grads(7)
  state, _ = final_state(getattr(osv, name)(0.1, b2=0.9, eps=1e-3), gs)
  p = minima.preconditioner(QUAD, name, state, {"b2": 0.9, "eps": 1e-3})
  np.testing.assert_allclose(np.asarray(p), numpy_adam_p(gs, 0.9, 1e-3, amsgrad), rtol=1e-10)


@pytest.mark.parametrize("name, kwargs", [
    ("adam", {"b1": 0.0}), ("adamw", {"b1": 0.0, "weight_decay": 0.0}),
    ("amsgrad", {"b1": 0.0}), ("yogi", {"b1": 0.0}), ("rmsprop", {}), ("adagrad", {})])
def test_the_step_is_the_gradient_over_the_preconditioner(name, kwargs):
  """With no momentum (b1 = 0) the optimizer's own last step is -lr g / P."""
  gs, lr = grads(6), 0.05
  state, updates = final_state(getattr(osv, name)(lr, **kwargs), gs)
  p = minima.preconditioner(QUAD, name, state, kwargs)
  np.testing.assert_allclose(np.asarray(updates), -lr * gs[-1] / np.asarray(p), rtol=1e-9)


def test_preconditioner_of_the_sgd_family_and_of_those_left_out():
  state = osv.sgdm(0.1).init(jnp.zeros(2))
  assert minima.preconditioner(QUAD, "sgdm", state) == "identity"
  assert minima.preconditioner(QUAD, "adabound", osv.adabound(0.1).init(jnp.zeros(2))) is None
  centred = osv.rmsprop(0.1, centered=True).init(jnp.zeros(2))
  assert minima.preconditioner(QUAD, "rmsprop", centred, {"centered": True}) is None


def simulate(kind, lam, lr, beta, steps=3000):
  """|x| after ``steps`` steps on f = lam x² / 2 from x = 1: heavy ball (PyTorch's
  momentum), Nesterov (PyTorch's), or an EMA first moment (Adam's with P = 1)."""
  x, m = 1.0, 0.0
  for _ in range(steps):
    g = lam * x
    if kind == "heavy":
      m = beta * m + g
      x -= lr * m
    elif kind == "nesterov":
      m = beta * m + g
      x -= lr * (g + beta * m)
    else:
      m = beta * m + (1 - beta) * g
      x -= lr * m
  return abs(x)


@pytest.mark.parametrize("name, kind, hp", [
    ("sgd", "heavy", {"momentum": 0.0}), ("sgdm", "heavy", {"momentum": 0.9}),
    ("sgdm", "heavy", {"momentum": 0.5}), ("nag", "nesterov", {"momentum": 0.9}),
    ("adam", "ema", {"b1": 0.9}), ("adam", "ema", {"b1": 0.5})])
def test_the_stability_threshold_is_where_a_quadratic_diverges(name, kind, hp):
  lr = 0.01
  threshold, which = minima.stability_threshold(QUAD, name, lr, hp)
  assert which == ("preconditioned" if name == "adam" else "raw")
  beta = hp.get("momentum", hp.get("b1", 0.0))
  assert simulate(kind, 0.98 * threshold, lr, beta) < 1.0  # below it: converges
  assert not simulate(kind, 1.02 * threshold, lr, beta) < 1e3  # above it: diverges (or inf)


def tiny_task(stateful=False):
  """A 2-layer tanh network, 23 parameters, on a fixed batch of 16 points."""
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(32, 3)).astype(np.float32), rng.normal(size=32).astype(np.float32)

  def init(key, seed):
    k1, k2 = jax.random.split(key)
    return {"w1": 0.5 * jax.random.normal(k1, (3, 4)), "b1": jnp.zeros(4),
            "w2": 0.5 * jax.random.normal(k2, (4, 1)), "b2": jnp.zeros(1)}

  def loss(p, batch):
    xb, yb = batch
    out = jnp.tanh(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return jnp.mean((out[:, 0] - yb) ** 2)

  def sample(key, t):
    idx = jax.random.randint(key, (16,), 0, 16)
    return jnp.asarray(x)[idx], jnp.asarray(y)[idx]

  def metrics(xs, ys):
    return lambda p: {"mse": loss(p, (jnp.asarray(xs), jnp.asarray(ys))),
                      "loss": loss(p, (jnp.asarray(xs), jnp.asarray(ys)))}

  return Task(name="tiny", init_params=init, loss=loss, evaluate=metrics(x[16:24], y[16:24]),
              validate=metrics(x[24:], y[24:]), evaluate_train=metrics(x[:16], y[:16]),
              metric="mse", mode="min", sample_batch=sample, steps=40, seeds=3)


def dense(task, params):
  """The Hessian of :func:`minima.hessian_loss` at ``params``, as a matrix."""
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  loss = minima.hessian_loss(task)
  return np.asarray(jax.hessian(lambda f: loss(unravel(f), None))(flat), np.float64), flat


def test_hessian_loss_averages_the_fixed_training_batches():
  task = tiny_task()
  params = task.init_params(jax.random.PRNGKey(0), 0)
  keys = jax.random.split(jax.random.PRNGKey(0), minima.HESSIAN_BATCHES)
  by_hand = np.mean([float(task.loss(params, task.sample_batch(k, t)))
                     for t, k in enumerate(keys)])
  np.testing.assert_allclose(float(minima.hessian_loss(task)(params, None)), by_hand,
                             rtol=1e-12)


def test_measure_against_dense_hessians():
  task = tiny_task()
  runs = [task.init_params(jax.random.PRNGKey(s), s) for s in range(2)]
  params = jax.tree.map(lambda *xs: jnp.stack(xs), *runs)
  p = jax.tree.map(lambda a: 0.5 + jnp.abs(a), params)  # any positive diagonal
  scale = jax.tree.map(lambda a: 1.0 / jnp.sqrt(a), p)
  out = minima.measure(task, params, None, scale, np.array([True, False]), iterations=23,
                       probes=400)
  for i, run in enumerate(runs):
    h, flat = dense(task, run)
    p_flat = np.asarray(jax.flatten_util.ravel_pytree(jax.tree.map(lambda a: a[i], p))[0])
    t = np.abs(np.asarray(flat)) + 0.01
    np.testing.assert_allclose(out["lambda_max"][i], np.linalg.eigvalsh(h)[-1], rtol=1e-3)
    np.testing.assert_allclose(out["adaptive"][i],
                               np.linalg.eigvalsh(t[:, None] * h * t[None, :])[-1], rtol=1e-3)
    s = 1 / np.sqrt(p_flat)
    if i == 0:
      np.testing.assert_allclose(out["preconditioned"][i],
                                 np.linalg.eigvalsh(s[:, None] * h * s[None, :])[-1], rtol=1e-3)
    else:  # not measured for this run
      assert np.isnan(out["preconditioned"][i])
    assert abs(out["trace"][i] - np.trace(h)) < 4 * out["trace_se"][i]


def test_gap_is_signed_by_the_mode():
  acc = get_task("digits-mlp")
  np.testing.assert_allclose(minima.gap(acc, [0.9], [0.8]), [0.1], rtol=1e-12)
  np.testing.assert_allclose(minima.gap(tiny_task(), [0.5], [0.7]), [0.2], rtol=1e-12)


@pytest.mark.parametrize("budget", ["tuned", "search"])
def test_compare_measures_the_minima_of_the_reported_runs(budget):
  task = tiny_task()
  extra = {"trials": 3, "studies": 2} if budget == "search" else {"lr_grid": [0.05, 0.2]}
  cmp = compare(task, ["sgdm", "adam"], budget=budget, seeds=3, steps=40, progress=False,
                minima=True, **extra)
  for name in ("sgdm", "adam"):
    run, record = cmp.tuned_run(name), cmp.minima[name]
    assert run.lrs[0] == record["lr"] == cmp.entry(name, budget).lr
    hp = {k: float(np.asarray(v)[0]) for k, v in (run.hparams or {}).items()}
    # the final parameters kept: those of the same runs replayed, step by step
    tx = optimizer_of(task, name, {"lr": run.lrs[0], **hp}, steps=40, schedule=run.schedule)
    for s in range(3):
      carry = training.init_carry(task, tx, run.seed_offset + s)
      carry, _ = training.train(task, tx, carry, 40)
      kept = jax.tree.map(lambda a, s=s: a[0, s], run.final["params"])
      for a, b in zip(jax.tree.leaves(kept), jax.tree.leaves(carry.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
      train = float(task.evaluate_train(carry.params)["mse"])
      np.testing.assert_allclose(record["train"][s], train, rtol=1e-5)
      h, _ = dense(task, carry.params)
      np.testing.assert_allclose(record["lambda_max"][s], np.linalg.eigvalsh(h)[-1], rtol=1e-3)
    np.testing.assert_allclose(record["test"], cmp.entry(name, budget).values, rtol=1e-12)
    np.testing.assert_allclose(record["gap"], np.subtract(record["test"], record["train"]),
                               rtol=1e-12)
    assert record["two_over_lr"] == pytest.approx(2 / run.lrs[0], rel=1e-12)
  assert cmp.minima["sgdm"]["preconditioned"] == cmp.minima["sgdm"]["lambda_max"]
  assert cmp.to_dict()["minima"] == cmp.minima


def test_minima_need_reruns_on_fresh_seeds():
  with pytest.raises(BadInputError, match="minima"):
    compare(tiny_task(), ["sgd"], budget="one-shot", minima=True, progress=False)
  with pytest.raises(BadInputError, match="deterministic"):
    compare("reddi", ["sgd"], minima=True, progress=False, steps=5, seeds=2)
