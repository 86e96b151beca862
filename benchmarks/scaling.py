"""Benchmark 4: step time against parameter count, and per-call overhead.

* one float32 leaf of 1e4 ... 1e8 elements (half-decades), ``osv.adam``,
  ``optax.adam``, and ``osv.sgd`` timed in turns at each size;
  a log-log plot (``results/scaling.png``), the fitted slope above 1e6
  elements (1 = linear) and the fixed cost per call (a least-squares fit
  ``t = a + b·n``), against an empty jitted call on the same machine;
* the issue's overhead-bound tree, 2000 leaves of 100 elements, for Adam:
  the tree as it is (``osv``, ``optax``) and the flat mode that removes the per-leaf cost: parameters kept as one
  raveled vector (``jax.flatten_util.ravel_pytree``; the model unravels
  them inside its loss, where the slices fuse into their consumers).
"""

from __future__ import annotations

import argparse
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import optax_survey as osv
from common import (Contender, collect, interleaved, save_json, time_chained, tree_shapes,
                    RESULTS)

SIZES = [int(x) for x in (1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8)]
CONTENDERS = {
    "osv.adam": lambda: osv.adam(1e-3),
    "optax.adam": lambda: optax.adam(1e-3),
    "osv.sgd": lambda: osv.sgd(1e-3),
}


def empty_call_s(repeats: int = 7) -> float:
  f = jax.jit(lambda x: x, donate_argnums=0)
  return statistics.median(time_chained(f, jnp.zeros((4,)), 10, 200, repeats))


def fit(sizes, times):
  n = np.asarray(sizes, float)
  t = np.asarray(times, float)
  big = n >= 1e6
  slope = float(np.polyfit(np.log(n[big]), np.log(t[big]), 1)[0])
  b, a = np.polyfit(n, t, 1, w=1 / t)  # relative least squares: t = a + b n
  return {"loglog_slope_ge_1e6": slope, "fixed_s": float(a), "per_element_s": float(b)}


def main(argv=None, log=print):
  ap = argparse.ArgumentParser()
  ap.add_argument("--max", type=float, default=1e8)
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--out", default="scaling.json")
  a = ap.parse_args(argv)
  sizes = [s for s in SIZES if s <= a.max]
  empty = empty_call_s()
  log(f"  empty jitted call: {empty*1e6:.1f} us")
  times = {k: [] for k in CONTENDERS}
  for n in sizes:
    shapes = {"w": (n,)}
    cs = [Contender(k, make(), shapes) for k, make in CONTENDERS.items()]
    med = interleaved(cs, a.repeats, 0.03 if n < 3e7 else 0.01)
    for c, m in zip(cs, med):
      times[c.label].append(m)
      c.free()
    del cs
    collect()
    log(f"  n={n:>11,d}  " + "  ".join(f"{k} {times[k][-1]*1e3:9.4f} ms" for k in CONTENDERS))
  fits = {k: fit(sizes, v) for k, v in times.items()}
  for k, f in fits.items():
    log(f"  {k:11s} slope {f['loglog_slope_ge_1e6']:.3f}  fixed {f['fixed_s']*1e6:.1f} us  "
        f"{f['per_element_s']*1e9:.3f} ns/element")

  # the overhead-bound tree of the issue, Adam, four ways
  shapes = tree_shapes("tiny2000")
  tree = {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
  flat_n = int(ravel_pytree(tree)[0].size)
  cs = [Contender("osv", osv.adam(1e-3), shapes),
        Contender("optax", optax.adam(1e-3), shapes),
        Contender("osv_flat_params", osv.adam(1e-3), {"flat": (flat_n,)})]
  med = interleaved(cs, a.repeats, 0.05)
  tiny = {c.label: {"seconds": m, "compile_s": c.compile_s} for c, m in zip(cs, med)}
  for c in cs:
    c.free()
  log("  tiny2000 (2000 leaves x 100) adam: " + "  ".join(
      f"{k} {v['seconds']*1e3:.3f} ms (compile {v['compile_s']['total']:.1f} s)" for k, v in tiny.items()))

  png = None
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for k, v in times.items():
      ax.loglog(sizes, v, "o-", label=k)
    ref = np.asarray(sizes, float)
    ax.loglog(ref, times["osv.adam"][-1] * ref / ref[-1], "k:", lw=1, label="linear")
    ax.axhline(empty, color="gray", ls="--", lw=1, label="empty jitted call")
    ax.set_xlabel("parameter elements (one float32 leaf)")
    ax.set_ylabel("seconds per step (update + apply, donated)")
    ax.set_title("optax_survey step time vs size (CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = f"{RESULTS}/scaling.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
  except ImportError:
    log("  matplotlib missing: no plot")
  out = {"sizes": sizes, "seconds": times, "fits": fits, "empty_call_s": empty,
         "tiny2000_adam": tiny, "plot": os.path.basename(png)}
  save_json(a.out, out)
  return out


if __name__ == "__main__":
  main()
