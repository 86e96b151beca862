"""Train a small MLP with several survey optimizers on data made offline.

A training loop in plain JAX to read and adapt, the small example that README's
command-line section points to (README's main job, the quick survey, is the
``optax-survey`` command).

    python examples/train.py                      # defaults, about a minute on a laptop CPU
    python examples/train.py --steps 300 --optimizers adam,adabound,radam

Data: three noisy interleaved spirals (NumPy, fixed seed), 2-D inputs, 3
classes, split 80/20 into training and validation sets.
Model: a 2-64-64-3 tanh MLP in plain JAX.  Every optimizer trains from the
same initialisation, full batch; the step is jit-compiled and the steps run
inside ``jax.lax.scan`` in chunks (one progress-bar tick per chunk).  Prints a
table and writes ``results.json`` and ``curves.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from _mlp import forward, init_mlp

import optax_survey as osv

DEFAULT_OPTIMIZERS = "sgdm,adam,amsgrad,adabelief,diffgrad,adabound,radam,lookahead"


def make_optimizer(name: str) -> optax.GradientTransformation:
  """Reasonable learning rates for this problem (full batch, small MLP)."""
  table = {
      "sgd": lambda: osv.sgd(0.5),
      "sgdm": lambda: osv.sgdm(0.1),
      "nag": lambda: osv.nag(0.1),
      "adagrad": lambda: osv.adagrad(0.1),
      "adadelta": lambda: osv.adadelta(1.0),
      "rmsprop": lambda: osv.rmsprop(3e-3),
      "adam": lambda: osv.adam(1e-2),
      "adamw": lambda: osv.adamw(1e-2),
      "amsgrad": lambda: osv.amsgrad(1e-2),
      "yogi": lambda: osv.yogi(1e-2),
      "adabelief": lambda: osv.adabelief(1e-2),
      "diffgrad": lambda: osv.diffgrad(1e-2),
      "adadb": lambda: osv.adadb(1e-2),
      "adabound": lambda: osv.adabound(1e-2, final_lr=0.1),
      "amsbound": lambda: osv.amsbound(1e-2, final_lr=0.1),
      "adamod": lambda: osv.adamod(1e-2),
      "radam": lambda: osv.radam(1e-2),
      "lookahead": lambda: osv.lookahead(osv.adam(1e-2), sync_period=5, slow_step_size=0.5),
  }
  if name not in table:
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(table)}")
  return table[name]()


def spirals(n_per_class: int = 200, seed: int = 0):
  rng = np.random.default_rng(seed)
  xs, ys = [], []
  for k in range(3):
    r = np.linspace(0.05, 1.0, n_per_class)
    angle = np.linspace(k * 2 * np.pi / 3, k * 2 * np.pi / 3 + 4.5, n_per_class)
    angle = angle + rng.normal(0.0, 0.25, n_per_class)
    xs.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
    ys.append(np.full(n_per_class, k))
  return jnp.asarray(np.concatenate(xs), jnp.float32), jnp.asarray(np.concatenate(ys))


def loss_and_accuracy(params, x, y):
  logits = forward(params, x)
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
  return loss, (jnp.argmax(logits, -1) == y).mean()


def train(name: str, params, data, steps: int, chunks: int = 10, progress=None):
  (x, y), (x_val, y_val) = data
  tx = make_optimizer(name)

  def one_step(carry, _):
    p, s = carry
    (loss, acc), g = jax.value_and_grad(loss_and_accuracy, has_aux=True)(p, x, y)
    u, s = tx.update(g, s, p)
    return (optax.apply_updates(p, u), s), (loss, acc)

  chunk = max(1, steps // chunks)
  run_chunk = jax.jit(lambda c: jax.lax.scan(one_step, c, None, length=chunk))
  carry, losses, accs = (params, tx.init(params)), [], []
  start = time.perf_counter()
  for _ in range(-(-steps // chunk)):
    carry, (chunk_loss, chunk_acc) = run_chunk(carry)
    losses.append(np.asarray(chunk_loss))
    accs.append(np.asarray(chunk_acc))
    if progress is not None:
      progress.update(1)
  losses = np.concatenate(losses)[:steps]
  accs = np.concatenate(accs)[:steps]
  val_loss, val_acc = loss_and_accuracy(carry[0], x_val, y_val)
  return {
      "optimizer": name,
      "final_loss": float(losses[-1]),
      "best_loss": float(losses.min()),
      "final_accuracy": float(accs[-1]),
      "val_loss": float(val_loss),
      "val_accuracy": float(val_acc),
      "seconds": time.perf_counter() - start,
      "loss_curve": losses.tolist(),
  }


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=600, help="training steps (default: 600)")
  parser.add_argument("--optimizers", default=DEFAULT_OPTIMIZERS,
                      help="comma-separated names (default: %(default)s)")
  parser.add_argument("--seed", type=int, default=0, help="data and initialisation seed")
  parser.add_argument("--out", default="out/train", help="output folder (default: out/train)")
  parser.add_argument("--no-plot", action="store_true", help="do not write curves.png")
  args = parser.parse_args(argv)
  if args.steps < 1:
    parser.error(f"--steps must be >= 1, got {args.steps}")
  names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
  if not names:
    parser.error("--optimizers is empty")
  for n in names:
    try:
      make_optimizer(n)
    except ValueError as e:
      parser.error(str(e))

  x, y = spirals(seed=args.seed)
  order = np.random.default_rng(args.seed).permutation(len(y))
  train_idx, val_idx = order[: len(y) * 4 // 5], order[len(y) * 4 // 5 :]
  data = (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])
  params = init_mlp(jax.random.PRNGKey(args.seed))
  try:
    from tqdm import tqdm
    progress = tqdm(total=len(names) * 10, desc="training", file=sys.stderr)
  except ImportError:  # tqdm is in the [examples] extra
    progress = None
  results = [train(n, params, data, args.steps, progress=progress) for n in names]
  if progress is not None:
    progress.close()

  print(f"\n{'optimizer':<12}{'train loss':>11}{'train acc':>10}{'val loss':>10}"
        f"{'val acc':>9}{'seconds':>9}")
  for r in sorted(results, key=lambda r: r["val_loss"]):
    print(f"{r['optimizer']:<12}{r['final_loss']:>11.4f}{r['final_accuracy']:>10.3f}"
          f"{r['val_loss']:>10.4f}{r['val_accuracy']:>9.3f}{r['seconds']:>9.2f}")
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "results.json"), "w") as f:
    json.dump({"steps": args.steps, "seed": args.seed, "results": results}, f)
  if not args.no_plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
      ax.plot(r["loss_curve"], label=r["optimizer"])
    ax.set(xlabel="step", ylabel="training loss (cross-entropy)", yscale="log",
           title="3-class spirals, 2-64-64-3 MLP, full batch")
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "curves.png"), dpi=120)
    print(f"wrote {args.out}/results.json and {args.out}/curves.png")
  return results


if __name__ == "__main__":
  main()
