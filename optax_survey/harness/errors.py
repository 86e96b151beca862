"""The harness's errors: one family, every message one line.

Every problem the harness finds in its input raises a :class:`HarnessError`
whose message is one line saying what is wrong and what to do.  Each is also
the built-in exception a Python caller expects (``ValueError``, ``TypeError``,
``OSError``, ``ImportError``), and carries the name of the argument it is about
(``argument``), so that the command line can name its own flag instead
(``--lr-grid`` for ``lr_grid``) without checking anything again.

This module imports nothing from the package (as optax keeps its types in
``optax/_src/base.py``), so every other module can import it.

>>> from optax_survey.harness.errors import BadInputError, HarnessError
>>> error = BadInputError("lr_grid: -1.0 is not a positive finite number", argument="lr_grid")
>>> isinstance(error, HarnessError) and isinstance(error, ValueError)
True
>>> error.argument
'lr_grid'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "EXTRA_INSTALL", "LIBRARY_SWITCHES", "PACKAGES", "BadInputError", "BadTypeError",
    "DeviceMemoryError", "HarnessError", "MissingExtraError", "OutputDirError", "TaskError",
    "missing_extra_error", "one_line",
]

EXTRA_INSTALL = 'pip install "optax_survey[survey]"'

# module name -> its name on PyPI (all in the ``survey`` extra)
PACKAGES = {"matplotlib": "matplotlib", "flax": "flax", "mnist1d": "mnist1d",
            "sklearn": "scikit-learn", "tqdm": "tqdm", "tensorboardX": "tensorboardX"}

# modules of an extra other than ``survey``, and how to install them
OTHER_EXTRAS = {"tensorboardX": 'pip install "optax_survey[tensorboard]"'}

# how a library caller turns off what needs an optional package
LIBRARY_SWITCHES = {"plot": "plot=False", "progress": "progress=False", "log": "log_dir=None"}


class HarnessError(Exception):
  """A problem found before any work; the message is one line.

  Attributes:
    argument: the name of the argument (of :func:`~optax_survey.harness.compare`,
      :func:`~optax_survey.harness.survey.run_survey`, ...) the problem is about,
      or None.
    in_user_code: the problem is an exception raised inside the user's own code
      (chained as ``__cause__``): the command line shows its traceback, where it
      happened, before the one-line message.
  """

  in_user_code: bool = False

  def __init__(self, message: str, *, argument: str | None = None):
    super().__init__(message)
    self.argument = argument


class BadInputError(HarnessError, ValueError):
  """An argument the harness cannot use (unknown name, empty list, bad number)."""


class BadTypeError(HarnessError, TypeError):
  """An argument of the wrong type (a count that is not an int, a task that is not a Task)."""


class TaskError(BadInputError):
  """A malformed :class:`~optax_survey.harness.Task`, or a task that cannot be found or
  loaded; the message names the field (``argument`` is ``"task"``)."""

  def __init__(self, message: str, *, argument: str | None = "task"):
    super().__init__(message, argument=argument)


class DeviceMemoryError(HarnessError, MemoryError):
  """One run of a sweep does not fit the memory of a device (found from the compiled
  program, before training); the message gives the bytes it needs and has."""


class OutputDirError(HarnessError, OSError):
  """The output folder cannot be created or written to."""


class MissingExtraError(HarnessError, ImportError):
  """Optional packages the request needs are not installed.

  Attributes:
    needs: ``(module, purposes, switch)`` for each missing module: what it is
      needed for, and the key (``"plot"``, ``"progress"`` or None) of the switch
      that turns that use off.
  """

  def __init__(self, needs: Sequence[tuple[str, Sequence[str], str | None]]):
    self.needs = [(m, list(p), s) for m, p, s in needs]
    super().__init__(self.describe(LIBRARY_SWITCHES))

  def describe(self, switches: Mapping[str, str]) -> str:
    """The message, naming ``switches[key]`` as the way to turn a use off (the command
    line passes its flags, ``{"plot": "--no-plot"}``)."""
    parts = []
    for module, purposes, switch in self.needs:
      off = f", or pass {switches[switch]}" if switch and switches.get(switch) else ""
      parts.append(f"{PACKAGES.get(module, module)} (for {' and '.join(purposes)}{off})")
    verb = "is" if len(parts) == 1 else "are"
    installs = list(dict.fromkeys(OTHER_EXTRAS.get(m, EXTRA_INSTALL) for m, _, _ in self.needs))
    return f"{'; '.join(parts)} {verb} not installed: {' and '.join(installs)}"


def missing_extra_error(module: str, purpose: str) -> MissingExtraError:
  """The error for one missing module, e.g. raised where a task imports it.

  Example:
    >>> print(missing_extra_error("flax", "the charlm task"))
    flax (for the charlm task) is not installed: pip install "optax_survey[survey]"
  """
  return MissingExtraError([(module, [purpose], None)])


def one_line(error: BaseException) -> str:
  """The first line of ``error``'s message (for errors raised by the user's code).

  Example:
    >>> one_line(ValueError("shapes (3,) and (4,) differ" + chr(10) + "full trace ..."))
    'shapes (3,) and (4,) differ'
  """
  text = str(error).strip()
  return text.splitlines()[0] if text else "(no message)"
