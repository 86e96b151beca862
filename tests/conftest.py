"""Test configuration: float64 everywhere, so parity is checked to round-off.

Tests that need float32/bfloat16 build such arrays explicitly; the float32
parity suite turns ``jax_enable_x64`` off around its runs.
"""

import importlib
import os

import jax
import pytest

jax.config.update("jax_enable_x64", True)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(module: str):
  """Imports a package the tests need (a reference implementation).

  Outside CI a missing package skips the module that needs it; with
  ``CI=true`` it fails the run: a parity test that cannot run is a missing
  test, not a pass.
  """
  try:
    return importlib.import_module(module)
  except ImportError as error:
    if IN_CI:
      raise ImportError(
          f"{module} is needed by the tests and CI=true: install it "
          "(README's test command)."
      ) from error
    pytest.skip(f"{module} is not installed: {error}", allow_module_level=True)
