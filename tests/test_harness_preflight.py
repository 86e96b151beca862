"""preflight.py: one check per kind of input, each error naming its argument, and what
is missing said before any work."""

import sys

import numpy as np
import pytest

from optax_survey.harness import errors, preflight


@pytest.mark.parametrize("grid, words", [
    ([], "lr_grid is empty"),
    (["1e-3", "abc"], "lr_grid: 'abc' is not a number"),
    ([0.1, -1.0], "lr_grid: -1.0 is not a positive finite number"),
    (["-1"], "lr_grid: '-1' is not a positive finite number"),
    ([float("inf")], "lr_grid: inf is not a positive finite number"),
])
def test_a_bad_rate_grid_names_the_value(grid, words):
  with pytest.raises(errors.BadInputError) as info:
    preflight.check_lr_grid(grid)
  assert str(info.value).startswith(words) and info.value.argument == "lr_grid"
  assert isinstance(info.value, ValueError) and isinstance(info.value, errors.HarnessError)


def test_good_inputs_come_back_as_numbers():
  assert preflight.check_lr_grid(["1e-3", 0.01, np.float32(0.5)]) == [0.001, 0.01, 0.5]
  assert preflight.check_lr_grid(None) is None
  assert preflight.check_count("seeds", np.int64(3)) == 3
  assert preflight.check_count("seeds", None) is None
  assert preflight.check_budget("one-shot") == "one-shot"
  assert preflight.check_positive("steps_scale", 0.5) == 0.5


@pytest.mark.parametrize("value, error", [(0, errors.BadInputError), (-2, errors.BadInputError),
                                          (True, errors.BadTypeError),
                                          (2.0, errors.BadTypeError)])
def test_a_count_is_a_positive_integer(value, error):
  with pytest.raises(error, match="steps must be a positive integer") as info:
    preflight.check_count("steps", value)
  assert info.value.argument == "steps"


def test_a_missing_package_is_named_with_its_purpose_and_the_switch_that_avoids_it(monkeypatch):
  monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
  monkeypatch.setitem(sys.modules, "tqdm", None)
  assert not preflight.is_installed("matplotlib") and preflight.is_installed("numpy")
  with pytest.raises(errors.MissingExtraError) as info:
    preflight.require_extras(modules={"numpy": "nothing"}, plot=True, progress=True)
  error = info.value
  assert str(error) == ("matplotlib (for the plots, or pass plot=False); tqdm (for the progress "
                        'bar, or pass progress=False) are not installed: '
                        'pip install "optax_survey[survey]"')
  assert error.describe({"plot": "--no-plot"}) == (
      "matplotlib (for the plots, or pass --no-plot); tqdm (for the progress bar) are not "
      'installed: pip install "optax_survey[survey]"')
  assert isinstance(error, ImportError)
  preflight.require_extras(plot=False, progress=False)  # nothing asked, nothing missing


def test_an_unusable_output_folder_is_found_before_any_work(tmp_path):
  a_file = tmp_path / "f"
  a_file.write_text("")
  for path, words in ((str(a_file), "it is a file, not a folder"),
                      (str(a_file / "sub"), "is a file, not a folder"), ("", "empty path")):
    with pytest.raises(errors.OutputDirError, match=words) as info:
      preflight.check_output_dir(path)
    assert info.value.argument == "out" and isinstance(info.value, OSError)
  made = tmp_path / "a" / "b"
  assert preflight.check_output_dir(str(made)) == str(made) and made.is_dir()
