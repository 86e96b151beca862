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
