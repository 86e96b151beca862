"""The loss surface of a task around and between the solutions that optimizers reach.

:func:`loss_surface` trains each optimizer on a task through the harness's own training
(:func:`~optax_survey.harness.training.replay`: the same seed, batches, float32 start and
step as the runs of :func:`~optax_survey.harness.compare`), takes seed ``seed``'s initial
and final parameters, and measures the task's training objective
(:func:`training_objective`) there with :mod:`~optax_survey.harness.analysis.landscape`
and :mod:`~optax_survey.harness.analysis.sharpness`, each one compiled, vmapped program:

* the line ``θ_0 + α (θ_k - θ_0)`` from the initial parameters to each optimizer's
  solution ``θ_k`` (Goodfellow et al. 2015);
* the line ``θ_k + α (θ_{k+1} - θ_k)`` between consecutive optimizers' solutions, in the
  order given (linear mode connectivity, Frankle et al. 2020; order the optimizers to
  choose the pairs), and its loss barrier (:func:`loss_barrier`, Entezari et al. 2022);
* the slice ``θ_k + x d_1 + y d_2`` on a ``points x points`` grid over ``[-span, span]^2``
  along two filter-normalised random directions (Li et al. 2018,
  :func:`slice_directions`), drawn with the same keys for every optimizer so that the
  slices are comparable;
* the sharpness λ_max, the largest eigenvalue of the objective's Hessian at ``θ_k``
  (Lanczos on Hessian-vector products).

:meth:`LossSurface.write` draws them
(:func:`~optax_survey.harness.render.figures.surface_planes`: one panel per optimizer,
λ_max in its title; :func:`~optax_survey.harness.render.figures.surface_lines`) and
writes the numbers as JSON; ``optax-survey landscape`` is the command.

A model with state (``Task.init_state``, e.g. BatchNorm's statistics) is a pair
``(params, state)``: the lines interpolate the state with the parameters (both ends are
the models the runs reached or started from; integer leaves are truncated back to
integers), the slices move the parameters alone and keep the run's final state.

References:
  Li, Xu, Taylor, Studer & Goldstein, `Visualizing the Loss Landscape of Neural Nets
  <https://arxiv.org/abs/1712.09913>`__, NeurIPS 2018.

  Goodfellow, Vinyals & Saxe, `Qualitatively characterizing neural network optimization
  problems <https://arxiv.org/abs/1412.6544>`__, ICLR 2015.

  Frankle, Dziugaite, Roy & Carbin, `Linear Mode Connectivity and the Lottery Ticket
  Hypothesis <https://arxiv.org/abs/1912.05671>`__, ICML 2020.

  Entezari, Sedghi, Saukh & Neyshabur, `The Role of Permutation Invariance in Linear
  Mode Connectivity of Neural Networks <https://arxiv.org/abs/2110.06296>`__, ICLR 2022.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from optax_survey.harness import preflight, registry, runs, training
from optax_survey.harness.analysis import landscape, minima, sharpness
from optax_survey.harness.errors import BadInputError, BadTypeError
from optax_survey.harness.protocol import check_initial_loss
from optax_survey.harness.render import figures
from optax_survey.harness.results import write_json
from optax_survey.harness.tasks import Task, check_task, load_task

__all__ = ["CHUNK", "DEFAULT_OPTIMIZERS", "FILTER_NORMALISED", "LINE_ALPHAS",
           "LossSurface", "ORTHONORMAL", "check_lrs", "loss_barrier", "loss_surface",
           "slice_directions", "training_objective"]

# Cheap and different: heavy-ball momentum, Adam, AdaGrad (the command's default).
DEFAULT_OPTIMIZERS = ("sgdm", "adam", "adagrad")

# The lines' α: from half a segment before its start to half a segment past its end.
LINE_ALPHAS = np.round(np.linspace(-0.5, 1.5, 41), 10)
# The points of a line or a slice evaluated at once (``jax.lax.map``'s batch): a large
# grid on a large model costs time, not memory.
CHUNK = 64

# How the slices' directions are drawn (:func:`slice_directions`).
FILTER_NORMALISED = "filter-normalised (Li et al. 2018)"
ORTHONORMAL = "orthonormal (no weight matrix to normalise)"


def training_objective(task: Task) -> tuple[Callable[[Any, Any], Any], str]:
  """The training objective ``(params, state) -> scalar`` that the surface shows and whose
  sharpness its titles give, and what it is, in words: the minima's objective
  (:func:`~optax_survey.harness.analysis.minima.hessian_loss`, the function whose
  sharpness the results page reports): the mean of ``loss`` over
  :data:`~optax_survey.harness.analysis.minima.HESSIAN_BATCHES` fixed training batches
  (a stateful model's ``loss`` with the run's state, its new state dropped), or, without
  data (``sample_batch`` None: the 2-D functions), ``loss`` itself.

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> objective, described = training_objective(get_task("quadratic"))
    >>> round(float(objective(jnp.array([-9.0, 1.5]), None)), 4), described  # 0.05x² + 2y²
    (8.55, 'the objective (no data)')
  """
  described = ("the objective (no data)" if task.sample_batch is None else
               f"the training loss on {minima.HESSIAN_BATCHES} fixed training batches")
  return minima.hessian_loss(task), described


def slice_directions(params: Any, *, key: Any,
                     filter_axis: int | Callable[[Any], int] = -1) -> tuple[Any, Any, str]:
  """The two directions ``d_1, d_2`` of a 2-D slice around ``params``, and how they were
  drawn.

  Li et al.'s filter normalisation (:func:`~optax_survey.harness.analysis.landscape.
  filter_normalized`, keys ``fold_in(key, 0)`` and ``fold_in(key, 1)``): every filter of
  ``d_i`` has the norm of the same filter of ``params``, vectors (biases) get none.  A
  model without a weight matrix (a 2-D function, a linear model's vector) has no filters:
  its directions are two orthonormal random vectors over all its parameters.

  Args:
    params: the slice's centre.
    key: a ``jax.random`` key (the same for every optimizer: comparable slices).
    filter_axis: each weight's filter (output) axis: an int for all, or ``leaf -> axis``
      (PyTorch's convolutions ``[out, in, k]`` have it at 0).

  Returns:
    ``(d_1, d_2, description)``.

  Example:
    >>> params = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.ones(2)}
    >>> d1, d2, how = slice_directions(params, key=jax.random.PRNGKey(0))
    >>> jnp.linalg.norm(d2["w"], axis=0).round(4).tolist(), d1["b"].tolist(), how
    ([5.0, 1.0], [0.0, 0.0], 'filter-normalised (Li et al. 2018)')
    >>> u, v, how = slice_directions(jnp.array([1.0, 2.0]), key=jax.random.PRNGKey(0))
    >>> round(float(u @ u), 4), abs(round(float(u @ v), 4)), how
    (1.0, 0.0, 'orthonormal (no weight matrix to normalise)')
  """
  keys = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
  if _has_filters(params):
    d1, d2 = (landscape.filter_normalized(k, params, filter_axis=filter_axis) for k in keys)
    return d1, d2, FILTER_NORMALISED
  flat, unravel = ravel_pytree(params)
  u, v = (jax.random.normal(k, flat.shape, flat.dtype) for k in keys)
  u = u / jnp.linalg.norm(u)
  v = v - jnp.vdot(u, v) * u
  norm = jnp.linalg.norm(v)
  v = jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1.0), 0.0)  # one parameter: none
  return unravel(u), unravel(v), ORTHONORMAL


def _has_filters(params: Any) -> bool:
  """Whether ``params`` has a weight matrix (a leaf of 2 dimensions or more)."""
  return any(jnp.ndim(leaf) >= 2 for leaf in jax.tree.leaves(params))


def loss_barrier(alphas: Any, values: Any) -> float:
  """The loss barrier of a line between two solutions: the largest rise of the loss above
  the straight line between its ends, over the line's ``α`` in ``[0, 1]``,

  .. math::
    \\max_{\\alpha \\in [0, 1]} L(\\alpha) - ((1 - \\alpha) L(0) + \\alpha L(1))

  (Entezari et al. 2022); 0 or less: linearly mode-connected.

  Args:
    alphas: the line's ``α``, with 0 and 1 among them.
    values: the loss at each.

  Returns:
    The barrier (NaN if a value on ``[0, 1]`` is not finite).

  Example:
    >>> loss_barrier([0.0, 0.5, 1.0, 1.5], [1.0, 3.0, 2.0, 9.0])  # 3 - 1.5
    1.5
  """
  alphas, values = np.asarray(alphas, np.float64), np.asarray(values, np.float64)
  inside = (alphas >= 0) & (alphas <= 1)
  start, end = values[alphas == 0][0], values[alphas == 1][0]
  rise = values[inside] - ((1 - alphas[inside]) * start + alphas[inside] * end)
  return float(rise.max()) if np.isfinite(rise).all() else float("nan")


def check_lrs(lrs: Mapping[str, Any] | None, labels: Sequence[str]) -> dict[str, float]:
  """The learning rates given for some of the optimizers ``labels`` (numbers, or their
  text), as floats, each positive and finite.

  Example:
    >>> check_lrs({"adam": "1e-3"}, ["sgdm", "adam"])
    {'adam': 0.001}
    >>> check_lrs({"adamw": 0.1}, ["sgdm", "adam"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: lrs: 'adamw' is not one of the optimizers ...
  """
  if lrs is None:
    return {}
  if not isinstance(lrs, Mapping):
    raise BadTypeError(f"lrs must map optimizer names to learning rates, got "
                       f"{type(lrs).__name__}", argument="lrs")
  checked = {}
  for name, raw in lrs.items():
    if name not in labels:
      raise BadInputError(f"lrs: {name!r} is not one of the optimizers ({', '.join(labels)})",
                          argument="lrs")
    try:
      rate = preflight.check_lr_grid([raw])
    except BadInputError:
      raise BadInputError(f"lrs: {f'{name}={raw}'!r} is not a positive finite learning rate",
                          argument="lrs") from None
    assert rate is not None
    checked[name] = rate[0]
  return checked


@dataclasses.dataclass(frozen=True)
class LossSurface:
  """The loss surface of a task around and between optimizers' solutions: NumPy arrays
  (rows in the order of ``optimizers``) and what they were measured on.

  Attributes:
    task: the task's name.
    objective: what the loss is (:func:`training_objective`).
    optimizers: the optimizers' labels.
    lrs: each one's learning rate.
    steps: training steps.
    seed: the seed of the runs measured.
    alphas: the lines' ``α`` (:data:`LINE_ALPHAS`), ``[A]``.
    lines: the loss on ``θ_0 + α (θ_k - θ_0)``, ``[optimizers, A]``.
    pairs: the solutions the lines ``between`` join: consecutive optimizers.
    between: the loss on ``θ_a + α (θ_b - θ_a)`` for each pair, ``[pairs, A]``.
    coordinates: the slices' ``x`` (and ``y``) values, ``[points]``; 0 in the middle.
    planes: the loss on ``θ_k + x d_1 + y d_2``, ``[optimizers, points (y), points (x)]``.
    sharpness: λ_max of the objective's Hessian at each ``θ_k``, ``[optimizers]``.
    directions: how ``d_1, d_2`` were drawn (:func:`slice_directions`) and their key.
    initial_params: ``θ_0`` (seed ``seed``'s start).
    final_params: each ``θ_k``.
    final_states: each run's final model state (None for a task without state).
    slice_directions: each optimizer's ``(d_1, d_2)``.
    notes: what a reader needs to know (a run that diverged).
    written: the files :meth:`write` wrote, if any.
  """

  task: str
  objective: str
  optimizers: tuple[str, ...]
  lrs: tuple[float, ...]
  steps: int
  seed: int
  alphas: np.ndarray
  lines: np.ndarray
  pairs: tuple[tuple[str, str], ...]
  between: np.ndarray
  coordinates: np.ndarray
  planes: np.ndarray
  sharpness: np.ndarray
  directions: str
  initial_params: Any = None
  final_params: tuple[Any, ...] = ()
  final_states: tuple[Any, ...] = ()
  slice_directions: tuple[tuple[Any, Any], ...] = ()
  notes: tuple[str, ...] = ()
  written: tuple[str, ...] = ()

  @property
  def final_loss(self) -> np.ndarray:
    """The objective at each final point (the slices' centres), ``[optimizers]``."""
    middle = len(self.coordinates) // 2
    return self.planes[:, middle, middle]

  @property
  def barriers(self) -> list[float]:
    """Each pair's :func:`loss_barrier`."""
    return [loss_barrier(self.alphas, values) for values in self.between]

  def to_dict(self) -> dict:
    """The numbers as JSON-ready data (the parameters and directions left out)."""
    start = int(np.flatnonzero(self.alphas == 0)[0])
    return {
        "task": self.task, "objective": self.objective, "steps": self.steps,
        "seed": self.seed, "directions": self.directions, "notes": list(self.notes),
        "optimizers": [
            {"name": name, "lr": lr, "initial_loss": float(self.lines[k, start]),
             "final_loss": float(self.final_loss[k]), "sharpness": float(self.sharpness[k])}
            for k, (name, lr) in enumerate(zip(self.optimizers, self.lrs, strict=True))],
        "alphas": self.alphas.tolist(),
        "lines": {name: self.lines[k].tolist() for k, name in enumerate(self.optimizers)},
        "between": [{"from": a, "to": b, "loss": self.between[k].tolist(),
                     "barrier": self.barriers[k]} for k, (a, b) in enumerate(self.pairs)],
        "coordinates": self.coordinates.tolist(),
        "planes": {name: self.planes[k].tolist() for k, name in enumerate(self.optimizers)},
    }

  def to_json(self, path: str | None = None) -> str:
    """:meth:`to_dict` as JSON text; written to ``path`` if given."""
    return write_json(self.to_dict(), path, indent=1)

  def summary(self) -> str:
    """A table of each optimizer's rate, loss before and after, and λ_max; each pair's
    barrier; the notes (as the command line prints them)."""
    width = max(len("optimizer"), *(len(n) for n in self.optimizers))
    lines = [f"{self.task}: {self.objective}, seed {self.seed}, {self.steps} steps; slices "
             f"along {self.directions}",
             f"{'optimizer':<{width}}  {'lr':>8}  {'initial':>9}  {'final':>9}  "
             f"{'lambda_max':>10}"]
    start = int(np.flatnonzero(self.alphas == 0)[0])
    for k, name in enumerate(self.optimizers):
      lines.append(f"{name:<{width}}  {self.lrs[k]:>8.3g}  "
                   f"{figures.fmt_value(float(self.lines[k, start])):>9}  "
                   f"{figures.fmt_value(float(self.final_loss[k])):>9}  "
                   f"{figures.fmt_value(float(self.sharpness[k])):>10}")
    if self.pairs:
      lines.append("loss barrier between solutions (max rise above the straight line):")
      lines += [f"  {a} -> {b}: {figures.fmt_value(barrier)}"
                for (a, b), barrier in zip(self.pairs, self.barriers, strict=True)]
    return "\n".join(lines + [f"note: {note}" for note in self.notes])

  def write(self, out: str, *, plot: bool = True) -> list[str]:
    """Writes ``landscape_TASK.json`` and (``plot``) ``landscape_TASK_planes.png`` and
    ``landscape_TASK_lines.png`` into ``out``; returns their paths."""
    preflight.require_extras(plot=plot)
    preflight.check_output_dir(out)
    return _write(self, out, plot=plot)


def _write(surface: LossSurface, out: str, *, plot: bool) -> list[str]:
  """:meth:`LossSurface.write` without its checks."""
  stem = os.path.join(out, f"landscape_{surface.task}")
  written = [stem + ".json"]
  surface.to_json(written[0])
  if plot:
    written.append(figures.surface_planes(surface, stem + "_planes.png"))
    written.append(figures.surface_lines(surface, stem + "_lines.png"))
  return written


def _count(name: str, value: Any) -> int:
  """``value`` if it is a positive integer (None is not one)."""
  count = preflight.check_count(name, value)
  if count is None:
    raise BadTypeError(f"{name} must be a positive integer, got None", argument=name)
  return count


def _check_points(points: Any) -> int:
  """``points`` if it is an odd integer >= 3 (the final point in the middle of the grid)."""
  count = _count("points", points)
  if count < 3 or count % 2 == 0:
    raise BadInputError(f"points must be an odd integer >= 3 (the final point in the middle "
                        f"of the grid), got {count}", argument="points")
  return count


def _check_seed(seed: Any) -> int:
  """``seed`` if it is an integer >= 0."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise BadInputError(f"seed must be an integer >= 0, got {seed!r}", argument="seed")
  return int(seed)


def _train(task: Task, spec: registry.OptimizerSpec, lr: float, *, steps: int,
           seed: int) -> tuple[Any, Any]:
  """The parameters seed ``seed``'s run is evaluated on after ``steps`` steps (Lookahead's
  slow weights), and its model state."""
  def last(step: training.Step) -> tuple[Any, Any]:
    return runs.evaluated_params(step.new_params, step.opt_state), step.model_state

  out = training.replay(task, spec, lr, steps=steps, seeds=1, seed_offset=seed, last=last)
  return jax.tree.map(lambda x: x[0], out)


def _model_objective(objective: Callable[[Any, Any], Any],
                     reference_state: Any) -> Callable[[Any], Any]:
  """``objective`` of a model ``(params, state)``: its state back in the dtypes of
  ``reference_state`` (a line interpolates it; integer leaves truncate)."""
  def loss(model):
    params, state = model
    state = jax.tree.map(lambda x, ref: jnp.asarray(x).astype(ref.dtype), state,
                         reference_state)
    return objective(params, state)

  return loss


def _measure(task: Task, initial: tuple[Any, Any], finals: Sequence[tuple[Any, Any]], *,
             coordinates: np.ndarray, filter_axis: int | Callable[[Any], int],
             iterations: int, direction_seed: int, chunk: int) -> dict[str, Any]:
  """The :class:`LossSurface` fields measured on the models ``(params, state)``, the
  initial one and each run's final one: the objective, the lines, the slices, λ_max."""
  objective, described = training_objective(task)
  model_loss = _model_objective(objective, initial[1])
  line = jax.jit(lambda a, b: landscape.line(model_loss, a, b, LINE_ALPHAS, chunk=chunk))

  @jax.jit
  def around(params, state, key):  # one program per solution: its slice and its λ_max
    def at(p):
      return objective(p, state)

    d1, d2, _ = slice_directions(params, key=key, filter_axis=filter_axis)
    plane = landscape.plane(at, params, d1, d2, coordinates, coordinates, chunk=chunk)
    return plane, sharpness.top_eigenvalue(at, params, iterations=iterations), (d1, d2)

  key = jax.random.PRNGKey(direction_seed)
  slices = [around(params, state, key) for params, state in finals]
  between = [np.asarray(line(a, b)) for a, b in zip(finals[:-1], finals[1:], strict=True)]
  how = FILTER_NORMALISED if _has_filters(initial[0]) else ORTHONORMAL
  return dict(
      objective=described, alphas=LINE_ALPHAS.copy(),
      lines=np.stack([np.asarray(line(initial, final)) for final in finals]),
      between=np.stack(between) if between else np.zeros((0, len(LINE_ALPHAS))),
      coordinates=coordinates, planes=np.stack([np.asarray(p) for p, _, _ in slices]),
      sharpness=np.array([float(s) for _, s, _ in slices]),
      directions=f"{how} random directions, key PRNGKey({direction_seed})",
      initial_params=jax.device_get(initial[0]),
      final_params=tuple(jax.device_get(params) for params, _ in finals),
      final_states=tuple(jax.device_get(state) for _, state in finals),
      slice_directions=tuple(jax.device_get(d) for _, _, d in slices))


def loss_surface(
    task: Task | str,
    optimizers: str | Sequence[Any] | Mapping[str, Any] = DEFAULT_OPTIMIZERS,
    *,
    lrs: Mapping[str, Any] | None = None,
    steps: int | None = None,
    seed: int = 0,
    points: int = 21,
    span: float = 1.0,
    sharpness_iterations: int = 30,
    direction_seed: int = 0,
    filter_axis: int | Callable[[Any], int] | None = None,
    chunk: int = CHUNK,
    out: str | None = None,
    plot: bool = True,
) -> LossSurface:
  """Trains each optimizer on ``task`` and measures the training objective's surface
  around and between their solutions (the module's docstring says what and how).

  Args:
    task: a :class:`~optax_survey.harness.Task`, a survey task's name or
      ``"my_module:make_task"`` (:func:`~optax_survey.harness.tasks.load_task`).
    optimizers: as :func:`~optax_survey.harness.compare` takes them; the lines between
      solutions join consecutive ones in this order.
    lrs: learning rates ``{optimizer: rate}`` for some of them; the others train at the
      centre of their grid on the task (``Task.lrs``, else the published default).
    steps: training steps (default: the task's).
    seed: the seed whose run is measured (its initialisation and batches, as the
      harness's runs of that seed).
    points: the slices' grid points per axis, an odd integer >= 3.
    span: the slices cover ``[-span, span]`` along each direction.
    sharpness_iterations: Lanczos steps for λ_max (exact once they reach the number of
      parameters).
    direction_seed: the slices' directions' key, ``PRNGKey(direction_seed)``.
    filter_axis: each weight's filter axis (:func:`slice_directions`); default the
      task's ``extra["filter_axis"]``, else -1 (``[in, out]`` kernels).
    chunk: the points of a line or slice evaluated at once (``jax.lax.map``'s batch):
      the memory of ``chunk`` evaluations of the objective, whatever ``points``.
    out: if given, the folder for the JSON and (``plot``) the PNGs (checked first).
    plot: draw the PNGs when ``out`` is given (matplotlib).

  Returns:
    A :class:`LossSurface`.

  Raises:
    HarnessError: before any training, one line naming the argument: an unknown
      optimizer or task, a bad rate in ``lrs`` or one for an optimizer not in
      ``optimizers``, bad counts, an unusable ``out``, a missing matplotlib.

  Example: the quadratic 0.05 x^2 + 2 y^2 (its Hessian's largest eigenvalue is 4):

    >>> surface = loss_surface("quadratic", ["sgd", "adam"], steps=30, points=5)
    >>> surface.planes.shape, [round(float(s), 4) for s in surface.sharpness]
    ((2, 5, 5), [4.0, 4.0])
    >>> round(float(surface.lines[0][surface.alphas == 0][0]), 4)  # the start, (-9, 1.5)
    8.55
    >>> surface.pairs
    (('sgd', 'adam'),)
  """
  chosen = registry.choose_optimizers(optimizers)
  labels = list(chosen)
  given = check_lrs(lrs, labels)
  n_steps = preflight.check_count("steps", steps)
  seed = _check_seed(seed)
  points = _check_points(points)
  span = preflight.check_positive("span", span)
  iterations = _count("sharpness_iterations", sharpness_iterations)
  direction_seed = _check_seed(direction_seed)
  chunk = _count("chunk", chunk)
  preflight.require_extras(plot=plot and out is not None)
  with preflight.no_empty_folder_left(out):
    if out is not None:
      preflight.check_output_dir(out)
    return _loss_surface(task, chosen, given, steps=n_steps, seed=seed, points=points,
                         span=span, iterations=iterations, direction_seed=direction_seed,
                         filter_axis=filter_axis, chunk=chunk, out=out, plot=plot)


def _loss_surface(task: Task | str, chosen: Mapping[str, registry.OptimizerSpec],
                  given: Mapping[str, float], *, steps: int | None, seed: int, points: int,
                  span: float, iterations: int, direction_seed: int,
                  filter_axis: int | Callable[[Any], int] | None, chunk: int,
                  out: str | None, plot: bool) -> LossSurface:
  """:func:`loss_surface` after its argument checks."""
  labels = list(chosen)
  task = check_task(load_task(task) if isinstance(task, str) else task, tuned=False)
  check_initial_loss(task)
  n_steps = task.steps if steps is None else steps
  rates = {name: given.get(name, runs.centre_lr(task, name, spec))
           for name, spec in chosen.items()}
  axis = task.extra.get("filter_axis", -1) if filter_axis is None else filter_axis

  initial = (training.initial_params(task, seed), training.initial_state(task, seed))
  finals = [_train(task, chosen[name], rates[name], steps=n_steps, seed=seed)
            for name in labels]
  measured = _measure(task, initial, finals, coordinates=np.linspace(-span, span, points),
                      filter_axis=axis, iterations=iterations, direction_seed=direction_seed,
                      chunk=chunk)
  notes = tuple(f"{name} diverged at lr {rates[name]:g}: its surface is NaN"
                for name, (params, _) in zip(labels, finals, strict=True)
                if not bool(runs.all_finite(params)))
  surface = LossSurface(
      task=task.name, optimizers=tuple(labels), lrs=tuple(rates[name] for name in labels),
      steps=n_steps, seed=seed, pairs=tuple(zip(labels[:-1], labels[1:], strict=True)),
      notes=notes, **measured)
  if out is not None:
    surface = dataclasses.replace(surface, written=tuple(_write(surface, out, plot=plot)))
  return surface
