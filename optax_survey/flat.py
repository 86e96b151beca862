r"""Flat-parameters mode: one raveled vector instead of a tree of small leaves.

Every optax_survey stage maps each parameter leaf on its own, so a jitted step
over a tree of ``L`` leaves compiles to (at least) one loop per leaf per
output buffer.  For many small leaves the step is bound by that per-leaf
overhead, not by arithmetic: on a CPU, an Adam step over 2000 leaves of 100
elements takes tens of milliseconds, the same 200 000 elements as one vector
well under a millisecond (``benchmarks/step_time.py``, ``benchmarks/scaling.py``).

The recipe (``docs/performance.md``, ``examples/flat_params.py``):

1. ravel the parameters once, ``flat, unravel = flatten_params(params)``;
2. write the loss on the flat vector, ``loss = flat_loss(loss_fn, unravel)``:
   the model unravels inside the jitted loss, where the slices fuse into
   their consumers;
3. optimise ``flat`` with any optimizer (``tx.init(flat)``,
   ``tx.update(grads, state, flat)``).  Every optax_survey optimizer is
   elementwise, so the trajectory is the tree run's, element for element.

``optax.flatten(tx)`` is optax's alternative: the parameters stay a tree, the
optimizer state is flat, and gradients are raveled and updates unraveled on
every step.  It also works with every optax_survey optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = ["flatten_params", "flat_loss", "flat_mask"]


def _float_dtype(name: str, tree: Any) -> np.dtype:
  """The one floating dtype of the array leaves of ``tree`` (else TypeError)."""
  leaves = jax.tree_util.tree_leaves_with_path(tree)
  if not leaves:
    raise TypeError(f"{name} has no array leaves: nothing to flatten.")
  dtypes: dict[np.dtype, str] = {}
  for path, leaf in leaves:
    where = jax.tree_util.keystr(path) or "(the root)"
    if not isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
      raise TypeError(
          f"every leaf of {name} must be an array; {name}{where} is a "
          f"{type(leaf).__name__}."
      )
    if not jnp.issubdtype(leaf.dtype, jnp.floating):
      raise TypeError(
          f"every leaf of {name} must have a floating dtype; {name}{where} has "
          f"{leaf.dtype}."
      )
    dtypes.setdefault(np.dtype(leaf.dtype), where)
  if len(dtypes) > 1:
    shown = ", ".join(f"{d} (e.g. {name}{w})" for d, w in dtypes.items())
    raise TypeError(
        f"the leaves of {name} mix dtypes: {shown}; one flat vector would "
        "promote them all to one dtype.  Cast the tree to one dtype, or "
        "flatten each dtype's leaves separately."
    )
  return next(iter(dtypes))


def flatten_params(
    params: chex.ArrayTree,
) -> tuple[jax.Array, Callable[[jax.Array], chex.ArrayTree]]:
  r"""Ravels a parameter tree into one vector, for the flat-parameters mode.

  A validated :func:`jax.flatten_util.ravel_pytree`:

  .. math:: x = \big(\operatorname{vec}\theta^{(1)}, \dots,
            \operatorname{vec}\theta^{(L)}\big) \in \mathbb{R}^{n},\qquad
            n = \textstyle\sum_l |\theta^{(l)}|

  in ``jax.tree.leaves`` order (the order of ``optax.flatten``), with
  ``unravel(x)`` the inverse.  Optimise ``x`` instead of the tree and
  unravel it for the model inside the jitted loss (:func:`flat_loss`).  All
  optax_survey optimizers (Lookahead included) are elementwise, so the
  trajectory of ``x`` is the tree run's raveled, to round-off.

  When it pays: many small leaves, where the step is bound by per-leaf
  overhead (one loop per leaf per buffer), e.g. 2000 leaves of 100 elements.
  With a few large leaves it changes nothing.  When not: a flat vector
  cannot be sharded leaf by leaf (FSDP), and an optimizer ``mask`` must then
  select elements of the vector, not leaves (:func:`flat_mask`).

  Args:
    params: a pytree of floating-point arrays, all of one dtype (mixed
      dtypes would be promoted silently, so they are refused).

  Returns:
    ``(flat, unravel)``: the 1-D vector and the function mapping such a
    vector (also a traced one, or a gradient) back to the tree.

  Raises:
    TypeError: for a ``params`` with no array leaves, non-float leaves or mixed dtypes.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> params = {"b": jnp.zeros(2, jnp.float32), "w": jnp.ones((2, 2), jnp.float32)}
    >>> flat, unravel = osv.flatten_params(params)
    >>> print(flat)
    [0. 0. 1. 1. 1. 1.]
    >>> def loss_fn(params, x):
    ...   return jnp.sum((x @ params["w"] + params["b"]) ** 2)
    >>> loss = osv.flat_loss(loss_fn, unravel)   # loss(flat, x) = loss_fn(unravel(flat), x)
    >>> tx = osv.adam(1e-3)
    >>> state = tx.init(flat)
    >>> @jax.jit
    ... def train_step(flat, state, x):
    ...   value, grads = jax.value_and_grad(loss)(flat, x)
    ...   updates, state = tx.update(grads, state, flat)
    ...   return optax.apply_updates(flat, updates), state, value
    >>> flat, state, value = train_step(flat, state, jnp.ones((3, 2), jnp.float32))
    >>> print(np.round(np.asarray(unravel(flat)["b"]), 4))   # the tree, to evaluate or save
    [-0.001 -0.001]
  """
  _float_dtype("params", params)
  return ravel_pytree(params)


def flat_loss(
    loss_fn: Callable[..., Any], unravel: Callable[[jax.Array], Any]
) -> Callable[..., Any]:
  """A loss on the flat vector: ``flat_loss(f, unravel)(x, *a, **k) = f(unravel(x), *a, **k)``.

  Its gradient is the raveled tree gradient (the unravel's transpose only
  concatenates), and ``has_aux`` outputs pass through unchanged.

  Args:
    loss_fn: a function whose first argument is the parameter tree.
    unravel: the second output of :func:`flatten_params`.

  Returns:
    The loss as a function of the flat vector (then the other arguments).

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = {"b": jnp.zeros(2, jnp.float32), "w": jnp.ones((2, 2), jnp.float32)}
    >>> flat, unravel = osv.flatten_params(params)
    >>> def loss_fn(params, x):
    ...   return jnp.sum((x @ params["w"] + params["b"]) ** 2)
    >>> grads = jax.grad(osv.flat_loss(loss_fn, unravel))(flat, jnp.ones((3, 2), jnp.float32))
    >>> print(grads)   # 1-D, like flat: the raveled tree gradient
    [12. 12. 12. 12. 12. 12.]
  """
  if not callable(loss_fn):
    raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}.")
  if not callable(unravel):
    raise TypeError(f"unravel must be callable, got {type(unravel).__name__}.")

  def flat_loss_fn(flat, *args, **kwargs):
    return loss_fn(unravel(flat), *args, **kwargs)

  return flat_loss_fn


def flat_mask(mask: Any, params: chex.ArrayTree) -> jax.Array:
  r"""A leaf mask as a 0/1 vector over the flat parameters, for weight decay.

  ``mask=`` (``optax.masked``) selects *leaves*; the flat vector is one leaf,
  so in flat mode the selection moves into the decay rate instead: every
  optax_survey weight decay is elementwise in λ, so an array
  ``weight_decay`` shaped like the flat vector decays element ``i`` by
  ``λ_i``:

  .. math:: \lambda = \lambda_0 \cdot m,\qquad m_i = 1 \text{ if element } i
            \text{ belongs to a masked-in leaf, else } 0

  which reproduces ``mask=`` to round-off (a decay of ``0 · θ`` adds zero),
  also inside ``optax.flatten(tx)``, whose inner optimizer sees the flat
  vector too.

  Args:
    mask: as for the optimizers' ``mask``: a pytree of bools with the
      structure of ``params`` (or a prefix of it), or a function of
      ``params`` returning one.
    params: the parameter *tree* (before :func:`flatten_params`).

  Returns:
    A 1-D vector of 0s and 1s in the dtype and order of the flat parameters.

  Example:
    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> params = {"b": jnp.zeros(2, jnp.float32), "w": jnp.ones((2, 2), jnp.float32)}
    >>> decay = lambda p: jax.tree.map(lambda x: x.ndim > 1, p)   # no decay on biases
    >>> print(osv.flat_mask(decay, params))
    [0. 0. 1. 1. 1. 1.]
    >>> tree_tx = osv.adamw(1e-3, weight_decay=1e-4, mask=decay)
    >>> flat_tx = osv.adamw(1e-3, weight_decay=1e-4 * osv.flat_mask(decay, params))
  """
  dtype = _float_dtype("params", params)
  if callable(mask):
    mask = mask(params)
  try:
    full = jax.tree.map(
        lambda m, sub: jax.tree.map(lambda p: jnp.full(jnp.shape(p), m, dtype), sub),
        mask, params,
    )
  except ValueError as e:
    raise ValueError(
        f"mask must have the structure of params (or a prefix of it): {e}"
    ) from None
  return ravel_pytree(full)[0]
