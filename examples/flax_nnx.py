"""A Flax NNX training loop with survey optimizers: ``nnx.Optimizer(model, tx,
wrt=nnx.Param)``, where ``tx`` is any optax_survey optimizer.

    python examples/flax_nnx.py                         # adabound, radam, lookahead(adam)
    python examples/flax_nnx.py --optimizers adam,yogi --steps 300

The 3-class spirals of ``examples/train.py``, a 2-64-64-3 MLP written as an
``nnx.Module``, full-batch steps compiled by ``nnx.jit``.  With Lookahead the
slow weights are read from the optimizer state by
``optax_survey.lookahead_slow_params`` and evaluated on a copy of the model.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax.numpy as jnp
import optax
from flax import nnx

import optax_survey as osv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import spirals  # noqa: E402

OPTIMIZERS = {
    "adabound": lambda: osv.adabound(1e-2, final_lr=0.1),
    "radam": lambda: osv.radam(1e-2),
    "lookahead": lambda: osv.lookahead(osv.adam(1e-2), sync_period=5, slow_step_size=0.5),
    "adam": lambda: osv.adam(1e-2),
    "yogi": lambda: osv.yogi(1e-2),
    "adabelief": lambda: osv.adabelief(1e-2),
}


class MLP(nnx.Module):
  def __init__(self, sizes=(2, 64, 64, 3), *, rngs: nnx.Rngs):
    self.layers = nnx.List(
        [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

  def __call__(self, x):
    for layer in self.layers[:-1]:
      x = jnp.tanh(layer(x))
    return self.layers[-1](x)


def loss_fn(model, x, y):
  return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


@nnx.jit
def train_step(model, optimizer, x, y):
  loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
  optimizer.update(model, grads)   # calls tx.update(grads, state, params)
  return loss


def train(name: str, steps: int, x, y) -> dict:
  model = MLP(rngs=nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, OPTIMIZERS[name](), wrt=nnx.Param)
  losses = [float(train_step(model, optimizer, x, y)) for _ in range(steps)]
  result = {"optimizer": name, "losses": losses, "final_loss": float(loss_fn(model, x, y))}
  if name == "lookahead":
    slow = osv.lookahead_slow_params(nnx.as_pure(optimizer.opt_state))
    slow_model = nnx.clone(model)
    nnx.update(slow_model, slow)
    result["slow_weights_loss"] = float(loss_fn(slow_model, x, y))
  return result


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default="adabound,radam,lookahead")
  parser.add_argument("--steps", type=int, default=200)
  args = parser.parse_args(argv)
  x, y = spirals()
  results = [train(n, args.steps, x, y) for n in args.optimizers.split(",")]
  for r in results:
    extra = f", slow weights {r['slow_weights_loss']:.4f}" if "slow_weights_loss" in r else ""
    print(f"{r['optimizer']:<10} loss {r['losses'][0]:.4f} -> {r['final_loss']:.4f}{extra}")
  return results


if __name__ == "__main__":
  main()
