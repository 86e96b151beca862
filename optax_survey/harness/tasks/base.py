"""What a task is: the :class:`Task` contract every optimizer is trained on, the
:class:`TaskInfo` the catalogue keeps of each of the survey's tasks, and
:func:`check_task`, the one check of a task before training."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from optax_survey.harness.errors import BadTypeError, TaskError, one_line
from optax_survey.harness.registry import default_lr

__all__ = ["Task", "TaskInfo", "check_task"]


@dataclasses.dataclass(frozen=True)
class Task:
  """A training problem: what the harness trains every optimizer on.

  Wrap your own model and data in a ``Task`` (plain JAX, Flax NNX or Linen,
  Haiku: anything that gives a pytree of parameters and pure functions) and
  :func:`~optax_survey.harness.compare` gives the survey's table for it.
  Everything must be traceable by JAX: the harness vmaps a whole learning-rate
  grid and all seeds into one compiled program.

  Splits: a task with data (``held_out=True``, the default) trains on the
  training split through ``loss``/``sample_batch``, and has two held-out
  splits: ``validate`` (the validation split: the tuned budget selects each
  optimizer's learning rate on it, and on nothing else) and ``evaluate`` (the
  test split: the reported numbers).  A pure optimisation problem (the 2-D
  functions, the online problems) has ``held_out=False``: its metric is the
  training objective itself and the tuned value is reported as such.

  Model state (BatchNorm's running statistics, any non-trainable variable):
  give ``init_state(key, seed)``, and the task's functions take the state too:
  ``loss(params, batch, state) -> (loss, new_state)``, ``evaluate(params,
  state)`` and ``validate(params, state)``.  The harness carries one state per
  run beside its parameters (vmapped over rates and seeds with them), threads it
  through every step and evaluates with the state the run has reached; the
  optimizer never sees it.  Flax NNX: ``graphdef, params, state =
  nnx.split(model, nnx.Param, nnx.BatchStat)``; Flax Linen:
  ``model.apply(..., mutable=["batch_stats"])``; Haiku:
  ``hk.transform_with_state`` (``examples/flax_nnx_cnn.py`` and
  ``examples/stateful_models.py``).

  The training split, measured: give ``evaluate_train`` (the same metrics on the
  training data, or on a fixed sample of it, in eval mode, with the training
  objective as ``"loss"``) and the harness reports each optimizer's
  generalization gap (training minus test metric) and the sharpness of the
  minimum it reached (the Hessian of that ``"loss"``:
  :mod:`~optax_survey.harness.analysis.minima`).

  Dropout and other randomness in the model: ``sample_batch(key, t)`` gets a
  key of its own at every step of every run; put it (or a key split from it)
  into the batch and draw the dropout mask from it inside ``loss``.  Evaluation
  is deterministic (``evaluate`` gets no key: run the model in eval mode).

  Attributes:
    name: short name (``optax-survey compare --task NAME``).
    init_params: ``init_params(key, seed)``: the initial parameters (a pytree of
      float arrays); ``key`` is a JAX PRNG key that differs per seed.
    loss: ``loss(params, batch)``: the scalar training loss (a 0-d array); with
      ``init_state``, ``loss(params, batch, state) -> (loss, new_state)``.
    evaluate: ``evaluate(params)`` (with ``init_state``: ``evaluate(params,
      state)``): a dict of scalar metrics on the **test** split (or, without
      held-out data, of the objective); it contains ``metric``.
    metric: the key of ``evaluate``'s (and ``validate``'s) dict that ranks optimizers.
    mode: ``"min"`` or ``"max"``: whether a lower or a higher ``metric`` is better.
    validate: ``validate(params)`` (with ``init_state``: ``validate(params,
      state)``): the same metrics on the **validation** split; required when
      ``held_out`` is True.
    held_out: whether the task has held-out data (validation and test splits).
    description: one line for tables and pages.
    target: the ``metric`` value whose first crossing is reported (steps to
      target); NaN: none.
    steps: the default number of training steps.
    lrs: the centre of each optimizer's learning-rate grid (default: the
      optimizer's published default, :func:`~optax_survey.harness.registry.default_lr`).
    sample_batch: ``sample_batch(key, t)``: the training batch of step ``t``
      (traceable), or ``None`` for a deterministic full-batch loss (``loss``
      then gets ``None``).
    eval_points: how many times ``evaluate`` runs during training.
    seeds: the default number of seeds.
    optimizer_kwargs: hyperparameters fixed for every optimizer that takes them
      (e.g. ``b1``/``b2``); the others ignore them.
    schedule: ``schedule(lr)``: turns the base rate into an optax schedule.
    project: ``project(params)``: maps back onto a feasible set after each step.
    kind: ``"2d"`` (trajectories are plotted), ``"online"`` or ``"nn"``.
    deterministic: the seeds change nothing (no random initialisation, data or
      noise): every seed gives the same run, so the spread over seeds is 0.
    extra: anything the task's figures or pages need; ``extra["filter_axis"]``: the
      filter (output) axis of each weight for the loss surface's filter-normalised
      directions (an int, or ``leaf -> axis``; default -1, ``[in, out]`` kernels:
      :func:`~optax_survey.harness.surface.loss_surface`).
    init_state: ``init_state(key, seed)``: the model's initial non-trainable
      state (a pytree; the same ``key`` as ``init_params``), or None for a
      model without one.
    param_sharding: for a model too large to replicate on every device:
      ``param_sharding(shapes)``, from the parameters' shapes (a pytree of
      ``jax.ShapeDtypeStruct``) to a pytree of partition specs over a mesh axis
      ``"model"``.  With a mesh ``("runs", "model")`` each run's parameters and
      optimizer state are sharded FSDP-style over ``"model"`` and the runs over
      ``"runs"`` (``docs/distributed.md``); None: replicated within a run.

  Example: minimise ``(w - 3)^2`` (no data, so no held-out splits):

  >>> import jax.numpy as jnp
  >>> from optax_survey.harness import Task, compare
  >>> task = Task(name="parabola", init_params=lambda key, seed: jnp.zeros(1),
  ...             loss=lambda w, batch: jnp.sum((w - 3.0) ** 2),
  ...             evaluate=lambda w: {"loss": jnp.sum((w - 3.0) ** 2)},
  ...             metric="loss", mode="min", held_out=False, steps=100, seeds=2,
  ...             deterministic=True)
  >>> result = compare(task, ["sgd", "adam"], budget="one-shot", progress=False)
  >>> [(e.optimizer, e.lr) for e in result.entries_at("one-shot")]
  [('sgd', 0.001), ('adam', 0.001)]
  >>> task.lr_for("adam")  # no task-specific rates: the published default
  0.001
  """

  name: str
  init_params: Callable[[Any, Any], Any]
  loss: Callable[..., Any]
  evaluate: Callable[..., dict]
  metric: str
  mode: str
  validate: Callable[..., dict] | None = None
  held_out: bool = True
  description: str = ""
  target: float = math.nan
  steps: int = 500
  lrs: dict[str, float] = dataclasses.field(default_factory=dict)
  sample_batch: Callable[[Any, Any], Any] | None = None
  eval_points: int = 10
  seeds: int = 5
  optimizer_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
  schedule: Callable[[Any], Any] | None = None
  project: Callable[[Any], Any] | None = None
  kind: str = "nn"
  deterministic: bool = False
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)
  init_state: Callable[[Any, Any], Any] | None = None
  param_sharding: Callable[[Any], Any] | None = None
  evaluate_train: Callable[..., dict] | None = None

  @property
  def stateful(self) -> bool:
    """Whether the model has non-trainable state (``init_state`` is given)."""
    return self.init_state is not None

  def loss_and_state(self, params: Any, batch: Any, state: Any = None) -> tuple[Any, Any]:
    """``(loss, new_state)``: ``loss(params, batch, state)`` for a stateful task,
    ``(loss(params, batch), state)`` for one without state."""
    if self.stateful:
      return self.loss(params, batch, state)
    return self.loss(params, batch), state

  def metrics(self, split: str, params: Any, state: Any = None) -> dict:
    """The metrics of ``split`` ("test": ``evaluate``; "validation": ``validate``;
    "train": ``evaluate_train``) at ``params`` (and ``state``, for a stateful task)."""
    fn = {"test": self.evaluate, "validation": self.validate,
          "train": self.evaluate_train}[split]
    if fn is None:
      raise ValueError(f"task {self.name!r} has no {split} split")
    return fn(params, state) if self.stateful else fn(params)

  def lr_for(self, optimizer: str) -> float:
    """The centre of ``optimizer``'s learning-rate grid on this task."""
    if optimizer in self.lrs:
      return self.lrs[optimizer]
    return default_lr(optimizer)

  def better(self, a: float, b: float) -> bool:
    """Whether metric value ``a`` is better than ``b`` (by ``mode``)."""
    return a < b if self.mode == "min" else a > b


@dataclasses.dataclass(frozen=True)
class TaskInfo:
  """What the catalogue knows of one of the survey's tasks without building it.

  Attributes:
    description: one line for tables and pages (the task's ``description``).
    family: the module of :mod:`optax_survey.harness.tasks` whose
      ``build(name, info)`` makes the task.
    learning_rates: the centre of each optimizer's learning-rate grid (the
      task's ``lrs``).
    lr_note: what else a reader of these rates needs to know (a schedule, a
      ``final_lr``), or None.
    requires: the optional modules (``survey`` extra) that building it imports.
  """

  description: str
  family: str
  learning_rates: Mapping[str, float]
  lr_note: str | None = None
  requires: tuple[str, ...] = ()


def _scalar_shape(value: Any) -> tuple[int, ...] | None:
  shape = getattr(value, "shape", None)
  return tuple(shape) if shape is not None else None


def check_task(task: Any, *, tuned: bool = True) -> Task:
  """Checks ``task`` before any training, by tracing it once (no compute).

  Catches: not a :class:`Task`; ``mode`` not min/max; ``steps``/``seeds`` not
  positive; a held-out task without a validation split (needed to select the
  learning rate when ``tuned``); ``loss`` that is not a scalar; ``evaluate`` or
  ``validate`` that does not return a dict holding a scalar ``metric``;
  ``evaluate_train`` that does not hold a scalar ``metric`` and ``"loss"``.

  Args:
    task: the task to check.
    tuned: whether the tuned budget (which needs ``validate``) will run.

  Returns:
    ``task``.

  Raises:
    BadTypeError: (a ``TypeError``) ``task`` is not a Task, or a function returns
      the wrong type.
    TaskError: (a ``ValueError``) a field or a function's output is malformed.

  Example: a loss that forgot to take the mean over the batch:

    >>> import jax.numpy as jnp
    >>> task = Task(name="sums", init_params=lambda key, seed: jnp.zeros(3),
    ...             loss=lambda w, batch: (w - 1.0) ** 2, evaluate=lambda w: {"loss": 0.0},
    ...             metric="loss", mode="min", held_out=False)
    >>> check_task(task)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.TaskError: task 'sums': loss(params, batch) must return a ...
  """
  if not isinstance(task, Task):
    raise BadTypeError(f"task must be an optax_survey.harness.Task or a task name, got "
                       f"{type(task).__name__}")
  name = task.name or "<unnamed>"
  if task.mode not in ("min", "max"):
    raise TaskError(f"task {name!r}: mode must be 'min' or 'max', got {task.mode!r}")
  for field in ("steps", "seeds", "eval_points"):
    value = getattr(task, field)
    if not isinstance(value, int) or value < 1:
      raise TaskError(f"task {name!r}: {field} must be a positive integer, got {value!r}")
  for field in ("init_params", "loss", "evaluate") + (("init_state",) if task.stateful else ()):
    if not callable(getattr(task, field)):
      raise BadTypeError(f"task {name!r}: {field} must be a function, got "
                         f"{type(getattr(task, field)).__name__}")
  if task.held_out and task.validate is None and tuned:
    raise TaskError(
        f"task {name!r} has held-out data but no validation split: give "
        "Task(validate=...) (the tuned budget selects the learning rate on it, never on the "
        "test split), or budget='one-shot', or held_out=False for a pure optimisation problem")
  key, seed, t = jax.random.PRNGKey(0), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32)
  args = "params, batch, state" if task.stateful else "params, batch"
  params = _trace(task, "init_params(key, seed)", task.init_params, key, seed)
  init_state = task.init_state
  state = (_trace(task, "init_state(key, seed)", init_state, key, seed)
           if init_state is not None else None)
  sampler = task.sample_batch
  batch = _trace(task, "sample_batch(key, t)", sampler, key, t) if sampler is not None else None
  loss, new_state = _trace(task, f"loss({args})",
                           lambda p, b, s: _loss_output(task, p, b, s), params, batch, state)
  if _scalar_shape(loss) != ():
    raise TaskError(f"task {name!r}: loss({args}) must return a scalar"
                    f"{' loss' if task.stateful else ''}, got shape {_scalar_shape(loss)} "
                    "(take the mean over the batch)")
  if task.stateful and _layout(new_state) != _layout(state):
    raise TaskError(f"task {name!r}: loss(params, batch, state) must return (loss, new_state) "
                    "with new_state of init_state's structure, shapes and dtypes; got "
                    f"{_layout(new_state)}, init_state gives {_layout(state)}")
  splits = [("evaluate", task.evaluate)]
  if task.validate is not None:
    splits.append(("validate", task.validate))
  if task.evaluate_train is not None:
    splits.append(("evaluate_train", task.evaluate_train))
  where = "(params, state)" if task.stateful else "(params)"
  for field, fn in splits:
    out = _trace(task, f"{field}{where}",
                 lambda p, s, fn=fn: fn(p, s) if task.stateful else fn(p), params, state)
    if not isinstance(out, dict):
      raise BadTypeError(f"task {name!r}: {field}{where} must return a dict of metrics, got "
                         f"{type(out).__name__}")
    needed = (task.metric, "loss") if field == "evaluate_train" else (task.metric,)
    for wanted in needed:
      if wanted not in out:
        raise TaskError(f"task {name!r}: {field}{where} does not return the metric "
                        f"{wanted!r}; it returns {sorted(out)}")
      if _scalar_shape(out[wanted]) != ():
        raise TaskError(f"task {name!r}: {field}{where}[{wanted!r}] must be a scalar, got "
                        f"shape {_scalar_shape(out[wanted])}")
  return task


# What JAX raises when a traced value meets Python control flow or a Python conversion.
_CONCRETIZATION = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
                   jax.errors.TracerArrayConversionError)


def _trace(task: Task, call: str, fn: Callable[..., Any], *args: Any) -> Any:
  """``jax.eval_shape(fn, *args)``: the user's function ``call`` traced as the harness
  runs it (seeds and steps are traced values too), every failure one line naming it,
  with the user's traceback chained."""
  name = task.name or "<unnamed>"
  try:
    return jax.eval_shape(fn, *args)
  except TaskError:
    raise
  except _CONCRETIZATION as error:
    raise TaskError(
        f"task {name!r}: {call} uses a traced value in Python control flow or a Python "
        "conversion (if/while on an array, int(t), float(x), bool(...)): the harness traces "
        "it under jit and vmap, where values are not known; use jnp.where, jax.lax.cond or "
        f"jax.lax.switch, and keep t and seed arrays ({type(error).__name__}: "
        f"{one_line(error)})") from error
  except Exception as error:  # the user's code: say what failed, in one line
    raise TaskError(f"task {name!r}: tracing {call} failed: {type(error).__name__}: "
                    f"{one_line(error)}") from error


def _loss_output(task: Task, params: Any, batch: Any, state: Any) -> tuple[Any, Any]:
  """``task.loss_and_state``, checking that a stateful loss returns a pair."""
  out = task.loss_and_state(params, batch, state)
  if task.stateful and not (isinstance(out, tuple) and len(out) == 2):
    raise TaskError(f"task {task.name or '<unnamed>'!r}: with init_state, loss(params, batch, "
                    f"state) must return (loss, new_state), got {type(out).__name__}")
  return out


def _layout(tree: Any) -> Any:
  """The structure, shapes and dtypes of ``tree`` (float dtypes as "float": the harness
  keeps the state in float32)."""
  def leaf(x):
    kind = "float" if jax.numpy.issubdtype(x.dtype, jax.numpy.floating) else str(x.dtype)
    return (tuple(x.shape), kind)

  return jax.tree.structure(tree), jax.tree.leaves(jax.tree.map(leaf, tree))
