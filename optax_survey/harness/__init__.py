"""The survey harness: run the survey's optimizers on offline tasks and compare.

Library modules, each usable without the command line:

* :mod:`~optax_survey.harness.tasks`: :class:`Task` and the survey's tasks
  (:func:`~optax_survey.harness.tasks.get_task` builds one by name, once).
* :mod:`~optax_survey.harness.runner`: one optimizer on one task over seeds and
  a learning-rate grid, as one vmapped, compiled program.
* :mod:`~optax_survey.harness.comparison`: :func:`compare` several optimizers
  on one task, giving a :class:`Comparison` (table, notes, files).
* :mod:`~optax_survey.harness.survey`: the survey run and its results page.
* :mod:`~optax_survey.harness.report`, :mod:`~optax_survey.harness.plots`:
  tables, CSV/JSON and PNGs; :mod:`~optax_survey.harness.diagnostics`: looking
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

from optax_survey.harness.comparison import Comparison, compare
from optax_survey.harness.tasks import Task

__all__ = ["Comparison", "Task", "compare"]
