"""results.py: Entry records, the Comparison, the CSV and JSON writers.
"""

import csv
import io
import json
import math
import pathlib

import numpy as np
import pytest
from blobs import make_task

from optax_survey.harness import compare
from optax_survey.harness.analysis import stats
from optax_survey.harness.results import Entry, entries_of


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


def test_the_csv_gives_back_every_seed_and_the_json_every_field(tmp_path):
  result = compare(make_task(), ["sgd", "adam"], seeds=3, progress=False)
  rows = list(csv.DictReader(io.StringIO(result.to_csv())))
  assert [(r["optimizer"], r["budget"]) for r in rows] == [
      (e.optimizer, e.budget) for e in result.entries]
  for row, e in zip(rows, result.entries, strict=True):
    values = [float(v) for v in row["values"].split()]
    np.testing.assert_allclose(values, e.values, rtol=1e-8)  # 9 significant digits
    assert float(row["mean"]) == pytest.approx(np.mean(values), rel=1e-8)
    assert int(row["rank"]) == e.rank and row["tied_best"] in ("True", "False")
  # the JSON's entries read back as the same records
  data = json.loads(result.to_json(str(tmp_path / "r.json")))
  assert entries_of(data["entries"]) == result.entries
  assert json.loads((tmp_path / "r.json").read_text()) == data


def test_an_entry_is_found_by_name_and_budget():
  result = compare(make_task(steps=10, seeds=2), ["sgd"], progress=False)
  assert result.entry("sgd", "one-shot").lr == 1e-3
  assert result.entry("sgd").budget == "tuned" == result.budget
  with pytest.raises(KeyError, match="no tuned entry for 'adam'"):
    result.entry("adam")
  with pytest.raises(ValueError, match="budget"):
    result.entries_at("tuned-ish")


def test_a_diverged_value_is_nan_in_the_json_and_the_interval():
  e = Entry(task="t", optimizer="sgd", budget="tuned", lr=1.0, seeds=2, first_seed=2, steps=5,
            metric="loss", mode="min", split="test", values=(float("nan"), 1.0),
            ci=stats.bootstrap_ci([float("nan"), 1.0]), diverged=1, selected_on="x")
  back = Entry.from_dict(json.loads(json.dumps(e.to_dict())))
  assert math.isnan(back.values[0]) and math.isnan(back.ci.mean) and back.diverged == 1
