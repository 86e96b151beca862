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
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "Task", "TaskError", "TASKS", "TASK_DESCRIPTIONS", "check_task", "get_task", "load_task",
    "task_learning_rate_note", "task_learning_rates", "task_names", "task_requirements",
]


@dataclasses.dataclass(frozen=True)
class Task:
  """A training problem: what the harness trains every optimizer on.

  Wrap your own model and data in a ``Task`` (plain JAX, Flax NNX or Linen,
  Haiku: anything that gives a pytree of parameters and pure functions) and
  :func:`~optax_survey.harness.compare` gives the survey's table for it.
  Everything must be traceable by JAX: the harness vmaps a whole learning-rate
  grid and all seeds into one compiled program.

  Splits: a task with data (``held_out=True``, the default) trains on the
  training split through ``loss``/``sample_batch``, and has two held-out
  splits: ``validate`` (the validation split: the tuned budget selects each
  optimizer's learning rate on it, and on nothing else) and ``evaluate`` (the
  test split: the reported numbers).  A pure optimisation problem (the 2-D
  functions, the online problems) has ``held_out=False``: its metric is the
  training objective itself and the tuned value is reported as such.

  Attributes:
    name: short name (``optax-survey compare --task NAME``).
    init_params: ``init_params(key, seed)``: the initial parameters (a pytree of
      float arrays); ``key`` is a JAX PRNG key that differs per seed.
    loss: ``loss(params, batch)``: the scalar training loss (a 0-d array).
    evaluate: ``evaluate(params)``: a dict of scalar metrics on the **test**
      split (or, without held-out data, of the objective); it contains ``metric``.
    metric: the key of ``evaluate``'s (and ``validate``'s) dict that ranks optimizers.
    mode: ``"min"`` or ``"max"``: whether a lower or a higher ``metric`` is better.
    validate: ``validate(params)``: the same metrics on the **validation**
      split; required when ``held_out`` is True.
    held_out: whether the task has held-out data (validation and test splits).
    description: one line for tables and pages.
    target: the ``metric`` value whose first crossing is reported (steps to
      target); NaN: none.
    steps: the default number of training steps.
    lrs: the centre of each optimizer's learning-rate grid (default: the
      optimizer's published default, :func:`~optax_survey.harness.registry.default_lr`).
    sample_batch: ``sample_batch(key, t)``: the training batch of step ``t``
      (traceable), or ``None`` for a deterministic full-batch loss (``loss``
      then gets ``None``).
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
  init_params: Callable[[Any, Any], Any]
  loss: Callable[[Any, Any], Any]
  evaluate: Callable[[Any], dict]
  metric: str
  mode: str
  validate: Callable[[Any], dict] | None = None
  held_out: bool = True
  description: str = ""
  target: float = math.nan
  steps: int = 500
  lrs: dict[str, float] = dataclasses.field(default_factory=dict)
  sample_batch: Callable[[Any, Any], Any] | None = None
  eval_points: int = 10
  seeds: int = 5
  optimizer_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  schedule: Callable[[Any], Any] | None = None
  project: Callable[[Any], Any] | None = None
  kind: str = "nn"
  deterministic: bool = False
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)

  def lr_for(self, optimizer: str) -> float:
    """The centre of ``optimizer``'s learning-rate grid on this task."""
    if optimizer in self.lrs:
      return self.lrs[optimizer]
    from optax_survey.harness.registry import default_lr

    return default_lr(optimizer)

  def better(self, a: float, b: float) -> bool:
    return a < b if self.mode == "min" else a > b


# task name -> the module of optax_survey.harness.tasks that defines it
_MODULES = {
    "quadratic": "functions2d", "rosenbrock": "functions2d", "beale": "functions2d",
    "saddle": "functions2d", "rastrigin": "functions2d", "reddi": "online",
    "reddi-stochastic": "online", "reddi-theorem1": "online", "mnist1d-mlp": "mnist1d",
    "mnist1d-cnn": "mnist1d", "digits-mlp": "digits", "charlm": "charlm",
    "wilson-separable": "wilson",
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
    "rastrigin": "2-D Rastrigin, many local minima, start (4.4, -3.6)",
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
    "wilson-separable": "Wilson et al. 2017 §3.3: linearly separable least squares on which "
                        "adaptive methods generalize worse than SGD",
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


class TaskError(ValueError):
  """A malformed :class:`Task`; the message is one line naming the field."""


def _scalar_shape(value: Any) -> tuple[int, ...] | None:
  shape = getattr(value, "shape", None)
  return tuple(shape) if shape is not None else None


def check_task(task: Any, *, tuned: bool = True) -> Task:
  """Checks ``task`` before any training, by tracing it once (no compute).

  Catches: not a :class:`Task`; ``mode`` not min/max; ``steps``/``seeds`` not
  positive; a held-out task without a validation split (needed to select the
  learning rate when ``tuned``); ``loss`` that is not a scalar; ``evaluate`` or
  ``validate`` that does not return a dict holding a scalar ``metric``.

  Args:
    task: the task to check.
    tuned: whether the tuned budget (which needs ``validate``) will run.

  Returns:
    ``task``.

  Raises:
    TypeError: ``task`` is not a Task, or a function returns the wrong type.
    TaskError: (a ``ValueError``) a field or a function's output is malformed.
  """
  import jax

  if not isinstance(task, Task):
    raise TypeError(f"task must be an optax_survey.harness.Task or a task name, got "
                    f"{type(task).__name__}")
  name = task.name or "<unnamed>"
  if task.mode not in ("min", "max"):
    raise TaskError(f"task {name!r}: mode must be 'min' or 'max', got {task.mode!r}")
  for field in ("steps", "seeds", "eval_points"):
    value = getattr(task, field)
    if not isinstance(value, int) or value < 1:
      raise TaskError(f"task {name!r}: {field} must be a positive integer, got {value!r}")
  for field in ("init_params", "loss", "evaluate"):
    if not callable(getattr(task, field)):
      raise TypeError(f"task {name!r}: {field} must be a function, got "
                      f"{type(getattr(task, field)).__name__}")
  if task.held_out and task.validate is None and tuned:
    raise TaskError(
        f"task {name!r} has held-out data but no validation split: give "
        "Task(validate=...) (the tuned budget selects the learning rate on it, never on the "
        "test split), or budget='one-shot', or held_out=False for a pure optimisation problem")
  key = jax.random.PRNGKey(0)
  try:
    params = jax.eval_shape(lambda k: task.init_params(k, 0), key)
    sampler = task.sample_batch
    batch = jax.eval_shape(lambda k: sampler(k, 0), key) if sampler is not None else None
    loss = jax.eval_shape(task.loss, params, batch)
  except Exception as error:  # the user's code: say what failed, in one line
    raise TaskError(f"task {name!r}: tracing init_params, sample_batch and loss failed: "
                    f"{type(error).__name__}: {_one_line(error)}") from None
  if _scalar_shape(loss) != ():
    raise TaskError(f"task {name!r}: loss(params, batch) must return a scalar, got shape "
                    f"{_scalar_shape(loss)} (take the mean over the batch)")
  splits = [("evaluate", task.evaluate)]
  if task.validate is not None:
    splits.append(("validate", task.validate))
  for field, fn in splits:
    try:
      out = jax.eval_shape(fn, params)
    except Exception as error:
      raise TaskError(f"task {name!r}: tracing {field}(params) failed: "
                      f"{type(error).__name__}: {_one_line(error)}") from None
    if not isinstance(out, dict):
      raise TypeError(f"task {name!r}: {field}(params) must return a dict of metrics, got "
                      f"{type(out).__name__}")
    if task.metric not in out:
      raise TaskError(f"task {name!r}: {field}(params) does not return the metric "
                      f"{task.metric!r}; it returns {sorted(out)}")
    if _scalar_shape(out[task.metric]) != ():
      raise TaskError(f"task {name!r}: {field}(params)[{task.metric!r}] must be a scalar, got "
                      f"shape {_scalar_shape(out[task.metric])}")
  return task


def load_task(spec: str) -> Task:
  """A task from a name or a factory: ``"digits-mlp"``, ``"my_module:make_task"`` or
  ``"path/to/file.py:make_task"``.

  The factory is called without arguments and must return a :class:`Task`.  A
  module name is imported as ``python -m`` would (the current folder first).

  Raises:
    TaskError: (one line) unknown name, malformed spec, a module or file that
      cannot be imported, a missing factory, or a factory that fails or returns
      something other than a Task.
  """
  import importlib.util
  import os
  import sys

  if spec in TASK_DESCRIPTIONS:
    return get_task(spec)
  if ":" not in spec:
    raise TaskError(f"unknown task {spec!r}; choose from: {', '.join(TASK_DESCRIPTIONS)}, or "
                    "give MODULE:FUNCTION or path/to/file.py:FUNCTION")
  where, func = spec.rsplit(":", 1)
  if not where or not func.isidentifier():
    raise TaskError(f"task {spec!r}: give MODULE:FUNCTION or path/to/file.py:FUNCTION")
  try:
    if where.endswith(".py") or os.sep in where or "/" in where:
      if not os.path.isfile(where):
        raise TaskError(f"task {spec!r}: no such file {where!r}")
      name = "optax_survey_user_task_" + os.path.splitext(os.path.basename(where))[0]
      module_spec = importlib.util.spec_from_file_location(name, where)
      assert module_spec is not None and module_spec.loader is not None
      module = importlib.util.module_from_spec(module_spec)
      sys.modules[name] = module
      module_spec.loader.exec_module(module)
    else:
      if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
      module = importlib.import_module(where)
  except TaskError:
    raise
  except Exception as error:  # the user's module: say what failed, in one line
    raise TaskError(f"task {spec!r}: cannot import {where!r}: {type(error).__name__}: "
                    f"{_one_line(error)}") from None
  factory = getattr(module, func, None)
  if not callable(factory):
    raise TaskError(f"task {spec!r}: {where!r} has no function {func!r}")
  try:
    task = factory()
  except Exception as error:
    raise TaskError(f"task {spec!r}: {func}() raised {type(error).__name__}: "
                    f"{_one_line(error)}") from None
  if not isinstance(task, Task):
    raise TaskError(f"task {spec!r}: {func}() must return an optax_survey.harness.Task, got "
                    f"{type(task).__name__}")
  return task


def _one_line(error: BaseException) -> str:
  text = str(error).strip()
  return text.splitlines()[0] if text else "(no message)"
