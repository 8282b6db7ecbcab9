"""The exact-op driver: deterministic per-record seeds, rejection to the target op, split ownership.

A *bucket* is (split, context, mode, op). Each bucket has one infinite, deterministic stream of
distinct problems; a dataset takes a prefix of each bucket's stream, so datasets of one split share
problems (controlled comparisons) and any record regenerates alone from its ``(seed key, attempt)``.

Splits are disjoint by construction: a problem belongs to the split its prompt hash falls in
(``TaskSpec.splits`` shares), so no evaluation prompt can appear in any training set, with no
cross-dataset bookkeeping.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from interplay.task.graph import FastRandom, Graph, Reject, Sampler
from interplay.task.lexicon import CONTEXTS
from interplay.task.render import GoldNode, Rendered, gold_view, render
from interplay.task.spec import SPLITS, TaskSpec, tier_for

MAX_ATTEMPTS = 200_000


@dataclass(slots=True)
class Example:
    """One accepted problem with everything the dataset row holds."""

    split: str
    context: str
    mode: str
    op: int
    ordinal: int
    seed_key: str
    attempt: int
    graph: Graph
    rendered: Rendered
    gold: list[GoldNode]
    qid: str  # sha256 of problem + question: split ownership and dedup
    uid: str  # sha256 of problem + question + solution (paper A.1.5)

    @property
    def solution(self) -> str:
        return f"{self.rendered.trace} Answer: {self.rendered.answer}."

    @property
    def prompt(self) -> str:
        r = self.rendered
        return f"<question> {r.body} </question> <solution>"

    @property
    def text(self) -> str:
        r = self.rendered
        return f"{self.prompt} {r.trace} </solution> <answer> {r.answer} </answer>"


def seed_key(spec: TaskSpec, split: str, context: str, mode: str, op: int, ordinal: int) -> str:
    return f"{spec.master_seed}|{split}|d2|{context}|{mode}|{op}|{ordinal}"


def attempt_rng(key: str, attempt: int) -> random.Random:
    digest = hashlib.sha256(f"{key}|{attempt}".encode()).digest()
    return FastRandom(int.from_bytes(digest[:8], "big"))


def split_of(qid: str, shares: dict[str, float]) -> str:
    """The split that owns a prompt: its hash's position in the cumulative shares (fixed order)."""
    u = int(qid[:13], 16) / float(1 << 52)
    acc = 0.0
    for name in SPLITS:
        acc += shares.get(name, 0.0)
        if u < acc:
            return name
    return SPLITS[-1] if shares.get(SPLITS[-1], 0.0) > 0 else max(shares, key=shares.get)


def try_attempt(
    spec: TaskSpec, context: str, mode: str, op: int, rng: random.Random
) -> tuple[Graph, Rendered]:
    """One attempt: sample, check the op, render. Raises ``Reject`` on any failed check."""
    tier = tier_for(op)
    g = Sampler(rng, spec, CONTEXTS[context], mode, tier).sample(target_op=op)
    return g, render(g, CONTEXTS[context], spec, rng)


def _hashes(r: Rendered, solution: str) -> tuple[str, str]:
    qid = hashlib.sha256(f"{r.problem}\n{r.question}".encode()).hexdigest()
    uid = hashlib.sha256(f"{r.problem}\n{r.question}\n{solution}".encode()).hexdigest()
    return qid, uid


def regenerate(
    spec: TaskSpec, split: str, context: str, mode: str, op: int, ordinal: int, attempt: int
) -> Example:
    """Rebuild one record from its coordinates alone (no stream state needed)."""
    key = seed_key(spec, split, context, mode, op, ordinal)
    g, r = try_attempt(spec, context, mode, op, attempt_rng(key, attempt))
    solution = f"{r.trace} Answer: {r.answer}."
    qid, uid = _hashes(r, solution)
    return Example(split, context, mode, op, ordinal, key, attempt, g, r, gold_view(g, r.names), qid, uid)


class SeenQids:
    """The prompt hashes (``qid``) a bucket's stream has kept, as their first 128 bits in an open-
    addressing table (two 8-byte arrays, at most two thirds full). A million kept problems take 42 MB
    resident, a set of the 64-character hex strings 163 MB (measured, docs/log.md); a mid-training
    bucket of the paper profile keeps about 2M, and each generation worker holds one bucket's table.
    Two qids that share their first 128 bits count as one (odds about 1e-26 at 2M problems); the
    datasets came out byte-identical to the plain set's."""

    __slots__ = ("_hi", "_lo", "_mask", "_n", "_zero")

    def __init__(self, capacity: int = 1024) -> None:
        self._alloc(1 << max(4, (max(capacity, 1) * 3 // 2).bit_length()))
        self._zero = False  # the all-zero prefix marks an empty slot, so it is kept apart

    def _alloc(self, slots: int) -> None:
        self._hi = array("Q", bytes(8 * slots))
        self._lo = array("Q", bytes(8 * slots))
        self._mask = slots - 1
        self._n = 0

    def __len__(self) -> int:
        return self._n + self._zero

    def _slot(self, hi: int, lo: int) -> tuple[int, bool]:
        """Where ``(hi, lo)`` is (True) or would go (False): linear probing from its high bits."""
        his, los, mask = self._hi, self._lo, self._mask
        i = hi & mask
        while True:
            h, l_ = his[i], los[i]
            if h == hi and l_ == lo:
                return i, True
            if h == 0 and l_ == 0:
                return i, False
            i = (i + 1) & mask

    def add(self, qid: str) -> bool:
        """Keep ``qid``; False if it (its first 128 bits) was already kept."""
        hi, lo = int(qid[:16], 16), int(qid[16:32], 16)
        if hi == 0 and lo == 0:
            new, self._zero = not self._zero, True
            return new
        i, found = self._slot(hi, lo)
        if found:
            return False
        self._hi[i], self._lo[i] = hi, lo
        self._n += 1
        if 3 * self._n > 2 * (self._mask + 1):  # two thirds full: twice the slots
            his, los, n = self._hi, self._lo, self._n
            self._alloc(2 * (self._mask + 1))
            for h, l_ in zip(his, los, strict=True):
                if h or l_:
                    j, _ = self._slot(h, l_)
                    self._hi[j], self._lo[j] = h, l_
            self._n = n
        return True

    def __contains__(self, qid: str) -> bool:
        hi, lo = int(qid[:16], 16), int(qid[16:32], 16)
        return self._zero if hi == 0 and lo == 0 else self._slot(hi, lo)[1]


def stream(spec: TaskSpec, split: str, context: str, mode: str, op: int) -> Iterator[Example]:
    """The bucket's deterministic stream of distinct problems owned by ``split``."""
    seen = SeenQids()
    ordinal = 0
    while True:
        key = seed_key(spec, split, context, mode, op, ordinal)
        for attempt in range(MAX_ATTEMPTS):
            rng = attempt_rng(key, attempt)
            try:
                g, r = try_attempt(spec, context, mode, op, rng)
            except Reject:
                continue
            solution = f"{r.trace} Answer: {r.answer}."
            qid, uid = _hashes(r, solution)
            if split_of(qid, spec.splits) != split or not seen.add(qid):
                continue  # another split's problem, or one this stream already yielded
            yield Example(
                split, context, mode, op, ordinal, key, attempt, g, r, gold_view(g, r.names), qid, uid
            )
            break
        else:
            raise RuntimeError(
                f"bucket split={split} context={context} mode={mode} op={op}: no new problem after "
                f"{MAX_ATTEMPTS} attempts (is the op reachable, is the split's share > 0?)"
            )
        ordinal += 1
