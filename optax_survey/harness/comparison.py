"""Compare optimizers on one task: the library function behind ``optax-survey compare``.

    from optax_survey.harness.comparison import compare
    result = compare("digits-mlp", ["adam", "adabound", "radam"], seeds=3)
    print(result.summary())
    result.write("out/digits")          # results.csv, results.json, curves.png

``compare`` checks everything it can before training (optimizer names, the
optional packages, the output folder) and raises a
:class:`~optax_survey.harness.preflight.HarnessError` with a one-line message
if something is wrong; then it trains each optimizer over all seeds and
learning rates as one vmapped, compiled program
(:func:`~optax_survey.harness.runner.run_optimizer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from optax_survey.harness import diagnostics, plots, preflight, registry, report, runner
from optax_survey.harness.progress import make_progress
from optax_survey.harness.runner import RunResult
from optax_survey.harness.tasks import Task, get_task, task_names

__all__ = ["DEFAULT_OPTIMIZERS", "Comparison", "compare"]

DEFAULT_OPTIMIZERS = ("sgdm", "adam", "amsgrad", "adabound", "radam", "lookahead")


@dataclasses.dataclass
class Comparison:
  """The optimizers' runs on one task, summarised.

  Attributes:
    task: the task.
    results: one :class:`~optax_survey.harness.runner.RunResult` per optimizer.
    rows: one summary row per optimizer and learning rate (:func:`report.summarize`).
    notes: sentences the table needs (a deterministic task; identical rows and why).
    written: the files written by :meth:`write` (or by ``compare(out=...)``).
  """

  task: Task
  results: list[RunResult]
  rows: list[dict]
  notes: list[str]
  written: list[str] = dataclasses.field(default_factory=list)

  def table(self, markdown: bool = False) -> str:
    """The results table, best first (plain text, or Markdown)."""
    return report.format_table(self.task, self.rows, markdown=markdown)

  def header(self) -> str:
    steps, seeds = self.results[0].steps, self.results[0].seeds
    return (f"{self.task.name}: {self.task.description}\n"
            f"{steps} steps, {seeds} seed{'s' if seeds != 1 else ''}; mean ± std over seeds")

  def summary(self) -> str:
    """Header, table and notes, as the command line prints them."""
    text = f"{self.header()}\n\n{self.table()}"
    if self.notes:
      text += "\n\n" + "\n".join(f"Note: {n}" for n in self.notes)
    return text

  def write(self, out: str, *, plot: bool = True, prefix: str = "") -> list[str]:
    """Writes ``results.csv``, ``results.json`` and (``plot``) the PNGs into ``out``."""
    preflight.require_extras(plot=plot)
    preflight.check_output_dir(out)
    written = report.write_outputs(out, self.task, self.results, self.rows, prefix)
    if plot:
      written += plots.write_plots(out, self.task, self.results, prefix)
    self.written += written
    return written


def compare(
    task: Task | str,
    optimizers: Sequence[str] = DEFAULT_OPTIMIZERS,
    *,
    seeds: int | None = None,
    steps: int | None = None,
    lr_grid: Sequence[float] | None = None,
    out: str | None = None,
    plot: bool = True,
    progress: bool = True,
    prefix: str = "",
) -> Comparison:
  """Trains each optimizer on ``task`` and summarises the runs.

  Args:
    task: a :class:`~optax_survey.harness.tasks.Task`, or the name of one of the
      survey's tasks (built once, here).
    optimizers: names from :data:`~optax_survey.harness.registry.OPTIMIZERS`.
    seeds: number of seeds (default: the task's).
    steps: training steps (default: the task's).
    lr_grid: learning rates, each run for every optimizer (default: each
      optimizer's rate for the task, ``task.lrs``).
    out: if given, the folder for ``results.csv``, ``results.json`` and the PNGs
      (checked before training).
    plot: write the PNGs (matplotlib) when ``out`` is given.
    progress: show a progress bar on stderr (if tqdm is installed; the command line
      asks for it).
    prefix: prefix of the written files' names.

  Returns:
    A :class:`Comparison`.

  Raises:
    preflight.HarnessError: before any training, for an unknown task or
      optimizer, a missing optional package or an unusable ``out``.
  """
  names = registry.check_optimizers(optimizers)
  if isinstance(task, str):
    if task not in task_names():
      raise preflight.BadInputError(
          f"unknown task {task!r}; choose from: {', '.join(task_names())}")
    preflight.require_extras(tasks=[task], plot=plot and out is not None)
  else:
    preflight.require_extras(plot=plot and out is not None)
  if out is not None:
    preflight.check_output_dir(out)
  task = get_task(task) if isinstance(task, str) else task

  n_steps = task.steps if steps is None else steps
  _, n_chunks = runner.schedule_chunks(n_steps, task.eval_points)
  bar = make_progress(n_chunks * len(names), task.name, enabled=progress)
  results = []
  try:
    for name in names:
      bar.set_postfix_str(name)
      results.append(runner.run_optimizer(task, name, steps=steps, seeds=seeds, lrs=lr_grid,
                                          progress=bar))
  finally:
    bar.close()
  rows = [row for r in results for row in report.summarize(task, r)]
  result = Comparison(task, results, rows, diagnostics.comparison_notes(task, results))
  if out is not None:
    result.write(out, plot=plot, prefix=prefix)
  return result
