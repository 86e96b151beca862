"""registry.py: the optimizers, their defaults and the builder the harness uses.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from optax_survey.harness import registry


def test_build_passes_only_the_overrides_an_optimizer_takes():
  tx = registry.build("sgd", 0.1, b1=0.9, b2=0.99, final_lr=0.2)
  params = jnp.ones(2, jnp.float32)
  updates, _ = tx.update(jnp.ones(2, jnp.float32), tx.init(params), params)
  np.testing.assert_allclose(updates, [-0.1, -0.1])
  with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
    registry.build("nope", 0.1)


def test_optimizers_are_chosen_by_name_dotted_name_file_or_callable(tmp_path):
  import optax

  from optax_survey.harness import errors

  (tmp_path / "mine.py").write_text("import optax\ndef tx(lr):\n  return optax.sgd(lr)\n")
  chosen = registry.choose_optimizers(["adam", "optax.contrib.prodigy",
                                       f"{tmp_path / 'mine.py'}:tx", optax.lion])
  assert list(chosen) == ["adam", "optax.contrib.prodigy", f"{tmp_path / 'mine.py'}:tx",
                          "lion"]
  assert chosen["adam"] == "adam" and chosen["lion"] is optax.lion
  assert chosen["optax.contrib.prodigy"] is optax.contrib.prodigy
  assert list(registry.choose_optimizers(["all"])) == list(registry.OPTIMIZERS)
  with pytest.raises(errors.BadInputError, match="optimizers is empty"):
    registry.choose_optimizers([])
  with pytest.raises(errors.BadInputError, match="unknown optimizer 'adma'.*optax.NAME"):
    registry.choose_optimizers("adma")
