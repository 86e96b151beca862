"""target_setting.py and tasks/targets.py: a task's validation target as AlgoPerf sets
it, against NumPy on the searched runs' curves, and the stored targets against their
own provenance and the survey's full preset."""

import numpy as np
import pytest
from blobs import make_task

from optax_survey.harness import runs, target_setting
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.survey import PRESETS
from optax_survey.harness.tasks import get_task, targets

NETWORK_TASKS = ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "charlm", "wilson-separable")


def numpy_best(curves, mode):
  """Each seed's best value after step 0, a NaN evaluation skipped (a NumPy loop)."""
  out = []
  for seed in curves:
    trained = [v for v in seed[1:] if np.isfinite(v)]
    out.append((min if mode == "min" else max)(trained) if trained else
               (np.inf if mode == "min" else -np.inf))
  return np.array(out)


def test_the_target_is_the_best_reference_optimizers_median_of_per_seed_bests():
  """Against NumPy on the reruns of the same searches (one study, one seed a trial,
  warm-up + cosine): per optimizer the median over seeds of each seed's best
  validation log-loss; the target the smallest of them."""
  task = make_task()
  reference = ("adamw", "sgdm")
  record = target_setting.set_target(task, steps=40, reference=reference, trials=4, seeds=3)
  medians = {}
  for name in reference:
    found = runs.run_search(task, name, trials=4, studies=1, trial_seeds=1, seeds=3, steps=40,
                            schedule="warmup_cosine")
    best = numpy_best(found.rerun.val_metrics["log_loss"][0], "min")
    np.testing.assert_allclose(record["reference"][name]["best_per_seed"], best)
    medians[name] = float(np.median(best))
    assert record["reference"][name]["lr"] == pytest.approx(found.rerun.lrs[0])
  assert record["target"] == pytest.approx(min(medians.values()))
  assert record["set_by"] == min(medians, key=medians.get)
  assert (record["split"], record["steps"], record["trials"], record["seeds"]) == (
      "validation", 40, 4, 3)


def test_a_target_needs_a_validation_split_and_a_reference():
  with pytest.raises(BadInputError, match="has no validation split"):
    target_setting.set_target(get_task("quadratic"), steps=5)
  with pytest.raises(BadInputError, match="reference must name at least one"):
    target_setting.set_target(make_task(), steps=5, reference=())


@pytest.mark.parametrize("name", NETWORK_TASKS)
def test_each_network_tasks_target_is_the_stored_one_set_at_the_full_presets_steps(name):
  """The task's target is targets.json's, which follows from its own stored per-seed
  values by the rule (NumPy), set by the reference set at the steps the full preset
  trains (a preset change without new targets fails here)."""
  record = targets.target_record(name)
  task = get_task(name)
  assert task.target == record["target"]
  assert (record["metric"], record["mode"], record["split"]) == (task.metric, task.mode,
                                                                 "validation")
  assert record["steps"] == PRESETS["full"].steps.get(name, task.steps)
  assert tuple(record["reference"]) == target_setting.REFERENCE_OPTIMIZERS
  medians = {k: float(np.median(v["best_per_seed"])) for k, v in record["reference"].items()}
  pick = min if task.mode == "min" else max
  assert record["target"] == pytest.approx(pick(medians.values()), rel=1e-12)
  assert len(record["reference"][record["set_by"]]["best_per_seed"]) == record["seeds"] == 20
  # the whole file's command, or the one that set this task again alone (--tasks)
  assert record["command"] in ("python benchmarks/targets.py",
                               f"python benchmarks/targets.py --tasks {name}")
