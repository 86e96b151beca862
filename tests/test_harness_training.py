"""training.py: the one step, the runs as one compiled program, replays.
"""

import jax
import jax.numpy as jnp
import numpy as np
from blobs import make_task

from optax_survey.harness import Task, runs, training
from optax_survey.harness.analysis import stats
from optax_survey.harness.tasks import get_task


def test_the_tuned_program_reruns_the_rate_the_validation_split_selects():
  # one program trains the grid, selects on the device and reruns on fresh seeds; the
  # oracles: NumPy's selection on the grid's validation scores, and a separate program
  # trained at the selected rate on seeds 3, 4, 5
  task = make_task()
  lrs = [1e-3, 1e-2, 1e-1, 1.0]
  grid, rerun, selected = runs.run_tuned(task, "adam", lrs=lrs)
  assert selected == stats.select_lr(grid.val_metrics["log_loss"][:, :, -1], mode="min")
  assert selected != 0  # the smallest rate barely moves in 60 steps: a real choice was made
  alone = runs.run_optimizer(task, "adam", lrs=[lrs[selected]], seed_offset=3)
  assert rerun.lrs == [lrs[selected]] and rerun.seed_offset == 3 and rerun.seeds == 3
  for split in ("metrics", "val_metrics"):
    np.testing.assert_allclose(getattr(rerun, split)["log_loss"],
                               getattr(alone, split)["log_loss"], rtol=1e-5)
  np.testing.assert_allclose(rerun.loss, alone.loss, rtol=1e-5)
  # and the grid's runs are the runs of a program that trains the grid alone
  plain = runs.run_optimizer(task, "adam", lrs=lrs)
  np.testing.assert_allclose(grid.metrics["log_loss"], plain.metrics["log_loss"], rtol=1e-5)


def test_runner_is_float32_and_seeds_differ_even_with_x64_on():
  assert jax.config.jax_enable_x64  # tests/conftest.py
  task = get_task("digits-mlp")
  res = runs.run_optimizer(task, "sgdm", steps=12, seeds=2, lrs=[0.01, 0.02])
  assert res.loss.dtype == np.float32 and res.loss.shape == (2, 2, 12)
  assert res.metrics["acc"].shape == (2, 2, len(res.eval_steps))
  assert not np.allclose(res.loss[0, 0], res.loss[0, 1])  # different seeds
  assert np.isfinite(res.loss).all()


def test_lookahead_records_fast_and_slow_weights():
  task = get_task("quadratic")
  res = runs.run_optimizer(task, "lookahead", steps=10, seeds=1)
  fast, slow = res.path[0, 0], res.slow_path[0, 0]
  assert fast.shape == slow.shape == (11, 2)
  np.testing.assert_allclose(fast[5], slow[5], rtol=1e-6)  # fast restarts at the slow weights
  np.testing.assert_array_equal(slow[1], slow[4])  # slow weights move only at syncs


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
