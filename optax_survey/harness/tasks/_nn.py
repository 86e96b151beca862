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


def classification(apply_fn, x_test, y_test, x_train=None, y_train=None):
  """(loss(params, batch), evaluate(params)) for a classifier ``apply_fn``."""
  x_test, y_test = jnp.asarray(x_test, F32), jnp.asarray(y_test, jnp.int32)

  def loss(params, batch):
    xb, yb = batch
    return optax.softmax_cross_entropy_with_integer_labels(apply_fn(params, xb), yb).mean()

  def evaluate(params):
    logits = apply_fn(params, x_test)
    out = {"test_acc": (jnp.argmax(logits, -1) == y_test).mean().astype(F32),
           "test_loss": optax.softmax_cross_entropy_with_integer_labels(logits, y_test).mean()}
    if x_train is not None:
      out["train_loss"] = loss(params, (jnp.asarray(x_train, F32), jnp.asarray(y_train, jnp.int32)))
    return out

  return loss, evaluate

