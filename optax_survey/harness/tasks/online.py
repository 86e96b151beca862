"""The online convex counterexample of Reddi, Kale & Kumar (ICLR 2018).

"On the Convergence of Adam and Beyond", section 3 and section 5:

* ``reddi`` (section 5, online setting): ``f_t(x) = 1010 x`` for
  ``t mod 101 = 1`` and ``f_t(x) = -10 x`` otherwise, on the feasible set
  ``F = [-1, 1]``; ``β1 = 0.9``, ``β2 = 0.99``, step size ``α_t = α/√t``.
  The sum of the ``f_t`` decreases in ``x`` (the big gradient comes once per
  101 steps and outweighs the 100 small ones: 1010 > 100·10), so the best
  point is ``x* = -1``.  Adam's exponential average forgets the rare big
  gradient and drifts to ``x = +1``; AMSGrad's max keeps it and goes to -1.
* ``reddi-stochastic`` (section 5, stochastic setting): ``f_t(x) = 1010 x``
  with probability 0.01, ``-10 x`` otherwise: ``E f_t(x) = 0.2 x``, minimised
  at ``x* = -1``.
* ``reddi-theorem1`` (section 3, Theorem 1): ``f_t(x) = C x`` for
  ``t mod 3 = 1``, ``-x`` otherwise, ``C = 3`` (> 2), ``F = [-1, 1]``,
  ``β1 = 0``, ``β2 = 1/(1 + C²)``, ``α_t = α/√t``; Adam converges to +1.

After every step the iterate is projected onto ``F`` (in one dimension the
paper's weighted projection ``Π_{F,√V}`` is the clip to ``[-1, 1]``).  The
loss of step ``t`` is the instantaneous regret ``f_t(x_t) - f_t(x*)``; the
metric ``x`` is the iterate (lower is better, optimum -1) and ``regret`` the
average regret ``R_T / T`` is computed from the per-step losses.
Every run starts at ``x_1 = 0``; the seeds change only the stochastic
task's draws.  Optimizers without betas keep their own; RMSProp and Adadelta
get ``β2`` as their decay.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from optax_survey.harness.tasks.base import Task, TaskInfo

F32 = jnp.float32


def project(params):
  """Euclidean (= the paper's weighted, in 1-D) projection onto F = [-1, 1]."""
  return jnp.clip(params, -1.0, 1.0)


def schedule(alpha):
  """The paper's ``α_t = α/√t`` (optax counts from 0, the paper from t = 1)."""
  return lambda count: alpha / jnp.sqrt(jnp.asarray(count, F32) + 1.0)


def build(name: str, info: TaskInfo) -> Task:
  """The online task ``name`` ("reddi", "reddi-stochastic", "reddi-theorem1")."""
  betas: dict[str, float]
  if name == "reddi-theorem1":
    big, small, period, steps = 3.0, -1.0, 3, 20_000
    betas = {"b1": 0.0, "b2": 1.0 / (1.0 + 3.0 ** 2)}
  else:
    big, small, period, betas = 1010.0, -10.0, 101, {"b1": 0.9, "b2": 0.99}
    steps = 200_000 if name == "reddi-stochastic" else 50_000
  stochastic = name == "reddi-stochastic"

  def sample_batch(key, t):
    if stochastic:
      return jnp.where(jax.random.uniform(key) < 0.01, big, small).astype(F32)
    return jnp.where((t + 1) % period == 1, big, small).astype(F32)  # paper's t = our t + 1

  def loss(params, coef):
    return coef * (params[0] - (-1.0))  # instantaneous regret f_t(x) - f_t(-1)

  def init_params(key, seed):
    del key, seed
    return jnp.zeros((1,), F32)

  def evaluate(params):
    return {"x": params[0]}

  return Task(
      name=name, description=info.description, init_params=init_params,
      loss=loss, evaluate=evaluate, metric="x", mode="min", target=-0.9,
      steps=steps, lrs=dict(info.learning_rates), sample_batch=sample_batch, eval_points=50,
      seeds=5, held_out=False,
      optimizer_kwargs={**betas, "decay": betas["b2"], "rho": betas["b2"]},
      schedule=schedule, project=project, kind="online", deterministic=not stochastic,
      extra={"x_star": -1.0, "big": big, "small": small, "period": period, **betas},
  )

