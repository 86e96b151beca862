"""The Sphinx site builds with warnings as errors and documents every public name."""

import doctest
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys

import pytest

import optax_survey as osv
from optax_survey import _primitives, aliases, flat, flow, primitives, wrappers

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs")


def documented_names():
  text = open(os.path.join(DOCS, "api.rst")).read()
  return set(re.findall(r"^\.\. auto(?:function|class|data):: (\w+)", text, re.M))


def test_api_reference_lists_every_public_name():
  public = {n for n in dir(osv)
            if not n.startswith("_") and not inspect.ismodule(getattr(osv, n))}
  public |= set(aliases.__all__) | set(primitives.__all__) | set(wrappers.__all__) | set(flow.__all__)
  assert public - documented_names() == set()


PUBLIC_FUNCTIONS = [
    name for name in (*aliases.__all__, *primitives.__all__, *wrappers.__all__,
                      "flatten_params", "flat_loss", "flat_mask")
    if not inspect.isclass(getattr(osv, name))
]
ACCESSORS = {"lookahead_slow_params", "flatten_params", "flat_loss"}  # no update rule
OWN_HELPERS = ACCESSORS | {"flat_mask"}  # no paper or reference code to name


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_functions_document_rule_reference_args_returns_example(name):
  fn = getattr(osv, name)
  doc = inspect.getdoc(fn) or ""
  signature = inspect.signature(fn)
  if signature.parameters:
    assert "\nArgs:\n" in doc, name
    for param in signature.parameters:
      assert re.search(rf"^\s+{param}:", doc, re.M), (name, param)
  assert "\nReturns:\n" in doc, name
  assert re.search(r"^Example:\n\s+>>> ", doc, re.M), name  # a doctest (run below)
  assert signature.return_annotation is not inspect.Signature.empty, name
  if name not in ACCESSORS:
    assert ".. math::" in doc, name  # the update rule
  if name not in OWN_HELPERS:
    assert "Reference" in doc or "reference" in doc, name


CORE_MODULES = [aliases, primitives, wrappers, flow, flat, *(
    importlib.import_module(f"{_primitives.__name__}.{m.name}")
    for m in pkgutil.iter_modules(_primitives.__path__))]


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
  """The ``Example:`` sections of the core modules, as ``python -m pytest
  --doctest-modules`` runs them (here with the suite's jax_enable_x64 on; they
  print the same with it off)."""
  result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
  assert result.failed == 0, module.__name__  # (doctest printed what differs)
  for name in getattr(module, "__all__", ()):  # every public function and class it defines
    obj = getattr(module, name)
    if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
      assert re.search(r"^Example:\n\s+>>> ", inspect.getdoc(obj) or "", re.M), name
  assert result.attempted > 0 or not hasattr(module, "__all__"), module.__name__


def test_all_lists_the_public_names():
  assert set(osv.__all__) >= set(osv.OPTIMIZERS) | set(primitives.__all__) | {
      "lookahead_slow_params", "Flow", "as_flow", "LookaheadState"}
  for name in osv.__all__:
    assert hasattr(osv, name), name


def test_sphinx_builds_with_warnings_as_errors(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", DOCS, str(tmp_path)],
      capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  api = (tmp_path / "api.html").read_text()
  for name in osv.OPTIMIZERS + ("ema_first_moment", "bound_step_size", "Flow", "LookaheadState"):
    assert f'id="optax_survey.{name}"' in api or f'id="optax_survey.flow.{name}"' in api, name
  assert api.count('class="math') >= 10          # the update rules, rendered by MathJax
  assert "Exact vs folded bias correction" in (tmp_path / "design.html").read_text()
  assert "Yogi" in (slips := (tmp_path / "slips.html").read_text()) and "<table" in slips
  assert "jax.distributed.initialize" in (tmp_path / "distributed.html").read_text()
  references = (tmp_path / "references.html").read_text()
  assert "adabelief_pytorch.AdaBelief" in references and "<table" in references
  assert "Exact rules" in references and 'href="slips.html"' in references
  assert 'href="references.html"' in (tmp_path / "index.html").read_text()  # in the toctree


ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_the_repository_stands_on_its_own():
  """No file points to notes outside the repository (the reference
  implementations and exact rules are in docs/references.md)."""
  offenders = []
  for top in ("optax_survey", "docs", "examples", "benchmarks", "tests", "colab",
              "README.md", "CHANGELOG.md", "requirements-reference.txt", "pyproject.toml"):
    path = os.path.join(ROOT, top)
    files = [path] if os.path.isfile(path) else [
        os.path.join(d, f) for d, dirs, fs in os.walk(path)
        if "_build" not in d and "__pycache__" not in d for f in fs]
    for name in files:
      if name.endswith((".py", ".md", ".rst", ".txt", ".toml", ".ipynb", ".cfg")):
        text = open(name, encoding="utf-8").read()
        # (spelt in pieces, so that this file does not match itself)
        for needle in ("ALGORITHMS" + ".md", "shared" + "/seed", "/work/" + "shared",
                       "../" + "shared/"):
          if needle in text:
            offenders.append((os.path.relpath(name, ROOT), needle))
  assert offenders == []
