"""The Colab notebooks, executed top to bottom with small settings
(OPTAX_SURVEY_SMALL=1) by nbclient, their outputs checked.

The notebooks are committed with the outputs of such a run, so that GitHub
shows the pictures.  To refresh them, from the repository root:

    python tests/test_notebooks.py            # executes colab/*.ipynb in place
"""

import os
import re
import sys
import tomllib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
COLAB = os.path.join(ROOT, "colab")
NOTEBOOKS = ["quickstart.ipynb", "survey_tour.ipynb", "build_your_own.ipynb"]
IMAGES = {"quickstart.ipynb": 2, "survey_tour.ipynb": 25, "build_your_own.ipynb": 1}


def run(nb, cwd):
  """Executes ``nb`` in place with the small settings, the kernel started in ``cwd``."""
  env = {"OPTAX_SURVEY_SMALL": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  try:
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
  finally:
    for k, v in saved.items():
      if v is None:
        os.environ.pop(k, None)
      else:
        os.environ[k] = v


def outputs(name, nb):
  text, images = [], 0
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      assert out.output_type != "error", (name, out.get("ename"), out.get("evalue"))
      if out.output_type == "stream":
        text.append(out.text)
      elif "image/png" in out.get("data", {}):
        images += 1
  return "".join(text), images


def execute(name, tmp_path):
  nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
  run(nb, tmp_path)
  text, images = outputs(name, nb)
  return nb, text, images


def project_home():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)["project"]["urls"]["Repository"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_opens_in_colab_and_installs_only_where_missing(name):
  nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
  nbformat.validate(nb)
  home = project_home()  # https://github.com/optax-survey/optax_survey
  slug = home.removeprefix("https://github.com/")
  assert f"colab.research.google.com/github/{slug}/blob/main/colab/{name}" in nb.cells[0].source
  install = nb.cells[1].source
  assert 'if importlib.util.find_spec("optax_survey") is None:' in install
  assert f'%pip install "optax_survey[survey] @ git+{home}"' in install


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_with_its_outputs(name):
  """Executed top to bottom (small settings), without errors, the pictures kept."""
  nb = nbformat.read(os.path.join(COLAB, name), as_version=4)
  code = [c for c in nb.cells if c.cell_type == "code"]
  assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run top to bottom"
  text, images = outputs(name, nb)
  assert images == IMAGES[name]
  assert "/work/" not in text and "Traceback" not in text
  assert os.path.getsize(os.path.join(COLAB, name)) < 2_000_000  # GitHub renders it


def final_losses(text):
  return {m.group(1).strip(): float(m.group(2))
          for m in re.finditer(r"^(.+?)\s+final loss (\d+\.\d+)", text, re.M)}


def test_quickstart(tmp_path):
  _, text, images = execute("quickstart.ipynb", tmp_path)
  losses = final_losses(text)
  assert set(losses) == {"adabound", "radam", "lookahead(adam)"}
  # from log(3) = 1.10 at the start; 80 steps in small mode
  assert losses["adabound"] < 0.3 and losses["lookahead(adam)"] < 0.3
  assert losses["radam"] < 1.0
  assert images == 2  # the data and the curves


def test_survey_tour(tmp_path):
  import optax_survey as osv
  _, text, images = execute("survey_tour.ipynb", tmp_path)
  rows = dict(re.findall(r"^(\w+)\s+(\S+\s+\S+)$", text, re.M))
  table = {n: [float(v) for v in rows[n].split()] for n in osv.OPTIMIZERS}
  # every optimizer went downhill from f_R(-1.2, 1) = 24.2 and f_B(1, 1.5) = 41.3
  for name, (rosen, beale) in table.items():
    assert rosen < 24.2 and beale < 41.3, name
  assert table["adam"][1] < 1e-2 and table["sgdm"][0] < 1.0
  # 18 per-optimizer figures, 2 grids, the curves, the lookahead figure, the comparison,
  # the loss surface's slices and lines
  assert images == 25
  # your own task: tuned on validation, both budgets, intervals
  assert "tuned: best of the learning-rate grid on validation" in text
  assert "one-shot: published default learning rate" in text and "[95% bootstrap CI]" in text
  assert "P.bound_step_size(learning_rate, final_lr, gamma" in text  # the recipes shown
  # the loss surface: a table of the three solutions and the barriers between them
  assert "lambda_max" in text and "sgdm -> adam:" in text and "adam -> adagrad:" in text


def test_build_your_own(tmp_path):
  _, text, images = execute("build_your_own.ipynb", tmp_path)
  assert "my_adam equals osv.adam: True" in text
  losses = final_losses(text)
  assert len(losses) == 8
  assert losses["belief_bound (new)"] < 0.3 and losses["adam"] < 0.3
  assert all(v < 1.0 for v in losses.values()), losses
  assert "ValueError: adaptive_step_size needs a second moment `nu`" in text
  assert images == 1


def shrink_images(nb):
  """Each PNG as a 256-colour palette image: the same picture in a quarter of
  the bytes (survey_tour.ipynb, 22 figures: 6.9 MB -> 1.2 MB)."""
  import base64
  import io

  from PIL import Image

  for cell in nb.cells:
    for out in cell.get("outputs", []):
      data = out.get("data", {})
      if "image/png" in data:
        image = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
        buf = io.BytesIO()
        image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE,
                                      dither=Image.Dither.NONE).save(buf, "PNG", optimize=True)
        data["image/png"] = base64.b64encode(buf.getvalue()).decode("ascii")


if __name__ == "__main__":
  for name in sys.argv[1:] or NOTEBOOKS:
    path = os.path.join(COLAB, name)
    nb = nbformat.read(path, as_version=4)
    run(nb, ROOT)
    outputs(name, nb)  # no errors
    shrink_images(nb)
    nbformat.write(nb, path)
    print("executed", path, f"{os.path.getsize(path) / 1e6:.2f} MB")
