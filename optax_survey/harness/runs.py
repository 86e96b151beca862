"""One optimizer on one task over seeds and a learning-rate grid, as one program.

All (learning rate, seed) pairs are vectorised with ``jax.vmap`` into one
compiled program per optimizer: the optimizer is built inside the vmapped
function, with the learning rate a traced value.  The whole run is one call of
that program: an outer ``lax.scan`` over chunks of steps, each an inner
``lax.scan`` of :func:`~optax_survey.harness.training.train_step` followed by an
evaluation (one progress-bar tick per program).  :func:`run_tuned` puts a tuned
budget in one program: the grid, the selection on the validation split (on the
device) and the rerun of the selected rate on fresh seeds.  Every run's
parameters are float32, whatever ``jax_enable_x64`` says.
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

import optax_survey as osv
from optax_survey.harness import registry
from optax_survey.harness.analysis import stats
from optax_survey.harness.registry import OptimizerSpec
from optax_survey.harness.tasks import Task
from optax_survey.harness.training import (
    Step,
    flatten,
    init_carry,
    initial_params,
    make_optimizer,
    train,
)

__all__ = ["RunResult", "all_finite", "centre_lr", "compiler_options", "run_optimizer",
           "run_tuned", "schedule_chunks", "unless_diverged"]


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

  Example:
    >>> import jax
    >>> options = compiler_options(10_000)  # a network: LLVM level 1 on CPU
    >>> options == ({"xla_backend_optimization_level": "1"} if jax.default_backend() == "cpu"
    ...             else {})
    True
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


def all_finite(tree: Any) -> jax.Array:
  """Whether every element of every leaf of ``tree`` is finite (one reduction a leaf).

  Example:
    >>> import jax.numpy as jnp
    >>> bool(all_finite({"w": jnp.ones(3), "b": jnp.zeros(())}))
    True
    >>> bool(all_finite({"w": jnp.array([1.0, jnp.nan])}))
    False
  """
  return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def unless_diverged(metrics: Any, ok: jax.Array) -> Any:
  """``metrics``, or NaN in every one of them where the run has diverged (``ok`` False):
  a diverged run is never a result, whatever its metric still computes (an argmax of
  NaN logits is class 0, a finite accuracy).

  Example:
    >>> import jax.numpy as jnp
    >>> unless_diverged({"acc": jnp.float32(0.1)}, jnp.bool_(False))["acc"]
    Array(nan, dtype=float32)
  """
  return jax.tree.map(lambda m: jnp.where(ok, m, jnp.nan), metrics)


def centre_lr(task: Task, label: str, optimizer: OptimizerSpec) -> float:
  """The centre of an optimizer's learning-rate grid on ``task``: ``task.lrs[label]`` if
  the task names one, else the registry's rate for the task (a registered optimizer), or
  :data:`~optax_survey.harness.registry.FACTORY_LR` (a factory).

  Example:
    >>> import optax
    >>> from optax_survey.harness.tasks import get_task
    >>> centre_lr(get_task("quadratic"), "adam", "adam"), centre_lr(get_task("quadratic"),
    ...                                                           "lion", optax.lion)
    (0.1, 0.001)
  """
  if label in task.lrs:
    return float(task.lrs[label])
  if callable(optimizer):
    return registry.FACTORY_LR
  return float(task.lr_for(optimizer))


def _slow_params(opt_state: Any) -> Any:
  """Lookahead's slow weights if ``opt_state`` is Lookahead's (the weights it is evaluated
  on), else None."""
  if isinstance(opt_state, osv.LookaheadState):
    return osv.lookahead_slow_params(opt_state)
  return None


def _program_parts(task: Task, name: OptimizerSpec, steps: int, track_path: bool):
  """``run_all(lr, seed)``, one run's whole training as a traceable function, and its
  chunk schedule: ``run_all`` returns (first evaluation, per-step records, evaluations)."""
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)
  validate = task.validate

  def measure(carry):
    slow = _slow_params(carry.opt_state)
    params = carry.params if slow is None else slow
    state = carry.model_state
    return (task.metrics("test", params, state),
            task.metrics("validation", params, state) if validate is not None else {})

  def record(step: Step) -> dict:
    out = {
        "loss": step.loss.astype(jnp.float32),
        "update_norm": jnp.sqrt(sum(jnp.sum((a - b) ** 2) for a, b in zip(
            jax.tree.leaves(step.new_params), jax.tree.leaves(step.params), strict=True)
        )).astype(jnp.float32),
    }
    if track_path:
      out["path"] = flatten(step.new_params)
      slow = _slow_params(step.opt_state)
      if slow is not None:
        out["slow"] = flatten(slow)
    return out

  def run_all(lr, seed):
    tx = make_optimizer(task, name, lr)
    carry = init_carry(task, tx, seed)
    ok = all_finite(carry.params)
    first = unless_diverged(measure(carry), ok)

    def run_chunk(state, _):
      carry, ok = state
      carry, records = train(task, tx, carry, chunk, record, steps=steps)
      # diverged: a non-finite training loss in the chunk or parameter at its end, ever
      ok = ok & all_finite(carry.params) & jnp.all(jnp.isfinite(records["loss"]))
      return (carry, ok), (records, unless_diverged(measure(carry), ok))

    _, (records, evals) = jax.lax.scan(run_chunk, (carry, ok), None, length=n_chunks)
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
    if "slow" in records:
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
    name: OptimizerSpec,
    *,
    steps: int | None = None,
    seeds: int | None = None,
    lrs: Sequence[float] | None = None,
    progress: Any = None,
    track_path: bool | None = None,
    seed_offset: int = 0,
    label: str | None = None,
) -> RunResult:
  """Trains ``name`` on ``task`` for every (learning rate, seed) pair as one program.

  Args:
    task: the task.
    name: the optimizer: its name in the registry, or a factory
      ``learning_rate -> optax.GradientTransformation``.
    steps: training steps (default: the task's).
    seeds: number of seeds (default: the task's).
    lrs: the learning rates (default: the centre of its grid on the task).
    progress: a progress bar (``update(1)`` per program), or None.
    track_path: record the parameters after every step (default: for the
      2-D and online tasks).
    seed_offset: the first seed; the runs use seeds ``seed_offset, ...,
      seed_offset + seeds - 1``.
    label: the runs' name in results, tables and plots (default: ``name``, or a
      factory's ``__name__``).

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
  label = label or registry.label_of(name)
  lrs = [centre_lr(task, label, name)] if not lrs else [float(v) for v in lrs]
  run_all, chunk, n_chunks = _program_parts(task, name, steps, track_path)
  lr_flat, seed_flat = _flat_runs(lrs, seeds, seed_offset)
  start = time.perf_counter()
  compiled = _compile(task, jax.vmap(run_all), lr_flat, seed_flat)
  compile_s = time.perf_counter() - start
  raw = jax.block_until_ready(compiled(lr_flat, seed_flat))
  if progress is not None:
    progress.update(1)
  result = _result(task, label, raw, lrs=lrs, seeds=seeds, steps=steps, chunk=chunk,
                   n_chunks=n_chunks, track_path=track_path, seed_offset=seed_offset)
  result.wall_s, result.compile_s = time.perf_counter() - start, compile_s
  return result


def run_tuned(
    task: Task,
    name: OptimizerSpec,
    *,
    lrs: Sequence[float],
    steps: int | None = None,
    seeds: int | None = None,
    progress: Any = None,
    track_path: bool | None = None,
    label: str | None = None,
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
    name: the optimizer: its name in the registry, or a factory.
    lrs: the learning-rate grid.
    steps: training steps (default: the task's).
    seeds: seeds of the grid and of the rerun (default: the task's).
    progress: a progress bar (``update(1)`` for the program), or None.
    track_path: as in :func:`run_optimizer`.
    label: as in :func:`run_optimizer`.

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
  label = label or registry.label_of(name)
  grid = _result(task, label, raw_grid, lrs=lrs, seeds=seeds, seed_offset=0, **common)
  rerun = _result(task, label, raw_rerun, lrs=[lrs[index]], seeds=seeds, seed_offset=seeds,
                  **common)
  grid.wall_s, grid.compile_s = time.perf_counter() - start, compile_s
  return grid, rerun, index
