"""optax_survey: every first-order optimizer of the deep-learning optimizer
survey, built from small composable optax primitives and checked against the
authors' reference code."""

from optax_survey import primitives
from optax_survey.aliases import (
    adabelief,
    adabound,
    adadb,
    adadelta,
    adagrad,
    adam,
    adamod,
    adamw,
    amsbound,
    amsgrad,
    diffgrad,
    nag,
    radam,
    rmsprop,
    sgd,
    sgdm,
    yogi,
)
from optax_survey.flat import flat_loss, flat_mask, flatten_params
from optax_survey.flow import Flow, as_flow
from optax_survey.primitives import (
    AdaDBFrictionState,
    BoundStepSizeState,
    CenteredSecondMomentState,
    CountState,
    DeltaAccumulatorState,
    FirstMomentState,
    FrictionState,
    MaxSecondMomentState,
    MomentalBoundState,
    MomentumState,
    SecondMomentState,
    accumulate_second_moment,
    adadb_friction,
    adaptive_step_size,
    add_decoupled_weight_decay,
    add_l2_penalty,
    apply_learning_rate,
    belief_second_moment,
    bias_correction,
    bound_step_size,
    center_second_moment,
    count_steps,
    delta_accumulator,
    descend,
    diffgrad_friction,
    ema_first_moment,
    ema_second_moment,
    folded_bias_correction,
    momental_bound,
    rectification,
    rectification_is_active,
    trace_momentum,
    track_max_second_moment,
    yogi_second_moment,
)
from optax_survey.wrappers import LookaheadState, lookahead, lookahead_slow_params

__version__ = "0.1.0"

OPTIMIZERS = (
    "sgd", "sgdm", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamw",
    "amsgrad", "yogi", "adabelief", "diffgrad", "adadb", "adabound",
    "amsbound", "adamod", "radam", "lookahead",
)
"""The names of the survey's optimizers, in the survey's order."""

__all__ = [
    *OPTIMIZERS,  # the optimizers (lookahead is the wrapper)
    *primitives.__all__,  # the stages and their states
    "LookaheadState", "lookahead_slow_params",
    # the record between stages (helpers to write a stage: optax_survey.flow)
    "Flow", "as_flow",
    "flatten_params", "flat_loss", "flat_mask",  # flat parameters
    "OPTIMIZERS", "__version__",
]
