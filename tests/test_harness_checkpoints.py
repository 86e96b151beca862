"""checkpoints.py: nothing lost.  A compare and a survey killed (SIGINT, SIGTERM) after
an optimizer or in the middle of one, resumed, give the table of an uninterrupted run
(the oracle: the same command run once without interruption); what does not match is
refused in one line; a failed call leaves no empty folder behind."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from circumstances import measured

from optax_survey.harness import checkpoints, compare
from optax_survey.harness.errors import BadInputError

COMPARE = ["compare", "--task", "digits-mlp", "--optimizers", "sgdm,adam,lookahead",
           "--lr-grid", "0.003,0.03,0.3", "--seeds", "2", "--steps", "60", "--no-plot",
           "--no-progress", "--layout", "vmap", "--max-parallel-runs", "4"]


def cli(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.Popen([sys.executable, "-m", "optax_survey", *args], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(proc, path, sig, timeout=300):
  """Sends ``sig`` to ``proc`` as soon as ``path`` exists; returns its exit and stderr."""
  deadline = time.monotonic() + timeout
  while not os.path.exists(path):
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.monotonic() < deadline, f"{path} never appeared"
    time.sleep(0.05)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=timeout)
  return proc.returncode, err


def finish(proc):
  out, err = proc.communicate(timeout=600)
  assert proc.returncode == 0, err[-3000:]
  return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  out = tmp_path_factory.mktemp("whole")
  finish(cli(*COMPARE, "--out", str(out)))
  return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("where, sig, extra", [
    ("sgdm.npz", signal.SIGINT, []),  # after the first optimizer
    ("adam.partial/grid/state.npz", signal.SIGTERM, ["--checkpoint-every", "0"]),  # inside
])
def test_a_killed_compare_resumes_to_the_uninterrupted_table(tmp_path, uninterrupted, where,
                                                             sig, extra):
  code, err = kill_when(cli(*COMPARE, "--out", str(tmp_path), *extra),
                        tmp_path / "runs" / where, sig)
  assert code == 130, err[-3000:]
  line = err.strip().splitlines()[-1]
  assert line.startswith(f"optax-survey: {sig.name}: ") and "kept in" in line, err[-3000:]
  assert "sgdm" in line and line.endswith("run the same call again with --resume to continue")
  assert "Traceback" not in err
  assert not (tmp_path / "results.json").exists()
  finish(cli(*COMPARE, "--out", str(tmp_path), "--resume", *extra))
  resumed = json.loads((tmp_path / "results.json").read_text())
  assert measured(resumed) == measured(uninterrupted)


def test_resume_refuses_runs_made_by_another_call_in_one_line(tmp_path, capsys):
  finish(cli(*COMPARE[:COMPARE.index("--optimizers") + 1], "sgdm",
             *COMPARE[COMPARE.index("--optimizers") + 2:], "--out", str(tmp_path)))
  other = [a if a != "60" else "80" for a in COMPARE]  # --steps 80
  proc = cli(*other[:other.index("--optimizers") + 1], "sgdm",
             *other[other.index("--optimizers") + 2:], "--out", str(tmp_path), "--resume")
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 2
  assert err.count("\n") == 1 and "sgdm.npz was made with steps=60, this call has steps=80" in err
  assert "use another out folder or do not resume" in err


def test_a_killed_survey_resumes_to_the_uninterrupted_page(tmp_path):
  survey = ["survey", "--preset", "quick", "--steps-scale", "0.05", "--seeds", "2",
            "--no-progress"]
  whole = tmp_path / "whole"
  finish(cli(*survey, "--out", str(whole)))
  cut = tmp_path / "cut"
  code, err = kill_when(cli(*survey, "--out", str(cut)), cut / "runs" / "reddi" / "sgd.npz",
                        signal.SIGINT)
  assert code == 130 and "--resume" in err, err[-3000:]
  finish(cli(*survey, "--out", str(cut), "--resume"))
  before = json.loads((whole / "survey.json").read_text())
  after = json.loads((cut / "survey.json").read_text())
  assert measured(after) == measured(before)


def test_a_failed_call_leaves_no_empty_folder(tmp_path):
  import jax.numpy as jnp

  from optax_survey.harness import Task

  task = Task(name="log0", init_params=lambda key, seed: jnp.zeros(2),
              loss=lambda w, batch: jnp.sum(jnp.log(w)), held_out=False,
              evaluate=lambda w: {"loss": jnp.sum(w)}, metric="loss", mode="min")
  out = tmp_path / "new" / "results"
  with pytest.raises(ValueError, match="loss is -inf"):
    compare(task, ["sgd"], out=str(out), progress=False)
  assert not (tmp_path / "new").exists()
  with pytest.raises(BadInputError, match="resume continues the runs kept in an output"):
    compare("quadratic", ["sgd"], resume=True, progress=False)


def test_npz_round_trip_and_mismatch():
  tree = {"grid": {"lrs": [0.1, 0.3], "metrics": {"acc": np.arange(6.0).reshape(2, 3)},
                   "path": None, "first": (np.ones(2, np.float32), {"x": np.int32(3)})},
          "selected": 1}
  import tempfile

  path = os.path.join(tempfile.mkdtemp(), "x.npz")
  checkpoints.save_npz(path, {"steps": 60}, tree)
  meta, back = checkpoints.load_npz(path)
  assert meta == {"steps": 60} and back["selected"] == 1 and back["grid"]["path"] is None
  np.testing.assert_array_equal(back["grid"]["metrics"]["acc"], tree["grid"]["metrics"]["acc"])
  assert isinstance(back["grid"]["first"], tuple) and back["grid"]["first"][1] == {"x": 3}
  assert back["grid"]["first"][0].dtype == np.float32
  fp = checkpoints.fingerprint(task="t", task_config={"a": 1}, optimizer="adam", spec="adam",
                               lrs=[0.1], seeds=2, steps=60, budget="tuned")
  assert checkpoints.mismatch(fp, dict(fp, lrs=[0.1, 0.2])) == (
      "lrs=0.1, this call has lrs=0.1,0.2")
  other = checkpoints.fingerprint(task="t", task_config={"a": 2}, optimizer="adam",
                                  spec="adam", lrs=[0.1], seeds=2, steps=60, budget="tuned")
  assert "another configuration of task 't'" in checkpoints.mismatch(fp, other)
