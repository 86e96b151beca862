"""The survey's results page: Markdown rendered from ``survey.json`` alone.

:func:`render_page` turns the summary that
:func:`~optax_survey.harness.survey.run_survey` stores into the page, and
:func:`rerender` rewrites a page from its JSON without training: the same JSON
always gives the same bytes, so a page regenerated from the committed JSON is
the committed page.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

from optax_survey.harness.analysis import minima, stats
from optax_survey.harness.analysis.ranking import SURVEY_BUDGETS
from optax_survey.harness.render import report
from optax_survey.harness.results import Entry, entries_of

__all__ = ["render_page", "rerender"]


def _cell(e: Entry, deterministic: bool, alone: bool) -> str:
  iv = stats.Interval(*[math.nan if v is None else v for v in e.ci])
  text = report.fmt_interval(iv, deterministic=deterministic)
  if deterministic:
    text = report.fmt(iv.mean)
  if e.diverged:
    text = report.entry_cell(e)
  if e.tied_best:
    text = f"**{text}**" if alone else f"{text} ≈best"
  return text


def _headline(summary: Mapping[str, Any], budget: str, agg: Mapping[str, Any],
              names: list[str]) -> list[str]:
  """The table of every task of ``names`` at ``budget``, rows by ``agg``'s mean rank."""
  tasks = {t: summary["tasks"][t] for t in names}
  optimizers = summary["optimizers"]
  mean_rank = agg["mean_rank"][budget]
  head = (["optimizer"] + [f"{t} ({r['metric']} {'↓' if r['mode'] == 'min' else '↑'})"
                           for t, r in tasks.items()] + ["mean rank"])
  cells: dict[tuple[str, str], str] = {}
  for t, r in tasks.items():
    es = [e for e in entries_of(r["entries"]) if e.budget == budget]
    alone = sum(bool(e.tied_best) for e in es) == 1
    for e in es:
      cells[(t, e.optimizer)] = _cell(e, r["deterministic"], alone)
  body = [[o] + [cells[(t, o)] for t in tasks] + [f"{mean_rank[o]:.2f}"]
          for o in sorted(optimizers, key=lambda o: (mean_rank[o], o))]
  return _markdown(head, body)


def _markdown(head: list[str], body: list[list[str]]) -> list[str]:
  """The lines of a Markdown table."""
  return report.table(head, body, markdown=True).split("\n")


def _budgets(summary: Mapping[str, Any]) -> list[str]:
  """The budgets the page shows (every task's), in the aggregate's order."""
  return list(summary["aggregate"].get("budgets", SURVEY_BUDGETS))


def _rank_change(agg: Mapping[str, Any], optimizers: list[str], n: int) -> list[str]:
  """How much tuning reorders the optimizers over the ``n`` tasks of ``agg``."""
  mr = agg["mean_rank"]
  tau = agg["kendall_tau"]
  moves = agg["moves"]
  budgets = list(agg.get("budgets", SURVEY_BUDGETS))
  up = [o for o in sorted(optimizers, key=lambda o: -moves[o]) if moves[o] > 0][:3]
  down = [o for o in sorted(optimizers, key=lambda o: moves[o]) if moves[o] < 0][:3]
  changed = agg["best_changed"]
  taus = agg.get("kendall_taus", {})
  others = "".join(f"; {pair}: **{value:.2f}**" for pair, value in taus.items()
                   if pair != "tuned vs one-shot")
  lines = [
      f"Kendall's τ between the optimizers' mean ranks one-shot and tuned: "
      f"**{tau:.2f}** (1 = the same order, 0 = unrelated){others}. The set of optimizers "
      "tied for "
      f"best changes with tuning on {len(changed)} of {n} tasks"
      + (f" ({', '.join(changed)})" if changed else "") + ". Largest gains from tuning "
      "(mean rank one-shot → tuned): "
      + (", ".join(f"{o} {mr['one-shot'][o]:.2f} → {mr['tuned'][o]:.2f}" for o in up) or "none")
      + "; largest losses: "
      + (", ".join(f"{o} {mr['one-shot'][o]:.2f} → {mr['tuned'][o]:.2f}" for o in down)
         or "none") + ".",
      ""]
  shown = ["one-shot"] + [b for b in budgets if b != "one-shot"]
  head = (["optimizer"] + [f"mean rank, {b}" for b in shown]
          + [f"tasks within 1% of the best, {shown[0]}"] + shown[1:]
          + [f"within 10%, {shown[0]}"] + shown[1:])
  pa = agg["profile_at"]
  body = [[o] + [f"{mr[b][o]:.2f}" for b in shown]
          + [f"{round(pa[b][o]['0.01'] * n)}/{n}" for b in shown]
          + [f"{round(pa[b][o]['0.1'] * n)}/{n}" for b in shown]
          for o in sorted(optimizers, key=lambda o: (mr["tuned"][o], o))]
  return lines + _markdown(head, body)


TIME_TO_TARGET = ("Steps to each task's target (`Task.target`: on the network tasks the best of "
                  "AdamW's, NAG's and SGDM's searched configurations, the median over 20 seeds "
                  "of each seed's best validation value, as AlgoPerf sets its targets "
                  "(`benchmarks/targets.py`, stored in `optax_survey/harness/tasks/targets.json`); "
                  "on the test functions a value near the known minimum), counted on the "
                  "validation curve (the objective without held-out data) at the evaluation "
                  "points; an entry's time is the median over its seeds (did not reach: half of "
                  "them or more missed). The score is AlgoPerf's: the area under the performance "
                  "profile of time ratios to the fastest optimizer on each task, over τ in [1, 4], "
                  "divided by 3 (1: the fastest on every task; 0: never within 4x of it), each "
                  "budget scored on its own.")


def _time_to_target(agg: Mapping[str, Any], optimizers: list[str]) -> list[str]:
  """AlgoPerf's score on the steps to each task's target, per budget, over ``agg``'s
  tasks with a target."""
  timing = agg.get("time_to_target")
  if not timing:
    return []
  budgets = list(agg["budgets"])
  n = len(timing["tasks"])
  score, reached = timing["score"], timing["reached"]
  head = ["optimizer"] + [h for b in budgets for h in (f"score, {b}", f"reached, {b}")]
  body = [[o] + [c for b in budgets for c in (f"{score[b][o]:.2f}", f"{reached[b][o]}/{n}")]
          for o in sorted(optimizers, key=lambda o: (-score[budgets[0]][o], o))]
  return ([f"Time to result (AlgoPerf's score, below) over {n} tasks:", ""]
          + _markdown(head, body) + [""])


def _cost(summary: Mapping[str, Any]) -> list[str]:
  """What each budget cost over the tasks: runs, run-steps, wall time."""
  costs = [r["cost"] for r in summary["tasks"].values() if "cost" in r]
  if not costs:
    return []
  body = []
  for budget, label in (("tuned", "tuned (one-shot included)"), ("search", "search")):
    parts = [c[budget] for c in costs if budget in c]
    if parts:
      body.append([label, f"{sum(p['runs'] for p in parts):,}",
                   f"{sum(p['run_steps'] for p in parts):,}",
                   f"{sum(p['seconds'] for p in parts) / 60:.1f} min"])
  return (["What each budget cost, over every task (a run is one seed of one "
           "configuration; the wall time includes compiling):", ""]
          + _markdown(["budget", "runs", "run-steps", "wall time"], body) + [""])


END_SLOPE = ("The least-squares slope of each "
             "reported run's validation curve (the objective itself on a task without "
             "held-out data) over the evaluations in the last third of training "
             "(`optax_survey.harness.analysis.stats.end_slope`), per 1000 steps, signed so "
             "that a positive number is still improving and a negative one getting worse "
             "(overfitting, or noise); mean [95% CI] over the fresh seeds of each "
             "optimizer's reported runs. Near 0, the curve has flattened; a number "
             "comparable to the gaps between optimizers means the ranking was taken while "
             "they were still moving.")


def _improvement(slope: list, mode: str) -> stats.Interval:
  """A stored slope ``[mean, lo, hi]`` as the improvement it means (``mode`` "min":
  the slope's opposite)."""
  mean, lo, hi = (math.nan if v is None else v for v in slope)
  return stats.Interval(mean, lo, hi) if mode == "max" else stats.Interval(-mean, -hi, -lo)


def _end_slopes(summary: Mapping[str, Any], budgets: list[str]) -> list[str]:
  """The table of how far from convergence each task stops (the tasks whose record has
  ``end_slope``; none: no lines, as on a page made before it was measured)."""
  tasks = {t: r for t, r in summary["tasks"].items() if "end_slope" in r}
  if not tasks:
    return []
  shown = [b for b in budgets if any(b in r["end_slope"] for r in tasks.values())]
  head = ["task", "curve", "window (steps)"]
  for b in shown:
    head += [f"{b}: the best optimizer", f"{b}: the most still improving"]
  body = []
  for name, r in tasks.items():
    first = next(iter(r["end_slope"].values()))
    curve = "validation" if first["split"] == "validation" else "objective"
    cols = [name, f"{curve} {first['metric']}",
            f"{first['from_step']}–{first['to_step']}"]
    for b in shown:
      if b not in r["end_slope"]:
        cols += ["-", "-"]
        continue
      slopes = r["end_slope"][b]["optimizers"]
      entries = [e for e in entries_of(r["entries"]) if e.budget == b and e.optimizer in slopes]
      sign = 1.0 if r["mode"] == "max" else -1.0
      best = min(entries, key=lambda e: (e.rank if e.rank is not None else math.inf,
                                         -sign * e.ci.mean)).optimizer
      gains = {o: _improvement(v, r["mode"]) for o, v in slopes.items()}
      moving = max(gains, key=lambda o: (-math.inf if math.isnan(gains[o].mean)
                                         else gains[o].mean))
      for o in (best, moving):
        cols.append(f"{o} {report.fmt_interval(gains[o], deterministic=r['deterministic'])}")
    body.append(cols)
  return ["## How far from convergence each task stops", "", END_SLOPE, ""] + _markdown(head, body)


def _search_protocol(search: Mapping[str, Any], seeds: int) -> str:
  """The search budget's paragraph of the protocol."""
  return (
      f"**Search** (AlgoPerf's external tuning; Crowded Valley's large budget): "
      f"{search['studies']} independent studies of {search['trials']} quasi-random points "
      "(a scrambled Halton sequence, `scipy.stats.qmc`) over each optimizer's declared "
      "search space (`optax-survey list --search-space`: the learning rate over the tuned "
      "grid's 3 decades, 1 - β1, 1 - β2, weight decay and the optimizer's own "
      f"hyperparameters, each range with its source) and the warm-up fraction of a "
      f"{search['schedule'].replace('_', ' + ')} schedule (Reddi et al.'s online tasks keep "
      "their own α/√t schedule); a trial is one run "
      f"({search['trial_seeds']} seed), every trial of every study one vmapped program. Each "
      "study selects its trial on the validation split (the final objective without held-out "
      f"data) and reruns it on the same {seeds} fresh seeds as the tuned budget; the number "
      "is the median study's, with the range over studies in its task's table (how much of "
      "a ranking is the luck of the search).")


def _task_section(name: str, r: Mapping[str, Any], budgets: list[str]) -> list[str]:
  split = ("the learning rate is selected on the validation split and the test split is "
           "reported" if r["held_out"] else
           "no held-out set: the tuned value is the final objective, selected on the grid's "
           "seeds and rerun on fresh seeds")
  det = " Deterministic task: every seed gives the same run." if r["deterministic"] else ""
  search = ""
  if "search" in r.get("cost", {}):
    search = (f" Search budget: {r['cost']['search']['runs']} runs, schedule "
              f"{r['search_schedule']}.")
  lines = [f"### {name}", "",
           f"{r['description']}. {r['steps']} steps, {r['seeds']} seeds per number, "
           f"{r['grid_points']} learning rates per optimizer; {split}.{det}{search} "
           f"{r['seconds']:.0f} s.", ""]
  for budget in budgets:
    es = [e for e in entries_of(r["entries"]) if e.budget == budget]
    lines += [f"**{budget}**", "",
              report.entry_table(es, metric=r["metric"], mode=r["mode"],
                                 deterministic=r["deterministic"], markdown=True,
                                 split="test" if r["held_out"] else "final",
                                 target=r.get("target")), ""]
  lines += [f"Note: {n}" + "\n" for n in r["notes"]]
  lines += [f"![{f}]({f})" for f in r["figures"]] + [""]
  return lines


MINIMA = (
    "At each network task's reported runs (the tuned budget's rerun on fresh seeds, the "
    "search budget's median study), per seed, at the final parameters "
    "(`optax_survey.harness.analysis.minima`): the largest eigenvalue λ_max of the "
    f"training loss's Hessian (Lanczos, {minima.LANCZOS_ITERATIONS} iterations, on "
    f"{minima.HESSIAN_BATCHES} fixed training batches, the same for every run), which "
    "gradient descent at rate η drives to about 2/η (Cohen et al. 2021); the optimizer's "
    "own stability threshold where one is known (heavy ball "
    "(2 + 2β)/η, Nesterov (2 + 2β)/((1 + 2β)η), Adam's family (2 + 2β₁)/((1 - β₁)η) on the "
    "preconditioned sharpness: Cohen et al. 2022); λ_max(P⁻¹H) with the diagonal "
    "preconditioner P = sqrt(v̂) + ε read from the optimizer's final state (SGD's P = I; "
    "`-`: an optimizer whose step is not a fixed function of such a P: friction, bounds, "
    "rectification); the adaptive sharpness λ_max(THT), T = |w| + 0.01 (Kwon et al. 2021: "
    "unchanged by rescaling a ReLU layer against the next, which moves λ_max: Dinh et al. "
    f"2017); the Hessian's trace (Hutchinson, {minima.TRACE_PROBES} probes); and the task's "
    "metric on the "
    "training split and the test split, the gap signed so that positive means the training "
    "split looks better. The search budget's η is its peak rate (warm-up + cosine decays it "
    "to 0). Where the runs fit their training split (a training accuracy of 1), a "
    "cross-entropy's softmax saturates and its Hessian shrinks with the loss: a smaller "
    "λ_max there can mean a lower loss rather than a wider basin (the loss-surface slices "
    "of `optax-survey landscape` show the width: docs/gallery.md has a case where the "
    "minimum with the smallest λ_max is the narrowest).")


def _minima_section(tasks: Mapping[str, Any]) -> list[str]:
  """The minima the optimizers reached, per network task and budget."""
  measured = {name: r for name, r in tasks.items() if r.get("minima")}
  if not measured:
    return []
  lines = ["", "## The minima: sharpness and generalization", "", MINIMA]
  for name, r in measured.items():
    for budget, records in r["minima"].items():
      lines += ["", f"**{name}, {budget} budget** ({r['steps']} steps)", "",
                report.minima_table(records, metric=r["metric"], markdown=True)]
  return lines


def render_page(summary: Mapping[str, Any]) -> str:
  """The Markdown results page, from ``survey.json``'s content alone.

  Args:
    summary: the parsed ``survey.json``.

  Returns:
    The page's text; the same ``summary`` always gives the same bytes.

  Example:
    >>> from optax_survey.harness.analysis.ranking import restat
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, budget, mean):  # a deterministic task: every seed the same number
    ...   return Entry(task="toy", optimizer=name, budget=budget, lr=0.1, seeds=2,
    ...                first_seed=0, steps=10, metric="loss", mode="min", split="final",
    ...                values=(mean, mean), ci=Interval(mean, mean, mean), diverged=0,
    ...                selected_on="final objective").to_dict()
    >>> toy = {"description": "a toy problem", "metric": "loss", "mode": "min",
    ...        "held_out": False, "deterministic": True, "steps": 10, "seeds": 2,
    ...        "grid_points": 7, "seconds": 1.0, "start": 4.0, "notes": [], "figures": [],
    ...        "entries": [entry("sgd", "tuned", 0.5), entry("adam", "tuned", 0.1),
    ...                    entry("sgd", "one-shot", 1.0), entry("adam", "one-shot", 2.0)]}
    >>> summary = restat({  # the ranks and the aggregate, as survey.json holds them
    ...     "tasks": {"toy": toy}, "optimizers": ["sgd", "adam"], "seeds": 2, "preset": "toy",
    ...     "command": "optax-survey survey", "seconds": 60.0, "machine": "a CPU",
    ...     "python": "3.11", "versions": "jax", "date": "today", "figures": [], "claims": []})
    >>> page = render_page(summary)
    >>> print(page.splitlines()[0])
    # The survey in numbers (toy preset)
    >>> lines = page.splitlines()
    >>> tuned = lines.index("## Final metric per task, tuned budget")
    >>> for line in lines[tuned + 4:tuned + 8]:  # the headline table: adam best, alone
    ...   print(line)
    | optimizer | toy (loss ↓) | mean rank |
    |---|---|---|
    | adam | **0.1** | 1.00 |
    | sgd | 0.5 | 2.00 |
    >>> render_page(summary) == page  # the same summary, the same bytes
    True

  References:
    Schmidt, Schneider & Hennig, `Descending through a Crowded Valley - Benchmarking
    Deep Learning Optimizers <https://arxiv.org/abs/2007.01547>`__, ICML 2021 (the
    one-shot and tuned budgets the page states).

    Dahl et al., `Benchmarking Neural Network Training Algorithms
    <https://arxiv.org/abs/2306.07179>`__, 2023 (AlgoPerf).
  """
  n_tasks, n_opt = len(summary["tasks"]), len(summary["optimizers"])
  seeds = summary["seeds"]
  budgets = _budgets(summary)
  lines = [
      f"# The survey in numbers ({summary['preset']} preset)", "",
      f"Produced by `{summary['command']}` (or `python -m optax_survey ...`) in "
      f"**{summary['seconds'] / 60:.1f} min** (measured wall time) on {summary['machine']}, "
      f"Python {summary['python']}, {summary['versions']}, float32; {summary['date']}.", "",
      "## Protocol", "",
      f"{n_opt} optimizers on {n_tasks} tasks at {len(budgets)} budgets (Schmidt, Schneider & "
      "Hennig "
      "2021; DeepOBS; AlgoPerf). **One-shot**: every optimizer at its published defaults, "
      "learning rate included. **Tuned**: a log-spaced grid of 7 learning rates over 3 decades "
      "around the task's centre rate (`optax-survey tasks`), plus the published default; all "
      f"rates × {seeds} seeds of one optimizer run as one vmapped, compiled program. The rate "
      "with the best mean **validation** score is selected (tasks with data have fixed "
      "train/validation/test splits; selection never reads the test split), and the reported "
      f"number is the **test** metric at that rate on {seeds} fresh seeds (the program selects "
      "the rate on the device and then trains it on the fresh seeds, which the selection never "
      "sees). The 2-D and online problems have no "
      "held-out set: their tuned number is the final objective, selected on the grid's seeds "
      "and reported on fresh ones. Every number is the mean over "
      "seeds with its 95% bootstrap interval `[lo, hi]` (2000 resamples, fixed generator); "
      "**bold** marks a best whose interval is apart from every other's, `≈best` every "
      "optimizer whose interval overlaps the best's (a tie). Ranks count the optimizers whose "
      "interval lies entirely on the better side, so ties share a rank. "
      + (f"{summary['lookahead'][0].upper()}{summary['lookahead'][1:]}, evaluated on its slow "
         "weights." if summary.get("lookahead") else ""), ""]
  if "search" in summary:
    lines += [_search_protocol(summary["search"], seeds), ""]
  skipped = summary.get("skipped", {})
  if skipped:
    lines += ["Not in this preset (run them with `optax-survey compare --task NAME`): "
              + "; ".join(f"{name}, {why}" for name, why in skipped.items()) + ".", ""]
  optimizers = summary["optimizers"]
  groups = summary.get("groups") or {}
  for group, agg in groups.items():
    names = agg["tasks"]
    lead = (" The headline: the tasks a network trains on." if group == "networks" else
            " Small problems with known answers, ranked apart so that their number does "
            "not decide the networks' ranking.")
    lines += [f"## {group.capitalize()}: how much does tuning change the ranking?", "",
              f"The {len(names)} {group} ({', '.join(names)}), ranked on their own.{lead}", ""]
    lines += _rank_change(agg, optimizers, len(names)) + [""]
    lines += _time_to_target(agg, optimizers)
  lines += ["## All tasks together" if groups else "## How much does tuning change the ranking?",
            ""]
  lines += _rank_change(summary["aggregate"], optimizers, len(summary["tasks"]))
  lines += ["", "![performance profiles](performance_profile.png)", "",
            "Performance profiles: the fraction of tasks on which an optimizer ends within τ "
            "of the best, τ measured as a fraction of the distance from the metric before "
            "training to the best optimizer's value.", ""]
  lines += _cost(summary)
  if summary["aggregate"].get("time_to_target"):
    lines += _time_to_target(summary["aggregate"], optimizers) + [TIME_TO_TARGET, ""]
  lines += [
            "## The survey's claims, checked", "",
            "Rule (`optax_survey.harness.analysis.stats.verdict`): **confirmed** only when the "
            "effect "
            "exceeds the seed noise (difference of means > 2 standard errors, or the 95% "
            "intervals apart where both sides vary over seeds: a side whose seeds all agree "
            "leaves the 2-SE test alone) at each optimizer's tuned learning rate and in every "
            "other check "
            "listed; **contradicted** when the opposite exceeds the noise at the tuned rates; "
            "otherwise **not resolved at this budget**.", ""]
  for c in summary["claims"]:
    lines.append(f"- **{c['claim']}**: {c['verdict']}. {c['evidence']}.")
  if summary.get("claims_search"):
    lines += ["", "The same claims with their first check at the search budget's selected "
              "configurations (every hyperparameter and the schedule searched) instead of "
              "the tuned rates, their other checks unchanged:", ""]
    for c in summary["claims_search"]:
      lines.append(f"- **{c['claim']}**: {c['verdict']}. {c['evidence']}.")
  lines += _minima_section(summary["tasks"])
  for budget in budgets:
    lines += ["", f"## Final metric per task, {budget} budget", "",
              "Mean [95% CI] over seeds; deterministic tasks show the single value. "
              "Rows by mean rank.", ""]
    if groups:
      for group, agg in groups.items():
        lines += ["", f"**{group.capitalize()}** (mean rank over these {len(agg['tasks'])})", ""]
        lines += _headline(summary, budget, agg, agg["tasks"])
    else:
      lines += _headline(summary, budget, summary["aggregate"], list(summary["tasks"]))
  end = _end_slopes(summary, budgets)
  if end:
    lines += [""] + end
  if summary["figures"]:
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({f})" for title, f in summary["figures"]]
  lines += ["", "## Tasks", ""]
  for name, r in summary["tasks"].items():
    lines += _task_section(name, r, budgets)
  lines += ["Raw numbers: `survey.csv` (one row per task, optimizer and budget, with every "
            "seed's value), `survey.json` (also every grid rate's validation and test "
            "interval, and the claims' per-seed numbers). This page is rendered from "
            "`survey.json` alone (`optax_survey.harness.render.page.rerender`).", ""]
  return "\n".join(lines)


def rerender(out: str) -> str:
  """Rewrites ``out/survey.md`` from ``out/survey.json`` without training again.

  Args:
    out: the folder that holds ``survey.json``.

  Returns:
    The path of ``survey.md``.

  Example:
    >>> import json, os, tempfile
    >>> from optax_survey.harness.analysis.ranking import restat
    >>> from optax_survey.harness.analysis.stats import Interval
    >>> from optax_survey.harness.results import Entry
    >>> def entry(name, budget, mean):  # a deterministic task: every seed the same number
    ...   return Entry(task="toy", optimizer=name, budget=budget, lr=0.1, seeds=2,
    ...                first_seed=0, steps=10, metric="loss", mode="min", split="final",
    ...                values=(mean, mean), ci=Interval(mean, mean, mean), diverged=0,
    ...                selected_on="final objective").to_dict()
    >>> toy = {"description": "a toy problem", "metric": "loss", "mode": "min",
    ...        "held_out": False, "deterministic": True, "steps": 10, "seeds": 2,
    ...        "grid_points": 7, "seconds": 1.0, "start": 4.0, "notes": [], "figures": [],
    ...        "entries": [entry("sgd", "tuned", 0.5), entry("adam", "tuned", 0.1),
    ...                    entry("sgd", "one-shot", 1.0), entry("adam", "one-shot", 2.0)]}
    >>> summary = restat({  # the ranks and the aggregate, as survey.json holds them
    ...     "tasks": {"toy": toy}, "optimizers": ["sgd", "adam"], "seeds": 2, "preset": "toy",
    ...     "command": "optax-survey survey", "seconds": 60.0, "machine": "a CPU",
    ...     "python": "3.11", "versions": "jax", "date": "today", "figures": [], "claims": []})
    >>> out = tempfile.mkdtemp()
    >>> with open(os.path.join(out, "survey.json"), "w") as f:
    ...   json.dump(summary, f)
    >>> path = rerender(out)
    >>> os.path.basename(path)
    'survey.md'
    >>> open(path).read() == render_page(summary)  # the page of the JSON, byte for byte
    True
  """
  with open(os.path.join(out, "survey.json")) as f:
    summary: dict[str, Any] = json.load(f)
  path = os.path.join(out, "survey.md")
  with open(path, "w") as f:
    f.write(render_page(summary))
  return path
