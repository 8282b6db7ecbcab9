"""Task settings shared by every dataset (``params.yaml: task``).

Generator settings change which graphs are drawn; format settings change only how a graph is
written. Every field is recorded in the dataset's metadata, so a dataset says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from interplay.params import option

NAME_STYLES = ("natural", "compact", "fused")
LETTER_STYLES = ("random", "ordered")
STEP_ORDERS = ("generator", "statement")
TRACE_STYLES = ("forward", "plan")
QUESTION_POSITIONS = ("last", "first")
MODES = ("forward", "reverse")
SPLITS = ("pre", "mid", "rl", "eval")
MAX_NUMBER = 1000  # the largest modulus: numbers below it are single tokens

GENERATOR_VERSION = "1.0.0"
VOCAB_VERSION = "interplay-v1"


@dataclass(frozen=True)
class TaskSpec:
    """Generator and format settings (``docs/task.md``; the paper's values in ``docs/experiments.md``)."""

    master_seed: int = option(1234, lo=0, doc="every problem's seed derives from it")
    modulus: int | None = option(
        None,
        lo=2,
        hi=MAX_NUMBER,
        doc="none: plain integers (paper); p: every value mod p (iGSM), one token each",
    )
    const_range: tuple[int, int] = option((1, 4), lo=0, doc="literal constants [min, max] (upstream 1..4)")
    mult_range: tuple[int, int] = option((2, 4), lo=0, doc='"c times ..." multipliers (upstream 2..4)')
    max_value: int = option(1000, lo=1, hi=10**9, doc="reject core values above this (plain arithmetic)")
    ip_max: int = option(20, lo=2, hi=25, doc="upstream ip_max: most structure edges per problem")
    distractor_keep: float = option(1.0, lo=0.0, hi=1.0, doc="share of distractor statements kept")
    # natural: "adult otter in Harbor Zoo" (paper); compact: "adult_otter in harbor_zoo" (one word per
    # entity); fused: "adult_otter_in_harbor_zoo" (one word per quantity)
    names: str = option("natural", choices=NAME_STYLES, doc="how quantities are named")
    letters: str = option("random", choices=LETTER_STYLES, doc="random (upstream) or ordered letters")
    step_order: str = option("generator", choices=STEP_ORDERS, doc="generator (upstream) or statement order")
    # forward: the Define blocks alone (paper); plan: first a plan walked back from the question, one
    # "quantity <- what it reads" line per needed quantity, then the same Define blocks
    trace: str = option("forward", choices=TRACE_STYLES, doc="the solution's format")
    question: str = option("last", choices=QUESTION_POSITIONS, doc="last (paper) or first")
    splits: dict[str, float] = option(
        lambda: {"pre": 0.6, "mid": 0.15, "rl": 0.15, "eval": 0.1},
        custom=True,
        doc="shares of the problem space per split (weights summing to 1)",
    )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["const_range"] = list(self.const_range)
        d["mult_range"] = list(self.mult_range)
        return d


# Upstream's tier schedule: target op -> op_max of the sampler (``docs/task.md``, "How a problem is sampled").
_TIERS = {2: 3, 3: 3, 4: 4, 5: 6, 6: 6, 7: 10, 8: 10, 9: 10, 10: 15, 11: 15}
_TIERS.update({op: 20 for op in range(12, 16)})
_TIERS.update({op: 25 for op in range(16, 19)})
_TIERS.update({19: 30, 20: 30})
MAX_OP = 30


def tier_for(op: int) -> int:
    """Sampler tier for a target op; beyond op 20 the tier grows with the op (measured yield)."""
    if op in _TIERS:
        return _TIERS[op]
    if op < 2 or op > MAX_OP:
        raise ValueError(f"op {op} outside the supported range 2..{MAX_OP}")
    return op + 10


def task_spec_from_params(d: dict[str, Any], key: str = "task") -> TaskSpec:
    """Validate ``params.yaml: task`` and build a ``TaskSpec`` (errors name the key)."""
    from interplay.params import need, parse, weights

    spec = parse(TaskSpec, d, key)
    for name in ("const_range", "mult_range"):
        lo, hi = getattr(spec, name)
        need(lo <= hi, f"{key}.{name}", f"min {lo} > max {hi}")
    if "splits" in d:
        shares = weights(d["splits"], f"{key}.splits", SPLITS)
        spec = replace(spec, splits={s: shares.get(s, 0.0) for s in SPLITS})
    if spec.modulus is not None:
        need(spec.const_range[1] < spec.modulus, f"{key}.const_range", "constants must be below the modulus")
        need(spec.mult_range[1] < spec.modulus, f"{key}.mult_range", "multipliers must be below the modulus")
    else:
        for name in ("const_range", "mult_range"):
            top = getattr(spec, name)[1]
            need(top <= spec.max_value, f"{key}.{name}[1]", f"{top} is above max_value {spec.max_value}")
    return spec
