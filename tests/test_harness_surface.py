"""harness/surface.py against oracles of its own: the training against a hand loop with
optax, every line, slice and sharpness against the loss computed in NumPy at the points
(or jax.hessian's eigenvalues) on a tiny network of 21 parameters, the objective of each
kind of task, a stateful model's state, and the JSON against the numbers."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from optax_survey.harness import Task, training
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.surface import LINE_ALPHAS, loss_surface

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 3)).astype(np.float32)
Y = np.sin(X.sum(axis=1)).astype(np.float32)


def init_params(key, seed):
  k1, k2 = jax.random.split(key)
  return {"w1": 0.5 * jax.random.normal(k1, (3, 4)), "b1": jnp.zeros(4),
          "w2": 0.5 * jax.random.normal(k2, (4, 1)), "b2": jnp.zeros(1)}


def jax_loss(p, x=X, y=Y):
  out = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
  return jnp.mean((out[:, 0] - y) ** 2)


def numpy_loss(p, x=X, y=Y, shift=0.0):
  p = {k: np.asarray(v, np.float64) for k, v in p.items()}
  out = np.tanh(x.astype(np.float64) @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
  return float(np.mean((out[:, 0] - y - shift) ** 2))


def tiny_task(**overrides):
  """A 3-4-1 tanh network (21 parameters) fitting sin(x1 + x2 + x3) on 16 fixed points,
  full batch."""
  fields = dict(name="tiny", init_params=init_params, loss=lambda p, batch: jax_loss(p),
                evaluate=lambda p: {"loss": jax_loss(p)}, metric="loss", mode="min",
                held_out=False, steps=20, seeds=1)
  fields.update(overrides)
  return Task(**fields)


def combine(*terms):
  """``sum_i c_i t_i`` of parameter trees given as ``(c_i, t_i)``."""
  return {k: sum(c * np.asarray(t[k], np.float64) for c, t in terms) for k in terms[0][1]}


def at(alpha):
  return int(np.flatnonzero(LINE_ALPHAS == alpha)[0])


@pytest.fixture(scope="module")
def surface():
  # chunk 7: the lines' 41 points and the slices' 25 in chunks, the last one shorter
  return loss_surface(tiny_task(), ["sgd", "adam"], lrs={"sgd": 0.1, "adam": 0.02}, steps=20,
                      points=5, span=0.5, sharpness_iterations=30, chunk=7)


def test_the_final_parameters_are_a_hand_loop_of_optax_and_the_harness_replay(surface):
  params = training.initial_params(tiny_task(), 0)
  tx = optax.sgd(0.1)
  state = tx.init(params)
  for _ in range(20):
    updates, state = tx.update(jax.grad(jax_loss)(params), state)
    params = optax.apply_updates(params, updates)
  for k in params:
    np.testing.assert_allclose(surface.final_params[0][k], params[k], rtol=1e-5, atol=1e-7)
  adam = training.replay(tiny_task(), "adam", 0.02, steps=20, seeds=1,
                         last=lambda step: step.new_params)
  for k in params:
    np.testing.assert_array_equal(surface.final_params[1][k], adam[k][0])
  assert surface.lrs == (0.1, 0.02) and surface.steps == 20


def test_the_lines_are_the_loss_at_their_points(surface):
  start = surface.initial_params
  for k, final in enumerate(surface.final_params):
    assert surface.lines[k, at(0.0)] == pytest.approx(numpy_loss(start), rel=1e-5)
    assert surface.lines[k, at(1.0)] == pytest.approx(numpy_loss(final), rel=1e-5)
    for alpha in (-0.5, 0.25, 1.5):
      point = combine((1 - alpha, start), (alpha, final))
      assert surface.lines[k, at(alpha)] == pytest.approx(numpy_loss(point), rel=1e-5)
  a, b = surface.final_params
  assert surface.pairs == (("sgd", "adam"),)
  for alpha in (0.0, 0.5, 1.0):
    expected = numpy_loss(combine((1 - alpha, a), (alpha, b)))
    assert surface.between[0, at(alpha)] == pytest.approx(expected, rel=1e-5)
  inside = (LINE_ALPHAS >= 0) & (LINE_ALPHAS <= 1)
  chord = ((1 - LINE_ALPHAS) * surface.between[0, at(0.0)]
           + LINE_ALPHAS * surface.between[0, at(1.0)])
  assert surface.barriers[0] == pytest.approx(np.max((surface.between[0] - chord)[inside]))


def test_each_slice_is_the_loss_at_its_grid_points_around_the_final_point(surface):
  c = surface.coordinates
  np.testing.assert_allclose(c, [-0.5, -0.25, 0.0, 0.25, 0.5])
  for k, final in enumerate(surface.final_params):
    d1, d2 = surface.slice_directions[k]
    assert surface.planes[k, 2, 2] == pytest.approx(numpy_loss(final), rel=1e-5)
    assert surface.final_loss[k] == surface.planes[k, 2, 2]
    for i, j in [(0, 0), (0, 4), (4, 1), (3, 2)]:  # row i is y = c[i], column j is x = c[j]
      point = combine((1.0, final), (c[j], d1), (c[i], d2))
      assert surface.planes[k, i, j] == pytest.approx(numpy_loss(point), rel=1e-5), (k, i, j)


def test_the_directions_are_filter_normalised_and_the_same_draw_for_every_optimizer(surface):
  unit = []
  for final, (d1, d2) in zip(surface.final_params, surface.slice_directions, strict=True):
    for d in (d1, d2):
      for name in ("w1", "w2"):  # [in, out]: a filter is a column
        np.testing.assert_allclose(np.linalg.norm(d[name], axis=0),
                                   np.linalg.norm(final[name], axis=0), rtol=1e-5)
      for name in ("b1", "b2"):
        np.testing.assert_array_equal(d[name], 0.0)
    unit.append(d1["w1"] / np.linalg.norm(d1["w1"], axis=0))
  np.testing.assert_allclose(unit[0], unit[1], rtol=1e-5)  # one draw, each scaled to its θ
  d1, d2 = surface.slice_directions[0]
  assert not np.allclose(d1["w1"], d2["w1"])
  assert "filter-normalised" in surface.directions


def test_the_sharpness_is_the_largest_eigenvalue_of_the_hessian(surface):
  for k, final in enumerate(surface.final_params):
    flat, unravel = ravel_pytree({n: jnp.asarray(v, jnp.float64) for n, v in final.items()})
    assert flat.shape == (21,)
    hessian = jax.hessian(lambda v, unravel=unravel: jax_loss(
        unravel(v), X.astype(np.float64), Y.astype(np.float64)))(flat)
    expected = np.linalg.eigvalsh(np.asarray(hessian))[-1]
    assert surface.sharpness[k] == pytest.approx(expected, rel=1e-4)


def test_the_surface_is_the_loss_on_the_minimas_fixed_training_batches():
  """With data, the surface is the training loss averaged over minima.HESSIAN_BATCHES
  batches, batch t drawn with key t of split(PRNGKey(0)) (the minima's objective, whose
  sharpness the results page reports), whether or not the task has evaluate_train."""
  from optax_survey.harness.analysis import minima

  def sample_batch(key, t):
    idx = jax.random.randint(key, (4,), 0, 16)
    return jnp.asarray(X)[idx], jnp.asarray(Y)[idx]

  task = tiny_task(loss=lambda p, batch: jax_loss(p, *batch), sample_batch=sample_batch,
                   evaluate_train=lambda p: {"loss": jax_loss(p) + 10.0})
  surface = loss_surface(task, ["sgd"], steps=5, points=3)
  keys = jax.random.split(jax.random.PRNGKey(0), minima.HESSIAN_BATCHES)
  batches = [sample_batch(k, jnp.int32(t)) for t, k in enumerate(keys)]
  expected = np.mean([numpy_loss(surface.final_params[0], np.asarray(x), np.asarray(y))
                      for x, y in batches])
  assert surface.final_loss[0] == pytest.approx(expected, rel=1e-5)
  assert f"{minima.HESSIAN_BATCHES} fixed training batches" in surface.objective


def test_a_stateful_model_is_measured_with_its_runs_state():
  # the state: a running mean of the residual (a float) and a step count (an int)
  def loss(p, batch, state):
    out = jnp.tanh(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    residual = out[:, 0] - Y
    new = {"shift": 0.9 * state["shift"] + 0.1 * jax.lax.stop_gradient(residual.mean()),
           "count": state["count"] + 1}
    return jnp.mean((residual - state["shift"]) ** 2), new

  def train_metrics(p, state):
    out = jnp.tanh(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return {"loss": jnp.mean((out[:, 0] - Y - state["shift"]) ** 2)}

  task = tiny_task(init_state=lambda key, seed: {"shift": jnp.float32(0.5),
                                                 "count": jnp.int32(0)},
                   loss=loss, evaluate=train_metrics, evaluate_train=train_metrics)
  surface = loss_surface(task, ["sgd", "adam"], steps=7, points=3)
  states = training.replay(task, "sgd", task.lr_for("sgd"), steps=7, seeds=1,
                           last=lambda step: step.model_state)
  shift = float(states["shift"][0])
  assert int(surface.final_states[0]["count"]) == 7 and shift != 0.5
  assert float(surface.final_states[0]["shift"]) == shift
  final = surface.final_params[0]
  assert surface.final_loss[0] == pytest.approx(numpy_loss(final, shift=shift), rel=1e-5)
  # the line interpolates the state with the parameters: 0.5 at the start
  start = surface.initial_params
  assert surface.lines[0, at(0.0)] == pytest.approx(numpy_loss(start, shift=0.5), rel=1e-5)
  middle = combine((0.5, start), (0.5, final))
  assert surface.lines[0, at(0.5)] == pytest.approx(
      numpy_loss(middle, shift=0.5 * (0.5 + shift)), rel=1e-5)


def test_the_json_holds_the_numbers_and_the_figures_are_written(tmp_path):
  surface = loss_surface(tiny_task(), ["sgd", "adam"], steps=5, points=3, out=str(tmp_path))
  names = sorted(p.rpartition("/")[2] for p in surface.written)
  assert names == ["landscape_tiny.json", "landscape_tiny_lines.png",
                   "landscape_tiny_planes.png"]
  data = json.loads((tmp_path / "landscape_tiny.json").read_text())
  for k, entry in enumerate(data["optimizers"]):
    assert entry["sharpness"] == float(surface.sharpness[k])
    assert entry["final_loss"] == float(surface.planes[k, 1, 1])
    assert entry["initial_loss"] == pytest.approx(numpy_loss(surface.initial_params),
                                                  rel=1e-5)
    assert data["planes"][entry["name"]] == surface.planes[k].tolist()
    assert data["lines"][entry["name"]] == surface.lines[k].tolist()
  assert data["between"][0]["from"] == "sgd" and data["between"][0]["to"] == "adam"
  assert data["between"][0]["loss"] == surface.between[0].tolist()
  assert data["alphas"] == LINE_ALPHAS.tolist()
  for name in names[1:]:
    assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.parametrize("kwargs, words", [
    (dict(points=4), "odd integer >= 3"),
    (dict(points=0), "positive integer"),
    (dict(lrs={"adamw": 0.1}), "'adamw' is not one of the optimizers"),
    (dict(lrs={"sgd": "fast"}), "'sgd=fast' is not a positive finite"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(span=0.0), "span must be a number > 0"),
    (dict(steps=0), "steps must be a positive integer"),
    (dict(chunk=0), "chunk must be a positive integer"),
])
def test_bad_input_is_refused_before_any_training(kwargs, words):
  def never(key, seed):
    raise AssertionError("the task was built or traced")

  with pytest.raises(BadInputError, match=words):
    loss_surface(tiny_task(init_params=never), ["sgd", "adam"], **kwargs)


def test_a_failed_call_leaves_no_empty_folder(tmp_path):
  out = tmp_path / "new" / "landscape"
  log_loss = tiny_task(loss=lambda p, batch: jnp.sum(jnp.log(-jnp.abs(p["b2"]))))
  with pytest.raises(ValueError, match="loss is"):
    loss_surface(log_loss, ["sgd"], out=str(out))
  assert not (tmp_path / "new").exists()


def test_the_mnist1d_cnns_directions_normalise_torch_convolutions_on_their_output_axis():
  from optax_survey.harness.surface import slice_directions
  from optax_survey.harness.tasks import get_task

  task = get_task("mnist1d-cnn")
  params = training.initial_params(task, 0)
  d1, _, _ = slice_directions(params, key=jax.random.PRNGKey(0),
                              filter_axis=task.extra["filter_axis"])
  for name in ("conv1", "conv2", "conv3"):  # [out, in, k]: a filter is a slice on axis 0
    w, d = np.asarray(params[name]["w"]), np.asarray(d1[name]["w"])
    np.testing.assert_allclose(np.linalg.norm(d.reshape(len(d), -1), axis=1),
                               np.linalg.norm(w.reshape(len(w), -1), axis=1), rtol=1e-5)
    np.testing.assert_array_equal(d1[name]["b"], 0.0)
  w, d = np.asarray(params["linear"]["w"]), np.asarray(d1["linear"]["w"])  # [in, out]
  np.testing.assert_allclose(np.linalg.norm(d, axis=0), np.linalg.norm(w, axis=0), rtol=1e-5)
