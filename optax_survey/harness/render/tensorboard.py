"""Every run's curves as TensorBoard scalars, one TensorBoard run per optimizer, rate and
seed, so that a sweep can be watched while it runs (``tensorboard --logdir DIR``).

``compare(..., log_dir=DIR)`` (``optax-survey compare --log-dir DIR``) writes an
optimizer's runs as soon as its program has finished: ``DIR/<label>/lr=<rate>/seed=<s>``
for the grid (and the one-shot rate), ``DIR/<label>/tuned lr=<rate>/seed=<s>`` for the
tuned rate's reruns on fresh seeds.  Each holds ``train/loss`` and
``train/update_norm`` at every step (at most :data:`MAX_POINTS` of them, evenly
spaced, on the long online tasks) and ``validation/<metric>`` and ``test/<metric>``
at every evaluation.  It needs ``tensorboardX`` (no TensorFlow): the
``tensorboard`` extra.
"""

from __future__ import annotations

import os

import numpy as np

from optax_survey.harness.runs import RunResult

__all__ = ["MAX_POINTS", "run_dirs", "write_runs"]

# Steps of the per-step curves written per run (the Reddi tasks run 200 000 steps).
MAX_POINTS = 5000


def _folder(label: str) -> str:
  """``label`` as one path component (a label may be a file path: ``mine.py:make_tx``)."""
  return label.replace(os.sep, "|").replace("/", "|")


def run_dirs(result: RunResult, *, tuned: bool = False) -> list[list[str]]:
  """``[rate][seed]``: the TensorBoard run (a folder under the log folder) of each run.

  Example:
    >>> import numpy as np
    >>> from optax_survey.harness.runs import RunResult
    >>> result = RunResult(task="t", optimizer="adam", lrs=[0.001, 0.01], seeds=2, steps=3,
    ...                    eval_steps=np.arange(2), metrics={}, loss=np.zeros((2, 2, 3)),
    ...                    update_norm=np.zeros((2, 2, 3)), seed_offset=0)
    >>> run_dirs(result)[1]
    ['adam/lr=0.01/seed=0', 'adam/lr=0.01/seed=1']
  """
  kind = "tuned lr" if tuned else "lr"
  return [[f"{_folder(result.optimizer)}/{kind}={lr:g}/seed={result.seed_offset + j}"
           for j in range(result.seeds)] for lr in result.lrs]


def write_runs(log_dir: str, result: RunResult, *, tuned: bool = False) -> list[str]:
  """Writes every run of ``result`` into ``log_dir``; returns their folders.

  Args:
    log_dir: the TensorBoard log folder.
    result: the runs (one optimizer over rates and seeds).
    tuned: the runs are the tuned rate's reruns on fresh seeds.

  Returns:
    The runs' folders, relative to ``log_dir``.

  Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from optax_survey.harness.runs import RunResult
    >>> result = RunResult(task="t", optimizer="sgd", lrs=[0.1], seeds=1, steps=4,
    ...                    eval_steps=np.array([0, 4]), metrics={"acc": np.ones((1, 1, 2))},
    ...                    loss=np.ones((1, 1, 4)), update_norm=np.ones((1, 1, 4)))
    >>> log_dir = tempfile.mkdtemp()
    >>> write_runs(log_dir, result)
    ['sgd/lr=0.1/seed=0']
    >>> os.listdir(os.path.join(log_dir, "sgd", "lr=0.1", "seed=0"))[0].startswith("events")
    True
  """
  from tensorboardX import SummaryWriter

  steps = result.loss.shape[-1]
  idx = np.unique(np.linspace(0, steps - 1, min(steps, MAX_POINTS)).astype(int))
  written = []
  for i, row in enumerate(run_dirs(result, tuned=tuned)):
    for j, folder in enumerate(row):
      with SummaryWriter(os.path.join(log_dir, folder)) as writer:
        for k in idx:
          writer.add_scalar("train/loss", float(result.loss[i, j, k]), int(k) + 1)
          writer.add_scalar("train/update_norm", float(result.update_norm[i, j, k]),
                            int(k) + 1)
        splits = [("test", result.metrics), ("validation", result.val_metrics or {})]
        for split, metrics in splits:
          for name, values in metrics.items():
            for e, step in enumerate(result.eval_steps):
              writer.add_scalar(f"{split}/{name}", float(values[i, j, e]), int(step))
      written.append(folder)
  return written
