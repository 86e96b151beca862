"""Writes README.md's "The survey in numbers" section from the committed results page's
data, benchmarks/results/survey.json, so that every number the README quotes is the
page's (run it after `optax-survey survey --preset full --out benchmarks/results`):

    python benchmarks/readme_section.py

The paragraph on the paper preset (its measured CPU estimate and the MNIST-1D check,
which do not come from survey.json) is kept as the README has it.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optax_survey.harness.render import page  # noqa: E402
from optax_survey.harness.tasks import get_task  # noqa: E402

SHARPER = "Adaptive methods converge to sharper minima"
WORSE = "Adaptive methods generalize worse than SGD with momentum: Adam vs SGDM"


def _verdicts(claims, prefix):
  """{task: verdict} of the claims whose text starts with ``prefix``."""
  return {c["claim"].rsplit("(", 1)[1].split(",")[0]: c["verdict"] for c in claims
          if c["claim"].startswith(prefix)}


def _count(verdicts):
  words = {"confirmed": "confirmed", "contradicted": "contradicted",
           "not resolved at this budget": "not resolved"}
  parts = []
  for verdict, word in words.items():
    tasks = [t for t, v in verdicts.items() if v == verdict]
    if tasks:
      parts.append(f"{word} on {len(tasks)} ({', '.join(tasks)})")
  return "; ".join(parts)


def section(s, paper_paragraph):
  opt = s["optimizers"]
  net, tf = s["groups"]["networks"], s["groups"]["test functions"]
  minutes = s["seconds"] / 60
  cost = {b: sum(r["cost"][b]["runs"] for r in s["tasks"].values()) for b in ("tuned", "search")}
  secs = {b: sum(r["cost"][b]["seconds"] for r in s["tasks"].values()) / 60
          for b in ("tuned", "search")}
  def steps(sign):  # the network tasks trained fewer (-1) or more (+1) steps than default
    return [f"`{t}` {s['tasks'][t]['steps']} (default {get_task(t).steps})"
            for t in net["tasks"] if sign * (s["tasks"][t]["steps"] - get_task(t).steps) > 0]

  fewer, more = steps(-1), steps(+1)
  lines = [
      "## The survey in numbers", "",
      f"Every optimizer on all {len(s['tasks'])} tasks at three budgets, {s['seeds']} seeds per "
      "number, float32, CPU. One command reproduces the whole page, "
      "[benchmarks/results/survey.md](benchmarks/results/survey.md) "
      f"({minutes:.0f} min, measured, on {s['machine']}: the tuned and one-shot budgets "
      f"{secs['tuned']:.0f} min for {cost['tuned']:,} runs, the search budget "
      f"{secs['search']:.0f} min for {cost['search']:,} runs, compiles and the minima's "
      "sharpness included): `pip install -e \".[survey]\" && optax-survey survey --preset full "
      "--out benchmarks/results`. "
      + (f"{len(fewer)} network tasks train fewer steps than their defaults there, for their "
         f"cost: {', '.join(fewer)}; " if fewer else "")
      + (f"{' and '.join(more)} as the reference code trains it; " if more else "")
      + "the page gives every task's steps, how far from convergence each stops, and how each "
      "run was selected. Rerun on the same machine, its numbers may move by float32 "
      "round-off that training amplifies, sometimes into another selected trial (the "
      "search budget's did on two networks between the last two runs, where every tuned "
      "and one-shot number of the tasks run alike came out the same), since the default "
      "layout is picked by timing: `--layout vmap` fixes it "
      "([docs/distributed.md](docs/distributed.md)).", ""]
  if paper_paragraph:
    lines += [paper_paragraph, ""]
  lines += [
      "**One-shot** is each optimizer's published defaults, learning rate included; **tuned** "
      "selects its learning rate from 7 rates over 3 decades (and the default) on the "
      "validation split and reports the test metric on 5 fresh seeds (the 2-D and online "
      "problems have no held-out set: their final objective); **search** is AlgoPerf's "
      "external tuning and Crowded Valley's large budget: every hyperparameter of the "
      "optimizer's declared space and the warm-up fraction of a warm-up + cosine schedule, 15 "
      "quasi-random trials of one run each in 3 independent studies, each study's selection "
      "rerun on the same 5 fresh seeds, the median study reported. Every number is the mean "
      "with its 95% bootstrap interval over seeds.", "",
      f"The headline is the {len(net['tasks'])} network tasks' ({', '.join(net['tasks'])}), "
      f"ranked on their own; the {len(tf['tasks'])} test functions (2-D and online problems) "
      "are ranked apart on the page, so that their number does not decide it.", "",
      "**How much tuning changes the ranking on the networks** (the Crowded Valley question): "
      + page._rank_change(net, opt, len(net["tasks"]))[0], ""]
  lines += page._rank_change(net, opt, len(net["tasks"]))[2:] + [""]
  lines += ["**Time to result on the networks** (AlgoPerf's score: the area under the "
            "performance profile of each optimizer's steps to the task's target over the "
            "fastest optimizer's, τ in [1, 4], divided by 3; each budget scored on its own; the "
            "targets set as AlgoPerf sets them, from AdamW's, NAG's and SGDM's searched "
            "configurations, `benchmarks/targets.py`; the table counts the tasks whose target "
            "each reached):", ""] + page._time_to_target(net, opt)[2:]
  sharper, worse = _verdicts(s["claims"], SHARPER), _verdicts(s["claims"], WORSE)
  if sharper:
    lines += [
        "**Sharp minima and generalization** (the survey's closing question: do adaptive "
        "methods converge to sharper minima that generalize worse than SGD's?), Adam against "
        "SGDM at their tuned rates on each network task, by the verdict rule below: *sharper "
        "minima* (λ_max of the training loss's Hessian, and Kwon et al.'s scale-invariant "
        f"sharpness) {_count(sharper)}; *generalizes worse* (the gap between the training "
        f"and the test metric, and the test metric) {_count(worse)}. The page has every "
        "optimizer's λ_max beside 2/η and its own stability threshold, the preconditioned "
        "sharpness, the Hessian's trace and the gap, and the verdicts at the searched "
        "configurations. Where the runs fit their training split, a cross-entropy's "
        "Hessian shrinks with its loss, so a smaller λ_max there can mean a lower loss "
        "rather than a wider basin ([docs/gallery.md](docs/gallery.md) has such a case).", ""]
  lines += [
      f"On the test functions the order is another: Kendall's τ one-shot vs tuned "
      f"**{tf['kendall_tau']:.2f}** over those {len(tf['tasks'])} tasks, and the best mean "
      "ranks tuned are " + ", ".join(
          f"{o} {tf['mean_rank']['tuned'][o]:.2f}"
          for o in sorted(opt, key=lambda o: tf["mean_rank"]["tuned"][o])[:3])
      + " (the page has their tables).", "",
      "![performance profiles](benchmarks/results/performance_profile.png)", "",
      "What the runs say about the survey's claims. A claim is **confirmed** only when the "
      "effect exceeds the seed noise (difference of means > 2 standard errors, or the "
      "intervals apart where both sides vary over seeds) at each optimizer's tuned learning "
      "rate and in every other check; **contradicted** when the opposite does; otherwise "
      "**not resolved at this budget**. Each is checked again with its first check at the "
      "search budget's configurations (its verdict after the arrow):", ""]
  searched = {c["claim"]: c["verdict"] for c in s.get("claims_search", [])}
  for c in s["claims"]:
    again = searched.get(c["claim"])
    tail = (f" (searched configurations: **{again}**)" if again else
            " (not re-checked at the searched configurations: its diagnostic reruns a "
            "learning rate alone)")
    lines.append(f"- **{c['claim']}: {c['verdict']}**{tail}. {c['evidence']}.")
  lines += ["", "![Rosenbrock, every optimizer at its tuned rate]"
            "(benchmarks/results/rosenbrock_gallery.png)",
            "![Figure 1: SGD vs SGDM](benchmarks/results/figure1_sgd_vs_sgdm.png)",
            "![Adam vs AMSGrad on Reddi et al.'s counterexample]"
            "(benchmarks/results/reddi_adam_vs_amsgrad.png)",
            "![Figure 2: Lookahead](benchmarks/results/figure2_lookahead.png)", ""]
  return "\n".join(lines)


def main():
  summary = json.loads((ROOT / "benchmarks" / "results" / "survey.json").read_text())
  readme_path = ROOT / "README.md"
  readme = readme_path.read_text()
  i, j = readme.index("## The survey in numbers"), readme.index("## Performance")
  paper = next((p for p in readme[i:j].split("\n\n") if p.startswith("**The paper preset**")),
               None)
  readme_path.write_text(readme[:i] + section(summary, paper) + "\n" + readme[j:])
  print(f"wrote README.md's survey section from {len(summary['tasks'])} tasks' records")


if __name__ == "__main__":
  main()
