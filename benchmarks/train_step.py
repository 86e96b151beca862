"""Benchmark 5: a full training step as users write it, for all 18 optimizers.

``jax.jit(step, donate_argnums=(0, 1))`` where ``step(params, state, batch)``
computes the gradient of a loss and applies the update: the gradient is
computed inside the same program, so XLA fuses it into the optimizer's loops
(or materialises it) as it would in a user's step.  Two trees:

* ``large``: one 8M-element float32 leaf (2048 x 4096, 32 MiB), with two
  losses: ``elementwise``, ``0.5 Σ (θ - x)²`` (the gradient ``θ - x`` is
  recomputed in every loop that needs it: 7 arrays move per Adam step), and
  ``linear``, a linear layer ``0.5 mean((X θ - Y)²)`` on a batch of 64 (the
  gradient is a matrix product, a buffer of its own, as in a network);
* ``transformer``: the transformer-like tree of ``common.tree_shapes``
  (146 leaves, 10.1M elements) with the elementwise loss.

For each optimizer the contenders are timed in turns in the same trials
(``common.interleaved``): ``osv.adam`` and a second instance of it (the A/A
control: the same program on its own buffers), the optimizer, the
implementation before the performance work where it differs (``before``, kept
in ``_before.py``), the optax baseline (``common.SPECS``) and the PyTorch
reference (autograd for the gradient, then ``opt.step()``).  Reported: median
seconds per step, each contender's time over ``osv.adam``'s in the same trial
(median over trials), minor page faults per step, and from the compiled HLO
the loops, copies, temporary bytes and executed bytes per element.

    python benchmarks/train_step.py                      # all, ~15 min on 2 cores
    python benchmarks/train_step.py --trees large --losses elementwise \\
        --optimizers adam,diffgrad,adamod,adadb
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import _before  # noqa: E402
import common  # noqa: E402
import optax_survey as osv  # noqa: E402

TREES = {"large": ("elementwise", "linear"), "transformer": ("elementwise",)}
LARGE = (2048, 4096)  # --large-shape changes it (e.g. a small one for --dry-run)
BATCH = 64


def shapes_of(tree: str) -> dict[str, tuple[int, ...]]:
  return {"w": LARGE} if tree == "large" else common.tree_shapes(tree)


def make_batch(tree: str, loss: str, seed: int):
  """The step's data: ``x`` shaped like the parameters, or ``(X, Y)``."""
  rng = np.random.default_rng(seed)
  if loss == "linear":
    return (jnp.asarray(rng.standard_normal((BATCH, LARGE[0])).astype(np.float32)),
            jnp.asarray(rng.standard_normal((BATCH, LARGE[1])).astype(np.float32)))
  return common.make_tree(shapes_of(tree), seed)


def loss_fn(loss: str):
  if loss == "linear":
    def linear(params, batch):
      x, y = batch
      return 0.5 * jnp.mean((x @ params["w"] - y) ** 2)
    return linear

  def elementwise(params, batch):
    return 0.5 * sum(jnp.sum((p - x) ** 2) for p, x in
                     zip(jax.tree.leaves(params), jax.tree.leaves(batch)))
  return elementwise


def train_step(tx, loss: str, lookahead_params: bool = False):
  """The user's step: gradient of the loss, update, apply."""
  f = loss_fn(loss)

  def step(params, state, batch):
    fast = params.fast if lookahead_params else params
    grads = jax.grad(f)(fast, batch)  # optax.lookahead takes the fast gradients
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return step


class TrainContender(common.Contender):
  """A compiled, donated full training step (gradient inside the program)."""

  def __init__(self, label, tx, tree, loss, *, lookahead_params=False, seed=0, compiled=None):
    self.label = label
    params = common.make_tree(shapes_of(tree), seed, 1e-2)
    if lookahead_params:
      params = optax.LookaheadParams(params, jax.tree.map(jnp.copy, params))
    # Two batches, alternated step by step, so that no moment converges to a
    # constant gradient.
    self.grads = (make_batch(tree, loss, seed + 1), make_batch(tree, loss, seed + 2))
    self.params, self.state = params, tx.init(params)
    self.times, self.faults = [], []
    self.compile_s = None
    if compiled is not None:
      self.compiled = compiled
      return
    fn = jax.jit(train_step(tx, loss, lookahead_params), donate_argnums=(0, 1))
    t0 = time.perf_counter()
    self.compiled = fn.lower(self.params, self.state, self.grads[0]).compile()
    self.compile_s = {"total": time.perf_counter() - t0}


class TorchTrainContender(common.TorchContender):
  """The PyTorch reference: autograd for the same loss, then ``opt.step()``."""

  def __init__(self, label, make_opt, tree, loss):
    super().__init__(label, make_opt, shapes_of(tree))
    import torch
    self.loss = loss
    rng = np.random.default_rng(1)
    if loss == "linear":
      self.batch = (torch.from_numpy(rng.standard_normal((BATCH, LARGE[0])).astype(np.float32)),
                    torch.from_numpy(rng.standard_normal((BATCH, LARGE[1])).astype(np.float32)))
    else:
      self.batch = common.make_torch_tree(shapes_of(tree), 1)

  def _run(self, n: int, threads: int) -> float:
    import torch
    if torch.get_num_threads() != threads:
      torch.set_num_threads(threads)
    t0 = time.perf_counter()
    for _ in range(n):
      for p in self.params:
        p.grad = None
      if self.loss == "linear":
        x, y = self.batch
        loss = 0.5 * ((x @ self.params[0].view(*LARGE) - y) ** 2).mean()
      else:
        loss = 0.5 * sum(((p - x) ** 2).sum() for p, x in zip(self.params, self.batch))
      loss.backward()
      self.opt.step()
    return (time.perf_counter() - t0) / n


def hlo_stats(compiled, n_elements: int) -> dict:
  """Loops, copies, temporaries and executed bytes of a compiled step."""
  text = compiled.as_text()
  entry = text[text.index("\nENTRY"):]
  entry = entry[:entry.index("\n}")]
  big = [line for line in entry.splitlines()
         if re.search(r"= f32\[(\d+,)*\d+\]\S* (fusion|copy)\(", line)
         and "s32[]" not in line.split("=")[1].split("(")[0]]
  executed = common.executed_bytes(compiled)
  return {
      "loops": sum(" fusion(" in line for line in big),
      "copies": sum(" copy(" in line for line in big),
      "temp_bytes_per_element": compiled.memory_analysis().temp_size_in_bytes / n_elements,
      "executed_bytes_per_element": executed["total"] / n_elements,
  }


def specs_for(names):
  return [common.SPEC[n] for n in names]


def bench(tree, loss, names, repeats, target_s, torch_too, log=print) -> list[dict]:
  n = int(sum(np.prod(s) for s in shapes_of(tree).values()))
  rows = []
  adam_step = TrainContender("osv.adam", osv.adam(1e-3), tree, loss).compiled
  for spec in specs_for(names):
    t0 = time.perf_counter()
    # Both osv.adam instances are fresh for each optimizer: buffers allocated
    # at the start of the run and reused by every comparison read slower than
    # new ones on this VM (A/A 0.85-0.95 in a first run), which biased every
    # ratio of the later contenders.
    adam = TrainContender("osv.adam", osv.adam(1e-3), tree, loss, compiled=adam_step)
    contenders = [
        adam,
        TrainContender("osv.adam (A/A)", osv.adam(1e-3), tree, loss, compiled=adam_step),
        TrainContender("osv", spec.make(), tree, loss),
    ]
    before = _before.BEFORE.get(spec.name)
    if before is not None:
      contenders.append(TrainContender("before", before(), tree, loss))
    contenders.append(TrainContender("optax", spec.make_baseline(), tree, loss,
                                     lookahead_params=spec.lookahead))
    if torch_too and spec.make_torch is not None:
      contenders.append(TorchTrainContender("torch", spec.make_torch, tree, loss))
    times = common.interleaved(contenders, repeats, target_s)
    t = {c.label: tm for c, tm in zip(contenders, times)}
    over_adam = {c.label: statistics.median(x / y for x, y in zip(c.times, adam.times))
                 for c in contenders[1:]}
    row = {"tree": tree, "loss": loss, "optimizer": spec.name, "elements": n,
           "seconds": t, "over_osv_adam": over_adam,
           "aa_ratio": over_adam["osv.adam (A/A)"],
           "minor_faults_per_step": {c.label: statistics.median(c.faults) for c in contenders},
           "hlo": {c.label: hlo_stats(c.compiled, n) for c in contenders
                   if isinstance(c, TrainContender)},
           "baseline": spec.baseline, "torch_ref": spec.torch_ref}
    rows.append(row)
    cells = "  ".join(f"{k} {v:.2f}" for k, v in over_adam.items())
    log(f"  {tree:11s} {loss:11s} {spec.name:9s} adam {t['osv.adam'] * 1e3:7.2f} ms  "
        f"/adam: {cells}  loops {row['hlo']['osv']['loops']} copies "
        f"{row['hlo']['osv']['copies']} temp {row['hlo']['osv']['temp_bytes_per_element']:.0f} "
        f"B/el  [{time.perf_counter() - t0:.0f}s]")
    for c in contenders:
      c.free()
    common.collect()
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--trees", default=",".join(TREES))
  parser.add_argument("--losses", default=None, help="elementwise,linear (default: per tree)")
  parser.add_argument("--optimizers", default=",".join(common.SPEC))
  parser.add_argument("--repeats", type=int, default=9)
  parser.add_argument("--target-s", type=float, default=0.15)
  parser.add_argument("--no-torch", action="store_true")
  parser.add_argument("--large-shape", default="2048,4096",
                      help="rows,cols of the large leaf (default 2048,4096: 8M elements)")
  parser.add_argument("--out", default="train_step.json")
  args = parser.parse_args(argv)
  global LARGE
  LARGE = tuple(int(d) for d in args.large_shape.split(","))
  names = args.optimizers.split(",")
  t0 = time.perf_counter()
  rows = []
  print(f"machine: {common.machine().get('cpu', '?')}, {common.CORES} cores")
  for tree in args.trees.split(","):
    for loss in (args.losses.split(",") if args.losses else TREES[tree]):
      rows += bench(tree, loss, names, args.repeats, args.target_s, not args.no_torch)
  result = {"machine": common.machine(), "rows": rows, "wall_s": time.perf_counter() - t0,
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith(("MALLOC_", "LD_PRELOAD", "XLA_FLAGS", "GLIBC_TUNABLES"))}}
  path = common.save_json(args.out, result)
  print(f"wrote {path} in {result['wall_s'] / 60:.1f} min")
  return result


if __name__ == "__main__":
  main()
