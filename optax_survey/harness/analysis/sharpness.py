"""How sharp a minimum is: the Hessian of the training loss at the final parameters,
through Hessian-vector products only (``jax.jvp`` of ``jax.grad``: never the matrix).

* :func:`top_eigenvalue`: the largest eigenvalue of ``S H S`` for a diagonal scaling
  ``S`` (Lanczos with full reorthogonalisation, a fixed number of iterations, so it
  compiles once and ``jax.vmap``-s over runs):

  - ``S = I``: the raw sharpness λ_max(H), which gradient descent drives to about
    2/η (Cohen et al. 2021, the edge of stability);
  - ``S = P^{-1/2}`` (:func:`preconditioned`): the preconditioned sharpness
    λ_max(P^{-1} H) of an adaptive method with diagonal preconditioner ``P`` (Adam's
    ``sqrt(v̂) + ε``), the quantity adaptive methods keep near their own threshold
    (Cohen et al. 2022);
  - ``S = |w| + η`` (:func:`adaptive`): the adaptive, scale-invariant sharpness of
    Kwon et al. 2021 (ASAM's normalisation ``T_w = |w| + η``), which a rescaling of a
    ReLU layer's weights against the next layer's does not change (raw sharpness does:
    Dinh et al. 2017).

* :func:`hutchinson_trace`: the trace of ``H`` from Rademacher probes, with its
  standard error (Hutchinson 1990).

References:
  Cohen, Kaur, Li, Kolter & Talwalkar, `Gradient Descent on Neural Networks Typically
  Occurs at the Edge of Stability <https://arxiv.org/abs/2103.00065>`__, ICLR 2021.

  Cohen et al., `Adaptive Gradient Methods at the Edge of Stability
  <https://arxiv.org/abs/2207.14484>`__, 2022.

  Kwon, Kim, Park & Choi, `ASAM: Adaptive Sharpness-Aware Minimization for
  Scale-Invariant Learning of Deep Neural Networks <https://arxiv.org/abs/2102.11600>`__,
  ICML 2021.

  Dinh, Pascanu, Bengio & Bengio, `Sharp Minima Can Generalize For Deep Nets
  <https://arxiv.org/abs/1703.04933>`__, ICML 2017.

  Hutchinson, A stochastic estimator of the trace of the influence matrix for
  Laplacian smoothing splines, Communications in Statistics 19(2), 1990.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = ["ASAM_ETA", "adaptive", "hutchinson_trace", "hvp", "preconditioned",
           "top_eigenvalue"]

# ASAM's default eta in T_w = |w| + eta (Kwon et al. 2021, their code's default).
ASAM_ETA = 0.01


def hvp(loss: Callable[[Any], Any], params: Any, vector: Any) -> Any:
  """The Hessian of ``loss`` at ``params`` times ``vector`` (a tree like ``params``):
  forward-over-reverse, ``jax.jvp`` of ``jax.grad``.

  Example:
    >>> hvp(lambda w: jnp.sum(w ** 3), jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0])).tolist()
    [6.0, 0.0]
  """
  return jax.jvp(jax.grad(loss), (params,), (vector,))[1]


def _flat_operator(loss: Callable[[Any], Any], params: Any, scale: Any | None):
  """``(v -> S H S v, n)`` on flat vectors (``S`` the flattened ``scale``, or I)."""
  flat, unravel = ravel_pytree(params)
  s = None if scale is None else ravel_pytree(scale)[0].astype(flat.dtype)

  def matvec(v):
    u = v if s is None else s * v
    out = ravel_pytree(hvp(loss, params, unravel(u)))[0]
    return out if s is None else s * out

  return matvec, flat.shape[0], flat.dtype


def top_eigenvalue(loss: Callable[[Any], Any], params: Any, *, scale: Any | None = None,
                   iterations: int = 30, key: Any = None) -> Any:
  """The largest eigenvalue of ``S H S`` (``H`` the Hessian of ``loss`` at ``params``,
  ``S = diag(scale)``, default I) by ``iterations`` steps of Lanczos with full
  reorthogonalisation from a random start: exact (to round-off) once ``iterations``
  reaches the number of parameters, and for a larger model the extreme eigenvalue
  converges first.  Traceable: ``jax.vmap`` it over runs.

  Args:
    loss: the scalar training loss as a function of the parameters alone (a fixed
      batch inside).
    params: where the Hessian is taken.
    scale: a tree like ``params`` (a diagonal scaling), or None.
    iterations: Lanczos steps (the Krylov space's dimension).
    key: the start vector's ``jax.random`` key (default ``PRNGKey(0)``).

  Returns:
    A scalar: λ_max(S H S).

  Example: a quadratic ``0.5 wᵀ A w`` with eigenvalues 1, 4, 9:

    >>> a = jnp.diag(jnp.array([1.0, 4.0, 9.0]))
    >>> round(float(top_eigenvalue(lambda w: 0.5 * w @ a @ w, jnp.ones(3))), 4)
    9.0
  """
  matvec, n, dtype = _flat_operator(loss, params, scale)
  m = int(min(iterations, n))
  key = jax.random.PRNGKey(0) if key is None else key
  v0 = jax.random.normal(key, (n,), dtype)
  v0 = v0 / jnp.linalg.norm(v0)
  basis = jnp.zeros((m + 1, n), dtype).at[0].set(v0)

  def step(i, carry):
    basis, alphas, betas = carry
    w = matvec(basis[i])
    alpha = jnp.vdot(basis[i], w)
    # full reorthogonalisation against every vector so far (twice: numerically stable)
    mask = (jnp.arange(m + 1) <= i).astype(dtype)[:, None]
    for _ in range(2):
      w = w - (mask * basis).T @ ((mask * basis) @ w)
    beta = jnp.linalg.norm(w)
    safe = jnp.where(beta > 0, beta, 1.0)
    basis = basis.at[i + 1].set(jnp.where(beta > 0, w / safe, 0.0))
    return basis, alphas.at[i].set(alpha), betas.at[i].set(beta)

  _, alphas, betas = jax.lax.fori_loop(
      0, m, step, (basis, jnp.zeros(m, dtype), jnp.zeros(m, dtype)))
  tridiagonal = (jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1))
  return jnp.linalg.eigvalsh(tridiagonal)[-1]


def preconditioned(loss: Callable[[Any], Any], params: Any, preconditioner: Any,
                   **kwargs: Any) -> Any:
  """λ_max(P^{-1} H) for a diagonal preconditioner ``P`` (a tree like ``params``, e.g.
  Adam's ``sqrt(v̂) + ε``): the eigenvalues of ``P^{-1/2} H P^{-1/2}``, the same.

  Example:
    >>> a = jnp.diag(jnp.array([1.0, 4.0, 9.0]))
    >>> p = jnp.array([1.0, 1.0, 3.0])  # P^{-1} A has eigenvalues 1, 4, 3
    >>> round(float(preconditioned(lambda w: 0.5 * w @ a @ w, jnp.ones(3), p)), 4)
    4.0
  """
  scale = jax.tree.map(lambda p: 1.0 / jnp.sqrt(p), preconditioner)
  return top_eigenvalue(loss, params, scale=scale, **kwargs)


def adaptive(loss: Callable[[Any], Any], params: Any, *, eta: float = ASAM_ETA,
             **kwargs: Any) -> Any:
  """Kwon et al.'s adaptive sharpness in its second-order form: λ_max(T H T) with
  ``T = diag(|w| + eta)`` (the loss's largest curvature in the ball that ASAM
  normalises by the weights' own size).

  Example:
    >>> a = jnp.diag(jnp.array([1.0, 4.0]))
    >>> w = jnp.array([2.0, 0.5])  # T = (2.01, 0.51): T A T = diag(4.0401, 1.0404)
    >>> round(float(adaptive(lambda v: 0.5 * v @ a @ v, w)), 4)
    4.0401
  """
  scale = jax.tree.map(lambda w: jnp.abs(w) + eta, params)
  return top_eigenvalue(loss, params, scale=scale, **kwargs)


def hutchinson_trace(loss: Callable[[Any], Any], params: Any, *, probes: int = 100,
                     key: Any = None) -> tuple[Any, Any]:
  """The trace of the Hessian from ``probes`` Rademacher vectors ``z`` (``E[zᵀHz] =
  tr H``): the mean and its standard error over the probes.

  Example: exact for a diagonal Hessian (every probe gives the trace):

    >>> a = jnp.diag(jnp.array([1.0, 4.0, 9.0]))
    >>> mean, se = hutchinson_trace(lambda w: 0.5 * w @ a @ w, jnp.ones(3), probes=8)
    >>> float(mean), float(se)
    (14.0, 0.0)
  """
  flat, unravel = ravel_pytree(params)
  key = jax.random.PRNGKey(0) if key is None else key
  zs = jax.random.rademacher(key, (probes, flat.shape[0]), flat.dtype)

  def quadratic_form(z):
    return jnp.vdot(z, ravel_pytree(hvp(loss, params, unravel(z)))[0])

  values = jax.lax.map(quadratic_form, zs)
  return values.mean(), values.std(ddof=1) / jnp.sqrt(probes)
