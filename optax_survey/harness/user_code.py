"""The user's own code, named on the command line or in a call: ``MODULE:FUNCTION`` and
``path/to/file.py:FUNCTION`` (a task factory, an optimizer factory), found once here.

A module name is imported as ``python -m`` would (the current folder first); a
file is loaded under a name of its own.  What goes wrong is one line, raised as
the caller's error class (``TaskError`` for ``--task``, ``BadInputError`` for
``--optimizers``), naming the spec.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "mine.py")
>>> with open(path, "w") as f:
...   _ = f.write("def answer():" + chr(10) + "  return 42")
>>> load_function(f"{path}:answer")()
42
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

from optax_survey.harness.errors import BadInputError, HarnessError, one_line

__all__ = ["is_function_spec", "load_function"]


def is_function_spec(spec: str) -> bool:
  """Whether ``spec`` names a function of the user's code (``"where:function"``).

  Example:
    >>> is_function_spec("my_module:make_task"), is_function_spec("digits-mlp")
    (True, False)
  """
  return ":" in spec


def load_function(spec: str, *, error: type[HarnessError] = BadInputError,
                  what: str = "function", argument: str | None = None) -> Callable[..., Any]:
  """The function ``spec`` names: ``"MODULE:FUNCTION"`` or ``"path/to/file.py:FUNCTION"``.

  Args:
    spec: where the function is and its name.
    error: the error class raised (its message starts with ``{what} {spec!r}:``).
    what: what the spec names, for the message ("task", "optimizer").
    argument: the argument the spec was given as (the error's ``argument``; default:
      the error class's).

  Returns:
    The function (not called).

  Example:
    >>> load_function("math:sqrt")(16.0)
    4.0
    >>> load_function("math:nosuch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: function 'math:nosuch': 'math' has no function ...
  """
  def fail(message: str) -> HarnessError:
    return error(message, argument=argument) if argument else error(message)

  where, _, func = spec.rpartition(":")
  if not where or not func.isidentifier():
    raise fail(f"{what} {spec!r}: give MODULE:FUNCTION or path/to/file.py:FUNCTION")
  try:
    if where.endswith(".py") or os.sep in where or "/" in where:
      if not os.path.isfile(where):
        raise fail(f"{what} {spec!r}: no such file {where!r}")
      name = "optax_survey_user_" + os.path.splitext(os.path.basename(where))[0]
      module_spec = importlib.util.spec_from_file_location(name, where)
      assert module_spec is not None and module_spec.loader is not None
      module = importlib.util.module_from_spec(module_spec)
      sys.modules[name] = module
      module_spec.loader.exec_module(module)
    else:
      if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
      module = importlib.import_module(where)
  except HarnessError:
    raise
  except Exception as cause:  # the user's module: say what failed, in one line
    raise fail(f"{what} {spec!r}: cannot import {where!r}: {type(cause).__name__}: "
                f"{one_line(cause)}") from cause
  function = getattr(module, func, None)
  if not callable(function):
    raise fail(f"{what} {spec!r}: {where!r} has no function {func!r}")
  return function
