"""Wilson et al. 2017 ("The Marginal Value of Adaptive Gradient Methods in Machine
Learning", section 3.3): a linearly separable problem on which adaptive methods
generalize worse than SGD.

``n`` training points; the label is ``y = +1`` with probability ``p`` (> 1/2),
``-1`` otherwise.  Point ``i`` has features: ``y_i`` in coordinate 0, ``1`` in
coordinates 1 and 2, and a block of coordinates of its own: one ``1`` if
``y_i = +1``, five ``1``s if ``y_i = -1`` (``d = 3 + 5 n``).  The loss is least
squares, ``mean (x·w - y)² / 2``, from ``w = 0``; the prediction is
``sign(x·w)``.  A new point has its own, never-trained block, so its prediction
is ``sign(y w_0 + w_1 + w_2)``.  SGD (from 0, it stays in the span of the data)
finds the minimum-norm solution, which relies on ``w_0`` and classifies new
points correctly; AdaGrad, RMSProp and Adam move every coordinate at about the
same rate (``w ∝ sign(Xᵀy)`` for AdaGrad in the paper's analysis), so
``w_1 + w_2`` outweighs ``w_0`` and every new point is called ``+1``: test
accuracy ``p``.  Validation and test points are new points of the same
distribution (their own blocks are all zero weight, so only the first three
coordinates matter).  Minibatches of 16 of the 64 training points; seeds differ
in the minibatches.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from optax_survey.harness.tasks.base import Task, TaskInfo
from optax_survey.harness.tasks.targets import target_of

F32 = jnp.float32
N_TRAIN, N_HELD_OUT, P_POSITIVE, BATCH = 64, 2000, 0.7, 16


@functools.lru_cache(maxsize=1)
def load():
  """``(x, y)`` of the train, validation and test points (fixed, seed 0)."""
  rng = np.random.default_rng(0)

  def labels(n):
    return np.where(rng.random(n) < P_POSITIVE, 1.0, -1.0).astype(np.float32)

  y = labels(N_TRAIN)
  d = 3 + 5 * N_TRAIN
  x = np.zeros((N_TRAIN, d), np.float32)
  x[:, 0], x[:, 1], x[:, 2] = y, 1.0, 1.0
  for i in range(N_TRAIN):
    start = 3 + 5 * i
    x[i, start: start + (1 if y[i] > 0 else 5)] = 1.0

  def held_out():
    yh = labels(N_HELD_OUT)
    xh = np.zeros((N_HELD_OUT, d), np.float32)
    xh[:, 0], xh[:, 1], xh[:, 2] = yh, 1.0, 1.0
    return xh, yh

  (xv, yv), (xt, yt) = held_out(), held_out()
  return x, y, xv, yv, xt, yt



def build(name: str, info: TaskInfo) -> Task:
  """The task ("wilson-separable") with the catalogue's ``info``."""
  x, y, xv, yv, xt, yt = load()
  xs, ys = jnp.asarray(x), jnp.asarray(y)

  def loss(w, batch):
    xb, yb = batch
    return 0.5 * jnp.mean((xb @ w - yb) ** 2)

  def sample_batch(key, t):
    del t
    idx = jax.random.randint(key, (BATCH,), 0, N_TRAIN)
    return xs[idx], ys[idx]

  def metrics_on(xh, yh):
    xh, yh = jnp.asarray(xh), jnp.asarray(yh)

    def metrics(w):
      pred = jnp.where(xh @ w > 0, 1.0, -1.0)
      return {"acc": jnp.mean(pred == yh).astype(F32),
              "train_loss": 0.5 * jnp.mean((xs @ w - ys) ** 2)}

    return metrics

  def train_metrics(w):  # the 64 training points: acc and the objective
    pred = jnp.where(xs @ w > 0, 1.0, -1.0)
    return {"acc": jnp.mean(pred == ys).astype(F32), "loss": 0.5 * jnp.mean((xs @ w - ys) ** 2)}

  def init_params(key, seed):
    del key, seed
    return jnp.zeros((x.shape[1],), F32)

  return Task(
      name=name, description=info.description, init_params=init_params, loss=loss,
      evaluate=metrics_on(xt, yt), validate=metrics_on(xv, yv),
      evaluate_train=train_metrics, metric="acc", mode="max",
      target=target_of(name), steps=1000, lrs=dict(info.learning_rates), sample_batch=sample_batch,
      eval_points=10, seeds=5,
      extra={"p_positive": P_POSITIVE, "n_train": N_TRAIN},
  )

