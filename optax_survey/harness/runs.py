"""One optimizer on one task over seeds and a learning-rate grid, compiled once.

All (learning rate, seed) pairs of an optimizer are runs of one :class:`Program`: the
optimizer is built inside the vmapped function, with the learning rate a traced value.
The runs are laid out over the devices (:mod:`~optax_survey.harness.layout`: runs per
call, vmapped or looped, the run axis sharded over the mesh axis ``"runs"``) and trained
by calls of a compiled program, each a ``lax.scan`` of
:func:`~optax_survey.harness.training.train_step` (or one step, where that is faster)
of part of an evaluation interval, or of several intervals with their evaluations
inside; Python sees each call's records (progress, Ctrl-C, checkpoints), one call
behind the device.  :func:`run_tuned` is a tuned budget: the grid, the selection on the
validation split (on the device) and the rerun of the selected rate on fresh seeds;
:func:`run_search` the search budget: studies of quasi-random trials, every
hyperparameter of a trial a traced value, so all trials share the program.  Every run's
parameters are float32, whatever ``jax_enable_x64`` says.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import optax_survey as osv
from optax_survey.harness import preflight, registry, search
from optax_survey.harness.analysis import minima, stats
from optax_survey.harness.checkpoints import Interrupted
from optax_survey.harness.errors import BadInputError, BadTypeError
from optax_survey.harness.hosts import agree_min, to_device, to_host
from optax_survey.harness.layout import (
    Layout,
    bytes_of,
    device_memory,
    make_mesh,
    plan,
    run_devices,
)
from optax_survey.harness.registry import OptimizerSpec
from optax_survey.harness.tasks import Task
from optax_survey.harness.training import (
    Step,
    flatten,
    init_carry,
    initial_params,
    make_optimizer,
    train,
    train_step,
)

__all__ = ["Execution", "PRUNERS", "Program", "REDUCTION", "RunResult", "SELECTIONS",
           "SearchResult", "all_finite", "centre_lr", "check_pruner", "check_select",
           "compiler_options", "evaluated_params", "halving_rungs", "optimizer_of",
           "run_optimizer", "run_search", "run_tuned", "schedule_chunks", "unless_diverged"]


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
  layout: str = ""  # how the runs were laid out (Layout.describe())
  train_s: float = 0.0  # seconds training and evaluating (no compile or start)
  hparams: dict | None = None  # a search's trials: name -> [n_lr] values besides the rate
  schedule: str = "constant"  # the rate's schedule (search.SCHEDULES)
  # a pruned search (pruner="halving"): [n_lr] the steps each trial trained (its curves NaN
  # after them: stopped, not diverged); None: every trial trained all ``steps``
  stopped: np.ndarray | None = None
  # the runs' ends (kept with ``final=True``: :func:`run_tuned`'s and :func:`run_search`'s
  # reruns), trees with leading axes [n_lr, n_seeds]: "params" (what the runs are
  # evaluated on: Lookahead's slow weights), "model_state", "preconditioner" (the
  # optimizer's diagonal P, :func:`~optax_survey.harness.analysis.minima.preconditioner`,
  # or None) and "train" (``task.evaluate_train``'s metrics, {} without it)
  final: dict | None = None

  def final_values(self, metric: str, *, split: str = "test") -> np.ndarray:
    """``[n_lr, n_seeds]``: the last evaluation of ``metric`` on ``split`` ("test":
    ``task.evaluate``; "validation": ``task.validate``)."""
    return np.asarray(self._source(split)[metric][:, :, -1], np.float64)

  def stop_values(self, metric: str, *, split: str = "test") -> np.ndarray:
    """``[n_lr, n_seeds]``: each trial's evaluation of ``metric`` on ``split`` at the step it
    stopped (:attr:`stopped`: a pruned trial's rung; else the final one)."""
    if self.stopped is None:
      return self.final_values(metric, split=split)
    at = np.searchsorted(self.eval_steps, np.asarray(self.stopped))
    curves = self._source(split)[metric]
    return np.asarray(curves[np.arange(len(at)), :, at], np.float64)

  def _source(self, split: str) -> dict:
    source = self.metrics if split == "test" else self.val_metrics
    if source is None:
      raise ValueError(f"{self.optimizer} on {self.task} has no {split} metrics")
    return source


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


def evaluated_params(params: Any, opt_state: Any) -> Any:
  """The weights a run is evaluated on: Lookahead's slow weights when ``opt_state`` is
  Lookahead's, else ``params``.

  Example:
    >>> import jax.numpy as jnp
    >>> tx = osv.lookahead(osv.sgd(1.0), sync_period=2, slow_step_size=0.5)
    >>> params = jnp.zeros(1)
    >>> updates, state = tx.update(jnp.ones(1), tx.init(params), params)
    >>> params = optax.apply_updates(params, updates)  # fast -1, slow still 0
    >>> params.tolist(), evaluated_params(params, state).tolist()
    ([-1.0], [0.0])
  """
  slow = _slow_params(opt_state)
  return params if slow is None else slow


class Program(NamedTuple):
  """One run's training as traceable pieces (each vmapped over the runs of a call).

  ``start(hp, seed) -> (carry, ok, evaluation)``: the run before its first step;
  ``advance(hp, carry, ok, length) -> (carry, ok, records)``: ``length`` steps;
  ``hp`` is the run's hyperparameters, ``{"lr": rate, ...}`` (:func:`optimizer_of`).
  ``evaluate(carry, ok) -> (ok, evaluation)``: the metrics (NaN once diverged).
  ``ok`` is False once the run has diverged: a non-finite training loss, or a
  non-finite parameter at an evaluation.  Evaluations are at the end of each
  of ``n_chunks`` chunks of ``chunk`` steps.
  """

  start: Any
  advance: Any
  evaluate: Any
  chunk: int
  n_chunks: int
  steps: int
  name: OptimizerSpec


def optimizer_of(task: Task, name: OptimizerSpec, hp: dict, *, steps: int,
                 schedule: str = "constant") -> optax.GradientTransformation:
  """The optimizer of one run: ``name`` at rate ``hp["lr"]`` with the other
  hyperparameters of ``hp`` (any of them traced), the rate through ``schedule``
  (``"warmup_cosine"``: :func:`~optax_survey.harness.search.warmup_cosine` over
  ``steps`` with warm-up fraction ``hp["warmup"]``).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> tx = optimizer_of(get_task("quadratic"), "adam", {"lr": 0.1, "b1": 0.5}, steps=10)
    >>> type(tx).__name__
    'GradientTransformationExtraArgs'
  """
  hp = dict(hp)
  rate, warmup = hp.pop("lr"), hp.pop("warmup", None)
  if schedule == "warmup_cosine":
    if task.schedule is not None:
      raise BadInputError(f"task {task.name!r} has its own learning-rate schedule: "
                          "schedule='warmup_cosine' would replace it", argument="schedule")
    # the schedule starts at 0: AdaBound's and AMSBound's bounds follow lr(t) / peak
    return make_optimizer(task, name, search.warmup_cosine(
        rate, 0.05 if warmup is None else warmup, steps), base_lr=rate, **hp)
  if warmup is not None:
    raise BadInputError("a warm-up fraction needs schedule='warmup_cosine'",
                        argument="schedule")
  return make_optimizer(task, name, rate, **hp)


def _program_parts(task: Task, name: OptimizerSpec, steps: int, track_path: bool,
                   schedule: str = "constant") -> Program:
  """The :class:`Program` of ``name`` on ``task`` for ``steps`` steps."""
  chunk, n_chunks = schedule_chunks(steps, task.eval_points)

  def optimizer(hp):
    return optimizer_of(task, name, hp, steps=steps, schedule=schedule)

  validate = task.validate

  def measure(carry):
    params = evaluated_params(carry.params, carry.opt_state)
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

  def start(hp, seed):
    carry = init_carry(task, optimizer(hp), seed)
    ok = all_finite(carry.params)
    return carry, ok, unless_diverged(measure(carry), ok)

  # the steps past the end of the run change nothing (only when the last interval runs
  # past it: masking every step would cost a pass over the parameters and state)
  last = steps if chunk * n_chunks != steps else None

  def advance(hp, carry, ok, length):
    tx = optimizer(hp)
    if length == 1:  # one step, no lax.scan: XLA:CPU runs a convolution in a loop body
      carry, one = train_step(task, tx, carry, record, steps=last)  # several times slower
      records = jax.tree.map(lambda x: x[None], one)
    else:
      carry, records = train(task, tx, carry, length, record, steps=last)
    # diverged: a non-finite training loss, ever (the parameters: at each evaluation)
    return carry, ok & jnp.all(jnp.isfinite(records["loss"])), records

  def evaluate(carry, ok):
    ok = ok & all_finite(carry.params)
    return ok, unless_diverged(measure(carry), ok)

  return Program(start, advance, evaluate, chunk, n_chunks, steps, name)


def _n_params(task: Task) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      jax.eval_shape(lambda: initial_params(task, 0))))


class _Compiled(NamedTuple):
  """A program compiled for calls of ``runs_per_call`` runs sharded over a mesh."""

  start: Any
  advance: Any
  evaluate: Any
  runs_per_call: int
  sharding: NamedSharding
  abstract: Any  # (carry, ok) as ShapeDtypeStructs with their shardings


def _run_shardings(task: Task, program: Program, mesh: Mesh, abstract: Any) -> Any:
  """The sharding of each leaf of the vmapped ``(carry, ok)``: the run axis over
  ``"runs"``; with ``task.param_sharding`` and a mesh axis ``"model"``, each run's
  parameters (and every copy of them in the optimizer's state, found by
  ``optax.tree_map_params``) over ``"model"`` as the task says."""
  def runs_only(leaf):
    return NamedSharding(mesh, PartitionSpec("runs"))

  if task.param_sharding is None or "model" not in mesh.axis_names:
    return jax.tree.map(runs_only, abstract)
  carry, ok = abstract
  one = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), carry.params)
  specs = task.param_sharding(one)
  params = jax.tree.map(lambda spec: NamedSharding(mesh, PartitionSpec("runs", *spec)),
                        specs, is_leaf=lambda x: isinstance(x, PartitionSpec))
  tx = make_optimizer(task, program.name, 1e-3)

  def masked(x):
    return isinstance(x, optax.MaskedNode)

  opt_state = optax.tree_map_params(
      tx, lambda s, sharding: s if masked(s) else sharding, carry.opt_state, params,
      transform_non_params=runs_only, is_leaf=masked)
  return (carry._replace(params=params, opt_state=opt_state,
                         key=runs_only(carry.key), t=runs_only(carry.t),
                         model_state=jax.tree.map(runs_only, carry.model_state)),
          runs_only(ok))


def _call(program: Program, steps_per_call: int) -> Any:
  """One run's compiled call: ``(hp, carry, ok) -> (carry, ok, records, evaluations)``.

  A call within an evaluation interval (``steps_per_call`` divides ``program.chunk``)
  advances ``steps_per_call`` steps and evaluates nothing (``evaluations`` is None: the
  interval's end is evaluated by its own call).  A call of several intervals
  (``steps_per_call`` a multiple ``m`` of the interval) is a ``lax.scan`` of ``m``
  intervals, each advanced and then evaluated inside the call: records ``[m * chunk,
  ...]``, evaluations ``[m, ...]``, and no return to Python in between.
  """
  if program.chunk % steps_per_call == 0:
    def within(hp, carry, ok):
      return (*program.advance(hp, carry, ok, steps_per_call), None)
    return within
  intervals = steps_per_call // program.chunk

  def several(hp, carry, ok):
    def interval(state, _):
      carry, ok, records = program.advance(hp, *state, program.chunk)
      ok, evaluation = program.evaluate(carry, ok)
      return (carry, ok), (records, evaluation)

    (carry, ok), (records, evaluations) = jax.lax.scan(interval, (carry, ok), None,
                                                       length=intervals)
    records = jax.tree.map(lambda r: r.reshape(-1, *r.shape[2:]), records)
    return carry, ok, records, evaluations

  return several


def _check_steps_per_call(program: Program, steps_per_call: int,
                          n_chunks: int | None = None) -> None:
  """A call is part of one evaluation interval or a whole number of them (dividing the
  run's intervals, or the ``n_chunks`` intervals trained)."""
  chunk, n_chunks = program.chunk, n_chunks or program.n_chunks
  if chunk % steps_per_call and not (steps_per_call % chunk == 0
                                     and n_chunks % (steps_per_call // chunk) == 0):
    raise ValueError(
        f"steps_per_call={steps_per_call} must divide the evaluation interval of {chunk} "
        f"steps, or be a multiple of it that divides the run's {chunk * n_chunks} steps")


def _compile_program(task: Task, program: Program, mesh: Mesh, runs_per_call: int,
                     steps_per_call: int, hp_dtypes: dict | None = None) -> _Compiled:
  """``program`` compiled ahead of time for calls of ``runs_per_call`` runs, their run
  axis sharded over the mesh axis ``"runs"`` (every leaf's leading axis; each run's
  parameters and optimizer state also over ``"model"`` with ``task.param_sharding``),
  each call :func:`_call`'s ``steps_per_call`` steps; the runs' hyperparameters are
  ``hp_dtypes`` (name -> dtype; default the rate alone, float32)."""
  sharding = NamedSharding(mesh, PartitionSpec("runs"))
  options = compiler_options(_n_params(task))
  lr = {name: jax.ShapeDtypeStruct((runs_per_call,), dtype, sharding=sharding)
        for name, dtype in (hp_dtypes or {"lr": np.dtype(np.float32)}).items()}
  seed = jax.ShapeDtypeStruct((runs_per_call,), jnp.int32, sharding=sharding)
  carry, ok, _ = jax.eval_shape(jax.vmap(program.start), lr, seed)
  shardings = _run_shardings(task, program, mesh, (carry, ok))
  carry, ok = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                           (carry, ok), shardings)

  def build(fn, *args, out, donate=()):
    jitted = jax.jit(_over_runs(fn, runs_per_call),
                     in_shardings=jax.tree.map(lambda a: a.sharding, args),
                     out_shardings=out, donate_argnums=donate)
    return jitted.lower(*args).compile(compiler_options=options)

  # (the evaluations and records: one sharding for the whole subtree, a pytree prefix)
  start = build(program.start, lr, seed, out=(shardings[0], shardings[1], sharding))
  advance = build(_call(program, steps_per_call), lr, carry, ok,
                  out=(shardings[0], shardings[1], sharding, sharding), donate=(1, 2))
  evaluate = build(program.evaluate, carry, ok, out=(shardings[1], sharding))
  return _Compiled(start, advance, evaluate, runs_per_call, sharding, (carry, ok))


def _over_runs(fn: Any, runs: int) -> Any:
  """``fn`` over a leading run axis of ``runs``: ``jax.vmap``, or for one run its own
  computation between a slice and a reshape (a convolution vmapped over one run's
  weights is a grouped convolution, about 20 % slower on XLA:CPU than the plain one)."""
  if runs != 1:
    return jax.vmap(fn)

  def one(*args):
    out = fn(*jax.tree.map(lambda a: a[0], args))
    return jax.tree.map(lambda a: a[None], out)

  return one


def _dtypes(hp_flat: dict) -> dict:
  return {name: values.dtype for name, values in hp_flat.items()}


def _time_one_step(task: Task, program: Program, mesh: Mesh, runs_per_call: int,
                   steps_per_call: int, hp_flat: dict, seed_flat: np.ndarray) -> float:
  """Seconds per run-step of calls of ``runs_per_call`` runs and ``steps_per_call`` steps
  (1: one step, no scan; more: a scan), with the evaluation at the end of each interval
  spread over its steps: the fastest of the calls made in about :data:`TIMING_SECONDS`
  after a warm-up call, and of three evaluations, what ``"auto"`` compares (the
  evaluation counts: a CNN's metrics on its held-out sets can cost several training
  steps, and a vmapped one is a grouped convolution)."""
  compiled = _compile_program(task, program, mesh, runs_per_call, steps_per_call,
                              _dtypes(hp_flat))
  lr, seed = _batch(hp_flat, seed_flat, 0, runs_per_call, compiled.sharding)
  carry, ok, _ = compiled.start(lr, seed)
  carry, ok, _, _ = jax.block_until_ready(compiled.advance(lr, carry, ok))
  best, spent = math.inf, 0.0
  for _ in range(20):
    start = time.perf_counter()
    carry, ok, _, _ = jax.block_until_ready(compiled.advance(lr, carry, ok))
    took = time.perf_counter() - start
    best, spent = min(best, took), spent + took
    if spent >= TIMING_SECONDS:
      break
  jax.block_until_ready(compiled.evaluate(carry, ok))
  evaluation = math.inf
  for _ in range(3):
    start = time.perf_counter()
    jax.block_until_ready(compiled.evaluate(carry, ok))
    evaluation = min(evaluation, time.perf_counter() - start)
  return (best / steps_per_call + evaluation / program.chunk) / runs_per_call


def _batch(hp_flat: dict, seed_flat: np.ndarray, first: int, size: int,
           sharding: NamedSharding) -> tuple[dict, jax.Array]:
  """The hyperparameters and seeds of runs ``first .. first + size - 1`` on the devices;
  past the end, copies of the last run (padding: computed, never reported)."""
  index = np.minimum(np.arange(first, first + size), len(seed_flat) - 1)
  return ({name: to_device(values[index], sharding) for name, values in hp_flat.items()},
          to_device(seed_flat[index], sharding))


@dataclasses.dataclass
class Execution:
  """How the runs of a call of :func:`run_optimizer` / :func:`run_tuned` execute.

  Attributes:
    devices: the devices (:func:`~optax_survey.harness.layout.make_mesh`: None for all).
    layout: ``"auto"``, ``"vmap"``, ``"loop"`` or runs per call
      (:func:`~optax_survey.harness.layout.plan`).
    max_parallel_runs: the most runs trained at once, or None.
    device_memory: bytes a device has for the runs (None: what it reports).
    steps_per_call: training steps per compiled call (None: one evaluation interval).
    announce: called with the layout's one-line description, or None.
    keep: ``phase -> Keeper`` (:mod:`~optax_survey.harness.checkpoints`), the
      checkpoints of the runs in training, or None.
  """

  devices: Any = None
  layout: str | int = "auto"
  max_parallel_runs: int | None = None
  device_memory: int | None = None
  steps_per_call: int | None = None
  announce: Any = None
  keep: Any = None


# Seconds spent timing each candidate layout of "auto" (after its compile and a warm-up).
TIMING_SECONDS = 0.3
# A scanned candidate is timed only where the same runs' single steps are within this
# factor of the fastest single steps: a scan saves calls, not arithmetic, and a vmapped
# CPU convolution that is 6x slower per step is slower still scanned (on the NNX CNN of
# benchmarks/harness_scaling.py its one timed call took over 30 s).
SCAN_WITHIN = 2.0
# The candidates' timings, kept for the process: (task, parameter shapes, runs, devices).
_TIMINGS: dict = {}


def _auto_timings(task: Task, program: Program, mesh: Mesh, hp_flat, seed_flat,
                  execution: Execution) -> dict | None:
  """Seconds per run-step of the candidate layouts of ``"auto"`` on a CPU network task:
  ``"vmap/scan"``, ``"vmap/step"``, ``"loop/scan"``, ``"loop/step"`` (all runs or one per
  device per call; one step, or a scan of up to 8 steps where the single step is within
  :data:`SCAN_WITHIN` of the fastest; each with its share of the evaluations), measured
  once per task (its name and parameter shapes), number of runs and of devices and
  evaluation interval in this process; None elsewhere (all runs, scanned)."""
  if execution.layout != "auto" or jax.default_backend() != "cpu" or jax.process_count() > 1:
    return None  # (several processes: timings could differ, and so would the layouts)
  shapes = jax.eval_shape(lambda: initial_params(task, 0))
  if sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes)) <= SMALL_PROBLEM:
    return None
  devices = run_devices(mesh)
  every = math.ceil(len(seed_flat) / devices) * devices
  key = (task.name, str(shapes), every, devices, tuple(hp_flat), program.chunk)
  if key not in _TIMINGS:
    sizes = {"vmap": every, "loop": devices} if devices < every else {"vmap": every}
    scan = max(d for d in range(1, min(program.chunk, 8) + 1) if program.chunk % d == 0)
    timings = {f"{name}/step": _time_one_step(task, program, mesh, size, 1, hp_flat,
                                              seed_flat) for name, size in sizes.items()}
    best = min(timings.values())
    for name, size in sizes.items():  # a scan where its single step is near the fastest
      if scan > 1 and timings[f"{name}/step"] <= SCAN_WITHIN * best:
        timings[f"{name}/scan"] = _time_one_step(task, program, mesh, size, scan, hp_flat,
                                                 seed_flat)
    _TIMINGS[key] = timings
  return _TIMINGS[key]


# A compiled call returns to Python (progress, Ctrl-C, checkpoints) about this often.
SECONDS_PER_CALL = 1.0


def _steps_per_call(chunk: int, n_chunks: int, timings: dict | None, layout: Layout) -> int:
  """The steps of one call: the evaluation interval; or, measured (``timings``), 1 where
  single steps were faster than a scan, else the steps that take about
  :data:`SECONDS_PER_CALL`: a divisor of the interval, or as many whole intervals (a
  divisor of ``n_chunks`` of them, evaluated inside the call) as fit.

  Example:
    >>> from optax_survey.harness.layout import Layout
    >>> layout = Layout(runs=40, devices=1, runs_per_call=40, steps_per_call=30)
    >>> _steps_per_call(30, 10, None, layout), _steps_per_call(30, 10, {"vmap/scan": 0.005},
    ...                                                         layout)
    (30, 5)
    >>> _steps_per_call(30, 10, {"vmap/scan": 1e-4}, layout)  # 250 steps a second: 5 intervals
    150
  """
  if not timings:
    return chunk
  chosen = min(timings, key=lambda k: timings[k])  # what plan() chose
  if chosen.endswith("/step"):
    return 1
  per_call = timings[chosen] * layout.runs_per_call  # seconds per step of a call
  wanted = max(1, int(SECONDS_PER_CALL / max(per_call, 1e-12)))
  if wanted >= 2 * chunk:
    return chunk * max(m for m in range(1, n_chunks + 1)
                       if n_chunks % m == 0 and m * chunk <= wanted)
  return max(d for d in range(1, chunk + 1) if chunk % d == 0 and d <= wanted)


class _Span(NamedTuple):
  """Chunks ``begin .. end - 1`` of a program's runs (successive halving's rung): from
  their start (``carries`` None) or from ``carries``, the leaves of their ``(carry, ok)``
  at chunk ``begin`` (host arrays, the runs first), as :func:`_execute` returned them."""

  begin: int
  end: int
  carries: list | None = None


class _Outputs(NamedTuple):
  """The runs' outputs from :func:`_execute`, numpy trees with the runs first, as one
  program over all the runs would return them."""

  first: Any  # the evaluation before training (None for a span started from carries)
  records: Any  # [runs, n_chunks, chunk, ...] (the span's chunks)
  evals: Any  # [runs, n_chunks, ...]
  final: Any = None  # a span's last (carry, ok), as leaves [runs, ...]; None without one


def _calls(program: Program, n_chunks: int, steps_per_call: int) -> tuple[int, int]:
  """(calls per evaluation, calls) of ``n_chunks`` chunks: calls within an interval,
  its end evaluated apart; or calls of whole intervals (0), evaluated inside."""
  if steps_per_call <= program.chunk:
    return program.chunk // steps_per_call, program.chunk // steps_per_call * n_chunks
  return 0, n_chunks * program.chunk // steps_per_call


def _carries_on_device(leaves: list, compiled: _Compiled, first: int) -> Any:
  """The ``(carry, ok)`` of runs ``first .. first + runs_per_call - 1`` from their host
  ``leaves``, sharded as the compiled calls take them (past the end, the last run's)."""
  index = np.minimum(np.arange(first, first + compiled.runs_per_call), len(leaves[0]) - 1)
  abstract = jax.tree.leaves(compiled.abstract)
  return jax.tree.unflatten(jax.tree.structure(compiled.abstract), [
      to_device(leaf[index], a.sharding) for leaf, a in zip(leaves, abstract, strict=True)])


def _execute(task: Task, program: Program, hp_flat: dict, seed_flat: np.ndarray,
             execution: Execution, progress: Any, label: str, phase: str = "grid",
             span: _Span | None = None):
  """Trains the runs ``({k: v[i] for k, v in hp_flat.items()}, seed_flat[i])`` laid out
  by ``execution``: the whole program, or ``span``'s chunks (from the carries it gives).

  With ``execution.keep``, the runs are checkpointed every few minutes and when a stop
  is asked (then :class:`~optax_survey.harness.checkpoints.Interrupted` is raised), and
  continue from the last checkpoint of the same call and layout.

  Returns:
    ``(outputs, layout, compile_s, train_s)``: the runs' :class:`_Outputs` (their final
    carries with a ``span``), the layout's description, the seconds spent compiling and
    training (with the evaluations).
  """
  whole = span or _Span(0, program.n_chunks)
  n_chunks, offset = whole.end - whole.begin, whole.begin * program.chunk
  span_steps = min(whole.end * program.chunk, program.steps) - offset
  keeper = execution.keep(phase) if execution.keep is not None else None
  if keeper is not None:
    complete = keeper.restore_complete()
    if complete is not None:  # this phase finished before the interruption
      if progress is not None:
        progress.update(len(seed_flat) * span_steps)
      return _Outputs(*complete[1]), complete[0], 0.0, 0.0
  mesh = make_mesh(execution.devices)
  runs = len(seed_flat)
  start_time = time.perf_counter()
  timings = _auto_timings(task, program, mesh, hp_flat, seed_flat, execution)
  memory = execution.device_memory or agree_min(device_memory(mesh))
  first_try = plan(runs, mesh, layout=execution.layout, steps_per_call=program.chunk,
                   max_parallel_runs=execution.max_parallel_runs, timings=timings)
  steps_per_call = execution.steps_per_call or _steps_per_call(
      program.chunk, n_chunks, timings, first_try)
  _check_steps_per_call(program, steps_per_call, n_chunks)
  compiled = _compile_program(task, program, mesh, first_try.runs_per_call, steps_per_call,
                              _dtypes(hp_flat))
  devices = run_devices(mesh)
  per_run = bytes_of(compiled.advance, first_try.runs_per_call // devices)
  layout = plan(runs, mesh, layout=execution.layout, steps_per_call=steps_per_call,
                bytes_per_run=per_run, memory=memory,
                max_parallel_runs=execution.max_parallel_runs, timings=timings)
  if layout.runs_per_call != compiled.runs_per_call:
    compiled = _compile_program(task, program, mesh, layout.runs_per_call, steps_per_call,
                                _dtypes(hp_flat))
  compile_s = time.perf_counter() - start_time
  if execution.announce is not None:
    execution.announce(f"{label}: {layout.describe()}")
  calls_per_evaluation, n_calls = _calls(program, n_chunks, steps_per_call)
  # the finished batches (their final carries with a span)
  done: dict = {"firsts": [], "records": [], "evals": [], "finals": []}
  train_s = 0.0
  batch0, call0, carry, ok, current = 0, 0, None, None, None
  restored = None
  if keeper is not None:  # a checkpoint continues only in the same layout
    keeper.meta.update(runs_per_call=layout.runs_per_call, devices=devices,
                       steps_per_call=steps_per_call, runs=runs)
    restored = keeper.restore(compiled.abstract)
  if restored is not None:
    position, saved, (carry, ok) = restored
    batch0, call0 = int(position["batch"]), int(position["call"])
    done, current = {"finals": [], **saved["done"]}, saved["current"]
    if progress is not None:  # the run-steps already trained
      progress.update(batch0 * layout.runs_per_call * span_steps + min(
          runs - batch0 * layout.runs_per_call, layout.runs_per_call) * min(
          call0 * steps_per_call, span_steps))
  for b in range(batch0, layout.batches):
    first_run = b * layout.runs_per_call
    real = min(layout.runs_per_call, runs - first_run)

    def host(tree, real=real):
      return jax.tree.map(lambda a: a[:real], to_host(tree))

    lr, seed = _batch(hp_flat, seed_flat, first_run, layout.runs_per_call, compiled.sharding)
    if b == batch0 and current is not None:
      k0 = call0
    elif whole.carries is None:
      carry, ok, first = compiled.start(lr, seed)
      current, k0 = {"first": host(first), "records": [], "evals": []}, 0
    else:
      carry, ok = _carries_on_device(whole.carries, compiled, first_run)
      current, k0 = {"first": None, "records": [], "evals": []}, 0

    def finish(pending, current=current, host=host):
      """A dispatched call's records and evaluations on the host (waits for it)."""
      records, evaluations, counted = pending
      current["records"].append(host(records))
      if evaluations is not None:
        current["evals"].append(host(evaluations))
      if progress is not None:
        progress.update(counted)

    # Each call is dispatched before the previous one's outputs are copied to the host,
    # so the device never waits for Python between calls.
    started, pending = time.perf_counter(), None
    for k in range(k0, n_calls):
      carry, ok, records, evaluations = compiled.advance(lr, carry, ok)
      if calls_per_evaluation and (k + 1) % calls_per_evaluation == 0:
        ok, evaluation = compiled.evaluate(carry, ok)
        evaluations = jax.tree.map(lambda e: e[:, None], evaluation)  # [runs, 1, ...]
      if pending is not None:
        finish(pending)
      # the steps of this call that count (none past the end)
      pending = (records, evaluations, real * max(
          0, min(steps_per_call, program.steps - offset - k * steps_per_call)))
      if keeper is not None and k + 1 < n_calls and keeper.due():
        finish(pending)
        pending = None
        keeper.save({"batch": b, "call": k + 1}, {"done": done, "current": current},
                    (carry, ok))
        if keeper.stopped():
          raise Interrupted(
              f"{label}: stopped in batch {b + 1} of {layout.batches} after "
              f"{min(offset + (k + 1) * steps_per_call, program.steps)} of {program.steps} "
              "steps, its runs checkpointed")
    if pending is not None:
      finish(pending)
    train_s += time.perf_counter() - started
    done["firsts"].append(current["first"])
    # [real, calls * n_chunks * steps_per_call, ...] -> [real, n_chunks, chunk, ...]
    done["records"].append(jax.tree.map(
        lambda *xs: np.concatenate(xs, axis=1).reshape(
            xs[0].shape[0], n_chunks, program.chunk, *xs[0].shape[2:]),
        *current["records"]))
    done["evals"].append(jax.tree.map(lambda *xs: np.concatenate(xs, axis=1),
                                      *current["evals"]))
    if span is not None:
      done["finals"].append(host(jax.tree.leaves((carry, ok))))
    current = None

  def cat(parts):
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)

  outputs = _Outputs(cat(done["firsts"]), cat(done["records"]), cat(done["evals"]),
                     cat(done["finals"]) if span is not None else None)
  if keeper is not None:
    keeper.save_complete(layout.describe(), outputs)
  return outputs, layout.describe(), compile_s, train_s


def _flat_runs(trials: Mapping[str, Any], seeds: int, seed_offset: int):
  """(hyperparameters, seeds) of every run, trial-major, as numpy arrays: ``trials`` is
  ``{name: values}`` (one value per trial; integers as int32, the rest float32)."""
  n = len(trials["lr"])
  hp_flat = {name: np.repeat(np.asarray(values).astype(
      np.int32 if np.issubdtype(np.asarray(values).dtype, np.integer) else np.float32), seeds)
      for name, values in trials.items()}
  seed_flat = np.tile(np.arange(seed_offset, seed_offset + seeds, dtype=np.int32), n)
  return hp_flat, seed_flat


def _result(task: Task, name: str, raw, *, lrs: list, seeds: int, steps: int, chunk: int,
            n_chunks: int, track_path: bool, seed_offset: int) -> RunResult:
  """The runs' outputs for ``lrs`` x ``seeds`` runs (flattened rate-major) as a
  :class:`RunResult`."""
  first, rec, ev = raw.first, raw.records, raw.evals
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
    _, seed_flat = _flat_runs({"lr": lrs}, seeds, seed_offset)
    start_params = np.asarray(jax.vmap(lambda s: flatten(initial_params(task, s)))(
        jnp.asarray(seed_flat)))
    path = np.concatenate([start_params[:, None], cat("path")], axis=1)
    result.path = path.reshape(*shape, steps + 1, -1)
    if "slow" in records:
      slow = np.concatenate([start_params[:, None], cat("slow")], axis=1)
      result.slow_path = slow.reshape(*shape, steps + 1, -1)
  return result


def _final_of(task: Task, program: Program, leaves: list, hp_flat: dict,
              seed_flat: np.ndarray, shape: tuple[int, int]) -> dict:
  """:attr:`RunResult.final` from the runs' final ``(carry, ok)`` leaves (host arrays,
  the runs first, as :func:`_execute` returns them with a span)."""
  first = {k: v[0] for k, v in hp_flat.items()}
  treedef = jax.tree.structure(jax.eval_shape(program.start, first, seed_flat[0])[:2])
  carry, _ = jax.tree.unflatten(treedef, leaves)

  def ends(hp, carry):
    params = evaluated_params(carry.params, carry.opt_state)
    p = minima.preconditioner(task, program.name, carry.opt_state, hp)
    train = (task.metrics("train", params, carry.model_state)
             if task.evaluate_train is not None else {})
    return {"params": params, "model_state": carry.model_state,
            "preconditioner": None if p is None or isinstance(p, str) else p, "train": train}

  out = to_host(jax.jit(jax.vmap(ends))(hp_flat, carry))
  return jax.tree.map(lambda a: np.asarray(a).reshape(*shape, *a.shape[1:]), out)


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
    execution: Execution | None = None,
    trials: Mapping[str, Any] | None = None,
    schedule: str = "constant",
) -> RunResult:
  """Trains ``name`` on ``task`` for every (learning rate, seed) pair, or every (trial,
  seed) pair of a search.

  Args:
    task: the task.
    name: the optimizer: its name in the registry, or a factory
      ``learning_rate -> optax.GradientTransformation``.
    steps: training steps (default: the task's).
    seeds: number of seeds (default: the task's).
    lrs: the learning rates (default: the centre of its grid on the task).
    progress: a progress bar, advanced by the run-steps of each call, or None.
    track_path: record the parameters after every step (default: for the
      2-D and online tasks).
    seed_offset: the first seed; the runs use seeds ``seed_offset, ...,
      seed_offset + seeds - 1``.
    label: the runs' name in results, tables and plots (default: ``name``, or a
      factory's ``__name__``).
    execution: devices, layout and memory (:class:`Execution`; default: every
      device, the ``"auto"`` layout).
    trials: instead of ``lrs``, a search's trials ``{name: values}`` (one value per
      trial; ``"lr"`` required, the others keywords of the registered optimizer, and
      ``"warmup"`` for the ``"warmup_cosine"`` schedule), all trained in one program.
    schedule: the rate's schedule, ``"constant"`` or ``"warmup_cosine"``
      (:func:`optimizer_of`).

  Returns:
    A :class:`RunResult` (a trial per "rate": ``lrs`` its rates, ``hparams`` the rest);
    ``metrics`` come from ``task.evaluate`` only and ``val_metrics`` from
    ``task.validate`` only.

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
  points = None
  if trials is not None:
    if lrs:
      raise BadInputError("give lrs or trials, not both", argument="trials")
    points = _checked_trials(trials)
    lrs = [float(v) for v in points["lr"]]
  lrs = [centre_lr(task, label, name)] if not lrs else [float(v) for v in lrs]
  program = _program_parts(task, name, steps, track_path, schedule)
  lr_flat, seed_flat = _flat_runs(points or {"lr": np.asarray(lrs)}, seeds, seed_offset)
  start = time.perf_counter()
  raw, layout, compile_s, train_s = _execute(task, program, lr_flat, seed_flat,
                                             execution or Execution(), progress, label)
  result = _result(task, label, raw, lrs=lrs, seeds=seeds, steps=steps, chunk=program.chunk,
                   n_chunks=program.n_chunks, track_path=track_path, seed_offset=seed_offset)
  result.wall_s, result.compile_s = time.perf_counter() - start, compile_s
  result.layout, result.train_s, result.schedule = layout, train_s, schedule
  if points is not None:
    result.hparams = {k: v for k, v in points.items() if k != "lr"}
  return result


def _checked_trials(trials: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """``trials`` as ``{name: 1-D array}``, all of one length with ``"lr"`` among them."""
  points = {str(k): np.atleast_1d(np.asarray(v)) for k, v in trials.items()}
  if "lr" not in points:
    raise BadInputError(f"trials must include 'lr', got {', '.join(points) or 'nothing'}",
                        argument="trials")
  lengths = {k: v.shape for k, v in points.items()}
  if len(set(lengths.values())) != 1 or points["lr"].ndim != 1 or not len(points["lr"]):
    raise BadInputError(f"trials must be 1-D and of one length, got shapes {lengths}",
                        argument="trials")
  return points


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
    execution: Execution | None = None,
    final: bool = False,
) -> tuple[RunResult, RunResult, int]:
  """The tuned budget of ``name`` on ``task``: grid, selection, rerun.

  The program trains every rate of ``lrs`` on seeds ``0 .. seeds-1``, selects
  the rate with the best mean final score
  (:func:`~optax_survey.harness.analysis.stats.best_mean_index` on the **validation**
  split, ``task.validate``; the objective itself, ``task.evaluate``, for a task
  without held-out data), and then trains that rate on the fresh seeds
  ``seeds .. 2 seeds - 1``, which the selection never sees (they cost ``seeds`` runs
  instead of ``len(lrs) x seeds``).

  Args:
    task: the task.
    name: the optimizer: its name in the registry, or a factory.
    lrs: the learning-rate grid.
    steps: training steps (default: the task's).
    seeds: seeds of the grid and of the rerun (default: the task's).
    progress: a progress bar, advanced by the run-steps of each call, or None.
    track_path: as in :func:`run_optimizer`.
    label: as in :func:`run_optimizer`.
    execution: as in :func:`run_optimizer`.
    final: keep the rerun's final parameters (:attr:`RunResult.final`: the minima's
      diagnostics, :mod:`~optax_survey.harness.analysis.minima`, read them).

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
  execution = execution or Execution()
  label = label or registry.label_of(name)
  program = _program_parts(task, name, steps, track_path)
  common: dict[str, Any] = {"steps": steps, "chunk": program.chunk,
                            "n_chunks": program.n_chunks, "track_path": track_path}
  start = time.perf_counter()
  lr_flat, seed_flat = _flat_runs({"lr": lrs}, seeds, 0)
  raw, layout, compile_grid, train_grid = _execute(task, program, lr_flat, seed_flat,
                                                   execution, progress, label)
  grid = _result(task, label, raw, lrs=lrs, seeds=seeds, seed_offset=0, **common)
  grid.layout, grid.train_s = layout, train_grid
  scores = grid.final_values(task.metric, split="validation" if task.held_out else "test")
  index = int(_best_mean_index(jnp.asarray(scores, jnp.float32), task.mode))
  lr_flat, seed_flat = _flat_runs({"lr": [lrs[index]]}, seeds, seeds)
  raw, layout, compile_rerun, train_rerun = _execute(
      task, program, lr_flat, seed_flat, execution, progress, label, phase="rerun",
      span=_Span(0, program.n_chunks) if final else None)
  rerun = _result(task, label, raw, lrs=[lrs[index]], seeds=seeds, seed_offset=seeds, **common)
  if final:
    rerun.final = _final_of(task, program, raw.final, lr_flat, seed_flat, (1, seeds))
  rerun.layout, rerun.train_s = layout, train_rerun
  grid.wall_s, grid.compile_s = time.perf_counter() - start, compile_grid + compile_rerun
  return grid, rerun, index


class SearchResult(NamedTuple):
  """The search budget of one optimizer on one task (:func:`run_search`).

  Attributes:
    grid: every study's trials on seeds ``0 .. trial_seeds-1``; study ``s``'s trials are
      rows ``s * trials .. (s + 1) * trials - 1`` (``lrs`` their rates, ``hparams`` the
      rest; with a pruner, ``stopped`` the steps each trained).
    rerun: each study's selected trial on fresh seeds (``seeds`` of them, from
      ``max(seeds, trial_seeds)``: the tuned budget's rerun seeds), row ``s`` for study
      ``s``.
    selected: per study, the index of its selected trial among its own trials.
    space: the space searched (``{name: search.Range}``, ``"lr"`` first).
    studies, trials: the number of studies and of trials in each.
    select: how the trials were selected, ``"final"`` or ``"time-to-target"``.
    pruner: None, or ``"halving"`` (successive halving, :func:`halving_rungs`).
    reduction: the pruner's reduction factor (each rung keeps ``1 / reduction``).
  """

  grid: RunResult
  rerun: RunResult
  selected: list
  space: dict
  studies: int
  trials: int
  select: str = "final"
  pruner: str | None = None
  reduction: int = 3

  def run_steps(self) -> tuple[int, int]:
    """``(trained, unpruned)``: the run-steps the search's trials trained, and those they
    would have trained without the pruner (the reruns, the same either way, not counted).

    Example:
      >>> from optax_survey.harness.tasks import get_task
      >>> found = run_search(get_task("quadratic"), "sgd", trials=6, studies=1, steps=30,
      ...                    seeds=1, pruner="halving")
      >>> found.run_steps()  # 6 trials to step 3, 2 to 9, 1 to 30: 18 + 12 + 21 of 180
      (51, 180)
    """
    grid = self.grid
    unpruned = len(grid.lrs) * grid.seeds * grid.steps
    if grid.stopped is None:
      return unpruned, unpruned
    return int(np.sum(grid.stopped)) * grid.seeds, unpruned


PRUNERS = ("halving",)
REDUCTION = 3  # successive halving's default reduction factor (Optuna's and Hyperband's)


def check_pruner(pruner: str | None, reduction: int = REDUCTION) -> tuple[str | None, int]:
  """``(pruner, reduction)`` if they name a pruner (None: none; ``"halving"``: successive
  halving) and a reduction factor (an integer >= 2, given only with a pruner).

  Example:
    >>> check_pruner("halving", 2), check_pruner(None)
    (('halving', 2), (None, 3))
    >>> check_pruner("hyperband")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: pruner must be None or one of halving, got ...
  """
  if pruner is not None and pruner not in PRUNERS:
    raise BadInputError(f"pruner must be None or one of {', '.join(PRUNERS)}, got {pruner!r}",
                        argument="pruner")
  if isinstance(reduction, bool) or not isinstance(reduction, (int, np.integer)):
    raise BadTypeError(f"reduction must be an integer >= 2, got {type(reduction).__name__}",
                       argument="reduction")
  if reduction < 2:
    raise BadInputError(f"reduction must be an integer >= 2, got {reduction}",
                        argument="reduction")
  if pruner is None and reduction != REDUCTION:
    raise BadInputError("reduction is the halving pruner's: pass pruner='halving' "
                        "(--pruner halving) too, or leave it out", argument="reduction")
  return pruner, int(reduction)


def _rung_chunks(chunk: int, n_chunks: int, reduction: int) -> list[int]:
  """The chunks at whose end successive halving ranks the trials: ``n_chunks //
  reduction ** j`` for ``j = 0, 1, ...`` while at least 1, ascending (the last: the
  whole run)."""
  ends = sorted({n_chunks // reduction ** j for j in range(n_chunks.bit_length())
                 if n_chunks // reduction ** j >= 1})
  if len(ends) < 2:
    raise BadInputError(
        f"pruner='halving' needs at least 2 rungs at the task's evaluations: its "
        f"{n_chunks} evaluation interval{'s' if n_chunks != 1 else ''} of {chunk} "
        f"step{'s' if chunk != 1 else ''} "
        f"hold 1 with reduction={reduction} (it needs at least {reduction}: more steps, a "
        "larger Task.eval_points or a smaller reduction)", argument="pruner")
  return ends


def halving_rungs(trials: int, steps: int, eval_points: int,
                  reduction: int = REDUCTION) -> list[tuple[int, int]]:
  """Successive halving's rungs for one study: ``[(trials trained, to step), ...]``.

  The rungs are evaluation points of the program (:func:`schedule_chunks`: ``n``
  intervals of ``chunk`` steps): the ends of intervals ``n // reduction ** j``, ``j = J ..
  0``, every one at least 1, the last the whole run, so each rung trains ``reduction``
  times as many steps as the one before (to integer division).  All ``trials`` train to
  the first rung; after each, the best ``ceil(k / reduction)`` of its ``k`` trials go on.

  Args:
    trials: the study's trials.
    steps: training steps.
    eval_points: the task's evaluations (``Task.eval_points``).
    reduction: the reduction factor, an integer >= 2.

  Returns:
    A pair per rung, at least two.

  Raises:
    BadInputError: naming ``pruner``, when the evaluations hold fewer than 2 rungs.

  Example: 400 steps evaluated every 40, 15 trials, reduction 3:

    >>> halving_rungs(15, 400, 10)  # all 15 to step 40, the best 5 to 120, then 2 to 400
    [(15, 40), (5, 120), (2, 400)]
  """
  _, reduction = check_pruner("halving", reduction)
  chunk, n_chunks = schedule_chunks(steps, eval_points)
  rungs, alive = [], int(trials)
  for end in _rung_chunks(chunk, n_chunks, reduction):
    rungs.append((alive, min(end * chunk, steps)))
    alive = math.ceil(alive / reduction)
  return rungs


def _ranking(scores: np.ndarray, mode: str) -> np.ndarray:
  """The rows of ``scores`` ``[n, seeds]``, best mean first (a row with a non-finite
  entry last; of equal means the first first): the order of
  :func:`~optax_survey.harness.analysis.stats.best_mean_index`."""
  ok = np.isfinite(scores).all(axis=1)
  means = np.where(ok, np.where(ok[:, None], scores, 0.0).mean(axis=1), np.inf)
  return np.argsort(np.where(ok, means if mode == "min" else -means, np.inf), kind="stable")


def _halve(alive: np.ndarray, scores: np.ndarray, trials: int, reduction: int,
           mode: str) -> np.ndarray:
  """The positions in ``alive`` (trial indices, ascending; ``trials`` a study) of the
  trials that go on: each study's best ``ceil(k / reduction)`` of its ``k`` by
  ``scores`` ``[len(alive), seeds]``."""
  keep: list[int] = []
  for study in np.unique(alive // trials):
    mine = np.flatnonzero(alive // trials == study)
    best = _ranking(scores[mine], mode)[:math.ceil(len(mine) / reduction)]
    keep += mine[best].tolist()
  return np.asarray(sorted(keep), np.int64)


def _runs_of(trial_index: np.ndarray, seeds: int) -> np.ndarray:
  """The flat run indices of trials ``trial_index`` (trial-major, ``seeds`` runs each)."""
  return (np.asarray(trial_index)[:, None] * seeds + np.arange(seeds)).reshape(-1)


def _successive_halving(task: Task, program: Program, hp_flat: dict, seed_flat: np.ndarray,
                        *, trials: int, trial_seeds: int, reduction: int,
                        execution: Execution, progress: Any, label: str):
  """The runs of a search pruned by successive halving (:func:`halving_rungs`): each
  rung an :func:`_execute` of its trials' runs over its chunks, the survivors continuing
  from their carries (phases ``"rung1"``, ``"rung2"``, ...).

  Returns:
    ``(outputs, layout, compile_s, train_s, stopped)``: :func:`_execute`'s outputs for
    every run (NaN after each trial's stop), the rungs' layouts, seconds, and the steps
    each trial trained.
  """
  ends = _rung_chunks(program.chunk, program.n_chunks, reduction)
  alive = np.arange(len(seed_flat) // trial_seeds)
  stop_chunk = np.zeros(len(alive), np.int64)
  parts, layouts, compile_s, train_s = [], [], 0.0, 0.0
  carries, begin = None, 0
  for r, end in enumerate(ends):
    index = _runs_of(alive, trial_seeds)
    out, layout, took_compile, took_train = _execute(
        task, program, {k: v[index] for k, v in hp_flat.items()}, seed_flat[index],
        execution, progress, f"{label} (rung {r + 1} of {len(ends)})", phase=f"rung{r + 1}",
        span=_Span(begin, end, carries))
    parts.append((index, begin, end, out))
    layouts.append(f"rung {r + 1}: {layout}")
    compile_s, train_s = compile_s + took_compile, train_s + took_train
    stop_chunk[alive] = end
    if end == program.n_chunks:
      break
    split = 1 if task.held_out else 0  # (the validation metrics; the objective without)
    scores = np.asarray(out.evals[split][task.metric][:, -1], np.float64)
    going = _halve(alive, scores.reshape(len(alive), trial_seeds), trials, reduction,
                   task.mode)
    carries = [leaf[_runs_of(going, trial_seeds)] for leaf in out.final]
    alive, begin = alive[going], end
  stopped = np.minimum(stop_chunk * program.chunk, program.steps)
  return (_assemble(parts, len(seed_flat), program.n_chunks), "; ".join(layouts), compile_s,
          train_s, stopped)


def _assemble(parts: list, runs: int, n_chunks: int) -> _Outputs:
  """The rungs' outputs ``(run index, first chunk, end chunk, outputs)`` as one
  :class:`_Outputs` of ``runs`` runs over ``n_chunks`` chunks, NaN where a run did not
  train."""
  def blank(a):
    dtype = np.result_type(a.dtype, np.float32)
    return np.full((runs, n_chunks, *a.shape[2:]), np.nan, dtype)

  first = parts[0][3]
  records = jax.tree.map(blank, first.records)
  evals = jax.tree.map(blank, first.evals)
  for index, begin, end, out in parts:
    for full, part in ((records, out.records), (evals, out.evals)):
      for whole, piece in zip(jax.tree.leaves(full), jax.tree.leaves(part), strict=True):
        whole[index, begin:end] = piece
  return _Outputs(first.first, records, evals)


def _select(task: Task, grid: RunResult, *, studies: int, trials: int,
            select: str) -> list[int]:
  """Each study's selected trial among its own (the ones that trained every step), by
  ``select`` on the validation split (the objective without held-out data)."""
  split = "validation" if task.held_out else "test"
  scores = grid.final_values(task.metric, split=split)
  full = (np.ones(len(scores), bool) if grid.stopped is None
          else np.asarray(grid.stopped) == grid.steps)
  steps_to = None
  if select == "time-to-target":
    curves = (grid.val_metrics if task.held_out else grid.metrics) or {}
    steps_to = stats.steps_to_target(curves[task.metric], grid.eval_steps, task.target,
                                     mode=task.mode)
  selected = []
  for s in range(studies):
    mine = s * trials + np.flatnonzero(full[s * trials:(s + 1) * trials])
    if steps_to is not None:
      best = stats.select_by_time_to_target(steps_to[mine], scores[mine], mode=task.mode)
    else:
      best = int(_best_mean_index(jnp.asarray(scores[mine], jnp.float32), task.mode))
    selected.append(int(mine[best]) - s * trials)
  return selected


def run_search(
    task: Task,
    name: OptimizerSpec,
    *,
    space: Mapping[str, Any] | None = None,
    trials: int = 15,
    studies: int = 3,
    schedule: str = "constant",
    sequence: str = "halton",
    select: str = "final",
    trial_seeds: int = 1,
    steps: int | None = None,
    seeds: int | None = None,
    progress: Any = None,
    label: str | None = None,
    execution: Execution | None = None,
    pruner: str | None = None,
    reduction: int = REDUCTION,
    final: bool = False,
) -> SearchResult:
  """The search budget of ``name`` on ``task``: ``studies`` independent quasi-random
  searches of ``trials`` points each, selection on the validation split, and the
  selected trial of each study rerun on fresh seeds.

  The trials (:func:`~optax_survey.harness.search.sample`: a scrambled Halton or Sobol
  sequence, study ``s`` scrambled with its own seed) of every study train on seeds
  ``0 .. trial_seeds-1`` in one program (all studies x trials x trial seeds as runs, laid
  out as ``execution`` says); each study selects the trial with the best mean final
  validation metric (:func:`~optax_survey.harness.analysis.stats.best_mean_index`; the
  objective itself for a task without held-out data; the test split is never read); the
  selected trials then train on ``seeds`` fresh seeds from ``max(seeds, trial_seeds)``
  (the tuned budget's rerun seeds), in a second program.

  A trial is one run by default (``trial_seeds=1``), as in AlgoPerf's external tuning
  ruleset and in Schmidt et al. 2021's random search, whose selected configuration
  alone is rerun on several seeds: the seeds' noise then enters the selection, and the
  spread over studies shows it.

  ``pruner="halving"`` stops hopeless trials early, by successive halving (Jamieson &
  Talwalkar 2016; one bracket of Hyperband, Li et al. 2018; Optuna's
  ``SuccessiveHalvingPruner``), inside the search: at each rung (:func:`halving_rungs`:
  evaluation points, each ``reduction`` times further than the one before, the last the
  whole run) each study keeps its best ``ceil(k / reduction)`` of its ``k`` trials by
  the rung's validation metric (the mean over trial seeds, as the selection reads it; a
  diverged trial is the worst) and the others stop.  The survivors continue from their
  carries (parameters, optimizer and model state, data key, step) in a program of fewer
  runs, so their curves are those they have in the search without a pruner (float32
  round-off); a stopped trial keeps its curves up to its rung (NaN after it, and
  ``grid.stopped`` says where: stopped, not diverged) and is never selected.  Each rung
  is a checkpointed phase of its own (``"rung1"``, ``"rung2"``, ...): an interrupted
  pruned search resumes from its last checkpoint, as one without a pruner does.

  Args:
    task: the task.
    name: a registered optimizer (a factory: give ``space`` over ``"lr"`` alone).
    space: ``{hyperparameter: search.Range}`` beside the learning rate (default: the
      optimizer's declared space, :data:`~optax_survey.harness.search.SEARCH_SPACES`);
      the rate's range is always added (:func:`~optax_survey.harness.search.search_space`).
    trials: points per study.
    studies: independent studies (different scrambles of the sequence).
    schedule: ``"constant"`` or ``"warmup_cosine"`` (its warm-up fraction searched).
    sequence: ``"halton"`` or ``"sobol"``.
    select: ``"final"`` (the best mean final validation metric) or
      ``"time-to-target"`` (the fewest steps to ``task.target`` on the validation
      curves, every seed reaching it,
      :func:`~optax_survey.harness.analysis.stats.select_by_time_to_target`; where no
      trial of a study reaches it, the best final value).
    trial_seeds: seeds each trial trains on (the selection reads their mean).
    steps, seeds, progress, label, execution: as in :func:`run_tuned` (``seeds``: the
      rerun's).
    pruner: None (every trial trains every step) or ``"halving"`` (successive halving).
    reduction: the halving pruner's reduction factor, an integer >= 2: a rung keeps
      ``1 / reduction`` of the trials and the next trains ``reduction`` times as far.
    final: keep the reruns' final parameters (as :func:`run_tuned`'s ``final``).

  Returns:
    A :class:`SearchResult` (:meth:`SearchResult.run_steps`: what the trials trained).

  Raises:
    BadInputError: before any training, naming the argument: a bad count, space,
      schedule, selection, pruner or reduction, or evaluations too few for 2 rungs.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> found = run_search(get_task("quadratic"), "sgdm", trials=4, studies=2, steps=30,
    ...                    seeds=3)
    >>> found.grid.final_values("loss").shape, found.rerun.final_values("loss").shape
    ((8, 1), (2, 3))
    >>> list(found.space), len(found.selected)
    (['lr', 'momentum', 'weight_decay'], 2)

  Pruned by successive halving, rungs at steps 3, 9 and 30 (evaluations every 3 steps):

    >>> pruned = run_search(get_task("quadratic"), "sgdm", trials=4, studies=2, steps=30,
    ...                     seeds=3, pruner="halving")
    >>> pruned.grid.stopped.tolist()  # per study: 2 trials stop at step 3, 1 at step 9
    [3, 30, 9, 3, 3, 30, 9, 3]
    >>> pruned.run_steps()  # of the trials' run-steps: per study 4 x 3 + 2 x 6 + 1 x 21
    (90, 240)
  """
  steps, seeds, track_path = _settings(task, steps, seeds, None)
  execution = execution or Execution()
  label = label or registry.label_of(name)
  if callable(name) and space is None:
    space = {}
  full = search.search_space(name if isinstance(name, str) else label,
                             centre_lr(task, label, name), schedule=schedule, space=space)
  own = {k: None for k in full if k not in ("lr", "warmup")}
  if own:
    registry.check_hyperparameters(name, own)
  for key, value in (("trials", trials), ("studies", studies), ("trial_seeds", trial_seeds)):
    preflight.check_count(key, value)
  check_select(task, select)
  pruner, reduction = check_pruner(pruner, reduction)
  if pruner is not None:
    halving_rungs(trials, steps, task.eval_points, reduction)  # (2 rungs, or an error)
  points = [search.sample(full, trials, study=s, sequence=sequence) for s in range(studies)]
  every = {k: np.concatenate([p[k] for p in points]) for k in full}
  program = _program_parts(task, name, steps, track_path, schedule)
  common: dict[str, Any] = {"steps": steps, "chunk": program.chunk,
                            "n_chunks": program.n_chunks, "track_path": track_path}
  start = time.perf_counter()
  hp_flat, seed_flat = _flat_runs(every, trial_seeds, 0)
  stopped = None
  if pruner is None:
    raw, layout, compile_grid, train_grid = _execute(task, program, hp_flat, seed_flat,
                                                     execution, progress, label)
  else:
    raw, layout, compile_grid, train_grid, stopped = _successive_halving(
        task, program, hp_flat, seed_flat, trials=trials, trial_seeds=trial_seeds,
        reduction=reduction, execution=execution, progress=progress, label=label)
  grid = _result(task, label, raw, lrs=list(every["lr"]), seeds=trial_seeds, seed_offset=0,
                 **common)
  grid.layout, grid.train_s, grid.schedule = layout, train_grid, schedule
  grid.hparams = {k: v for k, v in every.items() if k != "lr"}
  grid.stopped = stopped
  selected = _select(task, grid, studies=studies, trials=trials, select=select)
  chosen = {k: np.asarray([v[s * trials + i] for s, i in enumerate(selected)])
            for k, v in every.items()}
  fresh = max(seeds, trial_seeds)
  hp_flat, seed_flat = _flat_runs(chosen, seeds, fresh)
  raw, layout, compile_rerun, train_rerun = _execute(
      task, program, hp_flat, seed_flat, execution, progress, label, phase="rerun",
      span=_Span(0, program.n_chunks) if final else None)
  rerun = _result(task, label, raw, lrs=list(chosen["lr"]), seeds=seeds, seed_offset=fresh,
                  **common)
  if final:
    rerun.final = _final_of(task, program, raw.final, hp_flat, seed_flat, (studies, seeds))
  rerun.layout, rerun.train_s, rerun.schedule = layout, train_rerun, schedule
  rerun.hparams = {k: v for k, v in chosen.items() if k != "lr"}
  grid.wall_s, grid.compile_s = time.perf_counter() - start, compile_grid + compile_rerun
  return SearchResult(grid, rerun, selected, full, int(studies), int(trials), select, pruner,
                      reduction)


SELECTIONS = ("final", "time-to-target")


def check_select(task: Task, select: str) -> str:
  """``select`` if it is a selection rule the task can use ("time-to-target" needs a
  finite ``task.target``).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> check_select(get_task("quadratic"), "time-to-target")
    'time-to-target'
  """
  if select not in SELECTIONS:
    raise BadInputError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}",
                        argument="select")
  if select == "time-to-target" and not math.isfinite(task.target):
    raise BadInputError(f"select='time-to-target' needs a target: task {task.name!r} has "
                        "none (set Task.target, the validation value to reach)",
                        argument="select")
  return select


@functools.partial(jax.jit, static_argnames="mode")
def _best_mean_index(scores: jax.Array, mode: str) -> jax.Array:
  """The selection of :func:`run_tuned` on the device, in float32 (the runs' precision)."""
  return stats.best_mean_index(scores, mode=mode, xp=jnp)
