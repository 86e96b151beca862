"""``python -m optax_survey``: the survey harness command line (``optax-survey``)."""

from optax_survey.harness.cli import entry

if __name__ == "__main__":
  entry()
