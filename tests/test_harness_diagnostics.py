"""analysis/diagnostics.py: looking inside runs, replayed through the runs' own step.
"""

import pytest

from optax_survey.harness import compare
from optax_survey.harness.analysis import diagnostics
from optax_survey.harness.tasks import get_task


def test_adabound_equals_adam_on_the_quadratic_because_its_bounds_never_bind():
  task = get_task("quadratic")
  result = compare(task, ["adam", "adabound"], progress=False)
  adam, adabound = result.results
  i = adam.lrs.index(task.lr_for("adam"))  # the task's rate, 0.1 (the grid's centre)
  assert diagnostics.same_run(adam, adabound, i)  # the identical rows of the results page
  activity = diagnostics.bound_activity(task, "adabound", task.lr_for("adabound"))
  assert activity.clipped_fraction == 0.0 and activity.min_margin > 0.1
  assert activity.final_lr == 0.45 and activity.steps == 300 and activity.seeds == 5
  # by hand, at the last step: Adam's per-coordinate step size lies inside the bounds
  t, gamma = 300, 1e-3
  assert activity.lower_end == pytest.approx(0.45 * gamma * t / (gamma * t + 1), rel=1e-6)
  assert activity.upper_end == pytest.approx(0.45 * (gamma * t + 1) / (gamma * t), rel=1e-6)
  (note,) = [n for n in result.notes if n.startswith("adabound") and " as adam " in n
             or n.startswith("adabound gives")]
  assert note.startswith("adabound runs as adam on quadratic") and "never bind" in note
  # the detector does see a bound that binds: on Reddi's problem AdaBound sits on η_l
  reddi = get_task("reddi")
  assert diagnostics.bound_activity(reddi, "adabound", 0.5, steps=2000,
                                    seeds=1).clipped_fraction > 0.9
  assert not diagnostics.same_run(*compare(reddi, ["adam", "adabound"], steps=2000, seeds=1,
                                           lr_grid=[0.5], progress=False).results, 0)
