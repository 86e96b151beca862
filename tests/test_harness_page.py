"""render/page.py: the results page, rendered from its JSON alone.
"""

import json
import pathlib

from optax_survey.harness.analysis import stats

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def test_the_committed_page_is_what_the_committed_json_renders():
  from optax_survey.harness.render.page import render_page

  summary = json.loads((RESULTS / "survey.json").read_text())
  assert render_page(summary) == (RESULTS / "survey.md").read_text()
  # the protocol the page states is the one its numbers were made with
  assert summary["seeds"] >= 5
  for name, task in summary["tasks"].items():
    assert task["grid_points"] >= 7, name
    for e in task["entries"]:
      assert len(e["values"]) == task["seeds"] >= 5
      if e["budget"] == "tuned" and not task["deterministic"]:
        assert e["first_seed"] == task["seeds"]  # fresh seeds
  for c in summary["claims"]:
    assert c["verdict"] == stats.verdict([k["direction"] for k in c["checks"]])
    for k in c["checks"]:
      assert k["direction"] == stats.beyond_noise(k["a"], k["b"], mode=k["mode"])
