"""Shared pieces of the performance benchmarks: optimizers, trees, timing.

Every optimizer of the survey is paired with

* the optax built-in that computes the same maths (``kind="same"``), or one
  whose per-element cost is the same but whose constants differ in a
  documented way (``kind="same-cost"``), or else ``optax.adam`` as the nearest
  baseline (``kind="nearest"``, the survey optimizer then does strictly more
  work: more state buffers or more arithmetic);
* its PyTorch reference implementation (``torch.optim``, ``torch_optimizer``,
  ``adabound``, ``adamod``, ``adabelief_pytorch``, ``pytorch_optimizer``).

All timings are medians over interleaved repeats after warm-up: the
contenders of one comparison are timed in turns inside the same loop, so a
slow moment of the machine hits all of them (for PyTorch's threads see
``TorchContender``).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optax_survey as osv

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# Cores this process may use: the size of XLA:CPU's intra-op pool.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ------------------------------------------------------------------ the trees

def tree_shapes(name: str) -> dict[str, tuple[int, ...]]:
  """Leaf shapes of the three benchmark trees.

  * ``large``: one 4096 x 4096 float32 leaf (16.8M elements, 64 MiB): memory-bound;
  * ``transformer``: 8 blocks of a d=320 transformer (q, k, v, o, two MLP
    matrices, their biases, two layer norms) plus embeddings: 146 leaves,
    10.1M elements;
  * ``tiny``: 500 leaves of 400 elements: overhead-bound;
  * ``tiny2000``: 2000 leaves of 100 elements, the size the issue names.
    XLA:CPU's compile time grows faster than linearly in the number of
    leaves (Adam: ~1.5 s at 500 leaves, ~4 s at 1000, 10-13 s at 2000 on
    an idle 2-core machine, 2-3x that under load), so 36 compiles at 2000
    leaves alone would exceed the 10-minute budget: the 18-optimizer sweep
    runs on ``tiny`` and ``tiny2000`` is timed for Adam (``overhead.py``).
  """
  if name == "large":
    return {"w": (4096, 4096)}
  if name == "transformer":
    d, f, vocab, blocks = 320, 1280, 8192, 8
    shapes = {"embed": (vocab, d), "pos": (512, d), "final_ln_scale": (d,),
              "final_ln_bias": (d,)}
    for b in range(blocks):
      for n, s in (("q", (d, d)), ("k", (d, d)), ("v", (d, d)), ("o", (d, d)),
                   ("q_b", (d,)), ("k_b", (d,)), ("v_b", (d,)), ("o_b", (d,)),
                   ("mlp_in", (d, f)), ("mlp_in_b", (f,)),
                   ("mlp_out", (f, d)), ("mlp_out_b", (d,)),
                   ("ln1_scale", (d,)), ("ln1_bias", (d,)),
                   ("ln2_scale", (d,)), ("ln2_bias", (d,)),
                   ("head_gate", (d,)), ("head_gate_b", (d,))):
        shapes[f"block{b:02d}/{n}"] = s
    return shapes
  if name == "tiny":
    return {f"p{i:04d}": (400,) for i in range(500)}
  if name == "tiny2000":
    return {f"p{i:04d}": (100,) for i in range(2000)}
  if name.startswith("leaf"):  # leaf<N>: one vector of N elements
    return {"w": (int(float(name[4:])),)}
  raise ValueError(name)


def tree_info(name: str) -> dict[str, Any]:
  shapes = tree_shapes(name)
  return {"leaves": len(shapes), "elements": int(sum(np.prod(s) for s in shapes.values()))}


def make_tree(shapes: dict[str, tuple[int, ...]], seed: int, scale: float = 1.0):
  """A float32 JAX tree of normal values (numpy's generator: no device work)."""
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray((scale * rng.standard_normal(s)).astype(np.float32))
          for k, s in shapes.items()}


def make_torch_tree(shapes, seed: int, scale: float = 1.0):
  import torch
  rng = np.random.default_rng(seed)
  return [torch.from_numpy((scale * rng.standard_normal(s)).astype(np.float32))
          for s in shapes.values()]


# ------------------------------------------------------------ the optimizers

@dataclasses.dataclass
class Spec:
  """One survey optimizer, its optax baseline and its PyTorch reference."""

  name: str
  make: Callable[[], optax.GradientTransformation]
  baseline: Optional[str]            # description of the optax contender
  make_baseline: Callable[[], optax.GradientTransformation]
  kind: str                          # "same", "same-cost" or "nearest"
  torch_ref: Optional[str]
  make_torch: Optional[Callable[[list], Any]]
  min_buffers: int                   # state buffers (param-sized) the maths needs
  lookahead: bool = False            # optax baseline needs LookaheadParams


def _torch(cls_path: str, **kw):
  def make(params):
    import importlib
    module, _, cls = cls_path.rpartition(".")
    return getattr(importlib.import_module(module), cls)(params, **kw)
  return make


def _pt_lookahead(params):
  import torch
  from pytorch_optimizer import Lookahead
  return Lookahead(torch.optim.Adam(params, lr=1e-3), k=5, alpha=0.5)


SPECS: list[Spec] = [
    Spec("sgd", lambda: osv.sgd(1e-3), "optax.sgd(1e-3)", lambda: optax.sgd(1e-3),
         "same", "torch.optim.SGD", _torch("torch.optim.SGD", lr=1e-3), 0),
    Spec("sgdm", lambda: osv.sgdm(1e-3, momentum=0.9), "optax.sgd(1e-3, momentum=0.9)",
         lambda: optax.sgd(1e-3, momentum=0.9), "same",
         "torch.optim.SGD(momentum=0.9)",
         _torch("torch.optim.SGD", lr=1e-3, momentum=0.9), 1),
    Spec("nag", lambda: osv.nag(1e-3, momentum=0.9), "optax.sgd(1e-3, 0.9, nesterov=True)",
         lambda: optax.sgd(1e-3, momentum=0.9, nesterov=True), "same",
         "torch.optim.SGD(nesterov=True)",
         _torch("torch.optim.SGD", lr=1e-3, momentum=0.9, nesterov=True), 1),
    Spec("adagrad", lambda: osv.adagrad(1e-2),
         "optax.adagrad(1e-2, initial_accumulator_value=0, eps=1e-10)",
         lambda: optax.adagrad(1e-2, initial_accumulator_value=0.0, eps=1e-10),
         "same-cost", "torch.optim.Adagrad", _torch("torch.optim.Adagrad", lr=1e-2), 1),
    Spec("adadelta", lambda: osv.adadelta(1.0), "optax.adadelta(1.0)",
         lambda: optax.adadelta(1.0), "same", "torch.optim.Adadelta",
         _torch("torch.optim.Adadelta", lr=1.0), 2),
    Spec("rmsprop", lambda: osv.rmsprop(1e-2),
         "optax.rmsprop(1e-2, decay=0.99, eps_in_sqrt=False)",
         lambda: optax.rmsprop(1e-2, decay=0.99, eps=1e-8, eps_in_sqrt=False),
         "same", "torch.optim.RMSprop", _torch("torch.optim.RMSprop", lr=1e-2), 1),
    Spec("adam", lambda: osv.adam(1e-3), "optax.adam(1e-3)", lambda: optax.adam(1e-3),
         "same", "torch.optim.Adam", _torch("torch.optim.Adam", lr=1e-3), 2),
    Spec("adamw", lambda: osv.adamw(1e-3, weight_decay=1e-2),
         "optax.adamw(1e-3, weight_decay=1e-2)",
         lambda: optax.adamw(1e-3, weight_decay=1e-2), "same", "torch.optim.AdamW",
         _torch("torch.optim.AdamW", lr=1e-3, weight_decay=1e-2), 2),
    Spec("amsgrad", lambda: osv.amsgrad(1e-3), "optax.amsgrad(1e-3)",
         lambda: optax.amsgrad(1e-3), "same-cost", "torch.optim.Adam(amsgrad=True)",
         _torch("torch.optim.Adam", lr=1e-3, amsgrad=True), 3),
    Spec("yogi", lambda: osv.yogi(1e-2), "optax.yogi(1e-2)", lambda: optax.yogi(1e-2),
         "same", "torch_optimizer.Yogi", _torch("torch_optimizer.Yogi", lr=1e-2), 2),
    Spec("adabelief", lambda: osv.adabelief(1e-3, rectify=False),
         "optax.adabelief(1e-3, eps=1e-16, eps_root=1e-16)",
         lambda: optax.adabelief(1e-3, eps=1e-16, eps_root=1e-16), "same",
         "adabelief_pytorch.AdaBelief(rectify=False)",
         _torch("adabelief_pytorch.AdaBelief", lr=1e-3, eps=1e-16, rectify=False,
                print_change_log=False), 2),
    Spec("diffgrad", lambda: osv.diffgrad(1e-3), "optax.adam(1e-3)",
         lambda: optax.adam(1e-3), "nearest", "torch_optimizer.DiffGrad",
         _torch("torch_optimizer.DiffGrad", lr=1e-3), 3),
    Spec("adadb", lambda: osv.adadb(1e-3), "optax.adam(1e-3)", lambda: optax.adam(1e-3),
         "nearest", None, None, 5),
    Spec("adabound", lambda: osv.adabound(1e-3), "optax.adam(1e-3)",
         lambda: optax.adam(1e-3), "nearest", "adabound.AdaBound",
         _torch("adabound.AdaBound", lr=1e-3), 2),
    Spec("amsbound", lambda: osv.amsbound(1e-3), "optax.amsgrad(1e-3)",
         lambda: optax.amsgrad(1e-3), "nearest", "adabound.AdaBound(amsbound=True)",
         _torch("adabound.AdaBound", lr=1e-3, amsbound=True), 3),
    Spec("adamod", lambda: osv.adamod(1e-3), "optax.adam(1e-3)",
         lambda: optax.adam(1e-3), "nearest", "adamod.AdaMod",
         _torch("adamod.AdaMod", lr=1e-3), 3),
    Spec("radam", lambda: osv.radam(1e-3, degenerated_to_sgd=True), "optax.radam(1e-3)",
         lambda: optax.radam(1e-3), "same-cost", "torch.optim.RAdam",
         _torch("torch.optim.RAdam", lr=1e-3), 2),
    Spec("lookahead", lambda: osv.lookahead(osv.adam(1e-3), sync_period=5, slow_step_size=0.5),
         "optax.lookahead(optax.adam(1e-3), 5, 0.5)",
         lambda: optax.lookahead(optax.adam(1e-3), 5, 0.5), "same",
         "pytorch_optimizer.Lookahead(torch.optim.Adam)", _pt_lookahead, 3,
         lookahead=True),
]
SPEC = {s.name: s for s in SPECS}

KIND_NOTE = {
    "same": "same maths",
    "same-cost": "same buffers and arithmetic, constants differ (see notes)",
    "nearest": "no optax built-in: nearest baseline, survey optimizer does more work",
}


# ------------------------------------------------------------------ stepping

def step_fn(tx: optax.GradientTransformation) -> Callable:
  """The timed training step: ``update`` + ``apply_updates``."""

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  return step


class Contender:
  """A compiled, donated step with its live parameters and state."""

  def __init__(self, label: str, tx, shapes, *, lookahead_params: bool = False,
               donate: bool = True, seed: int = 0, compiled=None):
    self.label = label
    params = make_tree(shapes, seed)
    # Two gradient draws, alternated step by step, so that no moment
    # converges to a constant gradient (g - m -> 0) as it would in a
    # benchmark that feeds the same gradient forever.
    self.grads = (make_tree(shapes, seed + 1, 1e-2), make_tree(shapes, seed + 2, 1e-2))
    if lookahead_params:
      params = optax.LookaheadParams(params, jax.tree.map(jnp.copy, params))
    state = tx.init(params)
    self.params, self.state = params, state
    self.times: list[float] = []
    self.faults: list[float] = []  # minor page faults per step, per trial
    if compiled is not None:  # share an executable compiled for the same shapes
      self.compiled, self.compile_s = compiled, None
      return
    fn = jax.jit(step_fn(tx), donate_argnums=(0, 1) if donate else ())
    t0 = time.perf_counter()
    traced = fn.trace(params, state, self.grads[0])
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    self.compiled = lowered.compile()
    t3 = time.perf_counter()
    self.compile_s = {"trace": t1 - t0, "lower": t2 - t1, "compile": t3 - t2,
                      "total": t3 - t0}

  def run(self, n: int) -> float:
    p, s, (g0, g1), c = self.params, self.state, self.grads, self.compiled
    t0 = time.perf_counter()
    for i in range(n):
      p, s = c(p, s, g1 if i % 2 else g0)
    jax.block_until_ready((p, s))
    dt = (time.perf_counter() - t0) / n
    self.params, self.state = p, s
    return dt

  def finite(self) -> bool:
    return bool(all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(self.params)))

  def free(self):
    self.params = self.state = self.grads = self.compiled = None


def calibrate(contenders, target_s: float) -> int:
  """Steps per trial so that the slowest contender's trial lasts ~target_s."""
  worst = max(c.run(1) for c in contenders)
  return max(1, int(target_s / max(worst, 1e-7)))


def minor_faults() -> int:
  """Minor page faults of this process so far (first touches of fresh pages)."""
  import resource
  return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(contenders, repeats: int, target_s: float, warmup: int = 2):
  """Median seconds per step of each contender, timed in turns.

  Also keeps each contender's minor page faults per step (``c.faults``,
  counted outside the timed region): a temporary above glibc's largest mmap
  threshold (32 MiB) is a fresh mapping at every step, whose pages are
  faulted in and zeroed again, in XLA's temp buffers as in PyTorch's.
  """
  for c in contenders:
    c.run(warmup)
  n = calibrate(contenders, target_s)
  for r in range(repeats):
    order = contenders if r % 2 == 0 else contenders[::-1]
    for c in order:
      f0 = minor_faults()
      c.times.append(c.run(n))
      if hasattr(c, "faults"):
        c.faults.append((minor_faults() - f0) / (n * getattr(c, "passes", 1)))
  return [statistics.median(c.times) for c in contenders]


def torch_setup() -> dict[str, Any]:
  """Puts PyTorch on the footing XLA:CPU runs on; returns the settings.

  * flush-to-zero / denormals-are-zero, as XLA:CPU computes.  No subnormal
    arises with the benchmark's scales (parameters N(0, 1), gradients
    1e-2 N(0, 1)): none in any parameter or state of any contender after 40
    steps, so this changes no timing, it only rules the trap out;
  * threads: 1 and all cores (XLA's pool has all cores), the faster per
    trial (``TorchContender.run`` says why).
  """
  import torch
  flush = torch.set_flush_denormal(True)
  return {"torch_threads": f"1 or {CORES}" if CORES > 1 else 1,
          "torch_thread_choice": "the faster per trial (TorchContender)",
          "torch_omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
          "torch_flush_denormal": bool(flush)}


class TorchContender:
  """A PyTorch reference optimizer on tensors of the same shapes.

  Every trial runs the steps on all cores, then on 1 thread, and keeps the
  faster (``wins`` counts the wins, ``by_threads`` keeps both times).
  ``torch.optim`` on CPU loops over the tensors and runs one OpenMP region
  per op on every leaf over 32768 elements, ~50 to 300 regions a step on
  the transformer tree, each ending at a barrier that libgomp spin-waits
  at.  On the shared 2-core machine, while other sessions ran, 2 threads
  stalled at those barriers: torch SGD on the transformer tree took
  390-400 ms per step instead of 3-5 ms (the 404 ms, and NAG's 1205 ms, of
  an earlier run; NAG up to 2.9 s), erratic from trial to trial, while the
  JAX contenders (XLA's pool spins briefly, then blocks, and steals work)
  slowed like any other program, and the spinning workers slowed those
  timed right after them by 3-35 %.  1 thread has no barrier and stayed at
  4-7 ms in the same minutes; on an idle machine all cores are faster
  (transformer: Adam 17-18 vs 23-24 ms; 64 MiB leaf: 54-57 vs 88 ms).
  Choosing once in warm-up did not hold (a run stalled after picking 2
  threads: SGD-momentum 33 ms instead of 9-13), and OMP_WAIT_POLICY=PASSIVE,
  which also avoids the stalls, pays a wake-up per region: 2x on the
  transformer tree in this VM (Adam 40 ms).  1 thread runs second, so the
  workers' spinning after their last region falls in torch's own trial.
  Taking the faster of two may favour torch by the noise where both are
  equally fast (the tiny tree, whose leaves are too small to parallelise).
  """

  def __init__(self, label, make_opt, shapes):
    import torch
    torch_setup()
    self.label = label
    params = [torch.nn.Parameter(t) for t in make_torch_tree(shapes, 0)]
    self.grads = (make_torch_tree(shapes, 1, 1e-2), make_torch_tree(shapes, 2, 1e-2))
    for p, g in zip(params, self.grads[0]):
      p.grad = g.clone()
    self.params = params
    self.opt = make_opt(params)
    self.times = []
    self.faults = []
    self.options = sorted({1, CORES}, reverse=True)  # all cores first
    self.by_threads: dict[int, list[float]] = {t: [] for t in self.options}
    self.wins: dict[int, int] = {t: 0 for t in self.options}  # runs won
    self.passes = len(self.options)  # run(n) takes n steps per thread count

  def _run(self, n: int, threads: int) -> float:
    import torch
    if torch.get_num_threads() != threads:
      torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with torch.no_grad():
      for i in range(n):
        for p, g in zip(self.params, self.grads[i % 2]):
          p.grad = g  # swaps the gradient tensor in, no copy
        self.opt.step()
    return (time.perf_counter() - t0) / n

  def run(self, n: int) -> float:
    dts = {t: self._run(n, t) for t in self.options}
    best = min(dts, key=dts.get)
    for t, dt in dts.items():
      self.by_threads[t].append(dt)
    self.wins[best] += 1
    return dts[best]

  def free(self):
    self.params = self.opt = None


# ------------------------------------------------------------- bytes moved

def minimal_bytes_per_element(spec: Spec, itemsize: int = 4) -> int:
  """Bytes a step must move per parameter element: read θ, g and every state
  buffer, write θ and every state buffer (``min_buffers`` from the maths)."""
  return itemsize * (2 + 1 + 2 * spec.min_buffers)


_SHAPE = re.compile(r"(pred|s8|u8|s16|u16|bf16|f16|s32|u32|f32|s64|u64|f64)\[([0-9,]*)\]")
_SIZES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "bf16": 2, "f16": 2,
          "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}


def _nbytes(dtype: str, dims: str) -> int:
  return _SIZES[dtype] * int(np.prod([int(d) for d in dims.split(",") if d] or [1]))


def executed_bytes(compiled) -> dict[str, int]:
  """Bytes the compiled step's top-level kernels read and write.

  Parses the optimised HLO's entry computation: every fusion, copy or other
  array instruction reads each of its operands once and writes its result.
  This is the traffic of the program XLA actually runs (XLA:CPU emits one
  loop per fusion; it has no multi-output fusion, so a buffer that several
  loops read is read several times), to compare with the minimum.
  """
  text = compiled.as_text()
  entry = text[text.index("\nENTRY"):]
  entry = entry[:entry.index("\n}")]
  lines = entry.splitlines()
  size: dict[str, int] = {}
  header = lines[0]
  for name, dtype, dims in re.findall(r"([\w.\-]+): (\w+)\[([0-9,]*)\]", header):
    size[name] = _nbytes(dtype, dims)
  read = written = kernels = 0
  for line in lines[1:]:
    m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = (\(?)(\w+)\[([0-9,]*)\]\S* (\w[\w-]*)\((.*)", line)
    if not m:
      m2 = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = ", line)
      if m2:
        size[m2.group(1)] = 0
      continue
    name, tup, dtype, dims, op, rest = m.groups()
    out = 0 if tup else _nbytes(dtype, dims)
    size[name] = out
    if op in ("parameter", "tuple", "get-tuple-element", "constant", "bitcast"):
      continue
    operands = re.findall(r"%([\w.\-]+)", rest.split("), ")[0])
    ins = sum(size.get(o, 0) for o in operands)
    if out <= 8 and ins <= 64:  # scalar bookkeeping (step counters)
      continue
    read += ins
    written += out
    kernels += 1
  return {"read": read, "written": written, "total": read + written, "kernels": kernels}


# ----------------------------------------------------------------- bandwidth

def time_chained(f, x, warmup: int, calls: int, repeats: int) -> list[float]:
  """Seconds per call of ``x = f(x)`` (jitted, donated), one value per trial."""
  for _ in range(warmup):
    x = f(x)
  x.block_until_ready()
  ts = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(calls):
      x = f(x)
    x.block_until_ready()
    ts.append((time.perf_counter() - t0) / calls)
  return ts


def copy_bandwidth(n_elements: int = 1 << 25, repeats: int = 15) -> dict[str, float]:
  """The machine's memory bandwidth as a jitted, donated ``x -> 2x`` sees it.

  The kernel reads one float32 buffer and writes one (``2 * 4n`` bytes), the
  simplest memory-bound XLA program: the roofline for an optimizer step that
  moves B bytes is ``B / bandwidth``.  numpy's ``copyto`` is reported too.
  """
  f = jax.jit(lambda a: a * 2.0, donate_argnums=0)
  ts = time_chained(f, jnp.ones((n_elements,), jnp.float32), 3, 4, repeats)
  nbytes = 2 * 4 * n_elements
  a = np.ones(n_elements, np.float32)
  b = np.empty_like(a)
  tn = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    np.copyto(b, a)
    tn.append(time.perf_counter() - t0)
  del a, b
  return {"jax_scale_GBps": nbytes / statistics.median(ts) / 1e9,
          "jax_scale_best_GBps": nbytes / min(ts) / 1e9,
          "numpy_copy_GBps": nbytes / statistics.median(tn) / 1e9,
          "n_elements": n_elements}


# ------------------------------------------------------------------- records

def machine() -> dict[str, Any]:
  info = {"python": platform.python_version(), "jax": jax.__version__,
          "optax": optax.__version__, "optax_survey": osv.__version__,
          "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
          "cpu_count": os.cpu_count(), "platform": platform.platform()}
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          info["cpu"] = line.split(":", 1)[1].strip()
          break
  except OSError:
    pass
  info["cores_available"] = CORES
  try:
    import torch
    info["torch"] = torch.__version__
    info.update(torch_setup())
  except ImportError:
    pass
  return info


def save_json(name: str, data: Any) -> str:
  os.makedirs(RESULTS, exist_ok=True)
  path = os.path.join(RESULTS, name)
  with open(path, "w") as f:
    json.dump(data, f, indent=1, default=float)
  return path


def collect():
  gc.collect()
