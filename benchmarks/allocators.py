"""Benchmark 6: the memory allocator under a full training step on a large leaf.

XLA on CPU takes its temporary buffers from the C allocator at every step.
glibc serves a request of more than its mmap threshold (at most 32 MiB by
default) with a fresh ``mmap``, whose pages are faulted in and zeroed on
first touch, and returned with ``munmap`` at the end of the step: a
parameter-sized temporary of an 8M-element float32 leaf costs 8192 page
faults per step.  This script runs ``train_step.py`` (elementwise loss, the
8M leaf) in one subprocess per allocator setting:

* ``glibc``: the default;
* ``glibc-mmap-threshold``: ``MALLOC_MMAP_THRESHOLD_=4294967296`` (every
  allocation from the heap);
* ``glibc-mmap-trim``: the same and ``MALLOC_TRIM_THRESHOLD_=4294967296``
  (freed memory is kept for the next step, not returned to the system);
* ``glibc-mmap-trim-arena1``: the same, one arena for all threads
  (``MALLOC_ARENA_MAX=1``) and no mmap at all (``MALLOC_MMAP_MAX_=0``);
* ``jemalloc``: ``LD_PRELOAD`` of Debian's ``libjemalloc.so.2``;
* ``tcmalloc``: ``LD_PRELOAD`` of Debian's ``libtcmalloc_minimal.so.4``;
* ``xla-region-analysis``: not an allocator, the XLA:CPU option
  ``--xla_cpu_copy_insertion_use_region_analysis=true``, with which XLA keeps
  fewer copies of donated buffers (set in ``XLA_FLAGS``, or per function with
  ``jax.jit(..., compiler_options={...})``),

and reports each optimizer's step time over ``osv.adam``'s in the same
process (side by side), with the A/A control, minor faults per step and the
absolute times.  A preloaded library that is missing is reported as such.

    python benchmarks/allocators.py                 # ~6 min on 2 cores
    python benchmarks/allocators.py --optimizers adam,adamod --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = "/usr/lib/x86_64-linux-gnu"
SETTINGS = {
    "glibc": {},
    "glibc-mmap-threshold": {"MALLOC_MMAP_THRESHOLD_": "4294967296"},
    # With the mmap threshold set by hand glibc stops adapting its trim
    # threshold (128 KiB): freed memory at the top of a heap goes back to the
    # system and is faulted in again.  Keep it, then also use one arena for
    # all threads (XLA's workers allocate from per-thread arenas) and no mmap.
    "glibc-mmap-trim": {"MALLOC_MMAP_THRESHOLD_": "4294967296",
                        "MALLOC_TRIM_THRESHOLD_": "4294967296"},
    "glibc-mmap-trim-arena1": {"MALLOC_MMAP_THRESHOLD_": "4294967296",
                               "MALLOC_TRIM_THRESHOLD_": "4294967296",
                               "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0"},
    "jemalloc": {"LD_PRELOAD": f"{LIB}/libjemalloc.so.2"},
    "tcmalloc": {"LD_PRELOAD": f"{LIB}/libtcmalloc_minimal.so.4"},
    # Not an allocator: XLA's copy insertion with region analysis, which
    # removes copies that the default analysis keeps (a compile option).
    "xla-region-analysis": {"XLA_FLAGS": "--xla_cpu_copy_insertion_use_region_analysis=true"},
}


def run(setting: str, env_extra: dict, optimizers: str, repeats: int, shape: str) -> dict:
  preload = env_extra.get("LD_PRELOAD")
  if preload and not os.path.exists(preload):
    return {"setting": setting, "missing": preload}
  out = os.path.join(HERE, "results", f"_allocator_{setting}.json")
  env = dict(os.environ, **env_extra, JAX_ENABLE_X64="0")
  cmd = [sys.executable, os.path.join(HERE, "train_step.py"), "--trees", "large",
         "--losses", "elementwise", "--optimizers", optimizers, "--no-torch",
         "--repeats", str(repeats), "--large-shape", shape, "--out", out]
  t0 = time.perf_counter()
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if proc.returncode != 0:
    return {"setting": setting, "error": proc.stderr[-2000:]}
  with open(out) as f:
    result = json.load(f)
  os.remove(out)
  return {"setting": setting, "env": env_extra, "rows": result["rows"],
          "wall_s": time.perf_counter() - t0}


def table(results: list[dict]) -> str:
  lines = ["| optimizer | " + " | ".join(r["setting"] for r in results) + " |",
           "|---|" + "---|" * len(results)]
  names = []
  for r in results:
    for row in r.get("rows", []):
      if row["optimizer"] not in names:
        names.append(row["optimizer"])
  for name in names:
    cells = []
    for r in results:
      row = next((x for x in r.get("rows", []) if x["optimizer"] == name), None)
      if row is None:
        cells.append(r.get("missing") and "missing" or "error")
        continue
      ms = row["seconds"]["osv"] * 1e3
      faults = row["minor_faults_per_step"]["osv"]
      cells.append(f"{row['over_osv_adam']['osv']:.2f}x ({ms:.1f} ms, {faults:.0f} faults, "
                   f"A/A {row['aa_ratio']:.2f})")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default="adam,diffgrad,adamod,adadb")
  parser.add_argument("--settings", default=",".join(SETTINGS))
  parser.add_argument("--repeats", type=int, default=7)
  parser.add_argument("--large-shape", default="2048,4096")
  parser.add_argument("--out", default=os.path.join(HERE, "results", "allocators.json"))
  args = parser.parse_args(argv)
  results = []
  for setting in args.settings.split(","):
    print(f"{setting} ...", flush=True)
    results.append(run(setting, SETTINGS[setting], args.optimizers, args.repeats,
                       args.large_shape))
  text = table(results)
  print(text)
  result = {"results": results, "table": text}
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  print(f"wrote {args.out}")
  return result


if __name__ == "__main__":
  main()
