"""scikit-learn's ``load_digits`` (1797 8x8 digit images shipped with the
package): a 64-128-10 ReLU MLP, minibatches of 64, a fixed stratified
60/20/20 train/validation/test split; the metric is accuracy (the learning rate
is selected on the validation split, the test split is reported)."""

from __future__ import annotations

import functools

import jax
import numpy as np

from optax_survey.harness.errors import missing_extra_error
from optax_survey.harness.tasks._nn import (
  classification,
  classifier_metrics,
  dense_init,
  minibatch_sampler,
  split_indices,
)
from optax_survey.harness.tasks.base import Task, TaskInfo
from optax_survey.harness.tasks.targets import target_of


@functools.lru_cache(maxsize=1)
def load():
  """``(x, y)`` of the train, validation and test splits (60/20/20, stratified)."""
  try:
    from sklearn.datasets import load_digits
  except ImportError:
    raise missing_extra_error("sklearn", "the digits-mlp task") from None
  data = load_digits()
  x = (data.data / 16.0).astype(np.float32)
  y = data.target.astype(np.int32)
  train, val, test = split_indices(y, (0.6, 0.2, 0.2))
  return x[train], y[train], x[val], y[val], x[test], y[test]


def init(key, seed, hidden=128):
  del seed
  k1, k2 = jax.random.split(key)
  return [dense_init(k1, 64, hidden), dense_init(k2, hidden, 10)]


def apply(params, x):
  h = jax.nn.relu(x @ params[0]["w"] + params[0]["b"])
  return h @ params[1]["w"] + params[1]["b"]



def build(name: str, info: TaskInfo) -> Task:
  """The task ("digits-mlp") with the catalogue's ``info``."""
  x, y, x_val, y_val, x_test, y_test = load()
  loss, validate, evaluate = classification(apply, x_val, y_val, x_test, y_test)
  return Task(
      name=name, description=info.description, init_params=init, loss=loss,
      evaluate=evaluate, validate=validate,
      evaluate_train=classifier_metrics(apply, x, y), metric="acc", mode="max",
      target=target_of(name),
      steps=1000,
      lrs=dict(info.learning_rates), sample_batch=minibatch_sampler(x, y, 64), eval_points=10,
      seeds=5,
  )

