"""The harness's docstring examples run, and every public function has one.

Each module's examples run as ``python -m pytest --doctest-modules`` would run
them (here inside the suite, with its jax_enable_x64 on; they print the same
with it off, as the command runs).  The command line (``cli``, no public
functions) and the task families (built through the catalogue) are exempt from
the "every public function" rule, not from running their examples.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import optax_survey.harness as harness

MODULES = ["optax_survey.harness"] + sorted(
    m.name for m in pkgutil.walk_packages(harness.__path__, "optax_survey.harness."))


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_run(name):
  module = importlib.import_module(name)
  result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
  assert result.failed == 0, name  # (doctest printed what differs)


@pytest.mark.parametrize("name", [m for m in MODULES if hasattr(
    importlib.import_module(m), "__all__")])
def test_every_public_function_has_an_example(name):
  module = importlib.import_module(name)
  missing = [n for n in module.__all__
             if inspect.isfunction(getattr(module, n))
             and getattr(module, n).__module__ == module.__name__
             and ">>> " not in (inspect.getdoc(getattr(module, n)) or "")]
  assert missing == [], name


def _defines_something(module) -> bool:
  return any((inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == module.__name__
             for v in vars(module).values())


def test_the_modules_with_public_functions_say_which_they_are():
  # every module but the command line and the task families lists its public names
  # (packages that only gather their modules define nothing to list)
  exempt = {"optax_survey.harness.cli"} | {
      m for m in MODULES if m.startswith("optax_survey.harness.tasks.")
      and m.rpartition(".")[2] not in ("base", "catalogue")}
  assert [m for m in MODULES if m not in exempt
          and _defines_something(importlib.import_module(m))
          and not hasattr(importlib.import_module(m), "__all__")] == []
