"""A small character-level Transformer language model (Flax linen).

Corpus: the source of a fixed list of Python standard-library modules, read
from the running interpreter's own ``Lib`` directory (offline, always
present; the text differs slightly between Python versions).  Characters are
mapped to a fixed 97-symbol vocabulary (printable ASCII, newline, and one
"other" symbol), the first 80% is the training text, the next 10% the
validation text and the last 10% the test text.  Model: 2 pre-LayerNorm
decoder blocks, width 32, 4 heads, context 32, learned positions (33k
parameters, small enough for 18 optimizers x 45 runs on 2 CPU cores);
minibatches of 8 random windows.  The metric is the loss (nats per character) on 64
fixed, evenly spaced windows of the validation text (learning-rate selection)
and of the test text (reported).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optax_survey.harness.errors import missing_extra_error
from optax_survey.harness.tasks.base import Task, TaskInfo
from optax_survey.harness.tasks.targets import target_of

F32 = jnp.float32
MODULES = ("textwrap", "string", "heapq", "bisect", "fractions", "statistics",
           "difflib", "shlex", "csv", "queue", "calendar", "argparse")
MAX_CHARS = 400_000
VOCAB = 97  # 0: newline, 1..95: chr(32..126), 96: anything else
CONTEXT, WIDTH, HEADS, LAYERS, BATCH, EVAL_WINDOWS = 32, 32, 4, 2, 8, 64


def encode(text: str) -> np.ndarray:
  codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
  out = np.full(codes.shape, VOCAB - 1, np.int32)
  printable = (codes >= 32) & (codes <= 126)
  out[printable] = codes[printable] - 31
  out[codes == 10] = 0
  return out


@functools.lru_cache(maxsize=1)
def load():
  lib = os.path.dirname(os.__file__)
  text = ""
  for name in MODULES:
    with open(os.path.join(lib, name + ".py"), encoding="utf-8") as f:
      text += f.read()
  ids = encode(text[:MAX_CHARS])
  a, b = int(len(ids) * 0.8), int(len(ids) * 0.9)
  return ids[:a], ids[a:b], ids[b:]


def _model():
  try:
    import flax.linen as nn
  except ImportError:
    raise missing_extra_error("flax", "the charlm task") from None

  class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
      mask = nn.make_causal_mask(jnp.ones(x.shape[:2], jnp.int32))
      h = nn.LayerNorm(dtype=F32, param_dtype=F32)(x)
      attention = nn.MultiHeadDotProductAttention(num_heads=HEADS, dtype=F32, param_dtype=F32)
      h = attention(h, h, mask=mask)
      x = x + h
      h = nn.LayerNorm(dtype=F32, param_dtype=F32)(x)
      h = nn.Dense(4 * WIDTH, dtype=F32, param_dtype=F32)(h)
      h = nn.Dense(WIDTH, dtype=F32, param_dtype=F32)(nn.gelu(h))
      return x + h

  class CharTransformer(nn.Module):
    @nn.compact
    def __call__(self, tokens):
      x = nn.Embed(VOCAB, WIDTH, dtype=F32, param_dtype=F32)(tokens)
      pos = self.param("pos", nn.initializers.normal(0.02), (CONTEXT, WIDTH), F32)
      x = x + pos[: tokens.shape[1]]
      for _ in range(LAYERS):
        x = Block()(x)
      x = nn.LayerNorm(dtype=F32, param_dtype=F32)(x)
      return nn.Dense(VOCAB, dtype=F32, param_dtype=F32)(x)

  return CharTransformer()


def windows(ids, starts):
  return jax.vmap(lambda s: jax.lax.dynamic_slice(ids, (s,), (CONTEXT + 1,)))(starts)



def build(name: str, info: TaskInfo) -> Task:
  """The task ("charlm") with the catalogue's ``info``."""
  train_ids, val_ids, test_ids = load()
  train_j = jnp.asarray(train_ids)
  model = _model()

  def eval_batch(ids):
    starts = np.linspace(0, len(ids) - CONTEXT - 2, EVAL_WINDOWS).astype(np.int32)
    return windows(jnp.asarray(ids), jnp.asarray(starts))

  # the training split measured on as many fixed windows as the held-out ones
  train_batch, val_batch, test_batch = (eval_batch(train_ids), eval_batch(val_ids),
                                        eval_batch(test_ids))

  def init_params(key, seed):
    del seed
    return model.init(key, jnp.zeros((1, CONTEXT), jnp.int32))["params"]

  def nll(params, seq):
    logits = model.apply({"params": params}, seq[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, seq[:, 1:]).mean()

  def sample_batch(key, t):
    del t
    return windows(train_j, jax.random.randint(key, (BATCH,), 0, len(train_ids) - CONTEXT - 1))

  def validate(params):
    return {"loss": nll(params, val_batch)}

  def evaluate(params):
    return {"loss": nll(params, test_batch)}

  def evaluate_train(params):
    return {"loss": nll(params, train_batch)}

  return Task(
      name=name, description=info.description, init_params=init_params, loss=nll,
      evaluate=evaluate, validate=validate, evaluate_train=evaluate_train, metric="loss",
      mode="min", target=target_of(name),
      steps=400,
      lrs=dict(info.learning_rates), sample_batch=sample_batch, eval_points=5, seeds=5,
      extra={"corpus_chars": int(len(train_ids) + len(val_ids) + len(test_ids)),
             "modules": MODULES},
  )

