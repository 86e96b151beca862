"""Sets the survey's network tasks' validation targets as AlgoPerf sets its targets
(:func:`optax_survey.harness.target_setting.set_target`) and stores them, with their
provenance, in ``optax_survey/harness/tasks/targets.json`` (the file the tasks read
their ``Task.target`` from).

Each task at the steps of the survey's full preset: AdamW, NAG and SGDM each searched
over 45 quasi-random points (warm-up + cosine), the selected configuration rerun on 20
fresh seeds, each seed's best validation value, the median over seeds; the target is the
best of the three medians.

    python benchmarks/targets.py              # ~10 min on 2 cores (the sum of the
                                              # records' seconds: 565 s)
    python benchmarks/targets.py --tasks mnist1d-mlp   # one task; the others' stored
                                              # targets are kept as they are
    python benchmarks/targets.py --quick --out /tmp/t.json   # a smoke run: 3 trials,
                                              # 3 seeds, 20 steps, one task

Run it again whenever a network task or the full preset's steps change (for that task
alone: ``--tasks``): the survey's time-to-target columns are measured against these
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax

from optax_survey.harness import target_setting
from optax_survey.harness.survey import PRESETS
from optax_survey.harness.tasks import get_task, targets

NETWORK_TASKS = ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "charlm", "wilson-separable")


def chosen_tasks(tasks: str | None, *, quick: bool = False) -> list[str]:
  """The tasks to set: ``tasks`` (comma-separated, each one of :data:`NETWORK_TASKS`),
  else every network task (``quick``: the last, the cheapest).

  Example:
    >>> chosen_tasks("mnist1d-mlp"), chosen_tasks(None, quick=True)
    (['mnist1d-mlp'], ['wilson-separable'])
  """
  if tasks is None:
    return list(NETWORK_TASKS[-1:] if quick else NETWORK_TASKS)
  names = [t.strip() for t in tasks.split(",") if t.strip()]
  unknown = [t for t in names if t not in NETWORK_TASKS]
  if unknown or not names:
    raise SystemExit(f"targets.py: --tasks must name network tasks ({', '.join(NETWORK_TASKS)}),"
                     f" got {tasks!r}")
  return names


def kept_records(path: str, names: list[str]) -> dict:
  """The records already stored in ``path`` (none if it does not exist), in
  :data:`NETWORK_TASKS`' order, with those of ``names`` left for this run to set: the
  other tasks' targets are kept as they are, and the file keeps its order."""
  stored: dict = {}
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      stored = json.load(f)
  return {name: stored.get(name) for name in NETWORK_TASKS
          if name in names or name in stored}


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="a smoke run")
  parser.add_argument("--out", default=targets.PATH, help="where (default: %(default)s)")
  parser.add_argument("--tasks", default=None, metavar="NAMES",
                      help="comma-separated network tasks to set again; the other tasks' "
                           "records in --out are kept unchanged (default: every one of "
                           f"{', '.join(NETWORK_TASKS)})")
  args = parser.parse_args(argv)
  names = chosen_tasks(args.tasks, quick=args.quick)
  settings = ({"trials": 3, "seeds": 3} if args.quick else {})
  out = args.out
  command = "python benchmarks/targets.py" + (" --quick" if args.quick else "")
  if args.tasks is not None:
    command += f" --tasks {','.join(names)}"
  records = kept_records(out, names) if args.tasks is not None else {}
  reference = target_setting.REFERENCE_OPTIMIZERS
  print(f"| task | metric | steps | target | set by | {' | '.join(reference)} | seconds |")
  print("|---" * (6 + len(reference)) + "|")
  for name in names:
    task = get_task(name)
    steps = 20 if args.quick else PRESETS["full"].steps.get(name, task.steps)
    start = time.perf_counter()
    record = target_setting.set_target(task, steps=steps, **settings)
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["command"] = command
    record["machine"] = (f"{platform.machine()} CPU ({os.cpu_count()} cores), "
                         f"jax {jax.__version__}")
    records[name] = record
    medians = " | ".join(f"{record['reference'][r]['median_best']:.4g}"
                         for r in reference)
    print(f"| {name} | {record['metric']} ({record['mode']}) | {steps} | "
          f"{record['target']:.4g} | {record['set_by']} | {medians} | {record['seconds']} |",
          flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  with open(out, "w", encoding="utf-8") as f:
    json.dump(records, f, indent=1)
    f.write("\n")
  print(f"wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
