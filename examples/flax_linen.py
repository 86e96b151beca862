"""A Flax Linen training loop with ``flax.training.train_state.TrainState``
and survey optimizers as its ``tx``.

    python examples/flax_linen.py
    python examples/flax_linen.py --optimizers amsbound,diffgrad --steps 300

``TrainState.apply_gradients`` calls ``tx.update(grads, opt_state, params)``,
so every optax_survey optimizer, Lookahead included, drops in.  Here the
optimizer is AdaBound behind gradient clipping, with a warmup-cosine schedule,
the usual Linen recipe.
"""

from __future__ import annotations

import argparse
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state

import optax_survey as osv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import spirals  # noqa: E402


class MLP(nn.Module):
  features: tuple = (64, 64, 3)

  @nn.compact
  def __call__(self, x):
    for f in self.features[:-1]:
      x = jnp.tanh(nn.Dense(f)(x))
    return nn.Dense(self.features[-1])(x)


def make_tx(name: str, steps: int) -> optax.GradientTransformation:
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=1e-3, peak_value=2e-2, warmup_steps=max(1, steps // 10),
      decay_steps=steps, end_value=1e-3)
  inner = {
      "adabound": lambda: osv.adabound(schedule, final_lr=0.1),
      "amsbound": lambda: osv.amsbound(schedule, final_lr=0.1),
      "diffgrad": lambda: osv.diffgrad(schedule),
      "adamw": lambda: osv.adamw(schedule, weight_decay=1e-4),
      "lookahead": lambda: osv.lookahead(osv.adam(schedule), sync_period=5, slow_step_size=0.5),
  }[name]()
  return optax.chain(optax.clip_by_global_norm(1.0), inner)


@jax.jit
def train_step(state: train_state.TrainState, x, y):
  def loss_fn(params):
    logits = state.apply_fn({"params": params}, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  return state.apply_gradients(grads=grads), loss


def train(name: str, steps: int, x, y) -> dict:
  model = MLP()
  params = model.init(jax.random.PRNGKey(0), x[:1])["params"]
  state = train_state.TrainState.create(apply_fn=model.apply, params=params,
                                        tx=make_tx(name, steps))
  losses = []
  for _ in range(steps):
    state, loss = train_step(state, x, y)
    losses.append(float(loss))
  return {"optimizer": name, "losses": losses, "step": int(state.step)}


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default="adabound,adamw,lookahead")
  parser.add_argument("--steps", type=int, default=200)
  args = parser.parse_args(argv)
  x, y = spirals()
  results = [train(n, args.steps, x, y) for n in args.optimizers.split(",")]
  for r in results:
    print(f"{r['optimizer']:<10} loss {r['losses'][0]:.4f} -> {r['losses'][-1]:.4f}")
  return results


if __name__ == "__main__":
  main()
