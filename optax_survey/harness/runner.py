"""Train one optimizer on one task over seeds (and a learning-rate grid) at once.

All (learning rate, seed) pairs are vectorised with ``jax.vmap`` into one
compiled program per optimizer: the optimizer is built inside the vmapped
function, with the learning rate a traced value.  Steps run in ``lax.scan``
chunks between evaluations, one progress-bar tick per chunk.  Everything is
float32, whatever ``jax_enable_x64`` says.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optax_survey as osv
from optax_survey.harness import registry
from optax_survey.harness.tasks import Task

__all__ = ["RunResult", "initial_params", "run_optimizer", "schedule_chunks", "seed_keys"]


@dataclasses.dataclass
class RunResult:
  """Results of one optimizer on one task; arrays are [n_lr, n_seeds, ...]."""

  task: str
  optimizer: str
  lrs: list
  seeds: int
  steps: int
  eval_steps: np.ndarray  # [E]
  metrics: dict  # name -> [n_lr, n_seeds, E]
  loss: np.ndarray  # [n_lr, n_seeds, steps] per-step training loss
  update_norm: np.ndarray  # [n_lr, n_seeds, steps] ||θ_t - θ_{t-1}||
  path: np.ndarray | None = None  # [n_lr, n_seeds, steps + 1, d] (small tasks)
  slow_path: np.ndarray | None = None  # lookahead's slow weights, same shape
  wall_s: float = 0.0
  compile_s: float = 0.0


def schedule_chunks(steps: int, eval_points: int) -> tuple[int, int]:
  """(chunk length, number of chunks) with chunk * n >= steps, n <= eval_points."""
  n = max(1, min(eval_points, steps))
  chunk = math.ceil(steps / n)
  return chunk, math.ceil(steps / chunk)


def _flat(tree):
  return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


def seed_keys(seed) -> tuple[jax.Array, jax.Array]:
  """The (initialisation, data) keys of seed ``seed`` (an int or a traced int)."""
  key = jax.random.fold_in(jax.random.PRNGKey(0), seed)
  k_init, k_data = jax.random.split(key)
  return k_init, k_data


def initial_params(task: Task, seed) -> Any:
  """The float32 initial parameters of seed ``seed``, as every run starts."""
  k_init, _ = seed_keys(seed)
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), task.init_params(k_init, seed))


def run_optimizer(
    task: Task,
    name: str,
    *,
    steps: int | None = None,
    seeds: int | None = None,
    lrs: Sequence[float] | None = None,
    progress: Any = None,
    track_path: bool | None = None,
) -> RunResult:
  steps = task.steps if steps is None else int(steps)
  seeds = task.seeds if seeds is None else int(seeds)
  lrs = [float(task.lr_for(name))] if not lrs else [float(v) for v in lrs]
  track_path = task.kind in ("2d", "online") if track_path is None else track_path
  is_lookahead = name == "lookahead"
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)

  lr_flat = jnp.asarray(np.repeat(np.asarray(lrs, np.float32), seeds))
  seed_flat = jnp.asarray(np.tile(np.arange(seeds, dtype=np.int32), len(lrs)))

  def make_tx(lr):
    rate = task.schedule(lr) if task.schedule is not None else lr
    return registry.build(name, rate, **task.optimizer_kwargs)

  def eval_params(params, opt_state):
    return osv.lookahead_slow_params(opt_state) if is_lookahead else params

  def init(lr, seed):
    _, k_data = seed_keys(seed)
    params = initial_params(task, seed)
    return params, make_tx(lr).init(params), k_data, jnp.zeros((), jnp.int32)

  def one_step(lr, carry, _):
    params, opt_state, key, t = carry
    key, sub = jax.random.split(key)
    batch = task.sample_batch(sub, t) if task.sample_batch is not None else None
    loss, grads = jax.value_and_grad(task.loss)(params, batch)
    updates, new_state = make_tx(lr).update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    if task.project is not None:
      new_params = task.project(new_params)
    active = t < steps

    def keep(new, old):
      return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)

    new_params, new_state = keep(new_params, params), keep(new_state, opt_state)
    record = {
        "loss": loss.astype(jnp.float32),
        "update_norm": jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(
            jax.tree.leaves(new_params), jax.tree.leaves(params), strict=True)
        )).astype(jnp.float32),
    }
    if track_path:
      record["path"] = _flat(new_params)
      if is_lookahead:
        record["slow"] = _flat(osv.lookahead_slow_params(new_state))
    return (new_params, new_state, key, t + 1), record

  def run_chunk(lr, carry):
    carry, records = jax.lax.scan(lambda c, x: one_step(lr, c, x), carry, None, length=chunk)
    return carry, records, task.evaluate(eval_params(carry[0], carry[1]))

  def first_eval(carry):
    return task.evaluate(eval_params(carry[0], carry[1]))

  start = time.perf_counter()
  carry = jax.jit(jax.vmap(init))(lr_flat, seed_flat)
  evals = [jax.jit(jax.vmap(first_eval))(carry)]
  chunk_fn = jax.jit(jax.vmap(run_chunk))
  records = []
  compile_s = 0.0
  for i in range(n_chunks):
    t0 = time.perf_counter()
    carry, rec, ev = chunk_fn(lr_flat, carry)
    records.append(jax.tree.map(np.asarray, rec))
    evals.append(jax.tree.map(np.asarray, ev))
    if i == 0:
      compile_s = time.perf_counter() - t0
    if progress is not None:
      progress.update(1)
  wall = time.perf_counter() - start

  shape = (len(lrs), seeds)

  def cat(key: str) -> np.ndarray:
    return np.concatenate([r[key] for r in records], axis=1)[:, :steps]

  metrics = {
      k: np.stack([np.asarray(e[k], np.float64) for e in evals], axis=1).reshape(*shape, -1)
      for k in evals[0]
  }
  eval_steps = np.array([min(i * chunk, steps) for i in range(n_chunks + 1)])
  result = RunResult(
      task=task.name, optimizer=name, lrs=lrs, seeds=seeds, steps=steps,
      eval_steps=eval_steps, metrics=metrics,
      loss=cat("loss").reshape(*shape, -1), update_norm=cat("update_norm").reshape(*shape, -1),
      wall_s=wall, compile_s=compile_s,
  )
  if track_path:
    start_params = np.asarray(jax.vmap(lambda s: _flat(initial_params(task, s)))(seed_flat))
    path = np.concatenate([start_params[:, None], cat("path")], axis=1)
    result.path = path.reshape(*shape, steps + 1, -1)
    if is_lookahead:
      slow = np.concatenate([start_params[:, None], cat("slow")], axis=1)
      result.slow_path = slow.reshape(*shape, steps + 1, -1)
  return result

