"""Lint and type check of the package, as `.ci/run` runs them before the tests
(`ruff check optax_survey`, `mypy optax_survey`; configuration in
pyproject.toml)."""

import os
import subprocess
import sys

from conftest import require

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def tool(name, *args):
  require(name)  # in the test extra; skipped outside CI when missing
  return subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)


def test_ruff_is_clean():
  proc = tool("ruff", "check", "--output-format", "concise", "optax_survey")
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_mypy_is_clean():
  proc = tool("mypy", "optax_survey")
  assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_ci_lints_and_type_checks_before_the_tests():
  ci = open(os.path.join(ROOT, ".ci", "run")).read()
  assert ci.index("ruff check optax_survey") < ci.index("mypy optax_survey") \
      < ci.index("python -m pytest -q")
