"""Task settings shared by every dataset (``params.yaml: task``).

Generator settings change which graphs are drawn; format settings change only how a graph is
written. Every field is recorded in the dataset's metadata, so a dataset says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NAME_STYLES = ("natural", "compact", "fused")
LETTER_STYLES = ("random", "ordered")
STEP_ORDERS = ("generator", "statement")
TRACE_STYLES = ("forward", "plan")
QUESTION_POSITIONS = ("last", "first")
MODES = ("forward", "reverse")
SPLITS = ("pre", "mid", "rl", "eval")

GENERATOR_VERSION = "1.0.0"
VOCAB_VERSION = "interplay-v1"


@dataclass(frozen=True)
class TaskSpec:
    """Generator and format settings (``docs/task.md``; the paper's values in ``docs/experiments.md``)."""

    master_seed: int = 1234
    modulus: int | None = None  # None: plain integers (paper); p: every value mod p (iGSM)
    const_range: tuple[int, int] = (1, 4)  # literal constants (upstream 1..4)
    mult_range: tuple[int, int] = (2, 4)  # "c times ..." multipliers (upstream 2..4)
    max_value: int = 1000  # reject core values above this (plain arithmetic only)
    ip_max: int = 20  # upstream ip_max: most structure edges per problem
    distractor_keep: float = 1.0  # share of distractor statements kept (1.0 = all, as upstream)
    # natural: "adult otter in Harbor Zoo" (paper); compact: "adult_otter in harbor_zoo" (one word per
    # entity); fused: "adult_otter_in_harbor_zoo" (one word per quantity)
    names: str = "natural"
    letters: str = "random"  # random (upstream) or ordered (a, b, c, ... in order of definition)
    step_order: str = "generator"  # generator (upstream) or statement (follow the problem's sentences)
    # forward: the Define blocks alone (paper); plan: first a plan walked back from the question, one
    # "quantity <- what it reads" line per needed quantity, then the same Define blocks
    trace: str = "forward"
    question: str = "last"  # last: statements, then the question (paper); first: the question first
    splits: dict[str, float] = field(
        default_factory=lambda: {"pre": 0.6, "mid": 0.15, "rl": 0.15, "eval": 0.1}
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
MAX_NUMBER = 1000  # the largest modulus: numbers below it are single tokens


def tier_for(op: int) -> int:
    """Sampler tier for a target op; beyond op 20 the tier grows with the op (measured yield)."""
    if op in _TIERS:
        return _TIERS[op]
    if op < 2 or op > MAX_OP:
        raise ValueError(f"op {op} outside the supported range 2..{MAX_OP}")
    return op + 10


def task_spec_from_params(d: dict[str, Any], key: str = "task") -> TaskSpec:
    """Validate ``params.yaml: task`` and build a ``TaskSpec`` (errors name the key)."""
    from interplay.params import as_choice, as_float, as_int, check_keys, need, weights

    allowed = set(TaskSpec.__dataclass_fields__)
    check_keys(d, key, allowed)
    kw: dict[str, Any] = {}
    if "master_seed" in d:
        kw["master_seed"] = as_int(d["master_seed"], f"{key}.master_seed", lo=0)
    if d.get("modulus") is not None:
        # one token per value: the tokenizer adds every number below the modulus to its vocabulary
        kw["modulus"] = as_int(d["modulus"], f"{key}.modulus", lo=2, hi=MAX_NUMBER)
    for name in ("const_range", "mult_range"):
        if name in d:
            v = d[name]
            k = f"{key}.{name}"
            need(isinstance(v, list) and len(v) == 2, k, f"expected [min, max], got {v!r}")
            lo, hi = as_int(v[0], k + "[0]", lo=0), as_int(v[1], k + "[1]", lo=0)
            need(lo <= hi, k, f"min {lo} > max {hi}")
            kw[name] = (lo, hi)
    if "max_value" in d:
        kw["max_value"] = as_int(d["max_value"], f"{key}.max_value", lo=1, hi=10**9)
    if "ip_max" in d:
        kw["ip_max"] = as_int(d["ip_max"], f"{key}.ip_max", lo=2, hi=25)
    if "distractor_keep" in d:
        kw["distractor_keep"] = as_float(d["distractor_keep"], f"{key}.distractor_keep", lo=0.0, hi=1.0)
    if "names" in d:
        kw["names"] = as_choice(d["names"], f"{key}.names", NAME_STYLES)
    if "letters" in d:
        kw["letters"] = as_choice(d["letters"], f"{key}.letters", LETTER_STYLES)
    if "step_order" in d:
        kw["step_order"] = as_choice(d["step_order"], f"{key}.step_order", STEP_ORDERS)
    if "trace" in d:
        kw["trace"] = as_choice(d["trace"], f"{key}.trace", TRACE_STYLES)
    if "question" in d:
        kw["question"] = as_choice(d["question"], f"{key}.question", QUESTION_POSITIONS)
    if "splits" in d:
        shares = weights(d["splits"], f"{key}.splits", SPLITS)
        kw["splits"] = {s: shares.get(s, 0.0) for s in SPLITS}
    spec = TaskSpec(**kw)
    if spec.modulus is not None:
        need(spec.const_range[1] < spec.modulus, f"{key}.const_range", "constants must be below the modulus")
        need(spec.mult_range[1] < spec.modulus, f"{key}.mult_range", "multipliers must be below the modulus")
    else:
        for name in ("const_range", "mult_range"):
            top = getattr(spec, name)[1]
            need(top <= spec.max_value, f"{key}.{name}[1]", f"{top} is above max_value {spec.max_value}")
    return spec
