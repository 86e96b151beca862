"""The survey harness command (optax-survey / python -m optax_survey) end to end, tiny settings."""

import csv
import json
import os
import subprocess
import sys

import pytest

from optax_survey.harness import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_list_names_every_optimizer_with_defaults_and_paper(capsys):
  assert cli.main(["list"]) == 0
  out = capsys.readouterr().out
  for name in ("sgd", "adabound", "radam", "lookahead", "adadb"):
    assert f"\n{name} " in out
  assert "Luo et al. 2019" in out and "final_lr=0.1" in out and "sync_period=5" in out


def test_tasks_lists_every_task(capsys):
  assert cli.main(["tasks"]) == 0
  out = capsys.readouterr().out
  for name in ("rosenbrock", "reddi", "mnist1d-cnn", "digits-mlp", "charlm"):
    assert name in out


def test_compare_trains_prints_a_table_and_writes_results(tmp_path, capsys):
  code = cli.main(["compare", "--task", "digits-mlp", "--optimizers", "adam,lookahead",
                   "--seeds", "2", "--steps", "60", "--out", str(tmp_path)])
  assert code == 0
  out = capsys.readouterr().out
  assert "final test_acc" in out and "± " in out and "steps to test_acc" in out
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert [r["optimizer"] for r in rows] == ["adam", "lookahead"]
  for r in rows:
    assert r["seeds"] == "2" and r["steps"] == "60"
    assert 0.5 < float(r["final_mean"]) <= 1.0  # 10 classes: chance is 0.1
  data = json.loads((tmp_path / "results.json").read_text())
  run = data["runs"][0]
  assert len(run["metrics"]["test_acc"][0]) == 2  # [lr][seed][eval]
  assert run["eval_steps"][0] == 0 and run["eval_steps"][-1] == 60
  assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_compare_lr_grid_and_trajectories_on_a_2d_task(tmp_path, capsys):
  code = cli.main(["compare", "--task", "quadratic", "--optimizers", "sgd,adam",
                   "--lr-grid", "0.01,0.1", "--steps", "40", "--seeds", "1", "--out", str(tmp_path),
                   "--no-progress"])
  assert code == 0
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert sorted((r["optimizer"], float(r["lr"])) for r in rows) == [
      ("adam", 0.01), ("adam", 0.1), ("sgd", 0.01), ("sgd", 0.1)]
  by = {(r["optimizer"], float(r["lr"])): float(r["final_mean"]) for r in rows}
  assert by[("sgd", 0.1)] < by[("sgd", 0.01)]  # a larger (stable) rate gets further in 40 steps
  assert (tmp_path / "trajectories.png").stat().st_size > 10_000


def test_python_dash_m_runs_the_command(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "optax_survey", "compare", "--task", "reddi-theorem1",
       "--optimizers", "adam,amsgrad", "--steps", "300", "--seeds", "1", "--no-plot",
       "--no-progress", "--out", str(tmp_path)],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr
  assert "amsgrad" in proc.stdout and (tmp_path / "results.csv").exists()


@pytest.mark.parametrize(
    "argv, bad, choice",
    [
        (["compare", "--task", "nosuch"], "'nosuch'", "rosenbrock"),
        (["compare", "--task", "reddi", "--optimizers", "adam,nosuch"], "'nosuch'", "amsgrad"),
        (["compare", "--task", "reddi", "--optimizers", " , "], "--optimizers is empty", "adam"),
        (["compare", "--task", "reddi", "--steps", "-5"], "-5", "positive integer"),
        (["compare", "--task", "reddi", "--seeds", "0"], "0", "positive integer"),
        (["compare", "--task", "reddi", "--lr-grid", "1e-3,abc"], "'abc'", "positive numbers"),
        (["compare", "--task", "reddi", "--lr-grid", "-1"], "'-1'", "positive"),
        (["survey", "--preset", "huge"], "'huge'", "quick"),
        (["frobnicate"], "'frobnicate'", "compare"),
    ],
)
def test_bad_input_is_one_line_naming_the_value_and_choices_exit_2(argv, bad, choice, capsys):
  with pytest.raises(SystemExit) as info:
    cli.main(argv)
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("optax-survey: error:")
  assert bad in err and choice in err


def test_bad_input_exit_status_2_in_a_subprocess():
  proc = subprocess.run([sys.executable, "-m", "optax_survey", "compare", "--task", "mnist2d"],
                        cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert proc.returncode == 2
  assert proc.stderr.strip().count("\n") == 0 and "'mnist2d'" in proc.stderr
  assert "mnist1d-mlp" in proc.stderr


def test_survey_writes_a_results_page(tmp_path, monkeypatch, capsys):
  from optax_survey.harness import survey

  monkeypatch.setitem(survey.PRESETS, "quick", {
      "tasks": ["quadratic", "reddi-theorem1"], "optimizers": ["sgd", "adam", "amsgrad", "lookahead"],
      "lr_study": False})
  code = cli.main(["survey", "--steps-scale", "0.05", "--seeds", "1", "--out", str(tmp_path),
                   "--no-progress"])
  assert code == 0
  page = (tmp_path / "survey.md").read_text()
  assert "| optimizer | quadratic (loss ↓) | reddi-theorem1 (x ↓) | mean rank |" in page
  assert "AMSGrad" in page and "figure1_sgd_vs_sgdm.png" in page
  for png in ("figure1_sgd_vs_sgdm.png", "figure2_lookahead.png", "reddi_adam_vs_amsgrad.png",
              "quadratic_curves.png", "quadratic_trajectories.png", "reddi-theorem1_curves.png"):
    size = (tmp_path / png).stat().st_size
    assert 10_000 < size < 300_000, (png, size)
  summary = json.loads((tmp_path / "survey.json").read_text())
  assert {c["verdict"] for c in summary["claims"]} <= {"confirmed", "partly confirmed", "not confirmed"}
