"""render/report.py: numbers as text (intervals with enough digits, the results tables).
"""

import pytest

from optax_survey.harness.analysis import stats
from optax_survey.harness.render import report


def test_an_interval_is_printed_with_enough_digits_to_show_its_width():
  # the old page printed "0.964 ± 0.0" for a seed std of 0.008
  def parse(text):
    return [float(v) for v in text.replace("[", "").replace(",", "").replace("]", "").split()]

  text = report.fmt_interval(stats.Interval(0.9641, 0.9572, 0.9703))
  mean, lo, hi = parse(text)
  assert lo != hi and lo < mean < hi
  assert abs(lo - 0.9572) < 5e-4 and abs(hi - 0.9703) < 5e-4
  mean, lo, hi = parse(report.fmt_interval(stats.Interval(2.0e-9, 1.97e-9, 2.04e-9)))
  assert lo == pytest.approx(1.97e-9, rel=1e-3) and hi == pytest.approx(2.04e-9, rel=1e-3)
  # a narrow interval around a large mean gets the digits it needs
  mean, lo, hi = parse(report.fmt_interval(stats.Interval(1.8512, 1.8497, 1.8531)))
  assert lo == pytest.approx(1.8497, abs=5e-5) and hi == pytest.approx(1.8531, abs=5e-5)
  assert report.fmt_interval(stats.Interval(0.993, 0.993, 0.993),
                             deterministic=True) == "0.993 (deterministic)"
  assert "±" not in text
