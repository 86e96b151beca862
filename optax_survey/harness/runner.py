"""Train one optimizer on one task over seeds (and a learning-rate grid) at once.

All (learning rate, seed) pairs are vectorised with ``jax.vmap`` into one
compiled program per optimizer: the optimizer is built inside the vmapped
function, with the learning rate a traced value.  The whole run is one call of
that program: an outer ``lax.scan`` over chunks of steps, each an inner
``lax.scan`` followed by an evaluation (one progress-bar tick per program).
Everything is float32, whatever ``jax_enable_x64`` says.
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
  metrics: dict  # name -> [n_lr, n_seeds, E], from task.evaluate (the test split)
  loss: np.ndarray  # [n_lr, n_seeds, steps] per-step training loss
  update_norm: np.ndarray  # [n_lr, n_seeds, steps] ||θ_t - θ_{t-1}||
  path: np.ndarray | None = None  # [n_lr, n_seeds, steps + 1, d] (small tasks)
  slow_path: np.ndarray | None = None  # lookahead's slow weights, same shape
  wall_s: float = 0.0
  compile_s: float = 0.0
  val_metrics: dict | None = None  # name -> [n_lr, n_seeds, E], from task.validate
  seed_offset: int = 0  # the runs used seeds seed_offset .. seed_offset + seeds - 1


# XLA's CPU backend spends most of its compile time in LLVM's most expensive passes
# (level 3, the default): measured on a 2-core x86 CPU, the program of one optimizer on
# digits-mlp (40 runs, 300 steps) compiles in 14 s at level 3 and in 3 s at level 1,
# and then runs no slower (2.0 s vs 2.3 s).  The harness compiles one program per
# optimizer and task, so it asks for level 1 on CPU; other backends keep their defaults.
# Problems with at most SMALL_PROBLEM parameters (the 2-D, online and Wilson tasks) run
# in well under a second whatever the code quality, so they skip LLVM's optimisations
# altogether (level 0): their compile time is what the user waits for.
CPU_COMPILER_OPTIONS: dict[str, str | bool] = {"xla_backend_optimization_level": "1"}
SMALL_PROBLEM = 1000


def compiler_options(n_params: int | None = None) -> dict[str, str | bool]:
  """The XLA options the harness compiles a program with (see ``CPU_COMPILER_OPTIONS``).

  Args:
    n_params: the number of parameters of one run (level 0 at most ``SMALL_PROBLEM``).

  Returns:
    The options for ``jax.stages.Lowered.compile``; empty off CPU.
  """
  if jax.default_backend() != "cpu":
    return {}
  if n_params is not None and n_params <= SMALL_PROBLEM:
    return {"xla_backend_optimization_level": "0"}
  return dict(CPU_COMPILER_OPTIONS)


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
    seed_offset: int = 0,
) -> RunResult:
  """Trains ``name`` on ``task`` for every (learning rate, seed) pair as one program.

  Args:
    task: the task.
    name: the optimizer's name in the registry.
    steps: training steps (default: the task's).
    seeds: number of seeds (default: the task's).
    lrs: the learning rates (default: ``[task.lr_for(name)]``).
    progress: a progress bar (``update(1)`` per chunk of steps), or None.
    track_path: record the parameters after every step (default: for the
      2-D and online tasks).
    seed_offset: the first seed; the runs use seeds ``seed_offset, ...,
      seed_offset + seeds - 1`` (fresh seeds for a rerun at a selected rate).

  Returns:
    A :class:`RunResult`; ``metrics`` come from ``task.evaluate`` only and
    ``val_metrics`` from ``task.validate`` only.
  """
  steps = task.steps if steps is None else int(steps)
  seeds = task.seeds if seeds is None else int(seeds)
  lrs = [float(task.lr_for(name))] if not lrs else [float(v) for v in lrs]
  track_path = task.kind in ("2d", "online") if track_path is None else track_path
  is_lookahead = name == "lookahead"
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)

  lr_flat = jnp.asarray(np.repeat(np.asarray(lrs, np.float32), seeds))
  seed_flat = jnp.asarray(np.tile(np.arange(seed_offset, seed_offset + seeds, dtype=np.int32),
                                  len(lrs)))
  validate = task.validate

  def measure(carry):
    params = eval_params(carry[0], carry[1])
    return task.evaluate(params), (validate(params) if validate is not None else {})

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

  def run_all(lr, seed):
    carry = init(lr, seed)
    first = measure(carry)

    def run_chunk(carry, _):
      carry, records = jax.lax.scan(lambda c, x: one_step(lr, c, x), carry, None, length=chunk)
      return carry, (records, measure(carry))

    _, (records, evals) = jax.lax.scan(run_chunk, carry, None, length=n_chunks)
    return first, records, evals

  # One program for every (rate, seed) pair and every step: compiled ahead of time, so
  # that the compile time is measured on its own.
  start = time.perf_counter()
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      jax.eval_shape(lambda: initial_params(task, 0))))
  compiled = jax.jit(jax.vmap(run_all)).lower(lr_flat, seed_flat).compile(
      compiler_options=compiler_options(n_params))
  compile_s = time.perf_counter() - start
  first, rec, ev = jax.tree.map(np.asarray, compiled(lr_flat, seed_flat))
  if progress is not None:
    progress.update(1)
  wall = time.perf_counter() - start
  # ev: [runs, n_chunks, ...] -> a list of per-evaluation dicts, the first before training
  evals = [first] + [jax.tree.map(lambda a, i=i: a[:, i], ev) for i in range(n_chunks)]
  records = {k: v.reshape(v.shape[0], n_chunks * chunk, *v.shape[3:]) for k, v in rec.items()}

  shape = (len(lrs), seeds)

  def cat(key: str) -> np.ndarray:
    return records[key][:, :steps]

  def stack(part: int) -> dict:
    return {k: np.stack([np.asarray(e[part][k], np.float64) for e in evals],
                        axis=1).reshape(*shape, -1)
            for k in evals[0][part]}

  metrics = stack(0)
  val_metrics = stack(1) if validate is not None else None
  eval_steps = np.array([min(i * chunk, steps) for i in range(n_chunks + 1)])
  result = RunResult(
      task=task.name, optimizer=name, lrs=lrs, seeds=seeds, steps=steps,
      eval_steps=eval_steps, metrics=metrics,
      loss=cat("loss").reshape(*shape, -1), update_norm=cat("update_norm").reshape(*shape, -1),
      wall_s=wall, compile_s=compile_s, val_metrics=val_metrics, seed_offset=seed_offset,
  )
  if track_path:
    start_params = np.asarray(jax.vmap(lambda s: _flat(initial_params(task, s)))(seed_flat))
    path = np.concatenate([start_params[:, None], cat("path")], axis=1)
    result.path = path.reshape(*shape, steps + 1, -1)
    if is_lookahead:
      slow = np.concatenate([start_params[:, None], cat("slow")], axis=1)
      result.slow_path = slow.reshape(*shape, steps + 1, -1)
  return result

