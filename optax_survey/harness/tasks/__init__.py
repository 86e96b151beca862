"""The tasks every optimizer is trained on, all offline.

* :mod:`~optax_survey.harness.tasks.base`: :class:`Task`, the contract (wrap
  your own problem in one), and :func:`check_task`, the check before training.
* :mod:`~optax_survey.harness.tasks.catalogue`: :data:`CATALOGUE`, the one
  table of the survey's tasks; :func:`get_task` builds one by name (once) and
  :func:`load_task` also loads yours (``my_module:make_task``).
* One module per family, each with ``build(name, info)``: ``functions2d`` (the
  2-D functions), ``online`` (Reddi et al.'s problems), ``wilson`` (Wilson et
  al.'s separable problem), ``digits``, ``mnist1d``, ``charlm`` (networks;
  ``_nn`` holds their shared pieces).
"""

from optax_survey.harness.tasks.base import Task, TaskInfo, check_task
from optax_survey.harness.tasks.catalogue import (
    CATALOGUE,
    check_task_name,
    get_task,
    load_task,
    task_names,
)

__all__ = ["CATALOGUE", "Task", "TaskInfo", "check_task", "check_task_name", "get_task",
           "load_task", "task_names"]
