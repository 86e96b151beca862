"""The parity harness: every optax_survey optimizer against its PyTorch reference.

Shared by ``test_parity_reference.py`` (float64, to round-off; and under
``optax.inject_hyperparams`` with the learning rate changed mid-run) and
``test_parity_float32.py`` (float32, JAX's default precision).

Each case runs one optax_survey optimizer (JAX) and its reference
implementation (PyTorch, the package imported live) for ``T`` steps on the
same nested parameter pytree, and records the parameters after EVERY step.
Two gradient oracles:

* ``quadratic``: the gradient of a fixed convex quadratic with curvatures
  spanning three orders of magnitude and a small rank-one coupling between all
  leaves, evaluated by each implementation at its OWN current parameters (so a
  disagreement feeds back into later gradients);
* ``sequence``: a fixed, precomputed gradient sequence (numpy, fixed seed)
  with sign flips, large (~1e2) and tiny (~1e-5) magnitudes and exact zeros,
  fed identically to both implementations.  Tiny gradients are where the
  ε conventions (folded vs exact bias correction, ε inside vs outside the
  root) differ; large ones exercise AdaBound's bounds.

References: ``torch.optim`` for the SGD family, AdaGrad, Adadelta, RMSProp,
Adam, AdamW, AMSGrad and RAdam with ``degenerated_to_sgd=True``;
``pytorch_optimizer`` for RAdam in the authors' default form and for
Lookahead; ``torch_optimizer`` for diffGrad and Yogi; the authors'
``adabound``, ``adamod`` and ``adabelief_pytorch==0.2.1``.  AdaDB has no
published code and therefore no parity case (``test_adadb.py`` checks it
against a NumPy transcription of the survey's Algorithm 11).

The old ``adabound`` and ``adamod`` packages call the deprecated overloads
``Tensor.add(scalar, tensor)`` / ``add_(scalar, tensor)`` /
``addcmul_(scalar, t1, t2)``; torch 2.13 still accepts them (with a
UserWarning, filtered by the test modules), so they run unmodified.

Learning-rate schedules: the optax schedule ``lambda count: lr * 0.97**count``
is evaluated at the number of steps already taken, which is what
``torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.97**e)`` stepped after
each ``optimizer.step()`` gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import warnings
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from conftest import require

torch = require("torch")
torch_optimizer = require("torch_optimizer")
pytorch_optimizer = require("pytorch_optimizer")
adabound_ref = require("adabound")
adamod_ref = require("adamod")
adabelief_ref = require("adabelief_pytorch")
from pytorch_optimizer.base.optimizer import BaseOptimizer  # noqa: E402

import optax_survey as osv  # noqa: E402

# adabound/adamod use add(scalar, tensor): deprecated but still exact.
_DEPRECATED_OVERLOADS = ("This overload of add", "This overload of addcmul")

T = 120  # steps per trajectory
DECAY = 0.97  # per-step factor of the learning-rate schedule

SHAPES = {
    "dense": {"w": (3, 4), "b": (4,)},
    "layers": [(2, 3, 2), ()],
    "scale": (5,),
}


# ----------------------------------------------------------------- problem


def _is_shape(x):
  return isinstance(x, tuple) and all(isinstance(d, int) for d in x)


_SHAPE_LEAVES, _TREEDEF = jax.tree.flatten(SHAPES, is_leaf=_is_shape)
_SIZES = [int(np.prod(s)) for s in _SHAPE_LEAVES]
N = sum(_SIZES)
LEAF_NAMES = [
    jax.tree_util.keystr(path)
    for path, _ in jax.tree_util.tree_flatten_with_path(SHAPES, is_leaf=_is_shape)[0]
]

_rng = np.random.default_rng(20240531)
THETA0 = _rng.normal(size=N)
# Quadratic f(θ) = ½ Σ a_i (θ_i - c_i)² + ½ κ (w·(θ - c))².
_A = 10.0 ** _rng.uniform(-2.0, 1.0, size=N)  # curvatures in [1e-2, 1e1]
_C = _rng.normal(size=N)
_W = _rng.normal(size=N) / np.sqrt(N)
_KAPPA = 0.1


def _make_sequence(rng: np.random.Generator) -> np.ndarray:
  """A fixed (T, N) gradient sequence: mixed magnitudes, sign flips, zeros."""
  mags = rng.choice([1e-5, 1e-3, 1.0, 1e2], size=(T, N), p=[0.3, 0.15, 0.4, 0.15])
  # Some elements keep one magnitude class (tiny or large) all along.
  mags[:, 0:4] = 1e-5
  mags[:, 4:7] = 1e2
  values = mags * rng.uniform(0.5, 1.5, size=(T, N))
  # A persistent sign per element, flipped at random (~30% of the entries).
  sign = np.where(rng.random(N) < 0.5, -1.0, 1.0)
  flips = np.where(rng.random((T, N)) < 0.3, -1.0, 1.0)
  seq = values * sign * flips
  seq[rng.random((T, N)) < 0.1] = 0.0  # scattered exact zeros
  seq[:10, 7] = 0.0  # an element that sees no gradient at first
  seq[:, 8] = 0.0  # and one that never does
  return seq


SEQUENCE = _make_sequence(np.random.default_rng(7))


def quadratic_oracle(step: int, flat: np.ndarray) -> np.ndarray:
  del step
  d = flat - _C
  return _A * d + _KAPPA * _W * (_W @ d)


def sequence_oracle(step: int, flat: np.ndarray) -> np.ndarray:
  del flat
  return SEQUENCE[step]


ORACLES = {"quadratic": quadratic_oracle, "sequence": sequence_oracle}


def split(flat: np.ndarray) -> list[np.ndarray]:
  out, i = [], 0
  for shape, size in zip(_SHAPE_LEAVES, _SIZES):
    out.append(np.array(flat[i:i + size]).reshape(shape))
    i += size
  return out


def flatten(leaves) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in leaves])


# ------------------------------------------------------------------- cases


def sched(lr: float):
  return lambda count: lr * DECAY ** count


def torch_opt(cls, *, schedule: bool = False, **kwargs):
  """A factory for a torch optimizer (and its mirrored LR scheduler)."""

  def make(params):
    opt = cls(params, **kwargs)
    scheduler = None
    if schedule:
      scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: DECAY ** e)
    return opt, scheduler

  return make


def torch_lookahead(inner_factory, **kwargs):
  """pytorch_optimizer.Lookahead (the authors' form) around a torch optimizer."""

  def make(params):
    inner, _ = inner_factory(params)
    return pytorch_optimizer.Lookahead(inner, **kwargs), None

  return make


class _DecoupledDecay:
  """A torch optimizer with decoupled weight decay before its step, the way
  ``pytorch_optimizer`` applies ``weight_decouple=True`` (its own
  ``BaseOptimizer.apply_weight_decay``: ``p *= 1 - lr * weight_decay``, with
  the group's current learning rate), around a reference whose own update
  does not read the parameters."""

  def __init__(self, inner, weight_decay: float):
    self.inner, self.weight_decay = inner, weight_decay
    self.param_groups, self.state = inner.param_groups, inner.state

  @torch.no_grad()
  def step(self):
    for group in self.param_groups:
      for p in group["params"]:
        BaseOptimizer.apply_weight_decay(
            p, None, group["lr"], self.weight_decay, weight_decouple=True, fixed_decay=False)
    self.inner.step()


def torch_decoupled(inner_factory, weight_decay: float):
  """``inner_factory``'s reference with decoupled weight decay (:class:`_DecoupledDecay`)."""

  def make(params):
    inner, scheduler = inner_factory(params)
    assert scheduler is None, "a schedule has no step count after descend()"
    return _DecoupledDecay(inner, weight_decay), None

  return make


def decoupled_after(inner_name: str, **inner_kwargs):
  """``optax.chain(inner(lr), add_decoupled_weight_decay(lr, wd))``: decoupled
  weight decay on a complete optimizer's final updates (a factory that
  ``optax.inject_hyperparams`` can wrap)."""

  def factory(learning_rate, weight_decay):
    return optax.chain(getattr(osv, inner_name)(learning_rate, **inner_kwargs),
                       osv.add_decoupled_weight_decay(learning_rate, weight_decay))

  return factory


def torch_adabelief(**kwargs):
  return torch_opt(adabelief_ref.AdaBelief, print_change_log=False, **kwargs)


def lookahead_of(inner_name: str, **lookahead_kwargs):
  """``learning_rate, **inner kwargs -> lookahead(inner(...))``: a factory that
  ``optax.inject_hyperparams`` can wrap (the lookahead settings are closed over)."""

  def factory(learning_rate, weight_decay=None):
    # explicit arguments (no **kwargs): inject_hyperparams binds the signature
    extra = {} if weight_decay is None else {"weight_decay": weight_decay}
    inner = getattr(osv, inner_name)(learning_rate, **extra)
    return osv.lookahead(inner, **lookahead_kwargs)

  return factory


@dataclasses.dataclass(frozen=True)
class Case:
  """One optimizer configuration and its reference.

  ``factory(**kwargs)`` builds ours (``kwargs`` name the learning rate, so
  that ``optax.inject_hyperparams(factory)(**kwargs)`` injects it).
  """

  id: str
  factory: Callable[..., optax.GradientTransformation]
  kwargs: dict
  ref: Callable[[list], tuple]
  lookahead: bool = False

  def ours(self) -> optax.GradientTransformation:
    return self.factory(**self.kwargs)

  def __repr__(self):
    return self.id


def case(id_, factory, ref, *, lookahead=False, **kwargs):
  if isinstance(factory, str):
    factory = getattr(osv, factory)
  return Case(id_, factory, kwargs, ref, lookahead)


SGD, RMS, ADAM, RADAM = torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adam, torch.optim.RAdam
ADAMW = torch.optim.AdamW

# Fully default arguments on both sides (only what the reference needs to
# select the algorithm is given: momentum/nesterov, amsgrad, amsbound...).
# Lookahead: the authors' defaults k=5, alpha=0.8 (pytorch_optimizer's own
# default is alpha=0.5, so it is given).
DEFAULT_CASES = [
    case("sgd-default", "sgd", torch_opt(SGD), learning_rate=1e-3),
    case("sgdm-default", "sgdm", torch_opt(SGD, momentum=0.9), learning_rate=1e-3),
    case("nag-default", "nag", torch_opt(SGD, momentum=0.9, nesterov=True),
         learning_rate=1e-3),
    case("adagrad-default", "adagrad", torch_opt(torch.optim.Adagrad), learning_rate=1e-2),
    case("adadelta-default", "adadelta", torch_opt(torch.optim.Adadelta), learning_rate=1.0),
    case("rmsprop-default", "rmsprop", torch_opt(RMS), learning_rate=1e-2),
    case("adam-default", "adam", torch_opt(ADAM), learning_rate=1e-3),
    case("adamw-default", "adamw", torch_opt(ADAMW), learning_rate=1e-3),
    case("amsgrad-default", "amsgrad", torch_opt(ADAM, amsgrad=True), learning_rate=1e-3),
    case("radam-sgd-default", "radam", torch_opt(RADAM), learning_rate=1e-3,
         degenerated_to_sgd=True),
    case("radam-default", "radam", torch_opt(pytorch_optimizer.RAdam), learning_rate=1e-3),
    case("diffgrad-default", "diffgrad", torch_opt(torch_optimizer.DiffGrad),
         learning_rate=1e-3),
    case("yogi-default", "yogi", torch_opt(torch_optimizer.Yogi), learning_rate=1e-2),
    case("adabound-default", "adabound", torch_opt(adabound_ref.AdaBound),
         learning_rate=1e-3),
    case("amsbound-default", "amsbound", torch_opt(adabound_ref.AdaBound, amsbound=True),
         learning_rate=1e-3),
    case("adamod-default", "adamod", torch_opt(adamod_ref.AdaMod), learning_rate=1e-3),
    case("adabelief-default", "adabelief", torch_adabelief(), learning_rate=1e-3),
    case("lookahead-sgdm-default", lookahead_of("sgdm"),
         torch_lookahead(torch_opt(SGD, momentum=0.9), k=5, alpha=0.8),
         lookahead=True, learning_rate=1e-3),
    case("lookahead-adam-default", lookahead_of("adam"),
         torch_lookahead(torch_opt(ADAM), k=5, alpha=0.8), lookahead=True,
         learning_rate=1e-3),
]

# Weight decay: each alias applies it the way its reference does, so the
# reference is given its own (matching) style: L2 for the SGD family, AdaGrad,
# Adadelta, RMSProp, Adam, AMSGrad, Yogi, diffGrad, AdaBound; decoupled for
# AdamW, AdaMod, AdaBelief (0.2.1 default weight_decouple=True) and RAdam
# (torch: decoupled_weight_decay=True; pytorch_optimizer: weight_decouple=True
# by default).
VARIANT_CASES = [
    # SGD family.
    case("sgd-lr", "sgd", torch_opt(SGD, lr=0.05), learning_rate=0.05),
    case("sgd-wd", "sgd", torch_opt(SGD, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("sgdm-lr", "sgdm", torch_opt(SGD, lr=0.02, momentum=0.8),
         learning_rate=0.02, momentum=0.8),
    case("sgdm-wd", "sgdm", torch_opt(SGD, lr=0.02, momentum=0.9, weight_decay=0.1),
         learning_rate=0.02, weight_decay=0.1),
    case("sgdm-schedule", "sgdm", torch_opt(SGD, lr=0.02, momentum=0.9, schedule=True),
         learning_rate=sched(0.02)),
    case("nag-lr", "nag", torch_opt(SGD, lr=0.02, momentum=0.9, nesterov=True),
         learning_rate=0.02),
    case("nag-wd", "nag",
         torch_opt(SGD, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1),
         learning_rate=0.02, weight_decay=0.1),
    # Classic adaptive rates.
    case("adagrad-lr", "adagrad",
         torch_opt(torch.optim.Adagrad, lr=0.1, initial_accumulator_value=0.1),
         learning_rate=0.1, initial_accumulator_value=0.1),
    case("adagrad-wd", "adagrad", torch_opt(torch.optim.Adagrad, lr=0.1, weight_decay=0.1),
         learning_rate=0.1, weight_decay=0.1),
    case("adadelta-rho", "adadelta",
         torch_opt(torch.optim.Adadelta, lr=0.5, rho=0.95, eps=1e-5),
         learning_rate=0.5, rho=0.95, eps=1e-5),
    case("adadelta-wd", "adadelta", torch_opt(torch.optim.Adadelta, weight_decay=0.1),
         learning_rate=1.0, weight_decay=0.1),
    case("rmsprop-centered", "rmsprop", torch_opt(RMS, centered=True),
         learning_rate=1e-2, centered=True),
    case("rmsprop-momentum", "rmsprop", torch_opt(RMS, lr=1e-3, momentum=0.9),
         learning_rate=1e-3, momentum=0.9),
    case("rmsprop-centered-momentum", "rmsprop",
         torch_opt(RMS, lr=1e-3, alpha=0.9, momentum=0.9, centered=True),
         learning_rate=1e-3, decay=0.9, momentum=0.9, centered=True),
    case("rmsprop-wd", "rmsprop", torch_opt(RMS, weight_decay=0.1),
         learning_rate=1e-2, weight_decay=0.1),
    # Adam family.
    case("adam-lr", "adam", torch_opt(ADAM, lr=0.05, betas=(0.8, 0.99), eps=1e-6),
         learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-6),
    case("adam-wd", "adam", torch_opt(ADAM, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("adam-schedule", "adam", torch_opt(ADAM, lr=0.05, schedule=True),
         learning_rate=sched(0.05)),
    case("adamw-wd", "adamw", torch_opt(ADAMW, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("adamw-schedule", "adamw", torch_opt(ADAMW, lr=0.05, weight_decay=0.1, schedule=True),
         learning_rate=sched(0.05), weight_decay=0.1),
    case("amsgrad-lr", "amsgrad", torch_opt(ADAM, lr=0.05, amsgrad=True), learning_rate=0.05),
    case("amsgrad-wd", "amsgrad", torch_opt(ADAM, lr=0.05, amsgrad=True, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("yogi-lr", "yogi", torch_opt(torch_optimizer.Yogi, lr=0.05, betas=(0.9, 0.99)),
         learning_rate=0.05, b2=0.99),
    case("yogi-wd", "yogi", torch_opt(torch_optimizer.Yogi, weight_decay=0.1),
         learning_rate=1e-2, weight_decay=0.1),
    case("diffgrad-lr", "diffgrad", torch_opt(torch_optimizer.DiffGrad, lr=0.05),
         learning_rate=0.05),
    case("diffgrad-wd", "diffgrad",
         torch_opt(torch_optimizer.DiffGrad, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    # RAdam: torch.optim (degenerated_to_sgd=True) and the authors' form.
    case("radam-sgd-lr", "radam", torch_opt(RADAM, lr=0.05),
         learning_rate=0.05, degenerated_to_sgd=True),
    case("radam-sgd-wd", "radam",
         torch_opt(RADAM, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
         learning_rate=0.05, weight_decay=0.1, degenerated_to_sgd=True),
    case("radam-sgd-schedule", "radam",
         torch_opt(RADAM, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True,
                   schedule=True),
         learning_rate=sched(0.05), weight_decay=0.1, degenerated_to_sgd=True),
    case("radam-lr", "radam", torch_opt(pytorch_optimizer.RAdam, lr=0.05, betas=(0.9, 0.99)),
         learning_rate=0.05, b2=0.99),
    case("radam-wd", "radam", torch_opt(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("radam-schedule", "radam",
         torch_opt(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1, schedule=True),
         learning_rate=sched(0.05), weight_decay=0.1),
    # Bounded step sizes.  gamma=1e-2 makes the bounds tight within T steps.
    case("adabound-lr", "adabound",
         torch_opt(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2),
         learning_rate=0.02, final_lr=0.05, gamma=1e-2),
    case("adabound-wd", "adabound", torch_opt(adabound_ref.AdaBound, lr=0.02, weight_decay=0.1),
         learning_rate=0.02, weight_decay=0.1),
    case("adabound-schedule", "adabound",
         torch_opt(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2, schedule=True),
         learning_rate=sched(0.02), final_lr=0.05, gamma=1e-2),
    case("amsbound-lr", "amsbound",
         torch_opt(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2, amsbound=True),
         learning_rate=0.02, final_lr=0.05, gamma=1e-2),
    case("amsbound-wd-schedule", "amsbound",
         torch_opt(adabound_ref.AdaBound, lr=0.02, weight_decay=0.1, amsbound=True,
                   schedule=True),
         learning_rate=sched(0.02), weight_decay=0.1),
    case("adamod-lr", "adamod", torch_opt(adamod_ref.AdaMod, lr=0.05, beta3=0.9),
         learning_rate=0.05, b3=0.9),
    case("adamod-wd", "adamod", torch_opt(adamod_ref.AdaMod, lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("adamod-schedule", "adamod",
         torch_opt(adamod_ref.AdaMod, lr=0.05, beta3=0.9, weight_decay=0.1, schedule=True),
         learning_rate=sched(0.05), b3=0.9, weight_decay=0.1),
    # AdaBelief 0.2.1: rectify / degenerated_to_sgd switches, decoupled decay.
    case("adabelief-no-rectify", "adabelief", torch_adabelief(rectify=False),
         learning_rate=1e-3, rectify=False),
    case("adabelief-no-degenerate", "adabelief", torch_adabelief(degenerated_to_sgd=False),
         learning_rate=1e-3, degenerated_to_sgd=False),
    case("adabelief-lr", "adabelief", torch_adabelief(lr=0.05, eps=1e-8),
         learning_rate=0.05, eps=1e-8),
    case("adabelief-no-rectify-lr", "adabelief", torch_adabelief(lr=0.05, eps=1e-8,
                                                                 rectify=False),
         learning_rate=0.05, eps=1e-8, rectify=False),
    case("adabelief-wd", "adabelief", torch_adabelief(lr=0.05, weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("adabelief-no-degenerate-wd", "adabelief",
         torch_adabelief(lr=0.05, weight_decay=0.1, degenerated_to_sgd=False),
         learning_rate=0.05, weight_decay=0.1, degenerated_to_sgd=False),
    # Decoupled weight decay on a complete optimizer's final updates, the form
    # pytorch_optimizer gives Yogi, diffGrad and AdaBound by default: against
    # torch.optim.AdamW and torch's decoupled RAdam (no wrapper), and the
    # authors' Yogi, diffGrad, AdaBound and SGD with pytorch_optimizer's decay.
    case("adam-then-decoupled-wd", decoupled_after("adam"), torch_opt(ADAMW, lr=0.05,
                                                                    weight_decay=0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("radam-sgd-then-decoupled-wd", decoupled_after("radam", degenerated_to_sgd=True),
         torch_opt(RADAM, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
         learning_rate=0.05, weight_decay=0.1),
    case("yogi-then-decoupled-wd", decoupled_after("yogi"),
         torch_decoupled(torch_opt(torch_optimizer.Yogi, lr=0.05), 0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("diffgrad-then-decoupled-wd", decoupled_after("diffgrad"),
         torch_decoupled(torch_opt(torch_optimizer.DiffGrad, lr=0.05), 0.1),
         learning_rate=0.05, weight_decay=0.1),
    case("adabound-then-decoupled-wd", decoupled_after("adabound", final_lr=0.05, gamma=1e-2),
         torch_decoupled(torch_opt(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2),
                         0.1),
         learning_rate=0.02, weight_decay=0.1),
    case("sgdm-then-decoupled-wd", decoupled_after("sgdm"),
         torch_decoupled(torch_opt(SGD, lr=0.02, momentum=0.9), 0.1),
         learning_rate=0.02, weight_decay=0.1),
    # Lookahead around several inner optimizers.
    case("lookahead-sgdm", lookahead_of("sgdm", sync_period=5, slow_step_size=0.5),
         torch_lookahead(torch_opt(SGD, lr=0.02, momentum=0.9), k=5, alpha=0.5),
         lookahead=True, learning_rate=0.02),
    case("lookahead-adam", lookahead_of("adam", sync_period=5, slow_step_size=0.5),
         torch_lookahead(torch_opt(ADAM, lr=0.05), k=5, alpha=0.5),
         lookahead=True, learning_rate=0.05),
    case("lookahead-radam-wd", lookahead_of("radam", sync_period=5, slow_step_size=0.5),
         torch_lookahead(torch_opt(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1),
                         k=5, alpha=0.5),
         lookahead=True, learning_rate=0.05, weight_decay=0.1),
    case("lookahead-adamw-k3", lookahead_of("adamw", sync_period=3, slow_step_size=0.8),
         torch_lookahead(torch_opt(ADAMW, lr=0.05), k=3, alpha=0.8),
         lookahead=True, learning_rate=0.05),
    # The inner momentum at a sync: reset to zero, or pulled back like the
    # weights (the references act on SGD's momentum buffer).
    case("lookahead-sgdm-reset",
         lookahead_of("sgdm", sync_period=5, pullback_momentum="reset"),
         torch_lookahead(torch_opt(SGD, lr=0.02, momentum=0.9), k=5, alpha=0.8,
                         pullback_momentum="reset"),
         lookahead=True, learning_rate=0.02),
    case("lookahead-sgdm-pullback",
         lookahead_of("sgdm", sync_period=5, pullback_momentum="pullback"),
         torch_lookahead(torch_opt(SGD, lr=0.02, momentum=0.9), k=5, alpha=0.8,
                         pullback_momentum="pullback"),
         lookahead=True, learning_rate=0.02),
    case("lookahead-nag-pullback-k3",
         lookahead_of("nag", sync_period=3, slow_step_size=0.5,
                      pullback_momentum="pullback"),
         torch_lookahead(torch_opt(SGD, lr=0.02, momentum=0.9, nesterov=True), k=3,
                         alpha=0.5, pullback_momentum="pullback"),
         lookahead=True, learning_rate=0.02),
]

CASES = DEFAULT_CASES + VARIANT_CASES
BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "duplicate case ids"


# ------------------------------------------------------------------ runners


def _unflatten_jnp(flat):
  leaves, i = [], 0
  for shape, size in zip(_SHAPE_LEAVES, _SIZES):
    leaves.append(flat[i:i + size].reshape(shape))
    i += size
  return jax.tree.unflatten(_TREEDEF, leaves)


def _flatten_jnp(tree):
  return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


@functools.lru_cache(maxsize=None)
def _jitted_step(case_id: str, inject: bool, x64: bool):
  """The case's transformation and its jitted step, compiled once per setting.

  One step is ``tx.update`` followed by ``optax.apply_updates``; the flat
  gradient vector is split into the pytree (and the new parameters flattened
  back) inside the jitted function, which moves data but does no arithmetic.
  """
  del x64  # part of the cache key: a step traced with x64 off is another program
  c = BY_ID[case_id]
  tx = optax.inject_hyperparams(c.factory)(**c.kwargs) if inject else c.ours()

  def step(params, state, flat_grad):
    updates, state = tx.update(_unflatten_jnp(flat_grad), state, params)
    params = optax.apply_updates(params, updates)
    slow = _flatten_jnp(osv.lookahead_slow_params(state)) if c.lookahead else None
    return params, state, _flatten_jnp(params), slow

  return tx, jax.jit(step)


def run_ours(c: Case, oracle, *, dtype=np.float64, inject: bool = False,
             lr_changes: Optional[dict] = None,
             theta0: np.ndarray = THETA0) -> tuple[np.ndarray, Optional[np.ndarray]]:
  """(T, N) parameters after each step, and the slow weights for Lookahead.

  ``dtype=np.float32`` runs with ``jax_enable_x64`` off, as a JAX user's
  default session.  ``inject`` wraps the optimizer in
  ``optax.inject_hyperparams``; ``lr_changes`` maps a step to the learning
  rate set (in ``state.hyperparams``) before it.  ``theta0``: the start.
  """
  x64 = dtype == np.float64
  with jax.enable_x64(x64):
    tx, step = _jitted_step(c.id, inject, x64)
    params = _unflatten_jnp(jnp.asarray(theta0, dtype))
    state = tx.init(params)
    flat = theta0.astype(dtype)
    traj, slow = np.empty((T, N)), np.empty((T, N))
    for t in range(T):
      if lr_changes and t in lr_changes:
        state.hyperparams["learning_rate"] = jnp.asarray(lr_changes[t], dtype)
      grad = np.asarray(oracle(t, flat.astype(np.float64)), dtype)
      params, state, flat, flat_slow = step(params, state, jnp.asarray(grad))
      flat = np.asarray(flat)
      traj[t] = flat
      if c.lookahead:
        slow[t] = np.asarray(flat_slow)
  return traj, (slow if c.lookahead else None)


def run_reference(c: Case, oracle, *, dtype=np.float64, lr_changes: Optional[dict] = None,
                  theta0: np.ndarray = THETA0) -> tuple[np.ndarray, Optional[np.ndarray]]:
  """The reference's (T, N) parameters; ``lr_changes`` as in :func:`run_ours`
  (set in every ``param_groups[i]["lr"]`` before that step)."""
  torch_dtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
  params = [
      torch.tensor(x, dtype=torch_dtype, requires_grad=True)
      for x in split(theta0.astype(dtype))
  ]
  # adabelief_pytorch prints its settings even with print_change_log=False.
  with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
    warnings.simplefilter("ignore")
    opt, scheduler = c.ref(params)
  traj, slow = np.empty((T, N)), np.empty((T, N))
  for t in range(T):
    if lr_changes and t in lr_changes:
      for group in opt.param_groups:
        group["lr"] = lr_changes[t]
    flat = flatten([p.detach().numpy() for p in params])
    grad = np.asarray(oracle(t, flat), dtype)
    for p, g in zip(params, split(grad)):
      p.grad = torch.tensor(g, dtype=torch_dtype)  # a fresh copy every step
    with warnings.catch_warnings():
      for message in _DEPRECATED_OVERLOADS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
      opt.step()
    if scheduler is not None:
      scheduler.step()
    traj[t] = flatten([p.detach().numpy() for p in params])
    if c.lookahead:
      slow[t] = flatten([opt.state[p]["slow_params"].numpy() for p in params])
  return traj, (slow if c.lookahead else None)


def assert_same_trajectory(ours: np.ndarray, ref: np.ndarray, what: str, *,
                           rtol: float, atol: float) -> None:
  """Compares the parameters after every step; reports the first bad step.

  ``atol`` is relative to ``max(1, max |θ|)`` at that step.
  """
  assert np.all(np.isfinite(ref)), f"{what}: the reference diverged"
  scale = np.maximum(1.0, np.max(np.abs(ref), axis=1, keepdims=True))
  bad = ~(np.abs(ours - ref) <= atol * scale + rtol * np.abs(ref))  # NaN is bad
  if bad.any():
    t = int(np.argmax(bad.any(axis=1)))
    leaf = int(np.searchsorted(np.cumsum(_SIZES), np.argmax(bad[t]), side="right"))
    np.testing.assert_allclose(
        ours[t], ref[t], rtol=rtol, atol=atol * float(scale[t, 0]),
        err_msg=f"{what}: first disagreement after step {t + 1} "
        f"(first bad leaf {LEAF_NAMES[leaf]})",
    )


def trajectory_distance(ours: np.ndarray, ref: np.ndarray, theta0: np.ndarray) -> float:
  """The float32 parity measure: the largest parameter difference, relative to
  how far the reference has moved, over all steps.

  ``max_t max_i |θ_i - θ^ref_i| / max_i |θ^ref_i - θ_0,i|``: an error in a
  step size (a learning rate, a bias correction, ``r_t``, a bound) shows up
  in proportion; float32's rounding of the parameters themselves (an ulp of
  ``|θ| ~ 1`` is 6e-8) is the floor.  Steps before the reference first moves
  (RAdam's inactive steps) must be equal exactly.
  """
  moved = np.max(np.abs(ref - theta0), axis=1)
  diff = np.max(np.abs(ours - ref), axis=1)
  if np.any(diff[moved == 0] != 0):
    return float("inf")
  still = moved == 0
  return float(np.max(np.where(still, 0.0, diff / np.where(still, 1.0, moved))))
