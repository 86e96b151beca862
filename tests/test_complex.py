r"""Complex parameters: convergence, an independent oracle, and state dtypes.

optax_survey follows optax's convention for complex parameters: the
optimizer receives the conjugated gradient of a real loss
(``jax.tree.map(jnp.conj, jax.grad(loss)(params))``), second moments are
built from ``|g|²`` and stored as real arrays (float32 for complex64), step
sizes are real and the bounds, maxima and signs act on those real numbers,
while first moments, momentum buffers, gradient differences and the update
are complex.  Three groups of tests check it:

1. **optax's convergence test, ported** (``optax/_src/alias_test.py::
   test_optimization``): 10 000 steps on a parabola and on Rosenbrock, in
   float32 and complex64 (``jax_enable_x64`` off, as a user's session), the
   parameters within ``rtol = atol = 3e-2`` of the optimum.  A wrong complex
   rule (a second moment of ``g²`` instead of ``|g|²``, a complex step size,
   a missing conjugate) either diverges or stalls here.  The same settings
   serve both dtypes; they are optax's where optax has the optimizer, and the
   others are explained in ``SETTINGS``.  Two (optimizer, problem, dtype)
   cases fail for reasons of the maths and are strict xfails (``XFAIL``).
2. **An independent oracle**: NumPy transcriptions of the update rules
   (``numpy_complex_reference.py``, written from the docstrings, not from the
   library) replay 60 steps of a complex problem whose gradient depends on the
   current parameters, with gradient magnitudes from 0 and 1e-9 up to 10 and
   phase/sign flips, in complex128; every step of the trajectory must agree to
   round-off.  The problem is checked to exercise the branches that matter
   (both AdaBound clips, both AdaDB frictions, both Yogi signs...).  Also: a
   real-valued problem run with complex128 parameters gives the float64
   trajectory (to round-off) with imaginary parts exactly 0.
3. **State dtypes**: for complex64 (complex128) parameters every second-moment
   leaf is float32 (float64), every first-moment leaf and the updates are
   complex, after ``init`` and after each of six jitted updates; a real
   ``mu_dtype`` for complex parameters is refused at ``init`` with a
   ``TypeError``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import numpy_complex_reference as ref
import optax_survey as osv

# =========================================================== 1. convergence

STEPS = 10_000
TOL = 3e-2  # optax's rtol = atol


def _abs2(z):
  return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def _parabola(dtype):
  """optax's ``_setup_parabola``: ``Σ|θ - θ*|²`` from (-1, 10, 1)."""
  initial = jnp.array([-1.0, 10.0, 1.0], dtype=dtype)
  final = jnp.array([1.0, -1.0, 1.0], dtype=dtype)
  if jnp.iscomplexobj(final):
    final = final * (1 + 1j)
  return initial, final, lambda p: jnp.sum(_abs2(p - final))


def _rosenbrock(dtype):
  """optax's ``_setup_rosenbrock``: ``|a - x|² + 100|y - x²|²`` from 0, a = 1 (1+i)."""
  a = 1.0 + 1.0j if jnp.issubdtype(dtype, jnp.complexfloating) else 1.0
  initial = jnp.array([0.0, 0.0], dtype=dtype)
  final = jnp.array([a, a**2], dtype=dtype)
  return initial, final, lambda p: _abs2(a - p[0]) + 100.0 * _abs2(p[1] - p[0] ** 2)


TARGETS = {"parabola": _parabola, "rosenbrock": _rosenbrock}
DTYPES = {"float32": jnp.float32, "complex64": jnp.complex64}

# One setting per optimizer, used for both dtypes and both problems.
#
# Where optax has an optimizer of the same name, optax's test learning rate
# (adam, adamw, amsgrad, yogi 1e-1; adabelief 1e-2; adagrad 1.0; adadelta
# 0.1; rmsprop 5e-3, also with momentum 0.9; radam 5e-3; optax's
# ``sgd(1e-3, momentum=0.9)`` is our sgdm).  The other hyperparameters are
# ours (torch / authors' defaults), except where said.
#
# Hessian of Rosenbrock at the optimum (the stiffness that limits a gradient
# step): eigenvalues 1001.6 and 0.40 for float32; the complex problem is a
# real function of 4 variables with eigenvalues 1801.8 (twice) and 0.222
# (twice): stiffer across the valley and flatter along it.
SETTINGS: dict[str, Callable[[], optax.GradientTransformation]] = {
    # No optax relative at this name: optax.sgd's rate 1e-3.  Plain gradient
    # descent is stable only for lr < 2/1801.8 = 1.11e-3 on the complex
    # Rosenbrock, too slow along its valley: see XFAIL.
    "sgd": lambda: osv.sgd(1e-3),
    "sgdm": lambda: osv.sgdm(1e-3, momentum=0.9),
    # optax.sgd(1e-3, momentum=0.9, nesterov=True) (identical to ours) does not
    # converge on the complex Rosenbrock: Nesterov's momentum is stable on a
    # quadratic only for lr·λ < 2(1+μ)/(1+2μ) = 1.357, and 1e-3·1801.8 = 1.80
    # (float32: 1.00).  Half optax's sgd rate, 5e-4, puts lr·λ at 0.90.
    "nag": lambda: osv.nag(5e-4, momentum=0.9),
    "adagrad": lambda: osv.adagrad(1.0),
    "adadelta": lambda: osv.adadelta(0.1),
    "rmsprop": lambda: osv.rmsprop(5e-3),
    "rmsprop_momentum": lambda: osv.rmsprop(5e-3, momentum=0.9),
    "adam": lambda: osv.adam(1e-1),
    # optax.adamw's weight decay, 1e-4: ours (torch's) 1e-2 moves the fixed
    # point of the decayed problem off the optimum by more than the tolerance
    # (float32 Rosenbrock at 3.7e-2, complex64 at 7.6e-2, as optax.adamw with
    # weight_decay=1e-2).
    "adamw": lambda: osv.adamw(1e-1, weight_decay=1e-4),
    "amsgrad": lambda: osv.amsgrad(1e-1),
    "yogi": lambda: osv.yogi(1e-1),
    "adabelief": lambda: osv.adabelief(1e-2),
    # diffGrad and AdaDB are Adam times a friction ξ (in [1/2, 1) and up to
    # 1 + λ): at Adam's 1e-1 they hover around the Rosenbrock optimum in a
    # band of bursts (diffGrad float32 at 0.11 after 10 000 steps, AdaDB up
    # to 0.19), as Adam does with smaller bursts.  1e-2, optax's AdaBelief
    # rate, converges (worst case 1.7e-5 and 1.4e-3).
    "diffgrad": lambda: osv.diffgrad(1e-2),
    "adadb": lambda: osv.adadb(1e-2),
    # AdaBound ends as SGD on the raw first moment m (an EMA, so η·m is heavy
    # ball with rate (1-β1)η and momentum β1): the default final_lr = 0.1 is
    # unstable on Rosenbrock once the bounds close in (heavy ball needs
    # (1-β1)η·λ < 2(1+β1), η < 0.021 here) and ends in NaN.  final_lr = 1e-2
    # makes the limit exactly optax's sgd(1e-3, momentum=0.9); lr 1e-1 is
    # Adam's for the adaptive start.
    "adabound": lambda: osv.adabound(1e-1, final_lr=1e-2),
    "amsbound": lambda: osv.amsbound(1e-1, final_lr=1e-2),
    # Adam with each step size capped by its EMA: at Adam's 1e-1 it hovers in
    # a band up to 2.2e-2 of the 3e-2 tolerance (float32); 1e-2 converges
    # (worst 1.2e-5).
    "adamod": lambda: osv.adamod(1e-2),
    "radam": lambda: osv.radam(5e-3),
    # The authors' defaults (k = 5, α = 0.8) around the Adam above.
    "lookahead": lambda: osv.lookahead(osv.adam(1e-1)),
}

class TooFarFromOptimum(AssertionError):
  """Finite, but farther than ``TOL`` from the optimum: what an XFAIL expects."""


# (optimizer, problem, dtype) -> (measured distance after 10 000 steps, why).
# These cases must fail with TooFarFromOptimum (strict xfail), and no worse
# than 1.5 times the measured distance: a NaN or a worse result fails.
XFAIL = {
    ("sgd", "rosenbrock", "complex64"): (3.97e-2, (
        "plain gradient descent is stable only for lr < 2/1801.8 = 1.11e-3 on the "
        "complex Rosenbrock, and along its valley (curvature 0.222) 10 000 such "
        "steps shrink the error by at most exp(-2.46): measured distance 3.97e-2 "
        "at lr 1e-3 (3.16e-2 at 1.1e-3); float32 passes (5.6e-3)"
    )),
    ("adadelta", "rosenbrock", "complex64"): (8.58e-2, (
        "Adadelta at optax's lr 0.1 does not converge on Rosenbrock: it comes "
        "within 1e-2 of the optimum and then drifts away along the valley (float32 "
        "and float64 alike: 1.4e-2 at 10 000 steps, 3.9e-2 at 40 000; optax.adadelta "
        "identical).  On the flatter complex valley it gets no closer than 8.3e-2 "
        "(8.6e-2 at 10 000 steps; 3.8e-2 even for real Adadelta on the same problem "
        "split into 4 real variables).  No single lr passes all four cases: 0.05 "
        "stalls on the parabola (1.5), 0.2 misses Rosenbrock (5e-2, 0.22)"
    )),
}


def _convergence_cases():
  for name in SETTINGS:
    for target in TARGETS:
      for dtype in DTYPES:
        marks = []
        if (name, target, dtype) in XFAIL:
          reason = XFAIL[name, target, dtype][1]
          marks = [pytest.mark.xfail(strict=True, raises=TooFarFromOptimum, reason=reason)]
        yield pytest.param(name, target, dtype, id=f"{name}-{target}-{dtype}", marks=marks)


def _minimise(tx, initial, objective, steps=STEPS):
  """``steps`` optimizer steps on ``objective`` in one jitted ``lax.scan``."""

  def body(carry, _):
    params, state = carry
    grads = jax.tree.map(jnp.conj, jax.grad(objective)(params))  # optax's convention
    updates, state = tx.update(grads, state, params)
    return (optax.apply_updates(params, updates), state), None

  state = tx.init(initial)
  state = optax.tree.map_params(tx, lambda v: v, state)  # as optax's test: a no-op
  (params, _), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))(
      (initial, state)
  )
  return params


def distance_to_optimum(params, final) -> float:
  """The smallest ``tol`` with ``|θ - θ*| <= tol (1 + |θ*|)`` elementwise (optax's test)."""
  params, final = np.asarray(params), np.asarray(final)
  return float(np.max(np.abs(params - final) / (1 + np.abs(final))))


@pytest.mark.parametrize("name, target, dtype", list(_convergence_cases()))
def test_optimization_as_optax(name, target, dtype):
  with jax.enable_x64(False):
    initial, final, objective = TARGETS[target](DTYPES[dtype])
    params = _minimise(SETTINGS[name](), initial, objective)
    assert params.dtype == initial.dtype
    distance = distance_to_optimum(params, final)
  assert np.isfinite(distance), f"{name} diverged: {params}"
  if (name, target, dtype) in XFAIL:
    measured = XFAIL[name, target, dtype][0]
    assert distance <= 1.5 * measured, f"{name}: {distance:.3g}, worse than {measured:.3g}"
  if distance > TOL:
    raise TooFarFromOptimum(f"{name}: {params} is {distance:.3g} from the optimum {final}")


# ============================================================ 2. the oracle

STEPS_ORACLE = 60


class Problem(NamedTuple):
  """``L(z) = Σ|A(z - c)|²`` plus a fixed per-step noise added to the gradient.

  The gradient handed to the optimizers is ``conj(∂L) + noise_t =
  2|A|²(z - c) + noise_t``: it depends on the current parameters, so a
  wrong step changes every later gradient.
  """

  z0: np.ndarray
  a: np.ndarray
  c: np.ndarray
  noise: np.ndarray  # (STEPS_ORACLE, n)

  def gradient(self, z: np.ndarray, t: int) -> np.ndarray:
    return 2 * ref.abs2(self.a) * (z - self.c) + self.noise[t]


def _complex_problem() -> Problem:
  rng = np.random.default_rng(20240611)
  t = np.arange(STEPS_ORACLE)[:, None]

  def cn(*shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)

  def phases(n):
    return np.exp(2j * np.pi * rng.random(n))

  # element:     0    1    2    3    4    5     6     7  8  9    10   11
  a_abs = np.array([2.0, 1.0, 0.3, 0.5, 0.5, 1e-3, 1e-3, 0, 0, 3.0, 0.1, 1.0])
  noise = np.zeros((STEPS_ORACLE, 12), complex)
  noise[:, 0] = 0.1 * cn(STEPS_ORACLE)  # well-conditioned, noisy
  noise[:, 1] = 1e-6 * cn(STEPS_ORACLE)  # nearly deterministic
  noise[:, 2:3] = 2.0 * (-1.0) ** t  # sign flips dominate (AdaDB: opposite)
  noise[:, 3:4] = np.exp(1.75j * t)  # turns by 100° a step (opposite)
  noise[:, 4:5] = np.exp(1.4j * t)  # turns by 80° a step (same direction)
  noise[:, 5] = 1e-6 * cn(STEPS_ORACLE)  # |g| ~ 1e-6, near Adam's eps
  noise[:, 6:7] = 1e-6j * (-1.0) ** t  # tiny, imaginary, flipping
  noise[:, 7] = 1e-9 * cn(STEPS_ORACLE)  # |g| ~ 1e-9, below eps
  # element 8: g = 0 at every step (0/0 guards); 9: stiff, no noise
  noise[:, 10] = 10.0 * cn(STEPS_ORACLE)  # large and noisy: Yogi's v grows
  noise[:, 11] = 1e-3 * cn(STEPS_ORACLE)
  c = cn(12)
  z0 = cn(12)
  z0[8] = c[8]
  return Problem(z0=z0, a=a_abs * phases(12), c=c, noise=noise)


def _real_problem() -> Problem:
  """The real parts of the complex problem (sign flips instead of turns)."""
  p = _complex_problem()
  return Problem(z0=p.z0.real.copy(), a=p.a.real.copy(), c=p.c.real.copy(),
                 noise=p.noise.real.copy())


class OracleCase(NamedTuple):
  id: str
  ours: Callable[[], optax.GradientTransformation]
  reference: Callable[[np.ndarray], object]  # theta0 -> a reference optimizer
  events: tuple = ()  # reference branches the problem must exercise


def _lookahead(inner, **kwargs):
  return lambda z0: ref.Lookahead(inner(z0), z0, **kwargs)


ORACLE_CASES = [
    # every optimizer with its defaults
    OracleCase("sgd", lambda: osv.sgd(), ref.SGD),
    OracleCase("sgdm", lambda: osv.sgdm(), ref.SGDM),
    OracleCase("nag", lambda: osv.nag(), ref.NAG),
    OracleCase("adagrad", lambda: osv.adagrad(), ref.AdaGrad),
    OracleCase("adadelta", lambda: osv.adadelta(), ref.Adadelta),
    OracleCase("rmsprop", lambda: osv.rmsprop(), ref.RMSProp),
    OracleCase("adam", lambda: osv.adam(), ref.Adam),
    OracleCase("adamw", lambda: osv.adamw(), ref.AdamW),
    OracleCase("amsgrad", lambda: osv.amsgrad(), ref.AMSGrad, ("max kept an older v",)),
    OracleCase("yogi", lambda: osv.yogi(), ref.Yogi, ("v grows", "v shrinks")),
    OracleCase("adabelief", lambda: osv.adabelief(), ref.AdaBelief,
               ("rectified", "not rectified")),
    OracleCase("diffgrad", lambda: osv.diffgrad(), ref.DiffGrad),
    OracleCase("adadb", lambda: osv.adadb(), ref.AdaDB, ("opposite", "same")),
    OracleCase("adabound", lambda: osv.adabound(), ref.AdaBound,
               ("clipped up to the lower bound", "clipped down to the upper bound")),
    OracleCase("amsbound", lambda: osv.amsbound(), ref.AMSBound,
               ("clipped up to the lower bound", "clipped down to the upper bound",
                "max kept an older v")),
    OracleCase("adamod", lambda: osv.adamod(), ref.AdaMod, ("capped by the EMA",)),
    OracleCase("radam", lambda: osv.radam(), ref.RAdam, ("rectified", "not rectified")),
    OracleCase("lookahead-adam", lambda: osv.lookahead(osv.adam()),
               _lookahead(ref.Adam), ("sync",)),
    # non-default settings
    OracleCase("rmsprop-centered-momentum",
               lambda: osv.rmsprop(momentum=0.9, centered=True),
               lambda z0: ref.RMSProp(z0, momentum=0.9, centered=True)),
    OracleCase("adabound-gamma0.1",  # bounds within [0.86, 1.17]·final_lr by t = 60
               lambda: osv.adabound(gamma=0.1),
               lambda z0: ref.AdaBound(z0, gamma=0.1),
               ("clipped up to the lower bound", "clipped down to the upper bound")),
    OracleCase("radam-degenerated-decay",
               lambda: osv.radam(degenerated_to_sgd=True, weight_decay=0.1),
               lambda z0: ref.RAdam(z0, degenerated_to_sgd=True, weight_decay=0.1),
               ("rectified", "not rectified")),
    OracleCase("radam-decay",  # the decay only on steps that update
               lambda: osv.radam(weight_decay=0.1),
               lambda z0: ref.RAdam(z0, weight_decay=0.1), ("rectified", "not rectified")),
    OracleCase("adabelief-no-rectify", lambda: osv.adabelief(rectify=False),
               lambda z0: ref.AdaBelief(z0, rectify=False)),
    OracleCase("adam-l2", lambda: osv.adam(weight_decay=0.1),
               lambda z0: ref.Adam(z0, weight_decay=0.1)),
    OracleCase("adamod-b3-decay",  # a short EMA: the min takes both sides
               lambda: osv.adamod(b3=0.9, weight_decay=0.1),
               lambda z0: ref.AdaMod(z0, b3=0.9, weight_decay=0.1),
               ("capped by the EMA", "not capped")),
    OracleCase("lookahead-sgdm-pullback",
               lambda: osv.lookahead(osv.sgdm(), pullback_momentum="pullback"),
               _lookahead(ref.SGDM, pullback_momentum="pullback"), ("sync",)),
    OracleCase("lookahead-nag-reset",
               lambda: osv.lookahead(osv.nag(), pullback_momentum="reset"),
               _lookahead(ref.NAG, pullback_momentum="reset"), ("sync",)),
]
ORACLE_IDS = [c.id for c in ORACLE_CASES]


def _is_lookahead(case: OracleCase) -> bool:
  return case.id.startswith("lookahead")


def run_ours(case: OracleCase, problem: Problem, dtype) -> tuple[np.ndarray, np.ndarray]:
  """(T, n) parameters after each step, and the slow weights (the params if none).

  The gradient is ``conj(jax.grad(L))`` plus the noise (the user's
  convention), all steps in one jitted scan.
  """
  tx = case.ours()
  a, c = jnp.asarray(problem.a, dtype), jnp.asarray(problem.c, dtype)

  def loss(z):
    return jnp.sum(_abs2(a * (z - c)))

  def body(carry, noise_t):
    z, state = carry
    g = jnp.conj(jax.grad(loss)(z)) + noise_t
    updates, state = tx.update(g, state, z)
    z = optax.apply_updates(z, updates)
    slow = osv.lookahead_slow_params(state) if _is_lookahead(case) else z
    return (z, state), (z, slow)

  z0 = jnp.asarray(problem.z0, dtype)
  _, (traj, slow) = jax.jit(lambda c0, n: jax.lax.scan(body, c0, n))(
      (z0, tx.init(z0)), jnp.asarray(problem.noise, dtype)
  )
  return np.asarray(traj), np.asarray(slow)


def run_reference(case: OracleCase, problem: Problem):
  """The NumPy oracle's trajectories and its reference optimizer (for its events)."""
  z = problem.z0.astype(complex)
  opt = case.reference(z.copy())
  traj, slow = [], []
  for t in range(STEPS_ORACLE):
    z = opt.step(z, problem.gradient(z, t))
    traj.append(z)
    slow.append(getattr(opt, "slow", z))
  return np.array(traj), np.array(slow), opt


# The largest difference allowed between the two trajectories, relative to how
# far each parameter moved (``max_t |θ_t - θ_0|``, per element; an element
# that never moves must match exactly).  Both sides evaluate the same
# double-precision formulas in different orders (a product of step scalars
# rounded once, a fused multiply-add, θ - a - b versus θ + (-(a + b))): an
# ulp or so of θ a step, carried over 60 steps through the gradient's
# dependence on θ.  Measured: at most 9e-15 without weight decay, 1.9e-13
# with it (the decay term makes a slowly moving element's displacement small
# next to |θ|, whose ulps then count).  1e-10 leaves a margin of 500 and is
# far below what a wrong rule gives: g² for |g|², AbsSig of a real part, a
# conjugated update, AdaDB's sign rule on real parts, Yogi's sign of
# v - Re(g²), a max for AdaMod's min, AdaDB with a folded bias correction,
# AdaBound divided by sqrt(t) are off by 4e-2 to 30 or turn NaN; even
# AdaBelief's ε changed by one part in 10⁷ is off by 5e-8.
ORACLE_RTOL = 1e-10


def trajectory_error(ours: np.ndarray, reference: np.ndarray, z0: np.ndarray):
  """``(error, step, element)``: the largest difference relative to each
  element's largest displacement from ``z0`` (elements that never move must
  match exactly)."""
  moved = np.max(np.abs(reference - z0), axis=0)
  diff = np.abs(ours - reference)
  scaled = np.where(diff == 0, 0.0, diff / np.where(moved > 0, moved, 1e-300))
  t, i = np.unravel_index(np.argmax(scaled), scaled.shape)
  return float(scaled[t, i]), int(t), int(i)


def _assert_same_trajectory(ours, reference, z0, what):
  assert np.all(np.isfinite(ours)), f"{what}: not finite"
  error, t, i = trajectory_error(ours, reference, z0)
  assert error <= ORACLE_RTOL, (
      f"{what}: step {t + 1}, element {i}: ours {ours[t, i]!r} vs oracle "
      f"{reference[t, i]!r} (relative to its displacement: {error:.3g})"
  )


@pytest.fixture(scope="module")
def complex_problem() -> Problem:
  return _complex_problem()


@pytest.mark.parametrize("case", ORACLE_CASES, ids=ORACLE_IDS)
def test_complex_trajectory_matches_numpy_oracle(case, complex_problem):
  p = complex_problem
  ours, ours_slow = run_ours(case, p, jnp.complex128)
  reference, reference_slow, opt = run_reference(case, p)
  assert ours.dtype == np.complex128
  assert np.all(np.isfinite(reference))
  # The problem must exercise the rule: the parameters move, and every
  # branch listed for this optimizer was taken at least once.
  assert np.min(np.max(np.abs(reference - p.z0), axis=0)[p.a != 0]) > 0
  for event in case.events:
    assert opt.events[event] > 0, f"the problem never exercised {event!r}"
  _assert_same_trajectory(ours, reference, p.z0, case.id)
  if _is_lookahead(case):
    _assert_same_trajectory(ours_slow, reference_slow, p.z0, case.id + " slow weights")


@pytest.mark.parametrize("case", ORACLE_CASES, ids=ORACLE_IDS)
def test_real_values_as_complex_give_the_real_trajectory(case):
  """A real problem in complex128 parameters: the float64 trajectory, imag 0.

  Imaginary parts must stay exactly 0 (no complex arithmetic may leak into a
  real-valued problem: a complex step size, a sign of a complex number...).
  The real parts agree to round-off, not bit for bit: XLA on CPU contracts a
  real ``a*b + c`` into one fused multiply-add but not a complex one, so the
  two programs round differently by an ulp here and there (measured: at most
  5e-14 of the displacement).
  """
  p = _real_problem()
  real, real_slow = run_ours(case, p, jnp.float64)
  cplx, cplx_slow = run_ours(case, p, jnp.complex128)
  assert real.dtype == np.float64 and cplx.dtype == np.complex128
  assert np.all(np.isfinite(real)) and np.max(np.abs(real - p.z0)) > 1e-3
  for r, z in ((real, cplx), (real_slow, cplx_slow)):
    assert np.all(z.imag == 0), f"{case.id}: imaginary parts {np.max(np.abs(z.imag)):.3g}"
    error, t, i = trajectory_error(z.real, r, p.z0)
    assert error <= 1e-12, f"{case.id}: step {t + 1}, element {i}: {z[t, i]} vs {r[t, i]}"


# ========================================================= 3. state dtypes

SECOND_MOMENT_FIELDS = {"nu", "nu_max", "eta_ema", "delta_nu"}
FIRST_MOMENT_FIELDS = {"mu", "momentum", "grad_mean", "prev_grad", "prev_grad_2",
                       "prev_grad_3"}


def _leaves_by_field(state) -> list[tuple[str, str, jnp.dtype]]:
  """``(path, field, dtype)`` of every state leaf; field = the last attribute name."""
  out = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    names = [k.name for k in path if isinstance(k, jax.tree_util.GetAttrKey)]
    out.append((jax.tree_util.keystr(path), names[-1] if names else "", leaf.dtype))
  return out


def _check_state_dtypes(state, complex_dtype, real_dtype, case_id):
  """Second moments real, first moments complex, nothing else complex but φ."""
  seen = set()
  for path, field, dtype in _leaves_by_field(state):
    if field in SECOND_MOMENT_FIELDS:
      assert dtype == real_dtype, f"{case_id}: {path} is {dtype}, not {real_dtype}"
    elif field in FIRST_MOMENT_FIELDS or "slow_" in path:  # Lookahead's φ and m_φ
      assert dtype == complex_dtype, f"{case_id}: {path} is {dtype}, not {complex_dtype}"
    else:  # step counters, AdaBound's base learning rate
      assert not jnp.issubdtype(dtype, jnp.complexfloating), f"{case_id}: {path} {dtype}"
    seen.add(field)
  return seen


@pytest.mark.parametrize("x64, complex_dtype, real_dtype",
                         [(False, jnp.complex64, jnp.float32),
                          (True, jnp.complex128, jnp.float64)],
                         ids=["complex64", "complex128"])
@pytest.mark.parametrize("case", ORACLE_CASES, ids=ORACLE_IDS)
def test_state_dtypes_for_complex_params(case, x64, complex_dtype, real_dtype):
  with jax.enable_x64(x64):
    params = {"w": jnp.asarray([[1 + 2j, -0.5j], [3.0, 1e-3 - 1e-3j]], complex_dtype),
              "b": jnp.asarray([0.25 + 0.5j], complex_dtype)}
    grads = jax.tree.map(lambda p: (0.3 - 0.7j) * p + 0.1j, params)
    tx = case.ours()
    state = tx.init(params)
    seen = _check_state_dtypes(state, complex_dtype, real_dtype, case.id)
    update = jax.jit(tx.update)
    for _ in range(6):  # RAdam's first update is at step 6
      updates, state = update(grads, state, params)
      assert _check_state_dtypes(state, complex_dtype, real_dtype, case.id) == seen
      for u in jax.tree.leaves(updates):
        assert u.dtype == complex_dtype, f"{case.id}: update of dtype {u.dtype}"
      params = optax.apply_updates(params, updates)
    for u in jax.tree.leaves(updates):
      assert np.all(np.isfinite(np.asarray(u))) and np.any(np.asarray(u).imag != 0)
  # Every optimizer but plain SGD keeps some moment: the check looked at it.
  if case.id != "sgd":
    assert seen & (SECOND_MOMENT_FIELDS | FIRST_MOMENT_FIELDS), (case.id, seen)


@pytest.mark.parametrize("make", [
    lambda: osv.adam(mu_dtype=jnp.bfloat16),
    lambda: osv.sgdm(0.1, mu_dtype=jnp.bfloat16),
    lambda: osv.rmsprop(momentum=0.9, centered=True, mu_dtype=jnp.bfloat16),
], ids=["adam", "sgdm", "rmsprop-centered-momentum"])
def test_real_mu_dtype_for_complex_params_is_refused(make):
  tx = make()
  with pytest.raises(TypeError, match="mu_dtype"):
    tx.init({"w": jnp.ones(3, jnp.complex64)})
  tx.init({"w": jnp.ones(3, jnp.float32)})  # fine for real parameters
