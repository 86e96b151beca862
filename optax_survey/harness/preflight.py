"""The checks made before any training: one function per kind of input.

Each check raises a :class:`~optax_survey.harness.errors.HarnessError` whose
message is one line naming the argument, the bad value and what to do (the
optimizers' names are checked by :func:`~optax_survey.harness.registry.choose_optimizers`,
the tasks' by :mod:`~optax_survey.harness.tasks`).  The library functions call
them once, before any work; the command line only translates their errors.
Nothing here imports an optional package.

>>> check_lr_grid([1e-3, 0.01])
[0.001, 0.01]
>>> check_count("seeds", 0)
Traceback (most recent call last):
...
optax_survey.harness.errors.BadInputError: seeds must be a positive integer, got 0
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from optax_survey.harness.errors import (
  BadInputError,
  BadTypeError,
  MissingExtraError,
  OutputDirError,
)
from optax_survey.harness.layout import check_layout, make_mesh

__all__ = ["BUDGETS", "check_budget", "check_count", "check_lr_grid", "check_output_dir",
           "check_positive", "is_installed", "no_empty_folder_left", "require_extras"]

BUDGETS = ("tuned", "one-shot", "search")


def check_budget(budget: str) -> str:
  """``budget`` if it is "tuned", "one-shot" or "search".

  Example:
    >>> check_budget("one-shot")
    'one-shot'
  """
  if budget not in BUDGETS:
    raise BadInputError(f"budget must be 'tuned', 'one-shot' or 'search', got {budget!r}",
                        argument="budget")
  return budget


def check_count(name: str, value: int | None) -> int | None:
  """``value`` (a positive integer, or None for "the default") as an ``int``.

  Example:
    >>> import numpy as np
    >>> check_count("seeds", np.int64(5)), check_count("seeds", None)
    (5, None)
    >>> check_count("steps", 2.0)
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadTypeError: steps must be a positive integer, got float
  """
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise BadTypeError(f"{name} must be a positive integer, got {type(value).__name__}",
                       argument=name)
  if value < 1:
    raise BadInputError(f"{name} must be a positive integer, got {value}", argument=name)
  return int(value)


def check_execution(mesh: Any = None, layout: Any = "auto", max_parallel_runs: Any = None,
                    device_memory: Any = None) -> dict[str, Any]:
  """Where the runs execute, checked: ``{"mesh": Mesh, "layout": str | int,
  "max_parallel_runs": int | None, "device_memory": int | None}`` (the mesh made by
  :func:`~optax_survey.harness.layout.make_mesh`).

  Example:
    >>> where = check_execution(1, "8")
    >>> where["mesh"].devices.size, where["layout"], where["max_parallel_runs"]
    (1, 8, None)
    >>> check_execution(layout="grid")
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: layout must be one of auto, vmap, loop or ...
  """
  return {"mesh": make_mesh(mesh), "layout": check_layout(layout),
          "max_parallel_runs": check_count("max_parallel_runs", max_parallel_runs),
          "device_memory": check_count("device_memory", device_memory)}


def check_positive(name: str, value: float) -> float:
  """``value`` if it is a finite number > 0.

  Example:
    >>> check_positive("steps_scale", 0.1)
    0.1
  """
  if not 0 < value < math.inf:
    raise BadInputError(f"{name} must be a number > 0, got {value}", argument=name)
  return float(value)


def check_lr_grid(lr_grid: Sequence[float | str] | None) -> list[float] | None:
  """The learning rates of ``lr_grid`` (numbers, or their text) as floats, each positive
  and finite; None stays None.

  Example:
    >>> check_lr_grid(["1e-3", 0.01])
    [0.001, 0.01]
    >>> check_lr_grid(["1e-3", "abc"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: lr_grid: 'abc' is not a number; ...
  """
  if lr_grid is None:
    return None
  if not len(lr_grid):
    raise BadInputError("lr_grid is empty; give positive learning rates, e.g. 1e-3,1e-2",
                        argument="lr_grid")
  grid = []
  for raw in lr_grid:
    try:
      v = float(raw)
    except (TypeError, ValueError):
      raise BadInputError(f"lr_grid: {raw!r} is not a number; give positive numbers, e.g. "
                          "1e-3,1e-2", argument="lr_grid") from None
    if not 0 < v < math.inf:
      raise BadInputError(f"lr_grid: {raw!r} is not a positive finite number",
                          argument="lr_grid")
    grid.append(v)
  return grid


def is_installed(module: str) -> bool:
  """Whether ``import module`` can find the module (without importing it).

  Example:
    >>> is_installed("numpy"), is_installed("no_such_module_xyz")
    (True, False)
  """
  if module in sys.modules:
    return sys.modules[module] is not None  # None: imports of it are blocked
  try:
    return importlib.util.find_spec(module) is not None
  except (ImportError, ValueError):
    return False


def require_extras(*, modules: Mapping[str, str] | None = None, plot: bool = False,
                   progress: bool = False, tensorboard: bool = False,
                   search: bool = False) -> None:
  """Raises :class:`~optax_survey.harness.errors.MissingExtraError` if a package that the
  request needs is missing.

  Args:
    modules: other modules needed, each with what for (a survey task's, e.g.
      ``{"sklearn": "the digits-mlp task"}``: checked where the task is built,
      :func:`~optax_survey.harness.tasks.get_task`).
    plot: PNG figures will be written (matplotlib).
    progress: a progress bar will be shown (tqdm).
    tensorboard: TensorBoard logs will be written (tensorboardX).
    search: the search budget's trials will be drawn (scipy's ``stats.qmc``).

  Example:
    >>> require_extras(modules={"no_such_module_xyz": "the example"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.MissingExtraError: no_such_module_xyz (for the example) is not ...
  """
  needs: dict[str, tuple[list[str], str | None]] = {}
  for module, purpose in (modules or {}).items():
    needs.setdefault(module, ([], None))[0].append(purpose)
  if plot:
    needs.setdefault("matplotlib", ([], "plot"))[0].append("the plots")
  if progress:
    needs.setdefault("tqdm", ([], "progress"))[0].append("the progress bar")
  if tensorboard:
    needs.setdefault("tensorboardX", ([], "log"))[0].append("the TensorBoard logs")
  if search:
    needs.setdefault("scipy", ([], None))[0].append("the search budget's trials "
                                                    "(scipy.stats.qmc)")
  missing = [(m, purposes, switch) for m, (purposes, switch) in needs.items()
             if not is_installed(m)]
  if missing:
    raise MissingExtraError(missing)


def check_output_dir(path: str, *, argument: str = "out") -> str:
  """Creates the folder ``path`` if needed and checks that a file can be written there.

  Called before any training, so that a bad ``out`` fails in a second, not
  after the runs.  Returns ``path``; raises
  :class:`~optax_survey.harness.errors.OutputDirError`.

  Example:
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "results", "run1")
    >>> check_output_dir(out) == out and os.path.isdir(out)
    True
  """
  if not path:
    raise OutputDirError("the output folder is an empty path", argument=argument)
  if os.path.exists(path) and not os.path.isdir(path):
    raise OutputDirError(f"cannot write to {path!r}: it is a file, not a folder",
                         argument=argument)
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise OutputDirError(f"cannot create {path!r}: {parent!r} is a file, not a folder",
                         argument=argument)
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as error:
    reason = error.strerror or type(error).__name__
    raise OutputDirError(f"cannot write to {path!r}: {reason}", argument=argument) from None
  return path


@contextlib.contextmanager
def no_empty_folder_left(*paths: str | None) -> Iterator[None]:
  """A block after which, if it raises, no folder that it created for ``paths`` (each
  path's missing parents too) is left behind empty: a failed call leaves the file
  system as it found it (a folder holding a file, a checkpoint for ``resume``, is
  kept).

  Example:
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "results", "run1")
    >>> try:
    ...   with no_empty_folder_left(out):
    ...     out = check_output_dir(out)  # creates the folder and its parent
    ...     raise RuntimeError("the training failed")
    ... except RuntimeError:
    ...   pass
    >>> os.path.exists(os.path.dirname(out))
    False
  """
  created = [_first_missing(p) for p in paths if p is not None and not os.path.exists(p)]
  try:
    yield
  except BaseException:
    for path in reversed(created):
      _remove_if_empty(path)
    raise


def _first_missing(path: str) -> str:
  """The outermost folder of ``path`` that does not exist (``path`` itself if its
  parent does)."""
  path = os.path.abspath(path)
  while not os.path.exists(os.path.dirname(path)):
    path = os.path.dirname(path)
  return path


def _remove_if_empty(path: str) -> None:
  """Removes the folder ``path`` (and its empty subfolders) if it holds no file."""
  if not os.path.isdir(path):
    return
  for _, _, files in os.walk(path):
    if files:
      return
  shutil.rmtree(path, ignore_errors=True)
