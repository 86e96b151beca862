r"""The value that flows through an optax_survey chain, and the helpers to write a stage.

A plain ``optax.chain`` hands each stage only the previous stage's output, so
Adam cannot be written as "first moment, then second moment": both moments
need the raw gradient.  optax_survey stages therefore pass a :class:`Flow`,
a record of pytrees shaped like the parameters and of what has been done to
them::

    grad   g_t   the raw gradient (after any L2 penalty), never rewritten
    mu     m     the numerator of the step, the "direction"   (None: use grad)
    nu     v     the second-moment estimate the step divides by (None: none yet)
    nu_divisor   a scalar that divides nu (bias correction)    (None: 1)
    eta    η     the per-element step size, real               (None: 1)
    eta_of_nu    η as a function of nu, while that is what η is (None: unknown)
    scale  s     a per-step scalar factor of the step size     (None: 1)
    count  t     the number of this step, 1, 2, ...            (None: not counted)
    decay  d     decoupled weight decay, subtracted at the end (None: none)
    facts        what the stages so far have done (``Flow.facts``)
    stages       their names, in order (for error messages)

The last stage, :func:`optax_survey.descend`, collapses it into the update
``u = -s η ⊙ m - d``.  Scalars that depend on the step only (the learning
rate, bias corrections, RAdam's ``r_t``) multiply ``s``, not ``η``: they are
multiplied together as scalars (in float64 under ``jax_enable_x64``) and
rounded once per element, as PyTorch rounds its one ``step_size``.

Each primitive reads the fields it needs, checks that the stages before it
produced them (a clear ``ValueError`` naming the stage to put
first otherwise) and rewrites the ones it owns, so primitives stay one idea
each and can be inserted, removed or reordered.  The checks read Python-side
facts while the update is traced: they cost nothing at run time.

A ``Flow`` is not a pytree.  ``jax.tree.map`` and everything built on it
(``optax.clip``, ``optax.clip_by_global_norm``, ``optax.apply_updates``, a
jitted function returning it) raise a ``TypeError`` that says what went wrong:
an optax built-in between optax_survey stages, or a chain that does not end
with ``descend()``.  Put optax built-ins before the first optax_survey stage
or after ``descend()``.  ``docs/design.md`` shows how to write a new stage
with the helpers below.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "Flow", "as_flow", "mark_final", "is_final", "direction", "second_moment", "step",
    "full_eta", "with_full_eta",
    "scale_eta", "scale_eta_by_scalar",
    "scalar_like", "real_dtype", "record", "require", "refuse", "step_number",
    "FIRST_MOMENT", "FRICTION", "MOMENTUM", "MU_BIAS_CORRECTED",
    "NU_BIAS_CORRECTED", "NU_MAX", "NU_USED", "FOLDED_BIAS_CORRECTION",
    "RECTIFIED", "LEARNING_RATE",
]

# The facts a stage records (``Flow.facts``) and later stages check.
FIRST_MOMENT = "first_moment"  # mu is an EMA of gradients (ema_first_moment)
FRICTION = "friction"  # mu was multiplied elementwise by a friction coefficient
MOMENTUM = "momentum"  # mu is a momentum trace of steps (trace_momentum)
MU_BIAS_CORRECTED = "mu_bias_corrected"  # mu = m / (1 - b1^t) (bias_correction)
NU_BIAS_CORRECTED = "nu_bias_corrected"  # nu = v / (1 - b2^t) (bias_correction)
NU_MAX = "nu_max"  # nu is a running maximum (track_max_second_moment)
NU_USED = "nu_used"  # a step size was computed from nu: changing nu is too late
FOLDED_BIAS_CORRECTION = "folded_bias_correction"  # eta *= sqrt(bc2)/bc1
RECTIFIED = "rectified"  # RAdam's rectification acted on eta
LEARNING_RATE = "learning_rate"  # eta (or mu, after momentum) includes α_t

_NOT_A_PYTREE = (
    "An optax_survey Flow (the record that optax_survey stages pass to each "
    "other) was used as a pytree{after}. Either the chain does not end with "
    "optax_survey.descend() (its output is then this Flow, not updates), or a "
    "transformation that is not an optax_survey stage (optax.clip, "
    "optax.clip_by_global_norm, optax.scale, optax.masked, ...) sits between "
    "optax_survey stages, where it would act on every field of the record. End "
    "the chain with descend(), and put optax built-ins before the first "
    "optax_survey stage or after descend()."
)


class _FlowType(type):
  """Flow's metaclass: JAX names a pytree's types in its structure errors.

  ``optax.apply_updates(params, flow)`` on a dict or list of parameters fails
  in JAX's structure check before any code of ours runs; the message then
  shows ``repr(type(flow))``, which says what went wrong.
  """

  def __repr__(cls) -> str:
    return (
        "<optax_survey.Flow, the record passed between optax_survey stages: an "
        "optimizer whose chain does not end with optax_survey.descend() returns it "
        "instead of updates; end the chain with descend()>"
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Flow(metaclass=_FlowType):
  """Per-step record passed between optax_survey stages (see the module doc).

  Attributes:
    grad: the raw gradient ``g_t``, never rewritten.
    mu: the direction ``m`` (``None``: the gradient).
    nu: the second-moment estimate ``v`` (``None``: none yet); real.
    nu_divisor: a scalar that divides ``nu`` (``1 - β2^t`` after
      :func:`~optax_survey.bias_correction`); ``None``: 1.  Kept apart so
      that :func:`~optax_survey.adaptive_step_size` divides after the square
      root, as PyTorch does (``v / (1 - β2^t)`` overflows float32 where ``v``
      is near its maximum); :func:`second_moment` reads the quotient.
    eta: the per-element step size ``η`` (``None``: 1); real.
    eta_of_nu: ``eta`` as a function of a second moment, set by
      :func:`~optax_survey.adaptive_step_size` and dropped by any stage that
      changes ``eta`` per element: a stage that needs ``η`` twice can
      recompute it from ``jax.lax.optimization_barrier(nu)`` instead of
      keeping it in memory (:func:`~optax_survey.momental_bound`).
    scale: a scalar factor ``s`` of the step size (``None``: 1); real, in
      the default float dtype.
    count: the number of this step, ``t = 1, 2, ...`` (int32 scalar), set by
      :func:`~optax_survey.count_steps`.
    decay: the decoupled weight-decay term ``d`` that :func:`descend`
      subtracts (``None``: none).
    facts: frozenset of the facts the stages so far recorded (the constants
      ``FIRST_MOMENT``, ``NU_USED``, ... of this module).
    stages: the names of the stages so far, in order.

  Example:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> import optax_survey as osv
    >>> tx = optax.chain(osv.count_steps(), osv.ema_first_moment(0.9))   # no descend()
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow, _ = tx.update(g, tx.init(g))
    >>> flow
    Flow(after count_steps -> ema_first_moment; set: grad, mu, count)
    >>> print(np.round(np.asarray(flow.mu), 4), sorted(flow.facts))
    [ 0.1 -0.2] ['first_moment']
  """

  grad: Any
  mu: Any = None
  nu: Any = None
  nu_divisor: Any = None
  eta: Any = None
  eta_of_nu: Any = None
  scale: Any = None
  count: Any = None
  decay: Any = None
  facts: frozenset = frozenset()
  stages: tuple = ()

  def _replace(self, **changes: Any) -> Flow:
    """A copy with the given fields replaced (as ``NamedTuple._replace``)."""
    return dataclasses.replace(self, **changes)

  def __jax_array__(self):
    # ``params + flow`` (a single-array parameter tree, or jnp on a Flow).
    _refuse_flatten(self)

  __array__ = __jax_array__

  def __repr__(self) -> str:
    fields = [f for f in _FIELDS if getattr(self, f) is not None]
    return (
        f"Flow(after {' -> '.join(self.stages) or 'no stage'}; set: "
        f"grad{''.join(', ' + f for f in fields)})"
    )


def _refuse_flatten(flow: Flow):
  after = f" after the stages {' -> '.join(flow.stages)}" if flow.stages else ""
  raise TypeError(_NOT_A_PYTREE.format(after=after))


def _never_unflattened(aux: Any, children: Any) -> Flow:
  raise TypeError("an optax_survey Flow is not a pytree")  # flatten refused first


jax.tree_util.register_pytree_node(Flow, _refuse_flatten, _never_unflattened)


def as_flow(updates: Any, stage: str | None = None) -> Flow:
  """Wraps plain gradients in a :class:`Flow`; passes a ``Flow`` through.

  Args:
    updates: the ``updates`` argument of a stage's ``update``: plain gradients
      (the stage is the first optax_survey stage) or a ``Flow``.
    stage: the calling stage's name, for the error below.

  Returns:
    A ``Flow``.

  Raises:
    ValueError: if ``updates`` are the final updates of a complete optimizer
      (:func:`is_final`): the stage sits after ``descend()``, where it has
      no gradient and no record to act on.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import optax_survey as osv
    >>> from optax_survey.flow import as_flow
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = as_flow(g)
    >>> flow
    Flow(after no stage; set: grad)
    >>> as_flow(flow) is flow
    True
    >>> tx = osv.sgd(0.1)
    >>> updates, _ = tx.update(g, tx.init(g))
    >>> as_flow(updates, "ema_first_moment")
    Traceback (most recent call last):
    ...
    ValueError: ema_first_moment came after descend(): ...
  """
  if isinstance(updates, Flow):
    return updates
  if is_final(updates):
    name = stage or "an optax_survey stage"
    raise ValueError(
        f"{name} came after descend(): it acts on the gradient and on the record "
        "the stages pass each other, and the final updates of a complete optimizer "
        f"have neither. Put {name} into the chain before descend() (an optimizer's "
        "recipe of stages is in its docstring); after a complete optimizer only "
        "add_decoupled_weight_decay() and optax's own transformations act on the updates."
    )
  return Flow(grad=updates)


# The final updates descend() returned, remembered by identity only: a stage
# handed exactly these arrays sits after a complete optimizer, which optax.chain
# does not tell it (a stage learns nothing of its place, at init or update).
# Weak references: no array or tracer is kept alive, no value is stored, and
# an entry goes with its array (at the end of a trace, for tracers).
_FINAL: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def mark_final(updates: Any) -> Any:
  """Remembers ``updates`` as the final updates of a complete optimizer.

  :func:`~optax_survey.descend` marks its output, and so does a stage that
  acts on final updates (:func:`~optax_survey.add_decoupled_weight_decay`
  after ``descend()``), so that a stage placed after them is told where it
  belongs (:func:`as_flow`).  Leaves that cannot be weakly referenced (Python
  and NumPy scalars) are not marked.

  Args:
    updates: a pytree of arrays.

  Returns:
    ``updates`` itself.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import is_final, mark_final
    >>> u = {"w": jnp.array([0.1, -0.2])}
    >>> is_final(u), is_final(mark_final(u)), is_final({"w": u["w"] + 0})
    (False, True, False)
  """
  for leaf in jax.tree.leaves(updates):
    try:
      _FINAL[id(leaf)] = leaf
    except TypeError:
      pass
  return updates


def is_final(updates: Any) -> bool:
  """Whether every leaf of ``updates`` is one :func:`mark_final` remembered.

  A tree without leaves, or a :class:`Flow`, is not final.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> from optax_survey.flow import is_final
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.sgd(0.1)
    >>> updates, _ = tx.update(g, tx.init(g))
    >>> is_final(updates), is_final(g)
    (True, False)
  """
  if isinstance(updates, Flow):
    return False
  leaves = jax.tree.leaves(updates)
  return bool(leaves) and all(_FINAL.get(id(leaf)) is leaf for leaf in leaves)


def record(flow: Flow, stage: str, *, add: Iterable[str] = (),
           remove: Iterable[str] = (), **fields: Any) -> Flow:
  """The flow after ``stage``: its fields replaced, its facts updated.

  Args:
    flow: the incoming flow.
    stage: the stage's name (used in later error messages).
    add: facts the stage establishes.
    remove: facts that no longer hold after it.
    **fields: fields the stage rewrites (``mu=...``, ``eta=...``).

  Returns:
    The new ``Flow``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import FIRST_MOMENT, as_flow, record
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = record(as_flow(g), "my_stage", add=[FIRST_MOMENT], mu=0.1 * g)
    >>> flow
    Flow(after my_stage; set: grad, mu)
    >>> sorted(flow.facts)
    ['first_moment']
  """
  facts = (flow.facts - frozenset(remove)) | frozenset(add)
  return flow._replace(facts=facts, stages=flow.stages + (stage,), **fields)


def _absent(flow: Flow) -> bool:
  # A gradient tree without leaves (no parameters): nothing to check.
  return flow.grad is None or not jax.tree.leaves(flow.grad)


def require(flow: Flow, stage: str, what: str, hint: str) -> None:
  """Raises ``ValueError`` unless ``what`` (a field or a fact) is in the flow.

  Args:
    flow: the incoming flow.
    stage: the name of the stage that checks (named in the message).
    what: a field name (``"nu"``) or a fact (``NU_USED``).
    hint: what to put where, e.g. ``"put ema_second_moment() before it"``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import as_flow, require
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> require(as_flow(g), "my_stage", "nu", "put a second-moment stage first")
    Traceback (most recent call last):
    ...
    ValueError: my_stage needs a second moment `nu` in the flow: put a second-moment stage first.
  """
  present = (
      getattr(flow, what) is not None if what in _FIELDS else what in flow.facts
  )
  if not present and not _absent(flow):
    raise ValueError(f"{stage} needs {_describe(what)}: {hint}.")


def refuse(flow: Flow, stage: str, fact: str, message: str) -> None:
  """Raises ``ValueError`` if ``fact`` (a fact or a field) is already in the flow.

  The message reads ``"{stage} cannot come after {the stages so far}:
  {message}."``.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import as_flow, record, refuse
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = record(as_flow(g), "my_stage", mu=0.1 * g)
    >>> refuse(flow, "other_stage", "mu", "put it first")
    Traceback (most recent call last):
    ...
    ValueError: other_stage cannot come after my_stage: put it first.
  """
  present = (
      getattr(flow, fact) is not None if fact in _FIELDS else fact in flow.facts
  )
  if present and not _absent(flow):
    after = " -> ".join(flow.stages) or "the stages before it"
    raise ValueError(f"{stage} cannot come after {after}: {message}.")


_FIELDS = ("mu", "nu", "eta", "scale", "count", "decay")
_DESCRIPTIONS = {
    "mu": "a direction `mu` in the flow",
    "nu": "a second moment `nu` in the flow",
    "eta": "a step size `eta` in the flow",
    "scale": "a scalar step-size factor in the flow",
    "count": "the step number t",
    FIRST_MOMENT: "a first moment (an EMA of the gradients) in `mu`",
    NU_USED: "a step size computed from the second moment",
    LEARNING_RATE: "the learning rate applied to the step size",
}


def _describe(what: str) -> str:
  return _DESCRIPTIONS.get(what, f"`{what}`")


def step_number(flow: Flow, stage: str) -> jax.Array:
  """The number ``t = 1, 2, ...`` of this step, set by ``count_steps()``.

  Raises:
    ValueError: if no :func:`~optax_survey.count_steps` stage came before.

  Example:
    >>> import jax.numpy as jnp
    >>> import optax_survey as osv
    >>> from optax_survey.flow import step_number
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> tx = osv.count_steps()
    >>> flow, state = tx.update(g, tx.init(g))
    >>> print(step_number(flow, "my_stage"))
    1
  """
  require(
      flow, stage, "count",
      "put optax_survey.count_steps() first in the chain (every optax_survey "
      "optimizer starts with it)",
  )
  if flow.count is None:  # no parameters at all: any step number will do
    return jnp.ones([], jnp.int32)
  return flow.count


def second_moment(flow: Flow) -> Any:
  """The second moment ``nu / nu_divisor`` (``nu`` itself without a divisor).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, second_moment
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = Flow(grad=g, nu=g**2, nu_divisor=0.5)   # nu_divisor: 1 - β2^t
    >>> print(second_moment(flow))
    [2. 8.]
  """
  if flow.nu_divisor is None or flow.nu is None:
    return flow.nu
  return jax.tree.map(lambda v: v / scalar_like(flow.nu_divisor, v), flow.nu)


def direction(flow: Flow) -> Any:
  """The current numerator ``m`` (the raw gradient until a stage sets one).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, direction
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> print(direction(Flow(grad=g)))   # the gradient until a stage sets mu
    [ 1. -2.]
    >>> print(direction(Flow(grad=g, mu=0.5 * g)))
    [ 0.5 -1. ]
  """
  return flow.grad if flow.mu is None else flow.mu


def full_eta(flow: Flow) -> Any:
  """The whole per-element step size ``s η`` (``None`` when both are 1).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, full_eta
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> eta = jnp.array([1.0, 0.5], dtype=jnp.float32)
    >>> print(full_eta(Flow(grad=g, eta=eta, scale=0.1)))
    [0.1  0.05]
    >>> print(full_eta(Flow(grad=g)))   # η = s = 1
    None
  """
  if flow.scale is None:
    return flow.eta
  if flow.eta is None:
    return jax.tree.map(lambda g: scalar_like(flow.scale, g), flow.grad)
  return jax.tree.map(lambda e: scalar_like(flow.scale, e) * e, flow.eta)


def with_full_eta(flow: Flow) -> Flow:
  """The same flow with the scalar factor folded into ``eta`` (``scale=None``).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, with_full_eta
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = with_full_eta(Flow(grad=g, scale=0.1))
    >>> print(flow.eta, flow.scale)   # a scalar η per leaf, no scale left
    0.1 None
  """
  unscaled, scale = flow.eta_of_nu, flow.scale
  recompute = unscaled
  if unscaled is not None and scale is not None:
    def recompute(nu):
      return jax.tree.map(lambda e: scalar_like(scale, e) * e, unscaled(nu))
  return flow._replace(eta=full_eta(flow), scale=None, eta_of_nu=recompute)


def step(flow: Flow) -> Any:
  """The current step ``s η ⊙ m``, i.e. the update up to its sign and the decay.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, step
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> eta = jnp.array([1.0, 0.5], dtype=jnp.float32)
    >>> print(step(Flow(grad=g, eta=eta, scale=0.1)))   # s η ⊙ g
    [ 0.1 -0.1]
  """
  eta = full_eta(flow)
  if eta is None:
    return direction(flow)
  return jax.tree.map(lambda e, m: e * m, eta, direction(flow))


def scale_eta(flow: Flow, factor: Any) -> Flow:
  """Multiplies the per-element step size η by ``factor``, shaped like the grads.

  ``eta`` then no longer is a known function of ``nu``: ``eta_of_nu`` is dropped.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, scale_eta
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> eta = jnp.array([1.0, 0.5], dtype=jnp.float32)
    >>> flow = scale_eta(Flow(grad=g, eta=eta), jnp.array([2.0, 2.0], dtype=jnp.float32))
    >>> print(flow.eta)
    [2. 1.]
  """
  if flow.eta is None:
    return flow._replace(eta=factor, eta_of_nu=None)
  return flow._replace(
      eta=jax.tree.map(lambda e, f: e * f, flow.eta, factor), eta_of_nu=None
  )


def real_dtype(leaf: Any) -> jnp.dtype:
  """The real counterpart of ``leaf``'s dtype: float32 for complex64, else its own.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import real_dtype
    >>> print(real_dtype(jnp.ones(2, jnp.complex64)), real_dtype(jnp.ones(2, jnp.bfloat16)))
    float32 bfloat16
  """
  dtype = jnp.result_type(leaf)
  if jnp.issubdtype(dtype, jnp.complexfloating):
    return jnp.finfo(dtype).dtype
  return dtype


def scalar_like(scalar: Any, leaf: Any) -> jax.Array:
  """A real per-step scalar in the precision of ``leaf`` (at least float32).

  Step-number scalars (``1 - β^t``, ``r_t``, bounds) are computed in the
  default float type (float64 under ``jax_enable_x64``); as in PyTorch, where
  they are Python floats, they are rounded once to the parameters' precision
  and do not promote float32 parameters to float64.  Complex leaves get a
  real scalar (float32 for complex64).

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import scalar_like
    >>> print(scalar_like(0.5, jnp.ones(2, jnp.bfloat16)).dtype)   # at least float32
    float32
    >>> print(scalar_like(0.5, jnp.ones(2, jnp.complex64)).dtype)   # real
    float32
  """
  scalar = jnp.asarray(scalar)
  if jnp.iscomplexobj(scalar):  # e.g. a hyperparameter injected as complex64
    scalar = jnp.real(scalar)
  return scalar.astype(jnp.promote_types(real_dtype(leaf), jnp.float32))


def scale_eta_by_scalar(flow: Flow, scalar: Any) -> Flow:
  """Multiplies the step size by one scalar (a learning rate, a bias correction...).

  The scalar joins ``flow.scale``: scalars are multiplied together, and the
  product multiplies each element once, in :func:`step`.

  Example:
    >>> import jax.numpy as jnp
    >>> from optax_survey.flow import Flow, scale_eta_by_scalar
    >>> g = jnp.array([1.0, -2.0], dtype=jnp.float32)
    >>> flow = scale_eta_by_scalar(scale_eta_by_scalar(Flow(grad=g), 0.1), 0.5)
    >>> print(flow.eta, round(float(flow.scale), 4))   # η untouched, s = 0.1 · 0.5
    None 0.05
  """
  if flow.scale is None:
    return flow._replace(scale=scalar)
  return flow._replace(scale=flow.scale * scalar)
