"""What the runs mean: statistics over seeds, ranks across tasks, the survey's claims
checked, and diagnostics that look inside runs (none trains on its own).

* :mod:`~optax_survey.harness.analysis.stats`: bootstrap intervals, the noise test,
  the verdict rule, ranks with ties, performance profiles, Kendall's tau, selection.
* :mod:`~optax_survey.harness.analysis.ranking`: each entry's rank, the aggregate
  across tasks, :func:`~optax_survey.harness.analysis.ranking.restat`.
* :mod:`~optax_survey.harness.analysis.claims`: the survey's claims and their verdicts.
* :mod:`~optax_survey.harness.analysis.diagnostics`: step sizes, bounds that bind,
  the notes a table needs.
"""
