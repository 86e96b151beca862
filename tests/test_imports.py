"""The package's import graph: no cycles, counting every import a module can run.

The graph is read from the source (no module is imported): module-level and
function-level ``import`` and ``from ... import`` statements, and the
``importlib.import_module`` calls whose name is a constant or an f-string that
starts with ``optax_survey.`` (an f-string links to every module under its
constant prefix).  ``from package import name`` links to ``package.name`` when
that is a module, else to the package's ``__init__``.  Imports under ``if
TYPE_CHECKING:`` never run and are not counted.  A package's ``__init__`` that
Python runs before a submodule is not an edge (every package re-exports its
submodules; what matters is which module asks for which).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "optax_survey"


def module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
  test = getattr(node, "test", None)
  return isinstance(node, ast.If) and (
      (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
      or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _walk(node: ast.AST):
  """Every node below ``node``, except the bodies of ``if TYPE_CHECKING:``."""
  for child in ast.iter_child_nodes(node):
    if _is_type_checking(child):
      for other in child.orelse:  # type: ignore[attr-defined]
        yield other
        yield from _walk(other)
      continue
    yield child
    yield from _walk(child)


def _resolve(base: str, name: str) -> str:
  return f"{base}.{name}" if f"{base}.{name}" in MODULES else base


def imports_of(name: str) -> set[str]:
  """The modules of the package that module ``name`` imports (see the module docstring)."""
  path = MODULES[name]
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  found: set[str] = set()
  for node in _walk(ast.parse(path.read_text(), filename=str(path))):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
      found.update(_resolve(base, alias.name) for alias in node.names)
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr == "import_module" and node.args):
      arg = node.args[0]
      if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        found.add(arg.value)
      elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(
          arg.values[0], ast.Constant):
        prefix = str(arg.values[0].value)
        found.update(m for m in MODULES if m.startswith(prefix) and m != prefix.rstrip("."))
  return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one module (Tarjan)."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  on_stack: set[str] = set()
  found: list[list[str]] = []

  def visit(v: str) -> None:
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
  # the oracle for the test below: a made-up graph with a known cycle, and the parser
  # on source with a function-level import, an importlib f-string and TYPE_CHECKING
  assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
  assert cycles({"a": {"b"}, "b": set()}) == []
  tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n  import x\n"
                   "def f():\n  import y\n")
  names = [n.names[0].name for n in _walk(tree) if isinstance(n, ast.Import)]
  assert names == ["y"]
  assert "optax_survey.harness.tasks.charlm" in GRAPH["optax_survey.harness.tasks.catalogue"]


def test_the_package_has_no_import_cycle():
  assert len(GRAPH) > 40
  assert cycles(GRAPH) == []


@pytest.mark.parametrize("name", ["optax_survey.harness.errors"])
def test_the_error_classes_import_nothing_from_the_package(name):
  assert GRAPH[name] == set()


def test_the_task_families_import_no_catalogue():
  # tasks/catalogue.py loads the family modules; they may not import it back
  for name, deps in GRAPH.items():
    if name.startswith("optax_survey.harness.tasks.") and name.rpartition(".")[2] not in (
        "catalogue", "base", "_nn"):
      assert not deps & {"optax_survey.harness.tasks", "optax_survey.harness.tasks.catalogue"}, (
          name, deps)


def test_no_module_of_the_package_imports_the_command_line():
  entry = {"optax_survey.harness.cli", "optax_survey.__main__"}
  assert [n for n, deps in GRAPH.items() if n not in entry
          and "optax_survey.harness.cli" in deps] == []
  assert "optax_survey.harness.cli" in GRAPH["optax_survey.__main__"]


def test_the_core_library_does_not_import_the_harness():
  core = [n for n in GRAPH if not n.startswith("optax_survey.harness")
          and n != "optax_survey.__main__"]
  assert core and [n for n in core if any(d.startswith("optax_survey.harness")
                                          for d in GRAPH[n])] == []
