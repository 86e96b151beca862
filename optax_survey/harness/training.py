"""Training: the one step every run and every diagnostic takes.

:func:`train_step` is the step (a fresh batch, the loss and its gradient, the
update, the projection), with a ``record`` hook for what to keep of it;
:func:`train` scans it and :func:`replay` replays a run with any hook.  The
runs of :mod:`~optax_survey.harness.runs` (a learning-rate grid and all seeds
as one compiled program) take this step, and so do the diagnostics.  A run's
parameters are float32, whatever ``jax_enable_x64`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from optax_survey.harness import registry
from optax_survey.harness.registry import OptimizerSpec
from optax_survey.harness.tasks import Task

__all__ = ["Carry", "Record", "Step", "flatten", "init_carry", "initial_params",
           "initial_state", "make_optimizer", "replay", "seed_keys", "train", "train_step"]


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


def _float32(tree: Any) -> Any:
  """``tree`` with its floating leaves in float32 (integer leaves kept)."""
  return jax.tree.map(
      lambda x: jnp.asarray(x, jnp.float32) if jnp.issubdtype(jnp.result_type(x), jnp.floating)
      else jnp.asarray(x), tree)


def initial_state(task: Task, seed) -> Any:
  """The model state a run of seed ``seed`` starts from (``task.init_state`` with the
  parameters' key, floating leaves in float32), or None for a task without state.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.harness import Task
    >>> task = Task(name="counter", init_params=lambda key, seed: jnp.zeros(1),
    ...             init_state=lambda key, seed: {"mean": jnp.zeros(2), "n": jnp.int32(0)},
    ...             loss=lambda w, b, s: (jnp.sum(w ** 2), s),
    ...             evaluate=lambda w, s: {"loss": jnp.sum(w ** 2)}, metric="loss",
    ...             mode="min", held_out=False)
    >>> state = initial_state(task, 0)
    >>> state["mean"].dtype, state["n"].dtype
    (dtype('float32'), dtype('int32'))
  """
  if not task.stateful:
    return None
  assert task.init_state is not None
  k_init, _ = seed_keys(seed)
  return _float32(task.init_state(k_init, seed))


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


def make_optimizer(task: Task, name: OptimizerSpec, lr: Any, *, base_lr: Any = None,
                   **hparams: Any) -> optax.GradientTransformation:
  """Optimizer ``name`` (a registered name, or a factory ``learning_rate ->
  optax.GradientTransformation``) at base rate ``lr`` (a number, a traced value or a
  schedule), through the task's schedule if it has one, with the task's fixed
  hyperparameters (for the registered optimizers that take them) and then ``hparams``
  (a search's trial: each must be a keyword of the registered optimizer).  ``base_lr``:
  the rate a schedule starting at 0 is measured against, for the optimizers that take
  it (AdaBound's and AMSBound's bounds follow ``lr(t) / base_lr``).

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
  if hparams:
    registry.check_hyperparameters(name, hparams)
  given = {} if base_lr is None else {"base_lr": base_lr}
  return registry.build_any(name, rate, **{**task.optimizer_kwargs, **given, **hparams})


class Carry(NamedTuple):
  """One run's state between steps."""

  params: Any
  opt_state: Any
  key: jax.Array  # the data key, split once per step
  t: jax.Array  # int32: the number of steps taken
  model_state: Any = None  # the model's non-trainable state (Task.init_state), or None


class Step(NamedTuple):
  """What one training step saw and did: the argument of a ``record`` hook."""

  t: jax.Array  # the step's index, from 0
  params: Any  # before the step
  loss: jax.Array  # the training loss at ``params``
  updates: Any  # the optimizer's updates
  new_params: Any  # after the step (projected onto the task's feasible set)
  opt_state: Any  # after the step
  model_state: Any = None  # the model's state after the step (stateful tasks), or None


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
  return Carry(params, tx.init(params), k_data, jnp.zeros((), jnp.int32),
               initial_state(task, seed))


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
  params, opt_state, key, t, model_state = carry
  key, sub = jax.random.split(key)
  batch = task.sample_batch(sub, t) if task.sample_batch is not None else None
  if task.stateful:
    (loss, new_model_state), grads = jax.value_and_grad(task.loss, has_aux=True)(
        params, batch, model_state)
    new_model_state = jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype),
                                   new_model_state, model_state)
  else:
    loss, grads = jax.value_and_grad(task.loss)(params, batch)
    new_model_state = model_state
  updates, new_state = tx.update(grads, opt_state, params)
  new_params = optax.apply_updates(params, updates)
  if task.project is not None:
    new_params = task.project(new_params)
  if steps is not None:
    active = t < steps

    def keep(new, old):
      return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)

    new_params, new_state = keep(new_params, params), keep(new_state, opt_state)
    new_model_state = keep(new_model_state, model_state)
  step = Step(t, params, loss, updates, new_params, new_state, new_model_state)
  out = record(step) if record else None
  return Carry(new_params, new_state, key, t + 1, new_model_state), out


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


def replay(task: Task, name: OptimizerSpec, lr: float, *, steps: int, seeds: int,
           seed_offset: int = 0, record: Record | None = None,
           last: Record | None = None) -> Any:
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
