"""Training: the one step every run and every diagnostic takes, and one optimizer
trained on one task over seeds (and a learning-rate grid) at once.

:func:`train_step` is the step (a fresh batch, the loss and its gradient, the
update, the projection), with a ``record`` hook for what to keep of it;
:func:`train` scans it, :func:`replay` replays a run with any hook.

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
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import optax_survey as osv
from optax_survey.harness import registry
from optax_survey.harness.analysis import stats
from optax_survey.harness.tasks import Task

__all__ = ["Carry", "RunResult", "Step", "flatten", "init_carry", "initial_params",
           "make_optimizer", "replay", "run_optimizer", "run_tuned", "schedule_chunks",
           "seed_keys", "train", "train_step"]


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

  def final_values(self, metric: str, *, split: str = "test") -> np.ndarray:
    """``[n_lr, n_seeds]``: the last evaluation of ``metric`` on ``split`` ("test":
    ``task.evaluate``; "validation": ``task.validate``)."""
    source = self.metrics if split == "test" else self.val_metrics
    if source is None:
      raise ValueError(f"{self.optimizer} on {self.task} has no {split} metrics")
    return np.asarray(source[metric][:, :, -1], np.float64)


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
  """(chunk length, number of chunks) with chunk * n >= steps, n <= eval_points.

  Example:
    >>> schedule_chunks(300, 10), schedule_chunks(7, 10)
    ((30, 10), (1, 7))
  """
  n = max(1, min(eval_points, steps))
  chunk = math.ceil(steps / n)
  return chunk, math.ceil(steps / chunk)


def flatten(tree) -> jax.Array:
  """The leaves of ``tree`` as one vector (``jax.flatten_util.ravel_pytree``).

  Example:
    >>> import numpy as np
    >>> print(flatten({"a": np.ones(2), "b": np.zeros((1, 2))}))
    [1. 1. 0. 0.]
  """
  return ravel_pytree(tree)[0]


def seed_keys(seed) -> tuple[jax.Array, jax.Array]:
  """The (initialisation, data) keys of seed ``seed`` (an int or a traced int).

  Example:
    >>> k_init, k_data = seed_keys(3)
    >>> bool((k_init != k_data).any()), bool((seed_keys(3)[0] == k_init).all())
    (True, True)
  """
  key = jax.random.fold_in(jax.random.PRNGKey(0), seed)
  k_init, k_data = jax.random.split(key)
  return k_init, k_data


def initial_params(task: Task, seed) -> Any:
  """The float32 initial parameters of seed ``seed``, as every run starts.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> params = initial_params(get_task("quadratic"), 0)  # seed 0: the task's start
    >>> print(params, params.dtype)
    [-9.   1.5] float32
  """
  k_init, _ = seed_keys(seed)
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), task.init_params(k_init, seed))


def make_optimizer(task: Task, name: str, lr: Any) -> optax.GradientTransformation:
  """Optimizer ``name`` at base rate ``lr`` (a number or a traced value), through the
  task's schedule if it has one, with the task's fixed hyperparameters.

  Example: the Reddi tasks' rate is α of the paper's step size α/√t:

    >>> import jax.numpy as jnp
    >>> from optax_survey.harness.tasks import get_task
    >>> tx = make_optimizer(get_task("reddi"), "sgd", 0.5)
    >>> state = tx.init(jnp.zeros(1))
    >>> _, state = tx.update(jnp.ones(1), state)  # step 1: 0.5/√1
    >>> updates, _ = tx.update(jnp.ones(1), state)  # step 2: 0.5/√2
    >>> round(float(updates[0]), 4)
    -0.3536
  """
  rate = task.schedule(lr) if task.schedule is not None else lr
  return registry.build(name, rate, **task.optimizer_kwargs)


class Carry(NamedTuple):
  """One run's state between steps."""

  params: Any
  opt_state: Any
  key: jax.Array  # the data key, split once per step
  t: jax.Array  # int32: the number of steps taken


class Step(NamedTuple):
  """What one training step saw and did: the argument of a ``record`` hook."""

  t: jax.Array  # the step's index, from 0
  params: Any  # before the step
  loss: jax.Array  # the training loss at ``params``
  updates: Any  # the optimizer's updates
  new_params: Any  # after the step (projected onto the task's feasible set)
  opt_state: Any  # after the step


Record = Callable[[Step], Any]


def init_carry(task: Task, tx: optax.GradientTransformation, seed) -> Carry:
  """The carry before the first step of seed ``seed``.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> carry = init_carry(task, make_optimizer(task, "sgd", 0.1), 0)
    >>> print(carry.params, int(carry.t))
    [-9.   1.5] 0
  """
  _, k_data = seed_keys(seed)
  params = initial_params(task, seed)
  return Carry(params, tx.init(params), k_data, jnp.zeros((), jnp.int32))


def train_step(task: Task, tx: optax.GradientTransformation, carry: Carry,
               record: Record | None = None, *, steps: int | None = None) -> tuple[Carry, Any]:
  """One training step: a fresh batch, the loss and its gradient, the update, the
  projection; the one step every run and every diagnostic takes.

  Args:
    task: the task.
    tx: the optimizer.
    carry: the run's state.
    record: what to record of the step (a function of :class:`Step`), or None.
    steps: the run's length: a step at ``t >= steps`` changes nothing (a program's
      last chunk may run past the end); None: every step counts.

  Returns:
    ``(carry after the step, record(step) or None)``.

  Example: one step of SGD (lr 0.1) on f = 0.05x² + 2y² from (-9, 1.5):

    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> tx = make_optimizer(task, "sgd", 0.1)
    >>> carry, loss = train_step(task, tx, init_carry(task, tx, 0), lambda step: step.loss)
    >>> round(float(loss), 4), [round(float(p), 4) for p in carry.params], int(carry.t)
    (8.55, [-8.91, 0.9], 1)
  """
  params, opt_state, key, t = carry
  key, sub = jax.random.split(key)
  batch = task.sample_batch(sub, t) if task.sample_batch is not None else None
  loss, grads = jax.value_and_grad(task.loss)(params, batch)
  updates, new_state = tx.update(grads, opt_state, params)
  new_params = optax.apply_updates(params, updates)
  if task.project is not None:
    new_params = task.project(new_params)
  if steps is not None:
    active = t < steps

    def keep(new, old):
      return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)

    new_params, new_state = keep(new_params, params), keep(new_state, opt_state)
  out = record(Step(t, params, loss, updates, new_params, new_state)) if record else None
  return Carry(new_params, new_state, key, t + 1), out


def train(task: Task, tx: optax.GradientTransformation, carry: Carry, length: int,
          record: Record | None = None, *, steps: int | None = None) -> tuple[Carry, Any]:
  """``length`` steps of :func:`train_step` as one ``lax.scan``; the records stacked.

  Example:
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("quadratic")
    >>> tx = make_optimizer(task, "sgd", 0.1)
    >>> carry, losses = train(task, tx, init_carry(task, tx, 0), 3, lambda step: step.loss)
    >>> print(np.asarray(losses, np.float64).round(3), int(carry.t))
    [8.55  5.589 4.474] 3
  """
  return jax.lax.scan(lambda c, _: train_step(task, tx, c, record, steps=steps), carry, None,
                      length=length)


def replay(task: Task, name: str, lr: float, *, steps: int, seeds: int, seed_offset: int = 0,
           record: Record | None = None, last: Record | None = None) -> Any:
  """Replays ``name`` on ``task`` at ``lr`` as the runs train it (the same seeds,
  batches and float32 start, the same step), all seeds as one compiled program.

  Args:
    task: the task.
    name: the optimizer's name in the registry.
    lr: the base learning rate.
    steps: the number of steps.
    seeds: the number of seeds; the runs use seeds ``seed_offset ..``.
    seed_offset: the first seed.
    record: what to record of every step (stacked over steps), or None.
    last: what to record of the last step alone (instead of ``record``), or None.

  Returns:
    The records with a leading seed axis: ``record``'s ``[seeds, steps, ...]``, or
    ``last``'s ``[seeds, ...]``.

  Example: the training loss of seeds 0 and 1 (seed 0 starts at the task's start,
  seed 1 at a jitter of it):

    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> losses = replay(get_task("quadratic"), "sgd", 0.1, steps=3, seeds=2,
    ...                 record=lambda step: step.loss)
    >>> print(np.asarray(losses, np.float64).round(3))
    [[8.55  5.589 4.474]
     [8.046 5.375 4.364]]
  """
  tx = make_optimizer(task, name, lr)

  def run(seed):
    carry = init_carry(task, tx, seed)
    if last is None:
      return train(task, tx, carry, steps, record)[1]
    carry, _ = train(task, tx, carry, steps - 1)
    return train_step(task, tx, carry, last)[1]

  return jax.jit(jax.vmap(run))(jnp.arange(seed_offset, seed_offset + seeds))


def _program_parts(task: Task, name: str, steps: int, track_path: bool):
  """``run_all(lr, seed)``, one run's whole training as a traceable function, and its
  chunk schedule: ``run_all`` returns (first evaluation, per-step records, evaluations)."""
  is_lookahead = name == "lookahead"
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)
  validate = task.validate

  def measure(carry):
    params = osv.lookahead_slow_params(carry.opt_state) if is_lookahead else carry.params
    return task.evaluate(params), (validate(params) if validate is not None else {})

  def record(step: Step) -> dict:
    out = {
        "loss": step.loss.astype(jnp.float32),
        "update_norm": jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(
            jax.tree.leaves(step.new_params), jax.tree.leaves(step.params), strict=True)
        )).astype(jnp.float32),
    }
    if track_path:
      out["path"] = flatten(step.new_params)
      if is_lookahead:
        out["slow"] = flatten(osv.lookahead_slow_params(step.opt_state))
    return out

  def run_all(lr, seed):
    tx = make_optimizer(task, name, lr)
    carry = init_carry(task, tx, seed)
    first = measure(carry)

    def run_chunk(carry, _):
      carry, records = train(task, tx, carry, chunk, record, steps=steps)
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
    start_params = np.asarray(jax.vmap(lambda s: flatten(initial_params(task, s)))(seed_flat))
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

  Example: two rates of SGD with momentum, two seeds, one compiled program:

    >>> from optax_survey.harness.tasks import get_task
    >>> result = run_optimizer(get_task("quadratic"), "sgdm", steps=50, seeds=2,
    ...                        lrs=[0.01, 0.05])
    >>> result.metrics["loss"].shape  # [rates, seeds, evaluations]
    (2, 2, 11)
    >>> print(result.final_values("loss").round(3))
    [[1.7   1.676]
     [0.005 0.005]]
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
  the rate with the best mean final score
  (:func:`~optax_survey.harness.analysis.stats.best_mean_index` on the **validation**
  split, ``task.validate``; the objective itself, ``task.evaluate``, for a task
  without held-out data), and then trains that rate on the fresh seeds
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

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> grid, rerun, selected = run_tuned(get_task("quadratic"), "sgdm", lrs=[0.01, 0.05],
    ...                                   steps=50, seeds=2)
    >>> selected, rerun.lrs, rerun.seed_offset  # 0.05 ends lower; rerun on seeds 2, 3
    (1, [0.05], 2)
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
