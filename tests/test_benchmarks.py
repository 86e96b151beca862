"""The GPU benchmark script runs end to end (``--dry-run``: CPU, tiny sizes).

No GPU was lent to the sessions that wrote it, so its CPU dry run is what
keeps it ready: every benchmark it calls runs, and writes its results.
"""

import json
import os
import subprocess

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_gpu_script_dry_run_writes_its_results(tmp_path):
  env = dict(os.environ, OUT_DIR=str(tmp_path))
  proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu.sh"), "--dry-run"],
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert sorted(os.listdir(tmp_path)) == ["env.txt", "log.txt", "step_time.json",
                                          "train_step.json"]
  train = json.loads((tmp_path / "train_step.json").read_text())
  rows = {(r["loss"], r["optimizer"]) for r in train["rows"]}
  assert rows == {(loss, name) for loss in ("elementwise", "linear")
                  for name in ("adam", "diffgrad", "adamod")}
  for row in train["rows"]:
    assert row["seconds"]["osv"] > 0 and "osv.adam (A/A)" in row["over_osv_adam"]
    assert {"loops", "copies", "temp_bytes_per_element"} <= set(row["hlo"]["osv"])
  step = json.loads((tmp_path / "step_time.json").read_text())
  assert {r["optimizer"] for r in step["rows"]} == {"adam", "diffgrad"}
