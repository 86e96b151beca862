"""The minima the optimizers reach: how sharp, and how well they generalize.

For each reported run (the tuned budget's rerun on fresh seeds, the search budget's
selected trial's), at its final parameters:

* the sharpness of the training loss (:mod:`~optax_survey.harness.analysis.sharpness`):
  the largest Hessian eigenvalue λ_max(H), which gradient descent at rate η drives to
  about 2/η (Cohen et al. 2021); the preconditioned λ_max(P⁻¹H) of an adaptive method
  with diagonal preconditioner ``P`` read from its final state (:func:`preconditioner`;
  Cohen et al. 2022); Kwon et al.'s adaptive, scale-invariant sharpness λ_max(T H T),
  ``T = |w| + 0.01``; and the Hessian's trace (Hutchinson);
* the generalization gap: the metric on the training split (``Task.evaluate_train``)
  against the test split's, signed so that a positive gap means the training split
  looks better than the test split.

The Hessian is that of the training loss on a fixed sample of training batches
(``Task.sample_batch`` at fixed keys: the batches the optimizers train on, the same
for every run of a task), so that every optimizer's minimum is measured on the same
function.

References:
  Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, `On Large-Batch Training for Deep
  Learning: Generalization Gap and Sharp Minima <https://arxiv.org/abs/1609.04836>`__,
  ICLR 2017.

  Wilson, Roelofs, Stern, Srebro & Recht, `The Marginal Value of Adaptive Gradient
  Methods in Machine Learning <https://arxiv.org/abs/1705.08292>`__, NeurIPS 2017.

  Cohen et al. 2021 and 2022, Kwon et al. 2021, Dinh et al. 2017: see
  :mod:`~optax_survey.harness.analysis.sharpness`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness import registry
from optax_survey.harness.analysis import sharpness
from optax_survey.harness.errors import BadInputError
from optax_survey.harness.tasks import Task

if TYPE_CHECKING:
  from optax_survey.harness.runs import RunResult

__all__ = ["HESSIAN_BATCHES", "LANCZOS_ITERATIONS", "PRECONDITIONERS", "QUANTITIES",
           "TRACE_PROBES", "gap", "hessian_loss", "measure", "minima_of", "preconditioner",
           "stability_threshold"]

# Which diagonal preconditioner P each optimizer divides its step by, read from its
# state: (the state's second-moment field, whether it is bias-corrected), P = sqrt(v
# + eps_root) + eps with v that field (divided by 1 - b2^t when bias-corrected);
# "identity": P = I (the SGD family: the preconditioned sharpness is the raw one).
# Left out (None: not measured): the optimizers whose step is not a fixed function of
# such a P: AdaDelta (a ratio of two accumulators), AdaBelief and RAdam (a rectification
# factor), diffGrad and AdaDB (a friction factor of the gradients), AdaBound, AMSBound
# and AdaMod (a clipped or smoothed step size).
PRECONDITIONERS: dict[str, tuple[str, bool] | str | None] = {
    "sgd": "identity", "sgdm": "identity", "nag": "identity",
    "adagrad": ("nu", False), "rmsprop": ("nu", False),
    "adam": ("nu", True), "adamw": ("nu", True), "amsgrad": ("nu_max", True),
    "yogi": ("nu", True), "lookahead": ("nu", True),  # the inner Adam's (fast weights)
    "adadelta": None, "adabelief": None, "radam": None, "diffgrad": None, "adadb": None,
    "adabound": None, "amsbound": None, "adamod": None,
}
# The fixed training batches the Hessian is taken on, and the Lanczos and Hutchinson
# sizes.  Measured on 2 CPU cores that other work shared, 10 runs (2 optimizers x 5
# seeds) took 30 s on charlm (and 36 s to compile), 11 s on mnist1d-cnn, 2 s on
# digits-mlp: a few minutes a task for the survey's 18 optimizers at two budgets.
HESSIAN_BATCHES = 5
LANCZOS_ITERATIONS = 20
TRACE_PROBES = 10
# The per-run quantities :func:`measure` returns.
QUANTITIES = ("lambda_max", "preconditioned", "adaptive", "trace", "trace_se")


def _setting(task: Task, name: str, hparams: Mapping[str, Any], key: str, default: Any):
  """Hyperparameter ``key`` of optimizer ``name`` as a run used it: the run's own
  (``hparams``), else the task's, else the library's default."""
  base = registry.LOOKAHEAD_INNER if name == "lookahead" else name
  if key in hparams:
    return hparams[key]
  if key in task.optimizer_kwargs:
    return task.optimizer_kwargs[key]
  return registry.defaults(base).get(key, default)


def preconditioner(task: Task, name: Any, opt_state: Any,
                   hparams: Mapping[str, Any] | None = None) -> Any:
  """The diagonal preconditioner ``P`` (a tree like the parameters) of optimizer ``name``
  in ``opt_state`` (one run's, traceable), ``"identity"`` for the SGD family, or None
  where it is not defined (:data:`PRECONDITIONERS`; a factory's: None).

  ``P = sqrt(v̂ + eps_root) + eps``: Adam's ``v̂ = v / (1 - b2^t)`` (``t`` the state's step
  count), AMSGrad's from its running max of ``v``, RMSProp's and AdaGrad's ``v`` as it is
  (their uncentred accumulator); ``b2``, ``eps`` and ``eps_root`` as the run used them
  (``hparams``, then the task's settings, then the defaults).

  Example: Adam after one step on gradient 2 (``v = 0.001 * 4``, ``v̂ = 4``):

    >>> import optax_survey as osv
    >>> from optax_survey.harness.tasks import get_task
    >>> tx = osv.adam(0.1)
    >>> _, state = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)), jnp.zeros(1))
    >>> [round(v, 3) for v in preconditioner(get_task("quadratic"), "adam", state).tolist()]
    [2.0]
  """
  kind = PRECONDITIONERS.get(name) if isinstance(name, str) else None
  if not isinstance(kind, tuple):
    return kind
  field, corrected = kind
  hparams = hparams or {}
  if name == "rmsprop" and _setting(task, name, hparams, "centered", False) is True:
    return None  # the centred variant divides by sqrt(v - m^2): not this P
  v = optax.tree_utils.tree_get(opt_state, field)
  if corrected:
    t = optax.tree_utils.tree_get(opt_state, "count")
    b2 = _setting(task, name, hparams, "b2", 0.999)
    v = jax.tree.map(lambda x: x / (1 - jnp.asarray(b2, x.dtype) ** t), v)
  eps = _setting(task, name, hparams, "eps", 0.0)
  eps_root = _setting(task, name, hparams, "eps_root", 0.0)
  return jax.tree.map(lambda x: jnp.sqrt(x + eps_root) + eps, v)


def stability_threshold(task: Task, name: Any, lr: float,
                        hparams: Mapping[str, Any] | None = None) -> tuple[float, str] | None:
  """Where optimizer ``name``'s step at rate ``lr`` stops being stable on a quadratic,
  and which sharpness it bounds: ``(threshold, "raw" | "preconditioned")``, or None
  where no such threshold is known here.

  Gradient descent: 2/η on λ_max(H); heavy-ball momentum β: (2 + 2β)/η; Nesterov's:
  (2 + 2β)/((1 + 2β)η) (Cohen et al. 2021, appendix); Adam's family with first-moment
  β₁: (2 + 2β₁)/((1 - β₁)η) on the preconditioned λ_max(P⁻¹H) (Cohen et al. 2022: 38/η
  at β₁ = 0.9); RMSProp and AdaGrad (no momentum): 2/η on λ_max(P⁻¹H).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("digits-mlp")
    >>> [(round(v), kind) for v, kind in (stability_threshold(task, "sgd", 0.1),
    ...                                   stability_threshold(task, "adam", 0.001))]
    [(20, 'raw'), (38000, 'preconditioned')]
  """
  kind = PRECONDITIONERS.get(name) if isinstance(name, str) else None
  hparams = hparams or {}
  if name == "sgd":
    return 2.0 / lr, "raw"
  if name in ("sgdm", "nag"):
    beta = float(_setting(task, name, hparams, "momentum", 0.9))
    damp = 1.0 if name == "sgdm" else 1.0 + 2.0 * beta
    return (2.0 + 2.0 * beta) / (damp * lr), "raw"
  if name in ("adagrad", "rmsprop") and kind is not None:
    if name == "rmsprop" and _setting(task, name, hparams, "momentum", None):
      return None
    return 2.0 / lr, "preconditioned"
  if kind is not None and kind != "identity":
    b1 = float(_setting(task, name, hparams, "b1", 0.9))
    return (2.0 + 2.0 * b1) / ((1.0 - b1) * lr), "preconditioned"
  return None


def hessian_loss(task: Task, *, batches: int = HESSIAN_BATCHES, seed: int = 0):
  """``loss(params, state) -> scalar``: the task's training loss, averaged over
  ``batches`` fixed training batches (``task.sample_batch`` at fixed keys; none for a
  task without data), the function every run's Hessian is taken of.

  Example: the quadratic task has no data, so its loss is the objective:

    >>> from optax_survey.harness.tasks import get_task
    >>> loss = hessian_loss(get_task("quadratic"))
    >>> round(float(loss(jnp.array([1.0, 0.0]), None)), 6)  # 0.05 x² + 2 y²
    0.05
  """
  sample = task.sample_batch
  if sample is None:
    return lambda params, state: task.loss_and_state(params, None, state)[0]
  keys = jax.random.split(jax.random.PRNGKey(seed), batches)
  data = jax.vmap(sample)(keys, jnp.arange(batches))

  def loss(params, state):
    values = jax.vmap(lambda b: task.loss_and_state(params, b, state)[0])(data)
    return jnp.mean(values)

  return loss


def measure(task: Task, params: Any, model_state: Any, scale: Any, has_scale: Any, *,
            iterations: int = LANCZOS_ITERATIONS, probes: int = TRACE_PROBES,
            batches: int = HESSIAN_BATCHES, chunk: int = 8) -> dict[str, np.ndarray]:
  """The sharpness quantities (:data:`QUANTITIES`) of many runs, as one compiled program.

  Args:
    task: the task.
    params: the runs' final parameters, stacked (a leading run axis).
    model_state: their model states, stacked (None without one).
    scale: per run, ``P^{-1/2}`` (a tree like ``params``; any value where ``has_scale``
      is False).
    has_scale: ``[runs]`` booleans: whether the run's preconditioned sharpness is
      measured with ``scale``; elsewhere it is NaN.
    iterations: Lanczos steps of each largest eigenvalue.
    probes: Hutchinson probes of the trace.
    batches: the fixed training batches of :func:`hessian_loss`.
    chunk: runs measured at once (``jax.lax.map``'s batch: bounds the memory).

  Returns:
    ``{quantity: [runs] float64}``.

  Example: the quadratic task (no data: its objective 0.05 x² + 2 y², Hessian diag(0.1, 4))
  at two points, the preconditioned sharpness measured for the first alone:

    >>> from optax_survey.harness.tasks import get_task
    >>> params = jnp.array([[1.0, 1.0], [0.0, 2.0]])
    >>> out = measure(get_task("quadratic"), params, None, jnp.full((2, 2), 0.5),
    ...               np.array([True, False]), iterations=2, probes=4)
    >>> [round(v, 4) for v in out["lambda_max"].tolist()], bool(np.isnan(out["preconditioned"][1]))
    ([4.0, 4.0], True)
    >>> round(float(out["preconditioned"][0]), 4)  # λ_max(S H S), S = 0.5 I
    1.0
  """
  loss = hessian_loss(task, batches=batches)
  key_lanczos, key_trace = jax.random.split(jax.random.PRNGKey(0))

  def one(args):
    p, s, sc, has = args
    f = lambda q: loss(q, s)  # noqa: E731
    kw = {"iterations": iterations, "key": key_lanczos}
    pre = sharpness.top_eigenvalue(f, p, scale=sc, **kw)
    trace, trace_se = sharpness.hutchinson_trace(f, p, probes=probes, key=key_trace)
    return {"lambda_max": sharpness.top_eigenvalue(f, p, **kw),
            "preconditioned": jnp.where(has, pre, jnp.nan),
            "adaptive": sharpness.adaptive(f, p, **kw), "trace": trace, "trace_se": trace_se}

  runs = len(np.asarray(has_scale))
  out = jax.jit(lambda *a: jax.lax.map(one, a, batch_size=min(chunk, runs)))(
      params, model_state, scale, jnp.asarray(has_scale))
  return {k: np.asarray(v, np.float64) for k, v in out.items()}


def gap(task: Task, train: np.ndarray, test: np.ndarray) -> np.ndarray:
  """The generalization gap of the task's metric: training minus test for a metric
  to maximise, test minus training for one to minimise (positive: the training split
  looks better than the test split).

  Example:
    >>> from optax_survey.harness.tasks import get_task
    >>> gap(get_task("digits-mlp"), np.array([1.0]), np.array([0.9])).round(3).tolist()
    [0.1]
  """
  train, test = np.asarray(train, np.float64), np.asarray(test, np.float64)
  return train - test if task.mode == "max" else test - train


def _stack_final(task: Task, name: Any, run: RunResult) -> tuple[Any, Any, Any, np.ndarray]:
  """A run's final parameters, model state, ``P^{-1/2}`` and whether it is measured, each
  with one leading axis over its seeds (``run``: one row)."""
  if run.final is None:
    raise BadInputError(f"{run.optimizer} on {run.task} kept no final parameters: train it "
                        "with minima=True", argument="minima")
  final = run.final
  params = jax.tree.map(lambda a: a[0], final["params"])
  state = jax.tree.map(lambda a: a[0], final["model_state"])
  if final.get("preconditioner") is not None:
    p = jax.tree.map(lambda a: a[0], final["preconditioner"])
    return params, state, jax.tree.map(lambda x: 1.0 / np.sqrt(x), p), np.ones(run.seeds, bool)
  ones = jax.tree.map(np.ones_like, params)
  identity = PRECONDITIONERS.get(name) == "identity" if isinstance(name, str) else False
  return params, state, ones, np.full(run.seeds, identity)


def minima_of(task: Task, runs: Mapping[str, RunResult], **kwargs: Any) -> dict[str, dict]:
  """The minima of the reported runs ``runs`` (optimizer -> its one-row run with final
  parameters kept), all of them measured in one program (``kwargs``: :func:`measure`'s).

  Returns:
    Per optimizer: per seed, the sharpness quantities (:data:`QUANTITIES`), ``train``
    and ``test`` (the task's metric on each split; NaN without ``evaluate_train``),
    ``gap`` (:func:`gap`); and ``lr`` with ``two_over_lr`` (2/η: gradient descent's
    edge of stability at that rate; the search budget's peak rate), ``threshold``
    (:func:`stability_threshold`: ``[value, which sharpness]``, or None) and
    ``preconditioner`` (how P was read, as text).

  Example:
    >>> from optax_survey.harness import compare
    >>> from optax_survey.harness.tasks import get_task
    >>> task = get_task("wilson-separable")
    >>> cmp = compare(task, ["sgdm"], seeds=2, steps=20, lr_grid=[0.1], minima=True,
    ...               progress=False)
    >>> record = minima_of(task, {"sgdm": cmp.tuned_run("sgdm")})["sgdm"]
    >>> len(record["lambda_max"]), record["lr"], record["two_over_lr"], record["preconditioner"]
    (2, 0.1, 20.0, 'I')
  """
  names = list(runs)
  parts = [_stack_final(task, n, runs[n]) for n in names]
  stacked = [jax.tree.map(lambda *xs: np.concatenate(xs), *[p[i] for p in parts])
             if parts[0][i] is not None else None for i in range(3)]
  params, model_state, scale = stacked
  values = measure(task, params, model_state, scale, np.concatenate([p[3] for p in parts]),
                   **kwargs)
  out, first = {}, 0
  for name in names:
    run = runs[name]
    assert run.final is not None  # (checked by _stack_final)
    rows = slice(first, first + run.seeds)
    first += run.seeds
    train = run.final["train"].get(task.metric, np.full((1, run.seeds), np.nan))[0]
    test = run.final_values(task.metric)[0]
    kind = PRECONDITIONERS.get(name) if isinstance(name, str) else None
    record = {k: v[rows].tolist() for k, v in values.items()}
    hparams = {k: float(np.asarray(v)[0]) for k, v in (run.hparams or {}).items()}
    threshold = stability_threshold(task, name, float(run.lrs[0]), hparams)
    record.update(train=np.asarray(train, np.float64).tolist(), test=test.tolist(),
                  gap=gap(task, train, test).tolist(), lr=float(run.lrs[0]),
                  two_over_lr=2.0 / float(run.lrs[0]),
                  threshold=None if threshold is None else list(threshold),
                  preconditioner=("I" if kind == "identity" else "not measured"
                                  if kind is None else
                                  f"sqrt({kind[0]}{'/(1-b2^t)' if kind[1] else ''}) + eps"))
    out[name] = record
  return out
