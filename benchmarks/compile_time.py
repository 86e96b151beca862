"""Benchmark 2: compile time (trace + lower + compile) of the donated step.

Every survey optimizer against its optax baseline on the ``transformer``
tree (146 leaves), interleaved, median of ``repeats``: a fresh ``jax.jit``
of a freshly built optimizer each time, so nothing is cached.  Target: osv /
optax <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

from common import SPECS, collect, make_tree, save_json, step_fn, tree_shapes


def compile_once(make, shapes, lookahead: bool) -> dict[str, float]:
  params = make_tree(shapes, 0)
  grads = params
  if lookahead:
    params = optax.LookaheadParams(params, params)
  tx = make()
  state = jax.eval_shape(tx.init, params)
  fn = jax.jit(step_fn(tx), donate_argnums=(0, 1))
  t0 = time.perf_counter()
  tr = fn.trace(params, state, grads)
  t1 = time.perf_counter()
  lo = tr.lower()
  t2 = time.perf_counter()
  lo.compile()
  t3 = time.perf_counter()
  return {"trace": t1 - t0, "lower": t2 - t1, "compile": t3 - t2, "total": t3 - t0}


def main(argv=None, log=print):
  ap = argparse.ArgumentParser()
  ap.add_argument("--tree", default="transformer")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--optimizers", default="")
  ap.add_argument("--out", default="compile_time.json")
  a = ap.parse_args(argv)
  shapes = tree_shapes(a.tree)
  rows = []
  for spec in SPECS:
    if a.optimizers and spec.name not in a.optimizers.split(","):
      continue
    runs = {"osv": [], "optax": []}
    for r in range(a.repeats):
      pair = [("osv", spec.make, False), ("optax", spec.make_baseline, spec.lookahead)]
      for label, make, la in (pair if r % 2 == 0 else pair[::-1]):
        runs[label].append(compile_once(make, shapes, la))
      collect()
    med = {k: {p: statistics.median(x[p] for x in v) for p in v[0]} for k, v in runs.items()}
    row = {"optimizer": spec.name, "baseline": spec.baseline, "kind": spec.kind,
           "seconds": med, "ratio_total": med["osv"]["total"] / med["optax"]["total"]}
    rows.append(row)
    log(f"  compile {spec.name:10s} osv {med['osv']['total']:.3f} s (trace {med['osv']['trace']:.3f})"
        f"  optax {med['optax']['total']:.3f} s (trace {med['optax']['trace']:.3f})"
        f"  ratio {row['ratio_total']:.2f}")
  out = {"tree": a.tree, "repeats": a.repeats, "rows": rows}
  save_json(a.out, out)
  return out


if __name__ == "__main__":
  main()
