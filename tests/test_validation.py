"""Construction-time validation of hyperparameters.

Concrete bad values raise a ``ValueError`` (``TypeError`` for a wrong type)
naming the argument and its allowed range; traced values and schedules pass.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optax_survey
from optax_survey import primitives as P

ALIASES = [name for name in optax_survey.OPTIMIZERS if name != "lookahead"]


def takes(name, arg):
  return arg in inspect.signature(getattr(optax_survey, name)).parameters


def aliases_with(arg):
  return [name for name in ALIASES if takes(name, arg)]


# Regex fragments of the messages: "<name> must be in [0.0, 1.0), got ...".
DECAY = r"must be in \[0(\.0)?, 1(\.0)?\)"
UNIT_CLOSED = r"must be in \[0(\.0)?, 1(\.0)?\]"
NON_NEG = r"must be >= 0(\.0)?"
POSITIVE = r"must be > 0(\.0)?"


def test_argument_tables_are_not_empty():
  assert len(ALIASES) == 17
  assert set(aliases_with("b1")) == {
      "adam", "adamw", "amsgrad", "yogi", "adabelief", "diffgrad", "adadb",
      "adabound", "amsbound", "adamod", "radam",
  }
  assert set(aliases_with("eps")) >= set(aliases_with("b1")) | {"adagrad", "adadelta", "rmsprop"}
  assert set(aliases_with("weight_decay")) == set(ALIASES)


# ------------------------------------------------------------ learning rate


@pytest.mark.parametrize("name", ALIASES)
@pytest.mark.parametrize("bad", [-0.1, -1, np.float32(-1e-3), jnp.asarray(-0.5)])
def test_negative_learning_rate(name, bad):
  with pytest.raises(ValueError, match=r"learning_rate " + NON_NEG + r", got -"):
    getattr(optax_survey, name)(bad)


@pytest.mark.parametrize("name", ALIASES)
def test_nan_learning_rate(name):
  with pytest.raises(ValueError, match=r"learning_rate .*got nan"):
    getattr(optax_survey, name)(float("nan"))


@pytest.mark.parametrize("name", ALIASES)
@pytest.mark.parametrize("bad", [True, False, np.bool_(True)])
def test_bool_learning_rate_is_a_type_error(name, bad):
  with pytest.raises(TypeError, match=r"learning_rate must be a real number, got the bool"):
    getattr(optax_survey, name)(bad)


@pytest.mark.parametrize("name", ALIASES)
@pytest.mark.parametrize("bad", ["0.1", None, [0.1]])
def test_non_number_learning_rate_is_a_type_error(name, bad):
  with pytest.raises(TypeError, match=r"learning_rate must be a real number"):
    getattr(optax_survey, name)(bad)


def test_complex_learning_rate_is_a_type_error():
  with pytest.raises(TypeError, match=r"learning_rate must be real-valued"):
    optax_survey.sgd(jnp.asarray(0.1 + 0.5j))
  # A real value in a complex dtype is what optax.inject_hyperparams passes
  # for complex parameters: accepted, and used as its real part.
  tx = optax_survey.sgd(jnp.asarray(0.1 + 0.0j, jnp.complex64))
  p = jnp.ones(2, jnp.complex64)
  u, _ = tx.update(p, tx.init(p), p)
  np.testing.assert_allclose(u, -0.1 * p, rtol=1e-6)


def test_low_precision_hyperparameter_gets_a_hint():
  """inject_hyperparams casts hyperparameters to the params' dtype: b2 = 0.999
  becomes 1.0 in bfloat16 (optax.adam then silently stops updating v)."""
  p = jnp.ones(3, jnp.bfloat16)
  tx = optax.inject_hyperparams(optax_survey.adam)(learning_rate=1e-3)
  with pytest.raises(ValueError, match=r"b2 must be in \[0.0, 1.0\), got 1.0 \(a "
                     r"bfloat16 hyperparameter: .*hyperparam_dtype=jnp.float32"):
    tx.init(p)
  tx = optax.inject_hyperparams(optax_survey.adam, hyperparam_dtype=jnp.float32)(
      learning_rate=1e-3)
  u, _ = tx.update(p, tx.init(p), p)
  assert u.dtype == jnp.bfloat16


@pytest.mark.parametrize("name", ALIASES)
def test_zero_learning_rate(name):
  if name in ("adabound", "amsbound"):
    # The bounds are final_lr * lr_t / lr_0: a zero lr_0 is refused.
    with pytest.raises(ValueError, match=r"learning_rate " + POSITIVE):
      getattr(optax_survey, name)(0.0)
  else:
    tx = getattr(optax_survey, name)(0.0)
    p = jnp.array([1.0, -2.0])
    u, _ = tx.update(jnp.array([0.5, 0.5]), tx.init(p), p)
    np.testing.assert_array_equal(u, 0.0)


def test_concrete_array_learning_rate_checks_every_element():
  with pytest.raises(ValueError, match=r"learning_rate " + NON_NEG + r", got -0.2"):
    P.apply_learning_rate(jnp.array([0.1, -0.2]))
  P.apply_learning_rate(jnp.array([0.1, 0.2]))  # fine


# ------------------------------------------------------- decay rates b1 b2 b3

BAD_DECAYS = [-0.1, 1.0, 1.5, float("nan"), jnp.asarray(1.0), np.float64(-1e-9)]


@pytest.mark.parametrize("name", aliases_with("b1"))
@pytest.mark.parametrize("bad", BAD_DECAYS)
def test_bad_b1(name, bad):
  with pytest.raises(ValueError, match=r"b1 " + DECAY):
    getattr(optax_survey, name)(b1=bad)


@pytest.mark.parametrize("name", aliases_with("b2"))
@pytest.mark.parametrize("bad", BAD_DECAYS)
def test_bad_b2(name, bad):
  with pytest.raises(ValueError, match=r"b2 " + DECAY):
    getattr(optax_survey, name)(b2=bad)


@pytest.mark.parametrize("name", aliases_with("b1"))
def test_edge_decays_accepted(name):
  getattr(optax_survey, name)(b1=0.0, b2=0.0)
  getattr(optax_survey, name)(b1=0.999, b2=0.9999)


@pytest.mark.parametrize("bad", BAD_DECAYS)
def test_bad_b3_adamod(bad):
  with pytest.raises(ValueError, match=r"b3 " + DECAY):
    optax_survey.adamod(b3=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_b3_adadb(bad):
  # AdaDB's b3 lies in [0, 1]: b3 = 1 is allowed (diffGrad-like friction).
  with pytest.raises(ValueError, match=r"b3 " + UNIT_CLOSED):
    optax_survey.adadb(b3=bad)


def test_adadb_b3_one_accepted():
  optax_survey.adadb(b3=1.0)
  P.adadb_friction(b3=1.0)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_rho_adadelta(bad):
  with pytest.raises(ValueError, match=r"rho " + DECAY):
    optax_survey.adadelta(rho=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_decay_rmsprop(bad):
  with pytest.raises(ValueError, match=r"decay " + DECAY):
    optax_survey.rmsprop(decay=bad)
  with pytest.raises(ValueError, match=r"decay " + DECAY):
    optax_survey.rmsprop(decay=bad, centered=True)


@pytest.mark.parametrize("name", ["sgdm", "nag", "rmsprop"])
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_bad_momentum(name, bad):
  with pytest.raises(ValueError, match=r"momentum " + DECAY):
    getattr(optax_survey, name)(momentum=bad)


# --------------------------------------------------------- other arguments


@pytest.mark.parametrize("name", aliases_with("eps"))
@pytest.mark.parametrize("bad", [-1e-8, -1.0, float("nan")])
def test_bad_eps(name, bad):
  with pytest.raises(ValueError, match=r"^eps " + NON_NEG):
    getattr(optax_survey, name)(eps=bad)


@pytest.mark.parametrize("name", ALIASES)
@pytest.mark.parametrize("bad", [-1e-4, -1.0, float("nan")])
def test_bad_weight_decay(name, bad):
  with pytest.raises(ValueError, match=r"weight_decay " + NON_NEG):
    getattr(optax_survey, name)(weight_decay=bad)


@pytest.mark.parametrize("name", ["adagrad", "yogi"])
def test_bad_initial_accumulator_value(name):
  with pytest.raises(ValueError, match=r"initial_accumulator_value " + NON_NEG):
    getattr(optax_survey, name)(initial_accumulator_value=-0.1)


@pytest.mark.parametrize("name", ["adabound", "amsbound"])
@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_bad_final_lr(name, bad):
  with pytest.raises(ValueError, match=r"final_lr " + POSITIVE):
    getattr(optax_survey, name)(final_lr=bad)


@pytest.mark.parametrize("name", ["adabound", "amsbound"])
def test_bad_gamma(name):
  with pytest.raises(ValueError, match=r"gamma " + NON_NEG):
    getattr(optax_survey, name)(gamma=-1e-3)


@pytest.mark.parametrize("name", ["radam", "adabelief"])
@pytest.mark.parametrize("bad", [3.99, 0.0, -5.0])
def test_bad_threshold(name, bad):
  with pytest.raises(ValueError, match=r"threshold must be >= 4"):
    getattr(optax_survey, name)(threshold=bad)
  getattr(optax_survey, name)(threshold=4.0)


def test_bad_lam():
  with pytest.raises(ValueError, match=r"lam " + NON_NEG):
    optax_survey.adadb(lam=-0.5)


# ----------------------------------------------------- state dtypes

DTYPE = r"must be None or a floating (or complex )?dtype"
BAD_DTYPES = [jnp.int32, "int8", bool, "not a dtype", 0.5, 3]


# (a complex mu_dtype is valid: the first moment of complex parameters)
@pytest.mark.parametrize("arg,bad", [
    *[("mu_dtype", bad) for bad in BAD_DTYPES],
    *[("nu_dtype", bad) for bad in BAD_DTYPES + [jnp.complex64]],
])
def test_bad_state_dtype(arg, bad):
  for name in aliases_with(arg):
    with pytest.raises(TypeError, match=r"^" + arg + " " + DTYPE):
      getattr(optax_survey, name)(**{arg: bad})


def test_nu_dtype_must_be_real_and_mu_dtype_must_match_the_params():
  with pytest.raises(TypeError, match=r"^nu_dtype must be None or a floating dtype"):
    optax_survey.adam(nu_dtype=jnp.complex64)
  tx = optax_survey.adam(mu_dtype=jnp.complex64)
  with pytest.raises(TypeError, match=r"mu_dtype=complex64 cannot store the first moment "
                     r"of float64 parameters"):
    tx.init(jnp.ones(2))
  tx = optax_survey.sgdm(mu_dtype=jnp.bfloat16)
  with pytest.raises(TypeError, match=r"mu_dtype=bfloat16 cannot store the first moment "
                     r"of complex64 parameters: pass a complex dtype or None"):
    tx.init(jnp.ones(2, jnp.complex64))


def test_bad_state_dtype_message_shows_it():
  with pytest.raises(TypeError, match=r"nu_dtype .*got int32\.$"):
    optax_survey.adam(nu_dtype=jnp.int32)
  with pytest.raises(TypeError, match=r"mu_dtype .*got 'nope'\.$"):
    optax_survey.adam(mu_dtype="nope")


@pytest.mark.parametrize("build", [
    lambda d: P.ema_first_moment(mu_dtype=d),
    lambda d: P.ema_second_moment(nu_dtype=d),
    lambda d: P.accumulate_second_moment(nu_dtype=d),
    lambda d: P.yogi_second_moment(nu_dtype=d),
    lambda d: P.belief_second_moment(nu_dtype=d),
    lambda d: P.track_max_second_moment(nu_dtype=d),
])
def test_primitive_state_dtypes(build):
  for bad in (jnp.int32, "uint8", "not a dtype"):
    with pytest.raises(TypeError, match=r"^(mu|nu)_dtype " + DTYPE):
      build(bad)
  for good in (None, jnp.bfloat16, "bfloat16", np.float16, np.dtype("float32")):
    build(good)


def test_state_dtype_aliases():
  assert set(aliases_with("mu_dtype")) == set(aliases_with("b1")) | {"sgdm", "nag", "rmsprop"}
  assert set(aliases_with("nu_dtype")) == set(aliases_with("b1")) | {
      "adagrad", "adadelta", "rmsprop"}
  # The bad dtype is named even where the stage it feeds is left out.
  with pytest.raises(TypeError, match=r"^nu_dtype " + DTYPE):
    optax_survey.adabound(amsbound=False, nu_dtype=jnp.int32)


# -------------------------------------------------------------- lookahead


@pytest.mark.parametrize("bad", [0, -1])
def test_sync_period_below_one(bad):
  with pytest.raises(ValueError, match=r"sync_period must be an integer >= 1"):
    optax_survey.lookahead(optax_survey.sgd(), sync_period=bad)


@pytest.mark.parametrize("bad", [2.5, 5.0, "5", True, jnp.asarray(5), None])
def test_sync_period_not_an_int(bad):
  with pytest.raises(TypeError, match=r"sync_period must be an integer >= 1"):
    optax_survey.lookahead(optax_survey.sgd(), sync_period=bad)


def test_sync_period_numpy_int_accepted():
  optax_survey.lookahead(optax_survey.sgd(), sync_period=np.int64(3))
  optax_survey.lookahead(optax_survey.sgd(), sync_period=1)


def test_a_traced_integer_sync_period_steps_as_the_concrete_one():
  """One vmapped program over k = 2, 3 (a search's trials) against lookahead built with
  each k as a Python integer (parity-tested against the authors' code elsewhere)."""
  grads = [jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0]), jnp.array([-1.0, 1.0]),
           jnp.array([2.0, 0.0]), jnp.array([0.3, -0.7])]

  def run(k):
    tx = optax_survey.lookahead(optax_survey.sgd(0.1), sync_period=k, slow_step_size=0.5)
    params = jnp.array([1.0, 2.0])
    state = tx.init(params)
    for g in grads:
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
    return params

  traced = jax.jit(jax.vmap(run))(jnp.array([2, 3], jnp.int32))
  for i, k in enumerate((2, 3)):
    np.testing.assert_allclose(traced[i], run(k), rtol=1e-6)


def test_a_traced_float_sync_period_is_refused():
  def build(k):
    optax_survey.lookahead(optax_survey.sgd(), sync_period=k)
    return k
  with pytest.raises(TypeError, match=r"sync_period must be an integer, got a traced float(32|64) value"):
    jax.make_jaxpr(build)(3.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_slow_step_size(bad):
  with pytest.raises(ValueError, match=r"slow_step_size " + UNIT_CLOSED):
    optax_survey.lookahead(optax_survey.sgd(), slow_step_size=bad)


def test_slow_step_size_edges_accepted():
  optax_survey.lookahead(optax_survey.sgd(), slow_step_size=0.0)
  optax_survey.lookahead(optax_survey.sgd(), slow_step_size=1.0)


@pytest.mark.parametrize("bad", ["Pullback", "", None, 1])
def test_bad_pullback_momentum(bad):
  with pytest.raises(ValueError, match=r"pullback_momentum must be one of 'none', 'reset', "
                     r"'pullback', got"):
    optax_survey.lookahead(optax_survey.sgdm(), pullback_momentum=bad)


@pytest.mark.parametrize("bad", [optax_survey.adam, optax.adam, 0.1, None])
def test_lookahead_needs_an_optimizer(bad):
  with pytest.raises(TypeError, match=r"inner must be an optimizer"):
    optax_survey.lookahead(bad)


# ------------------------------------------------------------- primitives

PRIMITIVE_CASES = [
    (lambda: P.ema_first_moment(1.0), "b1 " + DECAY),
    (lambda: P.ema_first_moment(-0.5), "b1 " + DECAY),
    (lambda: P.ema_second_moment(1.0), "b2 " + DECAY),
    (lambda: P.accumulate_second_moment(-1.0), "initial_accumulator_value " + NON_NEG),
    (lambda: P.yogi_second_moment(b2=1.0), "b2 " + DECAY),
    (lambda: P.yogi_second_moment(initial_accumulator_value=-1e-6),
     "initial_accumulator_value " + NON_NEG),
    (lambda: P.belief_second_moment(b2=1.5), "b2 " + DECAY),
    (lambda: P.belief_second_moment(eps=-1e-16), "eps " + NON_NEG),
    (lambda: P.center_second_moment(1.0), "decay " + DECAY),
    (lambda: P.bias_correction(b1=1.0), "b1 " + DECAY),
    (lambda: P.bias_correction(b2=-0.1), "b2 " + DECAY),
    (lambda: P.adaptive_step_size(eps=-1.0), "eps " + NON_NEG),
    (lambda: P.adaptive_step_size(eps_root=-1.0), "eps_root " + NON_NEG),
    (lambda: P.folded_bias_correction(b1=1.0), "b1 " + DECAY),
    (lambda: P.folded_bias_correction(b2=1.0), "b2 " + DECAY),
    (lambda: P.rectification(b2=1.0), "b2 " + DECAY),
    (lambda: P.rectification(threshold=3.0), "threshold must be >= 4"),
    (lambda: P.adadb_friction(b3=2.0), "b3 " + UNIT_CLOSED),
    (lambda: P.adadb_friction(lam=-1.0), "lam " + NON_NEG),
    (lambda: P.apply_learning_rate(-1.0), "learning_rate " + NON_NEG),
    (lambda: P.bound_step_size(-0.1), "learning_rate " + NON_NEG),
    (lambda: P.bound_step_size(0.0), "learning_rate " + POSITIVE),
    (lambda: P.bound_step_size(0.1, final_lr=0.0), "final_lr " + POSITIVE),
    (lambda: P.bound_step_size(0.1, gamma=-1.0), "gamma " + NON_NEG),
    (lambda: P.bound_step_size(0.1, base_lr=0.0), "base_lr " + POSITIVE),
    (lambda: P.momental_bound(1.0), "b3 " + DECAY),
    (lambda: P.trace_momentum(1.0), "momentum " + DECAY),
    (lambda: P.trace_momentum(-0.1, nesterov=True), "momentum " + DECAY),
    (lambda: P.delta_accumulator(rho=1.0), "rho " + DECAY),
    (lambda: P.delta_accumulator(eps=-1.0), "eps " + NON_NEG),
    (lambda: P.add_l2_penalty(-1.0), "weight_decay " + NON_NEG),
    (lambda: P.add_decoupled_weight_decay(0.1, -1.0), "weight_decay " + NON_NEG),
    (lambda: P.add_decoupled_weight_decay(-0.1, 0.1), "learning_rate " + NON_NEG),
]


@pytest.mark.parametrize("build,message", PRIMITIVE_CASES)
def test_primitive_validation(build, message):
  with pytest.raises(ValueError, match=message):
    build()


def test_primitive_type_errors():
  with pytest.raises(TypeError, match=r"b1 must be a real number, got the bool"):
    P.ema_first_moment(True)
  with pytest.raises(TypeError, match=r"b2 must be a real number"):
    P.ema_second_moment("0.9")
  with pytest.raises(TypeError, match=r"eps must be real-valued"):
    P.adaptive_step_size(eps=np.array(["x"]))


def test_bound_step_size_zero_lr_accepted_with_base_lr():
  P.bound_step_size(0.0, base_lr=0.1)
  P.bound_step_size(optax.linear_schedule(0.0, 0.1, 10), base_lr=0.1)


def test_bias_correction_none_skips_a_moment():
  P.bias_correction(None, None)
  P.bias_correction(0.9, None)


# ------------------------------------------------- traced values pass through


def _make(name, learning_rate, **kwargs):
  if name == "lookahead":
    return optax_survey.lookahead(optax_survey.adam(learning_rate, **kwargs))
  return getattr(optax_survey, name)(learning_rate, **kwargs)


ALL = ALIASES + ["lookahead"]
P0 = jnp.array([1.0, -2.0, 0.5])
G0 = jnp.array([0.3, -0.1, 0.2])


def _one_step(name, learning_rate, **kwargs):
  tx = _make(name, learning_rate, **kwargs)
  updates, _ = tx.update(G0, tx.init(P0), P0)
  return updates


@pytest.mark.parametrize("name", ALL)
def test_traced_learning_rate_under_jit_and_vmap(name):
  # make_jaxpr traces as jit does, without compiling.
  jaxpr = jax.make_jaxpr(lambda lr: _one_step(name, lr))(0.01)
  assert jaxpr.out_avals[0].shape == (3,)
  batched = jax.make_jaxpr(jax.vmap(lambda lr: _one_step(name, lr)))(jnp.ones(4) * 0.01)
  assert batched.out_avals[0].shape == (4, 3)
  # A traced negative value cannot be inspected: it is not refused either.
  jax.make_jaxpr(lambda lr: _one_step(name, lr))(-0.01)


@pytest.mark.parametrize("name", aliases_with("b1") + ["lookahead"])
def test_traced_b1_b2_under_jit_and_vmap(name):
  f = lambda lr, b1, b2: _one_step(name, lr, b1=b1, b2=b2)
  jax.make_jaxpr(f)(0.01, 0.9, 0.999)
  out = jax.make_jaxpr(jax.vmap(f, in_axes=(None, 0, None)))(
      0.01, jnp.array([0.0, 0.5, 0.9]), 0.999)
  assert out.out_avals[0].shape == (3, 3)


@pytest.mark.parametrize("name", ALL)
def test_traced_learning_rate_under_grad(name):
  def loss(lr):
    return jnp.sum(optax.apply_updates(P0, _one_step(name, lr)) ** 2)
  g = jax.grad(loss)(0.05 if name != "adadelta" else 1.0)
  assert np.isfinite(g)


@pytest.mark.parametrize("name", ALL)
def test_schedule_learning_rate_accepted(name):
  schedule = optax.linear_schedule(1e-2, 1e-3, 10)
  tx = _make(name, schedule)
  state = tx.init(P0)
  u, state = tx.update(G0, state, P0)
  assert np.all(np.isfinite(u))
  # A schedule is a callable, never treated as a number.
  tx = _make(name, lambda count: 1e-2 / (1.0 + count))
  tx.update(G0, tx.init(P0), P0)


@pytest.mark.parametrize("name", aliases_with("b1"))
def test_concrete_jax_array_hyperparameters_are_validated(name):
  with pytest.raises(ValueError, match=r"b1 " + DECAY):
    getattr(optax_survey, name)(b1=jnp.asarray(1.0))
  with pytest.raises(ValueError, match=r"learning_rate " + NON_NEG):
    getattr(optax_survey, name)(jnp.asarray(-1e-3, jnp.float32))
  with pytest.raises(ValueError, match=r"^eps " + NON_NEG):
    getattr(optax_survey, name)(eps=np.float32(-1e-8))
  getattr(optax_survey, name)(jnp.asarray(1e-3), b1=jnp.asarray(0.9))  # fine


def test_inject_hyperparams_validates_concrete_values():
  tx = optax.inject_hyperparams(optax_survey.adam)(learning_rate=0.1)
  state = tx.init(P0)
  bad = state._replace(hyperparams={**state.hyperparams, "b1": jnp.asarray(1.5)})
  with pytest.raises(ValueError, match=r"b1 " + DECAY):
    tx.update(G0, bad, P0)
  # Under jit the same hyperparameters are traced and not inspected.
  jax.jit(tx.update)(G0, state, P0)


def test_message_shows_offending_value():
  with pytest.raises(ValueError) as info:
    optax_survey.adam(b2=1.5)
  assert "b2" in str(info.value) and "1.5" in str(info.value)
  assert "[0.0, 1.0)" in str(info.value)
