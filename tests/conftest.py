"""Test configuration: float64 everywhere, so parity is checked to round-off.

Tests that need float32/bfloat16 build such arrays explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
