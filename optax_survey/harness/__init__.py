"""The survey harness: compare the survey's optimizers on offline tasks, or on yours.

    from optax_survey.harness import Task, compare
    result = compare(my_task, ["sgdm", "adam", "radam"], budget="tuned")
    print(result.table())

Library modules, each usable without the command line:

* :mod:`~optax_survey.harness.tasks`: :class:`Task` (wrap your own problem in
  one), the survey's tasks (:func:`~optax_survey.harness.tasks.get_task` builds
  one by name, once), and the checks a task passes before training.
* :mod:`~optax_survey.harness.runner`: one optimizer on one task over seeds and
  a learning-rate grid, as one vmapped, compiled program.
* :mod:`~optax_survey.harness.comparison`: :func:`compare` several optimizers
  on one task at a budget ("tuned": learning rate selected on the validation
  split, test metric on fresh seeds; "one-shot": published defaults), giving a
  :class:`Comparison` (tables, CSV, JSON, plots).
* :mod:`~optax_survey.harness.stats`: bootstrap intervals, noise-aware ranks,
  the verdict rule, performance profiles, Kendall's tau, learning-rate selection.
* :mod:`~optax_survey.harness.claims`: the survey's claims checked against the
  seed noise; :mod:`~optax_survey.harness.survey`: the survey run and its
  results page, rendered from its JSON.
* :mod:`~optax_survey.harness.report`, :mod:`~optax_survey.harness.plots`:
  numbers as text and PNGs; :mod:`~optax_survey.harness.diagnostics`: looking
  inside runs (step sizes, whether AdaBound's bounds bind).
* :mod:`~optax_survey.harness.registry`: the optimizers' metadata and defaults;
  :mod:`~optax_survey.harness.preflight`: the checks made before any training;
  :mod:`~optax_survey.harness.progress`: the progress bar.

``optax-survey`` (or ``python -m optax_survey``) is the command line,
:mod:`optax_survey.harness.cli`, a thin shell over these; nothing imports it.
The harness needs the ``survey`` extra (flax, matplotlib, tqdm, mnist1d,
scikit-learn) for its plots, progress bars and some tasks, and says so before
any work when one is missing.
"""

from optax_survey.harness.comparison import Comparison, compare, default_grid
from optax_survey.harness.tasks import Task, TaskError, check_task, load_task

__all__ = ["Comparison", "Task", "TaskError", "check_task", "compare", "default_grid",
           "load_task"]
