"""The catalogue of the survey's tasks: one table, and how a task is found by name.

:data:`CATALOGUE` is the single table of the survey's tasks (as AlgoPerf's
``workloads.py`` keeps one ``WORKLOADS`` table): per task, its description, the
family module that builds it, each optimizer's learning rate on it and the
optional packages it needs (a :class:`~optax_survey.harness.tasks.base.TaskInfo`).
Everything a listing or a check needs is answered from the table without
building a task; :func:`get_task` builds one (once: the result is cached) and
:func:`load_task` also loads the user's own (``my_module:make_task``).

>>> task_names()[:3]
['quadratic', 'rosenbrock', 'beale']
>>> CATALOGUE["digits-mlp"].requires
('sklearn',)
>>> CATALOGUE["quadratic"].learning_rates["sgd"]
0.45
"""

from __future__ import annotations

import importlib

from optax_survey.harness import preflight
from optax_survey.harness.errors import TaskError, one_line
from optax_survey.harness.registry import lr_table
from optax_survey.harness.tasks.base import Task, TaskInfo
from optax_survey.harness.user_code import is_function_spec, load_function

__all__ = ["CATALOGUE", "check_task_name", "get_task", "load_task", "task_names"]


def _functions2d(description: str, *, sgd: float, sgdm: float, adaptive: float,
                 adagrad: float) -> TaskInfo:
  """A 2-D function's row: AdaBound/AMSBound get ``final_lr`` = the SGD rate (the
  authors' advice: the SGD rate that works)."""
  return TaskInfo(description, "functions2d",
                  lr_table(sgd=sgd, sgdm=sgdm, adaptive=adaptive, adagrad=adagrad),
                  lr_note=f"adabound and amsbound get final_lr {sgd:g}, the SGD rate")


def _online(description: str) -> TaskInfo:
  """An online problem's row: every rate is α of the paper's step size α/√t; SGD's is
  100 times smaller (the gradients are 10..1010)."""
  return TaskInfo(description, "online",
                  lr_table(adaptive=0.5, sgd=0.005, sgdm=0.005, adagrad=0.5),
                  lr_note="the rate is α of the step size α/√t")


_MNIST1D_RATES = lr_table(adaptive=1e-2, sgd=0.2, sgdm=0.02, adagrad=0.05, rmsprop=1e-3)

CATALOGUE: dict[str, TaskInfo] = {
    "quadratic": _functions2d(
        "ill-conditioned 2-D quadratic valley (condition number 40): the survey's Figure 1",
        sgd=0.45, sgdm=0.05, adaptive=0.1, adagrad=1.0),
    "rosenbrock": _functions2d("2-D Rosenbrock banana valley, start (-1.5, 2)",
                               sgd=1e-3, sgdm=2e-4, adaptive=0.02, adagrad=0.5),
    "beale": _functions2d("2-D Beale function, start (1, 1.5)",
                          sgd=1e-3, sgdm=2e-4, adaptive=0.01, adagrad=0.3),
    "saddle": _functions2d("2-D saddle x^2/2 + y^4/4 - y^2/2, start next to the saddle point",
                           sgd=0.1, sgdm=0.02, adaptive=0.05, adagrad=0.5),
    "rastrigin": _functions2d("2-D Rastrigin, many local minima, start (4.4, -3.6)",
                              sgd=1e-3, sgdm=2e-4, adaptive=0.05, adagrad=0.5),
    "reddi": _online("Reddi et al. 2018 online counterexample: f_t(x) = 1010x every 101st "
                     "step, -10x otherwise, x in [-1, 1]"),
    "reddi-stochastic": _online("Reddi et al. 2018 stochastic counterexample: 1010x with prob. "
                                "0.01, -10x otherwise, x in [-1, 1]"),
    "reddi-theorem1": _online("Reddi et al. 2018 Theorem 1: f_t(x) = 3x every 3rd step, -x "
                              "otherwise, beta1 = 0, beta2 = 1/10"),
    "mnist1d-mlp": TaskInfo("MNIST-1D (make_dataset, offline), the paper's MLP baseline",
                            "mnist1d", _MNIST1D_RATES, requires=("mnist1d",)),
    "mnist1d-cnn": TaskInfo("MNIST-1D (make_dataset, offline), the paper's CNN baseline",
                            "mnist1d", _MNIST1D_RATES, requires=("mnist1d",)),
    "digits-mlp": TaskInfo(
        "scikit-learn load_digits (8x8 digits, shipped), 64-128-10 MLP", "digits",
        lr_table(adaptive=3e-3, sgd=0.1, sgdm=0.01, adagrad=0.03, rmsprop=1e-3),
        requires=("sklearn",)),
    "charlm": TaskInfo(
        "character-level Transformer LM (Flax) on Python standard-library source", "charlm",
        lr_table(adaptive=3e-3, sgd=0.3, sgdm=0.03, adagrad=0.03, rmsprop=1e-3),
        requires=("flax",)),
    "wilson-separable": TaskInfo(
        "Wilson et al. 2017 §3.3: linearly separable least squares on which adaptive methods "
        "generalize worse than SGD", "wilson",
        lr_table(adaptive=1e-2, sgd=0.05, sgdm=0.005, adagrad=0.05, rmsprop=1e-2)),
}


def task_names() -> list[str]:
  """The survey's tasks, in the catalogue's order.

  Example:
    >>> len(task_names()), task_names()[-1]
    (13, 'wilson-separable')
  """
  return list(CATALOGUE)


def check_task_name(name: str) -> TaskInfo:
  """The catalogue's row of task ``name``, or a ``TaskError`` naming the choices (the
  one place that says "unknown task").

  >>> check_task_name("digits-mlp").family
  'digits'
  """
  if name not in CATALOGUE:
    raise TaskError(f"unknown task {name!r}; choose from: {', '.join(CATALOGUE)}, or "
                        "MODULE:FUNCTION, or path/to/file.py:FUNCTION")
  return CATALOGUE[name]


_CACHE: dict[str, Task] = {}


def get_task(name: str) -> Task:
  """The survey's task ``name``, built on first use (loads or generates its data), after
  checking that the optional packages it needs are installed.

  >>> get_task("quadratic").metric
  'loss'
  >>> get_task("quadratic") is get_task("quadratic")
  True
  """
  info = check_task_name(name)
  if name not in _CACHE:
    preflight.require_extras(modules={m: f"the {name} task" for m in info.requires})
    family = importlib.import_module(f"optax_survey.harness.tasks.{info.family}")
    _CACHE[name] = family.build(name, info)
  return _CACHE[name]


def load_task(spec: str) -> Task:
  """A task from a name or a factory: ``"digits-mlp"``, ``"my_module:make_task"`` or
  ``"path/to/file.py:make_task"``.

  The factory is called without arguments and must return a :class:`Task`.  A
  module name is imported as ``python -m`` would (the current folder first).

  Raises:
    TaskError: (one line) unknown name, malformed spec, a module or file that
      cannot be imported, a missing factory, or a factory that fails or returns
      something other than a Task.

  Example: a survey task by name, and the user's factory in a file:

    >>> import os, tempfile
    >>> load_task("quadratic").name
    'quadratic'
    >>> path = os.path.join(tempfile.mkdtemp(), "mine.py")
    >>> with open(path, "w") as f:
    ...   _ = f.write("from optax_survey.harness.tasks import get_task" + chr(10)
    ...               + "def make_task():" + chr(10) + "  return get_task('rosenbrock')")
    >>> load_task(f"{path}:make_task").name
    'rosenbrock'
    >>> load_task(f"{path}:make_tusk")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.TaskError: task '...mine.py:make_tusk': ... has no function ...
  """
  if not is_function_spec(spec):
    return get_task(spec)
  factory = load_function(spec, error=TaskError, what="task")
  func = spec.rpartition(":")[2]
  try:
    task = factory()
  except Exception as cause:  # a bug in the user's factory: keep where it happened
    error = TaskError(f"task {spec!r}: {func}() raised {type(cause).__name__}: "
                      f"{one_line(cause)}")
    error.in_user_code = True
    raise error from cause
  if not isinstance(task, Task):
    raise TaskError(f"task {spec!r}: {func}() must return an optax_survey.harness.Task, got "
                    f"{type(task).__name__}")
  return task
