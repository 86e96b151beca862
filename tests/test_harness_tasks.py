"""The tasks (tasks/base.py, tasks/catalogue.py and the family modules): the papers'
settings, the catalogue's table, splits, what a task needs installed.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness import errors, registry, runs
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
  adam = runs.run_optimizer(task, "adam", steps=steps, seeds=1)
  ams = runs.run_optimizer(task, "amsgrad", steps=steps, seeds=1)
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
  res = runs.run_optimizer(task, "adam", steps=300, seeds=2)
  agree = np.array_equal(res.loss[0, 0], res.loss[0, 1]) and np.array_equal(res.path[0, 0],
                                                                            res.path[0, 1])
  assert agree == deterministic


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


# The MNIST-1D paper's MLP accuracy and what its reference code itself printed at the
# paper's settings (Adam lr 1e-2, batch 100, 6000 steps, seed 42): the paper reports 68%,
# one run, no spread (Greydanus 2020, arXiv 2011.14439, Table 1; the repository's
# README); the reference notebooks' MLP runs end at 64.6% and 66.5%
# (building_mnist1d.ipynb, 2020: the data and its shuffled copy) and 65.1% and 66.0%
# (notebooks/mnist1d-classification.ipynb, 2024).  Their range is the spread we test
# against, there being none reported.
MNIST1D_MLP_REFERENCE_RANGE = (0.646, 0.68)


def test_adam_reaches_the_mnist1d_papers_mlp_accuracy_as_the_paper_trains():
  """Adam at lr 1e-2 on the MLP, 6000 steps of batch 100 drawn by the task's sampler from
  the paper's 4000 training sequences (``mnist1d.as_in_the_paper``), 3 seeds in one
  vmapped program: the 95% interval of the test accuracy over seeds overlaps the range
  of the paper's 68% and its reference code's own runs (the criterion, the paper reporting
  no spread).  Measured: 10 seeds end at 66.0% (standard deviation 1.5 points).  The
  survey's task trains on the 3001 sequences its validation split leaves and ends lower,
  62.7% (10 seeds, standard deviation 0.75): the held-out quarter costs about 3 points."""
  from optax_survey.harness.analysis.stats import bootstrap_ci
  from optax_survey.harness.tasks import mnist1d

  task = mnist1d.as_in_the_paper(get_task("mnist1d-mlp"))
  assert task.extra["paper_steps"] == mnist1d.PAPER_STEPS == 6000
  x, _ = task.sample_batch(jax.random.PRNGKey(0), 0)
  assert x.shape == (100, 40)
  run = runs.run_optimizer(task, "adam", lrs=[1e-2], steps=mnist1d.PAPER_STEPS, seeds=3,
                           execution=runs.Execution(layout="vmap"))  # no layout timing: 5 s
  accuracy = run.final_values("acc")[0]
  interval = bootstrap_ci(accuracy)
  low, high = MNIST1D_MLP_REFERENCE_RANGE
  assert mnist1d.PAPER_ACCURACY["mlp"] == high
  assert interval.lo <= high and interval.hi >= low, (accuracy, interval)


def test_charlm_corpus_is_local_and_the_initial_loss_is_near_uniform():
  task = get_task("charlm")
  from optax_survey.harness.tasks import charlm

  train_ids, val_ids, test_ids = charlm.load()
  assert len(train_ids) > 100_000 and train_ids.max() < charlm.VOCAB
  assert len(val_ids) == pytest.approx(len(test_ids), abs=1)
  params = task.init_params(jax.random.PRNGKey(0), 0)
  loss = float(jax.jit(task.loss)(params, task.sample_batch(jax.random.PRNGKey(1), 0)))
  assert abs(loss - np.log(charlm.VOCAB)) < 1.0


def test_a_task_without_its_package_says_which_extra_to_install(monkeypatch):
  from optax_survey.harness.tasks import catalogue, digits

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


def _stateful(**fields):
  from optax_survey.harness import Task

  base = dict(name="bn", init_params=lambda key, seed: jnp.zeros(2),
              init_state=lambda key, seed: {"mean": jnp.zeros(2)},
              loss=lambda w, batch, s: (jnp.sum(w ** 2), {"mean": s["mean"] + 1.0}),
              evaluate=lambda w, s: {"loss": jnp.sum(w ** 2)}, metric="loss", mode="min",
              held_out=False)
  base.update(fields)
  return Task(**base)


@pytest.mark.parametrize("fields, words", [
    ({"loss": lambda w, b, s: jnp.sum(w ** 2)}, "must return (loss, new_state), got"),
    ({"loss": lambda w, b, s: (jnp.sum(w ** 2), {"mean": jnp.zeros(3)})},
     "new_state of init_state's structure, shapes and dtypes"),
    ({"loss": lambda w, b, s: (jnp.sum(w ** 2), s["mean"])},
     "new_state of init_state's structure"),
    ({"evaluate": lambda w: {"loss": jnp.sum(w)}}, "tracing evaluate(params, state) failed"),
    ({"loss": lambda w, b: jnp.sum(w ** 2)},
     "tracing loss(params, batch, state) failed: TypeError"),
])
def test_a_malformed_stateful_task_is_refused_before_training(fields, words):
  from optax_survey.harness.tasks import check_task

  with pytest.raises(errors.TaskError) as info:
    check_task(_stateful(**fields))
  assert words in str(info.value) and "\n" not in str(info.value)
  assert check_task(_stateful()).stateful


@pytest.mark.parametrize("field, fn, call", [
    ("sample_batch", lambda key, t: jnp.ones(int(t) + 1), "sample_batch(key, t)"),
    ("loss", lambda w, batch: jnp.sum(w) if jnp.sum(w) > 0 else -jnp.sum(w),
     "loss(params, batch)"),
    ("init_params", lambda key, seed: jnp.zeros(2) + float(seed), "init_params(key, seed)"),
])
def test_python_control_flow_on_a_traced_value_names_the_function_and_the_fix(field, fn, call):
  from optax_survey.harness import Task
  from optax_survey.harness.tasks import check_task

  fields = dict(name="cf", init_params=lambda key, seed: jnp.zeros(2),
                loss=lambda w, batch: jnp.sum(w ** 2), evaluate=lambda w: {"loss": jnp.sum(w)},
                sample_batch=lambda key, t: jnp.ones(2), metric="loss", mode="min",
                held_out=False)
  fields[field] = fn
  with pytest.raises(errors.TaskError) as info:
    check_task(Task(**fields))
  text = str(info.value)
  assert text.startswith(f"task 'cf': {call} uses a traced value in Python control flow")
  assert "jnp.where" in text and "jit and vmap" in text and "\n" not in text
  assert isinstance(info.value.__cause__, (jax.errors.ConcretizationTypeError,
                                           jax.errors.TracerIntegerConversionError))


@pytest.mark.parametrize("name", ["digits-mlp", "mnist1d-mlp", "mnist1d-cnn", "wilson-separable"])
def test_evaluate_train_measures_the_whole_training_split(name):
  """The training split's metrics, against NumPy on the split the task trains on."""
  from optax_survey.harness.tasks import digits, mnist1d, wilson
  from optax_survey.harness.training import initial_params

  module = {"digits-mlp": digits, "mnist1d-mlp": mnist1d, "mnist1d-cnn": mnist1d,
            "wilson-separable": wilson}[name]
  x, y = module.load()[:2]
  task = get_task(name)
  params = initial_params(task, 1)
  out = task.metrics("train", params)
  if name == "wilson-separable":
    w, x, y = (np.asarray(a, np.float64) for a in (params, x, y))
    np.testing.assert_allclose(float(out["loss"]), 0.5 * np.mean((x @ w - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(out["acc"]), np.mean(np.where(x @ w > 0, 1, -1) == y),
                               rtol=1e-6)
    return
  apply = {"digits-mlp": digits.apply, "mnist1d-mlp": mnist1d.mlp_apply,
           "mnist1d-cnn": mnist1d.cnn_apply}[name]
  logits = np.asarray(apply(params, jnp.asarray(x)), np.float64)
  log_softmax = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1,
                                keepdims=True)) - logits.max(1, keepdims=True)
  np.testing.assert_allclose(float(out["loss"]), -log_softmax[np.arange(len(y)), y].mean(),
                             rtol=1e-5)
  np.testing.assert_allclose(float(out["acc"]), np.mean(logits.argmax(1) == y), rtol=1e-6)


def test_evaluate_train_without_the_training_loss_is_refused():
  from optax_survey.harness import Task
  from optax_survey.harness.tasks import check_task

  task = Task(name="no-loss", init_params=lambda key, seed: jnp.zeros(2),
              loss=lambda w, batch: jnp.sum(w ** 2), evaluate=lambda w: {"acc": jnp.sum(w)},
              validate=lambda w: {"acc": jnp.sum(w)},
              evaluate_train=lambda w: {"acc": jnp.sum(w)}, metric="acc", mode="max")
  with pytest.raises(errors.TaskError, match=r"evaluate_train\(params\) does not return the "
                                              r"metric 'loss'"):
    check_task(task)
