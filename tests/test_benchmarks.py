"""The benchmarks' own checks: the GPU script end to end (``--dry-run``: CPU,
tiny sizes), and the compiled training steps the step-cost work changed.

No GPU was lent to the sessions that wrote ``gpu.sh``, so its CPU dry run is
what keeps it ready: every benchmark it calls runs, and writes its results.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_gpu_script_dry_run_writes_its_results(tmp_path):
  env = dict(os.environ, OUT_DIR=str(tmp_path))
  proc = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu.sh"), "--dry-run"],
                        env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert sorted(os.listdir(tmp_path)) == [
      "env.txt", "harness_scaling.json", "harness_scaling.md", "harness_scaling.png",
      "log.txt", "paper", "step_time.json", "train_step.json"]
  # the paper preset, tiny: its note before training, its runs over 2 forced host devices
  log = (tmp_path / "log.txt").read_text()
  assert "The paper preset is meant for a GPU: on a 2-core x86_64 CPU it would take" in log
  assert "JAX runs on cpu here (2 device(s))" in log
  paper = json.loads((tmp_path / "paper" / "survey.json").read_text())
  from optax_survey.harness.survey import PRESETS
  assert paper["preset"] == "paper" and paper["optimizers"] == ["sgdm", "adam"]
  assert {name: record["steps"] for name, record in paper["tasks"].items()} == {
      name: round(steps / 100) for name, steps in PRESETS["paper"].steps.items()}
  assert (tmp_path / "paper" / "survey.md").read_text().startswith(
      "# The survey in numbers (paper preset)")
  scaling = json.loads((tmp_path / "harness_scaling.json").read_text())
  assert [r["runs"] for r in scaling["rows"]] == [1, 4]
  for row in scaling["rows"]:
    assert min(row["loop"], row["vmap"], row["scan"], row["harness"]) > 0
  assert scaling["compare"]["seconds"] > 0 and "adam" in scaling["compare"]["layouts"]
  train = json.loads((tmp_path / "train_step.json").read_text())
  rows = {(r["loss"], r["optimizer"]) for r in train["rows"]}
  assert rows == {(loss, name) for loss in ("elementwise", "linear")
                  for name in ("adam", "diffgrad", "adamod")}
  for row in train["rows"]:
    assert row["seconds"]["osv"] > 0 and "osv.adam (A/A)" in row["over_osv_adam"]
    assert {"loops", "copies", "temp_bytes_per_element"} <= set(row["hlo"]["osv"])
  step = json.loads((tmp_path / "step_time.json").read_text())
  assert {r["optimizer"] for r in step["rows"]} == {"adam", "diffgrad"}


def test_preset_cost_rechecks_its_stored_costs_against_the_survey_alone(tmp_path):
  """``--against-survey`` measures nothing: it rewrites the check of the stored costs
  against the committed full survey, and only that."""
  stored = json.loads(open(os.path.join(ROOT, "benchmarks", "results",
                                        "preset_cost.json")).read())
  copy = tmp_path / "cost.json"
  copy.write_text(json.dumps({**stored, "against_full_survey": {}}))
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "preset_cost.py"),
                         "--against-survey", "--out", str(copy)],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert json.loads(copy.read_text()) == stored


# The step-cost work (benchmarks/results/perf.md, section 6) removed XLA copies
# of the donated previous-gradient buffers (diffGrad 2, AdaDB 6) and AdaMod's
# step-size temporary.  The compiled full training step on a small leaf shows
# whether they are back: these counts come from the optimised HLO, not timing.
# (loss, optimizer) -> (copies, parameter-sized temporaries) after the work
# (the linear loss keeps its gradient, a matrix product, in one of them);
# before it: diffgrad (2, 2), adadb (6, 4), adamod (0, 1) on the linear loss.
EXPECTED_HLO = {
    ("elementwise", "diffgrad"): (0, 1), ("linear", "diffgrad"): (0, 2),
    ("elementwise", "adadb"): (0, 2), ("linear", "adadb"): (0, 1),
    ("elementwise", "adamod"): (0, 0), ("linear", "adamod"): (0, 1),
    ("elementwise", "adam"): (0, 0), ("linear", "adam"): (0, 1),
}


def _param_sized_temps(stats) -> int:
  # Temporaries smaller than the leaf (the linear loss's residual) are not
  # counted: 4 bytes per element is one float32 buffer the size of the leaf.
  return int(stats["temp_bytes_per_element"] // 4)


def test_training_step_hlo_keeps_no_copies():
  import sys
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  import _before
  import common
  import train_step

  old_shape = train_step.LARGE
  train_step.LARGE = (256, 512)
  try:
    found, before = {}, {}
    for loss, name in EXPECTED_HLO:
      c = train_step.TrainContender("osv", common.SPEC[name].make(), "large", loss)
      stats = train_step.hlo_stats(c.compiled, 256 * 512)
      found[loss, name] = (stats["copies"], _param_sized_temps(stats))
      if name in _before.BEFORE and loss == "linear":
        b = train_step.TrainContender("before", _before.BEFORE[name](), "large", loss)
        s = train_step.hlo_stats(b.compiled, 256 * 512)
        before[name] = (s["copies"], _param_sized_temps(s))
  finally:
    train_step.LARGE = old_shape
  assert found == EXPECTED_HLO
  # The frozen implementations still show what was removed (the benchmark's
  # "before" column stays meaningful).
  assert before == {"diffgrad": (2, 2), "adadb": (6, 4), "adamod": (0, 1)}


def test_adadb_ring_benchmark_times_the_same_maths_and_shows_why_it_was_not_kept():
  """``benchmarks/adadb_ring.py``: both ring layouts give osv.adadb's parameters bit for
  bit (the benchmark compares like with like), and the stacked ring's history is not
  parameter-shaped, yet ``optax.tree_map_params`` (how a user shards a state like the
  parameters) hands it to the function meant for parameter-shaped leaves: a parameter's
  PartitionSpec would land on the wrong axes.  The reason docs/performance.md gives for
  not keeping it."""
  import sys
  sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
  import adadb_ring
  import jax.numpy as jnp
  import optax

  import optax_survey as osv

  assert adadb_ring.check_same_maths() == 0.0
  params = {"w": jnp.ones((4, 3))}

  def shapes_seen(tx):
    seen = []
    optax.tree_map_params(tx, lambda p: seen.append(p.shape) or p, tx.init(params))
    return seen

  assert shapes_seen(osv.adadb(1e-3)) == [(4, 3)] * 5  # mu, nu, three stored gradients
  ring = shapes_seen(adadb_ring.adadb_with(adadb_ring.ring_stacked_friction()))
  assert sorted(ring) == [(3, 4, 3), (4, 3), (4, 3)]  # the history is not the param's shape


def test_halving_benchmark_quick_compares_the_searches_and_writes_its_table(tmp_path):
  """``benchmarks/halving.py --quick``: the full and the pruned search of Adam on
  wilson-separable (100 steps, rungs at 10, 30 and 100; 6 trials x 2 studies), the trials'
  run-steps counted by hand, a verdict per study, the JSON and the Markdown written."""
  import sys

  out = tmp_path / "halving.json"
  env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT), JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "halving.py"),
                         "--quick", "--out", str(out)], env=env, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
  row = json.loads(out.read_text())["rows"][0]
  per_study = 6 * 10 + 2 * (30 - 10) + 1 * (100 - 30)  # 6 to step 10, 2 to 30, 1 to 100
  assert row["run_steps"] == {"full": 2 * 6 * 100, "halving": 2 * per_study,
                              "unpruned": 1200, "rerun": 2 * 2 * 100}
  assert [s["verdict"] in ("same", "within", "worse", "better") for s in row["studies"]] == [
      True, True]
  assert min(row["wall_s"].values()) > 0
  text = (tmp_path / "halving.md").read_text()
  assert "| wilson-separable | adam | 100 | 10, 30, 100 |" in text and "72% saved" in text
