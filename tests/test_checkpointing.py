"""orbax-checkpoint: save mid-training, restore in a fresh process, continue,
and get the uninterrupted trajectory bit for bit, for every optimizer
(examples/checkpointing.py, two subprocesses)."""

import json
import os
import subprocess
import sys

import optax_survey as osv

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def run_phase(phase, ckpt, *extra):
  env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, os.path.join(EXAMPLES, "checkpointing.py"), "--dir", str(ckpt),
       "--phase", phase, "--steps", "12", "--save-at", "7", *extra],
      env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_restore_in_fresh_process_continues_identically(tmp_path):
  ckpt = tmp_path / "ckpt"
  train = run_phase("train", ckpt)
  # phase train says what it saved where
  for name in osv.OPTIMIZERS:
    assert f"{name:<10} saved params and optimizer state at step 7 to {ckpt / name / '7'}" in train.stdout
  assert f"--dir {ckpt} --phase resume" in train.stdout.splitlines()[-1]
  for name in osv.OPTIMIZERS:
    assert (ckpt / name / "7").is_dir(), name
  out = tmp_path / "resume.json"
  run_phase("resume", ckpt, "--json", str(out))
  results = {r["optimizer"]: r for r in json.loads(out.read_text())}
  assert list(results) == list(osv.OPTIMIZERS)
  for name, r in results.items():
    assert r["restored_step"] == 7, name
    assert r["same_structure"], name      # NamedTuple states come back as such
    assert r["identical"], name           # losses, params and state, bit for bit
    assert 0 < r["final_loss"] < 2 * r["first_loss"], name   # finite, trained
  assert results["lookahead"]["state_leaves"] > results["adam"]["state_leaves"]  # slow weights saved


def run_resume_expecting_error(ckpt, *extra):
  env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
  return subprocess.run(
      [sys.executable, os.path.join(EXAMPLES, "checkpointing.py"), "--dir", str(ckpt),
       "--phase", "resume", *extra], env=env, capture_output=True, text=True, timeout=300)


def test_resume_without_checkpoints_is_a_one_line_error(tmp_path):
  """A missing or empty directory, or one without the chosen optimizer's
  checkpoint: one line on stderr, exit status 2, no orbax traceback."""
  (tmp_path / "empty").mkdir()
  (tmp_path / "partial" / "adam" / "7").mkdir(parents=True)
  (tmp_path / "partial" / "adam_uninterrupted.npz").write_bytes(b"")
  (tmp_path / "a_file").write_text("")
  cases = {
      "missing": ([], "does not exist"),
      "empty": ([], "has no checkpoints"),
      "partial": (["--optimizers", "adam,radam"], "has no checkpoint for radam"),
      "a_file": ([], "is a file, not a directory"),
  }
  for where, (extra, message) in cases.items():
    proc = run_resume_expecting_error(tmp_path / where, *extra)
    assert proc.returncode == 2, (where, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, (where, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], (where, lines)
    assert where == "a_file" or "run --phase train with the same --dir first" in lines[0]
    assert proc.stdout == ""
  assert not (tmp_path / "missing").exists()  # nothing created
