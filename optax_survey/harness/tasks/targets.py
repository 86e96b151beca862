"""The survey's validation targets (``Task.target``) for its network tasks, read from
``targets.json`` beside this module, each stored with its provenance: the reference
optimizers' searched configurations, their per-seed best values and the command that
set them (:func:`~optax_survey.harness.target_setting.set_target`, run by
``benchmarks/targets.py``).

The test functions keep their closed-form targets (a value near the known minimum:
:data:`~optax_survey.harness.tasks.functions2d.SPECS`, Reddi et al.'s ``x <= -0.9``).

>>> record = target_record("digits-mlp")
>>> record["target"] == target_of("digits-mlp"), record["split"], record["rule"][:24]
(True, 'validation', 'best over the reference ')
"""

from __future__ import annotations

import functools
import json
import math
import os

__all__ = ["PATH", "target_of", "target_record", "targets"]

PATH = os.path.join(os.path.dirname(__file__), "targets.json")


@functools.cache
def targets() -> dict:
  """``targets.json``: ``{task name: record}`` (empty if the file is missing).

  >>> sorted(targets())
  ['charlm', 'digits-mlp', 'mnist1d-cnn', 'mnist1d-mlp', 'wilson-separable']
  """
  if not os.path.exists(PATH):
    return {}
  with open(PATH, encoding="utf-8") as f:
    return json.load(f)


def target_record(name: str) -> dict:
  """The stored record of task ``name``'s target (a ``KeyError`` if none is stored).

  >>> record = target_record("charlm")
  >>> record["metric"], record["mode"], sorted(record["reference"])
  ('loss', 'min', ['adamw', 'nag', 'sgdm'])
  """
  return targets()[name]


def target_of(name: str) -> float:
  """Task ``name``'s stored target, NaN if none is stored.

  >>> round(target_of("digits-mlp"), 3), target_of("quadratic")
  (0.975, nan)
  """
  record = targets().get(name)
  return math.nan if record is None else float(record["target"])
