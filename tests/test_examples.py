"""The examples (examples/train.py, examples/flat_params.py) on tiny settings."""

import json
import os
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import flat_params  # noqa: E402
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


def test_flat_params_learns_and_follows_the_tree_run(capsys):
  """examples/flat_params.py: tree and flat runs of Adam, 6 chunks of 10 steps."""
  out = flat_params.main(["--steps", "60", "--chunk", "10"])
  tree, flat = out["losses"]["tree"], out["losses"]["flat"]
  assert len(tree) == len(flat) == 60
  assert tree[-1] < 0.6 * tree[0] and flat[-1] < 0.6 * flat[0]
  # the same trajectory, to float32 round-off
  np.testing.assert_allclose(flat, tree, rtol=1e-5)
  assert len(out["param_diffs"]) == 6 and max(out["param_diffs"]) < 1e-5
  for a, b in zip(jax.tree.leaves(out["tree_params"]), jax.tree.leaves(out["flat_params"])):
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert all(ms > 0 for ms in out["ms_per_step"].values())
  printed = capsys.readouterr().out
  assert "66 leaves" in printed and "flat speed-up x" in printed


def test_flat_params_bad_arguments_exit_2(capsys):
  with pytest.raises(SystemExit) as exit_info:
    flat_params.main(["--depth", "0"])
  assert exit_info.value.code == 2
  assert "--depth must be >= 1" in capsys.readouterr().err


def test_compare_your_task_tunes_a_flax_nnx_model(capsys):
  """examples/compare_your_task.py: a Flax NNX model in a Task, tuned on validation."""
  import compare_your_task

  result = compare_your_task.main(["--optimizers", "sgdm,adam", "--steps", "150",
                                   "--seeds", "2"])
  tuned = {e.optimizer: e for e in result.entries_at("tuned")}
  assert tuned["adam"].ci.mean > 0.6  # 3 classes: chance is 1/3
  for name, entry in tuned.items():
    assert entry.lr in result.grid[name].lrs and entry.first_seed == 2
  assert "spirals-nnx" in capsys.readouterr().out
  with pytest.raises(SystemExit) as info:
    compare_your_task.main(["--optimizers", "adam,nosuch", "--steps", "1"])
  assert info.value.code == 2
