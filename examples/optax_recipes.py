"""optax recipes around survey optimizers, each in a few lines.

    python examples/optax_recipes.py

1. gradient clipping in front:   optax.chain(optax.clip_by_global_norm(1.0), adabound(...))
2. a schedule as learning rate:  radam(optax.warmup_cosine_decay_schedule(...))
3. the learning rate changed between steps: optax.inject_hyperparams(adam)(learning_rate=...)
4. gradient accumulation:        optax.MultiSteps(adabelief(...), every_k_schedule=4)
5. skipping a NaN step:          optax.apply_if_finite(amsbound(...), max_consecutive_errors=3)
6. parameter groups:             optax.multi_transform / optax.masked

Each function trains or steps a small least-squares model and returns what
it shows; ``main`` prints it.  (optax built-ins go before the first
optax_survey stage or after the last, as here: they act on plain pytrees.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optax_survey as osv


def problem(seed=0, n=128):
  """Least squares with a weight matrix and a bias."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(n, 4)), jnp.float32)
  y = x @ jnp.asarray([[1.0], [-2.0], [0.5], [3.0]]) + 0.7
  params = {"w": jnp.zeros((4, 1)), "b": jnp.zeros((1,))}
  loss = lambda p, xb=x, yb=y: jnp.mean((xb @ p["w"] + p["b"] - yb) ** 2)
  return params, loss, (x, y)


def fit(tx, steps=200, seed=0):
  params, loss, _ = problem(seed)
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    value, grads = jax.value_and_grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value

  values = []
  for _ in range(steps):
    params, state, value = step(params, state)
    values.append(float(value))
  return params, state, values


def clipped_adabound():
  """Clipping before AdaBound: a huge gradient moves the weights no more than
  the clipped one does."""
  tx = optax.chain(optax.clip_by_global_norm(1.0), osv.adabound(1e-2, final_lr=0.1))
  params, loss, _ = problem()
  g = {"w": jnp.full((4, 1), 1e6), "b": jnp.full((1,), 1e6)}
  clipped = optax.clip_by_global_norm(1.0).update(g, optax.EmptyState())[0]
  u_huge, _ = tx.update(g, tx.init(params), params)
  plain = osv.adabound(1e-2, final_lr=0.1)
  u_clip, _ = plain.update(clipped, plain.init(params), params)
  _, _, values = fit(tx)
  return {"update_from_huge_grad": u_huge, "update_from_clipped_grad": u_clip,
          "losses": values}


def scheduled_radam(steps=200):
  """RAdam with linear warmup then cosine decay of the learning rate."""
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=0.1, warmup_steps=20, decay_steps=steps, end_value=1e-3)
  _, _, values = fit(osv.radam(schedule), steps)
  return {"schedule": schedule, "losses": values}


def injected_learning_rate(steps=100, change_at=50, new_lr=1e-3):
  """``inject_hyperparams`` puts the learning rate in the state; set it
  between steps (e.g. a plateau rule) without recompiling."""
  tx = optax.inject_hyperparams(osv.adam)(learning_rate=0.1)
  params, loss, _ = problem()
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    value, grads = jax.value_and_grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value, updates

  values, update_norms = [], []
  for t in range(steps):
    if t == change_at:
      # same dtype as the injected value (not weakly typed), so no recompile
      old = state.hyperparams["learning_rate"]
      state.hyperparams["learning_rate"] = jnp.asarray(new_lr, old.dtype)
    params, state, value, updates = step(params, state)
    values.append(float(value))
    update_norms.append(float(optax.tree.norm(updates)))
  return {"losses": values, "update_norms": update_norms,
          "compilations": step._cache_size(),
          "final_lr": float(state.hyperparams["learning_rate"])}


def accumulated_adabelief(k=4):
  """``MultiSteps``: k micro-batch gradients are averaged, then one AdaBelief
  step; here compared with one step on the mean gradient."""
  params, loss, (x, y) = problem()
  tx = optax.MultiSteps(osv.adabelief(1e-2), every_k_schedule=k)
  state = tx.init(params)
  micro = [jax.grad(loss)(params, xb, yb)
           for xb, yb in zip(jnp.split(x, k), jnp.split(y, k))]
  updates = []
  for g in micro:
    u, state = tx.update(g, state, params)
    updates.append(u)
  mean_grad = jax.tree.map(lambda *gs: sum(gs) / k, *micro)
  direct = osv.adabelief(1e-2)
  u_direct, _ = direct.update(mean_grad, direct.init(params), params)
  return {"micro_updates": updates, "one_step_on_mean_grad": u_direct}


def nan_skipping_amsbound():
  """``apply_if_finite``: a step whose gradient holds a NaN is skipped, the
  inner state untouched, and counted."""
  params, loss, _ = problem()
  tx = optax.apply_if_finite(osv.amsbound(1e-2, final_lr=0.1), max_consecutive_errors=3)
  state = tx.init(params)
  g = jax.grad(loss)(params)
  _, state = tx.update(g, state, params)
  before = state
  bad = {"w": g["w"].at[0, 0].set(jnp.nan), "b": g["b"]}
  u_bad, state = tx.update(bad, state, params)
  return {"update_on_nan": u_bad, "state_before": before.inner_state,
          "state_after": state.inner_state, "notfinite_count": int(state.notfinite_count),
          "total_notfinite": int(state.total_notfinite)}


def parameter_groups():
  """``multi_transform``: AdaBound for the weights, SGD with momentum for the
  bias; ``masked``: weight decay on the weights only."""
  labels = {"w": "adabound", "b": "sgdm"}
  tx = optax.multi_transform(
      {"adabound": osv.adabound(1e-2, final_lr=0.1), "sgdm": osv.sgdm(0.05)}, labels)
  decay_w = optax.chain(optax.masked(optax.add_decayed_weights(1e-3), {"w": True, "b": False}),
                        osv.adam(5e-2))
  params, loss, _ = problem()
  g = jax.grad(loss)(params)
  u, _ = tx.update(g, tx.init(params), params)
  ab, sg = osv.adabound(1e-2, final_lr=0.1), osv.sgdm(0.05)
  u_ab, _ = ab.update({"w": g["w"]}, ab.init({"w": params["w"]}), {"w": params["w"]})
  u_sg, _ = sg.update({"b": g["b"]}, sg.init({"b": params["b"]}), {"b": params["b"]})
  _, _, values = fit(tx)
  _, _, values_decay = fit(decay_w)
  return {"update": u, "adabound_alone": u_ab, "sgdm_alone": u_sg,
          "losses": values, "losses_masked_decay": values_decay}


def main():
  r = clipped_adabound()
  print("1. clip + adabound: loss", r["losses"][0], "->", r["losses"][-1])
  r = scheduled_radam()
  print("2. radam + warmup-cosine: loss", r["losses"][0], "->", r["losses"][-1])
  r = injected_learning_rate()
  print("3. inject_hyperparams: update norm before/after the change",
        r["update_norms"][49], r["update_norms"][50], "compilations", r["compilations"])
  r = accumulated_adabelief()
  print("4. MultiSteps: zero updates until the 4th micro-step:",
        [float(optax.tree.norm(u)) for u in r["micro_updates"]])
  r = nan_skipping_amsbound()
  print("5. apply_if_finite: NaN step skipped, notfinite_count", r["notfinite_count"])
  r = parameter_groups()
  print("6. multi_transform: loss", r["losses"][0], "->", r["losses"][-1])


if __name__ == "__main__":
  main()
