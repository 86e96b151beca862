"""The survey's optimizers with their metadata, and a builder the harness uses.

``build(name, learning_rate, **overrides)`` returns the optax_survey optimizer
with its published defaults, except the learning rate and the keyword
``overrides`` that the optimizer accepts (a task may fix ``b1``/``b2``, as
Reddi et al.'s experiment does; optimizers without them ignore them).
``learning_rate`` may be a traced value or a schedule, so the harness can
build the optimizer inside ``jax.vmap`` over a learning-rate grid.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import optax

import optax_survey as osv
from optax_survey.harness.errors import BadInputError, BadTypeError, one_line
from optax_survey.harness.user_code import is_function_spec, load_function

__all__ = ["FACTORY_LR", "OPTIMIZERS", "OptimizerInfo", "build", "build_any",
           "check_hyperparameters", "check_optimizer", "choose_optimizers", "default_lr",
           "defaults", "defaults_text", "hyperparameters",
           "label_of", "lr_table", "one_shot_lr", "resolve_optimizer", "survey_setting_text"]


@dataclasses.dataclass(frozen=True)
class OptimizerInfo:
  name: str
  paper: str
  code: str
  family: str  # "sgd", "adaptive", "adam", "bounded", "wrapper"
  weight_decay: str  # how ``weight_decay`` acts: "L2", "decoupled", ... (README's table)


def _info(name, paper, code, family, weight_decay="L2"):
  return name, OptimizerInfo(name, paper, code, family, weight_decay)


OPTIMIZERS: dict[str, OptimizerInfo] = dict([
    _info("sgd", "Robbins & Monro 1951", "torch.optim.SGD; optax.sgd", "sgd"),
    _info("sgdm", "Polyak 1964", "torch.optim.SGD(momentum=0.9)", "sgd"),
    _info("nag", "Sutskever et al. 2013", "torch.optim.SGD(nesterov=True)", "sgd"),
    _info("adagrad", "Duchi et al. 2011", "torch.optim.Adagrad", "adaptive"),
    _info("adadelta", "Zeiler 2012", "torch.optim.Adadelta", "adaptive"),
    _info("rmsprop", "Tieleman & Hinton 2012", "torch.optim.RMSprop", "adaptive"),
    _info("adam", "Kingma & Ba 2015", "torch.optim.Adam; optax.adam", "adam"),
    _info("adamw", "Loshchilov & Hutter 2019", "torch.optim.AdamW; optax.adamw", "adam",
          "decoupled"),
    _info("amsgrad", "Reddi et al. 2018", "torch.optim.Adam(amsgrad=True)", "adam"),
    _info("yogi", "Zaheer et al. 2018", "torch_optimizer.Yogi; optax.yogi", "adam"),
    _info("adabelief", "Zhuang et al. 2020", "adabelief_pytorch 0.2.1 (authors)", "adam",
          "decoupled"),
    _info("diffgrad", "Dubey et al. 2020", "diffGrad_v2 (authors) = torch_optimizer.DiffGrad",
          "adam"),
    _info("adadb", "Khan et al. 2021", "none published: survey Alg. 11", "adam"),
    _info("adabound", "Luo et al. 2019", "Luolc/AdaBound (authors)", "bounded"),
    _info("amsbound", "Luo et al. 2019", "Luolc/AdaBound amsbound=True (authors)", "bounded"),
    _info("adamod", "Ding et al. 2019", "lancopku/AdaMod (authors)", "bounded", "decoupled"),
    _info("radam", "Liu et al. 2020", "LiyuanLucasLiu/RAdam (authors)", "adam",
          "decoupled (on updating steps)"),
    _info("lookahead", "Zhang et al. 2019", "michaelrzhang/lookahead (authors)", "wrapper",
          "(inner's)"),
])

# What the survey runs as "lookahead": Lookahead(Adam) with the paper's experiments'
# slow_step_size 0.5 (the library's default, the authors' code's, is 0.8).
LOOKAHEAD_INNER = "adam"
LOOKAHEAD_ARGS: dict[str, Any] = {"sync_period": 5, "slow_step_size": 0.5}

# Keywords that are not hyperparameters with a published value: not shown as defaults.
_NOT_DEFAULTS = ("mask", "mu_dtype", "nu_dtype", "base_lr")


def check_optimizer(name: str) -> str:
  """``name``, or a ``BadInputError`` naming it and the choices (the one place that says
  "unknown optimizer").

  >>> check_optimizer("adam")
  'adam'
  >>> check_optimizer("adma")  # doctest: +ELLIPSIS
  Traceback (most recent call last):
  ...
  optax_survey.harness.errors.BadInputError: unknown optimizer 'adma'; choose from: sgd, ...
  """
  if name not in OPTIMIZERS:
    raise BadInputError(f"unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)} "
                        "(or all), or give optax.NAME, MODULE:FUNCTION or a function "
                        "learning_rate -> optax.GradientTransformation", argument="optimizers")
  return name


# An optimizer the harness can train: a registered name, or a factory
# ``learning_rate -> optax.GradientTransformation`` (optax.lion, a user's optax.chain).
Factory = Callable[[Any], optax.GradientTransformation]
OptimizerSpec = str | Factory

# The one-shot rate and grid centre of a factory, which has no published default here.
FACTORY_LR = 1e-3


def label_of(spec: Any) -> str:
  """The name an optimizer is shown under: a string as it is, a callable's ``__name__``.

  Example:
    >>> import optax
    >>> label_of("adam"), label_of(optax.lion)
    ('adam', 'lion')
  """
  if isinstance(spec, str):
    return spec
  return getattr(spec, "__name__", None) or type(spec).__name__


def _dotted(spec: str) -> Factory:
  """The attribute a dotted name names: ``"optax.lion"``, ``"optax.contrib.prodigy"``."""
  module_name, _, attr = spec.rpartition(".")
  try:
    module = importlib.import_module(module_name)
  except ImportError as cause:
    raise BadInputError(f"optimizer {spec!r}: cannot import {module_name!r}: {cause}",
                        argument="optimizers") from None
  factory = getattr(module, attr, None)
  if not callable(factory):
    raise BadInputError(f"optimizer {spec!r}: {module_name!r} has no function {attr!r}",
                        argument="optimizers")
  return factory


def _checked_factory(label: str, factory: Factory) -> Factory:
  """``factory`` if it turns a learning rate into an optax GradientTransformation."""
  try:
    tx = factory(FACTORY_LR)
  except Exception as cause:  # the user's code: keep where it happened
    error = BadInputError(f"optimizer {label!r}: calling it with a learning rate raised "
                          f"{type(cause).__name__}: {one_line(cause)}", argument="optimizers")
    error.in_user_code = True
    raise error from cause
  if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
    raise BadInputError(f"optimizer {label!r} must be a function learning_rate -> "
                        f"optax.GradientTransformation, it returned {type(tx).__name__}",
                        argument="optimizers")
  return factory


def resolve_optimizer(spec: Any, label: str | None = None) -> OptimizerSpec:
  """A registered name as it is; ``"optax.NAME"``, ``"MODULE:FUNCTION"`` or a callable as a
  checked factory ``learning_rate -> optax.GradientTransformation``.

  Example:
    >>> resolve_optimizer("radam")
    'radam'
    >>> resolve_optimizer("optax.lion").__name__
    'lion'
  """
  label = label or label_of(spec)
  if isinstance(spec, str):
    if spec in OPTIMIZERS:
      return spec
    if is_function_spec(spec):
      return _checked_factory(label, load_function(spec, what="optimizer", argument="optimizers"))
    if "." in spec:
      return _checked_factory(label, _dotted(spec))
    return check_optimizer(spec)
  if callable(spec):
    return _checked_factory(label, spec)
  raise BadTypeError(f"optimizer {label!r}: give a name, optax.NAME, MODULE:FUNCTION or a "
                     f"function learning_rate -> optax.GradientTransformation, got "
                     f"{type(spec).__name__}", argument="optimizers")


def choose_optimizers(optimizers: Any) -> dict[str, OptimizerSpec]:
  """The optimizers a comparison trains, each under its label: one name, a sequence of
  names, ``"optax.NAME"``, ``"MODULE:FUNCTION"`` strings and callables (labelled as given,
  a callable by its ``__name__``), or a mapping ``label -> any of these``.

  Example:
    >>> import optax
    >>> chosen = choose_optimizers(["adam", "optax.lion"])
    >>> list(chosen), chosen["adam"]
    (['adam', 'optax.lion'], 'adam')
    >>> list(choose_optimizers({"my adam": "adam", "lion": optax.lion}))
    ['my adam', 'lion']
    >>> list(choose_optimizers("radam"))
    ['radam']
  """
  if isinstance(optimizers, str):
    optimizers = [optimizers]
  if isinstance(optimizers, Mapping):
    items = [(str(label), spec) for label, spec in optimizers.items()]
  else:
    items = [(label_of(spec), spec) for spec in optimizers]
    if [label for label, _ in items] == ["all"]:
      items = [(name, name) for name in OPTIMIZERS]
  labels = [label for label, _ in items]
  if not items:
    raise BadInputError(f"optimizers is empty; choose from: {', '.join(OPTIMIZERS)} (or all)",
                        argument="optimizers")
  if len(set(labels)) != len(labels):
    raise BadInputError(f"an optimizer is listed twice: {', '.join(labels)}",
                        argument="optimizers")
  return {label: resolve_optimizer(spec, label) for label, spec in items}


def build_any(optimizer: OptimizerSpec, learning_rate: Any,
              **overrides: Any) -> optax.GradientTransformation:
  """A registered optimizer through :func:`build` (with the ``overrides`` it takes), or a
  factory called with ``learning_rate`` (the overrides are the task's settings for the
  registered optimizers, not for a factory's).

  Example:
    >>> import optax
    >>> tx = build_any(optax.lion, 0.1)
    >>> type(tx).__name__
    'GradientTransformationExtraArgs'
  """
  if callable(optimizer):
    return optimizer(learning_rate)
  return build(optimizer, learning_rate, **overrides)


def one_shot_lr(optimizer: OptimizerSpec) -> float:
  """The one-shot budget's rate: the published default of a registered optimizer,
  :data:`FACTORY_LR` for a factory.

  Example:
    >>> import optax
    >>> one_shot_lr("adagrad"), one_shot_lr(optax.lion)
    (0.01, 0.001)
  """
  return FACTORY_LR if callable(optimizer) else default_lr(optimizer)


def build(name: str, learning_rate: Any, **overrides: Any) -> optax.GradientTransformation:
  """The optimizer ``name`` at ``learning_rate`` (number, traced value or schedule).

  >>> import jax.numpy as jnp
  >>> tx = build("adam", 0.1, b1=0.0, rho=0.5)  # adam takes b1, not rho
  >>> updates, _ = tx.update(jnp.array([2.0, -3.0]), tx.init(jnp.zeros(2)))
  >>> [round(float(u), 4) for u in updates]
  [-0.1, 0.1]
  """
  check_optimizer(name)
  if name == "lookahead":  # its own hyperparameters to lookahead, the others to the inner
    own = {k: overrides.pop(k) for k in list(overrides) if k in LOOKAHEAD_ARGS}
    return osv.lookahead(build(LOOKAHEAD_INNER, learning_rate, **overrides),
                         **{**LOOKAHEAD_ARGS, **own})
  fn = getattr(osv, name)
  accepted = inspect.signature(fn).parameters
  kwargs = {k: v for k, v in overrides.items() if k in accepted}
  return fn(learning_rate, **kwargs)


def hyperparameters(name: str) -> list[str]:
  """The keywords a search may set on registered optimizer ``name`` (its defaults'
  names but ``lr``; lookahead: its own and its inner optimizer's).

  Example:
    >>> hyperparameters("sgdm")
    ['momentum', 'weight_decay']
  """
  if name == "lookahead":
    return list(LOOKAHEAD_ARGS) + hyperparameters(LOOKAHEAD_INNER)
  return [k for k in defaults(name) if k != "lr"]


def check_hyperparameters(name: OptimizerSpec, hparams: Mapping[str, Any]) -> None:
  """A ``BadInputError`` if ``name`` does not take every keyword of ``hparams``.

  Example:
    >>> check_hyperparameters("sgd", {"momentum": 0.9})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optax_survey.harness.errors.BadInputError: optimizer 'sgd' has no hyperparameter ...
  """
  if callable(name):
    raise BadInputError(f"optimizer {label_of(name)!r} is a function of the learning rate "
                        f"alone: it cannot take {', '.join(hparams)}", argument="space")
  allowed = hyperparameters(name)
  unknown = [k for k in hparams if k not in allowed]
  if unknown:
    raise BadInputError(f"optimizer {name!r} has no hyperparameter "
                        f"{', '.join(map(repr, unknown))}; it takes: {', '.join(allowed)}",
                        argument="space")


def defaults(name: str) -> dict[str, Any]:
  """The library's defaults of optimizer ``name``: every keyword with a published value
  (``lr`` for ``learning_rate``; all but ``mask``, the state dtypes and ``base_lr``).

  >>> defaults("sgdm")
  {'lr': 0.001, 'momentum': 0.9, 'weight_decay': 0.0}
  """
  check_optimizer(name)
  params = inspect.signature(getattr(osv, name)).parameters.values()
  return {
      "lr" if p.name == "learning_rate" else p.name: p.default
      for p in params
      if p.default is not inspect.Parameter.empty and p.name not in _NOT_DEFAULTS
  }


def default_lr(name: str) -> float:
  """The published default learning rate of ``name`` (the one-shot budget's rate);
  for lookahead, its inner optimizer's.

  Example:
    >>> default_lr("lookahead"), default_lr("adadelta")
    (0.001, 1.0)
  """
  if name == "lookahead":
    return default_lr(LOOKAHEAD_INNER)
  return float(defaults(name)["lr"])


def _value_text(value: Any) -> str:
  return repr(value) if isinstance(value, str) else f"{value}"


def defaults_text(name: str) -> str:
  """The defaults of ``name`` as ``key=value`` pairs, with how weight decay acts.

  Example:
    >>> print(defaults_text("sgdm"))
    lr=0.001, momentum=0.9, weight_decay=0.0 (L2)
  """
  info = OPTIMIZERS[name]
  pairs = []
  for key, value in defaults(name).items():
    text = f"{key}={_value_text(value)}"
    if key == "weight_decay":  # "decoupled (on updating steps)" -> "(decoupled, on ...)"
      text += f" ({info.weight_decay.replace(' (', ', ').rstrip(')')})"
    pairs.append(text)
  if name == "lookahead":
    pairs.insert(0, "inner (required)")
  return ", ".join(pairs)


def survey_setting_text(name: str) -> str | None:
  """How the survey's runs differ from the defaults of ``name`` (besides the learning
  rate, which each task sets), or None.

  Example:
    >>> survey_setting_text("lookahead")
    'the survey runs lookahead(adam, sync_period=5, slow_step_size=0.5)'
    >>> survey_setting_text("adam") is None
    True
  """
  if name != "lookahead":
    return None
  args = ", ".join(f"{k}={_value_text(v)}" for k, v in LOOKAHEAD_ARGS.items())
  return f"the survey runs lookahead({LOOKAHEAD_INNER}, {args})"


def lr_table(
    *, adaptive: float, sgd: float, sgdm: float, adagrad: float,
    rmsprop: float | None = None,
) -> dict[str, float]:
  """A learning rate per optimizer, by family: plain SGD, SGD with momentum
  (sgdm, nag), AdaGrad, RMSProp (default: ``adaptive``), Adadelta (its
  reference 1.0) and the Adam-like rest (``adaptive``).

  Example:
    >>> rates = lr_table(adaptive=1e-3, sgd=0.1, sgdm=0.01, adagrad=0.05)
    >>> [rates[n] for n in ("sgd", "nag", "adagrad", "adadelta", "rmsprop", "radam")]
    [0.1, 0.01, 0.05, 1.0, 0.001, 0.001]
  """
  table: dict[str, float] = {}
  for name, info in OPTIMIZERS.items():
    if name == "sgd":
      table[name] = sgd
    elif info.family == "sgd":
      table[name] = sgdm
    elif name == "adagrad":
      table[name] = adagrad
    elif name == "adadelta":
      table[name] = 1.0
    elif name == "rmsprop":
      table[name] = adaptive if rmsprop is None else rmsprop
    else:
      table[name] = adaptive
  return table
