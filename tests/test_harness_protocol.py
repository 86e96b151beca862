"""The comparison protocol of the harness (issue 10), against independent oracles.

* the bootstrap interval against the exact bootstrap distribution (all n^n
  resamples enumerated) and its coverage on synthetic normal data;
* the verdict rule, ranks with ties, the performance profile and selection on
  synthetic results whose right answer is known; Kendall's tau against SciPy;
* split hygiene: the learning rate selected on a task whose test split is
  poisoned with NaN is the one selected on the clean task;
* a malformed task fails before any training with a one-line error, in the
  library and on the command line;
* the committed results page is exactly what its committed JSON renders.
"""

import itertools
import json
import math
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness import Task, compare, training
from optax_survey.harness.analysis import stats
from optax_survey.harness.errors import TaskError
from optax_survey.harness.protocol import default_grid
from optax_survey.harness.render import report
from optax_survey.harness.tasks import check_task

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FOREVER = 10**9  # a step count no test could finish: a check after training would hang


# ------------------------------------------------------------------ intervals


def exact_bootstrap_quantiles(x, level=0.95):
  """The percentile interval of the exact bootstrap distribution of the mean: every
  one of the n^n equally likely resamples, enumerated."""
  means = np.sort([np.mean(c) for c in itertools.product(x, repeat=len(x))])
  return np.quantile(means, [(1 - level) / 2, (1 + level) / 2])


def test_bootstrap_interval_is_the_exact_bootstrap_percentile_interval():
  x = np.array([0.91, 0.95, 0.96, 0.99, 1.02])
  lo, hi = exact_bootstrap_quantiles(x)
  iv = stats.bootstrap_ci(x, n_boot=200_000)
  assert iv.mean == pytest.approx(x.mean(), abs=1e-15)
  width = hi - lo
  assert iv.lo == pytest.approx(lo, abs=0.02 * width)
  assert iv.hi == pytest.approx(hi, abs=0.02 * width)
  # the default (2000 resamples) is within a few percent of the exact interval, and
  # the same numbers always give the same interval (fixed generator)
  default = stats.bootstrap_ci(x)
  assert default == stats.bootstrap_ci(list(x))
  assert default.lo == pytest.approx(lo, abs=0.1 * width)
  assert default.hi == pytest.approx(hi, abs=0.1 * width)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
  rng = np.random.default_rng(1)
  hits = 0
  trials = 400
  for _ in range(trials):
    sample = rng.normal(3.0, 2.0, size=30)
    iv = stats.bootstrap_ci(sample, n_boot=1000, seed=int(rng.integers(1 << 30)))
    hits += iv.lo <= 3.0 <= iv.hi
  assert 0.89 <= hits / trials <= 0.985, hits / trials


def test_bootstrap_interval_of_equal_and_of_diverged_seeds():
  assert stats.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
  assert all(math.isnan(v) for v in stats.bootstrap_ci([0.5, float("nan"), 0.4]))
  with pytest.raises(ValueError, match="level"):
    stats.bootstrap_ci([1.0, 2.0], level=95)


def test_an_interval_is_printed_with_enough_digits_to_show_its_width():
  # the old page printed "0.964 ± 0.0" for a seed std of 0.008
  def parse(text):
    return [float(v) for v in text.replace("[", "").replace(",", "").replace("]", "").split()]

  text = report.fmt_interval(stats.Interval(0.9641, 0.9572, 0.9703))
  mean, lo, hi = parse(text)
  assert lo != hi and lo < mean < hi
  assert abs(lo - 0.9572) < 5e-4 and abs(hi - 0.9703) < 5e-4
  mean, lo, hi = parse(report.fmt_interval(stats.Interval(2.0e-9, 1.97e-9, 2.04e-9)))
  assert lo == pytest.approx(1.97e-9, rel=1e-3) and hi == pytest.approx(2.04e-9, rel=1e-3)
  # a narrow interval around a large mean gets the digits it needs
  mean, lo, hi = parse(report.fmt_interval(stats.Interval(1.8512, 1.8497, 1.8531)))
  assert lo == pytest.approx(1.8497, abs=5e-5) and hi == pytest.approx(1.8531, abs=5e-5)
  assert report.fmt_interval(stats.Interval(0.993, 0.993, 0.993),
                             deterministic=True) == "0.993 (deterministic)"
  assert "±" not in text


# --------------------------------------------------------------- verdicts


def test_beyond_noise_on_synthetic_results_with_a_known_answer():
  rng = np.random.default_rng(0)
  noise = rng.normal(0.0, 0.01, size=(2, 5))
  good, bad = 0.95 + noise[0], 0.90 + noise[1]  # 5 noise standard deviations apart
  assert stats.beyond_noise(good, bad, mode="max") == 1
  assert stats.beyond_noise(bad, good, mode="max") == -1
  assert stats.beyond_noise(bad, good, mode="min") == 1  # lower is better
  # the same means, but the noise is as large as the gap: not resolved
  wide = rng.normal(0.0, 0.2, size=(2, 5))
  assert stats.beyond_noise(0.95 + wide[0] - wide[0].mean(), 0.90 + wide[1] - wide[1].mean(),
                            mode="max") == 0
  # the first claim of issue 10: 0.964 ± 0.008 vs 0.959 ± 0.001 over 3 seeds is noise
  radam = np.array([0.956, 0.964, 0.972])
  adam = np.array([0.958, 0.959, 0.960])
  assert stats.beyond_noise(radam, adam, mode="max") == 0
  # deterministic numbers: any real difference counts, float round-off does not
  assert stats.beyond_noise([-0.994] * 3, [0.993] * 3, mode="min") == 1
  assert stats.beyond_noise([1.0] * 3, [1.0 + 1e-9] * 3, mode="min") == 0
  assert stats.beyond_noise([1.0, float("nan")], [2.0, 2.0], mode="min") == 0
  # one side without spread: its interval is a point, so "intervals apart" is not evidence;
  # the 2-SE test decides (the committed page's RAdam warm-up check: every Adam seed's loss
  # never rose, RAdam's rose by 0.0084 on average with 2 SE = 0.0088: noise)
  radam_rise = np.array([0.00846, 0.02408, 0.0, 0.00941, 0.0])
  se = stats.standard_error(radam_rise)
  assert radam_rise.mean() < 2 * se
  iv = stats.bootstrap_ci(radam_rise)
  assert iv.lo > 0.0  # the percentile interval alone would call it apart from 0
  assert stats.beyond_noise(radam_rise, [0.0] * 5, mode="min") == 0
  assert stats.beyond_noise(radam_rise + 0.001, [0.0] * 5, mode="min") == -1  # > 2 SE


def test_difference_above_two_standard_errors_counts_even_if_intervals_touch():
  a = np.array([1.0, 1.2, 1.4, 1.6, 1.8])  # mean 1.4, se 0.141
  b = a - 0.45  # difference 0.45 > 2 * sqrt(2) * 0.141 = 0.40
  assert stats.standard_error(a) == pytest.approx(np.std(a, ddof=1) / np.sqrt(5))
  assert stats.beyond_noise(a, b, mode="max") == 1
  assert stats.beyond_noise(a, a - 0.3, mode="max") == 0  # 0.3 < 0.40, intervals overlap


@pytest.mark.parametrize("directions, expected", [
    ([1], "confirmed"),
    ([1, 1], "confirmed"),
    ([1, 0], "not resolved at this budget"),  # only at one rate: not enough
    ([0, 1], "not resolved at this budget"),  # not at the tuned rates
    ([0], "not resolved at this budget"),
    ([-1, 1], "contradicted"),
    ([-1], "contradicted"),
])
def test_verdict_rule(directions, expected):
  assert stats.verdict(directions) == expected


def test_verdict_rule_rejects_what_is_not_a_direction():
  with pytest.raises(ValueError, match="at least one"):
    stats.verdict([])
  with pytest.raises(ValueError, match="-1, 0 or 1"):
    stats.verdict([2])


# ------------------------------------------------------------ aggregates


def test_ranks_keep_ties_and_the_best_is_bold_only_when_apart():
  iv = stats.Interval
  ivs = [iv(0.90, 0.88, 0.92), iv(0.91, 0.89, 0.93), iv(0.80, 0.79, 0.81),
         iv(float("nan"), float("nan"), float("nan"))]
  # higher is better: the first two overlap (both rank 1), the third is behind both,
  # the diverged one behind everything
  assert stats.ranks_with_ties(ivs, mode="max") == [1, 1, 3, 4]
  tied, alone = stats.tied_with_best(ivs, mode="max")
  assert tied == [True, True, False, False] and not alone
  tied, alone = stats.tied_with_best(ivs[1:], mode="max")
  assert tied == [True, False, False] and alone
  # lower is better reverses the order
  assert stats.ranks_with_ties(ivs[:3], mode="min") == [2, 2, 1]
  # runs that end in the same minimum differ by float32 round-off: a tie, not a ranking
  same = [iv(31.8384853, 31.8384846, 31.8384857), iv(31.8384861, 31.8384858, 31.8384869),
          iv(31.838486, 31.838486, 31.838486)]
  assert stats.ranks_with_ties(same, mode="min") == [1, 1, 1]


def test_kendall_tau_b_matches_scipy_with_ties():
  from conftest import require
  scipy_stats = require("scipy.stats")  # a dependency of jax: present wherever jax is
  rng = np.random.default_rng(2)
  for _ in range(20):
    a = rng.integers(0, 5, size=12).astype(float)
    b = a + rng.integers(-2, 3, size=12)
    expected = scipy_stats.kendalltau(a, b).statistic
    assert stats.kendall_tau(a, b) == pytest.approx(expected, abs=1e-12)


def test_performance_profile_by_hand():
  # 2 tasks, 3 optimizers; task 1: accuracies from a start of 0, best 1
  d1 = [stats.profile_distance(v, 1.0, 0.0) for v in (1.0, 0.875, 0.0)]
  assert d1 == [0.0, 0.125, 1.0]
  # task 2: losses from a start of 10, best 0; one optimizer diverged
  d2 = [stats.profile_distance(v, 0.0, 10.0) for v in (5.0, 0.0, float("nan"))]
  assert d2[:2] == pytest.approx([0.5, 0.0]) and d2[2] == math.inf
  rho = stats.performance_profile(np.array([d1, d2]), np.array([0.0, 0.125, 0.5, 1.0]))
  np.testing.assert_allclose(rho, [[0.5, 0.5, 1.0, 1.0],
                                   [0.5, 1.0, 1.0, 1.0],
                                   [0.0, 0.0, 0.0, 0.5]])


def test_select_lr_takes_the_best_mean_and_never_a_diverged_rate():
  # rate 2 has the best single seed but another seed diverged; rates 1 and 3 tie (0.8)
  scores = np.array([[0.5, 0.6], [0.9, 0.7], [0.99, float("nan")], [0.8, 0.8]])
  assert stats.select_lr(scores, mode="max") == 1  # the first of equal means
  scores[3] = [0.85, 0.85]
  assert stats.select_lr(scores, mode="max") == 3
  assert stats.select_lr(-scores, mode="min") == 3
  # the compiled program selects with jax.numpy in float32, under jit: the same answers
  # (scores exact in binary, so that the tie is a tie in float32 too)
  select = jax.jit(lambda s, mode: stats.best_mean_index(s, mode=mode, xp=jnp),
                   static_argnums=1)
  scores = jnp.asarray([[0.5, 0.625], [0.875, 0.625], [1.0, np.nan], [0.75, 0.75]])
  assert int(select(scores, "max")) == 1 == stats.select_lr(np.asarray(scores), mode="max")
  scores = scores.at[3].set(0.875)
  assert int(select(scores, "max")) == 3 and int(select(-scores, "min")) == 3
  all_diverged = np.full((3, 2), np.nan)
  assert stats.select_lr(all_diverged, mode="min") == 0
  assert int(select(jnp.asarray(all_diverged, jnp.float32), "min")) == 0


def test_default_grid_spans_three_decades_around_its_centre():
  grid = default_grid(3e-3)
  assert len(grid) >= 7 and 3e-3 in grid
  assert math.log10(grid[-1] / grid[0]) == pytest.approx(3.0, abs=0.01)
  assert grid == sorted(grid)
  with pytest.raises(ValueError, match="center"):
    default_grid(0.0)


# ------------------------------------------------------------- your task


def make_task(poison_test=False, **overrides):
  """Logistic regression on two Gaussian blobs, in plain JAX, with three splits."""
  rng = np.random.default_rng(0)

  def blobs(n):
    y = rng.integers(0, 2, size=n)
    x = rng.normal(0, 1, size=(n, 4)) + (2 * y[:, None] - 1) * 0.7
    return x.astype(np.float32), y.astype(np.float32)

  (x, y), (xv, yv), (xt, yt) = blobs(200), blobs(200), blobs(200)
  if poison_test:
    xt = np.full_like(xt, np.nan)

  def init_params(key, seed):
    return {"w": 0.1 * jax.random.normal(key, (4,)), "b": jnp.zeros(())}

  def logits(p, x):
    return x @ p["w"] + p["b"]

  def loss(p, batch):
    xb, yb = batch
    z = logits(p, xb)
    return jnp.mean(jnp.logaddexp(0.0, z) - yb * z)

  def sample_batch(key, t):
    idx = jax.random.randint(key, (32,), 0, 200)
    return jnp.asarray(x)[idx], jnp.asarray(y)[idx]

  def metrics_on(xs, ys):
    def metrics(p):
      z = logits(p, jnp.asarray(xs))
      return {"log_loss": loss(p, (jnp.asarray(xs), jnp.asarray(ys))),
              "acc": jnp.mean((z > 0) == (jnp.asarray(ys) > 0.5))}
    return metrics

  fields = dict(name="blobs", init_params=init_params, loss=loss, evaluate=metrics_on(xt, yt),
                validate=metrics_on(xv, yv), metric="log_loss", mode="min", steps=60,
                sample_batch=sample_batch, seeds=3, eval_points=2)
  fields.update(overrides)
  return Task(**fields)


def test_selection_never_reads_the_test_split():
  clean = compare(make_task(), ["sgd", "adam"], progress=False)
  poisoned = compare(make_task(poison_test=True), ["sgd", "adam"], progress=False)
  for budget in ("tuned", "one-shot"):
    a = {e.optimizer: e for e in clean.entries_at(budget)}
    b = {e.optimizer: e for e in poisoned.entries_at(budget)}
    for name in ("sgd", "adam"):
      assert a[name].lr == b[name].lr, (budget, name)
      assert math.isnan(b[name].ci.mean)  # the poisoned test split is what is reported
      assert 0.0 < a[name].ci.mean < 0.7  # below log(2): it learned
  # the tuned number is a rerun on fresh seeds, at the rate with the best validation mean
  for name in ("sgd", "adam"):
    run = clean.grid[name]
    val = run.val_metrics["log_loss"][:, :, -1].mean(1)
    tuned = clean.entry(name, "tuned")
    assert tuned.lr == run.lrs[int(np.nanargmin(val))]
    assert clean.reruns[name].seed_offset == 3 and tuned.first_seed == 3
    assert len(run.lrs) >= 7


def test_the_tuned_program_reruns_the_rate_the_validation_split_selects():
  # one program trains the grid, selects on the device and reruns on fresh seeds; the
  # oracles: NumPy's selection on the grid's validation scores, and a separate program
  # trained at the selected rate on seeds 3, 4, 5
  task = make_task()
  lrs = [1e-3, 1e-2, 1e-1, 1.0]
  grid, rerun, selected = training.run_tuned(task, "adam", lrs=lrs)
  assert selected == stats.select_lr(grid.val_metrics["log_loss"][:, :, -1], mode="min")
  assert selected != 0  # the smallest rate barely moves in 60 steps: a real choice was made
  alone = training.run_optimizer(task, "adam", lrs=[lrs[selected]], seed_offset=3)
  assert rerun.lrs == [lrs[selected]] and rerun.seed_offset == 3 and rerun.seeds == 3
  for split in ("metrics", "val_metrics"):
    np.testing.assert_allclose(getattr(rerun, split)["log_loss"],
                               getattr(alone, split)["log_loss"], rtol=1e-5)
  np.testing.assert_allclose(rerun.loss, alone.loss, rtol=1e-5)
  # and the grid's runs are the runs of a program that trains the grid alone
  plain = training.run_optimizer(task, "adam", lrs=lrs)
  np.testing.assert_allclose(grid.metrics["log_loss"], plain.metrics["log_loss"], rtol=1e-5)


def test_a_rate_selected_at_the_edge_of_the_grid_is_flagged():
  # rates far too small to learn in 20 steps: the largest rate run (the published default,
  # 1e-3, added to the grid for the one-shot number) wins, at the edge
  result = compare(make_task(steps=20, seeds=2), ["sgd"], lr_grid=[1e-7, 1e-6],
                   progress=False)
  (tuned,) = result.entries_at("tuned")
  assert tuned.lr == 1e-3 == max(result.grid["sgd"].lrs)
  assert any("sgd's selected rate 0.001 is the largest it ran" in n for n in result.notes)


def test_results_object_writes_csv_json_and_one_panel_per_optimizer(tmp_path):
  result = compare(make_task(), ["sgd", "adam"], budget="one-shot", seeds=2, progress=False)
  assert [e.lr for e in result.entries] == [1e-3, 1e-3]  # published defaults
  csv_text = result.to_csv(str(tmp_path / "r.csv"))
  assert csv_text.splitlines()[0].startswith("task,optimizer,budget,lr")
  assert len(csv_text.splitlines()) == 3
  data = json.loads(result.to_json())
  assert data["budget"] == "one-shot" and len(data["entries"]) == 2
  assert "log_loss" in result.table() and "| rank |" in result.table(markdown=True)
  path = result.plot(str(tmp_path / "curves.png"))
  assert pathlib.Path(path).stat().st_size > 5_000


@pytest.mark.parametrize("overrides, error, words", [
    ({"validate": None}, TaskError, "no validation split"),
    ({"loss": lambda p, b: jnp.zeros(3)}, TaskError, "must return a scalar"),
    ({"metric": "accuracy"}, TaskError, "does not return the metric 'accuracy'"),
    ({"validate": lambda p: {"acc": jnp.zeros(())}}, TaskError,
     "validate.*does not return the metric 'log_loss'"),
    ({"evaluate": lambda p: 0.5}, TypeError, "must return a dict"),
    ({"mode": "up"}, TaskError, "'min' or 'max'"),
])
def test_a_malformed_task_fails_before_training(overrides, error, words):
  task = make_task(steps=FOREVER, **overrides)
  with pytest.raises(error, match=words) as info:
    compare(task, ["adam"], progress=False)
  assert "\n" not in str(info.value)


def test_a_task_that_is_not_a_task():
  with pytest.raises(TypeError, match="Task"):
    check_task({"name": "x"})
  with pytest.raises(ValueError, match="budget"):
    compare(make_task(steps=FOREVER), ["adam"], budget="forever", progress=False)
  with pytest.raises(ValueError, match="lr_grid"):
    compare(make_task(steps=FOREVER), ["adam"], lr_grid=[0.1, -1.0], progress=False)


USER_TASK = '''
import sys
sys.path.insert(0, {tests!r})
from test_harness_protocol import make_task as _make

def make_task():
    return _make(steps=40, seeds=2)

def broken():
    return _make(validate=None)

def not_a_task():
    return 42
'''


def cli(*args, cwd):
  return subprocess.run([sys.executable, "-m", "optax_survey", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def test_command_line_compares_optimizers_on_your_own_task(tmp_path):
  (tmp_path / "mytask.py").write_text(USER_TASK.format(tests=str(ROOT / "tests")))
  proc = cli("compare", "--task", "mytask.py:make_task", "--optimizers", "sgd,adam",
             "--no-progress", "--no-plot", "--out", "out", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "tuned: best of the learning-rate grid on validation" in proc.stdout
  assert (tmp_path / "out" / "results.csv").exists()
  # a malformed task, as a user meets it: one line, exit status 2, no traceback
  bad = cli("compare", "--task", "mytask:broken", "--steps", str(FOREVER), cwd=tmp_path)
  assert bad.returncode == 2, bad.stderr
  assert "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
  assert bad.stderr.startswith("optax-survey: error: --task: ")
  assert "no validation split" in bad.stderr and bad.stdout == ""


@pytest.mark.parametrize("spec, words", [
    ("mytask:not_a_task", "must return an optax_survey.harness.Task"),
    ("mytask:nothing", "has no function 'nothing'"),
    ("mytask.py:broken", "no validation split"),
    ("nosuch.py:make_task", "no such file"),
    ("nosuch_module_xyz:make_task", "ModuleNotFoundError"),
    ("nosuchtask", "unknown task 'nosuchtask'"),
])
def test_a_bad_task_spec_is_one_line_exit_2(spec, words, tmp_path, monkeypatch, capsys):
  from optax_survey.harness import cli as command_line

  (tmp_path / "mytask.py").write_text(USER_TASK.format(tests=str(ROOT / "tests")))
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(SystemExit) as info:
    command_line.main(["compare", "--task", spec, "--steps", str(FOREVER), "--no-progress"])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("optax-survey: error: ") and words in err


# ------------------------------------------------------------------- page


def test_the_committed_page_is_what_the_committed_json_renders():
  from optax_survey.harness.render.page import render_page

  summary = json.loads((RESULTS / "survey.json").read_text())
  assert render_page(summary) == (RESULTS / "survey.md").read_text()
  # the protocol the page states is the one its numbers were made with
  assert summary["seeds"] >= 5
  for name, task in summary["tasks"].items():
    assert task["grid_points"] >= 7, name
    for e in task["entries"]:
      assert len(e["values"]) == task["seeds"] >= 5
      if e["budget"] == "tuned" and not task["deterministic"]:
        assert e["first_seed"] == task["seeds"]  # fresh seeds
  for c in summary["claims"]:
    assert c["verdict"] == stats.verdict([k["direction"] for k in c["checks"]])
    for k in c["checks"]:
      assert k["direction"] == stats.beyond_noise(k["a"], k["b"], mode=k["mode"])
