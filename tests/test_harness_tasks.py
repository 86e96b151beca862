"""Tasks and runner of the survey harness."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness import errors, preflight, registry, training
from optax_survey.harness.analysis import diagnostics
from optax_survey.harness.protocol import compare
from optax_survey.harness.tasks import CATALOGUE, get_task, online, task_names


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
  adam = training.run_optimizer(task, "adam", steps=steps, seeds=1)
  ams = training.run_optimizer(task, "amsgrad", steps=steps, seeds=1)
  x_adam, x_ams = adam.metrics["x"][0, 0, -1], ams.metrics["x"][0, 0, -1]
  assert x_adam > 0.8, x_adam  # Adam drifts to +1, the worst point
  assert x_ams < -0.8, x_ams  # AMSGrad goes to x* = -1
  for res in (adam, ams):  # the projection keeps every iterate feasible
    assert np.all(np.abs(res.path) <= 1.0)
  assert ams.loss.mean() < adam.loss.mean()  # lower average regret


@pytest.mark.parametrize("name, deterministic", [
    ("reddi-theorem1", True), ("reddi", True), ("reddi-stochastic", False), ("quadratic", False)])
def test_a_task_is_marked_deterministic_exactly_when_its_seeds_agree(name, deterministic):
  task = get_task(name)
  assert task.deterministic == deterministic
  res = training.run_optimizer(task, "adam", steps=300, seeds=2)
  agree = np.array_equal(res.loss[0, 0], res.loss[0, 1]) and np.array_equal(res.path[0, 0],
                                                                            res.path[0, 1])
  assert agree == deterministic


def test_adabound_equals_adam_on_the_quadratic_because_its_bounds_never_bind():
  task = get_task("quadratic")
  result = compare(task, ["adam", "adabound"], progress=False)
  adam, adabound = result.results
  i = adam.lrs.index(task.lr_for("adam"))  # the task's rate, 0.1 (the grid's centre)
  assert diagnostics.same_run(adam, adabound, i)  # the identical rows of the results page
  activity = diagnostics.bound_activity(task, "adabound", task.lr_for("adabound"))
  assert activity.clipped_fraction == 0.0 and activity.min_margin > 0.1
  assert activity.final_lr == 0.45 and activity.steps == 300 and activity.seeds == 5
  # by hand, at the last step: Adam's per-coordinate step size lies inside the bounds
  t, gamma = 300, 1e-3
  assert activity.lower_end == pytest.approx(0.45 * gamma * t / (gamma * t + 1), rel=1e-6)
  assert activity.upper_end == pytest.approx(0.45 * (gamma * t + 1) / (gamma * t), rel=1e-6)
  (note,) = [n for n in result.notes if n.startswith("adabound") and " as adam " in n
             or n.startswith("adabound gives")]
  assert note.startswith("adabound runs as adam on quadratic") and "never bind" in note
  # the detector does see a bound that binds: on Reddi's problem AdaBound sits on η_l
  reddi = get_task("reddi")
  assert diagnostics.bound_activity(reddi, "adabound", 0.5, steps=2000,
                                    seeds=1).clipped_fraction > 0.9
  assert not diagnostics.same_run(*compare(reddi, ["adam", "adabound"], steps=2000, seeds=1,
                                           lr_grid=[0.5], progress=False).results, 0)


def test_runner_is_float32_and_seeds_differ_even_with_x64_on():
  assert jax.config.jax_enable_x64  # tests/conftest.py
  task = get_task("digits-mlp")
  res = training.run_optimizer(task, "sgdm", steps=12, seeds=2, lrs=[0.01, 0.02])
  assert res.loss.dtype == np.float32 and res.loss.shape == (2, 2, 12)
  assert res.metrics["acc"].shape == (2, 2, len(res.eval_steps))
  assert not np.allclose(res.loss[0, 0], res.loss[0, 1])  # different seeds
  assert np.isfinite(res.loss).all()


def test_lookahead_records_fast_and_slow_weights():
  task = get_task("quadratic")
  res = training.run_optimizer(task, "lookahead", steps=10, seeds=1)
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
  for name in task_names():  # known without building the task (optax-survey tasks)
    assert set(CATALOGUE[name].learning_rates) == set(registry.OPTIMIZERS), name
  for name in ("quadratic", "rosenbrock", "beale", "saddle", "rastrigin", "reddi", "digits-mlp"):
    assert get_task(name).lrs == dict(CATALOGUE[name].learning_rates)
  assert len(task_names()) == 13


def test_mnist1d_is_generated_offline_and_the_models_have_the_papers_shapes():
  from optax_survey.harness.tasks import mnist1d

  x, y, x_val, y_val, x_test, y_test = mnist1d.load()
  assert len(x) + len(x_val) == 4000 and abs(len(x_val) - 1000) <= 5  # a stratified quarter
  assert x.shape[1] == x_val.shape[1] == 40 and x_test.shape == (1000, 40)
  assert np.bincount(y_val).min() > 80  # stratified: every class in the validation split
  assert set(np.unique(y)) == set(range(10))
  key = jax.random.PRNGKey(0)
  cnn = mnist1d.cnn_init(key, 0)
  assert cnn["linear"]["w"].shape == (125, 10)  # 25 channels x 5 positions, as the paper's
  assert mnist1d.cnn_apply(cnn, jnp.asarray(x[:3])).shape == (3, 10)
  mlp = mnist1d.mlp_init(key, 0)
  assert [p["w"].shape for p in mlp] == [(40, 100), (100, 100), (100, 10)]


def test_charlm_corpus_is_local_and_the_initial_loss_is_near_uniform():
  task = get_task("charlm")
  from optax_survey.harness.tasks import charlm

  train_ids, val_ids, test_ids = charlm.load()
  assert len(train_ids) > 100_000 and len(val_ids) == pytest.approx(len(test_ids), abs=1) and train_ids.max() < charlm.VOCAB
  params = task.init_params(jax.random.PRNGKey(0), 0)
  loss = float(jax.jit(task.loss)(params, task.sample_batch(jax.random.PRNGKey(1), 0)))
  assert abs(loss - np.log(charlm.VOCAB)) < 1.0


def test_library_compare_checks_its_input_and_output_before_training(tmp_path):
  task = get_task("quadratic")
  a_file = tmp_path / "f"
  a_file.write_text("")
  with pytest.raises(errors.OutputDirError, match="is a file, not a folder"):
    compare(task, ["adam"], steps=10**9, out=str(a_file), progress=False)
  with pytest.raises(errors.BadInputError, match="unknown optimizer 'nope'"):
    compare(task, ["adam", "nope"], steps=10**9, progress=False)
  with pytest.raises(errors.BadInputError, match="unknown task 'nope'"):
    compare("nope", ["adam"], progress=False)


def test_a_task_without_its_package_says_which_extra_to_install(monkeypatch):
  from optax_survey.harness.tasks import digits

  from optax_survey.harness.tasks import catalogue

  assert CATALOGUE["digits-mlp"].requires == ("sklearn",)
  assert CATALOGUE["charlm"].requires == ("flax",) and CATALOGUE["reddi"].requires == ()
  monkeypatch.setitem(sys.modules, "sklearn", None)
  monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
  with pytest.raises(errors.MissingExtraError) as info:
    digits.load.__wrapped__()
  assert str(info.value) == ('scikit-learn (for the digits-mlp task) is not installed: '
                             'pip install "optax_survey[survey]"')
  monkeypatch.setattr(catalogue, "_CACHE", {})  # not built yet: get_task checks first
  with pytest.raises(errors.MissingExtraError, match=r"^scikit-learn \(for the digits-mlp task\)"):
    get_task("digits-mlp")


@pytest.mark.parametrize("name", ["digits-mlp", "mnist1d-mlp", "wilson-separable"])
def test_data_tasks_have_disjoint_train_validation_and_test_splits(name):
  from optax_survey.harness.tasks import digits, mnist1d, wilson

  module = {"digits-mlp": digits, "mnist1d-mlp": mnist1d, "wilson-separable": wilson}[name]
  x, _, x_val, _, x_test, _ = module.load()
  task = get_task(name)
  assert task.held_out and task.validate is not None
  if name == "wilson-separable":
    # held-out points have their own (never trained, zero-weight) blocks: only the shared
    # coordinates are stored, and every training point has a block of its own
    assert not x_val[:, 3:].any() and not x_test[:, 3:].any()
    assert (x[:, 3:].sum(0) > 0).sum() == x.shape[0] + 4 * int((x[:, 0] < 0).sum())
    return
  if name == "digits-mlp":  # the data has a few duplicate images: check the indices
    from optax_survey.harness.tasks._nn import split_indices

    y = np.repeat(np.arange(10), 180)
    parts = split_indices(y, (0.6, 0.2, 0.2))
    assert sum(len(p) for p in parts) == len(y) == len(set(np.concatenate(parts)))
    assert [np.bincount(y[p]).tolist() for p in parts] == [[108] * 10, [36] * 10, [36] * 10]
    assert len(x) + len(x_val) + len(x_test) == 1797
    return
  rows = [{r.tobytes() for r in part} for part in (x, x_val, x_test)]
  assert not rows[0] & rows[1] and not rows[0] & rows[2] and not rows[1] & rows[2]
