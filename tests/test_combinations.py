"""Optimizers no paper names, built by a user from the public primitives.

Each combination below is an ``optax.chain`` of optax_survey primitives that
no published optimizer uses.  Next to it is a NumPy transcription written from
the primitives' docstrings alone (plain loop over steps, flat float64 vectors:
every rule is elementwise, so the flat vector stands for the whole pytree).
Each is checked in float64 for 120 steps on a noisy quadratic whose gradient
is evaluated at each implementation's own iterate: eagerly, under
``jax.jit``, and under ``jax.vmap`` over a batch of independent problems.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey as S

STEPS = 120
# Parameters are O(1); the implementations round differently (XLA fuses and
# reorders), and the gap stays at a few ulp of 1 over all steps without
# growing, so: relative 1e-12 and absolute 1e-14 (about 45 ulp of 1.0).  A
# wrong rule shows up as >1e-6 (see test_branches_are_exercised).
RTOL = 1e-12
ATOL = 1e-14
SHAPES = {"w": (3, 4), "b": {"c": (5,), "s": ()}, "k": (2, 2, 2)}
N = 12 + 5 + 1 + 8


def abs_sig(x):
  return 1 / (1 + np.exp(-np.abs(x)))


# ------------------------------------------------------------------ problems


def make_problem(seed):
  """θ_0, curvature a > 0, centre c and a per-step noise table (flat vectors)."""
  rng = np.random.default_rng(seed)
  theta0 = rng.standard_normal(N)
  a = np.exp(rng.uniform(-1, 2, N))            # curvatures 0.4 .. 7
  c = rng.standard_normal(N)
  noise = rng.standard_normal((STEPS, N)) * 0.5
  noise[:, 1::3] *= 1e-4                       # some small gradients
  noise[1::2, 2::3] *= -3                      # sign-flipping noise
  return theta0, a, c, noise


def grad_fn(problem):
  _, a, c, noise = problem
  return lambda theta, t: a * (theta - c) + noise[t - 1]


def unflatten(vec):
  """A flat vector (..., N) as the nested pytree SHAPES (leading dims kept)."""
  lead = vec.shape[:-1]
  leaves, treedef = jax.tree.flatten(SHAPES, is_leaf=lambda x: isinstance(x, tuple))
  out, i = [], 0
  for shape in leaves:
    size = int(np.prod(shape))
    out.append(jnp.asarray(vec[..., i:i + size].reshape(lead + shape)))
    i += size
  return jax.tree.unflatten(treedef, out)


def flatten(tree, batch=False):
  leaves = jax.tree.leaves(tree)
  if batch:
    return np.concatenate([np.asarray(x).reshape(x.shape[0], -1) for x in leaves], 1)
  return np.concatenate([np.asarray(x).ravel() for x in leaves])


def _step(tx):
  def step(params, state, a, c, n):
    g = jax.tree.map(lambda p, a, c, n: a * (p - c) + n, params, a, c, n)
    updates, state = tx.update(g, state, params)
    return optax.apply_updates(params, updates), state
  return step


def run_single(tx, problem, jit):
  """Trajectory (T, N) of ``tx`` on one problem, eagerly or jitted."""
  theta0, a, c, noise = problem
  step = jax.jit(_step(tx)) if jit else _step(tx)
  params = unflatten(theta0)
  state = tx.init(params)
  a_t, c_t = unflatten(a), unflatten(c)
  out = []
  for t in range(1, STEPS + 1):
    params, state = step(params, state, a_t, c_t, unflatten(noise[t - 1]))
    out.append(flatten(params))
  return np.stack(out), state


def run_batched(tx, problems):
  """Trajectories (T, B, N) of ``jit(vmap(step))`` over B independent problems."""
  theta0, a, c, noise = (np.stack(x) for x in zip(*problems))
  step = jax.jit(jax.vmap(_step(tx)))
  params = unflatten(theta0)
  state = jax.vmap(tx.init)(params)
  a_t, c_t = unflatten(a), unflatten(c)
  out = []
  for t in range(1, STEPS + 1):
    params, state = step(params, state, a_t, c_t, unflatten(noise[:, t - 1]))
    out.append(flatten(params, batch=True))
  return np.stack(out), state


# ------------------------------------------------ combinations + transcriptions
# Each entry: (build() -> optax transformation, reference(theta0, grad, T) -> (T, N)).


# 1. AdaBelief's second moment under AdaBound's dynamic bounds, with a decaying lr.
# Written out rather than optax.exponential_decay, which returns float32 for the
# int32 step count even under x64 (and would limit the parity to ~1e-9).
def LR1(count):
  return 1e-2 * 0.995 ** count


def belief_bound():
  return optax.chain(
      S.count_steps(), S.ema_first_moment(0.9), S.belief_second_moment(0.99, eps=1e-12),
      S.adaptive_step_size(1e-8), S.folded_bias_correction(0.9, 0.99),
      S.apply_learning_rate(LR1), S.bound_step_size(LR1, final_lr=0.05, gamma=0.05),
      S.descend())


def belief_bound_ref(theta, grad, steps, stats=None):
  b1, b2, eps_s, eps, final_lr, gamma = 0.9, 0.99, 1e-12, 1e-8, 0.05, 0.05
  lr = lambda k: 1e-2 * 0.995 ** k
  m = np.zeros_like(theta)
  s = np.zeros_like(theta)
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)
    m = b1 * m + (1 - b1) * g
    s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_s
    lr_t = lr(t - 1)                       # a schedule is read at the steps already taken
    eta = lr_t * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(s) + eps)
    final = final_lr * lr_t / lr(0)
    lower = final * (1 - 1 / (gamma * t + 1))
    upper = final * (1 + 1 / (gamma * t))
    if stats is not None:
      stats["below"] = stats.get("below", 0) + int(np.sum(eta < lower))
      stats["above"] = stats.get("above", 0) + int(np.sum(eta > upper))
    eta = np.minimum(np.maximum(eta, lower), upper)
    theta = theta - eta * m
    out.append(theta)
  return np.stack(out)


# 2. Yogi's second moment with RAdam's rectification (SGD fallback before ρ_t >= 5).
def yogi_radam():
  return optax.chain(
      S.count_steps(), S.ema_first_moment(0.9, initial_value=1e-6),
      S.yogi_second_moment(0.99, 1e-6),
      S.adaptive_step_size(1e-3), S.folded_bias_correction(0.9, 0.99),
      S.rectification(0.9, 0.99, threshold=5.0, degenerated_to_sgd=True),
      S.apply_learning_rate(3e-2), S.descend())


def yogi_radam_ref(theta, grad, steps):
  b1, b2, eps, lr = 0.9, 0.99, 1e-3, 3e-2
  m = np.full_like(theta, 1e-6)
  v = np.full_like(theta, 1e-6)
  rho_inf = 2 / (1 - b2) - 1
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)
    m = b1 * m + (1 - b1) * g
    v = v - (1 - b2) * np.sign(v - g * g) * g * g
    rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho_t >= 5:
      r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
      eta = lr * r * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(v) + eps)
    else:
      eta = lr / (1 - b1 ** t)
    theta = theta - eta * m
    out.append(theta)
  return np.stack(out)


# 3. diffGrad's friction on AMSGrad (max of the raw v, exact bias correction).
def amsgrad_diffgrad():
  return optax.chain(
      S.count_steps(), S.ema_first_moment(0.9), S.ema_second_moment(0.999),
      S.track_max_second_moment(),
      S.diffgrad_friction(), S.bias_correction(0.9, 0.999), S.adaptive_step_size(1e-8),
      S.apply_learning_rate(1e-2), S.descend())


def amsgrad_diffgrad_ref(theta, grad, steps):
  b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-2
  m = np.zeros_like(theta)
  v = np.zeros_like(theta)
  vmax = np.zeros_like(theta)
  prev = np.zeros_like(theta)
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    vmax = np.maximum(vmax, v)
    xi = abs_sig(prev - g)
    prev = g
    theta = theta - lr * xi * (m / (1 - b1 ** t)) / (np.sqrt(vmax / (1 - b2 ** t)) + eps)
    out.append(theta)
  return np.stack(out)


# 4. RMSProp with AdaMod's momental bound, inside Lookahead.
def lookahead_rmsprop_bound():
  inner = optax.chain(
      S.ema_second_moment(0.9), S.adaptive_step_size(1e-8),
      S.apply_learning_rate(1e-2), S.momental_bound(0.9), S.descend())
  return S.lookahead(inner, sync_period=5, slow_step_size=0.5)


def lookahead_rmsprop_bound_ref(theta, grad, steps, return_slow=False):
  decay, eps, lr, b3, k, alpha = 0.9, 1e-8, 1e-2, 0.9, 5, 0.5
  v = np.zeros_like(theta)
  s = np.zeros_like(theta)
  slow = theta.copy()
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)                         # at the fast weights
    v = decay * v + (1 - decay) * g * g
    eta = lr / (np.sqrt(v) + eps)
    s = b3 * s + (1 - b3) * eta
    theta = theta - np.minimum(eta, s) * g
    if t % k == 0:
      slow = slow + alpha * (theta - slow)
      theta = slow.copy()
    out.append(theta)
  return (np.stack(out), slow) if return_slow else np.stack(out)


# 5. AdaDB's friction with AdaMod's momental bound.
def adadb_momental():
  return optax.chain(
      S.count_steps(), S.ema_first_moment(0.9), S.ema_second_moment(0.999),
      S.adadb_friction(0.7, 0.5),
      S.bias_correction(0.9, 0.999), S.adaptive_step_size(1e-8),
      S.apply_learning_rate(1e-2), S.momental_bound(0.95), S.descend())


def adadb_momental_ref(theta, grad, steps, stats=None):
  b1, b2, b3, lam, eps, lr, b3m = 0.9, 0.999, 0.7, 0.5, 1e-8, 1e-2, 0.95
  m = np.zeros_like(theta)
  v = np.zeros_like(theta)
  s = np.zeros_like(theta)
  g1 = np.zeros_like(theta)
  g2 = np.zeros_like(theta)
  g3 = np.zeros_like(theta)
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)
    dg = b3 * (g1 - g) + b3 ** 2 * (g2 - g1) + b3 ** 3 * (g3 - g2)
    opposite = ((g > 0) & (g1 < 0)) | ((g < 0) & (g1 > 0))
    xi = np.where(opposite, abs_sig(dg), 1 + lam * abs_sig(dg))
    g3, g2, g1 = g2, g1, g
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    eta = lr / (np.sqrt(v / (1 - b2 ** t)) + eps)
    s = b3m * s + (1 - b3m) * eta
    if stats is not None:
      stats["capped"] = stats.get("capped", 0) + int(np.sum(s < eta))
      stats["free"] = stats.get("free", 0) + int(np.sum(s >= eta))
      stats["opposite"] = stats.get("opposite", 0) + int(np.sum(opposite))
      stats["same"] = stats.get("same", 0) + int(np.sum(~opposite))
    theta = theta - np.minimum(eta, s) * xi * m / (1 - b1 ** t)
    out.append(theta)
  return np.stack(out)


# 6. Nesterov momentum over RMSProp-preconditioned steps.
def nesterov_rmsprop():
  return optax.chain(
      S.ema_second_moment(0.99), S.adaptive_step_size(1e-8),
      S.trace_momentum(0.9, nesterov=True), S.apply_learning_rate(3e-3), S.descend())


def nesterov_rmsprop_ref(theta, grad, steps):
  alpha, eps, mu, lr = 0.99, 1e-8, 0.9, 3e-3
  v = np.zeros_like(theta)
  buf = np.zeros_like(theta)
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t)
    v = alpha * v + (1 - alpha) * g * g
    d = g / (np.sqrt(v) + eps)
    buf = mu * buf + d
    theta = theta - lr * (d + mu * buf)
    out.append(theta)
  return np.stack(out)


# 7. L2 penalty, AdaBelief's belief moment in Adadelta's units, decoupled decay.
def belief_adadelta():
  return optax.chain(
      S.add_l2_penalty(1e-2), S.ema_first_moment(0.9), S.belief_second_moment(0.95, 1e-16),
      S.delta_accumulator(0.95, 1e-6),
      S.apply_learning_rate(0.5), S.add_decoupled_weight_decay(0.5, 1e-3), S.descend())


def belief_adadelta_ref(theta, grad, steps):
  l2, b1, b2, eps_s, rho, eps, lr, wd = 1e-2, 0.9, 0.95, 1e-16, 0.95, 1e-6, 0.5, 1e-3
  m = np.zeros_like(theta)
  s = np.zeros_like(theta)
  acc = np.zeros_like(theta)
  out = []
  for t in range(1, steps + 1):
    g = grad(theta, t) + l2 * theta
    m = b1 * m + (1 - b1) * g
    s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_s
    d = m / np.sqrt(s + eps)
    delta = np.sqrt(acc + eps) * d
    acc = rho * acc + (1 - rho) * delta ** 2
    theta = theta - lr * delta - lr * wd * theta
    out.append(theta)
  return np.stack(out)


COMBOS = {
    "belief_bound": (belief_bound, belief_bound_ref),
    "yogi_radam": (yogi_radam, yogi_radam_ref),
    "amsgrad_diffgrad": (amsgrad_diffgrad, amsgrad_diffgrad_ref),
    "lookahead_rmsprop_bound": (lookahead_rmsprop_bound, lookahead_rmsprop_bound_ref),
    "adadb_momental": (adadb_momental, adadb_momental_ref),
    "nesterov_rmsprop": (nesterov_rmsprop, nesterov_rmsprop_ref),
    "belief_adadelta": (belief_adadelta, belief_adadelta_ref),
}
PROBLEMS = [make_problem(seed) for seed in (10, 11, 12)]


def reference(name, problem):
  return COMBOS[name][1](problem[0].copy(), grad_fn(problem), STEPS)


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", COMBOS)
def test_combination_matches_transcription_eagerly(name):
  ours, _ = run_single(COMBOS[name][0](), PROBLEMS[0], jit=False)
  ref = reference(name, PROBLEMS[0])
  np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)
  # the optimizer made progress on the quadratic (the comparison is not vacuous)
  _, a, c, _ = PROBLEMS[0]
  loss = lambda th: 0.5 * np.sum(a * (th - c) ** 2)
  assert loss(ref[-1]) < 0.9 * loss(PROBLEMS[0][0])


@pytest.mark.parametrize("name", COMBOS)
def test_combination_matches_transcription_under_jit(name):
  ours, _ = run_single(COMBOS[name][0](), PROBLEMS[1], jit=True)
  np.testing.assert_allclose(ours, reference(name, PROBLEMS[1]), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", COMBOS)
def test_combination_under_vmap_matches_per_problem_loop(name):
  ours, _ = run_batched(COMBOS[name][0](), PROBLEMS)
  for b, problem in enumerate(PROBLEMS):
    np.testing.assert_allclose(ours[:, b], reference(name, problem), rtol=RTOL, atol=ATOL)
  # the problems are really different
  assert np.max(np.abs(ours[-1, 0] - ours[-1, 1])) > 0.1


def test_lookahead_slow_weights_match_under_vmap():
  _, state = run_batched(lookahead_rmsprop_bound(), PROBLEMS)
  slow = flatten(S.lookahead_slow_params(state), batch=True)
  for b, problem in enumerate(PROBLEMS):
    _, ref_slow = lookahead_rmsprop_bound_ref(
        problem[0].copy(), grad_fn(problem), STEPS, return_slow=True)
    np.testing.assert_allclose(slow[b], ref_slow, rtol=RTOL, atol=ATOL)


def test_branches_are_exercised():
  """Bounds bite, rectification switches on, the momental bound caps, signs flip."""
  problem = PROBLEMS[0]
  grad = grad_fn(problem)
  # AdaBound's clip: the unclipped step leaves [lower, upper] on both sides
  stats = {}
  belief_bound_ref(problem[0].copy(), grad, STEPS, stats)
  assert stats["below"] > 100 and stats["above"] > 100
  # AdaMod's cap and both AdaDB branches are used
  stats = {}
  adadb_momental_ref(problem[0].copy(), grad, STEPS, stats)
  assert min(stats.values()) > 100, stats
  rho_inf = 2 / (1 - 0.99) - 1
  rho = [rho_inf - 2 * t * 0.99 ** t / (1 - 0.99 ** t) for t in range(1, STEPS + 1)]
  assert rho[0] < 5 <= rho[-1]     # both rectification branches are used
  # changing a rule the tests rely on changes the trajectory measurably
  alt = optax.chain(
      S.count_steps(), S.ema_first_moment(0.9), S.ema_second_moment(0.999),
      S.adadb_friction(0.7, 0.5),
      S.bias_correction(0.9, 0.999), S.adaptive_step_size(1e-8),
      S.apply_learning_rate(1e-2), S.descend())   # no momental bound
  without, _ = run_single(alt, problem, jit=True)
  assert np.max(np.abs(without - adadb_momental_ref(problem[0].copy(), grad, STEPS))) > 1e-4
  # Nesterov vs heavy ball over the same preconditioned steps
  heavy = optax.chain(
      S.ema_second_moment(0.99), S.adaptive_step_size(1e-8),
      S.trace_momentum(0.9), S.apply_learning_rate(3e-3), S.descend())
  hb, _ = run_single(heavy, problem, jit=True)
  assert np.max(np.abs(hb - nesterov_rmsprop_ref(problem[0].copy(), grad, STEPS))) > 1e-4
