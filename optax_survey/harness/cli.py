"""``optax-survey``: the command line, a thin shell over the harness's library functions.

It parses the arguments, runs the checks of
:mod:`~optax_survey.harness.preflight` with the command line's own switch
names, and calls :func:`~optax_survey.harness.comparison.compare` or
:func:`~optax_survey.harness.survey.run_survey`.  Every problem it can foresee
is one line on stderr, ``optax-survey: error: ...``, exit status 2, before any
training; a closed pipe (``optax-survey tasks | head -1``) ends it quietly.
No module of the package imports this one.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

import jax
import optax

import optax_survey
from optax_survey.harness import preflight, registry
from optax_survey.harness.comparison import DEFAULT_OPTIMIZERS
from optax_survey.harness.tasks import (
    TASK_DESCRIPTIONS,
    TaskError,
    task_learning_rate_note,
    task_learning_rates,
    task_names,
)

PROG = "optax-survey"

DESCRIPTION = "Which of the survey's optimizers works for my problem?"

EPILOG = """\
examples:
  optax-survey                      the quick survey (survey --preset quick)
  optax-survey list                 optimizers, defaults, papers, reference code
  optax-survey tasks                the tasks and their learning rates
  optax-survey compare --task digits-mlp --optimizers adam,adabound,radam
  optax-survey compare --task rosenbrock --optimizers adam,sgdm --lr-grid 1e-3,1e-2,1e-1
  optax-survey compare --task my_module:make_task        (your own Task, see README)
  optax-survey compare --task path/to/file.py:make_task --budget one-shot
  optax-survey survey --preset full --out benchmarks/results   (the results page)

'python -m optax_survey ...' is the same command. Bad input gets a one-line error
naming the bad value and the choices, exit status 2.
"""

# The switches that turn off what needs an optional package, named in the errors.
COMPARE_SWITCHES = {"plot": "--no-plot", "progress": "--no-progress"}
SURVEY_SWITCHES = {"progress": "--no-progress"}


class UsageError(Exception):
  pass


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line on stderr and exit status 2."""

  hint = ""  # appended to the top-level parser's errors (see _subcommand_hint)
  subcommands: dict[str, argparse.ArgumentParser] = {}

  def error(self, message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: error: {message}{self.hint}\n")
    raise SystemExit(2)


def _positive_int(flag: str):
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(
          f"{flag} must be a positive integer, got {text!r}") from None
    if value < 1:
      raise argparse.ArgumentTypeError(f"{flag} must be a positive integer, got {value}")
    return value
  return parse


def _positive_float(flag: str):
  def parse(text: str) -> float:
    try:
      value = float(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{flag} must be a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
      raise argparse.ArgumentTypeError(f"{flag} must be a number > 0, got {text}")
    return value
  return parse


def parse_optimizers(text: str) -> list[str]:
  names = [n.strip() for n in text.split(",") if n.strip()]
  choices = ", ".join(registry.OPTIMIZERS)
  if not names:
    raise UsageError(f"--optimizers is empty ({text!r}); choose from: {choices} (or all)")
  if names == ["all"]:
    return list(registry.OPTIMIZERS)
  try:
    return registry.check_optimizers(names)
  except preflight.BadInputError as error:
    raise UsageError(f"--optimizers: {error}") from None


def parse_lr_grid(text: str | None) -> list[float] | None:
  if text is None:
    return None
  parts = [p.strip() for p in text.split(",") if p.strip()]
  if not parts:
    raise UsageError(f"--lr-grid is empty ({text!r}); give positive numbers, e.g. 1e-3,1e-2")
  values = []
  for p in parts:
    try:
      v = float(p)
    except ValueError:
      raise UsageError(
          f"--lr-grid: {p!r} is not a number; give positive numbers, e.g. 1e-3,1e-2") from None
    if not 0 < v < float("inf"):
      raise UsageError(f"--lr-grid: {p!r} is not a positive finite number")
    values.append(v)
  return values


def check_task(name: str) -> str:
  if name not in TASK_DESCRIPTIONS and ":" not in name:
    raise UsageError(f"unknown task {name!r}; choose from: {', '.join(task_names())}, or "
                     "MODULE:FUNCTION, or path/to/file.py:FUNCTION")
  return name


def build_parser() -> _Parser:
  from optax_survey.harness.survey import PRESETS

  parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument(
      "--version", action="version",
      version=f"{PROG} {optax_survey.__version__} (jax {jax.__version__}, "
              f"optax {optax.__version__})",
      help="print the versions of optax_survey, jax and optax and exit")
  sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND",
                              title="commands (default: survey --preset quick)")
  sub.add_parser("list", help="the optimizers, their defaults, papers and reference code",
                 description="The optimizers, their defaults, papers and reference code.")
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
  cmp.add_argument("--budget", choices=["tuned", "one-shot"], default="tuned",
                   help="tuned: select each optimizer's learning rate from a grid on the "
                        "validation split, report the test metric on fresh seeds; one-shot: "
                        "published defaults (default: %(default)s)")
  cmp.add_argument("--optimizers", default=",".join(DEFAULT_OPTIMIZERS), metavar="NAMES",
                   help="comma-separated optimizer names, or 'all' (default: %(default)s)")
  cmp.add_argument("--seeds", type=_positive_int("--seeds"), default=None, metavar="N",
                   help="seeds per reported number (default: the task's, 5)")
  cmp.add_argument("--steps", type=_positive_int("--steps"), default=None, metavar="N",
                   help="training steps (default: the task's)")
  cmp.add_argument("--lr-grid", default=None, metavar="LRS",
                   help="comma-separated learning rates of the tuned budget, the same for "
                        "every optimizer (default: 7 rates over 3 decades around each "
                        "optimizer's rate for the task, see 'tasks')")
  cmp.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: out/compare/TASK)")
  cmp.add_argument("--no-plot", action="store_true", help="do not write the PNG plots")
  cmp.add_argument("--no-progress", action="store_true", help="do not show a progress bar")

  srv = sub.add_parser(
      "survey", help="every optimizer on several tasks: the results page",
      description="Every optimizer on several tasks, the survey's figures and claims "
                  "checked: writes survey.md, survey.csv, survey.json and PNGs.")
  quick, full = PRESETS["quick"], PRESETS["full"]
  srv.add_argument("--preset", choices=list(PRESETS), default="quick",
                   help=f"quick: {len(quick.optimizers)} optimizers on {len(quick.tasks)} "
                        f"tasks, the command's default; full: all {len(full.optimizers)} on "
                        f"all {len(full.tasks)} tasks, README's results page; both run the "
                        "tuned and the one-shot budget (default: %(default)s)")
  srv.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: out/survey-PRESET)")
  srv.add_argument("--seeds", type=_positive_int("--seeds"), default=None, metavar="N",
                   help="seeds per reported number on every task (default: 5)")
  srv.add_argument("--steps-scale", type=_positive_float("--steps-scale"), default=1.0,
                   metavar="X",
                   help="multiply every task's step count, e.g. 0.1 for a smoke test "
                        "(default: 1)")
  srv.add_argument("--no-progress", action="store_true", help="do not show progress bars")
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


def cmd_list() -> None:
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
  for name, text in TASK_DESCRIPTIONS.items():
    print(textwrap.fill(f"{name:<17} {text}", 100, subsequent_indent=" " * 18))
    line = f"lr: {format_learning_rates(task_learning_rates(name))}"
    note = task_learning_rate_note(name)
    print(_indent(line + (f"; {note}" if note else ""), 18, sep="; "))


def _output_dir(path: str) -> str:
  try:
    return preflight.check_output_dir(path)
  except preflight.OutputDirError as error:
    raise UsageError(f"--out: {error}") from None


def _load_task(spec: str, budget: str):
  """The task of ``--task`` (a name or a factory), checked before any training."""
  from optax_survey.harness.tasks import check_task as check
  from optax_survey.harness.tasks import load_task

  try:
    return check(load_task(spec), tuned=budget == "tuned")
  except (TaskError, TypeError) as error:
    raise UsageError(f"--task: {error}") from None


def cmd_compare(args: argparse.Namespace) -> None:
  from optax_survey.harness.comparison import compare

  spec = check_task(args.task)
  optimizers = parse_optimizers(args.optimizers)
  lrs = parse_lr_grid(args.lr_grid)
  plot, progress = not args.no_plot, not args.no_progress
  builtin = spec in TASK_DESCRIPTIONS
  preflight.require_extras(tasks=[spec] if builtin else [], plot=plot, progress=progress,
                           switches=COMPARE_SWITCHES)
  task = _load_task(spec, args.budget)
  out = _output_dir(args.out or os.path.join("out", "compare", task.name or "task"))
  result = compare(task, optimizers, budget=args.budget, seeds=args.seeds, steps=args.steps,
                   lr_grid=lrs, out=out, plot=plot, progress=progress)
  print("\n" + result.summary())
  print("\nwrote " + ", ".join(result.written))


def cmd_survey(args: argparse.Namespace) -> None:
  from optax_survey.harness import survey

  progress = not args.no_progress
  preflight.require_extras(tasks=survey.required_tasks(args.preset), plot=True,
                           progress=progress, switches=SURVEY_SWITCHES)
  out = _output_dir(args.out or os.path.join("out", f"survey-{args.preset}"))
  survey.run_survey(args.preset, out, seeds=args.seeds, steps_scale=args.steps_scale,
                    progress=progress)


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
      cmd_list()
    elif args.command == "tasks":
      cmd_tasks()
    elif args.command == "compare":
      cmd_compare(args)
    elif args.command == "survey":
      cmd_survey(args)
    else:
      parser.print_help()
  except (UsageError, preflight.HarnessError) as error:
    parser.error(str(error))
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
  except KeyboardInterrupt:
    sys.stderr.write(f"{PROG}: interrupted\n")
    code = 130
  raise SystemExit(code)
