"""``optax-survey``: the command line, a thin shell over the harness's library functions.

It parses the arguments and calls :func:`~optax_survey.harness.protocol.compare`,
:func:`~optax_survey.harness.survey.run_survey` or
:func:`~optax_survey.harness.surface.loss_surface`, which check every input
once, before any training; it checks nothing itself, and translates their
:class:`~optax_survey.harness.errors.HarnessError` into one line on stderr,
``optax-survey: error: ...`` naming its own flags (``--lr-grid`` for
``lr_grid``, ``--no-plot`` for ``plot=False``), exit status 2.  A closed pipe
(``optax-survey tasks | head -1``) ends it quietly.  No module of the package
imports this one.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence
from typing import NoReturn

import jax
import optax

import optax_survey
from optax_survey.harness import registry, search
from optax_survey.harness.checkpoints import Interrupted
from optax_survey.harness.errors import BadInputError, HarnessError, MissingExtraError
from optax_survey.harness.protocol import DEFAULT_OPTIMIZERS, SEARCH_DEFAULTS, compare
from optax_survey.harness.runs import PRUNERS, SELECTIONS
from optax_survey.harness.surface import DEFAULT_OPTIMIZERS as SURFACE_OPTIMIZERS
from optax_survey.harness.surface import loss_surface
from optax_survey.harness.survey import PRESETS, run_survey
from optax_survey.harness.tasks import CATALOGUE, load_task, task_names

PROG = "optax-survey"

DESCRIPTION = "Which of the survey's optimizers works for my problem?"

EPILOG = """\
examples:
  optax-survey                      the quick survey (survey --preset quick)
  optax-survey list                 optimizers, defaults, papers, reference code
  optax-survey tasks                the tasks and their learning rates
  optax-survey compare --task digits-mlp --optimizers adam,adabound,radam
  optax-survey compare --task rosenbrock --optimizers adam,sgdm --lr-grid 1e-3,1e-2,1e-1
  optax-survey compare --task digits-mlp --optimizers adam,optax.lion,my_module:make_tx
  optax-survey compare --task my_module:make_task        (your own Task, see README)
  optax-survey compare --task path/to/file.py:make_task --budget one-shot
  optax-survey survey --preset full --out benchmarks/results   (the results page)
  optax-survey landscape --task mnist1d-mlp --optimizers sgdm,adam --lr adam=0.003

'python -m optax_survey ...' is the same command. Bad input gets a one-line error
naming the bad value and the choices, exit status 2.
"""

# The switches that turn off what needs an optional package, named in the errors.
COMPARE_SWITCHES = {"plot": "--no-plot", "progress": "--no-progress", "log": "no --log-dir"}
SURVEY_SWITCHES = {"progress": "--no-progress"}

# The library's argument names -> the command line's flags, named in the errors.
FLAGS = {"task": "--task", "optimizers": "--optimizers", "budget": "--budget",
         "seeds": "--seeds", "steps": "--steps", "lr_grid": "--lr-grid", "out": "--out",
         "preset": "--preset", "steps_scale": "--steps-scale", "log_dir": "--log-dir",
         "mesh": "--devices", "layout": "--layout", "max_parallel_runs": "--max-parallel-runs",
         "device_memory": "--device-memory", "resume": "--resume",
         "checkpoint_every": "--checkpoint-every", "trials": "--trials",
         "studies": "--studies", "trial_seeds": "--trial-seeds", "schedule": "--schedule",
         "sequence": "--sequence",
         "select": "--select", "space": "--space", "pruner": "--pruner",
         "reduction": "--reduction", "lrs": "--lr", "seed": "--seed", "points": "--points",
         "span": "--span"}


def user_traceback(error: BaseException) -> str:
  """The traceback of an exception raised in the user's code, without the frames of
  this package (the user's own lines, where it happened)."""
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if not os.path.abspath(f.filename).startswith(package + os.sep)]
  return ("Traceback (most recent call last), in your code:\n"
          + "".join(traceback.format_list(frames))
          + "".join(traceback.format_exception_only(type(error), error)))


def translate(error: HarnessError, switches: dict[str, str]) -> str:
  """The library's one-line ``error`` in the command line's words: its flags for the
  argument names, its switches for the keyword arguments that turn a use off."""
  if isinstance(error, MissingExtraError):
    return error.describe(switches)
  text, arg = str(error), error.argument
  flag = FLAGS.get(arg or "")
  if flag is None or arg is None:
    return text
  if any(text.startswith(arg + rest) for rest in (":", " is ", " must ")):
    return flag + text[len(arg):]
  return f"{flag}: {text}"


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line on stderr and exit status 2."""

  hint = ""  # appended to the top-level parser's errors (see _subcommand_hint)
  subcommands: dict[str, argparse.ArgumentParser] = {}

  def error(self, message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: error: {message}{self.hint}\n")
    raise SystemExit(2)


def _items(text: str | None) -> list[str] | None:
  """``"a, b,c"`` -> ``["a", "b", "c"]`` (the library checks the items)."""
  return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def _add_layout_arguments(parser: argparse.ArgumentParser) -> None:
  """--devices, --layout, --max-parallel-runs: where the runs execute; --resume,
  --checkpoint-every: what is kept."""
  parser.add_argument("--resume", action="store_true",
                      help="take the optimizers already finished in the output folder from "
                           "there (made by the same command, or a one-line error) and "
                           "continue an unfinished one from its checkpoint")
  parser.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                      help="checkpoint an optimizer's unfinished runs this often (and at "
                           "SIGINT/SIGTERM; default: %(default)s)")
  parser.add_argument("--devices", default=None, metavar="N|all",
                      help="the devices the runs are sharded over: a count, or all "
                           "(default: all the devices JAX sees)")
  parser.add_argument("--layout", default="auto", metavar="LAYOUT",
                      help="runs per compiled call: vmap (as many as fit), loop (one per "
                           "device), a number, or auto (vmap, or loop where that measured "
                           "faster; default: %(default)s)")
  parser.add_argument("--max-parallel-runs", type=int, default=None, metavar="N",
                      help="train at most N runs at once (default: as many as fit the "
                           "device memory)")


def build_parser() -> _Parser:
  parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument(
      "--version", action="version",
      version=f"{PROG} {optax_survey.__version__} (jax {jax.__version__}, "
              f"optax {optax.__version__})",
      help="print the versions of optax_survey, jax and optax and exit")
  sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND",
                              title="commands (default: survey --preset quick)")
  lst = sub.add_parser("list", help="the optimizers, their defaults, papers and reference code",
                       description="The optimizers, their defaults, papers and reference "
                                   "code; with --search-space, what the search budget "
                                   "searches for each, and where each range comes from.")
  lst.add_argument("--search-space", action="store_true",
                   help="each optimizer's declared search space (the search budget's)")
  sub.add_parser("tasks", help="the tasks and the learning rate of each optimizer on them",
                 description="The tasks and the learning rate each optimizer gets on them.")

  cmp = sub.add_parser(
      "compare", help="train optimizers on one task, print a table, write results",
      description="Train optimizers on one task at a tuning budget (all seeds and learning "
                  "rates of one optimizer as one compiled program), print the table (mean "
                  "[95% CI] over seeds) and write results.csv, results.json and PNG plots.")
  cmp.add_argument("--task", required=True, metavar="TASK",
                   help="the task: one of " + ", ".join(task_names()) + "; or your own, "
                        "MODULE:FUNCTION or path/to/file.py:FUNCTION returning a Task")
  cmp.add_argument("--budget", choices=["tuned", "one-shot", "search"], default="tuned",
                   help="tuned: select each optimizer's learning rate from a grid on the "
                        "validation split, report the test metric on fresh seeds; one-shot: "
                        "published defaults; search: quasi-random search over each "
                        "optimizer's declared space (list --search-space), --studies "
                        "independent studies of --trials points, the median study's "
                        "selection rerun on fresh seeds (default: %(default)s)")
  cmp.add_argument("--trials", type=int, default=SEARCH_DEFAULTS["trials"], metavar="N",
                   help="the search budget's points per study (default: %(default)s)")
  cmp.add_argument("--studies", type=int, default=SEARCH_DEFAULTS["studies"], metavar="N",
                   help="the search budget's independent studies (default: %(default)s)")
  cmp.add_argument("--trial-seeds", type=int, default=SEARCH_DEFAULTS["trial_seeds"],
                   metavar="N", help="seeds each trial of the search trains on; the selected "
                                     "trials rerun on --seeds fresh ones (default: %(default)s)")
  cmp.add_argument("--schedule", choices=search.SCHEDULES, default=SEARCH_DEFAULTS["schedule"],
                   help="the search budget's learning-rate schedule; warmup_cosine: optax's "
                        "warm-up and cosine decay, the warm-up fraction searched "
                        "(default: %(default)s)")
  cmp.add_argument("--select", choices=SELECTIONS, default=SEARCH_DEFAULTS["select"],
                   help="the search budget's selection: the best final validation value, or "
                        "the fewest steps to the task's target (default: %(default)s)")
  cmp.add_argument("--pruner", choices=PRUNERS, default=SEARCH_DEFAULTS["pruner"],
                   help="stop the search budget's worse trials early: halving, successive "
                        "halving (at each rung, evaluations --reduction times further "
                        "apart, each study keeps its best 1/--reduction of trials by "
                        "validation) (default: none)")
  cmp.add_argument("--reduction", type=int, default=SEARCH_DEFAULTS["reduction"], metavar="N",
                   help="--pruner halving's reduction factor, an integer >= 2 "
                        "(default: %(default)s)")
  cmp.add_argument("--space", default=None, metavar="FILE",
                   help="the search budget's spaces from a JSON file, {optimizer: "
                        "{hyperparameter: {low, high, scale, source}}}, replacing the "
                        "declared ones (list --search-space)")
  cmp.add_argument("--sequence", choices=search.SEQUENCES, default=SEARCH_DEFAULTS["sequence"],
                   help="the search budget's quasi-random sequence (scipy.stats.qmc, "
                        "scrambled) (default: %(default)s)")
  cmp.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS), metavar="NAMES",
                   help="comma-separated optimizer names, or 'all'; also any optax optimizer "
                        "(optax.lion) or your own, MODULE:FUNCTION or path/to/file.py:FUNCTION "
                        "(learning_rate -> optax.GradientTransformation) (default: %(default)s)")
  cmp.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds per reported number (default: the task's, 5)")
  cmp.add_argument("--steps", type=int, default=None, metavar="N",
                   help="training steps (default: the task's)")
  cmp.add_argument("--lr-grid", default=None, metavar="LRS",
                   help="comma-separated learning rates of the tuned budget, the same for "
                        "every optimizer (default: 7 rates over 3 decades around each "
                        "optimizer's rate for the task, see 'tasks')")
  cmp.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: out/compare/TASK)")
  cmp.add_argument("--log-dir", default=None, metavar="DIR",
                   help="write every run's curves there as TensorBoard scalars, each "
                        "optimizer's as soon as it has run (tensorboard --logdir DIR; "
                        "needs the tensorboard extra)")
  cmp.add_argument("--minima", action="store_true",
                   help="measure the minima the reported runs reach: the sharpness of the "
                        "training loss (λ_max, preconditioned, scale-invariant), its "
                        "Hessian's trace, and the generalization gap (tuned or search "
                        "budget)")
  cmp.add_argument("--no-plot", action="store_true", help="do not write the PNG plots")
  cmp.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
  _add_layout_arguments(cmp)

  srv = sub.add_parser(
      "survey", help="every optimizer on several tasks: the results page",
      description="Every optimizer on several tasks, the survey's figures and claims "
                  "checked: writes survey.md, survey.csv, survey.json and PNGs.")
  quick, full, paper = PRESETS["quick"], PRESETS["full"], PRESETS["paper"]
  srv.add_argument("--preset", choices=list(PRESETS), default="quick",
                   help=f"quick: {len(quick.optimizers)} optimizers on {len(quick.tasks)} "
                        f"tasks, the command's default; full: all {len(full.optimizers)} on "
                        f"all {len(full.tasks)} tasks, README's results page; paper: all "
                        f"{len(paper.optimizers)} on the {len(paper.tasks)} network tasks at "
                        "their reference settings (MNIST-1D 6000 steps, batch 100; digits and "
                        "charlm to a measured plateau), meant for a GPU, it prints its CPU "
                        "time when it starts; each runs the tuned and the one-shot budget, "
                        "full and paper the search budget too (default: %(default)s)")
  srv.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: out/survey-PRESET)")
  srv.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds per reported number on every task (default: 5)")
  srv.add_argument("--steps-scale", type=float, default=1.0,
                   metavar="X",
                   help="multiply every task's step count, e.g. 0.1 for a smoke test "
                        "(default: 1)")
  srv.add_argument("--optimizers", default=None, metavar="NAMES",
                   help="comma-separated optimizers of the preset to run, e.g. adam,sgdm for "
                        "a smoke test (default: all of the preset's)")
  srv.add_argument("--search", action=argparse.BooleanOptionalAction, default=None,
                   help="run the search budget too (15 quasi-random trials x 3 studies, "
                        "warm-up + cosine; default: the preset's, on for full)")
  srv.add_argument("--no-progress", action="store_true", help="do not show progress bars")
  _add_layout_arguments(srv)

  lnd = sub.add_parser(
      "landscape", help="the loss surface around and between optimizers' solutions",
      description="Train each optimizer on one task (seed --seed, as compare trains it) and "
                  "measure the training loss on the straight line from the initial to each "
                  "final point, on the line between consecutive optimizers' solutions (linear "
                  "mode connectivity), and on a 2-D slice around each final point along "
                  "filter-normalised random directions (Li et al. 2018), with the sharpness "
                  "(the largest Hessian eigenvalue) there; writes landscape_TASK_planes.png, "
                  "landscape_TASK_lines.png and landscape_TASK.json.")
  lnd.add_argument("--task", default="mnist1d-mlp", metavar="TASK",
                   help="the task: one of the survey's (see 'tasks') or your own, "
                        "MODULE:FUNCTION or path/to/file.py:FUNCTION (default: %(default)s)")
  lnd.add_argument("--optimizers", default=",".join(SURFACE_OPTIMIZERS), metavar="NAMES",
                   help="comma-separated optimizer names, as compare takes them; the lines "
                        "between solutions join consecutive ones (default: %(default)s)")
  lnd.add_argument("--lr", action="append", default=None, metavar="NAME=VALUE",
                   help="an optimizer's learning rate, e.g. --lr adam=0.003 (repeat for "
                        "others; default: the centre of its grid on the task, see 'tasks')")
  lnd.add_argument("--steps", type=int, default=None, metavar="N",
                   help="training steps (default: the task's)")
  lnd.add_argument("--seed", type=int, default=0, metavar="S",
                   help="the seed whose run is measured (default: %(default)s)")
  lnd.add_argument("--points", type=int, default=21, metavar="N",
                   help="grid points per axis of the 2-D slices, odd (default: %(default)s)")
  lnd.add_argument("--span", type=float, default=1.0, metavar="X",
                   help="the slices cover [-X, X] along each direction (default: %(default)s)")
  lnd.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: out/landscape/TASK)")
  lnd.add_argument("--no-plot", action="store_true", help="write the JSON alone, no PNGs")
  parser.subcommands = dict(sub.choices)
  return parser


def _subcommand_hint(argv: Sequence[str], parser: _Parser) -> str:
  """'; did you mean ...?' when the arguments start with an option of a subcommand."""
  if not argv or not argv[0].startswith("-") or argv[0] in ("-h", "--help", "--version"):
    return ""
  option = argv[0].split("=", 1)[0]
  owners = [name for name, sub in parser.subcommands.items()
            if option in sub._option_string_actions]
  if not owners:
    return ""
  owner = "survey" if "survey" in owners else owners[0]
  return f" ({option} is an option of a command: did you mean '{PROG} {owner} {' '.join(argv)}'?)"


def _indent(text: str, width: int, sep: str = ", ") -> str:
  """``text`` indented by ``width`` and wrapped at 100 columns after a ``sep``
  (so that ``weight_decay=0.0 (L2)`` stays on one line)."""
  lines, line = [], ""
  for piece in text.split(sep):
    candidate = f"{line}{sep}{piece}" if line else piece
    if line and width + len(candidate) + len(sep.rstrip()) > 100:
      lines.append(line + sep.rstrip())
      line = piece
    else:
      line = candidate
  lines.append(line)
  return "\n".join(" " * width + text for text in lines)


def cmd_list(search_space: bool = False) -> None:
  if search_space:
    print("each optimizer's search space (the search budget, compare --budget search): "
          "hyperparameter: range (source)")
    for name in registry.OPTIMIZERS:
      print(name)
      for line in search.search_space_text(name).splitlines():
        print(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="      "))
    return
  print(f"{'optimizer':<10} paper; reference code\n{'':<10} defaults")
  for name, info in registry.OPTIMIZERS.items():
    print(f"{name:<10} {info.paper}; {info.code}")
    print(_indent(registry.defaults_text(name), 11))
    note = registry.survey_setting_text(name)
    if note:
      print(_indent(f"({note})", 11))


def format_learning_rates(lrs: dict[str, float]) -> str:
  """'sgd 0.45; sgdm, nag 0.05; ...; the other 13 0.1': optimizers grouped by rate."""
  groups: dict[float, list[str]] = {}
  for name in registry.OPTIMIZERS:
    if name in lrs:
      groups.setdefault(lrs[name], []).append(name)
  if len(groups) == 1:
    return f"all {next(iter(groups)):g}"
  common = max(groups, key=lambda v: len(groups[v]))
  parts = [f"{', '.join(names)} {lr:g}" for lr, names in groups.items()
           if lr != common or len(names) == 1]
  if len(groups[common]) > 1:
    parts.append(f"the other {len(groups[common])} {common:g}")
  return "; ".join(parts)


def cmd_tasks() -> None:
  for name, info in CATALOGUE.items():
    print(textwrap.fill(f"{name:<17} {info.description}", 100, subsequent_indent=" " * 18))
    line = f"lr: {format_learning_rates(dict(info.learning_rates))}"
    print(_indent(line + (f"; {info.lr_note}" if info.lr_note else ""), 18, sep="; "))


def cmd_compare(args: argparse.Namespace) -> None:
  task = load_task(args.task)
  result = compare(
      task, _items(args.optimizers) or [], budget=args.budget, seeds=args.seeds,
      steps=args.steps, lr_grid=_items(args.lr_grid),
      out=args.out or os.path.join("out", "compare", task.name or "task"),
      plot=not args.no_plot, progress=not args.no_progress, log_dir=args.log_dir,
      mesh=args.devices, layout=args.layout, max_parallel_runs=args.max_parallel_runs,
      resume=args.resume, checkpoint_every=args.checkpoint_every, minima=args.minima,
      **_search_arguments(args))
  print("\n" + result.summary())
  print("\nwrote " + ", ".join(result.written))


def _search_arguments(args: argparse.Namespace) -> dict:
  """The search flags the user gave (the others left to compare's defaults, so that a
  search flag with another budget is refused there, not ignored)."""
  given = {"trials": args.trials, "studies": args.studies,
           "trial_seeds": args.trial_seeds, "schedule": args.schedule,
           "sequence": args.sequence, "select": args.select, "pruner": args.pruner,
           "reduction": args.reduction}
  chosen = {k: v for k, v in given.items() if v != SEARCH_DEFAULTS[k]}
  if args.space is not None:
    chosen["space"] = search.load_spaces(args.space)
  return chosen


def cmd_survey(args: argparse.Namespace) -> None:
  run_survey(args.preset, args.out or os.path.join("out", f"survey-{args.preset}"),
             seeds=args.seeds, steps_scale=args.steps_scale, search=args.search,
             optimizers=None if args.optimizers is None else [
                 n.strip() for n in args.optimizers.split(",") if n.strip()],
             progress=not args.no_progress,
             mesh=args.devices, layout=args.layout, max_parallel_runs=args.max_parallel_runs,
      resume=args.resume, checkpoint_every=args.checkpoint_every)


def _assignments(texts: Sequence[str] | None) -> dict[str, str] | None:
  """``["adam=0.01", ...]`` -> ``{"adam": "0.01", ...}`` (the library checks the values)."""
  if texts is None:
    return None
  pairs: dict[str, str] = {}
  for text in texts:
    name, equals, value = text.partition("=")
    if not (equals and name.strip() and value.strip()):
      raise BadInputError(f"lrs: {text!r} is not NAME=VALUE, e.g. --lr adam=0.01",
                          argument="lrs")
    if name.strip() in pairs:
      raise BadInputError(f"lrs: {name.strip()!r} is given twice", argument="lrs")
    pairs[name.strip()] = value.strip()
  return pairs


def cmd_landscape(args: argparse.Namespace) -> None:
  lrs = _assignments(args.lr)
  task = load_task(args.task)
  surface = loss_surface(
      task, _items(args.optimizers) or [], lrs=lrs, steps=args.steps, seed=args.seed,
      points=args.points, span=args.span, plot=not args.no_plot,
      out=args.out or os.path.join("out", "landscape", task.name or "task"))
  print(surface.summary())
  print("\nwrote " + ", ".join(surface.written))


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv:
    argv = ["survey", "--preset", "quick"]
  parser = build_parser()
  parser.hint = _subcommand_hint(argv, parser)
  args = parser.parse_args(argv)
  parser.hint = ""
  try:
    if args.command == "list":
      cmd_list(args.search_space)
    elif args.command == "tasks":
      cmd_tasks()
    elif args.command == "compare":
      cmd_compare(args)
    elif args.command == "survey":
      cmd_survey(args)
    elif args.command == "landscape":
      cmd_landscape(args)
    else:
      parser.print_help()
  except HarnessError as error:
    switches = SURVEY_SWITCHES if args.command == "survey" else COMPARE_SWITCHES
    if error.in_user_code and error.__cause__ is not None:
      sys.stderr.write(user_traceback(error.__cause__))
    parser.error(translate(error, switches))
  return 0


def _quiet_stream(stream) -> None:
  """Points a broken stream's file descriptor at /dev/null, so that the interpreter's
  last flush at exit does not fail again."""
  try:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)
  except (OSError, ValueError):
    pass


def entry() -> None:
  """Console-script entry point (``optax-survey``, ``python -m optax_survey``)."""
  try:
    code = main()
    sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
  except BrokenPipeError:
    # The reader went away (``| head``): stop quietly, with the status a shell gives a
    # writer killed by SIGPIPE (128 + 13), as Unix tools do.
    _quiet_stream(sys.stdout)
    try:
      sys.stderr.flush()
    except BrokenPipeError:
      _quiet_stream(sys.stderr)
    code = 141
  except Interrupted as stop:  # SIGINT or SIGTERM, with the runs kept
    sys.stderr.write(f"{PROG}: {str(stop).replace('resume=True (--resume)', '--resume')}\n")
    code = 130
  except KeyboardInterrupt:
    sys.stderr.write(f"{PROG}: interrupted\n")
    code = 130
  raise SystemExit(code)
