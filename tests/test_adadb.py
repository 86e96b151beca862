"""AdaDB against the survey's Algorithm 11, and the defining properties of its friction.

AdaDB has no published code.  The specification is the survey's Algorithm 11
(陈爽, 张长伦, 黎铭亮 2022, "算法 11"; docs/references.md), read with its
``β2²`` as ``β3²``, the exact bias correction ``m̂/(sqrt(v̂) + δ)`` it prints,
and ``g_0 = g_{-1} = g_{-2} = 0``.
``algorithm_11`` below transcribes it line by line in NumPy, independently of
the package.

Zeros: the survey's sign rule only names "opposite" and "same" signs.  We (and
the package) take the opposite-sign branch only where ``g_t g_{t-1} < 0``; a
zero in either gradient (including the zero history at ``t = 1``) takes the
same-sign branch ``ξ = 1 + λ AbsSig(Δg)``.  Signs are compared, not the
product: ``-1e-300 * 1e-300`` underflows to ``-0.0`` and would wrongly take the
same-sign branch (the package had that bug; fixed by comparing ``sign(g)``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey
from optax_survey import Flow

# Parameters are O(1): the gap to the transcription stays at a few ulp of 1.
RTOL = 1e-12
ATOL = 1e-14


# --------------------------------------------------------------- reference


def abs_sig(x):
  """AbsSig(x) = 1 / (1 + exp(-|x|)), a scalar."""
  return 1.0 / (1.0 + math.exp(-abs(x)))


def algorithm_11(theta0, oracle, steps, lr=1e-3, b1=0.9, b2=0.999, b3=0.5, lam=0.5,
                 delta=1e-8, middle=None, zero_is_opposite=False):
  """Survey Alg. 11 on a flat float64 vector; returns θ_1..θ_T (T x n).

  ``oracle(theta, t)`` gives g_t.  ``middle`` is the weight of
  ``(g_{t-2} - g_{t-1})``: ``b3**2`` (default, our reading) or ``b2**2``
  (the survey as printed).  ``zero_is_opposite`` sends a zero factor to the
  opposite-sign branch (a wrong reading, used to show the tests can fail).
  """
  middle = b3 ** 2 if middle is None else middle
  theta = np.array(theta0, dtype=np.float64)
  n = theta.size
  m = np.zeros(n)
  v = np.zeros(n)
  g_1 = np.zeros(n)  # g_{t-1}
  g_2 = np.zeros(n)  # g_{t-2}
  g_3 = np.zeros(n)  # g_{t-3}
  out = []
  for t in range(1, steps + 1):                                   # 1)
    g = np.asarray(oracle(theta, t), dtype=np.float64)            # 2)
    dg = b3 * (g_1 - g) + middle * (g_2 - g_1) + b3 ** 3 * (g_3 - g_2)  # 3)
    xi = np.empty(n)
    for i in range(n):                                            # 4)
      opposite = (g[i] > 0 and g_1[i] < 0) or (g[i] < 0 and g_1[i] > 0)
      if zero_is_opposite:
        opposite = opposite or g[i] == 0 or g_1[i] == 0
      if opposite:                                                # a) opposite signs
        xi[i] = abs_sig(dg[i])
      else:                                                       # b) same sign (or a zero)
        xi[i] = 1.0 + lam * abs_sig(dg[i])
    m = b1 * m + (1 - b1) * g                                     # 5)
    v = b2 * v + (1 - b2) * g * g                                 # 6)
    m_hat = m / (1 - b1 ** t)                                     # 7)
    v_hat = v / (1 - b2 ** t)
    theta = theta - lr * xi * m_hat / (np.sqrt(v_hat) + delta)    # 8)
    out.append(theta.copy())
    g_3, g_2, g_1 = g_2, g_1, g
  return np.stack(out)


# ---------------------------------------------------------- test problems

SHAPES = {"a": (3, 4), "b": {"c": (5,), "d": (2, 3, 2), "e": ()}, "f": (7, 1)}


def make_tree(rng, scale=1.0):
  return jax.tree.map(lambda s: scale * rng.standard_normal(s), SHAPES,
                      is_leaf=lambda x: isinstance(x, tuple))


def flatten(tree):
  return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


def unflatten_like(vec, tree):
  leaves, treedef = jax.tree.flatten(tree)
  out, i = [], 0
  for leaf in leaves:
    size = int(np.size(leaf))
    out.append(np.reshape(vec[i:i + size], np.shape(leaf)))
    i += size
  return jax.tree.unflatten(treedef, out)


RNG = np.random.default_rng(0)
PARAMS0 = make_tree(RNG)
N = flatten(PARAMS0).size
CURV = np.abs(flatten(make_tree(RNG))) * 10 + 0.1   # diagonal Hessian, spread ~100x
CENTER = flatten(make_tree(RNG))
STEPS = 150


def quadratic_oracle(theta, t):
  """g = H (θ - c): evaluated at each implementation's own iterate."""
  return CURV * (theta - CENTER)


def _fixed_sequence(steps):
  rng = np.random.default_rng(1)
  seq = rng.standard_normal((steps, N))
  seq[:, 0::4] *= 1e2                    # large elements
  seq[:, 1::4] *= 1e-5                   # tiny elements, near δ
  seq[1::2, 2::4] *= -1                  # element-wise sign flips every step
  seq[rng.random((steps, N)) < 0.15] = 0.0   # exact zeros
  seq[:, 3] = np.where(np.arange(steps) % 3 == 0, 0.0, seq[:, 3])
  seq[:5, 5] = 0.0                       # a gradient that is zero for a while
  return seq


SEQUENCE = _fixed_sequence(STEPS)


def sequence_oracle(theta, t):
  return SEQUENCE[t - 1]


def run_package(tx, oracle, steps=STEPS, params0=PARAMS0):
  """Runs ``tx`` on the pytree with a jitted step; returns θ_1..θ_T flattened."""

  @jax.jit
  def step(params, state, g):
    updates, state = tx.update(g, state, params)
    return optax.apply_updates(params, updates), state

  params = jax.tree.map(jnp.asarray, params0)
  state = tx.init(params)
  out = []
  for t in range(1, steps + 1):
    g = unflatten_like(oracle(flatten(params), t), params0)
    params, state = step(params, state, g)
    out.append(flatten(params))
  return np.stack(out)


# ------------------------------------------------------- (a) Algorithm 11

CONFIGS = [
    dict(),                                        # package defaults
    dict(b3=0.9, lam=1.0),
    dict(b3=0.2, lam=0.0, b1=0.8, b2=0.99, learning_rate=1e-2),
]


@pytest.mark.parametrize("oracle", [quadratic_oracle, sequence_oracle],
                         ids=["quadratic", "sequence"])
@pytest.mark.parametrize("config", CONFIGS, ids=["default", "b3=0.9,lam=1", "b3=0.2,lam=0"])
def test_adadb_matches_algorithm_11(oracle, config):
  config = dict(config)
  lr = config.pop("learning_rate", 1e-3)
  b3 = config.get("b3", optax_survey.aliases.ADADB_B3)
  lam = config.get("lam", optax_survey.aliases.ADADB_LAM)
  b1, b2 = config.get("b1", 0.9), config.get("b2", 0.999)
  ours = run_package(optax_survey.adadb(lr, **config), oracle)
  ref = algorithm_11(flatten(PARAMS0), oracle, STEPS, lr=lr, b1=b1, b2=b2, b3=b3, lam=lam)
  np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)
  # the trajectory really moved (the comparison is not vacuous)
  assert np.max(np.abs(ref[-1] - flatten(PARAMS0))) > 10 * lr


def test_sequence_exercises_both_branches_and_zeros():
  """The fixed sequence has opposite signs, same signs, zero products and tiny |g|."""
  prod = SEQUENCE[1:] * SEQUENCE[:-1]
  assert (prod < 0).sum() > 100 and (prod > 0).sum() > 100 and (prod == 0).sum() > 100
  assert np.any((np.abs(SEQUENCE) < 1e-4) & (SEQUENCE != 0))
  assert np.max(np.abs(SEQUENCE)) > 100


def test_reference_detects_a_wrong_branch():
  """Sanity of the comparison: swapping the zero-product branch is visible."""
  ours = run_package(optax_survey.adadb(1e-3, b3=0.5, lam=0.5), sequence_oracle)
  ref = algorithm_11(flatten(PARAMS0), sequence_oracle, STEPS, b3=0.5, lam=0.5)
  np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)
  # "opposite" read as g_t g_{t-1} <= 0 (zeros slow down) gives another trajectory
  wrong = algorithm_11(flatten(PARAMS0), sequence_oracle, STEPS, b3=0.5, lam=0.5,
                       zero_is_opposite=True)
  assert np.max(np.abs(ours - wrong)) > 1e-6
  # so does a slightly different lam
  other = algorithm_11(flatten(PARAMS0), sequence_oracle, STEPS, b3=0.5, lam=0.49)
  assert np.max(np.abs(ours - other)) > 1e-6


# -------------------------------------------- (b) friction stage properties


def friction_xi(b3, lam, grads):
  """ξ_t for each gradient of ``grads`` (a list of trees), read from the stage.

  The stage is fed ``Flow(grad=g, mu=1)`` so that the ``mu`` it returns is ξ
  itself (the ratio ``mu_out / mu_in``).  Also returns the final state.
  """
  tx = optax_survey.adadb_friction(b3, lam)
  state = tx.init(grads[0])
  xis = []
  for g in grads:
    ones = jax.tree.map(jnp.ones_like, g)
    flow, state = tx.update(Flow(grad=g, mu=ones), state)
    assert flow.grad is g and flow.nu is None and flow.eta is None
    xis.append(flow.mu)
  return xis, state


def reference_delta(g, g1, g2, g3, b3, middle):
  return b3 * (g1 - g) + middle * (g2 - g1) + b3 ** 3 * (g3 - g2)


def test_xi_ranges_by_sign_and_exact_values():
  b3, lam = 0.7, 0.8
  rng = np.random.default_rng(3)
  scales = np.array([1e-6, 1e-2, 0.3, 1.0, 3.0, 10.0])
  seq = [jnp.asarray(rng.standard_normal((6, 40)) * scales[:, None]) for _ in range(30)]
  xis, _ = friction_xi(b3, lam, seq)
  hist = [np.zeros((6, 40))] * 3 + [np.asarray(g) for g in seq]
  n_opp = n_same = 0
  for t, xi in enumerate(xis):
    xi = np.asarray(xi)
    g, g1, g2, g3 = hist[t + 3], hist[t + 2], hist[t + 1], hist[t]
    dg = reference_delta(g, g1, g2, g3, b3, b3 ** 2)
    opp = g * g1 < 0
    unsaturated = np.abs(dg) < 30  # beyond, exp(-|Δg|) < ulp(1) and AbsSig rounds to 1
    n_opp += opp.sum()
    n_same += (~opp).sum()
    assert np.all(xi[opp] >= 0.5) and np.all(xi[opp] <= 1.0)
    assert np.all(xi[opp & unsaturated] < 1.0)
    assert np.all(xi[~opp] >= 1 + lam / 2) and np.all(xi[~opp] <= 1 + lam)
    assert np.all(xi[~opp & unsaturated] < 1 + lam)
    sig = 1 / (1 + np.exp(-np.abs(dg)))
    np.testing.assert_allclose(xi, np.where(opp, sig, 1 + lam * sig), rtol=1e-15, atol=0)
  assert n_opp > 1000 and n_same > 1000


def test_sign_rule_element_by_element_including_zeros():
  """Opposite signs slow down; same signs and any zero factor (±0) speed up.

  Includes opposite-signed gradients whose product underflows (±1e-300).
  """
  lam = 0.6
  nz = -0.0
  prev = jnp.array([1.0, 1.0, -1.0, -1.0, 0.0, 2.0, 0.0, nz, 3.0, -1e-300, 1e-5])
  cur = jnp.array([2.0, -2.0, 2.0, -0.5, 1.0, 0.0, 0.0, -1.0, nz, 1e-300, -1e-5])
  expect_opposite = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1], bool)
  # with b3 = 1 and prev repeated as history, Δg = prev - cur (see the diffGrad test)
  xis, _ = friction_xi(1.0, lam, [prev, prev, prev, cur])
  xi = np.asarray(xis[-1])
  sig = 1 / (1 + np.exp(-np.abs(np.asarray(prev) - np.asarray(cur))))
  np.testing.assert_array_equal(xi < 1, expect_opposite)
  np.testing.assert_allclose(xi, np.where(expect_opposite, sig, 1 + lam * sig),
                             rtol=1e-15, atol=0)
  # lam = 0: the same-sign (and zero) branch leaves m unchanged, exactly
  xis0, _ = friction_xi(1.0, 0.0, [prev, prev, prev, cur])
  xi0 = np.asarray(xis0[-1])
  assert np.all(xi0[~expect_opposite] == 1.0)
  assert np.all(xi0[expect_opposite] < 1.0)
  # step 1: the zero history (g_0 = 0) takes the same-sign branch everywhere
  first, _ = friction_xi(0.5, lam, [cur])
  sig1 = 1 / (1 + np.exp(-np.abs(0.5 * np.asarray(cur))))
  np.testing.assert_allclose(np.asarray(first[0]), 1 + lam * sig1, rtol=1e-15, atol=0)


def test_state_keeps_the_last_three_gradients():
  gs = [jnp.full((3,), float(k)) for k in (1, -2, 3, -4, 5)]
  _, state = friction_xi(0.5, 0.5, gs)
  np.testing.assert_array_equal(state.prev_grad, gs[-1])
  np.testing.assert_array_equal(state.prev_grad_2, gs[-2])
  np.testing.assert_array_equal(state.prev_grad_3, gs[-3])


def test_reduces_to_diffgrad_friction_with_b3_one_and_constant_history():
  """b3 = 1, g_{t-3} = g_{t-2} = g_{t-1}: Δg = g_{t-1} - g_t, diffGrad's ξ where signs differ."""
  rng = np.random.default_rng(4)
  h = rng.standard_normal(50) * 2
  g = -np.sign(h) * np.abs(rng.standard_normal(50)) * 3   # opposite sign everywhere
  g[:5] = h[:5] * rng.random(5)                           # a few same-sign elements
  h, g = jnp.asarray(h), jnp.asarray(g)
  for lam in (0.0, 0.5, 2.0):
    xis, _ = friction_xi(1.0, lam, [h, h, h, g])
    ours = np.asarray(xis[-1])
    dtx = optax_survey.diffgrad_friction()
    dstate = dtx.init(h)
    _, dstate = dtx.update(Flow(grad=h, mu=jnp.ones_like(h)), dstate)
    dflow, _ = dtx.update(Flow(grad=g, mu=jnp.ones_like(g)), dstate)
    diff = np.asarray(dflow.mu)
    np.testing.assert_array_equal(ours[5:], diff[5:])              # opposite-sign: identical
    np.testing.assert_allclose(ours[:5], 1 + lam * diff[:5], rtol=1e-15, atol=0)
  # without the constant history (b3 = 1 but g_{t-2} != g_{t-1}) it is not diffGrad's
  xis, _ = friction_xi(1.0, 0.5, [2 * h, h, h, g])
  assert np.max(np.abs(np.asarray(xis[-1])[5:] - diff[5:])) > 1e-3


@pytest.mark.parametrize("b2,b3", [(0.999, 0.5), (0.99, 0.9), (0.9, 0.3)])
def test_survey_beta2_squared_slip_changes_delta_g(b2, b3):
  """With the survey's printed β2² the middle weight differs, and so does Δg."""
  rng = np.random.default_rng(5)
  hist = [jnp.asarray(rng.standard_normal(64)) for _ in range(4)]
  g3, g2, g1 = (np.asarray(x) for x in hist[:3])
  # make every element opposite-signed to g_{t-1} so that ξ = AbsSig(Δg) exactly
  g = -np.sign(g1) * np.abs(np.asarray(hist[3]))
  xis, _ = friction_xi(b3, 0.5, [hist[0], hist[1], hist[2], jnp.asarray(g)])
  xi = np.asarray(xis[-1])
  abs_dg_ours = -np.log(1 / xi - 1)  # invert AbsSig
  dg_b3 = reference_delta(g, g1, g2, g3, b3, b3 ** 2)
  dg_survey = reference_delta(g, g1, g2, g3, b3, b2 ** 2)
  np.testing.assert_allclose(abs_dg_ours, np.abs(dg_b3), rtol=1e-9, atol=1e-12)
  assert np.max(np.abs(np.abs(dg_survey) - np.abs(dg_b3))) > 1e-2
  assert np.max(np.abs(abs_dg_ours - np.abs(dg_survey))) > 1e-2


def test_survey_beta2_squared_slip_changes_the_trajectory():
  """The whole optimizer follows the b3² reading, not the printed β2²."""
  ours = run_package(optax_survey.adadb(1e-3, b3=0.5, lam=0.5), sequence_oracle)
  ref_b3 = algorithm_11(flatten(PARAMS0), sequence_oracle, STEPS, b3=0.5, lam=0.5)
  ref_b2 = algorithm_11(flatten(PARAMS0), sequence_oracle, STEPS, b3=0.5, lam=0.5,
                        middle=0.999 ** 2)
  np.testing.assert_allclose(ours, ref_b3, rtol=RTOL, atol=ATOL)
  assert np.max(np.abs(ours - ref_b2)) > 1e-5
  # and when b2 == b3 the printed and corrected readings coincide
  same = algorithm_11(flatten(PARAMS0), sequence_oracle, 20, b2=0.5, b3=0.5, middle=0.5 ** 2)
  slip = algorithm_11(flatten(PARAMS0), sequence_oracle, 20, b2=0.5, b3=0.5)
  np.testing.assert_array_equal(same, slip)
