"""Nothing lost: finished runs kept as they finish, unfinished ones checkpointed.

A sweep keeps, in its runs folder (``<out>/runs`` of
:func:`~optax_survey.harness.compare`, ``<out>/runs/<task>`` of the survey):

* ``<label>.npz``: an optimizer's finished runs (the grid, the rerun, the selected
  rate), written as soon as they finish, atomically (written to a temporary file, then
  renamed), with the :func:`fingerprint` of what produced them;
* ``<label>.partial/``: the runs of the optimizer in training, every few minutes and
  when the process is told to stop (SIGINT, SIGTERM: what a preempted VM receives):
  the runs' carries (parameters, optimizer and model state, keys; sharded
  ``jax.Array``\\ s) with ``orbax-checkpoint``, and what the finished calls returned.

``resume=True`` takes a finished optimizer from its file when its fingerprint matches
the call, continues an unfinished one from its checkpoint (the same compiled calls on
the same carries: the result of an uninterrupted run), and refuses in one line what
does not match.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from optax_survey.harness.errors import BadInputError
from optax_survey.harness.hosts import agree_any, is_writer

__all__ = ["CHECKPOINT_EVERY", "Interrupted", "Keeper", "RunsFolder", "StopFlag",
           "fingerprint", "mismatch", "stop_on_signals"]

# Seconds between checkpoints of an optimizer's unfinished runs.
CHECKPOINT_EVERY = 300.0
FORMAT = 1


class Interrupted(KeyboardInterrupt):
  """The sweep was told to stop (SIGINT or SIGTERM) and has stopped; the message says
  what was kept and how to resume (a ``KeyboardInterrupt``, as Ctrl-C is)."""


def _digest(value: Any) -> str:
  return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def fingerprint(*, task: str, task_config: dict, optimizer: str, spec: str, lrs: list,
                seeds: int, steps: int, budget: str, search: dict | None = None,
                minima: bool = False) -> dict:
  """What produced an optimizer's runs: the task (its name and a hash of its
  configuration), the optimizer, the grid, seeds, steps, budget (and a search's
  settings and space; whether the reruns kept their final parameters, ``minima``),
  and the versions of the library and JAX.

  Example:
    >>> fp = fingerprint(task="quadratic", task_config={"steps": 300}, optimizer="adam",
    ...                  spec="adam", lrs=[0.1], seeds=5, steps=300, budget="tuned")
    >>> fp["steps"], fp["lrs"], len(fp["task_config"])  # the configuration as a hash
    (300, [0.1], 16)
  """
  import optax_survey

  return {"format": FORMAT, "task": task, "task_config": _digest(task_config),
          "optimizer": optimizer, "spec": spec, "lrs": [float(v) for v in lrs],
          "seeds": int(seeds), "steps": int(steps), "budget": budget,
          "library": optax_survey.__version__, "jax": jax.__version__,
          **({} if search is None else {"search": search}),
          **({"minima": True} if minima else {})}


def mismatch(stored: dict, current: dict) -> str | None:
  """The first field where ``stored`` and ``current`` differ, said as ``"steps=500,
  this call has steps=1000"``; None when they match.

  Example:
    >>> a = {"steps": 500, "seeds": 5}
    >>> mismatch(a, {"steps": 1000, "seeds": 5})
    'steps=500, this call has steps=1000'
    >>> mismatch(a, dict(a)) is None
    True
  """
  for key in current:
    if stored.get(key) != current[key]:
      if key == "task_config":
        return f"another configuration of task {current.get('task')!r} than this call's"
      return f"{key}={_show(stored.get(key))}, this call has {key}={_show(current[key])}"
  return None


def _show(value: Any) -> str:
  if isinstance(value, list):
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
  return str(value)


def _safe(label: str) -> str:
  """A file name for an optimizer's label."""
  return re.sub(r"[^A-Za-z0-9._-]+", "_", label) or "optimizer"


def _atomic_write(path: str, write) -> None:
  """``write(file)`` into ``path`` through a temporary file renamed over it."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    write(f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _pack(tree: Any, prefix: str, arrays: dict) -> Any:
  """``tree``'s arrays into ``arrays`` (named ``prefix/...``); the rest as JSON."""
  if isinstance(tree, np.ndarray):
    arrays[prefix] = tree
    return {"__array__": prefix}
  if isinstance(tree, dict):
    return {k: _pack(v, f"{prefix}/{k}", arrays) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    kind = "__list__" if isinstance(tree, list) else "__tuple__"
    return {kind: [_pack(v, f"{prefix}/{i}", arrays) for i, v in enumerate(tree)]}
  if isinstance(tree, np.generic):
    return tree.item()
  return tree


def _unpack(tree: Any, arrays: Any) -> Any:
  if isinstance(tree, dict):
    if "__array__" in tree:
      return np.asarray(arrays[tree["__array__"]])
    if "__list__" in tree:
      return [_unpack(v, arrays) for v in tree["__list__"]]
    if "__tuple__" in tree:
      return tuple(_unpack(v, arrays) for v in tree["__tuple__"])
    return {k: _unpack(v, arrays) for k, v in tree.items()}
  return tree


def save_npz(path: str, meta: dict, tree: Any) -> None:
  """``tree`` (dicts, lists, numpy arrays, numbers) and ``meta`` into ``path``, atomically.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> save_npz(path, {"steps": 3}, {"loss": np.arange(3.0), "lrs": [0.1]})
    >>> meta, tree = load_npz(path)
    >>> meta, tree["loss"].tolist(), tree["lrs"]
    ({'steps': 3}, [0.0, 1.0, 2.0], [0.1])
  """
  arrays: dict = {}
  layout = _pack(tree, "t", arrays)
  header = json.dumps({"meta": meta, "layout": layout})

  def write(f):
    np.savez(f, __header__=np.frombuffer(header.encode(), np.uint8), **arrays)

  _atomic_write(path, write)


def load_npz(path: str) -> tuple[dict, Any]:
  """``(meta, tree)`` as :func:`save_npz` wrote them."""
  with np.load(path, allow_pickle=False) as data:
    header = json.loads(bytes(data["__header__"]).decode())
    return header["meta"], _unpack(header["layout"], data)


class StopFlag:
  """Set by SIGINT or SIGTERM while :func:`stop_on_signals` is active; read between
  compiled calls."""

  def __init__(self):
    self.signal: str | None = None

  def __bool__(self) -> bool:
    return self.signal is not None


@contextlib.contextmanager
def stop_on_signals(flag: StopFlag) -> Iterator[StopFlag]:
  """Within the block SIGINT and SIGTERM set ``flag`` instead of stopping the process
  (a second SIGINT stops it at once); the previous handlers come back after it.  Outside
  the main thread signals cannot be caught: nothing is installed.

  Example:
    >>> flag = StopFlag()
    >>> with stop_on_signals(flag):
    ...   os.kill(os.getpid(), signal.SIGTERM)
    ...   time.sleep(0.1)
    >>> flag.signal
    'SIGTERM'
  """
  if threading.current_thread() is not threading.main_thread():
    yield flag
    return

  def handle(number, frame):
    if flag.signal == "SIGINT" and number == signal.SIGINT:
      raise KeyboardInterrupt  # asked twice: stop now
    flag.signal = signal.Signals(number).name

  previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield flag
  finally:
    for s, h in previous.items():
      signal.signal(s, h)


@dataclasses.dataclass
class Keeper:
  """Checkpoints of one phase (``"grid"`` or ``"rerun"``) of an optimizer's runs.

  ``directory`` holds ``state.npz`` (the position and what the finished calls returned)
  and ``carry/`` (the runs' carries, with orbax-checkpoint).  ``every`` seconds between
  checkpoints; ``stop``: the flag that asks for one now and the end of the sweep.
  """

  directory: str
  meta: dict
  every: float = CHECKPOINT_EVERY
  stop: StopFlag | None = None
  _last: float = dataclasses.field(default_factory=time.monotonic)

  def due(self) -> bool:
    """Whether to checkpoint after this call: the interval passed, or a stop was asked
    (on any process: all of them save together)."""
    return agree_any(bool(self.stop) or time.monotonic() - self._last >= self.every)

  def stopped(self) -> bool:
    """Whether a stop was asked, on any process."""
    return agree_any(bool(self.stop))

  def save(self, position: dict, outputs: Any, carry: Any) -> None:
    """Saves the position, the outputs so far and the carries (replacing the last).
    Without orbax-checkpoint nothing is saved mid-phase (a warning says so, once per place,
    as Python's warnings filter shows it)."""
    try:
      import orbax.checkpoint as ocp
    except ImportError:
      warnings.warn("orbax-checkpoint is not installed: an optimizer's unfinished runs are "
                    "not checkpointed, only its finished ones are kept (pip install "
                    '"optax_survey[survey]")', UserWarning, stacklevel=2)
      self._last = time.monotonic()
      return

    os.makedirs(self.directory, exist_ok=True)
    target = os.path.abspath(os.path.join(self.directory, "carry"))
    fresh = target + ".new"
    if os.path.exists(fresh):
      shutil.rmtree(fresh)
    with ocp.StandardCheckpointer() as checkpointer:
      checkpointer.save(fresh, carry)
      checkpointer.wait_until_finished()
    if is_writer():
      if os.path.exists(target):
        shutil.rmtree(target)
      os.replace(fresh, target)
      save_npz(os.path.join(self.directory, "state.npz"), {**self.meta, **position}, outputs)
    self._last = time.monotonic()

  def save_complete(self, description: str, outputs: Any) -> None:
    """Saves the outputs of the finished phase (no carries)."""
    if is_writer():
      os.makedirs(self.directory, exist_ok=True)
      save_npz(os.path.join(self.directory, "complete.npz"),
               {**self.meta, "layout": description}, outputs)

  def restore_complete(self) -> tuple[str, Any] | None:
    """``(layout description, outputs)`` of the phase if it finished in the same call."""
    path = os.path.join(self.directory, "complete.npz")
    if not os.path.exists(path):
      return None
    meta, outputs = load_npz(path)
    if any(meta.get(k) != v for k, v in self.meta.items()):
      return None
    return meta["layout"], outputs

  def restore(self, abstract_carry: Any) -> tuple[dict, Any, Any] | None:
    """``(position, outputs, carry)`` of the last checkpoint if it was made by the same
    call and layout (its ``meta``), else None (and the stale checkpoint is removed)."""
    state = os.path.join(self.directory, "state.npz")
    target = os.path.abspath(os.path.join(self.directory, "carry"))
    if not (os.path.exists(state) and os.path.isdir(target)):
      return None
    meta, outputs = load_npz(state)
    if any(meta.get(k) != v for k, v in self.meta.items()):
      self.discard()
      return None
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as checkpointer:
      carry = checkpointer.restore(target, abstract_carry)
    position = {k: v for k, v in meta.items() if k not in self.meta}
    return position, outputs, carry

  def discard(self) -> None:
    """Removes the checkpoint (its phase finished, or it no longer matches)."""
    if is_writer() and os.path.isdir(self.directory):
      shutil.rmtree(self.directory, ignore_errors=True)


@dataclasses.dataclass
class RunsFolder:
  """The runs folder of one comparison: finished optimizers' files and the checkpoints
  of the one in training.

  Example:
    >>> import tempfile
    >>> folder = RunsFolder(tempfile.mkdtemp(), resume=False)
    >>> folder.finished_path("optax.lion")[-14:]
    'optax.lion.npz'
  """

  directory: str
  resume: bool
  every: float = CHECKPOINT_EVERY
  stop: StopFlag = dataclasses.field(default_factory=StopFlag)

  def finished_path(self, label: str) -> str:
    return os.path.join(self.directory, f"{_safe(label)}.npz")

  def keeper(self, label: str, phase: str, meta: dict) -> Keeper:
    """The checkpoints of ``label``'s ``phase``; a fresh call (not resuming) starts over."""
    keeper = Keeper(os.path.join(self.directory, f"{_safe(label)}.partial", phase),
                    {**meta, "phase": phase}, every=self.every, stop=self.stop)
    if not self.resume:
      keeper.discard()
    return keeper

  def load(self, label: str, current: dict) -> Any:
    """The finished runs of ``label`` when resuming and its fingerprint matches; None when
    there are none (or not resuming).

    Raises:
      BadInputError: the stored runs were made by another call (``argument`` "resume").
    """
    path = self.finished_path(label)
    if not self.resume or not os.path.exists(path):
      return None
    stored, tree = load_npz(path)
    said = mismatch(stored, current)
    if said:
      raise BadInputError(f"{path} was made with {said}: use another out folder or do not "
                          "resume", argument="resume")
    return tree

  def save(self, label: str, current: dict, tree: Any) -> None:
    """Keeps ``label``'s finished runs (process 0 writes) and drops its checkpoints."""
    if is_writer():
      os.makedirs(self.directory, exist_ok=True)
      save_npz(self.finished_path(label), current, tree)
      shutil.rmtree(os.path.join(self.directory, f"{_safe(label)}.partial"),
                    ignore_errors=True)
