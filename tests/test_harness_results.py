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


def test_every_run_is_a_tensorboard_run_with_its_curves(tmp_path):
  # read back with TensorBoard's own event reader
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

  result = compare(make_task(steps=12, seeds=2, eval_points=3), ["sgd", "adam"],
                   lr_grid=[1e-2, 1e-1], progress=False, log_dir=str(tmp_path / "tb"))
  runs = sorted(str(p.parent.relative_to(tmp_path / "tb"))
                for p in (tmp_path / "tb").rglob("events.*"))
  # per optimizer: 3 rates (the grid and the default 1e-3) x 2 seeds, and the tuned rate's
  # 2 fresh seeds
  tuned = {n: result.entry(n, "tuned").lr for n in ("sgd", "adam")}
  assert runs == sorted(
      [f"{n}/lr={lr:g}/seed={s}" for n in ("sgd", "adam") for lr in (0.01, 0.1, 0.001)
       for s in (0, 1)] + [f"{n}/tuned lr={tuned[n]:g}/seed={s}" for n in tuned for s in (2, 3)])
  events = EventAccumulator(str(tmp_path / "tb" / "adam" / "lr=0.1" / "seed=1"))
  events.Reload()
  assert set(events.Tags()["scalars"]) == {"train/loss", "train/update_norm", "test/log_loss",
                                           "test/acc", "validation/log_loss", "validation/acc"}
  grid = result.grid["adam"]
  i = grid.lrs.index(0.1)
  loss = events.Scalars("train/loss")
  assert [e.step for e in loss] == list(range(1, 13))
  np.testing.assert_allclose([e.value for e in loss], grid.loss[i, 1], rtol=1e-6)
  val = events.Scalars("validation/log_loss")
  assert [e.step for e in val] == grid.eval_steps.tolist()
  np.testing.assert_allclose([e.value for e in val], grid.val_metrics["log_loss"][i, 1],
                             rtol=1e-6)


def test_the_tensorboard_logs_need_their_extra_and_a_usable_folder(tmp_path, monkeypatch):
  import sys

  from optax_survey.harness import errors

  a_file = tmp_path / "f"
  a_file.write_text("")
  with pytest.raises(errors.OutputDirError) as info:
    compare(make_task(steps=10**9), ["sgd"], log_dir=str(a_file), progress=False)
  assert info.value.argument == "log_dir"
  monkeypatch.setitem(sys.modules, "tensorboardX", None)
  with pytest.raises(errors.MissingExtraError, match=r"tensorboardX \(for the TensorBoard logs, "
                     r"or pass log_dir=None\) is not installed: pip install "
                     r'"optax_survey\[tensorboard\]"'):
    compare(make_task(steps=10**9), ["sgd"], log_dir=str(tmp_path / "tb"), progress=False)
