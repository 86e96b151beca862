"""Where and how the runs of a sweep execute: devices, batches, steps per call.

The runs of one optimizer (every learning rate x seed) are independent.  A
:class:`Layout` says how they are put on the hardware:

* the devices: a 1-D :class:`jax.sharding.Mesh` with the axis ``"runs"``; the
  runs of a call are sharded over it with ``NamedSharding`` (JAX's own SPMD:
  each device trains its share, no communication);
* the runs per call: ``jax.vmap`` over that many runs (a multiple of the
  devices; the last batch is padded with copies of its last run, whose results
  are discarded), in as many sequential batches as the sweep needs;
* the steps per call: each compiled call trains a ``lax.scan`` of that many
  steps and returns to Python, where the progress bar moves, an interrupt is
  answered and the runs are checkpointed.

:func:`plan` chooses it.  The memory of one run is read from the compiled
program (``compiled.memory_analysis()``), so a sweep runs in the fewest
batches that fit the device's memory (or ``max_parallel_runs``); vmapped or
looped is a measured choice per task (on a CPU a convolution vmapped over
per-run weights becomes a grouped convolution, several times slower than a
loop over runs; on a GPU, batching small runs is how the device gets filled).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from optax_survey.harness.errors import BadInputError, BadTypeError, DeviceMemoryError

__all__ = ["LAYOUTS", "Layout", "bytes_of", "check_layout", "device_memory", "fit",
           "make_mesh", "plan", "run_devices"]

# "auto": measured per task (see plan); "vmap": as many runs per call as fit;
# "loop": one run per device per call.
LAYOUTS = ("auto", "vmap", "loop")


@dataclasses.dataclass(frozen=True)
class Layout:
  """How the runs of one optimizer are laid out.

  Attributes:
    runs: the number of runs (rates x seeds).
    devices: the devices each call shards its runs over (mesh axis ``"runs"``).
    runs_per_call: runs trained together in one compiled call (``jax.vmap``), a
      multiple of ``devices``.
    steps_per_call: training steps per compiled call.
    bytes_per_run: one run's memory on its device (from the compiled program),
      or None where the backend does not report it.
    how: why this layout (``"vmap"``, ``"loop"``, ``"measured: ..."``,
      ``"memory: ..."``).

  Example:
    >>> layout = Layout(runs=45, devices=8, runs_per_call=48, steps_per_call=30,
    ...                 bytes_per_run=36_000_000, how="vmap")
    >>> layout.batches, layout.padded
    (1, 3)
    >>> layout.describe()
    '45 runs over 8 devices in 1 batch of 48 (3 padded), ~36 MB per run, 30 steps per call (vmap)'
  """

  runs: int
  devices: int
  runs_per_call: int
  steps_per_call: int
  bytes_per_run: int | None = None
  how: str = "vmap"

  @property
  def batches(self) -> int:
    """The number of sequential calls of the compiled program over the runs."""
    return math.ceil(self.runs / self.runs_per_call)

  @property
  def padded(self) -> int:
    """Padding runs (copies of a batch's last run), computed and discarded."""
    return self.batches * self.runs_per_call - self.runs

  def describe(self) -> str:
    """One line: runs, devices, batches, memory per run, steps per call."""
    batches = f"{self.batches} batch{'es' if self.batches > 1 else ''}"
    pad = f" ({self.padded} padded)" if self.padded else ""
    memory = f", ~{_human(self.bytes_per_run)} per run" if self.bytes_per_run else ""
    devices = f"{self.devices} device{'s' if self.devices > 1 else ''}"
    runs = f"{self.runs} run{'s' if self.runs > 1 else ''}"
    steps = f"{self.steps_per_call} step{'s' if self.steps_per_call > 1 else ''}"
    return (f"{runs} over {devices} in {batches} of {self.runs_per_call}{pad}"
            f"{memory}, {steps} per call ({self.how})")


def _human(n: float | None) -> str:
  """Bytes for a person: ``36 MB``."""
  if n is None:
    return "?"
  for unit in ("B", "kB", "MB", "GB", "TB"):
    if n < 1000 or unit == "TB":
      return f"{n:.0f} {unit}" if unit == "B" or n >= 10 else f"{n:.1f} {unit}"
    n /= 1000
  raise AssertionError  # unreachable


def make_mesh(devices: Any = None) -> Mesh:
  """The 1-D mesh ``("runs",)`` the runs are sharded over.

  Args:
    devices: None or ``"all"`` (every device of ``jax.devices()``, all processes'),
      a count ``N`` (the first N), a sequence of devices, or a
      :class:`jax.sharding.Mesh` with an axis ``"runs"`` (used as given).

  Returns:
    The mesh.

  Raises:
    BadInputError: a count out of range, a mesh without ``"runs"``.
    BadTypeError: anything else.

  Example:
    >>> mesh = make_mesh(1)
    >>> mesh.axis_names, mesh.devices.size
    (('runs',), 1)
  """
  if isinstance(devices, Mesh):
    if "runs" not in devices.axis_names:
      raise BadInputError(f"mesh has the axes {devices.axis_names}: it needs an axis "
                          "'runs' to shard the runs over", argument="mesh")
    return devices
  available = jax.devices()
  if isinstance(devices, str) and devices != "all":
    if not devices.strip().isdigit():
      raise BadInputError(f"mesh must be 'all' or a count of devices, not {devices!r}",
                          argument="mesh")
    devices = int(devices)
  if devices is None or devices == "all":
    chosen = available
  elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
    if not 1 <= int(devices) <= len(available):
      raise BadInputError(f"mesh must be a count of devices between 1 and {len(available)} "
                          f"(the devices JAX sees), not {int(devices)}", argument="mesh")
    chosen = available[:int(devices)]
  elif isinstance(devices, Sequence) and devices and all(
      isinstance(d, jax.Device) for d in devices):
    chosen = list(devices)
  else:
    raise BadTypeError(f"mesh must be None, 'all', a count of devices, devices or a Mesh, "
                       f"not {devices!r}", argument="mesh")
  return Mesh(np.array(chosen), ("runs",))


def run_devices(mesh: Any) -> int:
  """How many ways the runs are split: the size of the mesh axis ``"runs"`` (all the
  devices of a 1-D mesh; 2 of a ``("runs", "model")`` mesh of 2 x 4).

  Example:
    >>> run_devices(make_mesh(1))
    1
  """
  shape = getattr(mesh, "shape", None)
  if isinstance(shape, Mapping) and "runs" in shape:
    return int(shape["runs"])
  return int(mesh.devices.size)


def check_layout(layout: Any) -> str | int:
  """``layout`` as the planner takes it: one of :data:`LAYOUTS` or a number of runs per
  call (an int, or its text from the command line).

  Example:
    >>> check_layout("loop"), check_layout("8"), check_layout(16)
    ('loop', 8, 16)
  """
  if isinstance(layout, str):
    if layout in LAYOUTS:
      return layout
    if layout.isdigit() and int(layout) > 0:
      return int(layout)
    raise BadInputError(f"layout must be one of {', '.join(LAYOUTS)} or a number of runs "
                        f"per call, not {layout!r}", argument="layout")
  if isinstance(layout, (int, np.integer)) and not isinstance(layout, bool) and layout > 0:
    return int(layout)
  raise BadInputError(f"layout must be one of {', '.join(LAYOUTS)} or a positive number of "
                      f"runs per call, not {layout!r}", argument="layout")


def device_memory(mesh: Mesh) -> int | None:
  """Bytes one device of ``mesh`` has for the runs: the accelerator's ``bytes_limit``
  (``Device.memory_stats()``), or on a CPU the host's available memory (Linux's
  ``MemAvailable``: the page cache counts as available) shared by its CPU devices; None
  if neither is known.

  Example:
    >>> memory = device_memory(make_mesh(1))
    >>> memory is None or memory > 0
    True
  """
  device = mesh.devices.flat[0]
  try:
    stats = device.memory_stats()
  except (AttributeError, NotImplementedError, RuntimeError):
    stats = None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
  if device.platform == "cpu":
    available = _host_available()
    if available is None:
      return None
    return available // max(1, len(jax.local_devices(backend="cpu")))
  return None


# Linux's account of memory, read for MemAvailable (a module constant: tests point it at
# a file of their own).
MEMINFO = "/proc/meminfo"


def _host_available() -> int | None:
  """The host's memory available to new work, in bytes: Linux's ``MemAvailable`` (free
  pages plus the page cache and reclaimable memory the kernel gives back on demand),
  else the free pages alone (``SC_AVPHYS_PAGES``: on a machine whose cache fills its
  memory, a few kB, so not where ``MemAvailable`` is known); None if neither is known."""
  try:
    with open(MEMINFO) as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024  # kB
  except (OSError, ValueError, IndexError):
    pass
  try:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError, AttributeError):
    return None


def bytes_of(compiled: Any, runs_per_device: int) -> int | None:
  """One run's bytes on its device from a compiled program's ``memory_analysis()``
  (arguments, outputs and temporaries, less what is aliased), or None.

  Example:
    >>> import jax, jax.numpy as jnp
    >>> compiled = jax.jit(lambda x: x * 2).lower(jnp.zeros((4, 1000))).compile()
    >>> n = bytes_of(compiled, 4)
    >>> n is None or n >= 1000 * 4
    True
  """
  try:
    analysis = compiled.memory_analysis()
  except (AttributeError, NotImplementedError, RuntimeError):
    return None
  if analysis is None:
    return None
  total = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
           + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
  return max(1, math.ceil(total / max(1, runs_per_device)))


def fit(runs: int, devices: int, bytes_per_run: int | None, memory: int | None, *,
        max_parallel_runs: int | None = None, headroom: float = 0.8) -> int:
  """The most runs per call that fit: a multiple of ``devices``, at most the runs
  (rounded up to the devices), ``max_parallel_runs`` and ``headroom`` of ``memory``
  per device.

  Raises:
    DeviceMemoryError: one run alone does not fit (the bytes it needs and has).

  Example:
    >>> fit(45, 8, 1_000_000, 10_000_000)  # 8 fit a device: 64 > 48 needed
    48
    >>> fit(45, 8, 1_000_000, 2_000_000)  # one per device fits, two do not
    8
    >>> fit(45, 1, None, None, max_parallel_runs=10)
    10
  """
  per_device = math.ceil(runs / devices)
  if max_parallel_runs is not None:
    per_device = min(per_device, max(1, max_parallel_runs // devices))
  if bytes_per_run is not None and memory is not None:
    room = int(memory * headroom) // bytes_per_run
    if room < 1:
      raise DeviceMemoryError(
          f"one run needs ~{_human(bytes_per_run)} of device memory and a device has "
          f"{_human(memory * headroom)} to give ({headroom:.0%} of {_human(memory)}): use "
          "a smaller model or batch, or shard the model", argument="device_memory")
    per_device = min(per_device, room)
  return per_device * devices


def plan(runs: int, mesh: Mesh, *, layout: str | int = "auto", steps_per_call: int,
         bytes_per_run: int | None = None, memory: int | None = None,
         max_parallel_runs: int | None = None, timings: dict | None = None) -> Layout:
  """The layout of ``runs`` runs on ``mesh``.

  Args:
    runs: the number of runs.
    mesh: the mesh (:func:`make_mesh`).
    layout: ``"vmap"`` (as many runs per call as fit), ``"loop"`` (one run per
      device per call), a number of runs per call, or ``"auto"``: ``"vmap"``
      unless ``timings`` measured looping faster.
    steps_per_call: training steps per call.
    bytes_per_run: one run's memory (:func:`bytes_of`), or None.
    memory: the bytes a device has (:func:`device_memory`), or None.
    max_parallel_runs: the most runs trained at once, or None.
    timings: seconds per run-step measured on this task for ``"auto"``, by candidate:
      ``"vmap/scan"``, ``"vmap/step"``, ``"loop/scan"``, ``"loop/step"`` (all runs or
      one per device per call; a scan of steps or single steps); the fastest is taken.

  Returns:
    The :class:`Layout`.

  Example:
    >>> mesh = make_mesh(1)
    >>> plan(40, mesh, steps_per_call=30).describe()
    '40 runs over 1 device in 1 batch of 40, 30 steps per call (vmap)'
    >>> capped = plan(40, mesh, steps_per_call=30, max_parallel_runs=16)
    >>> capped.batches, capped.runs_per_call, capped.padded, capped.how  # fewest, even batches
    (3, 14, 2, 'vmap, at most 16 at once')
    >>> plan(40, mesh, steps_per_call=30, timings={"vmap/scan": 2e-3, "loop/step": 1e-3}).how
    'measured: loop/step 1 ms per run-step; vmap/scan 2'
  """
  devices = run_devices(mesh)
  how = layout if isinstance(layout, str) else "fixed"
  if layout == "auto":
    how = "vmap"
    layout = "vmap"
    if timings:
      ranked = sorted(timings, key=lambda k: timings[k])
      how = "measured: " + ", ".join(f"{k} {timings[k] * 1e3:.2g} ms" for k in ranked[:1]) + (
          " per run-step; " + ", ".join(f"{k} {timings[k] * 1e3:.2g}" for k in ranked[1:])
          if len(ranked) > 1 else " per run-step")
      layout = ranked[0].split("/")[0]
  if layout == "loop":
    wanted = devices
  elif layout == "vmap":
    wanted = runs
  else:
    wanted = int(layout)
  full = math.ceil(runs / devices) * devices
  wanted = min(full, max(devices, math.ceil(wanted / devices) * devices))
  capped = wanted if max_parallel_runs is None else min(wanted, max_parallel_runs)
  per_call = fit(runs, devices, bytes_per_run, memory, max_parallel_runs=capped)
  limit = per_call
  per_call = math.ceil(math.ceil(runs / math.ceil(runs / limit)) / devices) * devices  # even
  if per_call < wanted:
    by_cap = max_parallel_runs is not None and limit == max(
        devices, capped // devices * devices)
    how += f", at most {max_parallel_runs} at once" if by_cap else ", memory"
  return Layout(runs=runs, devices=devices, runs_per_call=per_call,
                steps_per_call=steps_per_call, bytes_per_run=bytes_per_run, how=how)
