"""render/figures.py: the figures take runs, never train, and lay out one panel per
optimizer (the PNG's size follows from the panel grid and the DPI)."""

import matplotlib.image
import numpy as np
import pytest

from optax_survey.harness.render import figures
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import get_task


def run(name, *, lrs=(0.1, 0.3), path=True):
  """Two seeds of a made-up run on the quadratic: x_t = 0.9^t x_0."""
  xs = 0.9 ** np.arange(11.0)[:, None] * np.array([-9.0, 1.5])
  paths = np.broadcast_to(xs, (len(lrs), 2, 11, 2)).astype(np.float32)
  f = 0.05 * paths[..., 0] ** 2 + 2.0 * paths[..., 1] ** 2
  return RunResult(task="quadratic", optimizer=name, lrs=list(lrs), seeds=2, steps=10,
                   eval_steps=np.arange(11), metrics={"loss": f}, loss=f[..., 1:],
                   update_norm=np.ones_like(f[..., 1:]), path=paths if path else None)


@pytest.mark.parametrize("n", [1, 3, 6, 7])
def test_the_grid_figure_has_one_panel_per_optimizer(tmp_path, n):
  names = ["sgd", "sgdm", "nag", "adam", "adamw", "radam", "yogi"][:n]
  path = figures.grid_curves(get_task("quadratic"), [run(o) for o in names],
                             str(tmp_path / "grid.png"))
  height, width = matplotlib.image.imread(path).shape[:2]
  cols, rows = min(n, 3), -(-n // 3)  # at most 3 panels a row: about 1000 px wide
  # the figure's inches (panels of 3.2 x 2.6, readable at 100 %, plus margins) times the DPI
  assert width == round((3.2 * cols + 1.2) * figures.GRID_DPI)
  assert height == round((2.6 * rows + 0.6) * figures.GRID_DPI)


def test_a_trajectory_needs_the_runs_path(tmp_path):
  with pytest.raises(ValueError, match="adam on quadratic was run without track_path"):
    figures.trajectories(get_task("quadratic"), [run("adam", lrs=(0.1,), path=False)],
                         str(tmp_path / "t.png"))


def test_every_optimizer_has_its_own_colour():
  from optax_survey.harness.registry import OPTIMIZERS

  colours = {figures.color(name) for name in OPTIMIZERS}
  assert len(colours) == len(OPTIMIZERS)


def test_a_diverged_run_ends_its_curve_where_it_diverged():
  from optax_survey.harness.render.figures import _first_divergence, _seed_mean

  curves = np.array([[1.0, 0.5, 0.25, 0.125], [1.0, 0.5, np.nan, 0.1]])
  np.testing.assert_allclose(_seed_mean(curves, log=False), [1.0, 0.5, np.nan, np.nan])
  assert _first_divergence(curves) == 2 and _first_divergence(curves[:1]) is None
  # on a log axis the mean over seeds is geometric
  np.testing.assert_allclose(_seed_mean(np.array([[1.0], [100.0]]), log=True), [10.0])
