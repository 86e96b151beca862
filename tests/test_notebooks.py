"""The Colab notebooks, executed top to bottom with small settings
(OPTAX_SURVEY_SMALL=1) by nbclient, their outputs checked."""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

COLAB = os.path.join(os.path.dirname(__file__), "..", "colab")


def execute(name, tmp_path, monkeypatch):
  monkeypatch.setenv("OPTAX_SURVEY_SMALL", "1")
  monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
  nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
  NotebookClient(nb, timeout=300, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  text, images = [], 0
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      assert out.output_type != "error", (name, out.get("ename"), out.get("evalue"))
      if out.output_type == "stream":
        text.append(out.text)
      elif "image/png" in out.get("data", {}):
        images += 1
  return nb, "".join(text), images


def final_losses(text):
  return {m.group(1).strip(): float(m.group(2))
          for m in re.finditer(r"^(.+?)\s+final loss (\d+\.\d+)", text, re.M)}


@pytest.mark.parametrize("name", ["quickstart.ipynb", "survey_tour.ipynb", "build_your_own.ipynb"])
def test_notebook_opens_in_colab_and_installs_only_there(name):
  nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
  nbformat.validate(nb)
  assert f"colab.research.google.com/github/OWNER/optax_survey/blob/main/colab/{name}" in nb.cells[0].source
  install = nb.cells[1].source
  assert 'if "google.colab" in sys.modules:' in install and "pip install" in install
  assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit without outputs"


def test_quickstart(tmp_path, monkeypatch):
  _, text, images = execute("quickstart.ipynb", tmp_path, monkeypatch)
  losses = final_losses(text)
  assert set(losses) == {"adabound", "radam", "lookahead(adam)"}
  # from log(3) = 1.10 at the start; 80 steps in small mode
  assert losses["adabound"] < 0.3 and losses["lookahead(adam)"] < 0.3
  assert losses["radam"] < 1.0
  assert images == 2  # the data and the curves


def test_survey_tour(tmp_path, monkeypatch):
  import optax_survey as osv
  _, text, images = execute("survey_tour.ipynb", tmp_path, monkeypatch)
  rows = dict(re.findall(r"^(\w+)\s+(\S+\s+\S+)$", text, re.M))
  table = {n: [float(v) for v in rows[n].split()] for n in osv.OPTIMIZERS}
  # every optimizer went downhill from f_R(-1.2, 1) = 24.2 and f_B(1, 1.5) = 41.3
  for name, (rosen, beale) in table.items():
    assert rosen < 24.2 and beale < 41.3, name
  assert table["adam"][1] < 1e-2 and table["sgdm"][0] < 1.0
  # 18 per-optimizer figures, 2 grids, the curves, the lookahead figure
  assert images == 22
  assert "P.bound_step_size(learning_rate, final_lr, gamma" in text  # the recipes shown


def test_build_your_own(tmp_path, monkeypatch):
  _, text, images = execute("build_your_own.ipynb", tmp_path, monkeypatch)
  assert "my_adam equals osv.adam: True" in text
  losses = final_losses(text)
  assert len(losses) == 8
  assert losses["belief_bound (new)"] < 0.3 and losses["adam"] < 0.3
  assert all(v < 1.0 for v in losses.values()), losses
  assert "ValueError: adaptive_step_size needs a second moment `nu`" in text
  assert images == 1
