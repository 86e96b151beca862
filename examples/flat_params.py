"""Flat-parameters mode: train a deep, narrow MLP (many small leaves) twice.

    python examples/flat_params.py                  # 32 layers of width 8: 66 leaves
    python examples/flat_params.py --depth 16 --width 32

The same optimizer and the same initialisation, once on the parameter tree
and once on the raveled vector (``osv.flatten_params``; the model unravels
inside the jitted loss, ``osv.flat_loss``).  The optimizer is elementwise, so
both runs follow the same trajectory up to float32 round-off (which training
a deep net amplifies over hundreds of steps); the flat one runs one fused
loop per optimizer buffer instead of one per leaf.  Prints the losses, the
largest difference between the two parameter trees after the first chunk of
steps and at the end, and the time per training step of each (timed in
alternating chunks, median).  See docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optax_survey as osv
from _mlp import forward, init_mlp


def data(n: int = 256, seed: int = 0):
  """A smooth 2-D regression target, float32."""
  x = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, 2))
  y = np.sin(3.0 * x[:, :1]) * np.cos(2.0 * x[:, 1:])
  return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def loss_fn(params, x, y):
  return jnp.mean((forward(params, x) - y) ** 2)


def make_step(tx, loss):
  """A jitted training step, for a tree or (with a flat loss) a vector."""
  def train_step(params, state, x, y):
    value, grads = jax.value_and_grad(loss)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value
  return jax.jit(train_step)


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--depth", type=int, default=32, help="hidden layers")
  parser.add_argument("--width", type=int, default=8)
  parser.add_argument("--steps", type=int, default=400)
  parser.add_argument("--chunk", type=int, default=20, help="steps per timed chunk")
  parser.add_argument("--learning-rate", type=float, default=1e-3)
  args = parser.parse_args(argv)
  for flag in ("depth", "width", "steps", "chunk"):
    if getattr(args, flag) < 1:
      parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")

  x, y = data()
  params = init_mlp(jax.random.PRNGKey(0), (2,) + (args.width,) * args.depth + (1,))
  flat, unravel = osv.flatten_params(params)          # once, before training
  tx = osv.adam(args.learning_rate)
  steps = {"tree": make_step(tx, loss_fn),
           "flat": make_step(tx, osv.flat_loss(loss_fn, unravel))}
  carry = {"tree": (params, tx.init(params)), "flat": (flat, tx.init(flat))}
  losses = {"tree": [], "flat": []}
  ms = {"tree": [], "flat": []}
  diffs = []  # max |tree - flat| of the parameters after each chunk

  for mode in steps:  # compile outside the timings
    jax.block_until_ready(steps[mode].lower(*carry[mode], x, y).compile())
  done = 0
  while done < args.steps:
    n = min(args.chunk, args.steps - done)
    for mode, step in steps.items():  # alternate: both see the same machine load
      p, s = carry[mode]
      start = time.perf_counter()
      for _ in range(n):
        p, s, value = step(p, s, x, y)
        losses[mode].append(value)
      jax.block_until_ready(p)
      ms[mode].append((time.perf_counter() - start) / n * 1e3)
      carry[mode] = (p, s)
    done += n
    diffs.append(float(jnp.max(jnp.abs(
        osv.flatten_params(carry["tree"][0])[0] - carry["flat"][0]))))

  losses = {mode: np.asarray(v, np.float64) for mode, v in losses.items()}
  times = {mode: statistics.median(v) for mode, v in ms.items()}
  print(f"{len(jax.tree.leaves(params))} leaves, {flat.size} parameters, "
        f"adam({args.learning_rate}), {args.steps} full-batch steps")
  print(f"{'':6}{'first loss':>12}{'final loss':>12}{'ms/step':>10}")
  for mode in steps:
    print(f"{mode:6}{losses[mode][0]:>12.5f}{losses[mode][-1]:>12.5f}{times[mode]:>10.3f}")
  print(f"flat speed-up x{times['tree'] / times['flat']:.2f}")
  print(f"max |tree - flat| of the parameters: {diffs[0]:.1e} after "
        f"{min(args.chunk, args.steps)} steps, {diffs[-1]:.1e} after {args.steps}")
  return {"losses": losses, "ms_per_step": times, "param_diffs": diffs,
          "tree_params": carry["tree"][0], "flat_params": unravel(carry["flat"][0])}


if __name__ == "__main__":
  main()
