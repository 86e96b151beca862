"""Tasks and runner of the survey harness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness import registry, runner
from optax_survey.harness.tasks import get_task, task_names
from optax_survey.harness.tasks import online


def test_projection_onto_the_feasible_set():
  x = jnp.asarray([-3.0, -1.0, 0.25, 1.0, 7.0], jnp.float32)
  np.testing.assert_array_equal(online.project(x), [-1.0, -1.0, 0.25, 1.0, 1.0])


def test_reddi_setting_is_the_papers():
  task = get_task("reddi")
  assert task.optimizer_kwargs["b1"] == 0.9 and task.optimizer_kwargs["b2"] == 0.99
  coefs = [float(task.sample_batch(None, t)) for t in range(203)]  # paper's t = 1, 2, ...
  assert [t + 1 for t, c in enumerate(coefs) if c == 1010.0] == [1, 102, 203]
  assert set(coefs) == {1010.0, -10.0}
  sched = task.schedule(0.5)
  np.testing.assert_allclose([float(sched(0)), float(sched(3))], [0.5, 0.25])
  # the optimum is the left end: one period of gradients sums to 1010 - 100 * 10 > 0
  assert 1010.0 + 100 * -10.0 > 0
  t1 = get_task("reddi-theorem1")
  assert t1.optimizer_kwargs["b1"] == 0.0 and t1.optimizer_kwargs["b2"] == pytest.approx(1 / 10)


@pytest.mark.parametrize("name, steps", [("reddi-theorem1", 3000), ("reddi", 20000)])
def test_adam_goes_to_the_wrong_point_and_amsgrad_to_the_right_one(name, steps):
  task = get_task(name)
  adam = runner.run_optimizer(task, "adam", steps=steps, seeds=1)
  ams = runner.run_optimizer(task, "amsgrad", steps=steps, seeds=1)
  x_adam, x_ams = adam.metrics["x"][0, 0, -1], ams.metrics["x"][0, 0, -1]
  assert x_adam > 0.8, x_adam  # Adam drifts to +1, the worst point
  assert x_ams < -0.8, x_ams  # AMSGrad goes to x* = -1
  for res in (adam, ams):  # the projection keeps every iterate feasible
    assert np.all(np.abs(res.path) <= 1.0)
  assert ams.loss.mean() < adam.loss.mean()  # lower average regret


def test_runner_is_float32_and_seeds_differ_even_with_x64_on():
  assert jax.config.jax_enable_x64  # tests/conftest.py
  task = get_task("digits-mlp")
  res = runner.run_optimizer(task, "sgdm", steps=12, seeds=2, lrs=[0.01, 0.02])
  assert res.loss.dtype == np.float32 and res.loss.shape == (2, 2, 12)
  assert res.metrics["test_acc"].shape == (2, 2, len(res.eval_steps))
  assert not np.allclose(res.loss[0, 0], res.loss[0, 1])  # different seeds
  assert np.isfinite(res.loss).all()


def test_lookahead_records_fast_and_slow_weights():
  task = get_task("quadratic")
  res = runner.run_optimizer(task, "lookahead", steps=10, seeds=1)
  fast, slow = res.path[0, 0], res.slow_path[0, 0]
  assert fast.shape == slow.shape == (11, 2)
  np.testing.assert_allclose(fast[5], slow[5], rtol=1e-6)  # fast restarts at the slow weights
  np.testing.assert_array_equal(slow[1], slow[4])  # slow weights move only at syncs


def test_build_passes_only_the_overrides_an_optimizer_takes():
  tx = registry.build("sgd", 0.1, b1=0.9, b2=0.99, final_lr=0.2)
  params = jnp.ones(2, jnp.float32)
  updates, _ = tx.update(jnp.ones(2, jnp.float32), tx.init(params), params)
  np.testing.assert_allclose(updates, [-0.1, -0.1])
  with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
    registry.build("nope", 0.1)


def test_every_task_has_a_rate_for_every_optimizer():
  for name in ("quadratic", "rosenbrock", "beale", "saddle", "rastrigin", "reddi", "digits-mlp"):
    assert set(get_task(name).lrs) == set(registry.OPTIMIZERS)
  assert len(task_names()) == 12


def test_mnist1d_is_generated_offline_and_the_models_have_the_papers_shapes():
  from optax_survey.harness.tasks import mnist1d

  x, y, x_test, y_test = mnist1d.load()
  assert x.shape == (4000, 40) and x_test.shape == (1000, 40) and set(np.unique(y)) == set(range(10))
  key = jax.random.PRNGKey(0)
  cnn = mnist1d.cnn_init(key, 0)
  assert cnn["linear"]["w"].shape == (125, 10)  # 25 channels x 5 positions, as the paper's
  assert mnist1d.cnn_apply(cnn, jnp.asarray(x[:3])).shape == (3, 10)
  mlp = mnist1d.mlp_init(key, 0)
  assert [p["w"].shape for p in mlp] == [(40, 100), (100, 100), (100, 10)]


def test_charlm_corpus_is_local_and_the_initial_loss_is_near_uniform():
  task = get_task("charlm")
  from optax_survey.harness.tasks import charlm

  train_ids, val_ids = charlm.load()
  assert len(train_ids) > 100_000 and train_ids.max() < charlm.VOCAB
  params = task.init_params(jax.random.PRNGKey(0), 0)
  loss = float(jax.jit(task.loss)(params, task.sample_batch(jax.random.PRNGKey(1), 0)))
  assert abs(loss - np.log(charlm.VOCAB)) < 1.0
