"""Step-by-step parity of every optax_survey optimizer with its PyTorch reference.

Each case runs one optax_survey optimizer (JAX, float64) and its reference
implementation (PyTorch, float64, the package imported live) for ``T`` steps
on the same nested parameter pytree and compares the parameters after EVERY
step, to float64 round-off.  Two gradient oracles:

* ``quadratic``: the gradient of a fixed convex quadratic with curvatures
  spanning three orders of magnitude and a small rank-one coupling between all
  leaves, evaluated by each implementation at its OWN current parameters (so a
  disagreement feeds back into later gradients);
* ``sequence``: a fixed, precomputed gradient sequence (numpy, fixed seed)
  with sign flips, large (~1e2) and tiny (~1e-5) magnitudes and exact zeros,
  fed identically to both implementations.  Tiny gradients are where the
  ε conventions (folded vs exact bias correction, ε inside vs outside the
  root) differ; large ones exercise AdaBound's bounds.

References (``shared/ALGORITHMS.md``): ``torch.optim`` for the SGD family,
AdaGrad, Adadelta, RMSProp, Adam, AdamW, AMSGrad and RAdam with
``degenerated_to_sgd=True``; ``pytorch_optimizer`` for RAdam in the authors'
default form and for Lookahead; ``torch_optimizer`` for diffGrad and Yogi;
the authors' ``adabound``, ``adamod`` and ``adabelief_pytorch==0.2.1``.
AdaDB has no published code and therefore no parity case.

The old ``adabound`` and ``adamod`` packages call the deprecated overloads
``Tensor.add(scalar, tensor)`` / ``add_(scalar, tensor)`` /
``addcmul_(scalar, t1, t2)``; torch 2.13 still accepts them (with a
UserWarning, filtered below), so they run unmodified: no shim is needed.

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
import pytest

torch = pytest.importorskip("torch")
torch_optimizer = pytest.importorskip("torch_optimizer")
pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
adabound_ref = pytest.importorskip("adabound")
adamod_ref = pytest.importorskip("adamod")
adabelief_ref = pytest.importorskip("adabelief_pytorch")

import optax_survey as osv  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # adabound/adamod use add(scalar, tensor): deprecated but still exact.
    "ignore:This overload of add:UserWarning",
    "ignore:This overload of addcmul:UserWarning",
)

T = 120  # steps per trajectory
DECAY = 0.97  # per-step factor of the learning-rate schedule
RTOL = 1e-10
ATOL = 1e-12  # times max(1, max |θ|) at that step

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
_N = sum(_SIZES)
_LEAF_NAMES = [
    jax.tree_util.keystr(path)
    for path, _ in jax.tree_util.tree_flatten_with_path(SHAPES, is_leaf=_is_shape)[0]
]

_rng = np.random.default_rng(20240531)
THETA0 = _rng.normal(size=_N)
# Quadratic f(θ) = ½ Σ a_i (θ_i - c_i)² + ½ κ (w·(θ - c))².
_A = 10.0 ** _rng.uniform(-2.0, 1.0, size=_N)  # curvatures in [1e-2, 1e1]
_C = _rng.normal(size=_N)
_W = _rng.normal(size=_N) / np.sqrt(_N)
_KAPPA = 0.1


def _make_sequence(rng: np.random.Generator) -> np.ndarray:
  """A fixed (T, N) gradient sequence: mixed magnitudes, sign flips, zeros."""
  mags = rng.choice([1e-5, 1e-3, 1.0, 1e2], size=(T, _N), p=[0.3, 0.15, 0.4, 0.15])
  # Some elements keep one magnitude class (tiny or large) all along.
  mags[:, 0:4] = 1e-5
  mags[:, 4:7] = 1e2
  values = mags * rng.uniform(0.5, 1.5, size=(T, _N))
  # A persistent sign per element, flipped at random (~30% of the entries).
  sign = np.where(rng.random(_N) < 0.5, -1.0, 1.0)
  flips = np.where(rng.random((T, _N)) < 0.3, -1.0, 1.0)
  seq = values * sign * flips
  seq[rng.random((T, _N)) < 0.1] = 0.0  # scattered exact zeros
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


def _split(flat: np.ndarray) -> list[np.ndarray]:
  out, i = [], 0
  for shape, size in zip(_SHAPE_LEAVES, _SIZES):
    out.append(np.array(flat[i:i + size]).reshape(shape))
    i += size
  return out


def _flatten(leaves) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in leaves])


# ------------------------------------------------------------------- cases


def _sched(lr: float):
  return lambda count: lr * DECAY ** count


def _torch(cls, *, schedule: bool = False, **kwargs):
  """A factory for a torch optimizer (and its mirrored LR scheduler)."""

  def make(params):
    opt = cls(params, **kwargs)
    sched = None
    if schedule:
      sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: DECAY ** e)
    return opt, sched

  return make


def _lookahead(inner_factory, **kwargs):
  """pytorch_optimizer.Lookahead (the authors' form) around a torch optimizer."""

  def make(params):
    inner, _ = inner_factory(params)
    return pytorch_optimizer.Lookahead(inner, **kwargs), None

  return make


def _adabelief(**kwargs):
  return _torch(adabelief_ref.AdaBelief, print_change_log=False, **kwargs)


@dataclasses.dataclass(frozen=True)
class Case:
  id: str
  ours: Callable[[], optax.GradientTransformation]
  ref: Callable[[list], tuple]
  lookahead: bool = False

  def __repr__(self):
    return self.id


SGD, RMS, ADAM, RADAM = torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adam, torch.optim.RAdam

# Fully default arguments on both sides (only what the reference needs to
# select the algorithm is given: momentum/nesterov, amsgrad, amsbound...).
DEFAULT_CASES = [
    Case("sgd-default", lambda: osv.sgd(), _torch(SGD)),
    Case("sgdm-default", lambda: osv.sgdm(), _torch(SGD, momentum=0.9)),
    Case("nag-default", lambda: osv.nag(), _torch(SGD, momentum=0.9, nesterov=True)),
    Case("adagrad-default", lambda: osv.adagrad(), _torch(torch.optim.Adagrad)),
    Case("adadelta-default", lambda: osv.adadelta(), _torch(torch.optim.Adadelta)),
    Case("rmsprop-default", lambda: osv.rmsprop(), _torch(RMS)),
    Case("adam-default", lambda: osv.adam(), _torch(ADAM)),
    Case("adamw-default", lambda: osv.adamw(), _torch(torch.optim.AdamW)),
    Case("amsgrad-default", lambda: osv.amsgrad(), _torch(ADAM, amsgrad=True)),
    Case("radam-sgd-default", lambda: osv.radam(degenerated_to_sgd=True), _torch(RADAM)),
    Case("radam-default", lambda: osv.radam(), _torch(pytorch_optimizer.RAdam)),
    Case("diffgrad-default", lambda: osv.diffgrad(), _torch(torch_optimizer.DiffGrad)),
    Case("yogi-default", lambda: osv.yogi(), _torch(torch_optimizer.Yogi)),
    Case("adabound-default", lambda: osv.adabound(), _torch(adabound_ref.AdaBound)),
    Case("amsbound-default", lambda: osv.amsbound(),
         _torch(adabound_ref.AdaBound, amsbound=True)),
    Case("adamod-default", lambda: osv.adamod(), _torch(adamod_ref.AdaMod)),
    Case("adabelief-default", lambda: osv.adabelief(), _adabelief()),
    Case("lookahead-sgdm-default", lambda: osv.lookahead(osv.sgdm()),
         _lookahead(_torch(SGD, momentum=0.9)), lookahead=True),
    Case("lookahead-adam-default", lambda: osv.lookahead(osv.adam()),
         _lookahead(_torch(ADAM)), lookahead=True),
]

# Weight decay: each alias applies it the way its reference does, so the
# reference is given its own (matching) style: L2 for the SGD family, AdaGrad,
# Adadelta, RMSProp, Adam, AMSGrad, Yogi, diffGrad, AdaBound; decoupled for
# AdamW, AdaMod, AdaBelief (0.2.1 default weight_decouple=True) and RAdam
# (torch: decoupled_weight_decay=True; pytorch_optimizer: weight_decouple=True
# by default).
VARIANT_CASES = [
    # SGD family.
    Case("sgd-lr", lambda: osv.sgd(0.05), _torch(SGD, lr=0.05)),
    Case("sgd-wd", lambda: osv.sgd(0.05, weight_decay=0.1),
         _torch(SGD, lr=0.05, weight_decay=0.1)),
    Case("sgdm-lr", lambda: osv.sgdm(0.02, momentum=0.8), _torch(SGD, lr=0.02, momentum=0.8)),
    Case("sgdm-wd", lambda: osv.sgdm(0.02, weight_decay=0.1),
         _torch(SGD, lr=0.02, momentum=0.9, weight_decay=0.1)),
    Case("sgdm-schedule", lambda: osv.sgdm(_sched(0.02)),
         _torch(SGD, lr=0.02, momentum=0.9, schedule=True)),
    Case("nag-lr", lambda: osv.nag(0.02), _torch(SGD, lr=0.02, momentum=0.9, nesterov=True)),
    Case("nag-wd", lambda: osv.nag(0.02, weight_decay=0.1),
         _torch(SGD, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.1)),
    # Classic adaptive rates.
    Case("adagrad-lr", lambda: osv.adagrad(0.1, initial_accumulator_value=0.1),
         _torch(torch.optim.Adagrad, lr=0.1, initial_accumulator_value=0.1)),
    Case("adagrad-wd", lambda: osv.adagrad(0.1, weight_decay=0.1),
         _torch(torch.optim.Adagrad, lr=0.1, weight_decay=0.1)),
    Case("adadelta-rho", lambda: osv.adadelta(0.5, rho=0.95, eps=1e-5),
         _torch(torch.optim.Adadelta, lr=0.5, rho=0.95, eps=1e-5)),
    Case("adadelta-wd", lambda: osv.adadelta(weight_decay=0.1),
         _torch(torch.optim.Adadelta, weight_decay=0.1)),
    Case("rmsprop-centered", lambda: osv.rmsprop(centered=True), _torch(RMS, centered=True)),
    Case("rmsprop-momentum", lambda: osv.rmsprop(1e-3, momentum=0.9),
         _torch(RMS, lr=1e-3, momentum=0.9)),
    Case("rmsprop-centered-momentum",
         lambda: osv.rmsprop(1e-3, decay=0.9, momentum=0.9, centered=True),
         _torch(RMS, lr=1e-3, alpha=0.9, momentum=0.9, centered=True)),
    Case("rmsprop-wd", lambda: osv.rmsprop(weight_decay=0.1), _torch(RMS, weight_decay=0.1)),
    # Adam family.
    Case("adam-lr", lambda: osv.adam(0.05, b1=0.8, b2=0.99, eps=1e-6),
         _torch(ADAM, lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    Case("adam-wd", lambda: osv.adam(0.05, weight_decay=0.1),
         _torch(ADAM, lr=0.05, weight_decay=0.1)),
    Case("adam-schedule", lambda: osv.adam(_sched(0.05)),
         _torch(ADAM, lr=0.05, schedule=True)),
    Case("adamw-wd", lambda: osv.adamw(0.05, weight_decay=0.1),
         _torch(torch.optim.AdamW, lr=0.05, weight_decay=0.1)),
    Case("adamw-schedule", lambda: osv.adamw(_sched(0.05), weight_decay=0.1),
         _torch(torch.optim.AdamW, lr=0.05, weight_decay=0.1, schedule=True)),
    Case("amsgrad-lr", lambda: osv.amsgrad(0.05), _torch(ADAM, lr=0.05, amsgrad=True)),
    Case("amsgrad-wd", lambda: osv.amsgrad(0.05, weight_decay=0.1),
         _torch(ADAM, lr=0.05, amsgrad=True, weight_decay=0.1)),
    Case("yogi-lr", lambda: osv.yogi(0.05, b2=0.99), _torch(torch_optimizer.Yogi, lr=0.05,
                                                          betas=(0.9, 0.99))),
    Case("yogi-wd", lambda: osv.yogi(weight_decay=0.1),
         _torch(torch_optimizer.Yogi, weight_decay=0.1)),
    Case("diffgrad-lr", lambda: osv.diffgrad(0.05), _torch(torch_optimizer.DiffGrad, lr=0.05)),
    Case("diffgrad-wd", lambda: osv.diffgrad(0.05, weight_decay=0.1),
         _torch(torch_optimizer.DiffGrad, lr=0.05, weight_decay=0.1)),
    # RAdam: torch.optim (degenerated_to_sgd=True) and the authors' form.
    Case("radam-sgd-lr", lambda: osv.radam(0.05, degenerated_to_sgd=True),
         _torch(RADAM, lr=0.05)),
    Case("radam-sgd-wd", lambda: osv.radam(0.05, weight_decay=0.1, degenerated_to_sgd=True),
         _torch(RADAM, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    Case("radam-sgd-schedule", lambda: osv.radam(_sched(0.05), weight_decay=0.1,
                                                 degenerated_to_sgd=True),
         _torch(RADAM, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True,
                schedule=True)),
    Case("radam-lr", lambda: osv.radam(0.05, b2=0.99),
         _torch(pytorch_optimizer.RAdam, lr=0.05, betas=(0.9, 0.99))),
    Case("radam-wd", lambda: osv.radam(0.05, weight_decay=0.1),
         _torch(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1)),
    Case("radam-schedule", lambda: osv.radam(_sched(0.05), weight_decay=0.1),
         _torch(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1, schedule=True)),
    # Bounded step sizes.  gamma=1e-2 makes the bounds tight within T steps.
    Case("adabound-lr", lambda: osv.adabound(0.02, final_lr=0.05, gamma=1e-2),
         _torch(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2)),
    Case("adabound-wd", lambda: osv.adabound(0.02, weight_decay=0.1),
         _torch(adabound_ref.AdaBound, lr=0.02, weight_decay=0.1)),
    Case("adabound-schedule", lambda: osv.adabound(_sched(0.02), final_lr=0.05, gamma=1e-2),
         _torch(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2, schedule=True)),
    Case("amsbound-lr", lambda: osv.amsbound(0.02, final_lr=0.05, gamma=1e-2),
         _torch(adabound_ref.AdaBound, lr=0.02, final_lr=0.05, gamma=1e-2, amsbound=True)),
    Case("amsbound-wd-schedule", lambda: osv.amsbound(_sched(0.02), weight_decay=0.1),
         _torch(adabound_ref.AdaBound, lr=0.02, weight_decay=0.1, amsbound=True,
                schedule=True)),
    Case("adamod-lr", lambda: osv.adamod(0.05, b3=0.9), _torch(adamod_ref.AdaMod, lr=0.05,
                                                            beta3=0.9)),
    Case("adamod-wd", lambda: osv.adamod(0.05, weight_decay=0.1),
         _torch(adamod_ref.AdaMod, lr=0.05, weight_decay=0.1)),
    Case("adamod-schedule", lambda: osv.adamod(_sched(0.05), b3=0.9, weight_decay=0.1),
         _torch(adamod_ref.AdaMod, lr=0.05, beta3=0.9, weight_decay=0.1, schedule=True)),
    # AdaBelief 0.2.1: rectify / degenerated_to_sgd switches, decoupled decay.
    Case("adabelief-no-rectify", lambda: osv.adabelief(rectify=False),
         _adabelief(rectify=False)),
    Case("adabelief-no-degenerate", lambda: osv.adabelief(degenerated_to_sgd=False),
         _adabelief(degenerated_to_sgd=False)),
    Case("adabelief-lr", lambda: osv.adabelief(0.05, eps=1e-8),
         _adabelief(lr=0.05, eps=1e-8)),
    Case("adabelief-no-rectify-lr", lambda: osv.adabelief(0.05, eps=1e-8, rectify=False),
         _adabelief(lr=0.05, eps=1e-8, rectify=False)),
    Case("adabelief-wd", lambda: osv.adabelief(0.05, weight_decay=0.1),
         _adabelief(lr=0.05, weight_decay=0.1)),
    Case("adabelief-no-degenerate-wd",
         lambda: osv.adabelief(0.05, weight_decay=0.1, degenerated_to_sgd=False),
         _adabelief(lr=0.05, weight_decay=0.1, degenerated_to_sgd=False)),
    # Lookahead around several inner optimizers (k=5, α=0.5 on both sides).
    Case("lookahead-sgdm", lambda: osv.lookahead(osv.sgdm(0.02), 5, 0.5),
         _lookahead(_torch(SGD, lr=0.02, momentum=0.9), k=5, alpha=0.5), lookahead=True),
    Case("lookahead-adam", lambda: osv.lookahead(osv.adam(0.05), 5, 0.5),
         _lookahead(_torch(ADAM, lr=0.05), k=5, alpha=0.5), lookahead=True),
    Case("lookahead-radam-wd",
         lambda: osv.lookahead(osv.radam(0.05, weight_decay=0.1), 5, 0.5),
         _lookahead(_torch(pytorch_optimizer.RAdam, lr=0.05, weight_decay=0.1),
                    k=5, alpha=0.5),
         lookahead=True),
    Case("lookahead-adamw-k3", lambda: osv.lookahead(osv.adamw(0.05), 3, 0.8),
         _lookahead(_torch(torch.optim.AdamW, lr=0.05), k=3, alpha=0.8), lookahead=True),
]

CASES = DEFAULT_CASES + VARIANT_CASES
_BY_ID = {c.id: c for c in CASES}
assert len(_BY_ID) == len(CASES), "duplicate case ids"


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
def _jax_optimizer(case_id: str):
  """The case's transformation and its jitted step, compiled once per case.

  One step is ``tx.update`` followed by ``optax.apply_updates``; the flat
  gradient vector is split into the pytree (and the new parameters flattened
  back) inside the jitted function, which moves data but does no arithmetic.
  """
  case = _BY_ID[case_id]
  tx = case.ours()

  def step(params, state, flat_grad):
    updates, state = tx.update(_unflatten_jnp(flat_grad), state, params)
    params = optax.apply_updates(params, updates)
    slow = _flatten_jnp(osv.lookahead_slow_params(state)) if case.lookahead else None
    return params, state, _flatten_jnp(params), slow

  return tx, jax.jit(step)


def run_ours(case: Case, oracle) -> tuple[np.ndarray, Optional[np.ndarray]]:
  """(T, N) parameters after each step, and the slow weights for Lookahead."""
  tx, step = _jax_optimizer(case.id)
  params = _unflatten_jnp(jnp.asarray(THETA0))
  state = tx.init(params)
  flat = THETA0
  traj, slow = np.empty((T, _N)), np.empty((T, _N))
  for t in range(T):
    params, state, flat, flat_slow = step(params, state, jnp.asarray(oracle(t, flat)))
    flat = traj[t] = np.asarray(flat)
    if case.lookahead:
      slow[t] = np.asarray(flat_slow)
  return traj, (slow if case.lookahead else None)


def run_reference(case: Case, oracle) -> tuple[np.ndarray, Optional[np.ndarray]]:
  params = [
      torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in _split(THETA0)
  ]
  # adabelief_pytorch prints its settings even with print_change_log=False.
  with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
    warnings.simplefilter("ignore")
    opt, sched = case.ref(params)
  traj, slow = np.empty((T, _N)), np.empty((T, _N))
  for t in range(T):
    flat = _flatten([p.detach().numpy() for p in params])
    for p, g in zip(params, _split(oracle(t, flat))):
      p.grad = torch.tensor(g, dtype=torch.float64)  # a fresh copy every step
    opt.step()
    if sched is not None:
      sched.step()
    traj[t] = _flatten([p.detach().numpy() for p in params])
    if case.lookahead:
      slow[t] = _flatten([opt.state[p]["slow_params"].numpy() for p in params])
  return traj, (slow if case.lookahead else None)


def assert_same_trajectory(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
  """Compares the parameters after every step; reports the first bad step."""
  assert np.all(np.isfinite(ref)), f"{what}: the reference diverged"
  scale = np.maximum(1.0, np.max(np.abs(ref), axis=1, keepdims=True))
  bad = ~(np.abs(ours - ref) <= ATOL * scale + RTOL * np.abs(ref))  # NaN is bad
  if bad.any():
    t = int(np.argmax(bad.any(axis=1)))
    leaf = int(np.searchsorted(np.cumsum(_SIZES), np.argmax(bad[t]), side="right"))
    np.testing.assert_allclose(
        ours[t], ref[t], rtol=RTOL, atol=ATOL * float(scale[t, 0]),
        err_msg=f"{what}: first disagreement after step {t + 1} "
        f"(first bad leaf {_LEAF_NAMES[leaf]})",
    )


@pytest.mark.parametrize("oracle", list(ORACLES))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_parity_with_reference(case: Case, oracle: str):
  ours, ours_slow = run_ours(case, ORACLES[oracle])
  ref, ref_slow = run_reference(case, ORACLES[oracle])
  # The trajectory must actually move, or parity would be vacuous.
  assert np.max(np.abs(ref[-1] - THETA0)) > 1e-3, "trivial trajectory"
  assert_same_trajectory(ours, ref, f"{case.id}/{oracle} parameters")
  if case.lookahead:
    assert_same_trajectory(ours_slow, ref_slow, f"{case.id}/{oracle} slow weights")


def test_sequence_has_the_advertised_features():
  """The fixed sequence really contains zeros, sign flips, tiny and large values."""
  nonzero = np.abs(SEQUENCE[SEQUENCE != 0])
  assert (SEQUENCE == 0).mean() > 0.05
  assert nonzero.min() < 1e-5 and nonzero.max() > 1e2
  assert (np.diff(np.sign(SEQUENCE), axis=0) != 0).mean() > 0.2
  assert np.all(SEQUENCE[:, 8] == 0) and np.all(SEQUENCE[:10, 7] == 0)


def test_every_referenced_optimizer_is_covered():
  """Every optax_survey optimizer with a published reference has a default case."""
  covered = {c.id.split("-")[0] for c in DEFAULT_CASES}
  assert set(osv.OPTIMIZERS) - {"adadb"} <= covered  # adadb: no published code
