"""The examples (examples/train.py, examples/flat_params.py) on tiny settings."""

import json
import os
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import flat_params  # noqa: E402
import train  # noqa: E402


def test_train_runs_learns_and_writes_outputs(tmp_path):
  results = train.main(
      ["--steps", "80", "--optimizers", "adam,lookahead", "--out", str(tmp_path)]
  )
  assert [r["optimizer"] for r in results] == ["adam", "lookahead"]
  for r in results:
    curve = r["loss_curve"]
    assert len(curve) == 80
    assert curve[-1] < 0.7 * curve[0]  # the spirals start near log(3) = 1.10
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["steps"] == 80 and len(saved["results"]) == 2
  assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "-3"], "--steps must be >= 1"),
        (["--optimizers", "adam,nosuch"], "unknown optimizer 'nosuch'"),
        (["--optimizers", ","], "--optimizers is empty"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    train.main(argv + ["--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err


def test_flat_params_learns_and_follows_the_tree_run(capsys):
  """examples/flat_params.py: tree and flat runs of Adam, 6 chunks of 10 steps."""
  out = flat_params.main(["--steps", "60", "--chunk", "10"])
  tree, flat = out["losses"]["tree"], out["losses"]["flat"]
  assert len(tree) == len(flat) == 60
  assert tree[-1] < 0.6 * tree[0] and flat[-1] < 0.6 * flat[0]
  # the same trajectory, to float32 round-off
  np.testing.assert_allclose(flat, tree, rtol=1e-5)
  assert len(out["param_diffs"]) == 6 and max(out["param_diffs"]) < 1e-5
  for a, b in zip(jax.tree.leaves(out["tree_params"]), jax.tree.leaves(out["flat_params"])):
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert all(ms > 0 for ms in out["ms_per_step"].values())
  printed = capsys.readouterr().out
  assert "66 leaves" in printed and "flat speed-up x" in printed


def test_flat_params_bad_arguments_exit_2(capsys):
  with pytest.raises(SystemExit) as exit_info:
    flat_params.main(["--depth", "0"])
  assert exit_info.value.code == 2
  assert "--depth must be >= 1" in capsys.readouterr().err


def test_compare_your_task_tunes_a_flax_nnx_model(capsys):
  """examples/compare_your_task.py: a Flax NNX model in a Task, tuned on validation."""
  import compare_your_task

  result = compare_your_task.main(["--optimizers", "sgdm,adam", "--steps", "150",
                                   "--seeds", "2"])
  tuned = {e.optimizer: e for e in result.entries_at("tuned")}
  assert tuned["adam"].ci.mean > 0.6  # 3 classes: chance is 1/3
  for name, entry in tuned.items():
    assert entry.lr in result.grid[name].lrs and entry.first_seed == 2
  assert "spirals-nnx" in capsys.readouterr().out
  with pytest.raises(SystemExit) as info:
    compare_your_task.main(["--optimizers", "adam,nosuch", "--steps", "1"])
  assert info.value.code == 2


def _fixed_batches(task, steps):
  """``task`` with the batches (and dropout keys) of its own sampler at keys 100, 101, ...
  fixed per step, so that a plain loop can feed the same ones."""
  import dataclasses

  import jax.numpy as jnp

  batches = [task.sample_batch(jax.random.PRNGKey(100 + t), t) for t in range(steps)]
  stacked = jax.tree.map(lambda *b: jnp.stack(b), *batches)
  return dataclasses.replace(
      task, sample_batch=lambda key, t: jax.tree.map(lambda a: a[t], stacked)), batches


def test_the_nnx_cnn_trains_as_a_plain_nnx_loop_does_batchnorm_and_dropout_included():
  # the oracle: Flax's own loop (nnx.Optimizer over nnx.Param, nnx.grad updating the
  # BatchNorm statistics in place, optax.sgd), on the same initial model, batches and
  # dropout keys; the harness carries the statistics as model state
  import flax_nnx_cnn
  import optax
  from flax import nnx

  from optax_survey.harness import training

  task, batches = _fixed_batches(flax_nnx_cnn.make_task(), 3)
  last = training.replay(task, "sgd", 0.1, steps=3, seeds=1,
                         last=lambda step: (step.new_params, step.model_state))
  model = flax_nnx_cnn.CNN(rngs=nnx.Rngs(params=training.seed_keys(0)[0]))
  optimizer = nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param)
  for xb, yb, k_dropout in batches:
    def loss_fn(model, xb=xb, yb=yb, k_dropout=k_dropout):
      logits = model(xb, train=True, key=k_dropout)
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
    optimizer.update(model, nnx.grad(loss_fn)(model))
  expected = (nnx.as_pure(nnx.state(model, nnx.Param)),
              nnx.as_pure(nnx.state(model, nnx.BatchStat)))
  got = jax.tree.map(lambda a: a[0], last)
  assert jax.tree.structure(got) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # the statistics moved, and dropout drew different masks at different keys
  init = task.init_state(training.seed_keys(0)[0], 0)
  assert not np.allclose(got[1]["bn1"]["mean"], init["bn1"]["mean"])


def test_the_nnx_cnn_example_compares_optimizers_at_a_small_size(capsys):
  import flax_nnx_cnn

  result = flax_nnx_cnn.main(["--optimizers", "sgdm,adam", "--steps", "60", "--seeds", "2",
                              "--budget", "one-shot"])
  adam = result.entry("adam", "one-shot")
  assert adam.ci.mean > 0.4 and adam.diverged == 0  # 10 classes: chance is 0.1
  assert "digits-nnx-cnn" in capsys.readouterr().out


def _assert_trees_close(got, expected):
  assert jax.tree.structure(got) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_linen_batchnorm_model_trains_as_linens_own_loop_does():
  # the oracle: Linen's documented loop (apply with mutable=["batch_stats"], the new
  # statistics put back into the variables) with optax.sgd, on the same batches
  import flax.linen as nn
  import optax
  import stateful_models

  from optax_survey.harness import training

  task, batches = _fixed_batches(stateful_models.linen_task(), 4)
  got = jax.tree.map(lambda a: a[0], training.replay(
      task, "sgd", 0.3, steps=4, seeds=1, last=lambda s: (s.new_params, s.model_state)))

  class MLP(nn.Module):  # the example's model, written again here
    @nn.compact
    def __call__(self, x, train):
      h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(nn.Dense(32)(x))
      return nn.Dense(3)(jax.numpy.tanh(h))

  model, tx = MLP(), optax.sgd(0.3)
  variables = model.init(training.seed_keys(0)[0], jax.numpy.zeros((1, 2)), train=False)
  params, stats = variables["params"], variables["batch_stats"]
  opt_state = tx.init(params)
  for xb, yb in batches:
    def loss_fn(p, stats=stats, xb=xb, yb=yb):
      logits, upd = model.apply({"params": p, "batch_stats": stats}, xb, train=True,
                                mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), upd
    grads, updates = jax.grad(loss_fn, has_aux=True)(params)
    stats = updates["batch_stats"]
    step, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, step)
  _assert_trees_close(got, (params, stats))


def test_a_haiku_batchnorm_model_trains_as_haikus_own_loop_does():
  import haiku as hk
  import optax
  import stateful_models

  from optax_survey.harness import training

  task, batches = _fixed_batches(stateful_models.haiku_task(), 4)
  got = jax.tree.map(lambda a: a[0], training.replay(
      task, "sgd", 0.3, steps=4, seeds=1, last=lambda s: (s.new_params, s.model_state)))

  def forward(x, is_training):
    h = hk.BatchNorm(True, True, 0.9)(hk.Linear(32)(x), is_training)
    return hk.Linear(3)(jax.numpy.tanh(h))

  net, tx = hk.transform_with_state(forward), optax.sgd(0.3)
  params, state = net.init(training.seed_keys(0)[0], jax.numpy.zeros((1, 2)), True)
  opt_state = tx.init(params)
  for xb, yb in batches:
    def loss_fn(p, state=state, xb=xb, yb=yb):
      logits, new_state = net.apply(p, state, None, xb, True)
      return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), new_state
    grads, state = jax.grad(loss_fn, has_aux=True)(params)
    step, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, step)
  _assert_trees_close(got, (params, state))


def test_the_stateful_examples_learn_the_spirals(capsys):
  import stateful_models

  for make in (stateful_models.linen_task, stateful_models.haiku_task):
    from optax_survey.harness import compare

    result = compare(make(steps=150, seeds=2), ["adam"], lr_grid=[0.01, 0.03], progress=False)
    assert result.entry("adam", "tuned").ci.mean > 0.6  # 3 classes: chance is 1/3
