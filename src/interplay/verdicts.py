"""The analysis rules: how a finding's differences become a verdict. Written before the runs they
judge (the competent-base rerun) and not to be changed after seeing their results.

A finding names the differences it needs (each a mean with a 95% interval, in points) and the
direction the paper reports for each:

- **reproduced**: every required interval excludes 0 in the paper's direction;
- **direction only**: every point estimate lies in the paper's direction, but some interval spans 0;
- **not reproduced**: otherwise.

A "no gain" requirement (the paper's "RL on ID data does not raise ID pass@128") is a difference
whose interval must *not* lie above 0; it can fail a verdict but never needs an interval to exclude 0.
Where a finding passes if any of several comparisons holds (finding 4: three rewards against
outcome-only), the intervals are Holm-corrected for the number of comparisons first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from interplay.params import option
from interplay.passk import REPS, SEED
from interplay.task.spec import MAX_OP

REPRODUCED, DIRECTION_ONLY, NOT_REPRODUCED = "reproduced", "direction only", "not reproduced"
LEVEL = 0.95  # every interval a verdict uses


@dataclass(frozen=True)
class Diff:
    """One difference a verdict needs: ``mean`` [``lo``, ``hi``] and the paper's direction (+1 or -1;
    0: a "no gain" requirement, the interval must not lie above 0)."""

    name: str
    mean: float
    lo: float
    hi: float
    direction: int

    def excludes_zero(self) -> bool:
        return self.lo > 0 if self.direction > 0 else self.hi < 0

    def in_direction(self) -> bool:
        return self.mean > 0 if self.direction > 0 else self.mean < 0


def verdict(diffs: Sequence[Diff]) -> str:
    """Three outcomes (module docstring). An empty list, or a NaN anywhere, is "not reproduced"."""
    if not diffs or any(np.isnan([d.mean, d.lo, d.hi]).any() for d in diffs):
        return NOT_REPRODUCED
    needs = [d for d in diffs if d.direction != 0]
    guards = [d for d in diffs if d.direction == 0]
    if any(d.lo > 0 for d in guards):  # a gain the paper says does not happen
        return NOT_REPRODUCED
    if all(d.excludes_zero() for d in needs):
        return REPRODUCED
    if all(d.in_direction() for d in needs):
        return DIRECTION_ONLY
    return NOT_REPRODUCED


def holm_levels(p_order: Sequence[int], level: float = LEVEL) -> list[float]:
    """Holm's step-down confidence levels for m comparisons: the comparison ranked i-th (0-based, by
    increasing p-value) is tested at alpha / (m - i), i.e. with a 1 - alpha / (m - i) interval."""
    m, alpha = len(p_order), 1 - level
    out = [0.0] * m
    for rank, idx in enumerate(p_order):
        out[idx] = 1 - alpha / (m - rank)
    return out


def holm_any(
    diffs: Sequence[np.ndarray],
    names: Sequence[str],
    interval: Callable[[np.ndarray, float], tuple[float, float]],
    direction: int = 1,
) -> tuple[str, list[Diff]]:
    """Finding 4's rule: "at least one of m comparisons holds", Holm-corrected.

    ``diffs`` are per-problem (or seeds x problems) differences; ``interval(values, level)`` gives a
    percentile interval at a level. Comparisons are ranked by a bootstrap p-value (the share of
    replicates on the wrong side of 0) and each gets Holm's level. The verdict is "reproduced" when
    some corrected interval excludes 0 in the paper's direction, "direction only" when none does but
    every point estimate is in that direction, else "not reproduced". Returns the verdict and the
    corrected differences."""
    p = [_p_value(d, direction) for d in diffs]
    levels = holm_levels(list(np.argsort(p, kind="stable")))
    out = []
    for d, name, lev in zip(diffs, names, levels):
        lo, hi = interval(d, lev)
        out.append(Diff(f"{name} (Holm {lev:.4f})", float(np.mean(d)), lo, hi, direction))
    if any(x.excludes_zero() for x in out):
        return REPRODUCED, out
    if out and all(x.in_direction() for x in out):
        return DIRECTION_ONLY, out
    return NOT_REPRODUCED, out


def _p_value(d: np.ndarray, direction: int, reps: int = REPS, seed: int = SEED) -> float:
    """One-sided bootstrap p-value of "mean in the paper's direction" (over the last axis)."""
    v = np.asarray(d, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(reps, v.size))].mean(axis=1)
    wrong = (means <= 0) if direction > 0 else (means >= 0)
    return float(wrong.mean())


@dataclass(frozen=True)
class PilotRule:
    """``findings.midrl.hard_from_pilot``: finding 3's OOD-hard taken from its pilot split."""

    label: str = option(doc="the pilot split's label in findings.midrl.runs")
    first_op: int = option(
        lo=2, hi=MAX_OP, doc="OOD-hard starts here (the first op beyond mid-training and RL)"
    )
    k: int = option(lo=1, doc="the pilot's strict pass@k that decides how far OOD-hard reaches")
    min_pass: float = option(
        lo=0.0, hi=1.0, doc="an op belongs to OOD-hard up to the last one with this pass@k"
    )


def ops_from_pilot(pass_by_op: Mapping[int, float], first_op: int, min_pass: float) -> list[int]:
    """Finding 3's OOD-hard rule, fixed before its splits ran: op ``first_op``..h, with h the largest
    evaluated op (at or above ``first_op``) at which the pilot split's pass@k reaches ``min_pass``;
    ``first_op`` alone when no op does. ``pass_by_op``: op -> the pilot's mean pass@k there."""
    reached = [op for op, v in pass_by_op.items() if op >= first_op and v >= min_pass]
    return list(range(first_op, max(reached, default=first_op) + 1))
