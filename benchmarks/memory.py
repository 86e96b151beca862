"""Benchmark 3: optimizer-state bytes and peak memory of the donated step.

* state bytes per parameter of every optimizer (``jax.eval_shape`` of
  ``init`` on the ``transformer`` tree; scalar counters included) against the
  minimum its maths needs (``Spec.min_buffers`` float32 buffers);
* XLA's own accounting of the compiled step on one 2^24-element leaf
  (``memory_analysis()``: arguments, outputs, aliased and temporary bytes);
* the process's resident memory during steps, in a fresh subprocess per
  optimizer (sampled every millisecond by a thread): how many extra
  parameter-sized buffers a step touches beyond parameters, gradients and
  state, with donation (and, for Adam, without donation as the contrast).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax_survey as osv

from common import SPEC, SPECS, make_tree, save_json, step_fn, tree_info, tree_shapes

N_RSS = 1 << 24


BF16_MOMENTS = ("adam", "amsgrad", "adabelief", "adabound")


def _rss() -> int:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_child(name: str, donate: bool, n: int) -> dict:
  """Runs in a subprocess: resident memory before and during 6 steps."""
  spec = SPEC[name]
  shapes = {"w": (n,)}
  params = make_tree(shapes, 0)
  grads = make_tree(shapes, 1, 1e-2)
  tx = spec.make()
  state = tx.init(params)
  step = jax.jit(step_fn(tx), donate_argnums=(0, 1) if donate else ())
  compiled = step.lower(params, state, grads).compile()
  jax.block_until_ready((params, state))
  time.sleep(0.05)
  before = _rss()
  peak = [before]
  stop = threading.Event()

  def sample():
    while not stop.is_set():
      peak[0] = max(peak[0], _rss())
      time.sleep(0.001)

  th = threading.Thread(target=sample)
  th.start()
  for _ in range(6):
    params, state = compiled(params, state, grads)
    if not donate:
      jax.block_until_ready((params, state))
  jax.block_until_ready((params, state))
  time.sleep(0.02)
  stop.set()
  th.join()
  buf = 4 * n
  return {"optimizer": name, "donate": donate, "rss_before": before,
          "rss_peak": peak[0], "extra_bytes": peak[0] - before,
          "extra_param_copies": (peak[0] - before) / buf}


def state_bytes(spec, shapes) -> dict:
  params = make_tree(shapes, 0)
  tx = spec.make()
  st = jax.eval_shape(tx.init, params)
  leaves = jax.tree.leaves(st)
  n = tree_info_from(shapes)
  total = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in leaves)
  full = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in leaves if x.ndim)
  return {"bytes_per_param": total / n, "buffers": full / (4 * n),
          "scalar_bytes": total - full}


def tree_info_from(shapes) -> int:
  return int(sum(np.prod(s) for s in shapes.values()))


def analysis(spec, n: int) -> dict:
  params = jax.ShapeDtypeStruct((n,), jnp.float32)
  params = {"w": params}
  tx = spec.make()
  st = jax.eval_shape(tx.init, params)
  c = jax.jit(step_fn(tx), donate_argnums=(0, 1)).lower(params, st, params).compile()
  m = c.memory_analysis()
  buf = 4 * n
  return {"argument": m.argument_size_in_bytes / buf, "output": m.output_size_in_bytes / buf,
          "alias": m.alias_size_in_bytes / buf, "temp": m.temp_size_in_bytes / buf}


def main(argv=None, log=print):
  ap = argparse.ArgumentParser()
  ap.add_argument("--child", default="")
  ap.add_argument("--donate", type=int, default=1)
  ap.add_argument("--n", type=int, default=N_RSS)
  ap.add_argument("--out", default="memory.json")
  a = ap.parse_args(argv)
  if a.child:
    print(json.dumps(rss_child(a.child, bool(a.donate), a.n)))
    return None
  shapes = tree_shapes("transformer")
  rows = []
  here = os.path.dirname(os.path.abspath(__file__))
  jobs = [(s.name, 1) for s in SPECS] + [("adam", 0)]
  rss = {}
  # two children at a time (2 cores); each reports its own RSS only
  running = []
  for job in jobs + [(None, None)]:
    name, donate = job
    if name is not None:
      p = subprocess.Popen([sys.executable, os.path.join(here, "memory.py"), "--child", name,
                            "--donate", str(donate), "--n", str(a.n)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
      running.append(((name, donate), p))
    while running and (len(running) >= 2 or name is None):
      key, p = running.pop(0)
      out, _ = p.communicate()
      try:
        rss[key] = json.loads(out.strip().splitlines()[-1])
      except (IndexError, json.JSONDecodeError):
        rss[key] = {"error": out[-500:]}
    if name is None:
      break
  for spec in SPECS:
    sb = state_bytes(spec, shapes)
    an = analysis(spec, a.n)
    r = rss[(spec.name, 1)]
    row = {"optimizer": spec.name, "min_buffers": spec.min_buffers,
           "state_buffers": sb["buffers"], "state_bytes_per_param": sb["bytes_per_param"],
           "scalar_state_bytes": sb["scalar_bytes"], "xla": an, "rss": r}
    rows.append(row)
    log(f"  memory {spec.name:10s} state {sb['buffers']:.0f} buffers ({sb['bytes_per_param']:.2f} B/param; "
        f"min {spec.min_buffers})  XLA temp {an['temp']:.0f} param-sized buffers  "
        f"RSS extra during steps {r.get('extra_param_copies', float('nan')):.2f} x params")
  # opt-in bfloat16 moments (``mu_dtype``/``nu_dtype``): state bytes and XLA temps
  bf16 = []
  for name in BF16_MOMENTS:
    spec = types.SimpleNamespace(make=lambda name=name: getattr(osv, name)(
        1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16))
    sb, an = state_bytes(spec, shapes), analysis(spec, a.n)
    bf16.append({"optimizer": name, "state_bytes_per_param": sb["bytes_per_param"], "xla": an})
    log(f"  memory {name:10s} bfloat16 moments: {sb['bytes_per_param']:.2f} B/param, "
        f"XLA temp {an['temp']:.2f} param-sized (float32) buffers")
  nd = rss[("adam", 0)]
  log(f"  memory adam without donation: RSS extra {nd.get('extra_param_copies', float('nan')):.2f} x params")
  out = {"n_elements": a.n, "tree_for_state_bytes": tree_info("transformer"),
         "rows": rows, "adam_no_donation": nd, "bf16_moments": bf16}
  save_json(a.out, out)
  return out


if __name__ == "__main__":
  main()
