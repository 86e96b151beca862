"""layout.py: the mesh, the number of runs per call and batches, memory bounds.

The oracle for the batch arithmetic is a brute-force search over every batch size: the
fewest sequential batches whose size fits every bound, then the smallest such size that
is a multiple of the devices.
"""

import math
import os

import jax
import pytest

from optax_survey.harness import layout as L
from optax_survey.harness.errors import BadInputError, BadTypeError, DeviceMemoryError


def brute_force(runs, devices, cap):
  """(batches, runs per call): the fewest batches of a size <= cap (a multiple of the
  devices) covering the runs, then the smallest such size."""
  sizes = [s for s in range(devices, cap + 1, devices)]
  batches = min(math.ceil(runs / s) for s in sizes)
  return batches, min(s for s in sizes if math.ceil(runs / s) == batches)


@pytest.mark.parametrize("runs", [1, 5, 9, 40, 45, 97])
@pytest.mark.parametrize("devices", [1, 2, 8])
@pytest.mark.parametrize("cap", [None, 1, 6, 16, 1000])
def test_fewest_even_batches_within_the_cap(runs, devices, cap):
  mesh = L.make_mesh(1)  # the arithmetic only reads the device count: fake it below
  layout = L.plan(runs, _FakeMesh(devices), layout="vmap", steps_per_call=3,
                  max_parallel_runs=cap)
  bound = math.ceil(runs / devices) * devices
  if cap is not None:
    bound = min(bound, max(devices, cap // devices * devices))
  assert (layout.batches, layout.runs_per_call) == brute_force(runs, devices, bound)
  assert layout.runs_per_call % devices == 0 and layout.padded < layout.runs_per_call
  assert mesh.axis_names == ("runs",)


@pytest.mark.parametrize("per_run,memory", [(1_000, 10_000), (3_000, 10_000), (7_000, 10_000)])
def test_memory_bounds_the_runs_per_device(per_run, memory):
  layout = L.plan(40, _FakeMesh(2), layout="vmap", steps_per_call=3, bytes_per_run=per_run,
                  memory=memory)
  per_device = int(memory * 0.8) // per_run  # the headroom: 80 % of the memory
  assert layout.runs_per_call // 2 <= per_device
  assert layout.batches == math.ceil(40 / (2 * per_device))
  assert layout.how == "vmap, memory"


def test_one_run_that_does_not_fit_says_what_it_needs_and_has():
  with pytest.raises(DeviceMemoryError, match=r"one run needs ~12 MB of device memory and a "
                     r"device has 8.0 MB to give \(80% of 10 MB\)") as info:
    L.plan(40, _FakeMesh(1), steps_per_call=3, bytes_per_run=12_000_000, memory=10_000_000)
  assert info.value.argument == "device_memory" and isinstance(info.value, MemoryError)


def test_a_cpus_memory_counts_the_page_cache_as_available(tmp_path, monkeypatch):
  """Linux's MemAvailable, not the free pages: after a run that wrote gigabytes of
  checkpoints the cache fills the memory and MemFree reads a few kB (CI once refused a
  201 kB run with "a device has 77 kB to give" this way)."""
  meminfo = tmp_path / "meminfo"
  meminfo.write_text("MemTotal:       24684544 kB\nMemFree:             96 kB\n"
                     "MemAvailable:   23000000 kB\nBuffers:          10000 kB\n")
  monkeypatch.setattr(L, "MEMINFO", str(meminfo))
  devices = len(jax.local_devices(backend="cpu"))
  assert L.device_memory(L.make_mesh(1)) == 23_000_000 * 1024 // devices
  # a kernel without MemAvailable, or no /proc/meminfo: the free pages (they move a bit
  # between two readings)
  meminfo.write_text("MemTotal:       24684544 kB\nMemFree:             96 kB\n")
  for path in (meminfo, tmp_path / "none"):
    monkeypatch.setattr(L, "MEMINFO", str(path))
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // devices
    assert abs(L.device_memory(L.make_mesh(1)) - free) <= 64 * 2 ** 20 // devices


def test_loop_and_measured_layouts():
  assert L.plan(40, _FakeMesh(4), layout="loop", steps_per_call=3).runs_per_call == 4
  # a number of runs per call is rounded up to the devices: 10 on 4 devices is 12
  assert L.plan(40, _FakeMesh(4), layout=10, steps_per_call=3).runs_per_call == 12
  faster_loop = L.plan(40, _FakeMesh(1), steps_per_call=3,
                       timings={"vmap/scan": 3e-3, "loop/step": 1e-3, "loop/scan": 2e-3})
  assert faster_loop.runs_per_call == 1 and faster_loop.how.startswith("measured: loop")
  faster_vmap = L.plan(40, _FakeMesh(1), steps_per_call=3,
                       timings={"vmap/step": 1e-3, "loop/step": 3e-3})
  assert faster_vmap.runs_per_call == 40 and faster_vmap.how.startswith("measured: vmap")


def test_make_mesh_and_check_layout_refuse_in_one_line():
  assert L.make_mesh("1").devices.size == 1 and L.make_mesh().devices.size == len(jax.devices())
  for bad, kind in [(0, BadInputError), (len(jax.devices()) + 1, BadInputError),
                    ("some", BadInputError), (True, BadTypeError), (2.5, BadTypeError)]:
    with pytest.raises(kind, match="mesh must be") as info:
      L.make_mesh(bad)
    assert info.value.argument == "mesh" and "\n" not in str(info.value)
  wrong = jax.sharding.Mesh(jax.devices()[:1], ("model",))
  with pytest.raises(BadInputError, match="needs an axis 'runs'"):
    L.make_mesh(wrong)
  for bad in ("grid", 0, -3, "0", True, 1.5):
    with pytest.raises(BadInputError, match="layout must be one of auto, vmap, loop"):
      L.check_layout(bad)


def test_bytes_of_reads_the_compiled_program():
  import jax.numpy as jnp
  compiled = jax.jit(lambda x: (x * 2).sum(axis=1)).lower(jnp.zeros((4, 10_000))).compile()
  n = L.bytes_of(compiled, 4)
  assert n is None or 40_000 <= n <= 200_000  # the 4 x 10k float32 argument, per run: 40 kB


class _FakeMesh:
  """What plan() reads of a mesh: its device count."""

  def __init__(self, devices):
    self.devices = _Devices(devices)


class _Devices:
  def __init__(self, size):
    self.size = size
