"""Several processes (hosts) running one sweep: what they exchange and who writes.

After ``jax.distributed.initialize()`` every process runs the same
:func:`~optax_survey.harness.compare` call; the mesh spans all processes' devices
(``jax.devices()``), each process feeds and reads the runs through global arrays,
every decision that could differ between processes (a checkpoint is due, a stop was
asked, the memory a device has) is agreed on, and process 0 alone writes files.  With
one process every function here is the plain single-process operation.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["agree_any", "agree_min", "is_writer", "to_device", "to_host"]


def _several() -> bool:
  return jax.process_count() > 1


def is_writer() -> bool:
  """Whether this process writes the results (process 0).

  Example:
    >>> is_writer()  # one process
    True
  """
  return jax.process_index() == 0


def to_device(values: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
  """``values`` (the same on every process) as a global array with ``sharding``: each
  process places the shards of its own devices.

  Example:
    >>> from optax_survey.harness.layout import make_mesh
    >>> from jax.sharding import NamedSharding, PartitionSpec
    >>> x = to_device(np.arange(4.0), NamedSharding(make_mesh(1), PartitionSpec("runs")))
    >>> x.shape, float(x.sum())
    ((4,), 6.0)
  """
  values = np.asarray(values)
  return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def to_host(tree: Any) -> Any:
  """Every leaf of ``tree`` (global arrays) as a whole numpy array on every process.

  Example:
    >>> import jax.numpy as jnp
    >>> to_host({"a": jnp.arange(3)})["a"].tolist()
    [0, 1, 2]
  """
  if not _several():
    return jax.tree.map(np.asarray, tree)
  from jax.experimental import multihost_utils

  return jax.tree.map(lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True)),
                      tree)


def agree_any(flag: bool) -> bool:
  """Whether ``flag`` holds on any process (the same answer on all).

  Example:
    >>> agree_any(True), agree_any(False)
    (True, False)
  """
  if not _several():
    return bool(flag)
  from jax.experimental import multihost_utils

  return bool(np.any(multihost_utils.process_allgather(np.asarray(bool(flag)))))


def agree_min(value: int | None) -> int | None:
  """The smallest ``value`` over the processes (None where any process has none).

  Example:
    >>> agree_min(5), agree_min(None)
    (5, None)
  """
  if not _several():
    return value
  from jax.experimental import multihost_utils

  values = multihost_utils.process_allgather(np.asarray(-1 if value is None else value,
                                                        np.int64))
  return None if np.any(values < 0) else int(np.min(values))
