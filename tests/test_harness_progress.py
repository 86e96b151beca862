"""progress.py: a tqdm bar on stderr when asked for and installed, else a silent one."""

import sys

from optax_survey.harness import progress


def test_a_bar_is_tqdm_on_stderr_only_when_asked_for_and_installed(monkeypatch, capsys):
  import tqdm

  bar = progress.make_progress(3, "quadratic")
  bar.update(1)
  bar.close()
  assert isinstance(bar, tqdm.tqdm) and bar.total == 3
  out, err = capsys.readouterr()
  assert out == "" and "quadratic" in err  # the bar on stderr, stdout left to the tables
  assert isinstance(progress.make_progress(3, "x", enabled=False), progress.NoProgress)
  monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed
  silent = progress.make_progress(3, "x")
  assert isinstance(silent, progress.NoProgress)
  silent.update(1), silent.set_postfix_str("adam"), silent.close()  # the interface, quietly
