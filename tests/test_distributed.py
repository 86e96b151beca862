"""Every optimizer on 8 (CPU) devices: FSDP with NamedSharding and data
parallelism with shard_map + psum (examples/sharding.py, run in a subprocess
because the device count is fixed when JAX starts).

Two comparisons with a single-device run:

* the float32 round-off check isolates the optimizer: the same fixed
  gradients, applied for a few updates from the same parameters and state,
  sharded and on one device.  Every optimizer is elementwise per leaf, and
  the results are bit-identical (0 ulp, measured for all 18 optimizers);
  asserted exactly.
* end to end, after a few training steps, with the looser ``TOL`` below:
  the gradients themselves differ in round-off, see there.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import optax
import pytest

import optax_survey as osv

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
sys.path.insert(0, EXAMPLES)
import sharding  # noqa: E402
import train  # noqa: E402

# End-to-end training only, not the optimizer's round-off check: the
# gradients' matmul reductions are split over the 8 devices and summed in
# another order.  Adaptive steps divide by sqrt(v): components of the gradient
# that nearly cancel over the batch move by up to ~lr after the division.
# Measured worst case over 6 steps: 3.5e-5.
TOL = 1e-4

# The optimizer alone on the same fixed gradients, sharded vs one device:
# measured bit-identical (0 float32 ulp) for every optimizer, FSDP and
# shard_map; float32 round-off at its tightest, so asserted exactly.
UPDATE_MAX_ULP = 0


def test_fsdp_and_data_parallel_match_single_device(tmp_path):
  out = tmp_path / "sharding.json"
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, os.path.join(EXAMPLES, "sharding.py"), "--steps", "6", "--updates", "5",
       "--json", str(out)],
      env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(out.read_text())
  assert report["devices"] == 8 and report["updates"] == 5
  results = {r["optimizer"]: r for r in report["results"]}
  assert list(results) == list(osv.OPTIMIZERS)
  for name, r in results.items():
    # state sharded like the parameters, from init on and after training
    assert r["fsdp_init_sharded_like_params"], name
    assert r["plain_init_sharded_like_params"], name  # tx.init alone, no jit
    assert r["fsdp_state_sharded_like_params"], name
    assert r["fsdp_params_keep_sharding"], name
    # nothing on one device; split leaves hold 1/8 per device
    assert r["fsdp_on_all_devices"], name
    # the optimizer update alone needs no communication at all
    assert r["fsdp_update_collectives"] == [], (name, r["fsdp_update_collectives"])
    # one compilation for all steps
    assert r["fsdp_compilations"] == 1 and r["dp_compilations"] == 1, name
    assert r["dp_state_replicated"], name
    # float32 round-off check: the optimizer's updates on fixed gradients,
    # FSDP-sharded (and still sharded) and replicated under shard_map, equal
    # the single-device ones, parameters and state, bit for bit
    assert r["fsdp_update_keeps_sharding"], name
    assert r["fsdp_update_max_ulp"] <= UPDATE_MAX_ULP, (name, r["fsdp_update_max_ulp"])
    assert r["dp_update_max_ulp"] <= UPDATE_MAX_ULP, (name, r["dp_update_max_ulp"])
    assert r["fsdp_update_max_rel_diff"] == 0.0, (name, r["fsdp_update_max_rel_diff"])
    assert r["dp_update_max_rel_diff"] == 0.0, (name, r["dp_update_max_rel_diff"])
    # end to end: the single-device training trajectory, within TOL (the
    # gradients differ in round-off, amplified by adaptive steps; see TOL)
    assert r["fsdp_max_rel_diff"] < TOL, (name, r["fsdp_max_rel_diff"])
    assert r["dp_max_rel_diff"] < TOL, (name, r["dp_max_rel_diff"])
  # the three weight matrices are split: so is each param-shaped state buffer
  expected_split = {"sgd": 0, "sgdm": 3, "nag": 3, "adagrad": 3, "adadelta": 6,
                    "rmsprop": 3, "adam": 6, "adamw": 6, "amsgrad": 9, "yogi": 6,
                    "adabelief": 6, "diffgrad": 9, "adadb": 15, "adabound": 6,
                    "amsbound": 9, "adamod": 9, "radam": 6, "lookahead": 9}
  assert {n: r["fsdp_split_state_leaves"] for n, r in results.items()} == expected_split


def _masked_and_partitioned():
  mask = {"w": True, "b": False, "s": False}
  return {
      "masked(adam)": optax.masked(osv.adam(1e-3), mask),
      "multi_transform": optax.multi_transform(
          {"a": osv.adabound(1e-3), "b": osv.lookahead(osv.sgdm(0.1), pullback_momentum="pullback")},
          {"w": "a", "b": "b", "s": "b"}),
  }


@pytest.mark.parametrize("name", [*osv.OPTIMIZERS, "lookahead-pullback", "inject(adabound)",
                                  "masked(adam)", "multi_transform"])
def test_state_shardings_by_tree_map_params(name):
  """``sharding.state_shardings`` (``optax.tree_map_params``) gives every copy of
  the parameters in the state the parameters' shardings and every other leaf
  the replicated one; markers stand in for the shardings, so one device does."""
  params = {"w": jnp.zeros((8, 4)), "b": jnp.zeros(4), "s": jnp.zeros(())}
  marks = {"w": "W", "b": "B", "s": "S"}
  tx = {"lookahead-pullback": lambda: osv.lookahead(osv.adam(1e-3), pullback_momentum="pullback"),
        "inject(adabound)": lambda: optax.inject_hyperparams(osv.adabound)(learning_rate=1e-3),
        **{k: (lambda v=v: v) for k, v in _masked_and_partitioned().items()},
        }.get(name, lambda: train.make_optimizer(name))()
  state = tx.init(params)
  shardings = sharding.state_shardings(tx, params, marks, "R")
  flat_state, tree = jax.tree_util.tree_flatten_with_path(state)
  assert jax.tree.structure(shardings) == tree  # a sharding for every state leaf
  got = jax.tree.leaves(shardings)
  n_params = 0
  for (path, leaf), mark in zip(flat_state, got):
    key = path[-1].key if isinstance(path[-1], jax.tree_util.DictKey) else None
    if mark == "R":
      # replicated: scalars (step counters, base_lr, hyperparameters), never a moment
      assert jnp.ndim(leaf) == 0 and key not in marks, (name, jax.tree_util.keystr(path))
    else:
      assert key in marks and marks[key] == mark, (name, jax.tree_util.keystr(path), mark)
      assert jnp.shape(leaf) == params[key].shape
      n_params += 1
  # every parameter-shaped state buffer found (Adam: mu and nu of 3 leaves)
  if name == "adam":
    assert n_params == 6
  if name == "lookahead-pullback":  # inner mu, nu, slow weights, slow momentum
    assert n_params == 12


def test_example_and_docs_take_the_state_shardings_from_optax():
  import inspect
  source = inspect.getsource(sharding)
  docs = open(os.path.join(EXAMPLES, "..", "docs", "distributed.md")).read()
  for text in (source, docs):
    assert "optax.tree_map_params(" in text and "is_leaf=masked" in text
    assert "def like_params" not in text  # the hand-written tree walk is gone
