"""Looking inside runs: per-parameter step sizes, whether AdaBound's bounds bind, and the
notes a results table needs (deterministic tasks, runs that coincide and why).

Nothing here trains in a way of its own: a diagnostic reads what the runs
recorded (:func:`same_run`), or replays them through the runs' own step
(:func:`~optax_survey.harness.training.replay`) with a hook that records what
it measures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optax_survey.harness import registry, training
from optax_survey.harness.runs import RunResult
from optax_survey.harness.tasks import Task

__all__ = ["BoundActivity", "bound_activity", "comparison_notes", "final_step_size_spread",
           "find_first_moment", "same_run"]

# A step size within this relative distance of a bound counts as set by the clip.
_AT_BOUND = 1e-5


def find_first_moment(state: Any) -> Any:
  """The first moment ``mu`` in an optimizer state of optax_survey (the first one found).

  Args:
    state: an optimizer state of optax_survey (tuples, lists and wrappers'
      ``inner_state`` are searched).

  Returns:
    The ``mu`` of the first ``FirstMomentState`` found.

  Raises:
    ValueError: the state holds no first moment.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax_survey as osv
    >>> tx = osv.adam(0.1)
    >>> g = jnp.array([1.0, -2.0], jnp.float32)
    >>> _, state = tx.update(g, tx.init(jnp.zeros(2, jnp.float32)))
    >>> print(np.round(np.asarray(find_first_moment(state)), 4))  # (1 - b1) g after one step
    [ 0.1 -0.2]
  """
  from optax_survey.primitives import FirstMomentState

  found = []

  def visit(node):
    if isinstance(node, FirstMomentState):
      found.append(node.mu)
    elif isinstance(node, (tuple, list)):
      for c in node:
        visit(c)
    elif hasattr(node, "inner_state"):
      visit(node.inner_state)

  visit(state)
  if not found:
    raise ValueError("the optimizer state holds no first moment")
  return found[0]


@dataclasses.dataclass(frozen=True)
class BoundActivity:
  """How often AdaBound's (or AMSBound's) clip set the step size in a run.

  ``clipped_fraction``: the fraction of (seed, step, coordinate) at which the
  per-coordinate step size η sat on a bound η_l or η_u (the clip changed it);
  ``min_margin``: the smallest relative distance of an unclipped η from a bound
  (``inf`` if every η was clipped); ``lower_end``/``upper_end``: the bounds at
  the last step.

  Example:
    >>> act = BoundActivity(task="t", optimizer="adabound", lr=0.1, final_lr=0.1, gamma=1e-3,
    ...                     steps=10, seeds=1, clipped_fraction=0.0, min_margin=0.5,
    ...                     lower_end=0.001, upper_end=10.0)
    >>> act.clipped_fraction == 0.0  # the clip never changed a step: AdaBound ran as Adam
    True
  """

  task: str
  optimizer: str
  lr: float
  final_lr: float
  gamma: float
  steps: int
  seeds: int
  clipped_fraction: float
  min_margin: float
  lower_end: float
  upper_end: float


def bound_activity(task: Task, name: str, lr: float, *, steps: int | None = None,
                   seeds: int | None = None, seed_offset: int = 0) -> BoundActivity:
  """Replays ``name`` ("adabound" or "amsbound") on ``task`` as the runs train it (same
  seeds, batches and float32 start: :func:`~optax_survey.harness.training.replay`) and
  measures where its bounds bind.

  The step size is read off the update as η = -u/m per coordinate and compared
  with η_l = α*γt/(γt+1) and η_u = α*(γt+1)/(γt), α* = final_lr·α_t/α_0.

  Args:
    task: the task.
    name: "adabound" or "amsbound".
    lr: the base learning rate.
    steps: the number of steps (default: the task's).
    seeds: the number of seeds (default: the task's); seeds ``seed_offset ..``.
    seed_offset: the first seed.

  Returns:
    A :class:`BoundActivity`.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> act = bound_activity(get_task("quadratic"), "adabound", 0.1, steps=20, seeds=2)
    >>> act.clipped_fraction, act.steps, act.seeds  # the bounds never bind here
    (0.0, 20, 2)
    >>> act.min_margin > 0.5, round(act.lower_end, 4)  # η_l at step 20: 0.45 * 0.02 / 1.02
    (True, 0.0088)

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate
    <https://arxiv.org/abs/1902.09843>`__, ICLR 2019 (AdaBound's bounds η_l, η_u).
  """
  if name not in ("adabound", "amsbound"):
    raise ValueError(f"bound_activity is for adabound and amsbound, not {name!r}")
  steps = task.steps if steps is None else int(steps)
  seeds = task.seeds if seeds is None else int(seeds)
  settings = registry.defaults(name)
  settings.update({k: v for k, v in task.optimizer_kwargs.items() if k in settings})
  final_lr, gamma = float(settings["final_lr"]), float(settings["gamma"])
  schedule = task.schedule(lr) if task.schedule is not None else None

  def scale(t):  # α_t / α_0 at the 1-based step t
    return 1.0 if schedule is None else schedule(t - 1) / schedule(0)

  def record(step: training.Step) -> tuple:
    u = training.flatten(step.updates)
    m = training.flatten(find_first_moment(step.opt_state))
    tt = (step.t + 1).astype(jnp.float32)
    alpha = final_lr * scale(tt)
    lower = alpha * gamma * tt / (gamma * tt + 1.0)
    upper = alpha * (gamma * tt + 1.0) / (gamma * tt)
    valid = jnp.abs(m) > 1e-30
    eta = -u / jnp.where(valid, m, 1.0)
    margin = jnp.minimum((eta - lower) / lower, (upper - eta) / upper)
    clipped = valid & (margin < _AT_BOUND)
    free = valid & ~clipped
    return clipped.sum(), valid.sum(), jnp.min(jnp.where(free, margin, jnp.inf)), lower, upper

  clipped, valid, margin, lower, upper = jax.tree.map(np.asarray, training.replay(
      task, name, lr, steps=steps, seeds=seeds, seed_offset=seed_offset, record=record))
  n_valid = int(np.sum(valid))
  return BoundActivity(
      task=task.name, optimizer=name, lr=float(lr), final_lr=final_lr, gamma=gamma,
      steps=steps, seeds=seeds,
      clipped_fraction=float(np.sum(clipped)) / n_valid if n_valid else 0.0,
      min_margin=float(np.min(margin)), lower_end=float(lower[0, -1]),
      upper_end=float(upper[0, -1]))


def _close(x: np.ndarray, y: np.ndarray) -> bool:
  """Equal up to float32 round-off (relative to the curve's scale)."""
  finite = np.isfinite(x)
  if not np.array_equal(finite, np.isfinite(y)):
    return False
  if not finite.any():
    return True
  scale = float(np.max(np.abs(x[finite])))
  return bool(np.allclose(x[finite], y[finite], rtol=1e-4, atol=1e-6 * scale))


def same_run(a: RunResult, b: RunResult, i: int) -> bool:
  """Whether runs ``a`` and ``b`` at learning rate ``i`` agree step by step to float32
  round-off (training loss at every step, every metric at every evaluation).

  Example:
    >>> import numpy as np
    >>> from optax_survey.harness.runs import RunResult
    >>> def run(name, loss):  # one rate, one seed, len(loss) steps, evaluated at the end
    ...   loss = np.asarray(loss, np.float32).reshape(1, 1, -1)
    ...   return RunResult(task="t", optimizer=name, lrs=[0.1], seeds=1, steps=loss.shape[-1],
    ...                    eval_steps=np.array([loss.shape[-1]]), metrics={"loss": loss[..., -1:]},
    ...                    loss=loss, update_norm=np.zeros_like(loss))
    >>> adam = run("adam", [3.0, 2.0, 1.0])
    >>> same_run(adam, run("adabound", [3.0, 2.0, 1.0 + 1e-6]), 0)  # float32 round-off
    True
    >>> same_run(adam, run("adabound", [3.0, 2.0, 1.1]), 0)
    False
  """
  if a.lrs[i] != b.lrs[i] or a.steps != b.steps or a.seeds != b.seeds:
    return False
  return _close(a.loss[i], b.loss[i]) and all(
      _close(a.metrics[k][i], b.metrics[k][i]) for k in a.metrics)


def _percent(x: float) -> str:
  return f"{100 * x:.3g}%"


def comparison_notes(task: Task, results: Sequence[RunResult]) -> list[str]:
  """Sentences a reader of the results table needs: that the task is deterministic (the
  ± are 0 by construction), and why two optimizers' rows are identical, where they are
  (AdaBound equals Adam when its bounds never bind: measured, not assumed).

  Args:
    task: the task.
    results: the grid runs of the comparison, one per optimizer; where "adam" and
      "adabound" (or "amsgrad" and "amsbound") agree at a rate, the bounded one is
      replayed there (:func:`bound_activity`) to say why.

  Returns:
    The notes, as sentences.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.harness.tasks import Task
    >>> task = Task(name="parabola", init_params=lambda key, seed: jnp.zeros(1),
    ...             loss=lambda w, batch: jnp.sum((w - 3.0) ** 2),
    ...             evaluate=lambda w: {"loss": jnp.sum((w - 3.0) ** 2)}, metric="loss",
    ...             mode="min", held_out=False, deterministic=True)
    >>> print(*comparison_notes(task, []))  # doctest: +ELLIPSIS
    parabola is deterministic (no random initialisation, data or noise): every seed gives ...
  """
  notes = []
  if task.deterministic:
    notes.append(f"{task.name} is deterministic (no random initialisation, data or noise): "
                 "every seed gives the same run, so the numbers have no spread over seeds.")
  by_name = {r.optimizer: r for r in results}
  for plain, bounded in (("adam", "adabound"), ("amsgrad", "amsbound")):
    if plain not in by_name or bounded not in by_name:
      continue
    a, b = by_name[plain], by_name[bounded]
    same = [i for i in range(min(len(a.lrs), len(b.lrs))) if same_run(a, b, i)]
    centre = [i for i in same if b.lrs[i] == task.lr_for(bounded)]
    # one rate is replayed (the task's own rate if it is among them, else the largest);
    # the others are named
    for i in (centre or same[-1:]):
      act = bound_activity(task, bounded, b.lrs[i], steps=b.steps, seeds=b.seeds,
                           seed_offset=b.seed_offset)
      where = (f"at lr {b.lrs[i]:g} (final_lr {act.final_lr:g}), over all {act.steps} steps "
               f"and {act.seeds} seed{'s' if act.seeds != 1 else ''}")
      if len(same) > 1:
        where += (" (the runs are also identical at lr "
                  + ", ".join(f"{b.lrs[j]:g}" for j in same if j != i) + ")")
      if act.clipped_fraction == 0.0:
        notes.append(
            f"{bounded} runs as {plain} on {task.name} (the same numbers up to float32 "
            f"round-off): its bounds never bind {where} "
            f"(every per-coordinate step size stays at least {_percent(act.min_margin)} inside "
            f"[η_l, η_u]; at the last step η_l = {act.lower_end:.3g}, "
            f"η_u = {act.upper_end:.3g}), so the clip never changes a step.")
      else:
        notes.append(
            f"{bounded} gives the same numbers as {plain} on {task.name} although its bounds "
            f"bind at {_percent(act.clipped_fraction)} of the step sizes {where}.")
  return notes


def final_step_size_spread(task: Task, name: str, lr: float, *, steps: int, seeds: int,
                           seed_offset: int = 0) -> np.ndarray:
  """Per seed, the spread p90/p10 of the per-parameter step sizes η = -u/m at the last step.

  Replays ``name`` ("adam", "adabound", ... anything with a first moment) on
  ``task`` at ``lr`` as the runs train it (same seeds and batches), all seeds as
  one program.  A spread near 1 means every parameter takes the same step size
  (SGD-like); Adam's stays wide.

  Args:
    task: the task.
    name: the optimizer's name in the registry.
    lr: the base learning rate.
    steps: the number of steps.
    seeds: the number of seeds; the runs use seeds ``seed_offset ..``.
    seed_offset: the first seed.

  Returns:
    ``[seeds]`` spreads (``inf`` where p10 <= 0).

  Example:
    >>> import numpy as np
    >>> from optax_survey.harness.tasks import get_task
    >>> spread = final_step_size_spread(get_task("quadratic"), "adam", 0.1, steps=20, seeds=2)
    >>> np.round(spread, 1).tolist()  # per seed: the two coordinates' step sizes differ
    [2.8, 2.7]

  References:
    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate
    <https://arxiv.org/abs/1902.09843>`__, ICLR 2019 (AdaBound's bounds η_l, η_u).
  """
  def last(step: training.Step) -> tuple:
    return training.flatten(step.updates), training.flatten(find_first_moment(step.opt_state))

  u, m = training.replay(task, name, lr, steps=steps, seeds=seeds, seed_offset=seed_offset,
                         last=last)
  u, m = np.asarray(u, np.float64), np.asarray(m, np.float64)
  out = []
  for us, ms in zip(u, m, strict=True):
    ok = np.abs(ms) > 1e-8
    eta = -us[ok] / ms[ok]
    p10, p90 = np.percentile(eta, [10, 90]) if eta.size else (np.nan, np.nan)
    out.append(p90 / p10 if p10 > 0 else np.inf)
  return np.asarray(out, np.float64)
