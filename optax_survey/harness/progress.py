"""The progress bar of the harness: a tqdm bar on stderr, or a silent stand-in."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["NoProgress", "make_progress"]


class NoProgress:
  """The interface the harness uses of a tqdm bar, doing nothing."""

  def update(self, n: int = 1) -> None:
    del n

  def set_postfix_str(self, text: str) -> None:
    del text

  def write(self, text: str) -> None:
    del text

  def close(self) -> None:
    pass


def make_progress(total: int, desc: str, *, enabled: bool = True, unit: str = "it") -> Any:
  """A tqdm bar over ``total`` ticks of ``unit`` on stderr (its rate and ETA in them) if
  ``enabled`` and tqdm is installed (:func:`~optax_survey.harness.compare` checks that
  first), else a :class:`NoProgress`.

  Example:
    >>> bar = make_progress(3, "quadratic", enabled=False)
    >>> bar.update(1); bar.close()
    >>> type(bar).__name__
    'NoProgress'
  """
  if not enabled:
    return NoProgress()
  try:
    from tqdm import tqdm
  except ImportError:
    return NoProgress()
  return tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=False,
              unit=unit, unit_scale=True)
