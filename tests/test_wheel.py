"""The built wheel, installed without the source tree, runs the command line
and every task module from any folder.

``pip wheel`` builds the wheel from a copy of the project's files (so that no
``build/`` folder of an earlier build leaks stale files into it) with the
environment's setuptools (``--no-build-isolation``: no network); ``pip install
--no-deps --target`` installs it into a folder of its own, which is put first on
``PYTHONPATH`` and run from another folder, so the installed copy, not the
checkout (installed editable in the test environment), is what is imported.
The dependencies (jax, optax, ...) come from the test environment.
"""

import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "out", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".hypothesis", "_build", "*.ipynb", "results")


def pip(*args, cwd):
  proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("wheel")
  src, dist, site = tmp / "src", tmp / "dist", tmp / "site"
  shutil.copytree(ROOT, src, ignore=SKIP)
  pip("wheel", ".", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist),
      cwd=src)
  (wheel,) = glob.glob(str(dist / "optax_survey-*.whl"))
  pip("install", "--no-deps", "--no-index", "-q", "--target", str(site), wheel, cwd=tmp)
  elsewhere = tmp / "elsewhere"
  elsewhere.mkdir()
  return wheel, site, elsewhere


def run(installed, *args):
  _, site, elsewhere = installed
  env = dict(os.environ, PYTHONPATH=str(site), JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
  return subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True, text=True,
                        timeout=300)


def test_wheel_contents_and_metadata(installed):
  wheel, site, _ = installed
  names = zipfile.ZipFile(wheel).namelist()
  assert "optax_survey/py.typed" in names
  assert "optax_survey/harness/tasks/charlm.py" in names
  assert "optax_survey/harness/tasks/targets.json" in names  # the tasks' targets
  # the primitives' section modules, a subpackage behind optax_survey/primitives.py
  sections = glob.glob(os.path.join(ROOT, "optax_survey", "_primitives", "*.py"))
  assert len(sections) > 1 and "optax_survey/primitives.py" in names
  assert {f"optax_survey/_primitives/{os.path.basename(s)}" for s in sections} <= set(names)
  assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/", "benchmarks/"))]
  (info,) = glob.glob(str(site / "optax_survey-*.dist-info"))
  entry_points = open(os.path.join(info, "entry_points.txt")).read()
  assert "[console_scripts]" in entry_points
  assert "optax-survey = optax_survey.harness.cli:entry" in entry_points
  metadata = open(os.path.join(info, "METADATA")).read()
  assert "License-Expression: Apache-2.0" in metadata
  assert "Project-URL: Repository, https://github.com/optax-survey/optax_survey" in metadata
  assert "Provides-Extra: notebooks" in metadata
  license_text = open(glob.glob(os.path.join(info, "licenses", "LICENSE"))[0]).read()
  assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_installed_copy_runs_the_command_line_and_imports_every_task(installed):
  _, site, elsewhere = installed
  code = """
import importlib, pkgutil, optax_survey, optax_survey.harness.tasks as tasks
print(optax_survey.__file__)
for m in pkgutil.iter_modules(tasks.__path__):
    importlib.import_module(f"{tasks.__name__}.{m.name}")
    print("imported", m.name)
"""
  proc = run(installed, sys.executable, "-c", code)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[0].startswith(str(site)), lines[0]  # the installed copy, not the checkout
  imported = {line.split()[1] for line in lines[1:]}
  assert {"functions2d", "online", "mnist1d", "digits", "charlm"} <= imported

  out = {}
  for command in ("--help", "list", "tasks"):
    proc = run(installed, sys.executable, "-m", "optax_survey", command)
    assert proc.returncode == 0, (command, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    out[command] = proc.stdout
  assert "compare" in out["--help"] and "adabound" in out["list"]
  for name in ("quadratic", "reddi", "mnist1d-mlp", "digits-mlp", "charlm"):
    assert name in out["tasks"], name

  # the console script that pip wrote from the wheel's entry point, and a tiny
  # comparison run by the installed copy, writing into the current folder
  script = site / "bin" / "optax-survey"
  proc = run(installed, str(script), "compare", "--task", "quadratic", "--optimizers", "sgd,adam",
             "--steps", "5", "--seeds", "1", "--no-plot", "--no-progress", "--out", "cmp")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (elsewhere / "cmp" / "results.csv").is_file()
