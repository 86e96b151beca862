"""Every survey optimizer on 8 devices: FSDP with NamedSharding, and data
parallelism with shard_map and a gradient psum.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python examples/sharding.py
    XLA_FLAGS=... python examples/sharding.py --optimizers adam,lookahead --json out.json

On a CPU the flag makes 8 host "devices"; on a GPU/TPU host (or several hosts
after ``jax.distributed.initialize()``, see docs/distributed.md) the same code
runs over ``jax.devices()``.

FSDP-style step: a ``Mesh`` with one axis ``"fsdp"``; every parameter leaf of at
least ``--min-shard-size`` elements is split along its first axis across the
devices, small leaves (biases) are replicated; the batch is split over the
same axis.  The optimizer state is created directly in its sharded form by
``jax.jit(tx.init, out_shardings=...)``, with each parameter-shaped state
leaf (moments, maxima, previous gradients, Lookahead's slow weights...)
sharded like its parameter and step counters replicated
(:func:`state_shardings`, by ``optax.tree_map_params``); the training step is an ordinary ``jax.jit`` and
XLA's sharding propagation keeps everything in place.

Data-parallel step: parameters and state replicated, the batch split; each
device computes the gradient of its share of the loss, ``jax.lax.psum`` sums
them, and every device applies the same optimizer update inside
``jax.shard_map``.

For each optimizer the script checks, and reports in JSON, that:
the state leaves carry their parameters' shardings (before and after
training); every output lives on all devices, sharded leaves holding only
their 1/n slice; the optimizer update alone compiles to no collective at all
(nothing is gathered); the step compiles once; and two comparisons with a
single-device run:

* the float32 round-off check, on the optimizer alone: from the same
  parameters and state, ``--updates`` updates (``tx.update`` +
  ``optax.apply_updates``) on the same fixed gradients, FSDP-sharded and
  replicated under ``shard_map``, against one device.  Every stage is
  elementwise per leaf, so the parameters and state come out bit-identical
  (``fsdp_update_max_ulp``, ``dp_update_max_ulp``: 0 for all 18 optimizers,
  also reported as ``*_update_max_rel_diff``);
* end to end, the parameters after ``--steps`` training steps
  (``fsdp_max_rel_diff``, ``dp_max_rel_diff``).  These differ by more than
  round-off: the gradients' matmul reductions are split over the devices and
  summed in another order, and adaptive optimizers amplify that
  (tests/test_distributed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import optax_survey as osv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mlp import forward, init_mlp  # noqa: E402
from train import make_optimizer  # noqa: E402  (learning rates for every optimizer)

COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all",
               "collective-permute")


# ----------------------------------------------------------- model and data


def init_params(key, sizes=(16, 256, 256, 4)):
  return init_mlp(key, sizes)


def sum_loss(params, x, y):
  """Sum over the examples: the data-parallel step psums these."""
  return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).sum()


def make_batch(n=256, d=16, classes=4, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d)).astype(np.float32)
  teacher = rng.normal(size=(d, classes)).astype(np.float32)
  return jnp.asarray(x), jnp.asarray(np.argmax(x @ teacher, -1))


# ------------------------------------------------------------------ sharding


def fsdp_shardings(params, mesh, axis="fsdp", min_size=1024):
  """Leaves with >= min_size elements split along dim 0, the rest replicated."""
  n = mesh.shape[axis]

  def spec(p):
    if p.size >= min_size and p.shape[0] % n == 0:
      return NamedSharding(mesh, P(axis))
    return NamedSharding(mesh, P())

  return jax.tree.map(spec, params)


def state_shardings(tx, params, param_shardings, replicated):
  """Shardings for ``tx``'s state, by ``optax.tree_map_params``: every copy of
  the parameter tree in the state (moments, maxima, previous gradients,
  Lookahead's slow weights) gets ``param_shardings``, every other leaf (step
  counters, AdaBound's ``base_lr``, injected hyperparameters) ``replicated``.

  ``optax.tree_map_params`` finds those copies by running ``tx.init`` on a
  placeholder, so it works for any optax state: chains, ``inject_hyperparams``,
  ``MultiSteps``, and through ``is_leaf`` the ``MaskedNode`` holes that
  ``optax.masked`` and ``optax.multi_transform`` leave in a parameter tree
  (kept as they are).  A ``None`` field (Lookahead's ``slow_momentum`` without
  pullback momentum) stays ``None``.  ``params`` may be abstract.
  """

  def masked(x):
    return isinstance(x, optax.MaskedNode)

  return optax.tree_map_params(
      tx, lambda s, sharding: s if masked(s) else sharding,
      jax.eval_shape(tx.init, params), param_shardings,
      transform_non_params=lambda _: replicated, is_leaf=masked)


def sharded_init(tx, params, param_shardings, mesh):
  """``tx.init`` compiled to produce the state already sharded."""
  shardings = state_shardings(tx, params, param_shardings, NamedSharding(mesh, P()))
  return jax.jit(tx.init, out_shardings=shardings)(params), shardings


def mean_loss(params, x, y):
  return sum_loss(params, x, y) / x.shape[0]


def make_step(tx):
  """The ordinary jitted step: FSDP comes from the arguments' shardings."""

  def train_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(mean_loss)(params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(train_step)


def make_dp_step(tx, mesh, global_batch, axis="data"):
  """Per-device gradients of each device's share of the mean loss, summed by
  ``psum``; then the same optimizer update on every device.

  ``check_vma=False``: with it on, JAX would itself sum the gradients of the
  replicated parameters (the transpose of their implicit broadcast), and the
  explicit ``psum`` below would count them ``n`` times.
  """

  def local_step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(sum_loss)(params, x, y)
    grads = jax.tree.map(lambda g: jax.lax.psum(g, axis) / global_batch, grads)
    loss = jax.lax.psum(loss, axis) / global_batch
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  step = jax.shard_map(
      local_step, mesh=mesh, in_specs=(P(), P(), P(axis), P(axis)),
      out_specs=(P(), P(), P()), check_vma=False)
  return jax.jit(step)


# ------------------------------------------------------------------- checks


def shardings_match(tree, expected, arrays_only: bool = False) -> bool:
  """Leaf shardings equal ``expected``; ``arrays_only`` skips 0-d leaves (step
  counters, created on the default device by ``tx.init`` as in optax itself)."""
  return all(
      a.sharding.is_equivalent_to(e, a.ndim)
      for a, e in zip(jax.tree.leaves(tree), jax.tree.leaves(expected))
      if not (arrays_only and a.ndim == 0))


def on_all_devices(tree, n) -> bool:
  """Every leaf spans all n devices; a split leaf holds 1/n per device."""
  for a in jax.tree.leaves(tree):
    if len(a.sharding.device_set) != n:
      return False
    shard = a.addressable_shards[0].data
    if not a.sharding.is_fully_replicated and shard.size * n != a.size:
      return False
  return True


def collectives_in(compiled) -> list[str]:
  """The collective operations in a compiled (``.lower(...).compile()``) function."""
  hlo = compiled.as_text()
  return [c for c in COLLECTIVES if c in hlo]


def max_rel_diff(a_tree, b_tree) -> float:
  worst = 0.0
  for a, b in zip(jax.tree.leaves(a_tree), jax.tree.leaves(b_tree)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    worst = max(worst, float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b))))))
  return worst


def max_ulp_diff(a_tree, b_tree) -> int:
  """Largest distance, in float32 units in the last place, between matching
  elements (integer leaves, the step counters: their absolute difference)."""
  worst = 0
  for a, b in zip(jax.tree.leaves(a_tree), jax.tree.leaves(b_tree)):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == np.float32:
      # float32 bits as integers ordered like the floats (-0.0 == +0.0)
      a, b = (np.where(i < 0, np.int64(-2**31) - i, i)
              for i in (a.view(np.int32).astype(np.int64), b.view(np.int32).astype(np.int64)))
    worst = max(worst, int(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64)), initial=0)))
  return worst


def max_elementwise_rel_diff(a_tree, b_tree) -> float:
  """max |a - b| / max(|a|, |b|) over all elements (0 where both are 0)."""
  worst = 0.0
  for a, b in zip(jax.tree.leaves(a_tree), jax.tree.leaves(b_tree)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.abs(a - b) / np.where(scale > 0, scale, 1.0)
    worst = max(worst, float(np.max(rel, initial=0.0)))
  return worst


def fixed_grads(params, n_updates, seed=1, scale=1e-2):
  """``n_updates`` seeded random gradient pytrees shaped like ``params``."""
  rng = np.random.default_rng(seed)
  return [jax.tree.map(
      lambda p: jnp.asarray(rng.normal(scale=scale, size=p.shape).astype(np.float32)), params)
          for _ in range(n_updates)]


def make_update(tx):
  """One optimizer update on given gradients, without the model."""

  def apply(params, opt_state, grads):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return apply


def run_updates(apply, params, opt_state, grads_list):
  for grads in grads_list:
    params, opt_state = apply(params, opt_state, grads)
  return params, opt_state


def check_optimizer(name, steps, params0, x, y, min_shard_size, n_updates=5):
  devices = jax.devices()
  n = len(devices)
  tx = make_optimizer(name)
  result = {"optimizer": name}

  # single-device reference
  one = devices[0]
  p_ref, x1, y1 = jax.device_put((params0, x, y), one)
  s_ref = tx.init(p_ref)
  ref_step = make_step(tx)
  for _ in range(steps):
    p_ref, s_ref, _ = ref_step(p_ref, s_ref, x1, y1)

  # FSDP
  mesh = Mesh(np.array(devices), ("fsdp",))
  p_sh = fsdp_shardings(params0, mesh, min_size=min_shard_size)
  params = jax.device_put(params0, p_sh)
  data_sh = NamedSharding(mesh, P("fsdp"))
  xs, ys = jax.device_put((x, y), data_sh)
  state, s_sh = sharded_init(tx, params, p_sh, mesh)
  # plain tx.init on sharded params: every parameter-shaped buffer follows
  # its parameter's sharding (docs/distributed.md)
  result["plain_init_sharded_like_params"] = shardings_match(
      tx.init(params), s_sh, arrays_only=True)
  result["fsdp_init_sharded_like_params"] = shardings_match(state, s_sh)
  n_split = sum(not s.is_fully_replicated for s in jax.tree.leaves(s_sh))
  result["fsdp_split_state_leaves"] = n_split
  step = make_step(tx)
  for _ in range(steps):
    params, state, loss = step(params, state, xs, ys)
  result["fsdp_compilations"] = step._cache_size()
  result["fsdp_state_sharded_like_params"] = shardings_match(state, s_sh)
  result["fsdp_params_keep_sharding"] = shardings_match(params, p_sh)
  result["fsdp_on_all_devices"] = on_all_devices((params, state), n)
  result["fsdp_max_rel_diff"] = max_rel_diff(params, p_ref)
  result["fsdp_state_max_rel_diff"] = max_rel_diff(state, s_ref)

  # The optimizer alone (tx.update + apply_updates), compiled once for the
  # FSDP shardings.  It is elementwise per shard: no communication.
  grads_list = fixed_grads(params0, n_updates)
  apply = make_update(tx)
  start_sh = jax.device_put((p_ref, s_ref), (p_sh, s_sh))
  grads_sh = jax.device_put(grads_list, [p_sh] * n_updates)
  fsdp_apply = jax.jit(apply).lower(*start_sh, grads_sh[0]).compile()
  result["fsdp_update_collectives"] = collectives_in(fsdp_apply)
  # The float32 round-off check: from the single-device parameters and state
  # after training, the same fixed gradients, n_updates updates on one device
  # and with everything FSDP-sharded.
  one_ref = run_updates(jax.jit(apply), p_ref, s_ref, jax.device_put(grads_list, one))
  fsdp_out = run_updates(fsdp_apply, *start_sh, grads_sh)
  result["fsdp_update_keeps_sharding"] = shardings_match(fsdp_out, (p_sh, s_sh))
  result["fsdp_update_max_ulp"] = max_ulp_diff(fsdp_out, one_ref)
  result["fsdp_update_max_rel_diff"] = max_elementwise_rel_diff(fsdp_out, one_ref)

  # data parallel (shard_map + psum)
  mesh_dp = Mesh(np.array(devices), ("data",))
  rep = NamedSharding(mesh_dp, P())
  params = jax.device_put(params0, rep)
  state = jax.jit(tx.init, out_shardings=rep)(params)
  xs, ys = jax.device_put((x, y), NamedSharding(mesh_dp, P("data")))
  dp_step = make_dp_step(tx, mesh_dp, x.shape[0])
  for _ in range(steps):
    params, state, loss = dp_step(params, state, xs, ys)
  result["dp_compilations"] = dp_step._cache_size()
  result["dp_state_replicated"] = all(
      l.sharding.is_fully_replicated and len(l.sharding.device_set) == n
      for l in jax.tree.leaves((params, state)))
  result["dp_max_rel_diff"] = max_rel_diff(params, p_ref)
  result["dp_state_max_rel_diff"] = max_rel_diff(state, s_ref)
  # the same fixed updates, replicated, inside shard_map
  dp_apply = jax.jit(jax.shard_map(
      apply, mesh=mesh_dp, in_specs=(P(), P(), P()), out_specs=(P(), P())))
  dp_out = run_updates(dp_apply, *jax.device_put((p_ref, s_ref), rep),
                       jax.device_put(grads_list, rep))
  result["dp_update_max_ulp"] = max_ulp_diff(dp_out, one_ref)
  result["dp_update_max_rel_diff"] = max_elementwise_rel_diff(dp_out, one_ref)
  result["final_loss"] = float(loss)
  return result


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default=",".join(osv.OPTIMIZERS))
  parser.add_argument("--steps", type=int, default=6)
  parser.add_argument("--updates", type=int, default=5,
                      help="optimizer updates on fixed gradients, for the round-off check")
  parser.add_argument("--min-shard-size", type=int, default=1024)
  parser.add_argument("--json", default=None, help="write the results here")
  args = parser.parse_args(argv)
  n = jax.device_count()
  if n < 2:
    print("only one device: set XLA_FLAGS=--xla_force_host_platform_device_count=8",
          file=sys.stderr)
  params0 = init_params(jax.random.PRNGKey(0))
  x, y = make_batch(n=32 * n)
  results = []
  for name in args.optimizers.split(","):
    r = check_optimizer(name, args.steps, params0, x, y, args.min_shard_size, args.updates)
    results.append(r)
    print(f"{name:<10} fsdp: split state leaves {r['fsdp_split_state_leaves']:2d}, "
          f"sharded like params {r['fsdp_state_sharded_like_params']}, "
          f"update collectives {r['fsdp_update_collectives'] or 'none'}, "
          f"compiles {r['fsdp_compilations']}, diff {r['fsdp_max_rel_diff']:.1e}, "
          f"update ulp {r['fsdp_update_max_ulp']} | "
          f"dp: compiles {r['dp_compilations']}, diff {r['dp_max_rel_diff']:.1e}, "
          f"update ulp {r['dp_update_max_ulp']}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"devices": n, "steps": args.steps, "updates": args.updates,
                 "results": results}, f, indent=1)
  return results


if __name__ == "__main__":
  main()
