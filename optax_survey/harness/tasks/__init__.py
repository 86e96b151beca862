"""Benchmark tasks of the survey harness, all offline.

A :class:`Task` is a pure-JAX training problem in float32: ``init_params(key,
seed)`` gives the parameters, ``sample_batch(key, t)`` the batch of step ``t``
(traceable), ``loss(params, batch)`` the training loss and
``evaluate(params)`` a dict of scalar metrics, one of which (``metric``) is
ranked (``mode`` "min" or "max") and compared with ``target``.
``lrs`` holds the learning rate each optimizer gets on this task unless a grid
is given; ``optimizer_kwargs`` fixes further hyperparameters (e.g. betas) for
every optimizer that takes them; ``schedule(lr)`` turns the base rate into a
schedule; ``project(params)`` maps back onto a feasible set after each step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

__all__ = ["Task", "TASKS", "get_task", "task_names"]


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  description: str
  init_params: Callable[[Any, Any], Any]
  loss: Callable[[Any, Any], Any]
  evaluate: Callable[[Any], dict]
  metric: str
  mode: str  # "min" or "max"
  target: float
  steps: int
  lrs: dict
  sample_batch: Optional[Callable[[Any, Any], Any]] = None
  eval_points: int = 50
  seeds: int = 3
  optimizer_kwargs: dict = dataclasses.field(default_factory=dict)
  schedule: Optional[Callable[[Any], Any]] = None
  project: Optional[Callable[[Any], Any]] = None
  kind: str = "nn"  # "2d", "online" or "nn"
  extra: dict = dataclasses.field(default_factory=dict)

  def lr_for(self, optimizer: str) -> float:
    return self.lrs[optimizer]

  def better(self, a: float, b: float) -> bool:
    return a < b if self.mode == "min" else a > b


_MODULES = {
    "quadratic": "functions2d", "rosenbrock": "functions2d", "beale": "functions2d",
    "saddle": "functions2d", "rastrigin": "functions2d", "reddi": "online",
    "reddi-stochastic": "online", "reddi-theorem1": "online", "mnist1d-mlp": "mnist1d",
    "mnist1d-cnn": "mnist1d", "digits-mlp": "digits", "charlm": "charlm",
}


def _factory(name: str) -> Callable[[], Task]:
  import importlib

  module = importlib.import_module(f"optax_survey.harness.tasks.{_MODULES[name]}")
  return module.TASKS[name]


TASK_DESCRIPTIONS = {
    "quadratic": "ill-conditioned 2-D quadratic valley (condition number 40): the survey's Figure 1",
    "rosenbrock": "2-D Rosenbrock banana valley, start (-1.5, 2)",
    "beale": "2-D Beale function, start (1, 1.5)",
    "saddle": "2-D saddle x^2/2 + y^4/4 - y^2/2, start next to the saddle point",
    "rastrigin": "2-D Rastrigin, many local minima",
    "reddi": "Reddi et al. 2018 online counterexample: f_t(x) = 1010x every 101st step, -10x otherwise, x in [-1, 1]",
    "reddi-stochastic": "Reddi et al. 2018 stochastic counterexample: 1010x with prob. 0.01, -10x otherwise, x in [-1, 1]",
    "reddi-theorem1": "Reddi et al. 2018 Theorem 1: f_t(x) = 3x every 3rd step, -x otherwise, beta1 = 0, beta2 = 1/10",
    "mnist1d-mlp": "MNIST-1D (make_dataset, offline), the paper's MLP baseline",
    "mnist1d-cnn": "MNIST-1D (make_dataset, offline), the paper's CNN baseline",
    "digits-mlp": "scikit-learn load_digits (8x8 digits, shipped), 64-128-10 MLP",
    "charlm": "character-level Transformer LM (Flax) on Python standard-library source",
}


def task_names() -> list[str]:
  return list(TASK_DESCRIPTIONS)


_CACHE: dict[str, Task] = {}


def get_task(name: str) -> Task:
  if name not in TASK_DESCRIPTIONS:
    raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASK_DESCRIPTIONS)}")
  if name not in _CACHE:
    _CACHE[name] = _factory(name)()
  return _CACHE[name]


TASKS = TASK_DESCRIPTIONS
