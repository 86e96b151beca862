"""Checkpoint parameters and optimizer state with orbax-checkpoint, restore
them in a fresh process and continue: the trajectory is bit-for-bit the
uninterrupted one.  For every survey optimizer, Lookahead included.

    python examples/checkpointing.py --dir /tmp/ckpt --phase train    # N steps, saves at step K
    python examples/checkpointing.py --dir /tmp/ckpt --phase resume   # new process: restore K, run to N, compare
    python examples/checkpointing.py --dir /tmp/ckpt                  # both, in this process

Phase ``train`` trains each optimizer for ``--steps`` steps on minibatches of
the 3-class spirals (the minibatch of step t is drawn from
``fold_in(key, t)``, so a resumed run sees the same data), saving
``{"params", "opt_state"}`` at step ``--save-at`` with an
``orbax.checkpoint.CheckpointManager``, records the losses and the final
parameters and state, and prints what it saved where.  Phase ``resume``
(which exits with status 2 and a one-line message when ``--dir`` holds no
checkpoint of phase ``train``) rebuilds the optimizer, restores the
checkpoint into the structure given by ``jax.eval_shape`` (shapes, dtypes and
the optimizer's NamedTuple states), trains on to ``--steps`` and reports
whether losses, parameters and optimizer state equal the recorded ones
exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp

import optax_survey as osv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import init_mlp, loss_and_accuracy, make_optimizer, spirals  # noqa: E402


def make_step(tx, x, y, batch_size):
  @jax.jit
  def train_step(params, opt_state, t):
    idx = jax.random.choice(jax.random.fold_in(jax.random.PRNGKey(1), t),
                            x.shape[0], (batch_size,), replace=False)
    (loss, _), grads = jax.value_and_grad(loss_and_accuracy, has_aux=True)(
        params, x[idx], y[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return train_step


def run(step, params, opt_state, start, stop, manager=None, save_at=None):
  losses = []
  for t in range(start, stop):
    params, opt_state, loss = step(params, opt_state, t)
    losses.append(float(loss))
    if manager is not None and t + 1 == save_at:
      manager.save(t + 1, args=ocp.args.StandardSave(
          {"params": params, "opt_state": opt_state}))
  return params, opt_state, losses


def leaves(tree):
  return [np.asarray(l) for l in jax.tree.leaves(tree)]


def train_phase(names, args, x, y):
  """Trains each optimizer, saves its checkpoint and its uninterrupted run,
  and says what went where."""
  for name in names:
    tx = make_optimizer(name)
    params = init_mlp(jax.random.PRNGKey(0))
    step = make_step(tx, x, y, args.batch_size)
    with ocp.CheckpointManager(os.path.join(args.dir, name)) as manager:
      params, state, losses = run(step, params, tx.init(params), 0, args.steps,
                                  manager, args.save_at)
      manager.wait_until_finished()
      saved = manager.latest_step()
    reference = os.path.join(args.dir, f"{name}_uninterrupted.npz")
    np.savez(reference, losses=np.asarray(losses), *leaves((params, state)))
    print(f"{name:<10} saved params and optimizer state at step {saved} to "
          f"{os.path.join(args.dir, name, str(saved))}; the uninterrupted run to step "
          f"{args.steps} to {reference}")
  if args.phase == "train":
    script = os.path.relpath(__file__)
    script = os.path.abspath(__file__) if script.startswith("..") else script
    chosen = "" if names == list(osv.OPTIMIZERS) else f" --optimizers {','.join(names)}"
    print(f"resume with: python {script} --dir {args.dir} --phase resume{chosen}")


def missing_checkpoints(names, directory) -> list[str]:
  """The optimizers whose checkpoint (a step folder written by phase ``train``)
  or uninterrupted run is not in ``directory``."""
  missing = []
  for name in names:
    ckpt = os.path.join(directory, name)
    steps = [d for d in os.listdir(ckpt) if d.isdigit()] if os.path.isdir(ckpt) else []
    if not steps or not os.path.isfile(os.path.join(directory, f"{name}_uninterrupted.npz")):
      missing.append(name)
  return missing


def resume_phase(names, args, x, y) -> list[dict]:
  results = []
  for name in names:
    tx = make_optimizer(name)
    params0 = init_mlp(jax.random.PRNGKey(0))
    abstract = jax.eval_shape(lambda p: {"params": p, "opt_state": tx.init(p)}, params0)
    with ocp.CheckpointManager(os.path.join(args.dir, name)) as manager:
      restored_step = manager.latest_step()
      restored = manager.restore(restored_step, args=ocp.args.StandardRestore(abstract))
    same_structure = (jax.tree.structure(restored) == jax.tree.structure(abstract))
    step = make_step(tx, x, y, args.batch_size)
    params, state, losses = run(step, restored["params"], restored["opt_state"],
                                restored_step, args.steps)
    ref = np.load(os.path.join(args.dir, f"{name}_uninterrupted.npz"))
    ref_leaves = [ref[f"arr_{i}"] for i in range(len(ref.files) - 1)]
    mine = leaves((params, state))
    identical = (
        len(mine) == len(ref_leaves)
        and all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(mine, ref_leaves))
        and np.array_equal(np.asarray(losses), ref["losses"][restored_step:]))
    results.append({
        "optimizer": name, "restored_step": int(restored_step),
        "same_structure": bool(same_structure),
        "state_type": type(restored["opt_state"]).__name__,
        "identical": bool(identical), "final_loss": losses[-1],
        "first_loss": float(ref["losses"][0]), "state_leaves": len(mine) - len(jax.tree.leaves(params)),
    })
    print(f"{name:<10} restored step {restored_step}, continued to {args.steps}: "
          f"{'identical' if identical else 'DIFFERENT'} (loss {losses[-1]:.4f})")
  return results


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dir", required=True, help="checkpoint directory")
  parser.add_argument("--phase", choices=["train", "resume", "both"], default="both")
  parser.add_argument("--optimizers", default=",".join(osv.OPTIMIZERS))
  parser.add_argument("--steps", type=int, default=12)
  parser.add_argument("--save-at", type=int, default=7)
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--json", default=None)
  args = parser.parse_args(argv)
  if not 0 < args.save_at < args.steps:
    parser.error("need 0 < --save-at < --steps")
  args.dir = os.path.abspath(args.dir)
  names = args.optimizers.split(",")
  if os.path.exists(args.dir) and not os.path.isdir(args.dir):
    print(f"checkpointing.py: error: --dir {args.dir} is a file, not a directory",
          file=sys.stderr)
    raise SystemExit(2)
  if args.phase == "resume":
    missing = missing_checkpoints(names, args.dir)
    if missing:
      if not os.path.isdir(args.dir):
        where = "does not exist"
      elif len(missing) == len(names):
        where = "has no checkpoints"
      else:
        where = f"has no checkpoint for {', '.join(missing)}"
      print(f"checkpointing.py: error: --dir {args.dir} {where}: run --phase train "
            f"with the same --dir first", file=sys.stderr)
      raise SystemExit(2)
  x, y = spirals()
  results = None
  if args.phase in ("train", "both"):
    train_phase(names, args, x, y)
  if args.phase in ("resume", "both"):
    results = resume_phase(names, args, x, y)
    if args.json:
      with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
  return results


if __name__ == "__main__":
  main()
