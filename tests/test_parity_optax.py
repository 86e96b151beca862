"""Parity with the optax built-ins, and the documented divergences from them.

Part (a): where optax_survey and optax compute the same rule, the parameter
trajectories agree to float64 round-off, after every one of ``T`` steps, on a
nested pytree of several shapes and on two gradient oracles:

* ``quadratic``: the gradient of a fixed quadratic, evaluated at each
  implementation's *own* parameters (so any difference feeds back);
* ``sequence``: a fixed gradient sequence with sign flips, magnitudes ~1e2 and
  ~1e-5 (near the eps of the Adam family, where eps placement matters) and
  exact zeros.

Part (b): where they do not agree, tests assert the closed-form step-1 (or
step-2 / step-6) updates of *both* sides, so they fail if either changes.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey as osv

T = 120  # steps per trajectory
# float64 round-off: trajectories are compared elementwise after every step.
# Measured (this harness): the SGD family is bit-identical; every other case
# agrees to <= 9e-16 absolute on O(1) values, rmsprop+momentum on the sequence
# oracle to 2.7e-15 on values up to 11.  The tolerances leave a margin of ~4x.
RTOL = 1e-13
ATOL = 1e-14


# --------------------------------------------------------------- fixtures


def _shapes():
  return {
      "scalar": (),
      "vec": (7,),
      "nested": {"mat": (3, 4), "ten": (2, 3, 2)},
      "list": [(5,), (1, 6)],
  }


def _is_shape(x):
  return isinstance(x, tuple)


def _params0():
  rng = np.random.default_rng(0)
  return jax.tree.map(
      lambda s: jnp.asarray(rng.normal(size=s), jnp.float64), _shapes(), is_leaf=_is_shape
  )


def _quadratic():
  """A quadratic with curvatures in [0.2, 5] and a coupled (SPD) block on 'vec'.

  Every start point lies 1 to 2 from the minimiser in each coordinate, and the
  coupling is positive, so no gradient element crosses zero early.  This keeps
  the closed-loop dynamics well-conditioned: RMSProp/Adadelta close to a
  minimum take sign-like steps that amplify round-off exponentially (a 1-ulp
  change of the start point changes optax's own trajectory by up to 1e-3 in 120
  steps), and no tight comparison is possible there.  ``test_parity_with_optax``
  checks this conditioning with a 1-ulp perturbed start point.
  """
  rng = np.random.default_rng(1)
  curv = jax.tree.map(
      lambda s: jnp.asarray(rng.uniform(0.2, 5.0, size=s)), _shapes(), is_leaf=_is_shape
  )
  sign = {"scalar": 1.0, "vec": 1.0, "nested": {"mat": -1.0, "ten": 1.0}, "list": [-1.0, 1.0]}
  target = jax.tree.map(
      lambda p, sg: p - sg * jnp.asarray(rng.uniform(1.0, 2.0, size=p.shape)),
      PARAMS0, sign,
  )
  u = rng.uniform(0.5, 1.0, size=7)
  coupling = jnp.asarray(0.3 * np.outer(u, u))

  def loss(p):
    d = jax.tree.map(lambda a, c: a - c, p, target)
    diag = sum(
        0.5 * jnp.sum(h * x * x) for h, x in zip(jax.tree.leaves(curv), jax.tree.leaves(d))
    )
    return diag + 0.5 * d["vec"] @ coupling @ d["vec"]

  return jax.grad(loss)


def _gradient_sequence():
  """T gradients per leaf: random signs (flipping), |g| ~ 1e2 or ~1e-5, exact zeros."""
  rng = np.random.default_rng(2)

  def leaf(s):
    size = (T,) + s
    scale = np.where(rng.random(size=(1,) + s) < 0.5, 1e2, 1e-5)  # fixed per element
    mag = scale * rng.uniform(0.5, 1.5, size=size)
    sign = np.where(rng.random(size=size) < 0.35, -1.0, 1.0)  # frequent sign flips
    g = sign * mag
    g[rng.random(size=size) < 0.15] = 0.0  # exact zeros, scattered
    g[:5] = np.where(rng.random(size=s) < 0.3, 0.0, g[:5])  # zero first steps for some
    return jnp.asarray(g)

  seq = jax.tree.map(leaf, _shapes(), is_leaf=_is_shape)
  # one element whose gradient is exactly zero at every step
  seq["nested"]["mat"] = seq["nested"]["mat"].at[:, 0, 0].set(0.0)
  return seq


PARAMS0 = _params0()
QUAD_GRAD = _quadratic()
SEQUENCE = _gradient_sequence()


ORACLES = ("quadratic", "sequence", "quadratic_nudged")
# XLA's CPU backend optimisation level 0 halves compile time (the runs
# themselves take milliseconds); both implementations are compiled alike.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _lanes():
  """The three runs of each implementation, batched (vmapped) as lanes."""
  nudged = jax.tree.map(lambda p: p * (1 + 2.0**-52), PARAMS0)  # 1 ulp moved
  p0 = jax.tree.map(lambda *x: jnp.stack(x), PARAMS0, PARAMS0, nudged)
  seq = jax.tree.map(lambda g: jnp.stack([g, g, g]), SEQUENCE)
  return p0, jnp.asarray([True, False, True]), seq


def _run(tx):
  """Parameter trajectories (lane, T, ...) of ``tx`` for the three ORACLES."""

  def one_lane(params0, use_quadratic, sequence):
    def body(carry, g_fixed):
      p, s = carry
      g = jax.tree.map(
          lambda q, f: jnp.where(use_quadratic, q, f), QUAD_GRAD(p), g_fixed
      )
      u, s = tx.update(g, s, p)
      p = optax.apply_updates(p, u)
      return (p, s), p

    return jax.lax.scan(body, (params0, tx.init(params0)), sequence)[1]

  return jax.vmap(one_lane)(*_lanes())


def _lane(tree, i):
  return jax.tree.map(lambda x: x[i], tree)


def _both_oracles(ours, theirs):
  """One compilation per case: both implementations, all oracles as lanes."""
  compiled = jax.jit(lambda: (_run(ours), _run(theirs))).lower().compile(FAST_COMPILE)
  ours_traj, theirs_traj = jax.device_get(compiled())
  # Conditioning: optax's own closed-loop trajectory moves by less than the
  # tolerance when its start point moves by 1 ulp, so a tight comparison of
  # two implementations is meaningful (and a failure is a real difference).
  for a, b in zip(jax.tree.leaves(_lane(theirs_traj, 0)), jax.tree.leaves(_lane(theirs_traj, 2))):
    assert np.max(np.abs(a - b)) <= 1e-14, "ill-conditioned quadratic oracle"
  return {
      o: (_lane(ours_traj, i), _lane(theirs_traj, i))
      for i, o in enumerate(ORACLES[:2])
  }


def _assert_same_trajectory(ours, theirs, label):
  for path, a in jax.tree_util.tree_leaves_with_path(ours):
    b = _get(theirs, path)
    assert a.shape == b.shape and a.shape[0] == T
    assert np.all(np.isfinite(a)), (label, path)
    # moved at all (so agreement is not trivial)
    assert np.max(np.abs(a[-1] - a[0])) > 0, (label, path)
    np.testing.assert_allclose(
        a, b, rtol=RTOL, atol=ATOL,
        err_msg=f"{label} {jax.tree_util.keystr(path)}",
    )


def _get(tree, path):
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      tree = tree[key.key]
    else:
      tree = tree[key.idx]
  return tree


# ---------------------------------------------------- (a) parity with optax


WD = 0.05  # the same explicit weight decay on both sides

PARITY_CASES = {
    "sgd": (lambda: osv.sgd(0.05), lambda: optax.sgd(0.05)),
    "sgdm": (lambda: osv.sgdm(0.02), lambda: optax.sgd(0.02, momentum=0.9)),
    "nag": (lambda: osv.nag(0.02), lambda: optax.sgd(0.02, 0.9, nesterov=True)),
    "adadelta": (
        lambda: osv.adadelta(),
        lambda: optax.adadelta(1.0, rho=0.9, eps=1e-6),
    ),
    "adam": (lambda: osv.adam(0.01), lambda: optax.adam(0.01)),
    "adam_l2": (
        lambda: osv.adam(0.01, weight_decay=WD),
        lambda: optax.chain(optax.add_decayed_weights(WD), optax.adam(0.01)),
    ),
    "adamw": (
        lambda: osv.adamw(0.01, weight_decay=WD),
        lambda: optax.adamw(0.01, weight_decay=WD),
    ),
    "yogi": (lambda: osv.yogi(0.01), lambda: optax.yogi(0.01)),
    # optax.adabelief stores ``nu + eps_root`` in its state every step
    # (scale_by_belief: ``nu = nu + eps_root`` before the bias correction), which
    # is exactly adabelief-pytorch's ``s += eps``; its defaults (eps = eps_root =
    # 1e-16) are the 0.2.1 defaults.  So ours(rectify=False, eps) equals
    # optax.adabelief(eps=eps, eps_root=eps) to round-off; see also
    # test_adabelief_state_matches_optax_and_eps_root_matters below.
    "adabelief_defaults": (
        lambda: osv.adabelief(0.01, rectify=False),
        lambda: optax.adabelief(0.01),
    ),
    "adabelief_eps1e-8": (
        lambda: osv.adabelief(0.01, eps=1e-8, rectify=False),
        lambda: optax.adabelief(0.01, eps=1e-8, eps_root=1e-8),
    ),
    "rmsprop": (
        lambda: osv.rmsprop(0.01),
        lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False),
    ),
    "rmsprop_centered": (
        lambda: osv.rmsprop(0.01, centered=True),
        lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, centered=True),
    ),
    "rmsprop_momentum": (
        lambda: osv.rmsprop(0.01, momentum=0.9),
        lambda: optax.rmsprop(0.01, decay=0.99, eps_in_sqrt=False, momentum=0.9),
    ),
    "rmsprop_centered_momentum": (
        lambda: osv.rmsprop(0.01, decay=0.95, momentum=0.5, centered=True),
        lambda: optax.rmsprop(
            0.01, decay=0.95, eps_in_sqrt=False, momentum=0.5, centered=True
        ),
    ),
}


@pytest.mark.parametrize("name", list(PARITY_CASES))
def test_parity_with_optax(name):
  make_ours, make_theirs = PARITY_CASES[name]
  result = _both_oracles(make_ours(), make_theirs())
  for oracle, (ours, theirs) in result.items():
    _assert_same_trajectory(ours, theirs, f"{name}/{oracle}")


def test_parity_harness_detects_a_1e_minus_9_change():
  """The tolerance is tight: a relative change of 1e-9 in lr is caught on both oracles."""
  result = _both_oracles(osv.adam(0.01 * (1 + 1e-9)), optax.adam(0.01))
  for ours, theirs in result.values():
    with pytest.raises(AssertionError, match="Not equal to tolerance"):
      _assert_same_trajectory(ours, theirs, "perturbed")


def test_adabelief_state_matches_optax_and_eps_root_matters():
  """Ours stores ``s + eps`` every step exactly as optax 0.2.8 stores ``nu + eps_root``.

  optax's ``scale_by_belief`` adds ``eps_root`` to ``nu`` *before* the bias
  correction and keeps it in the state, so ``eps_root = eps`` reproduces
  adabelief-pytorch (and ours) to round-off; it is not an eps inside the root
  after the bias correction.  With ``eps_root = 0`` the stored eps is missing and
  the step-1 updates differ (b1 = 0.9, b2 = 0.999, eps = 1e-8, m̂_1 = g):
  ours ``-lr·g/(sqrt(((1-b2)(b1 g)² + eps)/bc2) + eps)`` vs optax(eps_root=0)
  ``-lr·g/(b1|g| + eps)``.  Since eps/bc2 = 1e-5 dwarfs (b1 g)² for small g,
  ours is 0.02845 times optax's step at g = 1e-4, 0.00854 times at g = -3e-5,
  and equal to 1.5e-6 at g = 2.
  """
  lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
  g = jnp.asarray([1e-4, -3e-5, 2.0])
  p = jnp.zeros(3)
  ours = osv.adabelief(lr, b1=b1, b2=b2, eps=eps, rectify=False)
  same = optax.adabelief(lr, b1, b2, eps=eps, eps_root=eps)
  nostore = optax.adabelief(lr, b1, b2, eps=eps, eps_root=0.0)
  u_ours, s_ours = ours.update(g, ours.init(p), p)
  u_same, s_same = same.update(g, same.init(p), p)
  u_nostore, _ = nostore.update(g, nostore.init(p), p)
  # stored second moment: (1-b2)(g - (1-b1) g)^2 + eps, in both
  s_expected = (1 - b2) * (b1 * g) ** 2 + eps
  np.testing.assert_allclose(optax.tree_utils.tree_get(s_ours, "nu"), s_expected, rtol=1e-14)
  np.testing.assert_allclose(s_same[0].nu, s_expected, rtol=1e-14)
  bc1, bc2 = 1 - b1, 1 - b2
  m_hat = (1 - b1) * g / bc1
  expected_ours = -lr * m_hat / (jnp.sqrt(s_expected / bc2) + eps)
  expected_nostore = -lr * m_hat / (jnp.sqrt((1 - b2) * (b1 * g) ** 2 / bc2) + eps)
  np.testing.assert_allclose(u_ours, expected_ours, rtol=1e-13)
  np.testing.assert_allclose(u_same, expected_ours, rtol=1e-13)
  np.testing.assert_allclose(u_nostore, expected_nostore, rtol=1e-13)
  rel = np.asarray(u_ours / u_nostore)
  np.testing.assert_allclose(rel, [0.02845205, 0.00854097, 0.99999846], rtol=1e-6)


# --------------------------------------------------- (b) documented divergences


def _one_step(tx, g):
  g = jnp.asarray(g, jnp.float64)
  p = jnp.zeros_like(g)
  return tx.update(g, tx.init(p), p)[0]


def _two_steps(tx, g1, g2):
  g1, g2 = jnp.asarray(g1, jnp.float64), jnp.asarray(g2, jnp.float64)
  p = jnp.zeros_like(g1)
  s = tx.init(p)
  u1, s = tx.update(g1, s, p)
  u2, s = tx.update(g2, s, p)
  return u1, u2


def test_adagrad_diverges_from_optax():
  """torch/ours: ``-lr g/(sqrt(G)+eps)``, ``G0 = 0``; optax: ``-lr g/sqrt(G+eps)``
  where ``G > 0``, ``G0 = 0.1`` (eps 1e-7).

  Step 1 with lr = 1e-2:  g = 1:     ours -0.0099999999990, optax -0.0095346255
                          g = 1e-5:  ours -0.0099999000010, optax -3.1623e-7
  Even with optax's initial accumulator set to 0 the eps cannot be matched: ours
  ``g/(|g|+e)`` equals optax's ``g/sqrt(g²+e')`` only for ``e' = 2|g|e + e²``,
  which depends on g.
  """
  lr = 1e-2
  g = np.asarray([1.0, 1e-5, -2.5])
  ours = np.asarray(_one_step(osv.adagrad(lr), g))
  theirs = np.asarray(_one_step(optax.adagrad(lr), g))
  np.testing.assert_allclose(ours, -lr * g / (np.abs(g) + 1e-10), rtol=1e-14)
  np.testing.assert_allclose(theirs, -lr * g / np.sqrt(0.1 + g * g + 1e-7), rtol=1e-14)
  np.testing.assert_allclose(ours[:2], [-0.009999999999, -0.00999990000100], rtol=1e-10)
  np.testing.assert_allclose(theirs[:2], [-0.00953462546, -3.16227608e-7], rtol=1e-8)
  assert abs(ours[1] / theirs[1]) > 3e4  # tiny gradients: 4.5 orders of magnitude

  # The best optax can do: G0 = 0 and eps chosen to match at one |g|.
  e = 1e-3  # a large eps so that the mismatch is far above round-off
  e_prime_at_1 = 2 * 1.0 * e + e * e
  ours_e = np.asarray(_one_step(osv.adagrad(lr, eps=e), g))
  fitted = np.asarray(_one_step(optax.adagrad(lr, 0.0, eps=e_prime_at_1), g))
  np.testing.assert_allclose(fitted[0], ours_e[0], rtol=1e-13)  # matches at |g| = 1
  # ... but not at |g| = 1e-5: ours 1e-5/(1e-5 + 1e-3), optax 1e-5/sqrt(1e-10 + 2.001e-3)
  np.testing.assert_allclose(ours_e[1], -lr * 1e-5 / (1e-5 + e), rtol=1e-13)
  np.testing.assert_allclose(fitted[1], -lr * 1e-5 / np.sqrt(1e-10 + e_prime_at_1), rtol=1e-13)
  assert abs(ours_e[1] / fitted[1] - 1) > 0.4
  # nor at |g| = 2.5 (the fitted eps is too small there)
  assert abs(ours_e[2] / fitted[2] - 1) > 1e-4


def test_amsgrad_diverges_from_optax_from_step_2():
  """torch/ours: ``vmax = max(vmax, v)`` on the raw v, divided by the current bc2;
  optax: ``max(vmax, v̂)`` of the bias-corrected v.

  g1 = 1, g2 = 0 (v decreases: v2 = b2·v1).  Step 1 agrees: ``-lr g1/(|g1| + eps)``.
  Step 2: m̂2 = 0.09/0.19 = 0.47368...;
    ours  denominator sqrt(v1/bc2(2)) = sqrt(0.001/0.001999) = 0.70728...
    optax denominator sqrt(max(v̂1, v̂2)) = sqrt(max(1, 0.49975)) = 1,
  so ours steps 1.41387... times further.
  """
  lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
  g1, g2 = np.asarray([1.0, -3.0]), np.asarray([0.0, 0.0])
  o1, o2 = _two_steps(osv.amsgrad(lr), g1, g2)
  t1, t2 = _two_steps(optax.amsgrad(lr), g1, g2)
  np.testing.assert_allclose(o1, -lr * g1 / (np.abs(g1) + eps), rtol=1e-13)
  np.testing.assert_allclose(t1, o1, rtol=1e-14)
  m_hat2 = b1 * (1 - b1) * g1 / (1 - b1**2)
  v1 = (1 - b2) * g1**2
  bc2_1, bc2_2 = 1 - b2, 1 - b2**2
  ours_expected = -lr * m_hat2 / (np.sqrt(v1 / bc2_2) + eps)
  optax_expected = -lr * m_hat2 / (np.sqrt(max(1.0, b2 * 0.001 / bc2_2)) * np.abs(g1) + eps)
  np.testing.assert_allclose(np.sqrt(v1[0] / bc2_2), 0.707283, rtol=1e-6)
  np.testing.assert_allclose(m_hat2[0], 0.09 / 0.19, rtol=1e-14)
  np.testing.assert_allclose(o2, ours_expected, rtol=1e-13)
  np.testing.assert_allclose(t2, optax_expected, rtol=1e-13)
  np.testing.assert_allclose((o2 / t2)[0], (1 + eps) / (np.sqrt(bc2_1 / bc2_2) + eps), rtol=1e-12)
  np.testing.assert_allclose(o2 / t2, 1.41386, rtol=1e-5)
  # raw-v max without bias correction (optax's bias_correction_nu=False) is not ours either
  n1, n2 = _two_steps(optax.amsgrad(lr, bias_correction_nu=False), g1, g2)
  assert abs(n1[0] / o1[0] - 1) > 0.9  # step 1 already: 1/sqrt(v1) = 31.6 vs 1


def test_rmsprop_optax_defaults_diverge():
  """optax.rmsprop(lr): decay 0.9, eps inside the root: step 1 ``-lr g/sqrt(0.1 g² + eps)``;
  ours/torch: decay 0.99, eps outside: ``-lr g/(0.1|g| + eps)``.  For g = 1:
  -3.16227750 lr vs -9.99999900 lr; for g = -1e-5 (below sqrt(eps)) optax's eps
  dominates: 0.0999500 lr vs 9.90099 lr.  ``decay=0.99, eps_in_sqrt=False`` agrees
  (checked along whole trajectories by test_parity_with_optax[rmsprop*])."""
  lr, eps = 0.01, 1e-8
  g = np.asarray([1.0, -1e-5, 30.0])
  ours = np.asarray(_one_step(osv.rmsprop(lr), g))
  theirs = np.asarray(_one_step(optax.rmsprop(lr), g))
  matched = np.asarray(_one_step(optax.rmsprop(lr, decay=0.99, eps_in_sqrt=False), g))
  np.testing.assert_allclose(ours, -lr * g / (0.1 * np.abs(g) + eps), rtol=1e-14)
  np.testing.assert_allclose(theirs, -lr * g / np.sqrt(0.1 * g * g + eps), rtol=1e-14)
  np.testing.assert_allclose(ours[0] / lr, -9.999999, rtol=1e-7)
  np.testing.assert_allclose(theirs[0] / lr, -3.16227750, rtol=1e-8)
  np.testing.assert_allclose(matched, ours, rtol=1e-14)
  np.testing.assert_allclose(theirs[1] / lr, 1e-5 / np.sqrt(1e-11 + 1e-8), rtol=1e-12)
  np.testing.assert_allclose([theirs[1] / lr, ours[1] / lr], [0.09995004, 9.9009901], rtol=1e-7)


def test_radam_diverges_from_optax():
  """optax.radam (0.2.8, transform.scale_by_radam) uses the exact bias correction
  ``r_t m̂/(sqrt(v̂) + eps)`` and falls back to ``m̂`` (SGD with momentum) while
  ``ρ_t < 5``.  The authors' code and ours fold the correction:
  ``r_t sqrt(bc2)/bc1 · m/(sqrt(v) + eps)`` = ``r_t m̂/(sqrt(v̂) + eps/sqrt(bc2))``, an
  eps growing to ``eps/sqrt(1-b2^t)``; by default (degenerated_to_sgd=False) ours
  does not move in steps 1..5.

  Constant gradient g (so m̂ = g, v̂ = g²), b2 = 0.999, eps = 1e-8:
  * steps 1..5: optax ``-lr g``; ours 0; ours(degenerated_to_sgd=True) = optax.
  * step 6 (first rectified, ρ_6 = 5.994, r_6 = 0.025821): optax
    ``-lr r6 g/(|g| + eps)``, ours ``-lr r6 g/(|g| + eps/sqrt(bc2_6))`` with
    sqrt(bc2_6) = 0.077363: at |g| = 1e-5 ours is 0.988226 times optax's step
    (1.18 % shorter), at |g| = 1e-7 0.4798 times, at |g| = 2 equal.
  * with eps = 0 both agree to round-off on every step (degenerated_to_sgd=True).
  """
  lr, b2, eps = 0.1, 0.999, 1e-8
  g = jnp.asarray([1e-5, -2.0, 1e-7])
  p = jnp.zeros(3)
  steps = 8

  def updates(tx):
    s = tx.init(p)
    out = []
    for _ in range(steps):
      u, s = tx.update(g, s, p)
      out.append(np.asarray(u))
    return np.stack(out)

  ours = updates(osv.radam(lr))
  ours_sgd = updates(osv.radam(lr, degenerated_to_sgd=True))
  theirs = updates(optax.radam(lr))

  t = np.arange(1, steps + 1)
  rho_inf = 2 / (1 - b2) - 1
  rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
  np.testing.assert_array_equal(rho >= 5, t >= 6)
  ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
  r = np.sqrt(np.where(rho >= 5, ratio, 1.0))
  np.testing.assert_allclose(rho[4:6], [4.995998, 5.994164], rtol=1e-6)
  np.testing.assert_allclose(r[5], 0.02582111, rtol=1e-6)
  bc2 = 1 - b2**t
  gn = np.asarray(g)

  # steps 1..5
  np.testing.assert_array_equal(ours[:5], 0.0)
  np.testing.assert_allclose(theirs[:5], -lr * np.broadcast_to(gn, (5, 3)), rtol=1e-12)
  np.testing.assert_allclose(ours_sgd[:5], theirs[:5], rtol=1e-12)
  # steps 6..8: closed forms of both
  for i in range(5, steps):
    np.testing.assert_allclose(
        theirs[i], -lr * r[i] * gn / (np.abs(gn) + eps), rtol=1e-10)
    np.testing.assert_allclose(
        ours[i], -lr * r[i] * gn / (np.abs(gn) + eps / np.sqrt(bc2[i])), rtol=1e-10)
    np.testing.assert_allclose(ours_sgd[i], ours[i], rtol=1e-14)
  np.testing.assert_allclose(np.sqrt(bc2[5]), 0.07736, rtol=1e-4)
  ratio6 = ours[5] / theirs[5]
  np.testing.assert_allclose(ratio6[0], (1e-5 + 1e-8) / (1e-5 + 1e-8 / np.sqrt(bc2[5])), rtol=1e-10)
  np.testing.assert_allclose(ratio6, [0.98822610, 1.0, 0.47980269], rtol=1e-7)

  # eps = 0: the only remaining difference is gone.  Both against the closed
  # form with ρ_t in 50-digit arithmetic: ours (ρ_t without cancellation) to
  # round-off; optax.radam (ρ_∞ - 2tβ^t/(1-β^t), a difference of two numbers
  # near 2000) is 1.1e-11 off at step 6, so 1e-10 for it.
  ours0 = updates(osv.radam(lr, eps=0.0, degenerated_to_sgd=True))
  theirs0 = updates(optax.radam(lr, eps=0.0))
  active = (t >= 6)[:, None]  # SGD with m̂ = g before, r_t g/|g| (eps = 0) after
  exact = np.where(active, -lr * _exact_r(b2, t)[:, None] * np.sign(gn), -lr * gn)
  np.testing.assert_allclose(ours0, exact, rtol=1e-14)
  np.testing.assert_allclose(theirs0, exact, rtol=1e-10)
  assert np.max(np.abs(theirs0 / exact - 1)) > 1e-12  # (why theirs needs 1e-10)


def _exact_r(b2: float, t: np.ndarray) -> np.ndarray:
  """RAdam's r_t from 50-digit decimal arithmetic (active steps only)."""
  getcontext().prec = 50
  b = Decimal(repr(b2))
  rho_inf = 2 / (1 - b) - 1
  out = []
  for step in t:
    bt = b ** int(step)
    rho = rho_inf - 2 * int(step) * bt / (1 - bt)
    ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
    out.append(float(ratio.sqrt()) if rho >= 5 else 1.0)
  return np.asarray(out)
