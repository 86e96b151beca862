"""Haiku (``dm-haiku``): an ``hk.transform``-ed MLP trained with survey optimizers.

    python examples/haiku_mlp.py
    python examples/haiku_mlp.py --optimizers yogi,adamod --steps 300

Haiku parameters are nested dicts (``{"mlp/~/linear_0": {"w", "b"}}``), plain
pytrees, so ``tx.init(params)`` / ``tx.update(grads, state, params)`` work as
with any optax optimizer.  ``weight_decay`` with a ``mask`` decays only the
weight matrices.
"""

from __future__ import annotations

import argparse
import os
import sys

import haiku as hk
import jax
import jax.numpy as jnp
import optax

import optax_survey as osv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import spirals  # noqa: E402


def weights_only(params):
  return hk.data_structures.map(lambda module, name, _: name == "w", params)


OPTIMIZERS = {
    "yogi": lambda: osv.yogi(1e-2),
    "adamod": lambda: osv.adamod(1e-2, weight_decay=1e-4, mask=weights_only),
    "adabelief": lambda: osv.adabelief(1e-2, weight_decay=1e-4, mask=weights_only),
    "adadb": lambda: osv.adadb(1e-2),
    "lookahead": lambda: osv.lookahead(osv.yogi(1e-2), sync_period=5, slow_step_size=0.5),
}


def forward(x):
  return hk.nets.MLP([64, 64, 3], activation=jnp.tanh)(x)


model = hk.without_apply_rng(hk.transform(forward))


def loss_fn(params, x, y):
  return optax.softmax_cross_entropy_with_integer_labels(model.apply(params, x), y).mean()


def train(name: str, steps: int, x, y) -> dict:
  tx = OPTIMIZERS[name]()
  params = model.init(jax.random.PRNGKey(0), x[:1])
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  losses = []
  for _ in range(steps):
    params, opt_state, loss = step(params, opt_state)
    losses.append(float(loss))
  return {"optimizer": name, "losses": losses, "final_loss": float(loss_fn(params, x, y)),
          "modules": sorted(params)}


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default="yogi,adamod,lookahead")
  parser.add_argument("--steps", type=int, default=200)
  args = parser.parse_args(argv)
  x, y = spirals()
  results = [train(n, args.steps, x, y) for n in args.optimizers.split(",")]
  for r in results:
    print(f"{r['optimizer']:<10} loss {r['losses'][0]:.4f} -> {r['final_loss']:.4f}")
  return results


if __name__ == "__main__":
  main()
