"""The loss surface around and between solutions: 1-D lines and 2-D filter-normalised
slices, each evaluated as one program over its points (``jax.vmap``, or ``jax.lax.map``
over chunks of them to bound the memory).

* :func:`line`: the loss along ``a + α (b - a)`` (from the initial parameters to a
  solution, or between two solutions: linear mode connectivity, Frankle et al. 2020);
* :func:`filter_normalized`: a random direction scaled filter by filter to the
  parameters' own filters (Li et al. 2018), so that slices of networks with different
  weight scales are comparable; biases and other vectors get no direction (Li et al.'s
  ``ignore="biasbn"``);
* :func:`plane`: the loss on ``center + x d1 + y d2`` over a grid.

References:
  Li, Xu, Taylor, Studer & Goldstein, `Visualizing the Loss Landscape of Neural Nets
  <https://arxiv.org/abs/1712.09913>`__, NeurIPS 2018 (filter normalisation).

  Goodfellow, Vinyals & Saxe, `Qualitatively characterizing neural network
  optimization problems <https://arxiv.org/abs/1412.6544>`__, ICLR 2015 (the line from
  the initial parameters to the solution).

  Frankle, Dziugaite, Roy & Carbin, `Linear Mode Connectivity and the Lottery Ticket
  Hypothesis <https://arxiv.org/abs/1912.05671>`__, ICML 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["filter_normalized", "line", "plane"]


def line(loss: Callable[[Any], Any], a: Any, b: Any, alphas: Sequence[float] | Any, *,
         chunk: int | None = None) -> Any:
  """``loss(a + α (b - a))`` at each ``α`` of ``alphas`` (one vmapped program; ``chunk``:
  that many points at a time).

  Example:
    >>> line(lambda w: jnp.sum(w ** 2), jnp.zeros(2), jnp.ones(2),
    ...      jnp.array([0., .5, 1.])).tolist()
    [0.0, 0.5, 2.0]
  """
  def at(alpha):
    return loss(jax.tree.map(lambda x, y: x + alpha * (y - x), a, b))

  return _at_points(at, (jnp.asarray(alphas),), chunk)


def _at_points(at: Callable[..., Any], points: tuple[Any, ...], chunk: int | None) -> Any:
  """``at`` at each point of ``points`` (arrays along their first axis): one ``jax.vmap``,
  or (``chunk``) ``jax.lax.map`` vmapping ``chunk`` points at a time, so that the memory
  is bounded by a chunk's, not the grid's."""
  if chunk is None or chunk >= len(points[0]):
    return jax.vmap(at)(*points)
  return jax.lax.map(lambda p: at(*p), points, batch_size=chunk)


def filter_normalized(key: Any, params: Any, *,
                      filter_axis: int | Callable[[Any], int] = -1) -> Any:
  """A Gaussian direction like ``params`` whose every filter has the norm of the same
  filter of ``params``; leaves with fewer than 2 dimensions (biases, normalisation
  scales) get zeros.

  A filter is a slice of a weight along its output axis ``filter_axis``: -1 for
  kernels laid out ``[..., in, out]`` (Flax, Haiku, and this harness's dense layers);
  a callable ``leaf -> axis`` for a model that mixes layouts (PyTorch's
  ``[out, in, ...]`` has its filters on axis 0).

  Example:
    >>> params = {"w": jnp.array([[3.0, 0.0], [4.0, 1.0]]), "b": jnp.ones(2)}
    >>> d = filter_normalized(jax.random.PRNGKey(0), params)
    >>> jnp.linalg.norm(d["w"], axis=0).round(4).tolist(), d["b"].tolist()  # norms 5, 1
    ([5.0, 1.0], [0.0, 0.0])
  """
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  out = []
  for k, leaf in zip(keys, leaves, strict=True):
    if leaf.ndim < 2:
      out.append(jnp.zeros_like(leaf))
      continue
    axis = filter_axis(leaf) if callable(filter_axis) else filter_axis
    axis = axis % leaf.ndim
    others = tuple(i for i in range(leaf.ndim) if i != axis)
    d = jax.random.normal(k, leaf.shape, leaf.dtype)
    scale = (jnp.linalg.norm(leaf, axis=others, keepdims=True)
             / jnp.maximum(jnp.linalg.norm(d, axis=others, keepdims=True), 1e-30))
    out.append(d * scale)
  return jax.tree.unflatten(treedef, out)


def plane(loss: Callable[[Any], Any], center: Any, d1: Any, d2: Any, xs: Any, ys: Any, *,
          chunk: int | None = None) -> Any:
  """``loss(center + x d1 + y d2)`` on the grid ``ys x xs`` (rows ``y``), one vmapped
  program over all the points (``chunk``: that many points at a time).

  Example:
    >>> grid = plane(lambda w: jnp.sum(w ** 2), jnp.zeros(2), jnp.array([1.0, 0.0]),
    ...              jnp.array([0.0, 2.0]), jnp.array([-1.0, 1.0]), jnp.array([0.0, 1.0]))
    >>> grid.tolist()  # x^2 + (2 y)^2
    [[1.0, 1.0], [5.0, 5.0]]
  """
  xs, ys = jnp.asarray(xs), jnp.asarray(ys)
  gx, gy = jnp.meshgrid(xs, ys)

  def at(x, y):
    return loss(jax.tree.map(lambda c, u, v: c + x * u + y * v, center, d1, d2))

  return _at_points(at, (gx.ravel(), gy.ravel()), chunk).reshape(gy.shape)
