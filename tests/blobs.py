"""A small task in plain JAX for the harness's tests: logistic regression on two Gaussian
blobs with train, validation and test splits (not a test module: imported by them and by
the command-line tests' user task).
"""

import jax
import jax.numpy as jnp
import numpy as np

from optax_survey.harness import Task


def make_task(poison_test=False, **overrides):
  """Logistic regression on two Gaussian blobs, in plain JAX, with three splits."""
  rng = np.random.default_rng(0)

  def blobs(n):
    y = rng.integers(0, 2, size=n)
    x = rng.normal(0, 1, size=(n, 4)) + (2 * y[:, None] - 1) * 0.7
    return x.astype(np.float32), y.astype(np.float32)

  (x, y), (xv, yv), (xt, yt) = blobs(200), blobs(200), blobs(200)
  if poison_test:
    xt = np.full_like(xt, np.nan)

  def init_params(key, seed):
    return {"w": 0.1 * jax.random.normal(key, (4,)), "b": jnp.zeros(())}

  def logits(p, x):
    return x @ p["w"] + p["b"]

  def loss(p, batch):
    xb, yb = batch
    z = logits(p, xb)
    return jnp.mean(jnp.logaddexp(0.0, z) - yb * z)

  def sample_batch(key, t):
    idx = jax.random.randint(key, (32,), 0, 200)
    return jnp.asarray(x)[idx], jnp.asarray(y)[idx]

  def metrics_on(xs, ys):
    def metrics(p):
      z = logits(p, jnp.asarray(xs))
      return {"log_loss": loss(p, (jnp.asarray(xs), jnp.asarray(ys))),
              "acc": jnp.mean((z > 0) == (jnp.asarray(ys) > 0.5))}
    return metrics

  fields = dict(name="blobs", init_params=init_params, loss=loss, evaluate=metrics_on(xt, yt),
                validate=metrics_on(xv, yv), metric="log_loss", mode="min", steps=60,
                sample_batch=sample_batch, seeds=3, eval_points=2)
  fields.update(overrides)
  return Task(**fields)
