"""Does a comparison give the same numbers run after run?  The search budget of
``digits-mlp`` (the full preset's 400 steps, the survey's search settings: 15 trials x 3
studies, the selected trials rerun on 5 fresh seeds) for AdaMod, four times in this
process: twice with ``layout="vmap"``, once more with ``minima=True`` (which keeps the
reruns' final carries), and once with ``layout="loop"``.  Each row: the selected
configuration's learning rate and its five test accuracies.  The vmap rows agree when a
layout computes the same numbers every time; the loop row shows what another layout's
float32 round-off, amplified by training, does to the selection (``layout="auto"``, the
default, picks between the two by timing).

    python benchmarks/layout_repeat.py    # ~2 min on 2 cores

Writes ``benchmarks/results/layout_repeat.json``.
"""

from __future__ import annotations

import os
import sys

from optax_survey.harness import compare
from optax_survey.harness.survey import SURVEY_SEARCH

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine, save_json  # noqa: E402

TASK, OPTIMIZER, STEPS = "digits-mlp", "adamod", 400
RUNS = (("vmap", False), ("vmap", False), ("vmap", True), ("loop", False))


def main() -> int:
  rows = []
  print("| layout | minima | selected lr | test acc per fresh seed |")
  print("|---|---|---|---|")
  for layout, minima in RUNS:
    result = compare(TASK, [OPTIMIZER], budget="search", steps=STEPS, layout=layout,
                     minima=minima, progress=False, **SURVEY_SEARCH)
    entry = next(e for e in result.entries if e.optimizer == OPTIMIZER)
    rows.append({"layout": layout, "minima": minima, "lr": float(entry.lr),
                 "values": [float(v) for v in entry.values]})
    print(f"| {layout} | {minima} | {entry.lr:.6g} | "
          f"{', '.join(f'{v:.4f}' for v in entry.values)} |", flush=True)
  vmap = [r for r in rows if r["layout"] == "vmap"]
  same = all(r["lr"] == vmap[0]["lr"] and r["values"] == vmap[0]["values"] for r in vmap)
  print(f"the vmap runs agree exactly: {same}")
  path = save_json("layout_repeat.json", {
      "machine": machine(), "task": TASK, "optimizer": OPTIMIZER, "steps": STEPS,
      "search": SURVEY_SEARCH, "rows": rows, "vmap_runs_agree": same,
      "command": "python benchmarks/layout_repeat.py"})
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
