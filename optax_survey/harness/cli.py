"""``optax-survey``: which of the survey's optimizers works for my problem?

    optax-survey                      # the quick survey (< 3 min on a laptop CPU)
    optax-survey list                 # optimizers, defaults, papers, reference code
    optax-survey tasks                # the tasks
    optax-survey compare --task digits-mlp --optimizers adam,adabound,radam --seeds 3
    optax-survey compare --task rosenbrock --optimizers adam,sgdm --lr-grid 1e-3,1e-2,1e-1
    optax-survey survey --preset full --out benchmarks/results   # the results page

Bad input gets a one-line error naming the bad value and the choices, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from optax_survey.harness import registry
from optax_survey.harness.tasks import TASK_DESCRIPTIONS, get_task, task_names

PROG = "optax-survey"


class UsageError(Exception):
  pass


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are one line on stderr and exit status 2."""

  def error(self, message: str):  # noqa: D401 - argparse API
    sys.stderr.write(f"{PROG}: error: {message}\n")
    raise SystemExit(2)


def _positive_int(flag: str):
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{flag} must be a positive integer, got {text!r}")
    if value < 1:
      raise argparse.ArgumentTypeError(f"{flag} must be a positive integer, got {value}")
    return value
  return parse


def parse_optimizers(text: str) -> list[str]:
  names = [n.strip() for n in text.split(",") if n.strip()]
  choices = ", ".join(registry.OPTIMIZERS)
  if not names:
    raise UsageError(f"--optimizers is empty ({text!r}); choose from: {choices} (or all)")
  if names == ["all"]:
    return list(registry.OPTIMIZERS)
  for n in names:
    if n not in registry.OPTIMIZERS:
      raise UsageError(f"unknown optimizer {n!r}; choose from: {choices} (or all)")
  if len(set(names)) != len(names):
    raise UsageError(f"--optimizers lists an optimizer twice: {text!r}")
  return names


def parse_lr_grid(text: Optional[str]) -> Optional[list[float]]:
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
      raise UsageError(f"--lr-grid: {p!r} is not a number; give positive numbers, e.g. 1e-3,1e-2")
    if not v > 0 or v == float("inf"):
      raise UsageError(f"--lr-grid: {p!r} is not a positive finite number")
    values.append(v)
  return values


def check_task(name: str) -> str:
  if name not in TASK_DESCRIPTIONS:
    raise UsageError(f"unknown task {name!r}; choose from: {', '.join(task_names())}")
  return name


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog=PROG, description=__doc__.split("\n")[0],
                   formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
  sub = parser.add_subparsers(dest="command", parser_class=_Parser)
  sub.add_parser("list", help="the optimizers, their defaults, papers and reference code")
  sub.add_parser("tasks", help="the tasks")

  cmp = sub.add_parser("compare", help="train optimizers on one task, print a table, write results")
  cmp.add_argument("--task", required=True, help="one of: " + ", ".join(task_names()))
  cmp.add_argument("--optimizers", default="sgdm,adam,amsgrad,adabound,radam,lookahead",
                   help="comma-separated names, or 'all'")
  cmp.add_argument("--seeds", type=_positive_int("--seeds"), default=None,
                   help="number of seeds (default: the task's)")
  cmp.add_argument("--steps", type=_positive_int("--steps"), default=None,
                   help="training steps (default: the task's)")
  cmp.add_argument("--lr-grid", default=None,
                   help="comma-separated learning rates (default: each optimizer's rate for the task)")
  cmp.add_argument("--out", default=None, help="output folder (default: out/compare/TASK)")
  cmp.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
  cmp.add_argument("--no-progress", action="store_true", help="no progress bar")

  srv = sub.add_parser("survey", help="every optimizer on several tasks: the results page")
  srv.add_argument("--preset", choices=["quick", "full"], default="quick")
  srv.add_argument("--out", default=None, help="output folder (default: out/survey-PRESET)")
  srv.add_argument("--seeds", type=_positive_int("--seeds"), default=None)
  srv.add_argument("--steps-scale", type=float, default=1.0,
                   help="multiply every task's step count (e.g. 0.1 for a smoke test)")
  srv.add_argument("--no-progress", action="store_true")
  return parser


def cmd_list() -> None:
  print(f"{'optimizer':<10} {'paper':<24} {'reference code':<48} defaults")
  for name, info in registry.OPTIMIZERS.items():
    print(f"{name:<10} {info.paper:<24} {info.code:<48} {registry.defaults_text(name)}")


def cmd_tasks() -> None:
  for name, text in TASK_DESCRIPTIONS.items():
    print(f"{name:<17} {text}")


def make_progress(total: int, desc: str, disable: bool):
  try:
    from tqdm import tqdm
  except ImportError:  # pragma: no cover - tqdm is in the survey extra
    return None
  return tqdm(total=total, desc=desc, file=sys.stderr, disable=disable, dynamic_ncols=True,
              leave=False)


def compare(task_name: str, optimizers: Sequence[str], *, seeds=None, steps=None, lrs=None,
            out: Optional[str] = None, plot: bool = True, progress: bool = True,
            prefix: str = "", echo: bool = True):
  """Runs the comparison; returns (task, results, rows, written paths)."""
  from optax_survey.harness import plots, report, runner

  task = get_task(task_name)
  n_steps = task.steps if steps is None else steps
  _, n_chunks = runner.schedule_chunks(n_steps, task.eval_points)
  bar = make_progress(n_chunks * len(optimizers), task.name, not progress)
  results = []
  for name in optimizers:
    if bar is not None:
      bar.set_postfix_str(name)
    results.append(runner.run_optimizer(task, name, steps=steps, seeds=seeds, lrs=lrs, progress=bar))
  if bar is not None:
    bar.close()
  rows = [row for r in results for row in report.summarize(task, r)]
  if echo:
    print(f"\n{task.name}: {task.description}")
    print(f"{results[0].steps} steps, {results[0].seeds} seed(s); mean ± std over seeds\n")
    print(report.format_table(task, rows))
  written = []
  if out:
    written += report.write_outputs(out, task, results, rows, prefix)
    if plot:
      written += plots.write_plots(out, task, results, prefix)
    if echo:
      print("\nwrote " + ", ".join(written))
  return task, results, rows, written


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv:
    argv = ["survey", "--preset", "quick"]
  parser = build_parser()
  args = parser.parse_args(argv)
  try:
    if args.command == "list":
      cmd_list()
    elif args.command == "tasks":
      cmd_tasks()
    elif args.command == "compare":
      task = check_task(args.task)
      optimizers = parse_optimizers(args.optimizers)
      lrs = parse_lr_grid(args.lr_grid)
      out = args.out or os.path.join("out", "compare", task)
      compare(task, optimizers, seeds=args.seeds, steps=args.steps, lrs=lrs, out=out,
              plot=not args.no_plot, progress=not args.no_progress)
    elif args.command == "survey":
      if not args.steps_scale > 0:
        raise UsageError(f"--steps-scale must be > 0, got {args.steps_scale}")
      from optax_survey.harness import survey

      out = args.out or os.path.join("out", f"survey-{args.preset}")
      survey.run_survey(args.preset, out, seeds=args.seeds, steps_scale=args.steps_scale,
                        progress=not args.no_progress)
    else:
      parser.print_help()
  except UsageError as e:
    parser.error(str(e))
  return 0


def entry() -> None:
  """Console-script entry point."""
  raise SystemExit(main())
