"""The primitives' code, one private module per group of stages.

Laid out as optax lays out ``optax/transforms/_*.py``; every public name is
re-exported by :mod:`optax_survey.primitives` (and by ``optax_survey``):
import it from there.

* ``helpers``: what the stages share (state buffers, dtypes, stateless stages);
* ``step_counter``: :func:`~optax_survey.count_steps`;
* ``moments``: the first and second moments, their max and centring;
* ``step_size``: bias corrections, the adaptive step size, rectification;
* ``friction``: diffGrad's and AdaDB's friction coefficients;
* ``learning_rate``: the learning rate, AdaBound's and AdaMod's bounds;
* ``momentum``: momentum and Adadelta's delta;
* ``weight_decay``: L2 penalty and decoupled weight decay;
* ``output``: :func:`~optax_survey.descend`, the last stage.

A section imports ``helpers`` (and ``optax_survey.flow``, ``_scalars``,
``_validation``), never another section.
"""
