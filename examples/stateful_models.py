"""Models with state in a ``Task``: BatchNorm written in Flax Linen and in Haiku.

    python examples/stateful_models.py                   # both, adam and sgdm, one-shot

The 3-class spirals of ``examples/train.py`` (train / validation / test) and a
2-32-3 MLP with BatchNorm after its hidden layer, written twice.  BatchNorm's
running statistics are model state: ``init_state`` gives them, ``loss(params,
batch, state)`` returns ``(loss, new_state)`` and the metrics take ``(params,
state)``; the harness carries the state per run, never shows it to the
optimizer, and evaluates with the statistics the run has reached.

* Flax Linen: ``model.init`` gives ``{"params", "batch_stats"}``; training runs
  ``model.apply(..., train=True, mutable=["batch_stats"])``, which returns the
  updated statistics; evaluation runs with ``train=False``.
* Haiku: ``hk.transform_with_state`` gives ``init -> (params, state)`` and
  ``apply(params, state, rng, ...) -> (out, new_state)``.

The Flax NNX version (``nnx.split(model, nnx.Param, nnx.BatchStat)``, with
dropout) is ``examples/flax_nnx_cnn.py``.
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness import Task, compare

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import spirals  # noqa: E402

HIDDEN = 32


def _splits():
  x, y = spirals(n_per_class=200, seed=0)
  perm = np.random.default_rng(0).permutation(len(y))
  return [(x[i], y[i]) for i in np.split(perm, [int(0.6 * len(y)), int(0.8 * len(y))])]


def _task(name: str, description: str, init, apply_train, apply_eval, *, steps: int,
          seeds: int) -> Task:
  """A spirals Task from ``init(key) -> (params, state)``, ``apply_train(params, state,
  x) -> (logits, new_state)`` and ``apply_eval(params, state, x) -> logits``."""
  (x, y), (xv, yv), (xt, yt) = _splits()

  def loss(params, batch, state):
    xb, yb = batch
    logits, new_state = apply_train(params, state, xb)
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), new_state

  def sample_batch(key, t):
    del t
    idx = jax.random.randint(key, (64,), 0, len(y))
    return jnp.asarray(x)[idx], jnp.asarray(y)[idx]

  def metrics_on(xs, ys):
    def metrics(params, state):
      logits = apply_eval(params, state, jnp.asarray(xs))
      return {"acc": jnp.mean(jnp.argmax(logits, -1) == ys)}
    return metrics

  return Task(name=name, description=description,
              init_params=lambda key, seed: init(key)[0],
              init_state=lambda key, seed: init(key)[1],  # the same key: the same model
              loss=loss, sample_batch=sample_batch, validate=metrics_on(xv, yv),
              evaluate=metrics_on(xt, yt), metric="acc", mode="max", steps=steps,
              seeds=seeds, eval_points=5)


def linen_task(steps: int = 300, seeds: int = 5) -> Task:
  """The BatchNorm MLP in Flax Linen (``mutable=["batch_stats"]``)."""
  import flax.linen as nn

  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
      h = nn.Dense(HIDDEN)(x)
      h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      return nn.Dense(3)(jnp.tanh(h))

  model = MLP()

  def init(key):
    variables = model.init(key, jnp.zeros((1, 2)), train=False)
    return variables["params"], variables["batch_stats"]

  def apply_train(params, state, x):
    logits, updates = model.apply({"params": params, "batch_stats": state}, x, train=True,
                                  mutable=["batch_stats"])
    return logits, updates["batch_stats"]

  def apply_eval(params, state, x):
    return model.apply({"params": params, "batch_stats": state}, x, train=False)

  return _task("spirals-linen-bn", "3-class spirals, 2-32-3 MLP with BatchNorm (Flax Linen)",
               init, apply_train, apply_eval, steps=steps, seeds=seeds)


def haiku_task(steps: int = 300, seeds: int = 5) -> Task:
  """The BatchNorm MLP in Haiku (``hk.transform_with_state``)."""
  import haiku as hk

  def forward(x, is_training):
    h = hk.Linear(HIDDEN)(x)
    h = hk.BatchNorm(create_scale=True, create_offset=True, decay_rate=0.9)(h, is_training)
    return hk.Linear(3)(jnp.tanh(h))

  net = hk.without_apply_rng(hk.transform_with_state(forward))

  def init(key):
    return net.init(key, jnp.zeros((1, 2)), True)

  def apply_train(params, state, x):
    return net.apply(params, state, x, True)

  def apply_eval(params, state, x):
    return net.apply(params, state, x, False)[0]

  return _task("spirals-haiku-bn", "3-class spirals, 2-32-3 MLP with BatchNorm (Haiku)",
               init, apply_train, apply_eval, steps=steps, seeds=seeds)


def main(argv: list[str] | None = None):
  del argv
  results = []
  for make in (linen_task, haiku_task):
    result = compare(make(), ["sgdm", "adam"], budget="one-shot", progress=False)
    print(result.summary() + "\n")
    results.append(result)
  return results


if __name__ == "__main__":
  main()
