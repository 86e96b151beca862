"""The survey harness: compare the survey's optimizers on offline tasks, or on yours.

    from optax_survey.harness import Task, compare
    result = compare(my_task, ["sgdm", "adam", "radam"], budget="tuned")
    print(result.table())

The pipeline, one module a stage (``docs/design.md`` draws it):

* :mod:`~optax_survey.harness.tasks`: :class:`Task`, the contract (wrap your
  own problem in one) and its check; the catalogue of the survey's tasks
  (:func:`get_task` builds one by name, once); one module per task family.
* :mod:`~optax_survey.harness.registry`: the optimizers, their metadata and
  defaults, and ``build(name, lr)``.
* :mod:`~optax_survey.harness.training`: the one training step (``train_step``,
  with a hook for what to record), ``train`` and ``replay``.
* :mod:`~optax_survey.harness.layout`: where the runs execute: the devices (a mesh
  axis ``"runs"``), the runs per compiled call and the batches that fit the memory.
* :mod:`~optax_survey.harness.runs`: one optimizer on one task over seeds and a
  learning-rate grid, vmapped into one compiled program, sharded over the devices
  and called chunk by chunk (``run_optimizer``, ``run_tuned``).
* :mod:`~optax_survey.harness.protocol`: :func:`compare`: the budgets
  ("tuned": learning rate selected on the validation split, test metric on
  fresh seeds; "one-shot": published defaults), the grid, the selection.
* :mod:`~optax_survey.harness.results`: what a comparison gives,
  :class:`Comparison` and its :class:`Entry` records, and the CSV/JSON writers.
* :mod:`~optax_survey.harness.analysis`: ``stats`` (intervals, ranks, the
  verdict rule), ``ranking`` (ranks across tasks, profiles), ``claims`` (the
  survey's claims checked), ``diagnostics`` (looking inside runs; no training
  of their own).
* :mod:`~optax_survey.harness.render`: ``report`` (text tables), ``figures``
  (every PNG), ``page`` (the results page, from its JSON alone).
* :mod:`~optax_survey.harness.survey`: the presets and :func:`run_survey`.
* :mod:`~optax_survey.harness.surface`: the loss surface around and between the
  optimizers' solutions on a task (``loss_surface``: lines, filter-normalised
  slices, the sharpness λ_max).
* :mod:`~optax_survey.harness.errors`: one family of one-line errors;
  :mod:`~optax_survey.harness.preflight`: the checks made before any work;
  :mod:`~optax_survey.harness.progress`: the progress bar.

``optax-survey`` (or ``python -m optax_survey``) is the command line,
:mod:`optax_survey.harness.cli`, a thin shell over these; nothing imports it.
The harness needs the ``survey`` extra (flax, matplotlib, tqdm, mnist1d,
scikit-learn) for its plots, progress bars and some tasks, and says so before
any work when one is missing.
"""

from optax_survey.harness.errors import HarnessError, TaskError
from optax_survey.harness.protocol import compare, default_grid
from optax_survey.harness.results import Comparison, Entry
from optax_survey.harness.survey import run_survey
from optax_survey.harness.tasks import Task, check_task, get_task, load_task, task_names

__all__ = ["Comparison", "Entry", "HarnessError", "Task", "TaskError", "check_task", "compare",
           "default_grid", "get_task", "load_task", "run_survey", "task_names"]
