"""The survey harness: run the survey's optimizers on offline tasks and compare.

``optax-survey`` (or ``python -m optax_survey``) is the command line
(:mod:`optax_survey.harness.cli`); :func:`~optax_survey.harness.runner.run_optimizer`
trains one optimizer over seeds and a learning-rate grid in one vmapped,
compiled program; :mod:`~optax_survey.harness.tasks` holds the tasks.
The harness needs the ``survey`` extra (flax, matplotlib, tqdm, mnist1d,
scikit-learn).
"""
