"""runs.py: a learning-rate grid and all seeds as one compiled program; the tuned budget's
program (grid, selection on the device, rerun on fresh seeds) against NumPy's selection
and separate programs."""

import jax
import numpy as np
from blobs import make_task

from optax_survey.harness import runs
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


def test_the_chunks_cover_every_step_with_at_most_the_evaluations_asked_for():
  for steps in (1, 7, 10, 99, 300, 20_000):
    for points in (1, 3, 10, 50):
      chunk, n = runs.schedule_chunks(steps, points)
      assert chunk * n >= steps > chunk * (n - 1) and n <= points
