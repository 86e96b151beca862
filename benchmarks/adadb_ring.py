"""Benchmark 8: AdaDB's gradient history as a ring (one buffer written per step).

AdaDB keeps the last three gradients.  The library shifts them every step
(``g_{t-2} -> 3rd``, ``g_{t-1} -> 2nd``, ``g_t -> 1st``): three parameter-sized
buffers written per step.  A ring writes one: ``g_t`` overwrites the slot that
held ``g_{t-3}``, and the roles of the three slots rotate with the step count.
This script measures whether that wins in the full training step of
``train_step.py`` (gradient inside the program, donated state), side by side
with ``osv.adam``, an A/A control and the library's AdaDB, in the same trials.
Two ring layouts (same maths; checked against ``osv.adadb`` before timing):

* ``ring (stacked)``: the history as one ``(3, *shape)`` leaf per parameter,
  read with ``dynamic_index`` and written with one ``dynamic_update_slice``:
  the cheapest ring XLA can run.  Its state leaves are not parameter-shaped,
  yet ``optax.tree_map_params`` (sharding a state like the parameters) hands
  them to the function meant for parameter-shaped leaves, so a parameter's
  PartitionSpec would land on the wrong axes: it is measured to bound what a
  ring can win.
* ``ring (slots)``: three parameter-shaped leaves whose roles rotate, the
  step chosen by ``lax.switch`` on ``t mod 3``: each branch writes one slot
  and passes the other two through.

    python benchmarks/adadb_ring.py            # 8M leaf, elementwise and linear losses
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import common  # noqa: E402
import train_step  # noqa: E402
import optax_survey as osv  # noqa: E402
from optax_survey import primitives as P  # noqa: E402
from optax_survey._primitives.friction import _after  # noqa: E402
from optax_survey.aliases import ADADB_B3, ADADB_LAM  # noqa: E402
from optax_survey.flow import FRICTION, as_flow, direction, record  # noqa: E402


def _xi(b3, lam):
  """The library's ξ (``adadb_friction``'s rule, same operations)."""

  def xi_fn(g, g1, g2, g3):
    delta = b3 * (g1 - g) + b3**2 * (g2 - g1) + b3**3 * (g3 - g2)
    opposite = jnp.real(jnp.sign(g) * jnp.conj(jnp.sign(g1))) < 0
    e = jnp.exp(-jnp.abs(delta))
    return jnp.where(opposite, 1.0, 1 + lam + e) / (1 + e)

  return xi_fn


def ring_stacked_friction(b3=ADADB_B3, lam=ADADB_LAM):
  """After step t, slot ``t mod 3`` of the ``(3, *shape)`` history holds ``g_t``."""
  xi_fn = _xi(b3, lam)

  def init_fn(params):
    return jax.tree.map(lambda p: jnp.zeros((3, *p.shape), p.dtype), params)

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    t = flow.count

    def slot(h, back):  # g_{t-back}
      return jax.lax.dynamic_index_in_dim(h, (t - back) % 3, 0, keepdims=False)

    xi = jax.tree.map(lambda g, h: xi_fn(g, slot(h, 1), slot(h, 2), slot(h, 3)),
                      flow.grad, state)
    mu = jax.tree.map(lambda x, m: x * m, xi, direction(flow))
    new_state = jax.tree.map(
        lambda h, g, x: jax.lax.dynamic_update_index_in_dim(
            h, _after(g, x).astype(h.dtype), t % 3, 0), state, flow.grad, xi)
    return record(flow, "adadb_friction", add=[FRICTION], mu=mu), new_state

  return optax.GradientTransformation(init_fn, update_fn)


def ring_slots_friction(b3=ADADB_B3, lam=ADADB_LAM):
  """Three parameter-shaped slots; after step t, slot ``t mod 3`` holds ``g_t``."""
  xi_fn = _xi(b3, lam)

  def init_fn(params):
    return tuple(jax.tree.map(jnp.zeros_like, params) for _ in range(3))

  def branch(k):
    # at step t with t mod 3 = k: g_{t-1} in slot (k+2)%3, g_{t-2} in (k+1)%3, g_{t-3} in k
    def run(g, m, slots):
      xi = xi_fn(g, slots[(k + 2) % 3], slots[(k + 1) % 3], slots[k])
      new = list(slots)
      new[k] = _after(g, xi)
      return xi * m, tuple(new)
    return run

  def update_fn(updates, state, params=None):
    del params
    flow = as_flow(updates)
    k = flow.count % 3
    leaves, treedef = jax.tree.flatten(flow.grad)
    mus = jax.tree.leaves(direction(flow))
    slots = [jax.tree.leaves(s) for s in state]
    out_mu, out_slots = [], [[], [], []]
    for i, (g, m) in enumerate(zip(leaves, mus, strict=True)):
      new_m, new_s = jax.lax.switch(k, [branch(0), branch(1), branch(2)], g, m,
                                    tuple(s[i] for s in slots))
      out_mu.append(new_m)
      for j in range(3):
        out_slots[j].append(new_s[j])
    mu = jax.tree.unflatten(treedef, out_mu)
    new_state = tuple(jax.tree.unflatten(treedef, s) for s in out_slots)
    return record(flow, "adadb_friction", add=[FRICTION], mu=mu), new_state

  return optax.GradientTransformation(init_fn, update_fn)


def adadb_with(friction, learning_rate=1e-3):
  """``osv.adadb``'s recipe with another friction stage."""
  return optax.chain(
      P.count_steps(), P.ema_first_moment(0.9), P.ema_second_moment(0.999), friction,
      P.bias_correction(0.9, 0.999), P.adaptive_step_size(1e-8),
      P.apply_learning_rate(learning_rate), P.descend())


VARIANTS = {"ring (stacked)": ring_stacked_friction, "ring (slots)": ring_slots_friction}


def check_same_maths(steps: int = 8) -> float:
  """Largest relative difference from ``osv.adadb`` over ``steps`` steps (float32)."""
  rng = np.random.default_rng(0)
  params = {"w": jnp.asarray(rng.standard_normal((16, 8)), jnp.float32),
            "b": jnp.asarray(rng.standard_normal(8), jnp.float32)}
  txs = {"library": osv.adadb(1e-2), **{k: adadb_with(v(), 1e-2) for k, v in VARIANTS.items()}}
  out = {}
  for name, tx in txs.items():
    p, s = params, tx.init(params)
    step = jax.jit(tx.update)
    for t in range(steps):
      g = jax.tree.map(lambda x, t=t: jnp.asarray(
          np.random.default_rng(t).standard_normal(x.shape), jnp.float32), params)
      u, s = step(g, s, p)
      p = optax.apply_updates(p, u)
    out[name] = p
  worst = 0.0
  for name in VARIANTS:
    for a, b in zip(jax.tree.leaves(out[name]), jax.tree.leaves(out["library"]), strict=True):
      worst = max(worst, float(jnp.max(jnp.abs(a - b) / (jnp.abs(b) + 1e-6))))
  return worst


def bench(loss: str, repeats: int, target_s: float) -> dict:
  tree = "large"
  n = int(np.prod(train_step.LARGE))
  adam = train_step.TrainContender("osv.adam", osv.adam(1e-3), tree, loss)
  contenders = [
      adam,
      train_step.TrainContender("osv.adam (A/A)", osv.adam(1e-3), tree, loss,
                                compiled=adam.compiled),
      train_step.TrainContender("osv.adadb (shift)", osv.adadb(1e-3), tree, loss),
  ] + [train_step.TrainContender(k, adadb_with(v()), tree, loss) for k, v in VARIANTS.items()]
  times = common.interleaved(contenders, repeats, target_s)
  over_adam = {c.label: statistics.median(x / y for x, y in zip(c.times, adam.times))
               for c in contenders[1:]}
  row = {"loss": loss, "elements": n,
         "seconds": {c.label: t for c, t in zip(contenders, times)},
         "over_osv_adam": over_adam,
         "minor_faults_per_step": {c.label: statistics.median(c.faults) for c in contenders},
         "hlo": {c.label: train_step.hlo_stats(c.compiled, n) for c in contenders}}
  for c in contenders:
    c.free()
  common.collect()
  return row


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--losses", default="elementwise,linear")
  parser.add_argument("--repeats", type=int, default=9)
  parser.add_argument("--target-s", type=float, default=0.15)
  parser.add_argument("--large-shape", default="2048,4096")
  parser.add_argument("--out", default="adadb_ring.json")
  args = parser.parse_args(argv)
  train_step.LARGE = tuple(int(d) for d in args.large_shape.split(","))
  t0 = time.perf_counter()
  worst = check_same_maths()
  if worst > 1e-5:
    raise SystemExit(f"a ring variant differs from osv.adadb by {worst:.2e} (relative)")
  print(f"same maths as osv.adadb: largest relative difference {worst:.1e} after 8 steps")
  rows = []
  for loss in args.losses.split(","):
    row = bench(loss, args.repeats, args.target_s)
    rows.append(row)
    print(f"8M leaf, {loss} loss (time / osv.adam, A/A {row['over_osv_adam']['osv.adam (A/A)']:.2f})")
    for label, r in row["over_osv_adam"].items():
      h = row["hlo"][label]
      print(f"  {label:18s} {r:5.2f}  copies {h['copies']}  temp "
            f"{h['temp_bytes_per_element']:3.0f} B/el  executed "
            f"{h['executed_bytes_per_element']:4.0f} B/el  faults/step "
            f"{row['minor_faults_per_step'][label]:.0f}")
  result = {"machine": common.machine(), "rows": rows, "max_rel_diff": worst,
            "wall_s": time.perf_counter() - t0}
  path = common.save_json(args.out, result)
  print(f"wrote {path} in {result['wall_s'] / 60:.1f} min")
  return result


if __name__ == "__main__":
  main()
