"""The survey's claims, checked at a stated budget with the seed noise in view.

Each check compares two optimizers seed by seed
(:func:`~optax_survey.harness.analysis.stats.beyond_noise`) and the verdict follows one
rule (:func:`~optax_survey.harness.analysis.stats.verdict`): "confirmed" only when the
effect exceeds the noise at each optimizer's *tuned* learning rate and in every
other check of the claim (e.g. at the paper's rate); "contradicted" when the
opposite exceeds the noise at the tuned rates; otherwise "not resolved at this
budget".  Every claim carries the numbers it was decided on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from optax_survey.harness.analysis import stats
from optax_survey.harness.render import report
from optax_survey.harness.results import Comparison
from optax_survey.harness.runs import RunResult

__all__ = ["Check", "MINIMA_TASKS", "all_claims", "claim", "generalizes", "sharper"]

# A check: (what it compares, values of the claimed-better side, values of the other
# side, mode of the compared quantity).
Check = tuple[str, np.ndarray, np.ndarray, str]


def _iv(values: np.ndarray, deterministic: bool = False) -> str:
  return report.fmt_interval(stats.bootstrap_ci(values), deterministic=deterministic)


def claim(text: str, checks: Sequence[Check], *, names: tuple[str, str],
          deterministic: bool = False, extra: str = "") -> dict:
  """A claim's verdict and evidence from its checks (the first at the tuned rates).

  Args:
    text: the claim.
    checks: ``(label, a, b, mode)``: ``a`` are the per-seed values of the side the
      claim says is better, ``b`` the other side's, ``mode`` whether lower
      ("min") or higher ("max") is better for the compared quantity.
    names: the two sides' names, for the evidence.
    deterministic: the values come from a deterministic task (no seed noise).
    extra: a further sentence of evidence.

  Returns:
    ``{"claim", "verdict", "evidence", "checks": [{label, direction, a, b, mode}]}``.

  Example:
    >>> import numpy as np
    >>> tuned = ("final loss at the tuned rates", np.array([1.0, 1.1, 0.9]),  # a, 3 seeds
    ...          np.array([2.0, 2.1, 1.9]), "min")                             # b, 3 seeds
    >>> result = claim("a ends lower than b", [tuned], names=("a", "b"))
    >>> result["verdict"], [c["direction"] for c in result["checks"]]
    ('confirmed', [1])
    >>> print(result["evidence"])
    final loss at the tuned rates: a 1 [0.9, 1.1] vs b 2 [1.9, 2.1] (difference -1, ...)
    >>> paper = ("at the paper's rate", np.array([1.0, 1.2, 0.9]), np.array([1.1, 1.0, 1.2]),
    ...          "min")  # within the noise there: not enough for "confirmed"
    >>> claim("a ends lower than b", [tuned, paper], names=("a", "b"))["verdict"]
    'not resolved at this budget'
  """
  directions, parts, numbers = [], [], []
  for label, a, b, mode in checks:
    d = stats.beyond_noise(a, b, mode=mode)
    directions.append(d)
    diff = float(np.mean(a) - np.mean(b))
    se = float(np.hypot(stats.standard_error(a), stats.standard_error(b)))
    word = {1: "beyond noise", 0: "within noise", -1: "the opposite, beyond noise"}[d]
    parts.append(f"{label}: {names[0]} {_iv(a, deterministic)} vs {names[1]} "
                 f"{_iv(b, deterministic)} (difference {report.fmt(diff, 3)}, 2 SE = "
                 f"{report.fmt(2 * se, 2)}; {word})")
    numbers.append({"label": label, "direction": d, "a": np.asarray(a).tolist(),
                    "b": np.asarray(b).tolist(), "mode": mode})
  evidence = "; ".join(parts) + (f". {extra}" if extra else "")
  return {"claim": text, "verdict": stats.verdict(directions), "evidence": evidence,
          "checks": numbers}


def _tuned(cmp: Comparison, name: str) -> RunResult:
  return cmp.tuned_run(name)


def _budget(cmp: Comparison) -> str:
  """The budget of ``cmp``'s selected runs: "search", else "tuned"."""
  return "search" if cmp.budget == "search" else "tuned"


def _values(cmp: Comparison, name: str, budget: str | None = None) -> np.ndarray:
  return np.asarray(cmp.entry(name, budget or _budget(cmp)).values, np.float64)


def _lr(cmp: Comparison, name: str) -> float:
  return cmp.entry(name, _budget(cmp)).lr


def _at(cmp: Comparison) -> str:
  """How a claim's first check names the runs it reads."""
  return "at the searched configurations" if cmp.budget == "search" else "at the tuned rates"


def _has(cmp: Comparison | None, *names: str) -> bool:
  return cmp is not None and all(n in cmp.optimizers for n in names)


def reddi(cmp: Comparison, paper_lr: float, main: Comparison | None = None) -> dict:
  """AMSGrad ends nearer x* = -1 than Adam, at the tuned rates (``main``'s selected
  runs, default ``cmp``'s) and at the paper's α (``cmp``'s grid)."""
  t, main = cmp.task, main or cmp
  grid_a, grid_b = cmp.grid["amsgrad"], cmp.grid["adam"]
  i = next(k for k, v in enumerate(grid_a.lrs) if abs(v - paper_lr) <= 1e-9 * paper_lr)
  j = next(k for k, v in enumerate(grid_b.lrs) if abs(v - paper_lr) <= 1e-9 * paper_lr)
  checks: list[Check] = [
      (f"final x {_at(main)} (AMSGrad lr {_lr(main, 'amsgrad'):.3g}, Adam lr "
       f"{_lr(main, 'adam'):.3g})", _values(main, "amsgrad"), _values(main, "adam"), "min"),
      (f"at the paper's α = {paper_lr:g}", grid_a.metrics["x"][i, :, -1],
       grid_b.metrics["x"][j, :, -1], "min")]
  return claim(f"AMSGrad converges nearer the optimum x* = -1 than Adam ({t.name}, "
               f"{cmp.steps} steps)", checks, names=("AMSGrad", "Adam"),
               deterministic=t.deterministic)


def _shrink(res: RunResult) -> np.ndarray:
  """Per seed: mean ‖Δθ‖ over the first 5% of steps / over the last 10%."""
  u = res.update_norm[0].astype(np.float64)
  n = u.shape[-1]
  first = u[:, : max(1, n // 20)].mean(-1)
  last = u[:, -max(1, n // 10):].mean(-1)
  return first / np.maximum(last, 1e-30)


def adagrad(cmp: Comparison, main: Comparison | None = None) -> dict:
  """AdaGrad's steps shrink more over training than Adam's."""
  main = main or cmp
  checks: list[Check] = [
      (f"step shrink ‖Δθ‖ first 5% / last 10% {_at(main)} (AdaGrad lr "
       f"{_lr(main, 'adagrad'):.3g}, Adam lr {_lr(main, 'adam'):.3g})",
       _shrink(_tuned(main, "adagrad")), _shrink(_tuned(main, "adam")), "max")]
  return claim(f"AdaGrad's accumulated squared gradients make its steps vanish "
               f"({cmp.task.name}, {cmp.steps} steps)", checks, names=("AdaGrad", "Adam"))


def _early_peak(res: RunResult, i: int) -> np.ndarray:
  """Per seed: the largest rise of the training loss above its first value, steps 1-100
  (0 if it never rose): how far early training went the wrong way."""
  loss = res.loss[i].astype(np.float64)
  return np.maximum(loss[:, 1:100].max(-1) - loss[:, 0], 0.0)


def radam(cmp: Comparison, main: Comparison | None = None) -> dict:
  """RAdam's early training loss peaks lower than Adam's (its automatic warm-up)."""
  main = main or cmp
  ga, gb = cmp.grid["radam"], cmp.grid["adam"]
  top = max(set(ga.lrs) & set(gb.lrs))
  checks: list[Check] = [
      (f"largest rise of the training loss above its initial value, steps 1-100, "
       f"{_at(main)} (RAdam lr "
       f"{_lr(main, 'radam'):.3g}, Adam lr {_lr(main, 'adam'):.3g})",
       _early_peak(_tuned(main, "radam"), 0), _early_peak(_tuned(main, "adam"), 0), "min"),
      (f"the same at the grid's largest common rate {top:.3g}",
       _early_peak(ga, ga.lrs.index(top)), _early_peak(gb, gb.lrs.index(top)), "min")]
  extra = (f"Final {cmp.split} {cmp.task.metric} {_at(main)}: RAdam "
           f"{_iv(_values(main, 'radam'))}, Adam {_iv(_values(main, 'adam'))}")
  return claim(f"RAdam's rectification acts as an automatic warm-up: stabler early training "
               f"({cmp.task.name})", checks, names=("RAdam", "Adam"), extra=extra)


def lookahead(cmp: Comparison, main: Comparison | None = None) -> dict:
  """Lookahead(Adam) is less sensitive to the learning rate and the seed than Adam."""
  main = main or cmp
  ga, gb = cmp.grid["lookahead"], cmp.grid["adam"]
  common = sorted(set(ga.lrs) & set(gb.lrs))
  ia, ib = [ga.lrs.index(v) for v in common], [gb.lrs.index(v) for v in common]
  fa, fb = ga.metrics[cmp.task.metric][ia, :, -1], gb.metrics[cmp.task.metric][ib, :, -1]
  ta, tb = _values(main, "lookahead"), _values(main, "adam")
  checks: list[Check] = [
      (f"seed spread {_at(main)} (|value - mean over seeds|)", np.abs(ta - ta.mean()),
       np.abs(tb - tb.mean()), "min"),
      (f"range of {cmp.task.metric} over the {len(common)} common grid rates "
       f"{common[0]:.3g}..{common[-1]:.3g}, per seed", np.ptp(fa, axis=0), np.ptp(fb, axis=0),
       "min")]
  return claim(f"Lookahead is more stable (less sensitive to the learning rate and the seed) "
               f"than its inner Adam ({cmp.task.name})", checks, names=("Lookahead(Adam)", "Adam"))


def _sign_changes(path: np.ndarray) -> np.ndarray:
  y = path[..., 1]
  return (np.sign(y[..., 1:]) != np.sign(y[..., :-1])).sum(-1).astype(np.float64)


def figure1(cmp: Comparison, fig: Mapping[str, RunResult], steps: int,
            main: Comparison | None = None) -> dict:
  """SGD zig-zags across the valley (y changes sign), SGD with momentum does not."""
  main = main or cmp
  sgd_t, sgdm_t = _tuned(main, "sgd"), _tuned(main, "sgdm")
  assert sgd_t.path is not None and sgdm_t.path is not None
  sgd_f, sgdm_f = fig["sgd"], fig["sgdm"]
  assert sgd_f.path is not None and sgdm_f.path is not None
  checks: list[Check] = [
      (f"sign changes of y in the first {steps} steps {_at(main)} (SGD lr "
       f"{sgd_t.lrs[0]:.3g}, SGDM lr {sgdm_t.lrs[0]:.3g})",
       _sign_changes(sgd_t.path[0, :, : steps + 1]), _sign_changes(sgdm_t.path[0, :, : steps + 1]),
       "max"),
      (f"at the figure's rates (SGD {sgd_f.lrs[0]:g}, SGDM {sgdm_f.lrs[0]:g})",
       _sign_changes(sgd_f.path[0]), _sign_changes(sgdm_f.path[0]), "max")]
  return claim("SGD zig-zags across an ill-conditioned valley, momentum does not (Figure 1, "
               "quadratic)", checks, names=("SGD", "SGDM"))


def _max_abs_y(path: np.ndarray, after: int = 10) -> np.ndarray:
  return np.abs(path[:, after:, 1]).max(-1).astype(np.float64)


def figure2(cmp: Comparison, fig: Mapping[str, RunResult],
            main: Comparison | None = None) -> dict:
  """Lookahead's slow weights oscillate less than Adam alone."""
  main = main or cmp
  la_t, ad_t = _tuned(main, "lookahead"), _tuned(main, "adam")
  assert la_t.slow_path is not None and ad_t.path is not None
  la_f, ad_f = fig["lookahead"], fig["adam"]
  assert la_f.slow_path is not None and ad_f.path is not None
  checks: list[Check] = [
      (f"largest |y| after step 10 {_at(main)} (Lookahead lr {la_t.lrs[0]:.3g}, Adam "
       f"lr {ad_t.lrs[0]:.3g})", _max_abs_y(la_t.slow_path[0]), _max_abs_y(ad_t.path[0]), "min"),
      (f"at the figure's rate {la_f.lrs[0]:g}", _max_abs_y(la_f.slow_path[0]),
       _max_abs_y(ad_f.path[0]), "min")]
  return claim("Lookahead's slow weights damp the fast weights' oscillation (Figure 2, "
               "quadratic)", checks, names=("Lookahead slow weights", "Adam"))


def wilson(cmp: Comparison, main: Comparison | None = None) -> dict:
  """SGD(M) generalizes better than Adam on Wilson et al.'s separable problem."""
  main = main or cmp
  checks: list[Check] = [
      (f"test accuracy {_at(main)} (SGDM lr {_lr(main, 'sgdm'):.3g}, Adam lr "
       f"{_lr(main, 'adam'):.3g})", _values(main, "sgdm"), _values(main, "adam"), "max"),
      ("the same one-shot (published defaults)", _values(cmp, "sgdm", "one-shot"),
       _values(cmp, "adam", "one-shot"), "max")]
  others = [n for n in ("sgd", "adagrad", "rmsprop", "adabound") if n in cmp.optimizers]
  lead = "Tuned test accuracy" if main.budget != "search" else f"Test accuracy {_at(main)}"
  extra = f"{lead} of " + ", ".join(
      f"{n} {_iv(_values(main, n))}" for n in others) if others else ""
  return claim(f"Adaptive methods generalize worse than SGD with momentum on Wilson et al.'s "
               f"separable problem ({cmp.task.name})", checks, names=("SGDM", "Adam"),
               extra=extra)


# The network tasks whose minima the sharp-minima claims read (those of them that were run
# with minima measured).
MINIMA_TASKS = ("mnist1d-mlp", "mnist1d-cnn", "digits-mlp", "charlm", "wilson-separable")


def _minimum(cmp: Comparison, name: str, quantity: str) -> np.ndarray:
  return np.asarray(cmp.minima[name][quantity], np.float64)


def sharper(main: Comparison) -> dict:
  """Adam ends in a sharper minimum than SGDM: a larger λ_max of the training loss's
  Hessian, and a larger scale-invariant (adaptive) sharpness, at ``main``'s selected
  configurations (:attr:`Comparison.minima`).

  Example: on Wilson et al.'s least-squares problem every minimum has the same Hessian
  (a quadratic loss), so the first check cannot show a difference:

    >>> from optax_survey.harness import compare
    >>> cmp = compare("wilson-separable", ["sgdm", "adam"], seeds=3, steps=20,
    ...               minima=True, progress=False)
    >>> result = sharper(cmp)
    >>> result["verdict"], [c["direction"] for c in result["checks"]][:1]
    ('not resolved at this budget', [0])
  """
  t = main.task
  checks: list[Check] = [
      (f"λ_max of the training loss's Hessian {_at(main)} (SGDM lr {_lr(main, 'sgdm'):.3g}, "
       f"Adam lr {_lr(main, 'adam'):.3g})", _minimum(main, "sgdm", "lambda_max"),
       _minimum(main, "adam", "lambda_max"), "min"),
      ("the adaptive (scale-invariant) sharpness λ_max(T H T), T = |w| + 0.01",
       _minimum(main, "sgdm", "adaptive"), _minimum(main, "adam", "adaptive"), "min")]
  extra = (f"Hessian trace: SGDM {_iv(_minimum(main, 'sgdm', 'trace'))}, Adam "
           f"{_iv(_minimum(main, 'adam', 'trace'))}; 2/η: SGDM "
           f"{report.fmt(main.minima['sgdm']['two_over_lr'], 3)}, Adam "
           f"{report.fmt(main.minima['adam']['two_over_lr'], 3)}")
  return claim(f"Adaptive methods converge to sharper minima than SGD with momentum: Adam vs "
               f"SGDM ({t.name}, {main.steps} steps)", checks, names=("SGDM", "Adam"),
               extra=extra)


def generalizes(main: Comparison) -> dict:
  """SGDM generalizes better than Adam: a smaller generalization gap (training minus
  test metric), and a better test metric, at ``main``'s selected configurations.

  Example:
    >>> from optax_survey.harness import compare
    >>> cmp = compare("wilson-separable", ["sgdm", "adam"], seeds=3, steps=20,
    ...               minima=True, progress=False)
    >>> [(c["label"].split(" (")[0], c["mode"]) for c in generalizes(cmp)["checks"]]
    [('generalization gap of acc', 'min'), ('test acc', 'max')]
  """
  t = main.task
  checks: list[Check] = [
      (f"generalization gap of {t.metric} (training split vs test split) {_at(main)} (SGDM "
       f"lr {_lr(main, 'sgdm'):.3g}, Adam lr {_lr(main, 'adam'):.3g})",
       _minimum(main, "sgdm", "gap"), _minimum(main, "adam", "gap"), "min"),
      (f"test {t.metric}", _minimum(main, "sgdm", "test"), _minimum(main, "adam", "test"),
       t.mode)]
  extra = (f"Training {t.metric}: SGDM {_iv(_minimum(main, 'sgdm', 'train'))}, Adam "
           f"{_iv(_minimum(main, 'adam', 'train'))}")
  return claim(f"Adaptive methods generalize worse than SGD with momentum: Adam vs SGDM "
               f"({t.name}, {main.steps} steps)", checks, names=("SGDM", "Adam"), extra=extra)


def adabound(spread: Mapping[str, np.ndarray], lrs: Mapping[str, float], task: str,
             steps: int) -> dict:
  """AdaBound's per-parameter step sizes converge (small p90/p10 spread), Adam's do not."""
  checks: list[Check] = [
      (f"spread p90/p10 of the per-parameter step sizes at step {steps}, tuned rates "
       f"(AdaBound lr {lrs['adabound']:.3g}, Adam lr {lrs['adam']:.3g})",
       spread["adabound"], spread["adam"], "min")]
  return claim(f"AdaBound moves from Adam towards SGD: its per-parameter step sizes converge "
               f"({task})", checks, names=("AdaBound", "Adam"))


def all_claims(comparisons: Mapping[str, Comparison], *, figure_runs: Mapping[str, RunResult],
               figure_steps: int, spread: tuple[dict, dict, str, int] | None,
               paper_lrs: Mapping[str, float],
               at: Mapping[str, Comparison] | None = None) -> list[dict]:
  """Every claim whose tasks and optimizers were run, in the page's order.

  On the network tasks (:data:`MINIMA_TASKS`) run with their minima measured
  (``compare(..., minima=True)``), the survey's closing question is checked in two
  halves, each its own claim: Adam's minima are sharper than SGDM's (:func:`sharper`),
  and Adam generalizes worse (:func:`generalizes`).

  With ``at`` (the search budget's comparisons, by task), every claim is checked again
  with its first check at ``at``'s selected configurations instead of the tuned rates,
  its other checks (the paper's or the figure's rate, the grid, one-shot) unchanged;
  a claim whose task ``at`` lacks is left out, and so is AdaBound's (its step-size
  diagnostic reruns a learning rate alone).

  Args:
    comparisons: the comparisons run at the tuned budget, by task name (``"reddi"``,
      ``"digits-mlp"``, ``"quadratic"``, ``"wilson-separable"``, ...); a claim whose
      task or optimizers are missing is left out.
    figure_runs: the runs of Figures 1 and 2 at the figures' rates, by optimizer.
    figure_steps: the steps of Figure 1's runs (the tuned runs' paths are compared
      over as many first steps).
    spread: ``(spreads, lrs, task, steps)`` for AdaBound's claim
      (:func:`~optax_survey.harness.analysis.diagnostics.final_step_size_spread`
      of "adabound" and "adam", their rates, the task's name and the steps), or None.
    paper_lrs: per Reddi task, the paper's learning rate α (a rate of both Adam's and
      AMSGrad's grids).

  Returns:
    One :func:`claim` per claim checked.

  Example:
    >>> import numpy as np
    >>> spread = ({"adabound": np.array([1.2, 1.3, 1.1]), "adam": np.array([9.0, 8.0, 10.0])},
    ...           {"adabound": 1e-3, "adam": 1e-3}, "digits-mlp", 300)
    >>> claims = all_claims({}, figure_runs={}, figure_steps=0, spread=spread, paper_lrs={})
    >>> [c["claim"] for c in claims]  # no comparisons run: only AdaBound's claim
    ['AdaBound moves from Adam towards SGD: its per-parameter step sizes converge (digits-mlp)']
    >>> claims[0]["verdict"]
    'confirmed'

  References:
    Reddi, Kale & Kumar, `On the Convergence of Adam and Beyond
    <https://openreview.net/forum?id=ryQu7f-RZ>`__, ICLR 2018 (AMSGrad).

    Duchi, Hazan & Singer, `Adaptive Subgradient Methods for Online Learning
    and Stochastic Optimization <https://jmlr.org/papers/v12/duchi11a.html>`__,
    JMLR 12, 2011 (AdaGrad).

    Luo et al., `Adaptive Gradient Methods with Dynamic Bound of Learning Rate
    <https://arxiv.org/abs/1902.09843>`__, ICLR 2019 (AdaBound).

    Liu et al., `On the Variance of the Adaptive Learning Rate and Beyond
    <https://arxiv.org/abs/1908.03265>`__, ICLR 2020 (RAdam).

    Zhang, Lucas, Ba & Hinton, `Lookahead Optimizer: k steps forward, 1 step back
    <https://arxiv.org/abs/1907.08610>`__, NeurIPS 2019.

    Wilson et al., `The Marginal Value of Adaptive Gradient Methods in Machine
    Learning <https://arxiv.org/abs/1705.08292>`__, NeurIPS 2017.

    Keskar et al., `On Large-Batch Training for Deep Learning: Generalization Gap and
    Sharp Minima <https://arxiv.org/abs/1609.04836>`__, ICLR 2017 (sharp minima).
  """
  out: list[dict] = []

  def get(name: str) -> tuple[Comparison | None, Comparison | None]:
    """The task's comparison and the one its claims' first checks read."""
    cmp = comparisons.get(name)
    if at is None:
      return cmp, cmp
    main = at.get(name)
    return (cmp, main) if main is not None else (None, None)

  for name in ("reddi", "reddi-stochastic", "reddi-theorem1"):
    c, m = get(name)
    if c is not None and _has(c, "adam", "amsgrad") and _has(m, "adam", "amsgrad"):
      out.append(reddi(c, paper_lrs[name], m))
  for name in ("mnist1d-mlp", "digits-mlp"):
    c, m = get(name)
    if c is not None and _has(c, "adagrad", "adam") and _has(m, "adagrad", "adam"):
      out.append(adagrad(c, m))
      break
  if spread is not None and at is None:
    values, lrs, task, steps = spread
    out.append(adabound(values, lrs, task, steps))
  c, m = get("digits-mlp")
  if c is not None and _has(c, "radam", "adam") and _has(m, "radam", "adam"):
    out.append(radam(c, m))
  if c is not None and _has(c, "lookahead", "adam") and _has(m, "lookahead", "adam"):
    out.append(lookahead(c, m))
  c, m = get("quadratic")
  if (c is not None and _has(c, "lookahead", "adam") and _has(m, "lookahead", "adam")
      and "lookahead" in figure_runs):
    out.append(figure2(c, figure_runs, m))
  if (c is not None and _has(c, "sgd", "sgdm") and _has(m, "sgd", "sgdm")
      and "sgd" in figure_runs):
    out.append(figure1(c, figure_runs, figure_steps, m))
  c, m = get("wilson-separable")
  if c is not None and _has(c, "sgdm", "adam") and _has(m, "sgdm", "adam"):
    out.append(wilson(c, m))
  for name in MINIMA_TASKS:
    c, m = get(name)
    if m is not None and _has(m, "sgdm", "adam") and {"sgdm", "adam"} <= set(m.minima):
      out += [sharper(m), generalizes(m)]
  return out
