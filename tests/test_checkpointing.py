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
  run_phase("train", ckpt)
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
