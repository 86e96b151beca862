"""The small tanh MLP in plain JAX shared by the examples (a list of
``{"w", "b"}`` layers)."""

import jax
import jax.numpy as jnp
import numpy as np


def init_mlp(key, sizes=(2, 64, 64, 3)):
  params = []
  for fan_in, fan_out, k in zip(sizes[:-1], sizes[1:], jax.random.split(key, len(sizes) - 1)):
    # a Python float: float32 weights also under jax_enable_x64
    w = jax.random.normal(k, (fan_in, fan_out), jnp.float32) / float(np.sqrt(fan_in))
    params.append({"w": w, "b": jnp.zeros(fan_out, jnp.float32)})
  return params


def forward(params, x):
  for layer in params[:-1]:
    x = jnp.tanh(x @ layer["w"] + layer["b"])
  return x @ params[-1]["w"] + params[-1]["b"]
