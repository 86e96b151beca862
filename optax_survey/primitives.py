r"""Composable primitives: every stage of every survey optimizer.

Each function returns an ``optax.GradientTransformation`` whose state is a
NamedTuple of arrays.  Stages read and write the fields of a
:class:`~optax_survey.flow.Flow` (``grad``, ``mu``, ``nu``, ``eta``,
``scale``, ``count``, ``decay``); the last stage, :func:`descend`, turns it
into the update ``-s η ⊙ m - d``.  Notation: step ``t = 1, 2, ...``,
``bc1 = 1 - β1^t``, ``bc2 = 1 - β2^t``.

Every stage checks, while the update is traced, that the stages before it
produced what it reads, and raises a ``ValueError`` naming what to put where
otherwise (``docs/design.md`` lists the rules).

Complex parameters: second moments are of ``|g|²`` and stored as real
arrays (float32 for complex64), step sizes are real, bounds, maxima and signs
act on those real quantities; first moments, friction differences and the
update are complex.

The stages are written one module per group in ``optax_survey/_primitives/``
(step counter, moments, step size, friction, learning rate and bounds,
momentum, weight decay, output; as optax's ``optax/transforms/_*.py``): this
module re-exports them, and ``optax_survey`` re-exports this module's names.

Example, Adam written out (this is exactly :func:`optax_survey.adam`, whose
L2 stage is left idle at ``weight_decay=0``):

>>> import jax.numpy as jnp
>>> import optax
>>> import optax_survey as osv
>>> tx = optax.chain(
...     osv.count_steps(), osv.ema_first_moment(0.9), osv.ema_second_moment(0.999),
...     osv.bias_correction(0.9, 0.999), osv.adaptive_step_size(1e-8),
...     osv.apply_learning_rate(1e-3), osv.descend())
>>> params = jnp.array([1.0, 2.0], dtype=jnp.float32)
>>> grads = jnp.array([1.0, -2.0], dtype=jnp.float32)
>>> updates, _ = tx.update(grads, tx.init(params), params)
>>> adam = osv.adam(1e-3)
>>> adam_updates, _ = adam.update(grads, adam.init(params), params)
>>> bool(jnp.all(updates == adam_updates))
True
"""

from __future__ import annotations

from optax_survey._primitives.friction import (
  AdaDBFrictionState,
  FrictionState,
  adadb_friction,
  diffgrad_friction,
)
from optax_survey._primitives.helpers import MaskOrFn as MaskOrFn  # argument types
from optax_survey._primitives.helpers import ScalarOrSchedule as ScalarOrSchedule
from optax_survey._primitives.learning_rate import (
  BoundStepSizeState,
  MomentalBoundState,
  apply_learning_rate,
  bound_step_size,
  momental_bound,
)
from optax_survey._primitives.moments import (
  CenteredSecondMomentState,
  FirstMomentState,
  MaxSecondMomentState,
  SecondMomentState,
  accumulate_second_moment,
  belief_second_moment,
  center_second_moment,
  ema_first_moment,
  ema_second_moment,
  track_max_second_moment,
  yogi_second_moment,
)
from optax_survey._primitives.momentum import (
  DeltaAccumulatorState,
  MomentumState,
  delta_accumulator,
  trace_momentum,
)
from optax_survey._primitives.output import descend
from optax_survey._primitives.step_counter import CountState, count_steps
from optax_survey._primitives.step_size import (
  adaptive_step_size,
  bias_correction,
  folded_bias_correction,
  rectification,
  rectification_is_active,
)
from optax_survey._primitives.weight_decay import add_decoupled_weight_decay, add_l2_penalty

__all__ = [
    "CountState", "FirstMomentState", "SecondMomentState", "MaxSecondMomentState",
    "CenteredSecondMomentState", "FrictionState", "AdaDBFrictionState",
    "BoundStepSizeState", "MomentalBoundState", "MomentumState",
    "DeltaAccumulatorState",
    "count_steps", "ema_first_moment", "ema_second_moment",
    "accumulate_second_moment", "yogi_second_moment", "belief_second_moment",
    "track_max_second_moment", "center_second_moment", "bias_correction",
    "adaptive_step_size", "folded_bias_correction", "rectification",
    "rectification_is_active", "diffgrad_friction", "adadb_friction",
    "apply_learning_rate", "bound_step_size", "momental_bound",
    "trace_momentum", "delta_accumulator", "add_l2_penalty",
    "add_decoupled_weight_decay", "descend",
]

