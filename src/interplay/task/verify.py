"""Process verification: score a parsed trace against the gold graph (``docs/task.md``, "The verifier").

ProcessAcc = share of gold nodes present with the gold parent set and value (extra nodes free).
VerifiedCorrect = ProcessAcc == 1 and the answer is right: every reported pass@k uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from interplay.task.linear import same_value
from interplay.task.parse import Parsed, parse
from interplay.task.render import GoldNode


@dataclass(frozen=True, slots=True)
class Score:
    n_gold: int
    n_missing: int
    n_extra: int
    n_dependency: int  # present, but the parent set differs
    n_value: int  # present, but the value differs or is undefined
    n_perfect: int
    answer_correct: bool

    @property
    def process_acc(self) -> float:
        return self.n_perfect / self.n_gold if self.n_gold else 0.0

    @property
    def verified(self) -> bool:
        return self.n_gold > 0 and self.n_perfect == self.n_gold and self.answer_correct

    @property
    def strict_official(self) -> bool:
        """The official code's strict check: also fails on extra nodes."""
        return self.verified and self.n_extra == 0

    @property
    def process_reward_official(self) -> float:
        """R_pv' = max(0, 1 - penalty/|V|) with the official code's penalty (``docs/task.md``)."""
        if not self.n_gold:
            return 0.0
        penalty = (
            self.n_value
            + self.n_dependency
            + self.n_missing
            + min(self.n_extra, self.n_gold)
            + (not self.answer_correct)
        )
        return max(0.0, 1.0 - penalty / self.n_gold)

    @property
    def category(self) -> str:
        """Fig. 8 grouping: correct / dependency / missing / value / answer (first that applies)."""
        if self.verified:
            return "correct"
        if self.n_dependency:
            return "dependency"
        if self.n_missing:
            return "missing"
        if self.n_value:
            return "value"
        return "answer"


def score_parsed(
    pred: Parsed, gold: Iterable[GoldNode], answer: int | str, modulus: int | None = None
) -> Score:
    gold = list(gold)
    names = set()
    missing = dep = val = perfect = 0
    for g in gold:
        names.add(g.name)
        p = pred.nodes.get(g.name)
        if p is None:
            missing += 1
            continue
        dep_ok = p.parents == g.parents
        val_ok = same_value(p.value, g.value, modulus)
        dep += not dep_ok
        val += not val_ok
        perfect += dep_ok and val_ok
    extra = len(pred.nodes.keys() - names)
    ok = pred.answer is not None and pred.answer == str(answer)
    return Score(len(gold), missing, extra, dep, val, perfect, ok)


def node_report(
    text: str, gold: Iterable[GoldNode], modulus: int | None = None
) -> list[tuple[str, str, str]]:
    """Per quantity: (name, status, detail), status one of ``ok`` / ``missing`` / ``dependency`` /
    ``value`` / ``extra`` (written but not needed), in gold order then extras. For reading what a model
    wrote; ``score`` counts the same statuses."""
    pred = parse(text)
    out: list[tuple[str, str, str]] = []
    names = set()
    for g in gold:
        names.add(g.name)
        p = pred.nodes.get(g.name)
        if p is None:
            out.append((g.name, "missing", ""))
        elif p.parents != g.parents:
            got, want = sorted(p.parents), sorted(g.parents)
            out.append((g.name, "dependency", f"reads {got}, should read {want}"))
        elif not same_value(p.value, g.value, modulus):
            out.append((g.name, "value", f"{_fmt(p.value)}, should be {_fmt(g.value)}"))
        else:
            out.append((g.name, "ok", ""))
    out += [(n, "extra", "") for n in pred.nodes if n not in names]
    return out


def _fmt(v) -> str:
    return "undefined" if v is None else (v.format() if v.a or float(v.b).is_integer() else str(v.b))


def score(text: str, gold: Iterable[GoldNode], answer: int | str, modulus: int | None = None) -> Score:
    """Parse ``text`` (a completion or a whole serialized example) and score it. Never raises."""
    return score_parsed(parse(text), gold, answer, modulus)
