"""runs.py: a learning-rate grid and all seeds as one compiled program; the tuned budget's
program (grid, selection on the device, rerun on fresh seeds) against NumPy's selection
and separate programs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blobs import make_task

from optax_survey.harness import Task, runs
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


def stiff_least_squares(**fields):
  """A least-squares classifier on inputs of scale 100: plain SGD at a rate far above
  2/L overflows to inf and NaN within a few steps, while its accuracy, an argmax of
  the NaN outputs, stays a finite number (every point gets the class of x @ w <= 0)."""
  rng = np.random.default_rng(0)
  x = (100.0 * rng.normal(size=(64, 3))).astype(np.float32)
  y = np.where(x[:, 0] > 0, 1.0, -1.0).astype(np.float32)

  def acc(w):
    return {"acc": jnp.mean(jnp.where(x @ w > 0, 1.0, -1.0) == y)}

  base = dict(name="stiff", init_params=lambda key, seed: 0.01 * jax.random.normal(key, (3,)),
              loss=lambda w, batch: 0.5 * jnp.mean((x @ w - y) ** 2), evaluate=acc,
              validate=acc, metric="acc", mode="max", steps=40, eval_points=4, seeds=3)
  base.update(fields)
  return Task(**base), x, y


def test_a_run_whose_parameters_turned_nan_is_diverged_whatever_its_metric_says():
  task, x, y = stiff_least_squares()
  run = runs.run_optimizer(task, "sgd", lrs=[1e-5, 10.0])
  # the oracle: NumPy's SGD at rate 10 overflows (float32, as the harness trains)
  w = np.full(3, 0.01, np.float32)
  with np.errstate(all="ignore"):
    for _ in range(40):
      w = w - np.float32(10.0) * (x.T @ (x @ w - y) / len(y)).astype(np.float32)
  assert not np.isfinite(w).all()
  assert np.isfinite(np.mean(np.where(x @ np.nan_to_num(w) > 0, 1.0, -1.0) == y))
  assert np.isnan(run.metrics["acc"][1, :, -1]).all()  # never a number
  assert np.isnan(run.val_metrics["acc"][1, :, -1]).all()
  assert np.isfinite(run.metrics["acc"][0]).all()  # the small rate is a result
  assert np.isfinite(run.metrics["acc"][1, :, 0]).all()  # before training it was one


def test_a_diverged_rate_is_never_selected_tied_or_shown_as_a_number():
  from optax_survey.harness import compare

  task, _, _ = stiff_least_squares()
  result = compare(task, ["sgd", "adam"], lr_grid=[1e-5, 10.0], progress=False)
  sgd = result.entry("sgd", "tuned")
  assert sgd.lr == 1e-5 and sgd.diverged == 0
  rows = {r["lr"]: r for r in result.rows if r["optimizer"] == "sgd"}
  assert rows[10.0]["diverged"] == 3 and not rows[10.0]["selected"]
  assert "diverged (2 of 2 seeds)" in compare(  # sgd's default 1e-3 > 2/L here too
      task, ["sgd"], budget="one-shot", seeds=2, progress=False).table()
  every_rate_diverges = compare(stiff_least_squares(steps=20)[0], ["sgd"],
                                lr_grid=[10.0, 100.0], progress=False)
  tuned = every_rate_diverges.entry("sgd", "tuned")
  assert tuned.diverged == 3 and not tuned.tied_best
  assert "diverged (3 of 3 seeds)" in every_rate_diverges.table()


def test_batches_calls_and_layouts_give_the_same_runs():
  """All runs in one call, in batches of at most 4, one per call, 2 steps per call, and
  one run and one step (no scan) per call:
  the same selected rate and the same curves to float32 round-off (the oracle: the
  one-call run; a vmapped matmul over runs may round differently from a single one)."""
  task = make_task()
  lrs = [1e-3, 1e-1, 1.0]
  base = runs.run_tuned(task, "adam", lrs=lrs, execution=runs.Execution(layout="vmap"))
  assert base[0].layout.startswith("9 runs over 1 device in 1 batch of 9")
  for execution in (runs.Execution(layout="vmap", max_parallel_runs=4),
                    runs.Execution(layout="loop"), runs.Execution(steps_per_call=2),
                    runs.Execution(layout="loop", steps_per_call=1)):  # no scan at all
    grid, rerun, selected = runs.run_tuned(task, "adam", lrs=lrs, execution=execution)
    assert selected == base[2], execution
    for ours, theirs in ((grid, base[0]), (rerun, base[1])):
      np.testing.assert_allclose(ours.loss, theirs.loss, rtol=2e-6, atol=1e-7)
      np.testing.assert_allclose(ours.val_metrics["log_loss"], theirs.val_metrics["log_loss"],
                                 rtol=2e-6, atol=1e-7)
  capped = runs.run_optimizer(task, "adam", lrs=lrs,
                              execution=runs.Execution(layout="vmap", max_parallel_runs=4))
  assert capped.layout.startswith("9 runs over 1 device in 3 batches of 3")


def test_calls_of_several_evaluation_intervals_evaluate_inside_at_the_same_points():
  """6 evaluation intervals of 10 steps: calls of 30 steps (3 intervals, evaluated inside
  the call) and of 60 give the curves and every evaluation of calls of one interval (the
  oracle: evaluations from their own call); a call that is neither part of an interval
  nor whole intervals dividing the run is refused."""
  task = make_task(eval_points=6)
  lrs = [1e-2, 1e-1]
  base = runs.run_optimizer(task, "adam", lrs=lrs,
                            execution=runs.Execution(layout="vmap", steps_per_call=10))
  assert base.val_metrics["log_loss"].shape == (2, 3, 7)
  for steps_per_call in (30, 60):
    ours = runs.run_optimizer(task, "adam", lrs=lrs, execution=runs.Execution(
        layout="vmap", steps_per_call=steps_per_call))
    assert f"{steps_per_call} steps per call" in ours.layout
    np.testing.assert_allclose(ours.loss, base.loss, rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(ours.eval_steps, base.eval_steps)
    for name in ("log_loss", "acc"):
      np.testing.assert_allclose(ours.val_metrics[name], base.val_metrics[name],
                                 rtol=2e-6, atol=1e-7)
      np.testing.assert_allclose(ours.metrics[name], base.metrics[name], rtol=2e-6, atol=1e-7)
  for wrong in (40, 25, 7):
    with pytest.raises(ValueError, match=f"steps_per_call={wrong} must divide the evaluation "
                                         "interval of 10 steps, or be a multiple"):
      runs.run_optimizer(task, "adam", lrs=lrs,
                         execution=runs.Execution(steps_per_call=wrong))


class Counting:
  """A progress bar that counts the run-steps it is given."""

  steps = 0

  def update(self, n):
    self.steps += n


def test_a_run_too_large_for_the_device_stops_before_training():
  from optax_survey.harness.errors import DeviceMemoryError

  bar = Counting()
  with pytest.raises(DeviceMemoryError, match=r"one run needs ~[\d.]+ kB of device memory"):
    runs.run_optimizer(make_task(), "adam", lrs=[0.1], progress=bar,
                       execution=runs.Execution(device_memory=1_000))
  assert bar.steps == 0


def test_the_progress_bar_counts_every_run_step_once():
  bar = Counting()
  task = make_task()
  # 3 x 3 grid runs in 3 batches and 3 reruns, 59 steps each, 3 steps per call: two
  # evaluation intervals of 30 steps run 60, and the step past the end is not counted
  # (the padded runs of several devices are not either: tests/test_harness_devices.py)
  runs.run_tuned(task, "sgd", lrs=[0.01, 0.1, 1.0], progress=bar, steps=59,
                 execution=runs.Execution(max_parallel_runs=4, steps_per_call=3))
  assert bar.steps == 12 * 59
  bar = Counting()  # calls of both intervals, evaluated inside: the same count
  runs.run_tuned(task, "sgd", lrs=[0.01, 0.1, 1.0], progress=bar, steps=59,
                 execution=runs.Execution(max_parallel_runs=4, steps_per_call=60))
  assert bar.steps == 12 * 59
