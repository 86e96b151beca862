"""Each optimizer's declared search space, the quasi-random trials drawn from it, and the
learning-rate schedules a search tunes.

The tuned budget searches the learning rate alone, on a log grid, at a constant rate.
The search budget tunes as the benchmarks do: MLCommons AlgoPerf's external-tuning
ruleset draws quasi-random (scrambled Halton) points from a space over the learning
rate, 1 - beta1, weight decay and a warm-up + cosine schedule; Schmidt, Schneider &
Hennig 2021 ("Crowded Valley") search every hyperparameter of nearly this survey's
optimizers.  Here every optimizer of the registry declares its space beside the
registry: the learning rate log-uniform over the 3 decades of the tuned grid around its
centre on the task, 1 - beta1 and 1 - beta2 log-uniform where the optimizer has them,
weight decay log-uniform on the scale of how it acts (L2 or decoupled), and its own
hyperparameters, each range with its source (``optax-survey list --search-space``).

A trial is one point: a value per hyperparameter.  The trials of a study are the first
``trials`` points of a scrambled Halton (or Sobol) sequence of ``scipy.stats.qmc``,
scrambled by the study's seed, mapped through each range's scale.  Every value may be
traced, so all trials x seeds of an optimizer train as one vmapped program.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from optax_survey.harness import registry
from optax_survey.harness.errors import BadInputError

__all__ = ["LR_DECADES", "SCHEDULES", "SEARCH_SPACES", "SEQUENCES", "Range", "check_space",
           "load_spaces", "sample", "search_space", "search_space_text", "warmup_cosine"]


class Range(NamedTuple):
  """Where one hyperparameter is searched.

  Attributes:
    low, high: the bounds of the sampled quantity (for ``"one_minus_log"``, of ``1 - v``).
    scale: ``"log"`` (log-uniform), ``"one_minus_log"`` (``v = 1 - w``, ``w``
      log-uniform: a decay rate such as beta1), ``"linear"`` (uniform) or ``"int"``
      (an integer, uniform over ``low .. high``).
    source: where the range comes from (a paper's sweep, AlgoPerf's baseline space, or
      "ours" with the reason).
  """

  low: float
  high: float
  scale: str
  source: str = "ours"

  def value(self, u: np.ndarray) -> np.ndarray:
    """The values at ``u`` in [0, 1): float64, or int64 for ``"int"``.

    Example:
      >>> Range(1e-3, 1e-1, "log").value(np.array([0.0, 0.5]))
      array([0.001, 0.01 ])
      >>> Range(0.02, 0.5, "one_minus_log").value(np.array([0.0]))  # beta1 = 0.98
      array([0.98])
      >>> Range(5, 10, "int").value(np.array([0.0, 0.999]))
      array([ 5, 10])
    """
    u = np.asarray(u, np.float64)
    if self.scale == "int":
      span = int(self.high) - int(self.low) + 1
      return np.minimum(int(self.low) + np.floor(u * span), self.high).astype(np.int64)
    if self.scale == "linear":
      return self.low + u * (self.high - self.low)
    w = np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
    return 1.0 - w if self.scale == "one_minus_log" else w

  def bounds(self) -> tuple[float, float]:
    """The smallest and largest value (of ``v``, not of ``1 - v``)."""
    if self.scale == "one_minus_log":
      return 1.0 - self.high, 1.0 - self.low
    return self.low, self.high

  def describe(self) -> str:
    """One line: the scale, the bounds and the source.

    Example:
      >>> print(Range(0.02, 0.5, "one_minus_log", "AlgoPerf").describe())
      1 - v log-uniform in [0.02, 0.5] (v in [0.5, 0.98]; AlgoPerf)
    """
    if self.scale == "one_minus_log":
      low, high = self.bounds()
      return (f"1 - v log-uniform in [{self.low:g}, {self.high:g}] "
              f"(v in [{low:g}, {high:g}]; {self.source})")
    kind = {"log": "log-uniform", "linear": "uniform", "int": "integer uniform"}[self.scale]
    return f"{kind} in [{self.low:g}, {self.high:g}] ({self.source})"


SCALES = ("log", "one_minus_log", "linear", "int")
SEQUENCES = ("halton", "sobol")
SCHEDULES = ("constant", "warmup_cosine")

# The learning rate: log-uniform over the tuned grid's span, 10**-1.5 .. 10**1.5 times
# its centre on the task (runs.centre_lr), so the two budgets search the same rates.
LR_DECADES = 1.5

_ALGOPERF = "AlgoPerf's {} baseline space (algoperf v0.6, reference_algorithms/paper_baselines)"
_BETA1 = Range(2e-2, 0.5, "one_minus_log", _ALGOPERF.format("AdamW"))
_BETA2 = Range(1e-4, 1e-1, "one_minus_log",
               "ours: beta2 0.9 to 0.9999 around the default 0.999, which AlgoPerf fixes")
_MOMENTUM = Range(5e-3, 0.3, "one_minus_log", _ALGOPERF.format("Nesterov"))
_DECAY = {  # weight decay on the scale it acts on
    "L2 sgd": Range(1e-7, 5e-5, "log", _ALGOPERF.format("Nesterov (L2)")),
    "L2 adaptive": Range(1e-6, 1e-2, "log",
                         "ours: L2 through a per-coordinate step, no benchmark's space"),
    "decoupled": Range(5e-3, 1.0, "log", _ALGOPERF.format("AdamW (decoupled)")),
}
_WARMUP = Range(0.0, 0.1, "linear", "ours: around AlgoPerf's fixed warm-up fraction 0.05")


def _adam_like(decay: str, **own: Range) -> dict[str, Range]:
  return {"b1": _BETA1, "b2": _BETA2, "weight_decay": _DECAY[decay], **own}


#: Every registered optimizer's declared space, ``{name: {hyperparameter: Range}}``,
#: beside the learning rate (:func:`search_space` adds it, and the warm-up fraction).
SEARCH_SPACES: dict[str, dict[str, Range]] = {
    "sgd": {"weight_decay": _DECAY["L2 sgd"]},
    "sgdm": {"momentum": _MOMENTUM, "weight_decay": _DECAY["L2 sgd"]},
    "nag": {"momentum": _MOMENTUM, "weight_decay": _DECAY["L2 sgd"]},
    "adagrad": {"weight_decay": _DECAY["L2 adaptive"]},
    "adadelta": {"rho": Range(1e-2, 1e-1, "one_minus_log",
                              "Zeiler 2012, Table 1's rho 0.9 to 0.99"),
                 "weight_decay": _DECAY["L2 adaptive"]},
    "rmsprop": {"decay": Range(1e-3, 1e-1, "one_minus_log",
                               "ours: 0.9 (Tieleman & Hinton) to 0.999, default 0.99"),
                "weight_decay": _DECAY["L2 adaptive"]},
    "adam": _adam_like("L2 adaptive"),
    "adamw": _adam_like("decoupled"),
    "amsgrad": _adam_like("L2 adaptive"),
    "yogi": _adam_like("L2 adaptive", initial_accumulator_value=Range(
        1e-6, 1e-2, "log", "ours: 4 decades up from the default 1e-6")),
    "adabelief": _adam_like("decoupled"),
    "diffgrad": _adam_like("L2 adaptive"),
    "adadb": _adam_like("L2 adaptive",
                        b3=Range(0.1, 0.9, "linear", "ours: around the survey's 0.5"),
                        lam=Range(0.1, 0.9, "linear", "ours: around the survey's 0.5")),
    "adabound": _adam_like("L2 adaptive", final_lr=Range(
        1e-2, 1.0, "log", "ours: a decade either side of Luo et al.'s 0.1"), gamma=Range(
        1e-4, 1e-2, "log", "ours: a decade either side of Luo et al.'s 1e-3")),
    "amsbound": _adam_like("L2 adaptive", final_lr=Range(
        1e-2, 1.0, "log", "ours: a decade either side of Luo et al.'s 0.1"), gamma=Range(
        1e-4, 1e-2, "log", "ours: a decade either side of Luo et al.'s 1e-3")),
    "adamod": _adam_like("decoupled", b3=Range(
        1e-4, 1e-1, "one_minus_log", "ours: beta3 0.9 to 0.9999 around Ding et al.'s 0.999")),
    "radam": _adam_like("decoupled"),
    "lookahead": _adam_like("L2 adaptive",
                            sync_period=Range(5, 10, "int", "Zhang et al. 2019: k in 5..10"),
                            slow_step_size=Range(0.5, 0.8, "linear",
                                                 "Zhang et al. 2019: alpha in 0.5..0.8")),
}


def search_space(name: str, centre_lr: float, *, schedule: str = "constant",
                 space: Mapping[str, Range] | None = None) -> dict[str, Range]:
  """The space a search of optimizer ``name`` samples: ``"lr"`` first (log-uniform over
  ``centre_lr`` times 10**-1.5 .. 10**1.5), then the optimizer's declared space (or
  ``space``, a user's), then ``"warmup"`` (the warm-up fraction) for a
  ``"warmup_cosine"`` schedule.

  Example:
    >>> space = search_space("sgdm", 0.1, schedule="warmup_cosine")
    >>> list(space), [round(v, 4) for v in space["lr"].bounds()]
    (['lr', 'momentum', 'weight_decay', 'warmup'], [0.0032, 3.1623])
  """
  if schedule not in SCHEDULES:
    raise BadInputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}",
                        argument="schedule")
  if space is None:
    registry.check_optimizer(name)
    space = SEARCH_SPACES[name]
  lr = Range(centre_lr * 10 ** -LR_DECADES, centre_lr * 10 ** LR_DECADES, "log",
             "ours: the tuned grid's 3 decades around its centre on the task")
  full = {"lr": lr, **dict(space)}
  if schedule == "warmup_cosine":
    full.setdefault("warmup", _WARMUP)
  return check_space(full)


def check_space(space: Mapping[str, Any]) -> dict[str, Range]:
  """``space`` as ``{name: Range}``, or a ``BadInputError`` naming the bad entry.

  Example:
    >>> check_space({"b1": Range(0.5, 0.1, "log")})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: search space 'b1': low must be below high, ...
  """
  checked = {}
  for name, r in space.items():
    if isinstance(r, tuple) and not isinstance(r, Range):
      r = Range(*r)
    if not isinstance(r, Range):
      raise BadInputError(f"search space {name!r}: give a Range(low, high, scale, source), "
                          f"got {type(r).__name__}", argument="space")
    if r.scale not in SCALES:
      raise BadInputError(f"search space {name!r}: scale must be one of {', '.join(SCALES)}, "
                          f"got {r.scale!r}", argument="space")
    if not r.low < r.high:
      raise BadInputError(f"search space {name!r}: low must be below high, got "
                          f"[{r.low}, {r.high}]", argument="space")
    if r.scale in ("log", "one_minus_log") and r.low <= 0:
      raise BadInputError(f"search space {name!r}: a {r.scale} range needs low > 0, got "
                          f"{r.low}", argument="space")
    if r.scale == "one_minus_log" and r.high > 1:
      raise BadInputError(f"search space {name!r}: 1 - v must be at most 1, got high="
                          f"{r.high}", argument="space")
    checked[str(name)] = r
  return checked


# The study s draws from the sequence scrambled with seed SEED + s.
SEED = 0


def sample(space: Mapping[str, Range], trials: int, *, study: int = 0,
           sequence: str = "halton") -> dict[str, np.ndarray]:
  """The first ``trials`` points of a scrambled quasi-random sequence over ``space``:
  ``scipy.stats.qmc.Halton`` (AlgoPerf's choice) or ``Sobol``, one dimension per
  hyperparameter in the space's order, scrambled with seed ``SEED + study``, mapped
  through each range (:meth:`Range.value`).

  Args:
    space: ``{name: Range}`` (:func:`search_space`).
    trials: the number of points, >= 1.
    study: which independent study (a different scramble of the same sequence).
    sequence: ``"halton"`` or ``"sobol"`` (the first ``trials`` points, whether or not a
      power of 2: scipy's balance warning for other counts is not repeated).

  Returns:
    ``{name: values}``, each of shape ``[trials]`` (int64 for integer ranges).

  Example:
    >>> points = sample({"lr": Range(1e-3, 1e-1, "log")}, 4)
    >>> points["lr"].shape, bool(((1e-3 <= points["lr"]) & (points["lr"] <= 1e-1)).all())
    ((4,), True)
  """
  from scipy.stats import qmc

  if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
    raise BadInputError(f"trials must be an integer >= 1, got {trials!r}", argument="trials")
  if sequence not in SEQUENCES:
    raise BadInputError(f"sequence must be one of {', '.join(SEQUENCES)}, got {sequence!r}",
                        argument="sequence")
  space = check_space(space)
  engine_type = qmc.Halton if sequence == "halton" else qmc.Sobol
  engine = engine_type(d=len(space), scramble=True, seed=SEED + int(study))
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
    u = engine.random(int(trials))
  return {name: r.value(u[:, i]) for i, (name, r) in enumerate(space.items())}


def warmup_cosine(lr: Any, warmup: Any, steps: int) -> Any:
  """A linear warm-up from 0 to ``lr`` over ``round(warmup * steps)`` steps, then a cosine
  decay to 0 at ``steps``: optax's ``warmup_cosine_decay_schedule(0, lr, w, steps)``
  with ``w = round(warmup * steps)``, written so that ``lr`` and ``warmup`` may be traced
  (optax's takes the warm-up's length as a Python number).

  Example:
    >>> import optax
    >>> ours, theirs = warmup_cosine(0.1, 0.2, 10), optax.warmup_cosine_decay_schedule(
    ...     0.0, 0.1, 2, 10)
    >>> [round(float(ours(t)), 5) for t in (1, 2, 6)] == [
    ...     round(float(theirs(t)), 5) for t in (1, 2, 6)]
    True
  """
  w = jnp.round(jnp.asarray(warmup, jnp.float32) * steps)

  def schedule(count):
    t = jnp.asarray(count, jnp.float32)
    up = lr * t / jnp.maximum(w, 1.0)
    done = jnp.clip((t - w) / jnp.maximum(steps - w, 1.0), 0.0, 1.0)
    down = lr * 0.5 * (1.0 + jnp.cos(jnp.pi * done))
    return jnp.where(t < w, up, down)

  return schedule


def search_space_text(name: str) -> str:
  """The declared space of ``name`` as lines ``hyperparameter: range (source)``.

  Example:
    >>> print(search_space_text("sgdm"))  # doctest: +ELLIPSIS
    lr: log-uniform over 10**-1.5 .. 10**1.5 times its centre on the task (ours: ...)
    momentum: 1 - v log-uniform in [0.005, 0.3] (v in [0.7, 0.995]; AlgoPerf's Nesterov ...)
    weight_decay: log-uniform in [1e-07, 5e-05] (AlgoPerf's Nesterov (L2) baseline space ...)
    warmup (schedule warmup_cosine): uniform in [0, 0.1] (ours: around AlgoPerf's ...)
  """
  registry.check_optimizer(name)
  lines = ["lr: log-uniform over 10**-1.5 .. 10**1.5 times its centre on the task (ours: "
           "the tuned grid's 3 decades)"]
  lines += [f"{key}: {r.describe()}" for key, r in SEARCH_SPACES[name].items()]
  lines.append(f"warmup (schedule warmup_cosine): {_WARMUP.describe()}")
  return "\n".join(lines)


def load_spaces(path: str) -> dict[str, dict[str, Range]]:
  """Search spaces from a JSON file, ``{optimizer: {hyperparameter: range}}``, each
  range ``{"low": .., "high": .., "scale": .., "source": ..}`` or ``[low, high, scale,
  source]`` (``compare --space FILE``).

  Example:
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "space.json")
    >>> with open(path, "w") as f:
    ...   json.dump({"adam": {"b1": {"low": 0.05, "high": 0.2, "scale": "one_minus_log",
    ...                              "source": "mine"}}}, f)
    >>> load_spaces(path)["adam"]["b1"].bounds()
    (0.8, 0.95)
  """
  try:
    with open(path) as f:
      data = json.load(f)
  except (OSError, ValueError) as cause:
    raise BadInputError(f"cannot read the search spaces {path!r}: {cause}",
                        argument="space") from None
  if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
    raise BadInputError(f"{path}: give {{optimizer: {{hyperparameter: range}}}}, got "
                        f"{type(data).__name__}", argument="space")
  spaces = {}
  for name, space in data.items():
    ranges = {}
    for key, given in space.items():
      try:
        ranges[key] = Range(**given) if isinstance(given, dict) else Range(*given)
      except TypeError as cause:
        raise BadInputError(f"{path}: {name}.{key}: give low, high, scale and a source: "
                            f"{cause}", argument="space") from None
    spaces[str(name)] = check_space(ranges)
  return spaces
