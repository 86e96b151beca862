"""The survey harness command (optax-survey / python -m optax_survey) end to end, tiny
settings: every command, every bad input one line with exit status 2, the user's own task.
"""

import argparse
import csv
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from optax_survey.harness import cli, errors, registry
from optax_survey.harness.analysis import stats
from optax_survey.harness.render import report
from optax_survey.harness.tasks import CATALOGUE, get_task, task_names

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A step count no test could finish: a check that came after training would time out.
FOREVER = "100000000"
CONSOLE_SCRIPT = pathlib.Path(sys.executable).parent / "optax-survey"


def run_cli(*args, module=True, blocked=(), timeout=120, **kwargs):
  """Runs the command line in a fresh interpreter: ``python -m optax_survey`` or, with
  ``blocked`` modules, a wrapper that makes ``import <module>`` fail first."""
  if blocked:
    code = ("import sys\n"
            f"for m in {list(blocked)!r}: sys.modules[m] = None\n"
            f"sys.argv = ['optax-survey', *{list(args)!r}]\n"
            "from optax_survey.harness.cli import entry\n"
            "entry()\n")
    cmd = [sys.executable, "-c", code]
  elif module or not CONSOLE_SCRIPT.exists():
    cmd = [sys.executable, "-m", "optax_survey", *args]
  else:
    cmd = [str(CONSOLE_SCRIPT), *args]
  return subprocess.run(cmd, cwd=kwargs.pop("cwd", ROOT), capture_output=True, text=True,
                        timeout=timeout, **kwargs)


def assert_one_line_error(proc, *words):
  assert proc.returncode == 2, (proc.returncode, proc.stderr)
  assert "Traceback" not in proc.stderr, proc.stderr
  assert proc.stderr.startswith("optax-survey: error: "), proc.stderr
  assert proc.stderr.count("\n") == 1, proc.stderr
  for word in words:
    assert word in proc.stderr, (word, proc.stderr)
  assert proc.stdout == "", proc.stdout  # nothing ran


def test_list_names_every_optimizer_with_defaults_and_paper(capsys):
  assert cli.main(["list"]) == 0
  out = capsys.readouterr().out
  for name in ("sgd", "adabound", "radam", "lookahead", "adadb"):
    assert f"\n{name} " in out
  assert "Luo et al. 2019" in out and "final_lr=0.1" in out and "sync_period=5" in out
  assert "weight_decay=0.01 (decoupled)" in out  # adamw's
  assert "slow_step_size=0.8" in out and "slow_step_size=0.5" in out  # default; survey's


def _readme_defaults():
  """{optimizer: ({key: value text}, weight decay)} from README's optimizer table."""
  table = {}
  for line in (ROOT / "README.md").read_text().splitlines():
    m = re.match(r"\| `(\w+)` \|", line)
    if not m:
      continue
    cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
    name, defaults, decay = m.group(1), cells[3], cells[4]
    pairs = {}
    for part in defaults.split(", "):
      words = part.split()
      if words[0] == "as":  # "as Adam": that row's defaults
        pairs.update(table[words[1].lower()][0])
      else:
        pairs[words[0]] = words[1].strip('"')
    table[name] = (pairs, decay)
  return table


def _same_value(readme: str, value) -> bool:
  if isinstance(value, bool) or value is None or isinstance(value, str):
    return readme == str(value)
  return float(readme) == float(value)


def test_list_shows_every_default_of_the_readme_table(capsys):
  readme = _readme_defaults()
  assert set(readme) == set(registry.OPTIMIZERS)
  cli.main(["list"])
  out = capsys.readouterr().out
  for name, (pairs, decay) in readme.items():
    shown = registry.defaults(name)
    for key, text in pairs.items():
      assert key in shown, (name, key)
      assert _same_value(text, shown[key]), (name, key, text, shown[key])
    assert registry.OPTIMIZERS[name].weight_decay == decay, name
    block = re.split(r"\n(?=\S)", out.split(f"\n{name} ", 1)[1])[0]  # up to the next name
    for key, value in shown.items():
      assert f"{key}={value!r}" in block or f"{key}={value}" in block, (name, key)


def test_list_search_space_shows_every_optimizers_space_with_its_sources(capsys):
  from optax_survey.harness import search

  assert cli.main(["list", "--search-space"]) == 0
  out = capsys.readouterr().out
  blocks = re.split(r"\n(?=\S)", out.split("\n", 1)[1].strip())
  assert [b.split("\n")[0] for b in blocks] == list(registry.OPTIMIZERS)
  for block, name in zip(blocks, registry.OPTIMIZERS, strict=True):
    text = " ".join(block.split())
    for key, r in search.SEARCH_SPACES[name].items():
      assert f"{key}: " in text and " ".join(r.source.split()) in text, (name, key)
    assert "lr: log-uniform over 10**-1.5 .. 10**1.5" in text and "warmup" in text
  assert "AlgoPerf's AdamW baseline space" in out and "Zhang et al. 2019" in out


def test_compare_budget_search_prints_the_studies_and_writes_the_trials(tmp_path, capsys):
  code = cli.main(["compare", "--task", "quadratic", "--optimizers", "sgdm,adam", "--budget",
                   "search", "--trials", "4", "--studies", "3", "--schedule", "warmup_cosine",
                   "--seeds", "2", "--steps", "30", "--out", str(tmp_path), "--no-plot"])
  assert code == 0
  out = capsys.readouterr().out
  assert "3 studies (range)" in out and "other hyperparameters" in out and "warmup=" in out
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert [(r["optimizer"], r["budget"]) for r in rows] == [("sgdm", "search"),
                                                           ("adam", "search")]
  for r in rows:
    assert len(r["study_means"].split()) == 3 and "weight_decay=" in r["hparams"]
  data = json.loads((tmp_path / "results.json").read_text())
  assert len(data["grid_runs"][0]["lrs"]) == 12 and data["grid_runs"][0]["schedule"] == (
      "warmup_cosine")
  assert set(data["grid_runs"][0]["hparams"]) == {"momentum", "weight_decay", "warmup"}


def test_compare_pruner_halving_says_what_it_saved_and_writes_where_trials_stopped(
    tmp_path, capsys):
  """--pruner halving --reduction 2 on 30 steps evaluated every 3: rungs at steps 3, 6, 15
  and 30, 6 trials a study (6, 3, 2, 1 of them): the note's numbers are that count."""
  assert cli.main(["compare", "--task", "quadratic", "--optimizers", "sgd", "--budget",
                   "search", "--trials", "6", "--studies", "2", "--pruner", "halving",
                   "--reduction", "2", "--seeds", "2", "--steps", "30", "--out",
                   str(tmp_path), "--no-plot", "--no-progress"]) == 0
  out = " ".join(capsys.readouterr().out.split())
  trained = 2 * (6 * 3 + 3 * 3 + 2 * 9 + 1 * 15)
  assert (f"sgd's search was pruned by successive halving: 10 of its 12 trials stopped "
          f"early (6 at step 3, 2 at step 6, 2 at step 15; never selected); its trials "
          f"trained {trained} of the 360 run-steps") in out
  data = json.loads((tmp_path / "results.json").read_text())
  stopped = data["grid_runs"][0]["stopped"]
  assert sorted(stopped) == [3] * 6 + [6] * 2 + [15] * 2 + [30] * 2
  rows = [r for r in data["rows"] if r["optimizer"] == "sgd"]
  assert [r["pruned_at"] for r in rows] == [s if s < 30 else None for s in stopped]
  assert all(r["diverged"] == 0 for r in rows)  # stopped, not diverged
  assert "successive halving (reduction 2)" in data["entries"][0]["selected_on"]


def test_compare_minima_prints_and_writes_each_seeds_sharpness_and_gap(tmp_path, capsys):
  """--minima: the table's λ_max is the mean over seeds of the written per-seed values,
  the gap is training minus test accuracy, and the one-shot budget is refused."""
  assert cli.main(["compare", "--task", "wilson-separable", "--optimizers", "sgdm,adam",
                   "--lr-grid", "0.01,0.1", "--seeds", "2", "--steps", "20", "--minima",
                   "--out", str(tmp_path), "--no-plot", "--no-progress"]) == 0
  out = capsys.readouterr().out
  minima = json.loads((tmp_path / "results.json").read_text())["minima"]
  assert set(minima) == {"sgdm", "adam"} and "minima of the reported runs" in out
  for name, record in minima.items():
    np.testing.assert_allclose(record["gap"], np.subtract(record["train"], record["test"]),
                               rtol=1e-12)
    row = next(line for line in out.splitlines() if line.startswith(name + " "))
    assert report.fmt_interval(stats.bootstrap_ci(record["lambda_max"])) in row
  with pytest.raises(SystemExit):
    cli.main(["compare", "--task", "wilson-separable", "--budget", "one-shot", "--minima"])
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "minima" in err


def test_compare_takes_a_users_search_space_from_a_json_file(tmp_path, capsys):
  space = tmp_path / "space.json"
  space.write_text(json.dumps({"sgdm": {"momentum": [0.01, 0.02, "one_minus_log", "mine"],
                                        "lr": {"low": 0.05, "high": 0.1, "scale": "log",
                                               "source": "mine"}}}))
  assert cli.main(["compare", "--task", "quadratic", "--optimizers", "sgdm", "--budget",
                   "search", "--trials", "3", "--studies", "1", "--space", str(space),
                   "--seeds", "2", "--steps", "20", "--out", str(tmp_path / "out"),
                   "--no-plot", "--no-progress"]) == 0
  runs = json.loads((tmp_path / "out" / "results.json").read_text())["grid_runs"][0]
  assert set(runs["hparams"]) == {"momentum"}  # the declared weight decay replaced
  assert all(0.98 <= m <= 0.99 for m in runs["hparams"]["momentum"])
  assert all(0.05 <= lr <= 0.1 for lr in runs["lrs"])
  space.write_text('{"sgdm": {"momentum": [0.5, 0.1, "linear", "mine"]}}')
  with pytest.raises(SystemExit):
    cli.main(["compare", "--task", "quadratic", "--budget", "search", "--space", str(space)])
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "--space" in err and "low must be below high" in err


def test_tasks_lists_every_task_with_its_learning_rates(capsys):
  assert cli.main(["tasks"]) == 0
  out = capsys.readouterr().out
  for name in task_names():
    assert f"\n{name} " in "\n" + out
  quadratic = out.split("quadratic", 1)[1].split("\nrosenbrock")[0]
  assert "lr: sgd 0.45; sgdm, nag 0.05; adagrad, adadelta 1; the other 13 0.1" in quadratic
  assert "final_lr 0.45" in quadratic
  assert "α/√t" in out.split("\nreddi ", 1)[1].split("\nreddi-stochastic")[0]
  for name in ("quadratic", "reddi-theorem1", "digits-mlp"):  # the shown rates are the used ones
    assert dict(CATALOGUE[name].learning_rates) == get_task(name).lrs


def test_version(capsys):
  with pytest.raises(SystemExit) as info:
    cli.main(["--version"])
  assert info.value.code == 0
  import optax_survey
  assert capsys.readouterr().out.startswith(f"optax-survey {optax_survey.__version__} (jax ")


def test_every_option_of_every_command_has_help_and_no_markup(capsys):
  parser = cli.build_parser()
  parsers = {"": parser, **parser.subcommands}
  assert set(parser.subcommands) == {"list", "tasks", "compare", "survey", "landscape"}
  for command, p in parsers.items():
    for action in p._actions:
      if isinstance(action, argparse._SubParsersAction):
        continue
      assert action.help and action.help != argparse.SUPPRESS, (command, action.option_strings)
    with pytest.raises(SystemExit) as info:
      cli.main([command, "--help"] if command else ["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for markup in ("``", ":func:", ":mod:", ":class:", ":data:"):
      assert markup not in text, (command, markup)
    assert not re.search(r"^\s*\.\. \w+::", text, re.M), command  # no directives
  survey_help = parser.subcommands["survey"].format_help()
  for option in ("--preset", "--seeds", "--no-progress", "--steps-scale", "--out"):
    assert option in survey_help


def test_compare_trains_prints_a_table_and_writes_results(tmp_path, capsys):
  code = cli.main(["compare", "--task", "digits-mlp", "--optimizers", "adam,lookahead",
                   "--seeds", "2", "--steps", "60", "--out", str(tmp_path)])
  assert code == 0
  out = capsys.readouterr().out
  assert "test acc ↑ (mean [95% CI])" in out and "one-shot: published default" in out
  assert "60 steps, 2 seeds per number; mean [95% bootstrap CI] over seeds" in out
  rows = list(csv.DictReader(open(tmp_path / "results.csv")))
  assert [(r["optimizer"], r["budget"]) for r in rows] == [
      ("adam", "one-shot"), ("adam", "tuned"), ("lookahead", "one-shot"), ("lookahead", "tuned")]
  for r in rows:
    assert r["seeds"] == "2" and r["steps"] == "60" and r["split"] == "test"
    assert float(r["ci_lo"]) <= float(r["mean"]) <= float(r["ci_hi"])
    assert r["first_seed"] == ("2" if r["budget"] == "tuned" else "0")  # fresh seeds
  tuned = [r for r in rows if r["budget"] == "tuned"]
  assert all(0.5 < float(r["mean"]) <= 1.0 for r in tuned)  # 10 classes: chance is 0.1
  data = json.loads((tmp_path / "results.json").read_text())
  run = data["grid_runs"][0]
  assert len(run["lrs"]) == 8  # 7 grid rates and the published default
  assert len(run["metrics"]["acc"][0]) == 2 and len(run["val_metrics"]["acc"][0]) == 2
  assert run["eval_steps"][0] == 0 and run["eval_steps"][-1] == 60
  assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_compare_lr_grid_and_trajectories_on_a_2d_task(tmp_path, capsys):
  code = cli.main(["compare", "--task", "quadratic", "--optimizers", "sgd,adam",
                   "--lr-grid", "0.01,0.1", "--steps", "40", "--seeds", "1", "--out",
                   str(tmp_path), "--no-progress"])
  assert code == 0
  data = json.loads((tmp_path / "results.json").read_text())
  assert sorted((r["optimizer"], r["lr"]) for r in data["rows"]) == [
      ("adam", 0.01), ("adam", 0.1), ("sgd", 0.01), ("sgd", 0.1)]
  by = {(r["optimizer"], r["lr"]): r["test"][0] for r in data["rows"]}
  assert by[("sgd", 0.1)] < by[("sgd", 0.01)]  # a larger (stable) rate gets further in 40 steps
  tuned = {e["optimizer"]: e["lr"] for e in data["entries"] if e["budget"] == "tuned"}
  assert tuned["sgd"] == 0.1  # selected: the best final objective (no held-out set)
  assert (tmp_path / "trajectories.png").stat().st_size > 10_000
  out = capsys.readouterr().out
  assert "40 steps, 1 seed per number" in out and "no held-out set" in out


def test_python_dash_m_runs_the_command_and_says_a_task_is_deterministic(tmp_path):
  proc = run_cli("compare", "--task", "reddi-theorem1", "--optimizers", "adam,amsgrad",
                 "--steps", "300", "--seeds", "2", "--no-plot", "--no-progress",
                 "--out", str(tmp_path))
  assert proc.returncode == 0, proc.stderr
  assert "amsgrad" in proc.stdout and (tmp_path / "results.csv").exists()
  assert "300 steps, 2 seeds" in proc.stdout
  assert "reddi-theorem1 is deterministic" in proc.stdout and "no spread over" in proc.stdout
  assert "(deterministic)" in proc.stdout


@pytest.mark.parametrize(
    "argv, bad, choice",
    [
        (["compare", "--task", "nosuch"], "'nosuch'", "rosenbrock"),
        (["compare", "--task", "reddi", "--optimizers", "adam,nosuch"], "'nosuch'", "amsgrad"),
        (["compare", "--task", "reddi", "--optimizers", " , "], "--optimizers is empty", "adam"),
        (["compare", "--task", "reddi", "--steps", "-5"], "-5", "positive integer"),
        (["compare", "--task", "reddi", "--seeds", "0"], "0", "positive integer"),
        (["compare", "--task", "reddi", "--lr-grid", "1e-3,abc"], "'abc'", "positive numbers"),
        (["compare", "--task", "reddi", "--lr-grid", "-1"], "'-1'", "positive"),
        (["survey", "--preset", "huge"], "'huge'", "quick"),
        (["survey", "--steps-scale", "0"], "--steps-scale", "> 0"),
        (["compare", "--task", "reddi", "--devices", "99"], "--devices", "between 1 and"),
        (["compare", "--task", "reddi", "--devices", "many"], "'many'", "'all' or a count"),
        (["compare", "--task", "reddi", "--layout", "grid"], "--layout", "auto, vmap, loop"),
        (["compare", "--task", "reddi", "--max-parallel-runs", "0"], "--max-parallel-runs",
         "positive integer"),
        (["survey", "--layout", "0"], "--layout", "auto, vmap, loop"),
        (["compare", "--task", "reddi", "--trials", "4"], "--trials", "--budget search"),
        (["compare", "--task", "reddi", "--trial-seeds", "2"], "--trial-seeds",
         "--budget search"),
        (["compare", "--task", "reddi", "--budget", "search", "--studies", "0"], "0",
         "positive integer"),
        (["compare", "--task", "reddi", "--budget", "search", "--schedule", "cosine"],
         "'cosine'", "warmup_cosine"),
        (["compare", "--task", "reddi", "--budget", "search", "--pruner", "hyperband"],
         "'hyperband'", "halving"),
        (["compare", "--task", "reddi", "--pruner", "halving"], "--pruner", "--budget search"),
        (["compare", "--task", "reddi", "--budget", "search", "--pruner", "halving",
          "--reduction", "1"], "--reduction", "an integer >= 2, got 1"),
        (["compare", "--task", "reddi", "--budget", "search", "--reduction", "2"],
         "--reduction is the halving pruner's", "--pruner halving"),
        (["compare", "--task", "quadratic", "--budget", "search", "--pruner", "halving",
          "--steps", "2"], "--pruner: pruner='halving' needs at least 2 rungs", "reduction"),
        (["frobnicate"], "'frobnicate'", "compare"),
        (["landscape", "--task", "quadratic", "--lr", "adam0.1"], "--lr: 'adam0.1'",
         "NAME=VALUE"),
        (["landscape", "--task", "quadratic", "--lr", "adam=fast"], "'adam=fast'",
         "positive finite"),
        (["landscape", "--task", "quadratic", "--lr", "adamw=0.1"], "'adamw'",
         "sgdm, adam, adagrad"),
        (["landscape", "--task", "quadratic", "--optimizers", "sgd,nosuch"], "'nosuch'",
         "choose from"),
        (["landscape", "--task", "quadratc"], "'quadratc'", "rosenbrock"),
        (["landscape", "--task", "quadratic", "--points", "4"], "--points", "odd integer"),
        (["landscape", "--task", "quadratic", "--points", "0"], "--points", "positive"),
        (["landscape", "--task", "quadratic", "--seed", "-1"], "--seed", ">= 0"),
    ],
)
def test_bad_input_is_one_line_naming_the_value_and_choices_exit_2(argv, bad, choice, capsys):
  with pytest.raises(SystemExit) as info:
    cli.main(argv)
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and err.startswith("optax-survey: error:")
  assert bad in err and choice in err


def test_bad_input_exit_status_2_in_a_subprocess():
  proc = run_cli("compare", "--task", "mnist2d", module=False)
  assert_one_line_error(proc, "'mnist2d'", "mnist1d-mlp")


def test_landscape_bad_input_exit_status_2_in_a_subprocess():
  proc = run_cli("landscape", "--task", "quadratic", "--lr", "adam0.1", "--steps", FOREVER)
  assert_one_line_error(proc, "--lr", "'adam0.1'", "NAME=VALUE")


def test_a_forgotten_command_gets_a_hint():
  proc = run_cli("--out", "somewhere")
  assert_one_line_error(proc, "invalid choice", "optax-survey survey --out somewhere")


def _unwritable_folder(tmp_path) -> str:
  """A folder nobody may write into: a read-only directory, or (as root, whom file
  modes do not stop) a folder under /proc, where nothing can be created."""
  ro = tmp_path / "read-only"
  ro.mkdir()
  ro.chmod(0o555)
  try:
    (ro / "probe").touch()
  except PermissionError:
    return str(ro / "out")
  (ro / "probe").unlink()
  return "/proc/optax-survey-test/out"


@pytest.mark.parametrize("command, kind", [
    ("compare", "file"), ("compare", "under-a-file"), ("compare", "unwritable"),
    ("survey", "file"), ("survey", "unwritable")])
def test_an_unusable_out_folder_fails_before_any_training(tmp_path, command, kind):
  a_file = tmp_path / "results.txt"
  a_file.write_text("not a folder")
  out = {"file": str(a_file), "under-a-file": str(a_file / "sub"),
         "unwritable": _unwritable_folder(tmp_path)}[kind]
  if command == "compare":
    args = ["compare", "--task", "quadratic", "--steps", FOREVER, "--out", out]
  else:
    args = ["survey", "--steps-scale", "1e6", "--out", out]
  proc = run_cli(*args, "--no-progress")
  assert_one_line_error(proc, "--out", out if kind != "under-a-file" else str(a_file))
  assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize(
    "blocked, args, words",
    [
        ("matplotlib", ["compare", "--task", "quadratic"], ["matplotlib", "--no-plot"]),
        ("tqdm", ["compare", "--task", "quadratic", "--no-plot"], ["tqdm", "--no-progress"]),
        ("flax", ["compare", "--task", "charlm", "--no-plot", "--no-progress"],
         ["flax", "charlm"]),
        ("sklearn", ["compare", "--task", "digits-mlp", "--no-plot", "--no-progress"],
         ["scikit-learn", "digits-mlp"]),
        ("mnist1d", ["compare", "--task", "mnist1d-cnn", "--no-plot", "--no-progress"],
         ["mnist1d", "mnist1d-cnn"]),
        ("matplotlib", [], ["matplotlib", "plots"]),  # optax-survey: the quick survey
    ],
)
def test_a_missing_optional_package_is_named_before_any_work(tmp_path, blocked, args, words):
  out = tmp_path / "out"
  if args:
    args = [*args, "--steps", FOREVER, "--out", str(out)]
  proc = run_cli(*args, blocked=[blocked], cwd=tmp_path)
  assert_one_line_error(proc, *words, 'pip install "optax_survey[survey]"')
  assert not out.exists() and not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize(
    "args, module",
    [
        (["tasks"], False),  # optax-survey tasks | head -1
        (["list"], True),  # python -m optax_survey list | head -2
        (["compare", "--task", "reddi-theorem1", "--optimizers", "adam", "--steps", "50",
          "--seeds", "1", "--no-plot", "--no-progress"], False),  # compare ... | head
    ],
)
def test_a_closed_pipe_ends_the_command_quietly(tmp_path, args, module):
  if args[0] == "compare":
    args = [*args, "--out", str(tmp_path)]
  if module or not CONSOLE_SCRIPT.exists():
    cmd = [sys.executable, "-m", "optax_survey", *args]
  else:
    cmd = [str(CONSOLE_SCRIPT), *args]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
  proc.stdout.close()  # the reader is gone before the first line, as `| head` after it
  err = proc.stderr.read()
  proc.stderr.close()
  assert proc.wait(timeout=120) == 141, err  # 128 + SIGPIPE, as a shell reports `yes | head`
  for noise in ("Traceback", "BrokenPipe", "Exception ignored"):
    assert noise not in err, err


# ------------------------------------------------------- the user's own task


USER_TASK = '''
import sys
sys.path.insert(0, {tests!r})
from blobs import make_task as _make

def make_task():
    return _make(steps=40, seeds=2)

def broken():
    return _make(validate=None)

def not_a_task():
    return 42
'''


def run_module(*args, cwd):
  return subprocess.run([sys.executable, "-m", "optax_survey", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=300)


def test_command_line_compares_optimizers_on_your_own_task(tmp_path):
  (tmp_path / "mytask.py").write_text(USER_TASK.format(tests=str(ROOT / "tests")))
  proc = run_module("compare", "--task", "mytask.py:make_task", "--optimizers", "sgd,adam",
             "--no-progress", "--no-plot", "--out", "out", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert "tuned: best of the learning-rate grid on validation" in proc.stdout
  assert (tmp_path / "out" / "results.csv").exists()
  # a malformed task, as a user meets it: one line, exit status 2, no traceback
  bad = run_module("compare", "--task", "mytask:broken", "--steps", str(FOREVER), cwd=tmp_path)
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


@pytest.mark.parametrize("error, said", [
    (errors.BadInputError("lr_grid: 'x' is not a number", argument="lr_grid"),
     "--lr-grid: 'x' is not a number"),
    (errors.BadInputError("seeds must be a positive integer, got 0", argument="seeds"),
     "--seeds must be a positive integer, got 0"),
    (errors.BadInputError("optimizers is empty; choose", argument="optimizers"),
     "--optimizers is empty; choose"),
    (errors.BadInputError("unknown optimizer 'x'", argument="optimizers"),
     "--optimizers: unknown optimizer 'x'"),
    (errors.TaskError("task 'x': loss must return a scalar"),
     "--task: task 'x': loss must return a scalar"),
    (errors.OutputDirError("cannot write to 'o'", argument="out"), "--out: cannot write to 'o'"),
    (errors.HarnessError("something else"), "something else"),
    (errors.missing_extra_error("tqdm", "the progress bar"),
     'tqdm (for the progress bar) is not installed: pip install "optax_survey[survey]"'),
])
def test_the_command_line_translates_the_librarys_errors_into_its_flags(error, said):
  assert cli.translate(error, cli.COMPARE_SWITCHES) == said


MY_OPTIMIZER = '''
import optax
import optax_survey as osv


def make_tx(learning_rate):
    return optax.chain(osv.count_steps(), osv.ema_first_moment(0.9),
                       osv.apply_learning_rate(learning_rate), osv.descend())


def make_task():
    raise_here = {}
    return raise_here["no such key"]
'''


def test_compare_takes_optax_names_and_the_users_own_optimizer(tmp_path):
  (tmp_path / "mytx.py").write_text(MY_OPTIMIZER)
  proc = run_module("compare", "--task", "quadratic", "--optimizers",
                    "adam,optax.lion,mytx.py:make_tx", "--steps", "20", "--seeds", "2",
                    "--budget", "one-shot", "--no-plot", "--no-progress", "--out", "out",
                    cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
  assert [r["optimizer"] for r in rows] == ["adam", "optax.lion", "mytx.py:make_tx"]
  assert "mytx.py:make_tx has no published default learning rate here" in proc.stdout


def test_an_exception_in_the_users_make_task_shows_where_it_happened(tmp_path):
  (tmp_path / "mytx.py").write_text(MY_OPTIMIZER)
  proc = run_module("compare", "--task", "mytx.py:make_task", cwd=tmp_path)
  assert proc.returncode == 2
  err = proc.stderr
  assert 'mytx.py", line 13, in make_task' in err and "KeyError" in err  # the user's line
  assert err.splitlines()[-1].startswith("optax-survey: error: --task: task 'mytx.py:make")
  assert "optax_survey/" not in err  # none of this package's frames


def test_compare_writes_tensorboard_logs_while_it_runs(tmp_path):
  proc = run_module("compare", "--task", "quadratic", "--optimizers", "adam,sgd", "--steps",
                    "10", "--seeds", "2", "--budget", "one-shot", "--no-plot",
                    "--no-progress", "--out", "out", "--log-dir", "tb", cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert sorted(str(p.parent.relative_to(tmp_path / "tb"))
                for p in (tmp_path / "tb").rglob("events.*")) == [
      "adam/lr=0.001/seed=0", "adam/lr=0.001/seed=1", "sgd/lr=0.001/seed=0",
      "sgd/lr=0.001/seed=1"]


def test_landscape_writes_the_surfaces_numbers_and_figures(tmp_path, capsys):
  # the quadratic 0.05 x^2 + 2 y^2: its Hessian diag(0.1, 4) everywhere, f(-9, 1.5) = 8.55
  code = cli.main(["landscape", "--task", "quadratic", "--optimizers", "sgd,adam",
                   "--lr", "adam=0.05", "--steps", "30", "--points", "5", "--out",
                   str(tmp_path)])
  assert code == 0
  out = capsys.readouterr().out
  assert "sgd -> adam" in out and "lambda_max" in out and f"wrote {tmp_path}" in out
  data = json.loads((tmp_path / "landscape_quadratic.json").read_text())
  assert [(e["name"], e["lr"]) for e in data["optimizers"]] == [
      ("sgd", get_task("quadratic").lr_for("sgd")), ("adam", 0.05)]
  for entry in data["optimizers"]:
    assert entry["sharpness"] == pytest.approx(4.0, rel=1e-5)
    assert entry["initial_loss"] == pytest.approx(8.55, rel=1e-6)
    plane = np.asarray(data["planes"][entry["name"]])
    assert plane.shape == (5, 5) and plane[2, 2] == entry["final_loss"]
    assert data["lines"][entry["name"]][data["alphas"].index(0.0)] == entry["initial_loss"]
  assert data["steps"] == 30 and data["between"][0]["barrier"] == 0.0  # convex: none
  for name in ("landscape_quadratic_planes.png", "landscape_quadratic_lines.png"):
    assert (tmp_path / name).stat().st_size > 10_000


def test_landscape_checks_its_out_folder_before_any_training(tmp_path, capsys):
  a_file = tmp_path / "results.txt"
  a_file.write_text("not a folder")
  with pytest.raises(SystemExit) as info:
    cli.main(["landscape", "--task", "quadratic", "--steps", FOREVER, "--out", str(a_file)])
  assert info.value.code == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "--out" in err and "not a folder" in err
