"""The README's main job (examples/train.py) on tiny settings."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import train  # noqa: E402


def test_train_runs_learns_and_writes_outputs(tmp_path):
  results = train.main(
      ["--steps", "80", "--optimizers", "adam,lookahead", "--out", str(tmp_path)]
  )
  assert [r["optimizer"] for r in results] == ["adam", "lookahead"]
  for r in results:
    curve = r["loss_curve"]
    assert len(curve) == 80
    assert curve[-1] < 0.7 * curve[0]  # the spirals start near log(3) = 1.10
  saved = json.loads((tmp_path / "results.json").read_text())
  assert saved["steps"] == 80 and len(saved["results"]) == 2
  assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "-3"], "--steps must be >= 1"),
        (["--optimizers", "adam,nosuch"], "unknown optimizer 'nosuch'"),
        (["--optimizers", ","], "--optimizers is empty"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys, tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    train.main(argv + ["--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
