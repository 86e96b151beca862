"""Checks that run before any training: the output folder, the optional packages, the input.

Each failure raises a :class:`HarnessError` whose message is one line that
says what is wrong and what to do; the command line prints it as
``optax-survey: error: ...`` and exits with status 2, library callers get the
exception.  Nothing here imports an optional package.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping

from optax_survey.harness.tasks import task_requirements

__all__ = [
    "EXTRA_INSTALL", "BadInputError", "HarnessError", "MissingExtraError", "OutputDirError",
    "check_output_dir", "is_installed", "missing_extra_error", "require_extras",
]

EXTRA_INSTALL = 'pip install "optax_survey[survey]"'

# module name -> its name on PyPI (all in the ``survey`` extra)
PACKAGES = {"matplotlib": "matplotlib", "flax": "flax", "mnist1d": "mnist1d",
            "sklearn": "scikit-learn", "tqdm": "tqdm"}

# how a library caller turns off what needs an optional package
LIBRARY_SWITCHES = {"plot": "plot=False", "progress": "progress=False"}


class HarnessError(Exception):
  """A problem found before any work (bad input, an unusable output folder, a missing
  package); the message is one line."""


class BadInputError(HarnessError, ValueError):
  """An argument the harness cannot use (unknown name, empty list, bad number)."""


class OutputDirError(HarnessError, OSError):
  """The output folder cannot be created or written to."""


class MissingExtraError(HarnessError, ImportError):
  """An optional package the request needs is not installed."""


def is_installed(module: str) -> bool:
  """Whether ``import module`` can find the module (without importing it)."""
  if module in sys.modules:
    return sys.modules[module] is not None  # None: imports of it are blocked
  try:
    return importlib.util.find_spec(module) is not None
  except (ImportError, ValueError):
    return False


def _describe(module: str, purposes: list[str]) -> str:
  return f"{PACKAGES.get(module, module)} (for {' and '.join(purposes)})"


def missing_extra_error(module: str, purpose: str) -> MissingExtraError:
  """The error for one missing module, e.g. raised where a task imports it."""
  return MissingExtraError(f"{_describe(module, [purpose])} is not installed: {EXTRA_INSTALL}")


def require_extras(
    *,
    tasks: Iterable[str] = (),
    plot: bool = False,
    progress: bool = False,
    switches: Mapping[str, str] | None = None,
) -> None:
  """Raises :class:`MissingExtraError` if a package that the request needs is missing.

  Args:
    tasks: names of the survey's tasks that will be built (charlm needs flax,
      digits-mlp scikit-learn, the MNIST-1D tasks mnist1d).
    plot: PNG figures will be written (matplotlib).
    progress: a progress bar will be shown (tqdm).
    switches: how the caller turns off the plots / the progress bar (keys
      ``"plot"``, ``"progress"``), named in the message; default: the keyword
      arguments ``plot=False`` / ``progress=False``.
  """
  switches = LIBRARY_SWITCHES if switches is None else switches
  needs: dict[str, list[str]] = {}
  for name in tasks:
    for module in task_requirements(name):
      needs.setdefault(module, []).append(f"the {name} task")
  if plot:
    off = f", or pass {switches['plot']}" if switches.get("plot") else ""
    needs.setdefault("matplotlib", []).append(f"the plots{off}")
  if progress:
    off = f", or pass {switches['progress']}" if switches.get("progress") else ""
    needs.setdefault("tqdm", []).append(f"the progress bar{off}")
  missing = [_describe(m, purposes) for m, purposes in needs.items() if not is_installed(m)]
  if missing:
    verb = "is" if len(missing) == 1 else "are"
    raise MissingExtraError(f"{'; '.join(missing)} {verb} not installed: {EXTRA_INSTALL}")


def check_output_dir(path: str) -> str:
  """Creates the folder ``path`` if needed and checks that a file can be written there.

  Call it before any training, so that a bad ``--out`` fails in a second, not
  after the runs.  Returns ``path``; raises :class:`OutputDirError`.
  """
  if not path:
    raise OutputDirError("the output folder is an empty path")
  if os.path.exists(path) and not os.path.isdir(path):
    raise OutputDirError(f"cannot write to {path!r}: it is a file, not a folder")
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise OutputDirError(f"cannot create {path!r}: {parent!r} is a file, not a folder")
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as error:
    reason = error.strerror or type(error).__name__
    raise OutputDirError(f"cannot write to {path!r}: {reason}") from None
  return path
