"""hosts.py: one sweep over two processes (hosts), each with 4 CPU devices, against one
process with 8 (the oracle: the same compare call in one process).

The processes talk through JAX's own CPU collectives (gloo) on 127.0.0.1, as two hosts of
a GPU cluster or a TPU pod slice would after ``jax.distributed.initialize()``; every
process runs the same ``compare`` call and process 0 alone writes the results.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import json, sys
import jax
process, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if process >= 0:
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                             process_id=process)
from optax_survey.harness import compare
result = compare("digits-mlp", ["sgdm", "adam"], lr_grid=[0.003, 0.03, 0.3], seeds=2,
                 steps=24, out=out, plot=False, progress=False)
print(json.dumps({"devices": jax.device_count(), "local": jax.local_device_count(),
                  "layout": result.grid["adam"].layout,
                  "entries": [[e.optimizer, e.budget, e.lr, e.values] for e in result.entries]}))
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(process: int, port: int, out: str, devices: int):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu")
  return subprocess.Popen([sys.executable, "-c", SCRIPT, str(process), str(port), out],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc) -> dict:
  out, err = proc.communicate(timeout=900)
  assert proc.returncode == 0, err[-4000:]
  return json.loads(out.strip().splitlines()[-1])


def test_a_sweep_over_two_processes_matches_one_process(tmp_path):
  port = _free_port()
  hosts = [_start(p, port, str(tmp_path / f"p{p}"), 4) for p in (0, 1)]
  single = _result(_start(-1, port, str(tmp_path / "single"), 8))
  results = [_result(h) for h in hosts]
  for r in results:
    assert (r["devices"], r["local"]) == (8, 4)
    assert r["layout"].startswith("8 runs over 8 devices in 1 batch of 8")  # 4 rates x 2
    assert len(r["entries"]) == len(single["entries"])
    for ours, theirs in zip(r["entries"], single["entries"], strict=True):
      assert ours[:3] == theirs[:3]  # the same optimizer, budget and selected rate
      np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-5, atol=1e-6)
  # process 0 alone writes: its results and runs; process 1 none
  assert (tmp_path / "p0" / "results.json").exists()
  assert sorted(os.listdir(tmp_path / "p0" / "runs")) == ["adam.npz", "sgdm.npz"]
  assert not (tmp_path / "p1" / "results.json").exists()
  assert not any(name.endswith(".npz") for _, _, files in os.walk(tmp_path / "p1")
                 for name in files)
  written = json.loads((tmp_path / "p0" / "results.json").read_text())
  assert [e["lr"] for e in written["entries"]] == [e[2] for e in single["entries"]]
