"""results.py: Entry records, the Comparison, the CSV and JSON writers.
"""

import json
import pathlib

from blobs import make_task

from optax_survey.harness import compare


def test_results_object_writes_csv_json_and_one_panel_per_optimizer(tmp_path):
  result = compare(make_task(), ["sgd", "adam"], budget="one-shot", seeds=2, progress=False)
  assert [e.lr for e in result.entries] == [1e-3, 1e-3]  # published defaults
  csv_text = result.to_csv(str(tmp_path / "r.csv"))
  assert csv_text.splitlines()[0].startswith("task,optimizer,budget,lr")
  assert len(csv_text.splitlines()) == 3
  data = json.loads(result.to_json())
  assert data["budget"] == "one-shot" and len(data["entries"]) == 2
  assert "log_loss" in result.table() and "| rank |" in result.table(markdown=True)
  path = result.plot(str(tmp_path / "curves.png"))
  assert pathlib.Path(path).stat().st_size > 5_000
