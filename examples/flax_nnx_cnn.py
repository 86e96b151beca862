"""Compare optimizers on a Flax NNX CNN with BatchNorm and dropout: model state and a
per-step dropout key in a ``Task``.

    python examples/flax_nnx_cnn.py                      # sgdm, adam, adabound, radam
    python examples/flax_nnx_cnn.py --optimizers all --steps 600
    optax-survey compare --task examples/flax_nnx_cnn.py:make_task

scikit-learn's 8x8 digits (shipped with it, no download) in a fixed stratified
60/20/20 split, and a small CNN: conv-BatchNorm-ReLU-pool twice, dropout, a
linear head.  Two things make it more than a pure function of its parameters,
and the ``Task`` says how each reaches the model:

* **BatchNorm's running statistics** are model state, not parameters:
  ``nnx.split(model, nnx.Param, nnx.BatchStat)`` gives the two apart.
  ``init_state`` returns the statistics, ``loss(params, batch, state)`` runs
  the model in training mode and returns ``(loss, new_state)`` (the updated
  statistics), and ``validate``/``evaluate(params, state)`` run it in
  evaluation mode on the statistics the run has reached.  The optimizer only
  ever sees the parameters.
* **Dropout** needs a fresh key at every step of every run: ``sample_batch(key,
  t)`` gets one from the harness, and puts it into the batch, where ``loss``
  draws the dropout mask from it.  Evaluation has no dropout.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from optax_survey.harness import HarnessError, Task, compare


class CNN(nnx.Module):
  """Two conv-BatchNorm-ReLU-avg-pool blocks, dropout and a linear head, for 8x8 images."""

  def __init__(self, *, channels: int = 8, dropout: float = 0.25, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(1, channels, (3, 3), rngs=rngs)
    self.bn1 = nnx.BatchNorm(channels, momentum=0.9, rngs=rngs)
    self.conv2 = nnx.Conv(channels, 2 * channels, (3, 3), rngs=rngs)
    self.bn2 = nnx.BatchNorm(2 * channels, momentum=0.9, rngs=rngs)
    self.dropout = nnx.Dropout(dropout)  # its key comes with each call (see loss)
    self.head = nnx.Linear(2 * channels * 2 * 2, 10, rngs=rngs)

  def __call__(self, x, *, train: bool, key=None):
    h = x[..., None]  # [batch, 8, 8, 1]
    for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2)):
      h = nnx.relu(bn(conv(h), use_running_average=not train))
      h = nnx.avg_pool(h, (2, 2), strides=(2, 2))
    h = h.reshape(h.shape[0], -1)
    h = self.dropout(h, deterministic=not train,
                     rngs=nnx.Rngs(dropout=key) if train else None)
    return self.head(h)


def digits_splits(seed: int = 0):
  """``(x, y)`` of scikit-learn's digits as 8x8 images in [0, 1]: train, validation, test
  (a fixed stratified 60/20/20 split)."""
  from sklearn.datasets import load_digits

  data = load_digits()
  x = (data.images / 16.0).astype(np.float32)
  y = data.target.astype(np.int32)
  rng = np.random.default_rng(seed)
  parts: list[list[int]] = [[], [], []]
  for c in range(10):
    idx = rng.permutation(np.flatnonzero(y == c))
    cut = np.cumsum([int(0.6 * len(idx)), int(0.2 * len(idx))])
    for part, chunk in zip(parts, np.split(idx, cut), strict=True):
      part.extend(chunk.tolist())
  return [(x[np.sort(p)], y[np.sort(p)]) for p in parts]


def make_task(steps: int = 300, seeds: int = 5, batch_size: int = 64,
              channels: int = 8) -> Task:
  """The digits CNN as a stateful :class:`~optax_survey.harness.Task` with three splits."""
  (x, y), (xv, yv), (xt, yt) = digits_splits()
  graphdef, _, _ = nnx.split(CNN(channels=channels, rngs=nnx.Rngs(0)), nnx.Param, nnx.BatchStat)

  def variables(key):
    model = CNN(channels=channels, rngs=nnx.Rngs(params=key))
    _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    return nnx.as_pure(params), nnx.as_pure(stats)

  def init_params(key, seed):
    del seed  # the key differs per seed already
    return variables(key)[0]

  def init_state(key, seed):  # the same key as init_params: the same model's statistics
    del seed
    return variables(key)[1]

  def sample_batch(key, t):
    del t
    k_batch, k_dropout = jax.random.split(key)
    idx = jax.random.randint(k_batch, (batch_size,), 0, len(y))
    return jnp.asarray(x)[idx], jnp.asarray(y)[idx], k_dropout

  def loss(params, batch, state):
    xb, yb, k_dropout = batch
    model = nnx.merge(graphdef, params, state)
    logits = model(xb, train=True, key=k_dropout)
    new_state = nnx.as_pure(nnx.state(model, nnx.BatchStat))  # the updated statistics
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), new_state

  def metrics_on(xs, ys):
    def metrics(params, state):
      logits = nnx.merge(graphdef, params, state)(jnp.asarray(xs), train=False)
      return {"acc": jnp.mean(jnp.argmax(logits, -1) == ys),
              "loss": optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()}
    return metrics

  return Task(
      name="digits-nnx-cnn",
      description="scikit-learn digits (8x8), CNN with BatchNorm and dropout (Flax NNX)",
      init_params=init_params, init_state=init_state, loss=loss, sample_batch=sample_batch,
      validate=metrics_on(xv, yv), evaluate=metrics_on(xt, yt), metric="acc", mode="max",
      steps=steps, seeds=seeds, eval_points=6,
  )


def main(argv: list[str] | None = None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--optimizers", default="sgdm,adam,adabound,radam",
                      help="comma-separated names, or 'all' (default: %(default)s)")
  parser.add_argument("--budget", choices=["tuned", "one-shot"], default="tuned")
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--seeds", type=int, default=5)
  parser.add_argument("--out", default=None, help="write results.csv/json and curves.png here")
  args = parser.parse_args(argv)
  try:
    result = compare(make_task(args.steps, args.seeds), args.optimizers.split(","),
                     budget=args.budget, steps=args.steps, seeds=args.seeds, out=args.out,
                     plot=args.out is not None, progress=False)
  except HarnessError as error:  # bad input: one line, exit status 2
    parser.error(str(error))
  print(result.summary())
  return result


if __name__ == "__main__":
  main()
