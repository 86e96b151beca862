"""Flax NNX, Flax Linen, Haiku and optax recipes around survey optimizers:
the examples under examples/, run small and checked."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import flax_linen  # noqa: E402
import flax_nnx  # noqa: E402
import haiku_mlp  # noqa: E402
import optax_recipes  # noqa: E402


def assert_trees_close(a, b, rtol=1e-6, atol=1e-9):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_flax_nnx_optimizer_trains_and_lookahead_exposes_slow_weights():
  results = flax_nnx.main(["--steps", "62", "--optimizers", "adabound,radam,lookahead"])
  for r in results:
    assert len(r["losses"]) == 62
    assert r["final_loss"] < 0.8 * r["losses"][0], r["optimizer"]
  look = results[-1]
  # 62 steps: 2 inner steps after the last sync, so the slow weights differ
  assert np.isfinite(look["slow_weights_loss"])
  assert look["slow_weights_loss"] != look["final_loss"]


def test_flax_nnx_update_equals_plain_optax_loop():
  from flax import nnx
  import optax_survey as osv
  x, y = flax_nnx.spirals()
  model = flax_nnx.MLP(rngs=nnx.Rngs(0))
  params0 = nnx.as_pure(nnx.state(model, nnx.Param))
  opt = nnx.Optimizer(model, osv.amsbound(1e-2), wrt=nnx.Param)
  for _ in range(3):
    flax_nnx.train_step(model, opt, x, y)
  # the same three steps by hand on the pure parameter tree
  tx = osv.amsbound(1e-2)
  graphdef, _ = nnx.split(model)
  params, state = params0, tx.init(params0)
  for _ in range(3):
    def loss(p):
      m = nnx.merge(graphdef, p)
      return flax_nnx.loss_fn(m, x, y)
    g = jax.grad(loss)(params)
    u, state = tx.update(g, state, params)
    params = optax.apply_updates(params, u)
  assert_trees_close(nnx.as_pure(nnx.state(model, nnx.Param)), params, rtol=1e-5, atol=1e-6)


def test_flax_linen_train_state_with_clip_schedule_and_lookahead():
  results = flax_linen.main(["--steps", "60", "--optimizers", "adabound,adamw,lookahead"])
  for r in results:
    assert r["step"] == 60
    assert np.all(np.isfinite(r["losses"]))
    assert r["losses"][-1] < 0.8 * r["losses"][0], r["optimizer"]


def test_haiku_transform_with_masked_weight_decay():
  results = haiku_mlp.main(["--steps", "60", "--optimizers", "yogi,adamod,lookahead"])
  for r in results:
    assert r["modules"] == ["mlp/~/linear_0", "mlp/~/linear_1", "mlp/~/linear_2"]
    assert r["final_loss"] < 0.9 * r["losses"][0], r["optimizer"]
  mask = haiku_mlp.weights_only(haiku_mlp.model.init(jax.random.PRNGKey(0), jnp.ones((1, 2))))
  assert mask["mlp/~/linear_0"] == {"b": False, "w": True}


def test_clip_by_global_norm_before_adabound():
  r = optax_recipes.clipped_adabound()
  assert_trees_close(r["update_from_huge_grad"], r["update_from_clipped_grad"])
  assert r["losses"][-1] < 0.1 * r["losses"][0]


def test_warmup_cosine_schedule():
  r = optax_recipes.scheduled_radam()
  assert float(r["schedule"](0)) == 0.0 and abs(float(r["schedule"](20)) - 0.1) < 1e-7
  assert r["losses"][-1] < 0.3 * r["losses"][0]


def test_inject_hyperparams_learning_rate_changed_between_steps():
  r = optax_recipes.injected_learning_rate(steps=60, change_at=30, new_lr=1e-3)
  assert r["compilations"] == 1
  assert r["final_lr"] == 1e-3
  # Adam's step is ~ lr per coordinate: the update shrinks ~100x at the change
  ratio = r["update_norms"][30] / r["update_norms"][29]
  assert 0.005 < ratio < 0.02, ratio


def test_multisteps_accumulation_equals_one_step_on_mean_gradient():
  r = optax_recipes.accumulated_adabelief(k=4)
  for u in r["micro_updates"][:3]:
    assert float(optax.tree.norm(u)) == 0.0
  assert_trees_close(r["micro_updates"][3], r["one_step_on_mean_grad"], rtol=1e-5)


def test_apply_if_finite_skips_a_nan_step():
  r = optax_recipes.nan_skipping_amsbound()
  assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in jax.tree.leaves(r["update_on_nan"]))
  assert_trees_close(r["state_before"], r["state_after"], rtol=0, atol=0)
  assert r["notfinite_count"] == 1 and r["total_notfinite"] == 1


def test_multi_transform_and_masked_parameter_groups():
  r = optax_recipes.parameter_groups()
  assert_trees_close(r["update"]["w"], r["adabound_alone"]["w"])
  assert_trees_close(r["update"]["b"], r["sgdm_alone"]["b"])
  assert r["losses"][-1] < 0.01 * r["losses"][0]
  assert r["losses_masked_decay"][-1] < 0.1 * r["losses_masked_decay"][0]
