"""What a run records about where and when it ran, not what it measured; and a parsed
results/survey JSON without it, for comparing two runs' numbers exactly."""

CIRCUMSTANCES = {"seconds", "date", "machine", "python", "versions", "wall_s", "compile_s",
                 "layout", "written"}


def measured(value):
  """``value`` (a parsed JSON) without the circumstances of its run; NaN made comparable
  (a diverged value is NaN on both sides or a difference)."""
  if isinstance(value, dict):
    return {k: measured(v) for k, v in value.items() if k not in CIRCUMSTANCES}
  if isinstance(value, list):
    return [measured(v) for v in value]
  if isinstance(value, float) and value != value:
    return "NaN"
  return value
