"""Benchmark tasks of the survey harness, all offline.

A :class:`Task` is a pure-JAX training problem in float32; :func:`get_task`
builds one of the survey's tasks by name (once: the result is cached), and the
harness passes the ``Task`` object down from there.  Everything else here
(:data:`TASK_DESCRIPTIONS`, :func:`task_learning_rates`,
:func:`task_requirements`) answers questions about a task without building it,
so that the command line can list the tasks and check what they need before
any data is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "Task", "TASKS", "TASK_DESCRIPTIONS", "get_task", "task_learning_rate_note",
    "task_learning_rates", "task_names", "task_requirements",
]


@dataclasses.dataclass(frozen=True)
class Task:
  """A training problem: what the harness trains every optimizer on.

  Attributes:
    name: short name (``optax-survey compare --task NAME``).
    description: one line for tables and pages.
    init_params: ``init_params(key, seed)``: the initial parameters (a pytree).
    loss: ``loss(params, batch)``: the scalar training loss.
    evaluate: ``evaluate(params)``: a dict of scalar metrics, one of which is ``metric``.
    metric: the metric that ranks optimizers.
    mode: ``"min"`` or ``"max"``: whether a lower or a higher ``metric`` is better.
    target: the ``metric`` value whose first crossing is reported (steps to target).
    steps: the default number of training steps.
    lrs: the learning rate each optimizer gets unless a grid is given.
    sample_batch: ``sample_batch(key, t)``: the batch of step ``t`` (traceable), or
      ``None`` for a deterministic full-batch loss (``loss`` then gets ``None``).
    eval_points: how many times ``evaluate`` runs during training.
    seeds: the default number of seeds.
    optimizer_kwargs: hyperparameters fixed for every optimizer that takes them
      (e.g. ``b1``/``b2``); the others ignore them.
    schedule: ``schedule(lr)``: turns the base rate into an optax schedule.
    project: ``project(params)``: maps back onto a feasible set after each step.
    kind: ``"2d"`` (trajectories are plotted), ``"online"`` or ``"nn"``.
    deterministic: the seeds change nothing (no random initialisation, data or
      noise): every seed gives the same run, so the spread over seeds is 0.
    extra: anything the task's figures or pages need.
  """

  name: str
  description: str
  init_params: Callable[[Any, Any], Any]
  loss: Callable[[Any, Any], Any]
  evaluate: Callable[[Any], dict]
  metric: str
  mode: str
  target: float
  steps: int
  lrs: dict[str, float]
  sample_batch: Callable[[Any, Any], Any] | None = None
  eval_points: int = 50
  seeds: int = 3
  optimizer_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  schedule: Callable[[Any], Any] | None = None
  project: Callable[[Any], Any] | None = None
  kind: str = "nn"
  deterministic: bool = False
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)

  def lr_for(self, optimizer: str) -> float:
    return self.lrs[optimizer]

  def better(self, a: float, b: float) -> bool:
    return a < b if self.mode == "min" else a > b


# task name -> the module of optax_survey.harness.tasks that defines it
_MODULES = {
    "quadratic": "functions2d", "rosenbrock": "functions2d", "beale": "functions2d",
    "saddle": "functions2d", "rastrigin": "functions2d", "reddi": "online",
    "reddi-stochastic": "online", "reddi-theorem1": "online", "mnist1d-mlp": "mnist1d",
    "mnist1d-cnn": "mnist1d", "digits-mlp": "digits", "charlm": "charlm",
}

# task name -> the optional modules (of the ``survey`` extra) that building it imports
_REQUIREMENTS = {
    "mnist1d-mlp": ("mnist1d",), "mnist1d-cnn": ("mnist1d",), "digits-mlp": ("sklearn",),
    "charlm": ("flax",),
}

TASK_DESCRIPTIONS = {
    "quadratic": "ill-conditioned 2-D quadratic valley (condition number 40): the survey's "
                 "Figure 1",
    "rosenbrock": "2-D Rosenbrock banana valley, start (-1.5, 2)",
    "beale": "2-D Beale function, start (1, 1.5)",
    "saddle": "2-D saddle x^2/2 + y^4/4 - y^2/2, start next to the saddle point",
    "rastrigin": "2-D Rastrigin, many local minima",
    "reddi": "Reddi et al. 2018 online counterexample: f_t(x) = 1010x every 101st step, -10x "
             "otherwise, x in [-1, 1]",
    "reddi-stochastic": "Reddi et al. 2018 stochastic counterexample: 1010x with prob. 0.01, "
                        "-10x otherwise, x in [-1, 1]",
    "reddi-theorem1": "Reddi et al. 2018 Theorem 1: f_t(x) = 3x every 3rd step, -x otherwise, "
                      "beta1 = 0, beta2 = 1/10",
    "mnist1d-mlp": "MNIST-1D (make_dataset, offline), the paper's MLP baseline",
    "mnist1d-cnn": "MNIST-1D (make_dataset, offline), the paper's CNN baseline",
    "digits-mlp": "scikit-learn load_digits (8x8 digits, shipped), 64-128-10 MLP",
    "charlm": "character-level Transformer LM (Flax) on Python standard-library source",
}

TASKS = TASK_DESCRIPTIONS


def task_names() -> list[str]:
  return list(TASK_DESCRIPTIONS)


def _check_name(name: str) -> None:
  if name not in TASK_DESCRIPTIONS:
    raise ValueError(f"unknown task {name!r}; choose from: {', '.join(TASK_DESCRIPTIONS)}")


def _module(name: str):
  _check_name(name)
  return importlib.import_module(f"optax_survey.harness.tasks.{_MODULES[name]}")


def task_learning_rates(name: str) -> dict[str, float]:
  """The learning rate each optimizer gets on task ``name``, without building the task."""
  return dict(_module(name).LEARNING_RATES[name])


def task_learning_rate_note(name: str) -> str | None:
  """What else a reader of task ``name``'s learning rates needs to know (a schedule, a
  ``final_lr``), or None."""
  return _module(name).LEARNING_RATE_NOTES.get(name)


def task_requirements(name: str) -> tuple[str, ...]:
  """The optional modules (``survey`` extra) that task ``name`` needs, e.g. ``("flax",)``."""
  _check_name(name)
  return _REQUIREMENTS.get(name, ())


_CACHE: dict[str, Task] = {}


def get_task(name: str) -> Task:
  """The survey's task ``name``, built on first use (loads or generates its data)."""
  if name not in _CACHE:
    _CACHE[name] = _module(name).TASKS[name]()
  return _CACHE[name]
