"""training.py: the one step, against SGD written in NumPy; scans and replays of it."""

import jax
import jax.numpy as jnp
import numpy as np

from optax_survey.harness import Task, runs, training


def least_squares_task(**fields):
  """Per-step least squares: step t sees row t % 4 of (X, y); the oracle is NumPy's SGD."""
  x = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.5]], np.float32)
  y = np.array([1.0, -0.5, 2.0, 0.0], np.float32)

  def loss(w, batch):
    xb, yb = batch
    return 0.5 * (xb @ w - yb) ** 2

  return Task(name="lsq", init_params=lambda key, seed: jnp.array([0.3, -0.2], jnp.float32),
              loss=loss, evaluate=lambda w: {"loss": 0.5 * jnp.mean((x @ w - y) ** 2)},
              metric="loss", mode="min", held_out=False,
              sample_batch=lambda key, t: (jnp.asarray(x)[t % 4], jnp.asarray(y)[t % 4]),
              **fields), x, y


# The harness trains in float32: a loss of order 1 that cancels down to 5e-3 keeps float32's
# absolute round-off (a few eps), not its relative one.
F32 = {"rtol": 1e-6, "atol": 4 * float(np.finfo(np.float32).eps)}


def numpy_sgd(x, y, w, lr, steps, project=None):
  """Plain SGD on the per-step least squares, written from its definition, in float64."""
  w, losses = np.asarray(w, np.float64), []
  for t in range(steps):
    xt, yt = x[t % 4].astype(np.float64), float(y[t % 4])
    residual = xt @ w - yt
    losses.append(0.5 * residual ** 2)
    w = w - lr * residual * xt
    if project is not None:
      w = project(w)
  return w, np.array(losses)


def test_the_step_is_sgd_written_from_its_definition():
  task, x, y = least_squares_task()
  tx = training.make_optimizer(task, "sgd", 0.1)
  carry = training.init_carry(task, tx, 0)

  def record(step):
    return step.loss, step.new_params

  carry, (losses, params) = training.train(task, tx, carry, 6, record)
  w, expected = numpy_sgd(x, y, [0.3, -0.2], 0.1, 6)
  np.testing.assert_allclose(losses, expected, **F32)
  np.testing.assert_allclose(params[-1], w, **F32)
  np.testing.assert_allclose(carry.params, w, **F32)
  assert int(carry.t) == 6


def test_steps_past_the_end_of_a_run_change_nothing():
  # a program's last chunk may run past ``steps``: those steps keep the parameters and
  # the optimizer state (here: 3 steps of SGDM inside a scan of 5)
  task, x, y = least_squares_task()
  tx = training.make_optimizer(task, "sgdm", 0.05)
  three, _ = training.train(task, tx, training.init_carry(task, tx, 0), 3)
  five, _ = training.train(task, tx, training.init_carry(task, tx, 0), 5, steps=3)
  for a, b in zip(jax.tree.leaves((three.params, three.opt_state)),
                  jax.tree.leaves((five.params, five.opt_state)), strict=True):
    np.testing.assert_array_equal(a, b)


def test_a_replay_records_what_the_run_recorded_and_projects_as_it_does():
  project = lambda w: jnp.clip(w, -0.25, 0.25)  # noqa: E731
  task, x, y = least_squares_task(project=project, steps=7, eval_points=7, seeds=2)
  run = runs.run_optimizer(task, "sgd", lrs=[0.2])
  replayed = training.replay(task, "sgd", 0.2, steps=7, seeds=2,
                             record=lambda step: step.loss)
  _, expected = numpy_sgd(x, y, [0.3, -0.2], 0.2, 7, project=lambda w: np.clip(w, -0.25, 0.25))
  np.testing.assert_allclose(run.loss[0], np.tile(expected, (2, 1)), **F32)
  np.testing.assert_allclose(replayed, run.loss[0], **F32)
  # the last step alone: its update is -lr times the gradient at the 7th row
  last = training.replay(task, "sgd", 0.2, steps=7, seeds=1, last=lambda step: step.updates)
  w6, _ = numpy_sgd(x, y, [0.3, -0.2], 0.2, 6, project=lambda w: np.clip(w, -0.25, 0.25))
  grad = (x[6 % 4] @ w6 - y[6 % 4]) * x[6 % 4]
  np.testing.assert_allclose(last[0], -0.2 * grad, **F32)


def centred_task():
  """A linear model on inputs centred by a running mean (BatchNorm's statistic): the
  running mean is model state, updated by the loss, never by the optimizer."""
  x = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.5],
                [0.3, 0.7], [1.5, -0.5]], np.float32)
  y = np.array([1.0, -0.5, 2.0, 0.0, 0.4, 1.1], np.float32)

  def loss(w, batch, state):
    xb, yb = batch
    mu = xb.mean(0)
    new_state = {"mean": 0.9 * state["mean"] + 0.1 * mu, "n": state["n"] + 1}
    return 0.5 * jnp.mean(((xb - mu) @ w - yb) ** 2), new_state

  def evaluate(w, state):
    return {"loss": 0.5 * jnp.mean(((x - state["mean"]) @ w - y) ** 2),
            "mean0": state["mean"][0]}

  task = Task(name="centred", init_params=lambda key, seed: jnp.array([0.3, -0.2]),
              init_state=lambda key, seed: {"mean": jnp.zeros(2), "n": jnp.int32(0)},
              loss=loss, evaluate=evaluate, metric="loss", mode="min", held_out=False,
              sample_batch=lambda key, t: (jnp.asarray(x)[2 * (t % 3) + jnp.arange(2)],
                                           jnp.asarray(y)[2 * (t % 3) + jnp.arange(2)]),
              steps=5, eval_points=5, seeds=2)
  return task, x, y


def numpy_centred_sgd(x, y, lr, steps):
  """SGD on the centred model and the running mean, written from their definitions."""
  w, mean = np.array([0.3, -0.2]), np.zeros(2)
  for t in range(steps):
    rows = slice(2 * (t % 3), 2 * (t % 3) + 2)
    xb, yb = x[rows].astype(np.float64), y[rows].astype(np.float64)
    xc = xb - xb.mean(0)
    mean = 0.9 * mean + 0.1 * xb.mean(0)
    w = w - lr * xc.T @ (xc @ w - yb) / len(yb)
  return w, mean


def test_the_model_state_is_carried_through_the_steps_and_never_seen_by_the_optimizer():
  task, x, y = centred_task()
  tx = training.make_optimizer(task, "sgdm", 0.1)
  carry = training.init_carry(task, tx, 0)
  assert carry.model_state["n"].dtype == jnp.int32  # integer state stays integer
  carry, states = training.train(task, tx, carry, 5, lambda step: step.model_state)
  w_sgd, mean = numpy_centred_sgd(x, y, 0.1, 5)
  np.testing.assert_allclose(carry.model_state["mean"], mean, **F32)
  np.testing.assert_allclose(states["mean"][-1], mean, **F32)
  assert int(carry.model_state["n"]) == 5 and states["n"].tolist() == [1, 2, 3, 4, 5]
  # the optimizer's state holds the parameters' shapes only (SGDM's momentum), no state
  assert [leaf.shape for leaf in jax.tree.leaves(carry.opt_state) if leaf.ndim] == [(2,)]
  sgd = training.make_optimizer(task, "sgd", 0.1)
  carry, _ = training.train(task, sgd, training.init_carry(task, sgd, 0), 5)
  np.testing.assert_allclose(carry.params, w_sgd, **F32)


def test_a_stateful_run_is_evaluated_with_the_state_it_reached():
  task, x, y = centred_task()
  run = runs.run_optimizer(task, "sgd", lrs=[0.1])
  w, mean = numpy_centred_sgd(x, y, 0.1, 5)
  np.testing.assert_allclose(run.metrics["mean0"][0, :, -1], mean[0], **F32)
  expected = 0.5 * np.mean(((x - mean) @ w - y) ** 2)
  np.testing.assert_allclose(run.metrics["loss"][0, :, -1], expected, **F32)
  np.testing.assert_allclose(run.metrics["mean0"][0, :, 0], 0.0)  # before training
