"""errors.py: one family of one-line errors, each also the built-in exception a caller
expects, each naming the argument it is about."""

import pytest

from optax_survey.harness import errors


@pytest.mark.parametrize("cls, builtin", [
    (errors.BadInputError, ValueError), (errors.TaskError, ValueError),
    (errors.BadTypeError, TypeError), (errors.OutputDirError, OSError)])
def test_every_error_is_a_harness_error_and_the_builtin_a_caller_catches(cls, builtin):
  error = cls("what is wrong", argument="seeds")
  assert isinstance(error, errors.HarnessError) and isinstance(error, builtin)
  assert str(error) == "what is wrong" and error.argument == "seeds"
  missing = errors.missing_extra_error("flax", "the charlm task")
  assert isinstance(missing, errors.HarnessError) and isinstance(missing, ImportError)
  assert missing.argument is None and missing.needs == [("flax", ["the charlm task"], None)]


def test_errors_of_the_users_code_keep_their_first_line():
  assert errors.one_line(ValueError("first\nsecond")) == "first"
  assert errors.one_line(ValueError("")) == "(no message)"
  assert errors.TaskError("x").argument == "task"
