"""The package as a new user meets it: metadata, licence, typing marker, the
`notebooks` extra, the project's public home in one place (`[project.urls]`)
and every Colab badge and install cell that points there, and the README's
two fresh-machine commands (the second is what `.ci/run` runs)."""

import glob
import json
import os
import sys
import re
import tomllib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "colab", "*.ipynb")))


def pyproject():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)


def read(*path):
  return open(os.path.join(ROOT, *path), encoding="utf-8").read()


def home():
  return pyproject()["project"]["urls"]["Repository"]


def bash_blocks(text):
  return re.findall(r"```bash\n(.*?)```", text, re.S)


def readme_section(title):
  text = read("README.md")
  start = text.index(f"\n## {title}\n")
  end = text.find("\n## ", start + 1)
  return text[start:end if end > 0 else None]


def test_license_is_the_apache_2_text_the_metadata_names():
  project = pyproject()["project"]
  assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
  text = read("LICENSE")
  assert text.strip().startswith("Apache License\n                           Version 2.0, January 2004")
  assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
  assert "END OF TERMS AND CONDITIONS" in text
  assert len(text.splitlines()) > 190  # the whole text, not a notice


def test_metadata_authors_classifiers_urls_typed():
  config = pyproject()
  project = config["project"]
  assert project["authors"] == [{"name": "optax_survey developers"}]
  classifiers = set(project["classifiers"])
  assert {"Programming Language :: Python :: 3.11", "Typing :: Typed",
          "Intended Audience :: Science/Research",
          "Topic :: Scientific/Engineering :: Artificial Intelligence"} <= classifiers
  assert not [c for c in classifiers if c.startswith("License ::")]  # license is an SPDX expression
  urls = project["urls"]
  assert set(urls) == {"Homepage", "Repository", "Documentation", "Changelog", "Issues"}
  assert home() == "https://github.com/optax-survey/optax_survey" == urls["Homepage"]
  assert all(u.startswith(home()) for u in urls.values())
  assert urls["Changelog"].endswith("/CHANGELOG.md") and os.path.isfile(os.path.join(ROOT, "CHANGELOG.md"))
  assert "## Unreleased" in read("CHANGELOG.md")
  assert os.path.isfile(os.path.join(ROOT, "optax_survey", "py.typed"))
  assert config["tool"]["setuptools"]["package-data"]["optax_survey"] == [
      "py.typed", "harness/tasks/targets.json"]  # the tasks' stored targets
  assert project["scripts"] == {"optax-survey": "optax_survey.harness.cli:entry"}


def _names(requirements):
  return {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_notebooks_extra_installs_what_the_notebooks_and_jupyter_lab_need():
  extras = pyproject()["project"]["optional-dependencies"]
  notebooks = _names(extras["notebooks"])
  assert _names(extras["survey"]) <= notebooks  # the install cell's extra
  assert {"jupyterlab", "ipykernel"} <= notebooks
  imported = set()
  for path in NOTEBOOKS:
    for cell in json.load(open(path))["cells"]:
      if cell["cell_type"] == "code":
        imported |= set(re.findall(r"^\s*(?:import|from) (\w+)", "".join(cell["source"]), re.M))
  third_party = {m for m in imported if m not in sys.stdlib_module_names} - {
      "optax_survey", "jax", "optax", "numpy"}
  assert third_party <= notebooks, third_party - notebooks  # flax, matplotlib


def test_every_badge_and_install_cell_points_to_project_urls():
  """README's and each notebook's Colab badge, and each notebook's install
  cell, name the repository of `[project.urls]`."""
  url = home()
  slug = url.removeprefix("https://github.com/")
  colab = f"https://colab.research.google.com/github/{slug}/blob/main/colab/"
  readme = read("README.md")
  readme_badges = re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme)
  names = sorted(os.path.basename(p) for p in NOTEBOOKS)
  assert len(names) == 3
  assert sorted(readme_badges) == sorted(colab + n for n in names)  # one per notebook, all right
  for path, name in zip(NOTEBOOKS, names):
    cells = json.load(open(path))["cells"]
    badge, install = "".join(cells[0]["source"]), "".join(cells[1]["source"])
    assert re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", badge) == [colab + name]
    assert 'if importlib.util.find_spec("optax_survey") is None:' in install
    pip_lines = [line.strip() for line in install.splitlines()
                 if "pip install" in line and not line.strip().startswith("#")]
    assert pip_lines == [f'%pip install "optax_survey[survey] @ git+{url}"'], pip_lines
    assert "survey" in pyproject()["project"]["optional-dependencies"]


def test_no_placeholder_owner_left():
  offenders = []
  for path in [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "pyproject.toml"),
               *NOTEBOOKS, *glob.glob(os.path.join(ROOT, "docs", "*.*")),
               *glob.glob(os.path.join(ROOT, "optax_survey", "**", "*.py"), recursive=True),
               *glob.glob(os.path.join(ROOT, "examples", "*.py"))]:
    if re.search(r"\bOWNER\b", open(path, encoding="utf-8").read()):
      offenders.append(os.path.relpath(path, ROOT))
  assert offenders == []


def test_readme_fresh_machine_commands_and_ci():
  """Two commands, two virtual environments (the second fresh); `.ci/run`
  runs the second exactly; the quick survey's time is stated once."""
  section = readme_section("Two commands for a fresh machine")
  main, tests, cpu_torch = (b.strip() for b in bash_blocks(section))
  assert main.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
  assert main.endswith("&& optax-survey")
  assert tests.startswith("python3 -m venv .venv-test && . .venv-test/bin/activate && ")
  assert ".venv/" not in tests and " .venv " not in tests
  # lint and type check before the tests
  assert tests.index("ruff check optax_survey") < tests.index("mypy optax_survey") \
      < tests.index("python -m pytest -q")
  ci = read(".ci", "run")
  assert tests in ci.splitlines()  # .ci/run runs exactly the README's test command
  # the CPU wheel of torch, into the same environment, before the test command
  assert cpu_torch.startswith("python3 -m venv .venv-test && . .venv-test/bin/activate && ")
  assert cpu_torch.endswith("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
  readme = read("README.md")
  assert len(re.findall(r"quick\s+survey\s+takes", readme)) == 1  # one statement of its time
  assert "under a minute" not in readme


def test_precommit_runs_ruff_and_mypy_and_no_formatter():
  config = read(".pre-commit-config.yaml")
  hooks = re.findall(r"^\s+- id: (\S+)", config, re.M)
  assert hooks == ["ruff", "mypy"]
  assert "ruff check" in config and "entry: mypy optax_survey" in config
  assert "ruff-format" not in config and "ruff format" not in config
  tool = pyproject()["tool"]
  assert set(tool["ruff"]["lint"]["select"]) >= {"E", "F", "W", "I", "B", "UP"}
  assert tool["ruff"]["indent-width"] == 2
  test_extra = _names(pyproject()["project"]["optional-dependencies"]["test"])
  assert {"ruff", "mypy"} <= test_extra
