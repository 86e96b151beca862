"""The harness's numbers shown: text tables, every figure, the results page.

* :mod:`~optax_survey.harness.render.report`: intervals with enough digits, the
  results tables, a comparison's summary.
* :mod:`~optax_survey.harness.render.figures`: every PNG (learning curves, the
  grid, trajectories, galleries, profiles, the survey's figures).
* :mod:`~optax_survey.harness.render.page`: the results page, from its JSON alone.
"""
