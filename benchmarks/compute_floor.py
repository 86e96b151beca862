"""Benchmark 1b: how much of each step is computation, not memory traffic.

The roofline of benchmark 1 assumes a step is bound by the bytes it moves.
On a CPU it can instead be bound by the instructions XLA emits per element
(square roots, divisions, the sigmoid of the friction stages, one loop per
output buffer).  To tell the two apart, every optimizer's step is timed,
interleaved, on one leaf small enough that all its buffers stay in cache
(``--n``, default 2^18 float32 elements: 1 MiB a buffer, a few MiB in all
against a 32 MiB L3 here), and the time per element is compared with the
time per element on the ``large`` leaf (benchmark 1, same run).

``in-cache share`` = in-cache ns per element / large-leaf ns per element.
Near 1, the step costs as much when memory is free: it is compute-bound on
this machine, and no change to its memory traffic can bring it to the
memory roofline.  Well below 1, memory traffic dominates.

    python benchmarks/compute_floor.py [--optimizers adam,diffgrad] [--n 262144]
"""

from __future__ import annotations

import argparse

from common import SPECS, Contender, interleaved, machine, save_json


def main(argv=None, log=print) -> dict:
  ap = argparse.ArgumentParser()
  ap.add_argument("--optimizers", default="")
  ap.add_argument("--n", type=int, default=1 << 18)
  ap.add_argument("--repeats", type=int, default=7)
  ap.add_argument("--target-s", type=float, default=0.05)
  a = ap.parse_args(argv)
  wanted = [s for s in a.optimizers.split(",") if s]
  specs = [s for s in SPECS if not wanted or s.name in wanted]
  shapes = {"w": (a.n,)}
  contenders = [Contender(s.name, s.make(), shapes) for s in specs]
  seconds = interleaved(contenders, a.repeats, a.target_s)
  rows = []
  for spec, c, t in zip(specs, contenders, seconds):
    rows.append({"optimizer": spec.name, "seconds": t, "ns_per_element": t / a.n * 1e9,
                 "finite": c.finite()})
    log(f"  {spec.name:10s} {t*1e6:9.1f} µs  {t / a.n * 1e9:.3f} ns/elem")
    c.free()
  out = {"machine": machine(), "n_elements": a.n, "repeats": a.repeats, "rows": rows}
  save_json("compute_floor.json", out)
  return out


if __name__ == "__main__":
  main()
