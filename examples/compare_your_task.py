"""Compare the survey's optimizers on your own task: a Flax NNX model in a ``Task``.

    python examples/compare_your_task.py                    # 6 optimizers, tuned budget
    python examples/compare_your_task.py --optimizers all --budget one-shot
    optax-survey compare --task examples/compare_your_task.py:make_task

The 3-class spirals of ``examples/train.py`` split into train / validation /
test, and the 2-32-32-3 ``nnx.Module`` MLP of ``examples/flax_nnx.py``.  The
harness needs pure functions of a parameter pytree, so the model is split once
into its graph definition and its parameters (``nnx.split``); ``loss`` and the
metrics merge them back (``nnx.merge``) inside the traced function.
``compare`` then runs a grid of 7 learning rates (and each optimizer's
default) x 5 seeds as one compiled program per optimizer, selects the rate on
the validation split, and, in the same program, trains it on 5 fresh seeds:
the reported test accuracy, with 95% intervals.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from optax_survey.harness import HarnessError, Task, compare

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flax_nnx import MLP  # noqa: E402
from train import spirals  # noqa: E402

SIZES = (2, 32, 32, 3)


def make_task(steps: int = 400, seeds: int = 5) -> Task:
  """The spirals MLP as a :class:`~optax_survey.harness.Task` with three splits."""
  x, y = spirals(n_per_class=300, seed=0)
  perm = np.random.default_rng(0).permutation(len(y))
  train, val, test = np.split(perm, [int(0.6 * len(y)), int(0.8 * len(y))])
  graphdef, _ = nnx.split(MLP(SIZES, rngs=nnx.Rngs(0)))

  def init_params(key, seed):
    del seed  # the key differs per seed already
    _, params = nnx.split(MLP(SIZES, rngs=nnx.Rngs(params=key)))
    return params

  def logits(params, xs):
    return nnx.merge(graphdef, params)(xs)

  def loss(params, batch):
    xb, yb = batch
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, xb), yb).mean()

  def sample_batch(key, t):
    del t
    idx = jax.random.choice(key, jnp.asarray(train), (64,))
    return x[idx], y[idx]

  def metrics_on(idx):
    def metrics(params):
      z = logits(params, x[idx])
      return {"acc": jnp.mean(jnp.argmax(z, -1) == y[idx]),
              "loss": optax.softmax_cross_entropy_with_integer_labels(z, y[idx]).mean()}
    return metrics

  return Task(
      name="spirals-nnx", description="3-class spirals, 2-32-32-3 tanh MLP (Flax NNX)",
      init_params=init_params, loss=loss, sample_batch=sample_batch,
      validate=metrics_on(val), evaluate=metrics_on(test), metric="acc", mode="max",
      steps=steps, seeds=seeds, eval_points=8,
  )


def main(argv: list[str] | None = None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--optimizers", default="sgdm,adam,adabelief,adabound,radam,lookahead",
                      help="comma-separated names, or 'all' (default: %(default)s)")
  parser.add_argument("--budget", choices=["tuned", "one-shot"], default="tuned")
  parser.add_argument("--steps", type=int, default=400)
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--out", default=None, help="write results.csv/json and curves.png here")
  args = parser.parse_args(argv)
  if args.steps < 1 or args.seeds < 1:
    parser.error("--steps and --seeds must be >= 1")
  try:
    result = compare(make_task(args.steps, args.seeds), args.optimizers.split(","),
                     budget=args.budget, out=args.out, plot=args.out is not None,
                     progress=False)
  except HarnessError as error:  # a bad name: one line, exit status 2
    parser.error(str(error))
  print(result.summary())
  return result


if __name__ == "__main__":
  main()
