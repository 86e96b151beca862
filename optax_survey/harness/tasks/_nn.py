"""Shared pieces of the neural-network tasks: torch-style init, minibatches,
classification loss and metrics, learning-rate tables."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

F32 = jnp.float32


def dense_init(key, fan_in: int, fan_out: int):
  """torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for w and b."""
  kw, kb = jax.random.split(key)
  bound = 1.0 / np.sqrt(fan_in)
  return {"w": jax.random.uniform(kw, (fan_in, fan_out), F32, -bound, bound),
          "b": jax.random.uniform(kb, (fan_out,), F32, -bound, bound)}


def minibatch_sampler(x: np.ndarray, y: np.ndarray, batch_size: int):
  """Uniform sampling with replacement (traceable, per-seed key)."""
  xs, ys = jnp.asarray(x, F32), jnp.asarray(y, jnp.int32)

  def sample(key, t):
    del t
    idx = jax.random.randint(key, (batch_size,), 0, xs.shape[0])
    return xs[idx], ys[idx]

  return sample


def split_indices(y: np.ndarray, fractions: tuple[float, ...], seed: int = 0) -> list[np.ndarray]:
  """A fixed stratified split of the indices of ``y`` into parts of the given fractions
  (each class divided in the same proportions); the last part takes the rest."""
  rng = np.random.default_rng(seed)
  parts: list[list[int]] = [[] for _ in fractions]
  for k in np.unique(y):
    idx = rng.permutation(np.flatnonzero(y == k))
    bounds = np.round(np.cumsum(fractions)[:-1] * len(idx)).astype(int)
    for part, chunk in zip(parts, np.split(idx, bounds), strict=True):
      part.extend(chunk.tolist())
  return [np.sort(np.asarray(p, np.int64)) for p in parts]


def classifier_metrics(apply_fn, x, y):
  """``metrics(params)``: accuracy and mean cross-entropy (``acc``, ``loss``) of the
  classifier ``apply_fn`` on ``(x, y)``."""
  x, y = jnp.asarray(x, F32), jnp.asarray(y, jnp.int32)

  def metrics(params):
    logits = apply_fn(params, x)
    return {"acc": (jnp.argmax(logits, -1) == y).mean().astype(F32),
            "loss": optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()}

  return metrics


def classification(apply_fn, x_val, y_val, x_test, y_test):
  """``(loss(params, batch), validate(params), evaluate(params))`` for a classifier
  ``apply_fn``: ``validate`` measures accuracy and loss (``acc``, ``loss``) on the
  validation split, ``evaluate`` the same on the test split."""

  def loss(params, batch):
    xb, yb = batch
    return optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, xb), yb).mean()

  return (loss, classifier_metrics(apply_fn, x_val, y_val),
          classifier_metrics(apply_fn, x_test, y_test))
