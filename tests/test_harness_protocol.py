"""protocol.py: compare()'s budgets, grid and selection; split hygiene (a test split
poisoned with NaN changes no selection); every bad input fails before training.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from blobs import make_task

from optax_survey.harness import errors
from optax_survey.harness.errors import TaskError
from optax_survey.harness.protocol import compare, default_grid
from optax_survey.harness.tasks import check_task, get_task

FOREVER = 10**9  # a step count no test could finish: a check after training would hang


def test_default_grid_spans_three_decades_around_its_centre():
  grid = default_grid(3e-3)
  assert len(grid) >= 7 and 3e-3 in grid
  assert math.log10(grid[-1] / grid[0]) == pytest.approx(3.0, abs=0.01)
  assert grid == sorted(grid)
  with pytest.raises(ValueError, match="center"):
    default_grid(0.0)


def test_selection_never_reads_the_test_split():
  clean = compare(make_task(), ["sgd", "adam"], progress=False)
  poisoned = compare(make_task(poison_test=True), ["sgd", "adam"], progress=False)
  for budget in ("tuned", "one-shot"):
    a = {e.optimizer: e for e in clean.entries_at(budget)}
    b = {e.optimizer: e for e in poisoned.entries_at(budget)}
    for name in ("sgd", "adam"):
      assert a[name].lr == b[name].lr, (budget, name)
      assert math.isnan(b[name].ci.mean)  # the poisoned test split is what is reported
      assert 0.0 < a[name].ci.mean < 0.7  # below log(2): it learned
  # the tuned number is a rerun on fresh seeds, at the rate with the best validation mean
  for name in ("sgd", "adam"):
    run = clean.grid[name]
    val = run.val_metrics["log_loss"][:, :, -1].mean(1)
    tuned = clean.entry(name, "tuned")
    assert tuned.lr == run.lrs[int(np.nanargmin(val))]
    assert clean.reruns[name].seed_offset == 3 and tuned.first_seed == 3
    assert len(run.lrs) >= 7


def test_a_rate_selected_at_the_edge_of_the_grid_is_flagged():
  # rates far too small to learn in 20 steps: the largest rate run (the published default,
  # 1e-3, added to the grid for the one-shot number) wins, at the edge
  result = compare(make_task(steps=20, seeds=2), ["sgd"], lr_grid=[1e-7, 1e-6],
                   progress=False)
  (tuned,) = result.entries_at("tuned")
  assert tuned.lr == 1e-3 == max(result.grid["sgd"].lrs)
  assert any("sgd's selected rate 0.001 is the largest it ran" in n for n in result.notes)


@pytest.mark.parametrize("overrides, error, words", [
    ({"validate": None}, TaskError, "no validation split"),
    ({"loss": lambda p, b: jnp.zeros(3)}, TaskError, "must return a scalar"),
    ({"metric": "accuracy"}, TaskError, "does not return the metric 'accuracy'"),
    ({"validate": lambda p: {"acc": jnp.zeros(())}}, TaskError,
     "validate.*does not return the metric 'log_loss'"),
    ({"evaluate": lambda p: 0.5}, TypeError, "must return a dict"),
    ({"mode": "up"}, TaskError, "'min' or 'max'"),
])
def test_a_malformed_task_fails_before_training(overrides, error, words):
  task = make_task(steps=FOREVER, **overrides)
  with pytest.raises(error, match=words) as info:
    compare(task, ["adam"], progress=False)
  assert "\n" not in str(info.value)


def test_a_task_that_is_not_a_task():
  with pytest.raises(TypeError, match="Task"):
    check_task({"name": "x"})
  with pytest.raises(ValueError, match="budget"):
    compare(make_task(steps=FOREVER), ["adam"], budget="forever", progress=False)
  with pytest.raises(ValueError, match="lr_grid"):
    compare(make_task(steps=FOREVER), ["adam"], lr_grid=[0.1, -1.0], progress=False)


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


def test_a_loss_that_is_nan_before_any_step_stops_the_call_naming_loss():
  # a bug in the user's loss (log of a parameter that starts at 0), not an optimizer's
  # failure: one line, before the sweep (a step count no test could finish)
  task = make_task(steps=FOREVER, loss=lambda p, batch: jnp.mean(jnp.log(p["b"]) * batch[1]))
  with pytest.raises(TaskError, match=r"loss is (nan|-inf|inf) at the initial parameters") as info:
    compare(task, ["adam"], progress=False)
  assert "not an optimizer's failure" in str(info.value) and "\n" not in str(info.value)


def test_any_optax_optimizer_is_compared_under_its_label():
  # the oracle: optax's own adam trained by the harness gives the harness's adam numbers
  # (the two agree to float32 round-off, as the parity suite shows step by step)
  import optax

  import optax_survey as osv

  task = make_task(steps=30, seeds=2)
  result = compare(task, {"survey adam": "adam", "optax adam": optax.adam,
                          "lion": "optax.lion",
                          "la(adam)": lambda lr: osv.lookahead(osv.adam(lr), sync_period=5,
                                                               slow_step_size=0.5),
                          "lookahead": "lookahead"},
                   budget="one-shot", progress=False)
  ours, theirs = result.entry("survey adam"), result.entry("optax adam")
  np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-5)
  assert theirs.lr == 1e-3 and theirs.selected_on == "no published default here: 0.001"
  # a lookahead built by hand is evaluated on its slow weights, as the registry's is
  np.testing.assert_array_equal(result.entry("la(adam)").values,
                                result.entry("lookahead").values)
  assert result.grid["la(adam)"].slow_path is None  # paths are for 2-D tasks only
  assert [e.optimizer for e in result.entries] == list(result.optimizers)
  assert "lion,one-shot" in result.to_csv()
  assert any(n.startswith("optax adam has no published default") for n in result.notes)


def test_one_name_alone_and_a_factory_in_a_list_are_optimizers():
  import optax

  task = make_task(steps=10, seeds=2)
  assert compare(task, "adam", budget="one-shot", progress=False).optimizers == ["adam"]
  tuned = compare(task, ["sgd", optax.rmsprop], lr_grid=[1e-3, 1e-2], progress=False)
  assert tuned.optimizers == ["sgd", "rmsprop"]
  assert tuned.grid["rmsprop"].lrs == [1e-3, 1e-2]  # the factory's default 1e-3 is on it


@pytest.mark.parametrize("optimizers, error, words", [
    ([lambda lr: 1 / 0], "BadInputError", "calling it with a learning rate raised "
                                           "ZeroDivisionError"),
    ({"x": lambda lr: "not a transformation"}, "BadInputError",
     "must be a function learning_rate -> optax.GradientTransformation"),
    (["optax.nosuch"], "BadInputError", "'optax' has no function 'nosuch'"),
    (["nosuch_module_xyz:make_tx"], "BadInputError", "cannot import 'nosuch_module_xyz'"),
    ([42], "BadTypeError", "give a name, optax.NAME"),
    (["adam", "adam"], "BadInputError", "listed twice"),
])
def test_an_optimizer_that_is_not_one_is_refused_before_training(optimizers, error, words):
  from optax_survey.harness import errors

  with pytest.raises(getattr(errors, error), match=words.replace("(", r"\(").replace(
      ")", r"\)")) as info:
    compare(make_task(steps=FOREVER), optimizers, progress=False)
  assert info.value.argument == "optimizers" and "\n" not in str(info.value)


def test_a_sampler_that_ignores_key_and_step_is_warned_about():
  import warnings

  one_batch = make_task(steps=2, seeds=2, sample_batch=lambda key, t: (
      jnp.ones((4, 4)), jnp.ones(4)))
  with pytest.warns(UserWarning, match="batch depends on neither its key nor its step") \
      as record:
    compare(one_batch, ["sgd"], budget="one-shot", progress=False)
  assert "sample_batch=None" in str(record[0].message)
  assert record[0].filename == __file__  # it points at the call, not inside the harness
  with warnings.catch_warnings():  # a sampler that draws with its key: no warning
    warnings.simplefilter("error")
    compare(make_task(steps=2, seeds=2), ["sgd"], budget="one-shot", progress=False)


@pytest.mark.parametrize("sampler", [
    lambda key, t: jnp.ones(4) * t,  # indexes its data with the step alone
    lambda key, t: jax.random.normal(key, (4,)),  # draws with its key alone
    # one of two values, the same one in two steps at most keys (a comparison of two
    # draws would call it one batch), as Reddi et al.'s stochastic problem
    lambda key, t: jnp.where(jax.random.uniform(key) < 0.01, 1010.0, -10.0),
])
def test_a_sampler_that_reads_its_key_or_its_step_is_not_warned_about(sampler):
  import warnings

  from optax_survey.harness.protocol import check_sample_batch
  from optax_survey.harness.tasks import get_task

  with warnings.catch_warnings():
    warnings.simplefilter("error")
    check_sample_batch(make_task(sample_batch=sampler))
    check_sample_batch(get_task("reddi-stochastic"))  # the full survey's log warned once
