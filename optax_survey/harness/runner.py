"""Train one optimizer on one task over seeds (and a learning-rate grid) at once.

All (learning rate, seed) pairs are vectorised with ``jax.vmap`` into one
compiled program per optimizer: the optimizer is built inside the vmapped
function, with the learning rate a traced value.  The whole run is one call of
that program: an outer ``lax.scan`` over chunks of steps, each an inner
``lax.scan`` followed by an evaluation (one progress-bar tick per program).
:func:`run_tuned` puts a tuned budget in one program: the grid, the selection
on the validation split (on the device) and the rerun of the selected rate on
fresh seeds.  Everything is float32, whatever ``jax_enable_x64`` says.
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
from optax_survey.harness import registry, stats
from optax_survey.harness.tasks import Task

__all__ = ["RunResult", "initial_params", "run_optimizer", "run_tuned", "schedule_chunks",
           "seed_keys"]


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


def _program_parts(task: Task, name: str, steps: int, track_path: bool):
  """``run_all(lr, seed)``, one run's whole training as a traceable function, and its
  chunk schedule: ``run_all`` returns (first evaluation, per-step records, evaluations)."""
  is_lookahead = name == "lookahead"
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)
  validate = task.validate

  def eval_params(params, opt_state):
    return osv.lookahead_slow_params(opt_state) if is_lookahead else params

  def measure(carry):
    params = eval_params(carry[0], carry[1])
    return task.evaluate(params), (validate(params) if validate is not None else {})

  def make_tx(lr):
    rate = task.schedule(lr) if task.schedule is not None else lr
    return registry.build(name, rate, **task.optimizer_kwargs)

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

  return run_all, chunk, n_chunks


def _n_params(task: Task) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      jax.eval_shape(lambda: initial_params(task, 0))))


def _compile(task: Task, fn, *args):
  """``fn`` compiled ahead of time for ``args`` (so compile time is measured on its own)."""
  return jax.jit(fn).lower(*args).compile(compiler_options=compiler_options(_n_params(task)))


def _flat_runs(lrs: Sequence[float], seeds: int, seed_offset: int):
  """(rates, seeds) of every run, rate-major: what ``jax.vmap(run_all)`` maps over."""
  lr_flat = jnp.asarray(np.repeat(np.asarray(lrs, np.float32), seeds))
  seed_flat = jnp.asarray(np.tile(np.arange(seed_offset, seed_offset + seeds, dtype=np.int32),
                                  len(lrs)))
  return lr_flat, seed_flat


def _result(task: Task, name: str, raw, *, lrs: list, seeds: int, steps: int, chunk: int,
            n_chunks: int, track_path: bool, seed_offset: int) -> RunResult:
  """The program's output for ``lrs`` x ``seeds`` runs (flattened rate-major) as a
  :class:`RunResult`."""
  first, rec, ev = jax.tree.map(np.asarray, raw)
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

  result = RunResult(
      task=task.name, optimizer=name, lrs=list(lrs), seeds=seeds, steps=steps,
      eval_steps=np.array([min(i * chunk, steps) for i in range(n_chunks + 1)]),
      metrics=stack(0), val_metrics=stack(1) if task.validate is not None else None,
      loss=cat("loss").reshape(*shape, -1), update_norm=cat("update_norm").reshape(*shape, -1),
      seed_offset=seed_offset,
  )
  if track_path:
    _, seed_flat = _flat_runs(lrs, seeds, seed_offset)
    start_params = np.asarray(jax.vmap(lambda s: _flat(initial_params(task, s)))(seed_flat))
    path = np.concatenate([start_params[:, None], cat("path")], axis=1)
    result.path = path.reshape(*shape, steps + 1, -1)
    if name == "lookahead":
      slow = np.concatenate([start_params[:, None], cat("slow")], axis=1)
      result.slow_path = slow.reshape(*shape, steps + 1, -1)
  return result


def _settings(task: Task, steps: int | None, seeds: int | None,
              track_path: bool | None) -> tuple[int, int, bool]:
  return (task.steps if steps is None else int(steps),
          task.seeds if seeds is None else int(seeds),
          task.kind in ("2d", "online") if track_path is None else track_path)


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
    progress: a progress bar (``update(1)`` per program), or None.
    track_path: record the parameters after every step (default: for the
      2-D and online tasks).
    seed_offset: the first seed; the runs use seeds ``seed_offset, ...,
      seed_offset + seeds - 1``.

  Returns:
    A :class:`RunResult`; ``metrics`` come from ``task.evaluate`` only and
    ``val_metrics`` from ``task.validate`` only.
  """
  steps, seeds, track_path = _settings(task, steps, seeds, track_path)
  lrs = [float(task.lr_for(name))] if not lrs else [float(v) for v in lrs]
  run_all, chunk, n_chunks = _program_parts(task, name, steps, track_path)
  lr_flat, seed_flat = _flat_runs(lrs, seeds, seed_offset)
  start = time.perf_counter()
  compiled = _compile(task, jax.vmap(run_all), lr_flat, seed_flat)
  compile_s = time.perf_counter() - start
  raw = jax.block_until_ready(compiled(lr_flat, seed_flat))
  if progress is not None:
    progress.update(1)
  result = _result(task, name, raw, lrs=lrs, seeds=seeds, steps=steps, chunk=chunk,
                   n_chunks=n_chunks, track_path=track_path, seed_offset=seed_offset)
  result.wall_s, result.compile_s = time.perf_counter() - start, compile_s
  return result


def run_tuned(
    task: Task,
    name: str,
    *,
    lrs: Sequence[float],
    steps: int | None = None,
    seeds: int | None = None,
    progress: Any = None,
    track_path: bool | None = None,
) -> tuple[RunResult, RunResult, int]:
  """The tuned budget of ``name`` on ``task`` as one program: grid, selection, rerun.

  The program trains every rate of ``lrs`` on seeds ``0 .. seeds-1``, selects
  the rate with the best mean final score (:func:`~optax_survey.harness.stats.best_mean_index`
  on the **validation** split, ``task.validate``; the objective itself, ``task.evaluate``,
  for a task without held-out data), and then trains that rate on the fresh seeds
  ``seeds .. 2 seeds - 1``, which the selection never sees.  Selecting on the device
  keeps it one compiled program with no host round-trip, and the fresh seeds cost
  ``seeds`` runs instead of ``len(lrs) x seeds``.

  Args:
    task: the task.
    name: the optimizer's name in the registry.
    lrs: the learning-rate grid.
    steps: training steps (default: the task's).
    seeds: seeds of the grid and of the rerun (default: the task's).
    progress: a progress bar (``update(1)`` for the program), or None.
    track_path: as in :func:`run_optimizer`.

  Returns:
    ``(grid, rerun, selected)``: the grid's runs, the rerun at ``lrs[selected]`` on the
    fresh seeds, and the selected index.
  """
  steps, seeds, track_path = _settings(task, steps, seeds, track_path)
  lrs = [float(v) for v in lrs]
  if not lrs:
    raise ValueError("lrs must hold at least one learning rate")
  run_all, chunk, n_chunks = _program_parts(task, name, steps, track_path)
  lr_flat, seed_flat = _flat_runs(lrs, seeds, 0)
  fresh = jnp.arange(seeds, 2 * seeds, dtype=jnp.int32)
  grid_lrs = jnp.asarray(lrs, jnp.float32)
  part = 1 if task.held_out else 0  # measure() returns (test, validation)

  def program(lr_flat, seed_flat, fresh):
    grid = jax.vmap(run_all)(lr_flat, seed_flat)
    scores = grid[2][part][task.metric][:, -1].reshape(len(lrs), seeds)
    selected = stats.best_mean_index(scores, mode=task.mode, xp=jnp)
    rerun = jax.vmap(run_all, in_axes=(None, 0))(grid_lrs[selected], fresh)
    return grid, rerun, selected

  start = time.perf_counter()
  compiled = _compile(task, program, lr_flat, seed_flat, fresh)
  compile_s = time.perf_counter() - start
  raw_grid, raw_rerun, selected = jax.block_until_ready(compiled(lr_flat, seed_flat, fresh))
  if progress is not None:
    progress.update(1)
  index = int(selected)
  common = {"steps": steps, "chunk": chunk, "n_chunks": n_chunks, "track_path": track_path}
  grid = _result(task, name, raw_grid, lrs=lrs, seeds=seeds, seed_offset=0, **common)
  rerun = _result(task, name, raw_rerun, lrs=[lrs[index]], seeds=seeds, seed_offset=seeds,
                  **common)
  grid.wall_s, grid.compile_s = time.perf_counter() - start, compile_s
  return grid, rerun, index
