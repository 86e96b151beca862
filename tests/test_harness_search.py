"""search.py and runs.run_search: the declared search spaces, the quasi-random trials
against scipy.stats.qmc itself, each trial's optimizer against one built by hand with
the sampled values, selection on the validation split alone, and a task whose best
weight decay is known in closed form."""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from blobs import make_task
from scipy.stats import qmc

import optax_survey as osv
from optax_survey.harness import Task, registry, runs, search
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.search import Range
from optax_survey.harness.tasks import get_task


def by_hand(r: Range, u: np.ndarray) -> np.ndarray:
  """A range's values at u in [0, 1), written from the definition of each scale."""
  if r.scale == "log":
    return r.low * (r.high / r.low) ** u
  if r.scale == "one_minus_log":
    return 1.0 - r.low * (r.high / r.low) ** u
  if r.scale == "linear":
    return r.low + (r.high - r.low) * u
  return np.array([min(int(r.low + x * (r.high - r.low + 1)), int(r.high)) for x in u])


@pytest.mark.parametrize("sequence, engine", [("halton", qmc.Halton), ("sobol", qmc.Sobol)])
@pytest.mark.parametrize("study", [0, 2])
def test_the_trials_are_scipys_scrambled_sequence_mapped_through_each_range(
    sequence, engine, study):
  space = search.search_space("lookahead", 1e-3, schedule="warmup_cosine")
  points = search.sample(space, 16, study=study, sequence=sequence)
  u = engine(d=len(space), scramble=True, seed=search.SEED + study).random(16)
  for i, (name, r) in enumerate(space.items()):
    np.testing.assert_allclose(points[name], by_hand(r, u[:, i]), rtol=1e-12, err_msg=name)
  other = search.sample(space, 16, study=study + 1, sequence=sequence)
  assert not np.allclose(points["lr"], other["lr"])  # another study, another scramble


@pytest.mark.parametrize("name", list(registry.OPTIMIZERS))
def test_every_declared_space_samples_inside_its_bounds_on_its_scale(name):
  assert set(search.SEARCH_SPACES[name]) <= set(registry.hyperparameters(name))
  space = search.search_space(name, 0.01, schedule="warmup_cosine")
  points = search.sample(space, 64)
  lr = space["lr"]
  assert lr.high / lr.low == pytest.approx(1e3)  # 3 decades around the centre
  for key, r in space.items():
    low, high = r.bounds()
    assert ((low <= points[key]) & (points[key] <= high)).all(), key
    assert r.source, key
    if r.scale == "int":
      assert points[key].dtype.kind == "i" and set(points[key]) == set(range(int(low),
                                                                            int(high) + 1))
    elif r.scale in ("log", "one_minus_log"):
      # log-uniform: about half the points below the geometric middle of 1 - v or v
      w = points[key] if r.scale == "log" else 1.0 - points[key]
      below = np.mean(w < math.sqrt(r.low * r.high))
      assert 0.4 < below < 0.6, (key, below)


def test_bad_spaces_and_counts_are_refused_naming_the_entry():
  with pytest.raises(BadInputError, match="search space 'b1': low must be below high"):
    search.check_space({"b1": Range(0.5, 0.1, "linear")})
  with pytest.raises(BadInputError, match="search space 'wd': a log range needs low > 0"):
    search.check_space({"wd": Range(0.0, 0.1, "log")})
  with pytest.raises(BadInputError, match="scale must be one of log, one_minus_log"):
    search.check_space({"wd": Range(0.1, 1.0, "cubic")})
  with pytest.raises(BadInputError, match="trials must be an integer >= 1, got 0"):
    search.sample({"lr": Range(0.1, 1.0, "log")}, 0)
  with pytest.raises(BadInputError, match="optimizer 'sgd' has no hyperparameter 'b1'"):
    runs.run_search(get_task("quadratic"), "sgd", space={"b1": Range(0.1, 0.5, "linear")},
                    trials=2, studies=1, steps=5, seeds=1)
  with pytest.raises(BadInputError, match="schedule must be one of constant, warmup_cosine"):
    search.search_space("adam", 1e-3, schedule="cosine")


def test_warmup_cosine_is_optaxs_schedule_with_traced_rate_and_fraction():
  steps = 40
  fractions = np.array([0.0, 0.05, 0.1, 0.25])
  lrs = np.array([0.1, 0.3, 1.0, 0.02])
  t = jnp.arange(steps + 1)
  ours = jax.jit(jax.vmap(lambda lr, w: jax.vmap(search.warmup_cosine(lr, w, steps))(t)))(
      jnp.asarray(lrs, jnp.float32), jnp.asarray(fractions, jnp.float32))
  for i, (lr, w) in enumerate(zip(lrs, fractions, strict=True)):
    theirs = optax.warmup_cosine_decay_schedule(0.0, float(lr), int(round(w * steps)), steps)
    np.testing.assert_allclose(ours[i], [float(theirs(k)) for k in range(steps + 1)],
                               rtol=1e-5, atol=1e-7)


def concrete(optimizer: str, lr: float, hp: dict, steps: int) -> optax.GradientTransformation:
  """The optimizer built by hand with Python numbers (the survey's lookahead: Adam inside);
  with a warm-up fraction, through optax's warm-up + cosine schedule from 0 (AdaBound's
  and AMSBound's bounds then measured against the peak rate, ``base_lr``)."""
  hp = {k: (int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v))
        for k, v in hp.items()}
  rate: Any = lr
  if "warmup" in hp:
    rate = optax.warmup_cosine_decay_schedule(0.0, lr, int(round(hp.pop("warmup") * steps)),
                                              steps)
    if optimizer in ("adabound", "amsbound"):
      hp["base_lr"] = lr
  if optimizer == "lookahead":
    own = {k: hp.pop(k) for k in ("sync_period", "slow_step_size")}
    return osv.lookahead(osv.adam(rate, **hp), **own)
  return getattr(osv, optimizer)(rate, **hp)


@pytest.mark.parametrize("schedule", ["constant", "warmup_cosine"])
@pytest.mark.parametrize("optimizer", list(registry.OPTIMIZERS))
def test_each_trial_steps_as_the_optimizer_built_with_its_sampled_values(optimizer, schedule):
  """Three trials of the declared space in one program (a traced value per
  hyperparameter) against each optimizer built by hand from the same values, stepped on
  the quadratic from the same start (float32 round-off); under warm-up + cosine too
  (a schedule from 0: every optimizer's steps finite, AdaBound's bounds included)."""
  task = get_task("quadratic")
  steps = 12
  space = search.search_space(optimizer, runs.centre_lr(task, optimizer, optimizer) / 10,
                              schedule=schedule)
  trials = search.sample(space, 3, study=1)
  if schedule == "warmup_cosine":  # a warm-up of 2 or 3 of the 12 steps
    trials["warmup"] = np.array([0.2, 0.25, 0.2], np.float32)
  result = runs.run_optimizer(task, optimizer, trials=trials, seeds=1, steps=steps,
                              track_path=True, schedule=schedule)
  assert np.isfinite(result.path).all()
  grad = jax.grad(lambda p: task.loss(p, None))
  for i in range(3):
    hp = {k: v[i] for k, v in trials.items() if k != "lr"}
    tx = concrete(optimizer, float(trials["lr"][i]), hp, steps)
    params = jnp.asarray(result.path[i, 0, 0], jnp.float32)
    state = tx.init(params)
    for step in range(steps):
      updates, state = tx.update(grad(params), state, params)
      params = optax.apply_updates(params, updates)
      np.testing.assert_allclose(result.path[i, 0, step + 1], params, rtol=2e-5, atol=1e-6,
                                 err_msg=f"{optimizer} trial {i} step {step + 1}: {hp}")
  np.testing.assert_array_equal(result.lrs, trials["lr"])
  assert set(result.hparams) == set(trials) - {"lr"}


def test_a_search_selects_on_the_validation_split_alone():
  """The test split NaN everywhere: the same trials selected, the same reruns."""
  found = runs.run_search(make_task(), "adam", trials=5, studies=2, steps=30, seeds=2)
  poisoned = runs.run_search(make_task(poison_test=True), "adam", trials=5, studies=2,
                             steps=30, seeds=2)
  assert poisoned.selected == found.selected
  np.testing.assert_array_equal(poisoned.rerun.lrs, found.rerun.lrs)
  np.testing.assert_allclose(poisoned.rerun.val_metrics["log_loss"],
                             found.rerun.val_metrics["log_loss"])
  assert np.isnan(poisoned.rerun.metrics["log_loss"][..., -1]).all()
  # a trial is one run (seed 0); the reruns are the tuned budget's fresh seeds 2 and 3
  assert found.grid.final_values("log_loss").shape == (10, 1)
  assert (found.rerun.seed_offset, found.rerun.seeds) == (2, 2)


def test_trials_on_several_seeds_are_selected_by_their_mean_and_rerun_on_fresh_ones():
  """trial_seeds=3, seeds=2: each trial trains on seeds 0-2, the selection is NumPy's
  best mean over them on the validation split, the reruns start at seed 3."""
  found = runs.run_search(make_task(), "adam", trials=4, studies=2, steps=30, seeds=2,
                          trial_seeds=3)
  val = found.grid.final_values("log_loss", split="validation")
  assert val.shape == (8, 3) and found.grid.seed_offset == 0
  for s in range(2):
    assert found.selected[s] == int(np.argmin(val[s * 4:(s + 1) * 4].mean(axis=1)))
  assert (found.rerun.seed_offset, found.rerun.seeds) == (3, 2)
  with pytest.raises(BadInputError, match="trial_seeds must be a positive integer, got 0"):
    runs.run_search(make_task(), "adam", trials=2, studies=1, steps=5, trial_seeds=0)


def decay_task(a: float, b: float) -> Task:
  """Training loss 0.5 |w - a|^2, validation loss 0.5 |w - b|^2 (b < a): SGD with L2
  weight decay l settles at w = a / (1 + l), so the best decay is l* = a / b - 1."""
  a_vec, b_vec = jnp.full((3,), a), jnp.full((3,), b)

  def loss(w, batch):
    return 0.5 * jnp.sum((w - a_vec) ** 2)

  return Task(name="decay", init_params=lambda key, seed: jnp.zeros(3), loss=loss,
              sample_batch=None, validate=lambda w: {"loss": 0.5 * jnp.sum((w - b_vec) ** 2)},
              evaluate=lambda w: {"loss": 0.5 * jnp.sum((w - b_vec) ** 2)}, metric="loss",
              mode="min", steps=200, seeds=1, eval_points=2, deterministic=True)


def test_the_search_finds_a_weight_decay_known_in_closed_form():
  """The selected decay is the sampled one whose fixed point a / (1 + l) is nearest b (a
  NumPy oracle), within the sampled points' resolution of l* = a / b - 1."""
  a, b = 2.0, 1.6
  best = a / b - 1.0  # 0.25
  space = {"lr": Range(0.3, 0.6, "log"), "weight_decay": Range(best / 10, best * 10, "log")}
  found = runs.run_search(decay_task(a, b), "sgd", space=space, trials=15, studies=3,
                          steps=200, seeds=1)
  decays = found.grid.hparams["weight_decay"].reshape(3, 15)
  for s in range(3):
    closed_form = 0.5 * 3 * (a / (1 + decays[s]) - b) ** 2
    assert found.selected[s] == int(np.argmin(closed_form))
    chosen = decays[s][found.selected[s]]
    gaps = np.diff(np.sort(np.log(decays[s])))
    assert abs(math.log(chosen / best)) <= gaps.max(), (chosen, best)
    np.testing.assert_allclose(found.rerun.hparams["weight_decay"][s], chosen)


def test_compare_reports_the_median_study_with_every_study_beside_it(tmp_path):
  """The search budget's entry against NumPy on the reruns it reports: the median of the
  studies' means over seeds, each study's mean beside it; kept and resumed as it is."""
  from optax_survey.harness import compare

  kwargs = dict(budget="search", trials=4, studies=3, seeds=2, steps=30, progress=False,
                plot=False)
  result = compare(make_task(), ["sgd", "adam"], out=str(tmp_path), **kwargs)
  for name in ("sgd", "adam"):
    entry = result.entry(name, "search")
    finals = result.reruns[name].final_values("log_loss")  # [studies, seeds]
    means = finals.mean(axis=1)
    np.testing.assert_allclose(entry.study_means, means)
    assert entry.ci.mean == pytest.approx(np.median(means))
    study = int(np.argmin(np.abs(means - np.median(means))))
    assert entry.lr == result.reruns[name].lrs[study]
    assert entry.hparams == {k: pytest.approx(float(v[study]))
                             for k, v in result.reruns[name].hparams.items()}
    assert result.tuned_run(name).final_values("log_loss")[0].tolist() == list(entry.values)
  assert "3 studies (range)" in result.table()
  assert "search: each study's best trial of a quasi-random search (on validation)" in (
      result.summary()) and "tuned:" not in result.summary()
  again = compare(make_task(), ["sgd", "adam"], out=str(tmp_path), resume=True, **kwargs)
  assert again.entries == result.entries
  with pytest.raises(BadInputError, match="was made with search="):
    compare(make_task(), ["sgd", "adam"], out=str(tmp_path), resume=True,
            **{**kwargs, "trials": 5})
  with pytest.raises(BadInputError, match="trials, studies set the search budget"):
    compare(make_task(), ["sgd"], trials=4, studies=2, progress=False)
  with pytest.raises(BadInputError, match="space names 'adamw', which is not among"):
    compare(make_task(), ["sgd"], budget="search", space={"adamw": {}}, progress=False)


def first_reach(curve, eval_steps, target):
  """A NumPy count: the first evaluated step with a loss at most ``target``, else inf."""
  for value, step in zip(curve, eval_steps, strict=True):
    if value <= target:
      return float(step)
  return math.inf


def test_time_to_target_selects_the_fastest_trial_and_reports_its_steps():
  """select="time-to-target" against NumPy on the grid's validation curves: per study,
  the trial whose seeds all reach the target in the fewest mean steps; the entry's steps
  to target are counted on the rerun's validation curves; a miss stays inf."""
  from optax_survey.harness import compare
  from optax_survey.harness.protocol import search_entry

  task = make_task(target=0.62, eval_points=10)
  found = runs.run_search(task, "adam", trials=6, studies=2, steps=60, seeds=2,
                          trial_seeds=2, select="time-to-target")
  curves = found.grid.val_metrics["log_loss"]  # [studies * trials, seeds, E]
  steps = np.array([[first_reach(curves[i, j], found.grid.eval_steps, 0.62)
                     for j in range(2)] for i in range(12)])
  for s in range(2):
    mine = steps[s * 6:(s + 1) * 6]
    ok = np.isfinite(mine).all(axis=1)
    assert ok.any()  # the target is reachable here: the rule is exercised
    means = np.where(ok, np.where(ok[:, None], mine, 0).mean(axis=1), np.inf)
    assert means[found.selected[s]] == means.min()
  entry = search_entry(task, "adam", found)
  study = found.rerun.lrs.index(entry.lr)
  assert entry.steps_to_target == tuple(
      first_reach(found.rerun.val_metrics["log_loss"][study, j], found.rerun.eval_steps,
                  0.62) for j in range(2))
  assert "fewest steps to target" in entry.selected_on
  result = compare(task, ["adam"], budget="search", trials=6, studies=2, seeds=2, steps=60,
                   select="time-to-target", progress=False)
  assert "steps to validation log_loss <= 0.62" in result.table()
  with pytest.raises(BadInputError, match="select='time-to-target' needs a target"):
    runs.run_search(make_task(), "adam", trials=2, studies=1, steps=5, seeds=1,
                    select="time-to-target")


def test_a_factory_is_searched_over_its_rate_alone_and_refuses_more():
  """optax.lion (a factory of the rate): its trials are rates from the rate's range,
  with the warm-up fraction under a schedule; a space with another hyperparameter is
  refused before training."""
  found = runs.run_search(make_task(), optax.lion, trials=3, studies=1, steps=20, seeds=1,
                          schedule="warmup_cosine")
  assert list(found.space) == ["lr", "warmup"] and set(found.grid.hparams) == {"warmup"}
  low, high = found.space["lr"].bounds()
  assert all(low <= lr <= high for lr in found.grid.lrs)
  with pytest.raises(BadInputError, match="'lion' is a function of the learning rate alone"):
    runs.run_search(make_task(), optax.lion, space={"b1": Range(0.1, 0.5, "linear")},
                    trials=2, studies=1, steps=5, seeds=1)


# Successive halving (pruner="halving"): 40 steps evaluated every 4, so with reduction 2
# the rungs are at the ends of intervals 1, 2, 5 and 10 (steps 4, 8, 20, 40); 7 trials a
# study on 2 seeds each.
HALVING = dict(trials=7, studies=2, steps=40, seeds=2, trial_seeds=2)


def halving_task(**overrides):
  return make_task(eval_points=10, **overrides)


@pytest.fixture(scope="module")
def halving():
  """The unpruned search (the oracle: pruning must not change the survivors' training),
  the same search pruned, and pruned again with the test split poisoned with NaN."""
  full = runs.run_search(halving_task(), "adam", **HALVING)
  pruned = runs.run_search(halving_task(), "adam", pruner="halving", reduction=2, **HALVING)
  poisoned = runs.run_search(halving_task(poison_test=True), "adam", pruner="halving",
                             reduction=2, **HALVING)
  return full, pruned, poisoned


def survivors_by_hand(val: np.ndarray, eval_steps, rung_steps, trials: int,
                      reduction: int) -> dict:
  """From the unpruned search's validation curves ``[trials, seeds, E]``: each trial's
  stop, by the definition (at each rung each study's best ceil(k / reduction) of its k
  trials, best mean over seeds, a NaN mean last, go on; the others stop there)."""
  stop = {}
  for study in range(len(val) // trials):
    alive = list(range(study * trials, (study + 1) * trials))
    for step in rung_steps[:-1]:
      at = list(eval_steps).index(step)
      means = np.array([val[i, :, at].mean() for i in alive])
      means = np.where(np.isnan(means), np.inf, means)  # log loss: lower is better
      kept = [alive[j] for j in np.argsort(means, kind="stable")[:-(-len(alive) // reduction)]]
      stop.update({i: step for i in alive if i not in kept})
      alive = sorted(kept)
    stop.update({i: rung_steps[-1] for i in alive})
  return stop


def test_halving_survivors_train_as_in_the_unpruned_search_and_stop_at_their_rung(halving):
  full, pruned, _ = halving
  assert runs.halving_rungs(7, 40, 10, 2) == [(7, 4), (4, 8), (2, 20), (1, 40)]
  stop = pruned.grid.stopped
  assert sorted(set(stop.tolist())) == [4, 8, 20, 40]
  for i, s in enumerate(stop):
    at = list(full.grid.eval_steps).index(s)
    for curves, oracle in ((pruned.grid.val_metrics, full.grid.val_metrics),
                           (pruned.grid.metrics, full.grid.metrics)):
      for key in ("log_loss", "acc"):
        np.testing.assert_allclose(curves[key][i, :, :at + 1], oracle[key][i, :, :at + 1],
                                   rtol=1e-5, atol=1e-6, err_msg=f"trial {i} {key}")
        assert np.isnan(curves[key][i, :, at + 1:]).all()
    np.testing.assert_allclose(pruned.grid.loss[i, :, :s], full.grid.loss[i, :, :s],
                               rtol=1e-5, atol=1e-6)
    assert np.isnan(pruned.grid.loss[i, :, s:]).all()
  np.testing.assert_array_equal(pruned.grid.stop_values("log_loss")[stop == 40],
                                pruned.grid.final_values("log_loss")[stop == 40])


def test_halving_keeps_numpys_top_k_at_each_rung_and_selects_among_the_full_runs(halving):
  full, pruned, _ = halving
  stop = survivors_by_hand(full.grid.val_metrics["log_loss"], full.grid.eval_steps,
                           [4, 8, 20, 40], trials=7, reduction=2)
  assert pruned.grid.stopped.tolist() == [stop[i] for i in range(14)]
  finals = full.grid.final_values("log_loss", split="validation").mean(axis=1)
  for s in range(2):
    whole = [i for i in range(s * 7, (s + 1) * 7) if stop[i] == 40]
    assert pruned.selected[s] == whole[int(np.argmin(finals[whole]))] - s * 7
  assert (pruned.pruner, pruned.reduction, full.pruner, full.grid.stopped) == (
      "halving", 2, None, None)


def test_halving_never_reads_the_test_split(halving):
  _, pruned, poisoned = halving
  np.testing.assert_array_equal(poisoned.grid.stopped, pruned.grid.stopped)
  assert poisoned.selected == pruned.selected
  np.testing.assert_allclose(poisoned.grid.val_metrics["log_loss"],
                             pruned.grid.val_metrics["log_loss"])
  assert np.isnan(poisoned.grid.metrics["log_loss"][..., 1:]).all()


def test_halving_counts_the_run_steps_of_its_rung_schedule(halving):
  """Each study: 7 trials to step 4, 4 more steps for 4 of them, 12 for 2, 20 for 1; two
  seeds a trial, two studies (a count by hand of halving_rungs' schedule)."""
  full, pruned, _ = halving
  rungs = np.array([4, 8, 20, 40])
  alive = np.array([7, 4, 2, 1])
  by_hand = 2 * 2 * int(np.sum(alive * np.diff(rungs, prepend=0)))
  assert pruned.run_steps() == (by_hand, 2 * 7 * 2 * 40) == (2 * 2 * 88, 1120)
  assert full.run_steps() == (1120, 1120)
  assert 2 * int(pruned.grid.stopped.sum()) == by_hand
  assert runs.halving_rungs(15, 400, 10) == [(15, 40), (5, 120), (2, 400)]
  assert runs.halving_rungs(9, 7, 10, 2) == [(9, 1), (5, 3), (3, 7)]  # 7 intervals of 1


class Refuse:
  """A progress bar that fails the test if any run-step trains."""

  def update(self, n):
    raise AssertionError("trained before refusing")


@pytest.mark.parametrize("kwargs, argument, match", [
    (dict(pruner="hyperband"), "pruner", "pruner must be None or one of halving, got "
                                         "'hyperband'"),
    (dict(pruner="halving", reduction=1), "reduction", "reduction must be an integer >= 2, "
                                                       "got 1"),
    (dict(reduction=2), "reduction", "reduction is the halving pruner's: pass "
                                     "pruner='halving' "
                                     r"\(--pruner halving\) too"),
    (dict(pruner="halving", steps=2), "pruner", "pruner='halving' needs at least 2 rungs at "
                                                "the task's evaluations: its 2 evaluation "
                                                "intervals of 1 step "),
    (dict(pruner="halving", reduction=11), "pruner", "hold 1 with reduction=11"),
])
def test_halving_bad_input_is_refused_before_training(kwargs, argument, match):
  with pytest.raises(BadInputError, match=match) as info:
    runs.run_search(halving_task(), "adam", **{"trials": 3, "studies": 1, "steps": 40,
                                               "seeds": 1, "progress": Refuse(), **kwargs})
  assert info.value.argument == argument
  with pytest.raises(TypeError, match="reduction must be an integer >= 2, got float"):
    runs.check_pruner("halving", 2.0)


def test_an_interrupted_pruned_search_resumes_to_the_uninterrupted_one(tmp_path, halving):
  """Stopped (as SIGTERM does) inside rung 3 (steps 8 to 20, three calls), each rung a
  checkpointed phase: resumed from the kept rungs 1 and 2 and the checkpoint of rung 3, it
  ends as the uninterrupted search."""
  import functools

  from optax_survey.harness import checkpoints

  _, pruned, _ = halving
  two_rungs = 2 * 2 * (7 * 4 + 4 * 4)  # run-steps

  class StopInRung3:
    done = 0

    def update(self, n):
      self.done += n
      if self.done > two_rungs:
        folder.stop.signal = "SIGTERM"

  def search(folder, progress=None):
    keep = functools.partial(folder.keeper, "adam", meta={"call": "halving"})
    return runs.run_search(halving_task(), "adam", pruner="halving", reduction=2,
                           execution=runs.Execution(keep=keep), progress=progress,
                           **HALVING)

  folder = checkpoints.RunsFolder(str(tmp_path), resume=False, every=0.0)
  stopped = r"adam \(rung 3 of 4\): stopped in batch 1 of 1 after 12 of 40 steps"
  with pytest.raises(checkpoints.Interrupted, match=stopped):
    search(folder, StopInRung3())
  kept = tmp_path / "adam.partial"
  assert (kept / "rung2" / "complete.npz").exists() and (kept / "rung3" / "state.npz").exists()
  again = search(checkpoints.RunsFolder(str(tmp_path), resume=True))
  assert again.selected == pruned.selected
  np.testing.assert_array_equal(again.grid.stopped, pruned.grid.stopped)
  np.testing.assert_allclose(again.grid.val_metrics["log_loss"],
                             pruned.grid.val_metrics["log_loss"], rtol=1e-6)
  np.testing.assert_allclose(again.rerun.metrics["log_loss"], pruned.rerun.metrics["log_loss"],
                             rtol=1e-6)


def test_compare_keeps_resumes_and_refuses_a_pruned_search(tmp_path):
  """compare(pruner="halving"): the trials' stops kept with the runs and resumed as they
  were; the pruner is part of what made them (a resume without it is refused); the
  progress bar's total is the by-hand count; bad settings are refused before training."""
  from optax_survey.harness import compare
  from optax_survey.harness.protocol import search_run_steps

  kwargs = dict(budget="search", trials=7, studies=2, trial_seeds=2, seeds=2, steps=40,
                progress=False, plot=False, pruner="halving", reduction=2)
  result = compare(halving_task(), ["adam"], out=str(tmp_path), **kwargs)
  stopped = result.grid["adam"].stopped
  assert sorted(set(stopped.tolist())) == [4, 8, 20, 40]
  again = compare(halving_task(), ["adam"], out=str(tmp_path), resume=True, **kwargs)
  assert again.entries == result.entries
  np.testing.assert_array_equal(again.grid["adam"].stopped, stopped)
  settings = {k: kwargs[k] for k in ("trials", "studies", "trial_seeds", "pruner",
                                     "reduction")}
  assert search_run_steps(halving_task(), settings, steps=40, seeds=2) == 352 + 2 * 2 * 40
  with pytest.raises(BadInputError, match="was made with search="):
    compare(halving_task(), ["adam"], out=str(tmp_path), resume=True,
            **{**kwargs, "pruner": None, "reduction": 3})
  with pytest.raises(BadInputError, match="pruner set the search budget"):
    compare(halving_task(), ["adam"], pruner="halving", progress=False)
  with pytest.raises(BadInputError, match="pruner must be None or one of halving, got 'asha'"):
    compare(halving_task(), ["adam"], budget="search", pruner="asha", progress=False)
  with pytest.raises(BadInputError, match="needs at least 2 rungs"):
    compare(halving_task(), ["adam"], budget="search", pruner="halving", steps=2,
            progress=False)
