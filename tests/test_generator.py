"""Generator invariants, property-based over seeds, ops, modes and contexts.

The invariants are listed in ``docs/task.md`` ("How a problem is sampled")."""

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interplay.task import generate as gen
from interplay.task.generate import SeenQids, regenerate, split_of, stream
from interplay.task.lexicon import CONTEXTS
from interplay.task.parse import parse
from interplay.task.spec import TaskSpec, tier_for
from interplay.task.verify import score


def _value(g, i, memo, p):
    """Independent re-evaluation of a node from the stored graph (no generator code)."""
    if i in memo:
        return memo[i]
    n = g.nodes[i]
    vals = [_value(g, j, memo, p) for j in n.inputs]
    if n.kind == "total":
        v = sum(vals)
    elif n.tail == "none":
        v = n.const
    elif n.tail == "diff2":
        v = vals[0] - vals[1]
    else:
        v = sum(vals)
    if n.combine == "plus":
        v = n.const + v
    elif n.combine == "times":
        v = n.const * v
    v = v % p if p else v
    memo[i] = v
    return v


def check_invariants(ex, spec: TaskSpec) -> None:
    g, r = ex.graph, ex.rendered
    p = spec.modulus
    memo = {}
    # 1. values recompute; the answer is the query's value
    for n in g.nodes:
        if n.role != "unused":
            assert _value(g, n.id, memo, p) == n.value
    assert r.answer == g.nodes[g.query].value
    # 2. order is topological; the core is exactly the final node and its ancestors
    pos = {i: k for k, i in enumerate(g.order)}
    for i in g.order:
        assert all(pos[j] < pos[i] for j in g.nodes[i].inputs)
    anc, stack = {g.final}, [g.final]
    while stack:
        for j in g.nodes[stack.pop()].inputs:
            if j not in anc:
                anc.add(j)
                stack.append(j)
    assert anc == set(g.order)
    assert g.order[-1] == g.final
    # acyclic including the implicit count -> total edges of every total
    state: dict[int, int] = {}

    def visit(i):
        assert state.get(i) != 1, "cycle"
        if state.get(i) == 2:
            return
        state[i] = 1
        for j in g.nodes[i].inputs:
            visit(j)
        state[i] = 2

    for n in g.nodes:
        if n.role != "unused" or n.kind == "total":
            visit(n.id)
    # core totals hold only core counts; core never reads distractors
    for i in g.order:
        assert all(g.nodes[j].role == "core" for j in g.nodes[i].inputs)
    # 3. op = sum of in-degrees (constants included) over the solution nodes = the target
    assert sum(g.nodes[i].in_degree for i in g.order) == ex.op
    assert ex.op <= tier_for(ex.op)
    # 4. the gold trace parses back to the gold view and verifies
    parsed = parse(ex.text)
    for gn in ex.gold:
        pn = parsed.nodes[gn.name]
        assert pn.parents == gn.parents
        assert pn.value == gn.value
    assert set(parsed.nodes) == {gn.name for gn in ex.gold}
    s = score(ex.text, ex.gold, r.answer, p)
    assert s.verified and s.process_acc == 1.0 and s.n_extra == 0
    assert score(ex.solution, ex.gold, r.answer, p).verified  # upstream form with "Answer: N."
    # 5. bounds; letters; reverse root
    if p is None:
        for i in g.order:
            assert 0 <= g.nodes[i].value <= spec.max_value
            assert g.nodes[i].value > 0 or g.nodes[i].kind == "total"
        for n in g.distractors():
            assert n.value >= 0
    assert len(r.letters) + r.n_temps <= 52
    if g.mode == "reverse":
        assert g.hidden is not None and g.hidden != g.final
        assert r.letters[g.hidden] == "x"
        assert f"Solution: x = {r.answer}." in r.trace
    # 6. one statement per stated count; totals unstated (but the reverse reveal); no duplicates
    stated = [i for i, _ in r.statements if i >= 0]
    counts = [n.id for n in g.nodes if n.kind == "count" and n.role in ("core", "distractor")]
    assert sorted(stated) == sorted(counts)
    assert all(g.nodes[i].kind == "count" for i in stated)
    assert len({s for _, s in r.statements}) == len(r.statements)
    for n in g.nodes:
        assert len(set(n.inputs)) == len(n.inputs)
    assert sum(1 for i, _ in r.statements if i < 0) == (1 if g.mode == "reverse" else 0)
    # the problem text names every stated constant, and no number the graph lacks
    numbers = {int(t) for t in re.findall(r"\d+", r.problem)}
    consts = {g.nodes[i].const for i in stated if g.nodes[i].const is not None and i != g.hidden}
    if g.mode == "reverse":
        consts |= {g.nodes[g.final].value, 0}  # the reveal, and "greater than 0"
    assert numbers == consts
    # 7. a plan names exactly the solution's quantities, each once, each with its gold inputs
    if spec.trace == "plan":
        check_plan(r.trace, ex.gold, g, r)
    else:
        assert "Plan:" not in r.trace
    body = f"{r.question} {r.problem}" if spec.question == "first" else f"{r.problem} {r.question}"
    assert ex.prompt == f"<question> {body} </question> <solution>"
    # 8. the record regenerates alone, byte-identical
    again = regenerate(spec, ex.split, ex.context, ex.mode, ex.op, ex.ordinal, ex.attempt)
    assert again.text == ex.text and again.uid == ex.uid
    assert split_of(ex.qid, spec.splits) == ex.split


def check_plan(trace, gold, g, r) -> None:
    """Read the plan back with plain string splitting (no project code) and compare with the gold."""
    assert trace.startswith("Plan: ")
    nxt = ". The question is difficult" if g.mode == "reverse" else ". Define "
    plan = trace[len("Plan: ") : trace.index(nxt)]
    lines = [ln.split(" <- ") for ln in plan.split("; ")]
    by_name = {gn.name: gn for gn in gold}
    assert lines[0][0] == r.names[g.final]
    assert sorted(name for name, _ in lines) == sorted(by_name)  # each needed quantity once
    for name, reads in lines:
        if reads == "unknown":
            assert g.mode == "reverse" and name == r.names[g.hidden]
        elif reads == "given":
            assert not by_name[name].parents
        else:
            assert frozenset(reads.split(", ")) == by_name[name].parents
    # breadth-first from the question: every later line is read by an earlier one
    for k, (name, _) in enumerate(lines[1:], start=1):
        assert any(name in reads.split(", ") for _, reads in lines[:k])


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    op=st.integers(2, 20),
    mode=st.sampled_from(["forward", "reverse"]),
    context=st.sampled_from(sorted(CONTEXTS)),
)
def test_invariants_plain(seed, op, mode, context):
    spec = TaskSpec(master_seed=seed)
    ex = next(stream(spec, "pre", context, mode, op))
    check_invariants(ex, spec)


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    op=st.integers(2, 16),
    mode=st.sampled_from(["forward", "reverse"]),
    names=st.sampled_from(["natural", "compact"]),
    letters=st.sampled_from(["random", "ordered"]),
    order=st.sampled_from(["generator", "statement"]),
    keep=st.sampled_from([1.0, 0.5, 0.0]),
    trace=st.sampled_from(["forward", "plan"]),
    question=st.sampled_from(["last", "first"]),
)
def test_invariants_modular_and_formats(seed, op, mode, names, letters, order, keep, trace, question):
    spec = TaskSpec(
        master_seed=seed,
        modulus=23,
        const_range=(0, 22),
        names=names,
        letters=letters,
        step_order=order,
        distractor_keep=keep,
        trace=trace,
        question=question,
    )
    ex = next(stream(spec, "pre", "zoo", mode, op))
    check_invariants(ex, spec)
    if letters == "ordered":
        first = ex.rendered.letters[ex.rendered.step_order[0]]
        assert first in ("a", "x")


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_plan_and_question_first_change_only_the_text(mode):
    """Same problems (qids, graphs, split ownership) whatever the trace style or question position;
    the plan trace is the forward trace with a plan in front of it."""
    kw = dict(master_seed=5, modulus=23, const_range=(0, 22), names="compact", letters="ordered")
    plain = TaskSpec(**kw)
    planned = TaskSpec(**kw, trace="plan", question="first")
    for op in (2, 5, 9):
        a = list(itertools.islice(stream(plain, "eval", "zoo", mode, op), 20))
        b = list(itertools.islice(stream(planned, "eval", "zoo", mode, op), 20))
        assert [e.qid for e in a] == [e.qid for e in b]
        for ea, eb in zip(a, b):
            plan, sep, rest = eb.rendered.trace.partition(". ")
            assert plan.startswith("Plan: ") and sep and rest == ea.rendered.trace
            assert eb.prompt.startswith(f"<question> {ea.rendered.question} {ea.rendered.problem}")
            assert ea.rendered.trace in eb.text and ea.text != eb.text


def test_a_wrong_plan_never_changes_the_score():
    spec = TaskSpec(master_seed=2, modulus=23, const_range=(0, 22), names="compact", trace="plan")
    for ex in itertools.islice(stream(spec, "pre", "zoo", "forward", 6), 10):
        plan, _, blocks = ex.text.partition(". Define ")
        good = score(ex.text, ex.gold, ex.rendered.answer, 23)
        assert good.verified
        prompt = plan[: plan.index("Plan:")]
        for bad_plan in ("Plan: nonsense <- ; <- <- given", "Plan: " + "x <- y; " * 50, ""):
            bad = f"{prompt}{bad_plan}. Define {blocks}"
            assert score(bad, ex.gold, ex.rendered.answer, 23) == good
        # and a plan alone, without Define blocks, scores nothing
        assert score(plan + ".", ex.gold, ex.rendered.answer, 23).n_perfect == 0


def test_stream_is_deterministic_and_distinct():
    spec = TaskSpec(master_seed=7)
    a = [e.text for e in itertools.islice(stream(spec, "pre", "zoo", "forward", 2), 200)]
    b = [e.text for e in itertools.islice(stream(spec, "pre", "zoo", "forward", 2), 200)]
    assert a == b
    qids = [e.qid for e in itertools.islice(stream(spec, "pre", "zoo", "forward", 2), 200)]
    assert len(set(qids)) == 200


def _reference_stream(spec, split, context, mode, op, n):
    """The stream's rule written out with a plain set of full qids; also counts the duplicates met."""
    seen, out, dups = set(), [], 0
    for ordinal in itertools.count():
        key = gen.seed_key(spec, split, context, mode, op, ordinal)
        for attempt in itertools.count():
            try:
                _, r = gen.try_attempt(spec, context, mode, op, gen.attempt_rng(key, attempt))
            except gen.Reject:
                continue
            qid, _ = gen._hashes(r, f"{r.trace} Answer: {r.answer}.")
            if split_of(qid, spec.splits) != split:
                continue
            if qid in seen:
                dups += 1
                continue
            seen.add(qid)
            out.append((ordinal, attempt, qid))
            break
        if len(out) == n:
            return out, dups


def test_the_compact_seen_table_keeps_the_streams_problems():
    # values mod 2 and no distractors at op 2: the same problem comes back often (about 100 times in
    # the first 200), so the dedup is exercised
    spec = TaskSpec(master_seed=5, modulus=2, const_range=(0, 1), names="compact", distractor_keep=0.0)
    want, dups = _reference_stream(spec, "pre", "zoo", "forward", 2, 200)
    assert dups > 0
    got = [
        (e.ordinal, e.attempt, e.qid) for e in itertools.islice(stream(spec, "pre", "zoo", "forward", 2), 200)
    ]
    assert got == want


@settings(max_examples=60, deadline=None)
@given(
    picks=st.lists(st.integers(0, 400), min_size=1, max_size=600),
    capacity=st.integers(1, 64),
)
def test_seen_qids_behaves_as_a_set_of_qids(picks, capacity):
    import hashlib

    pool = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)] + ["0" * 64]
    table, plain = SeenQids(capacity), set()
    for i in picks:
        q = pool[i]
        assert (q in table) == (q in plain)
        assert table.add(q) == (q not in plain)
        plain.add(q)
        assert len(table) == len(plain)
    assert all((q in table) == (q in plain) for q in pool)


def test_splits_own_disjoint_prompts():
    spec = TaskSpec(master_seed=3)
    seen = {}
    for split in ("pre", "eval"):
        for ex in itertools.islice(stream(spec, split, "zoo", "forward", 2), 150):
            seen.setdefault(ex.qid, set()).add(split)
    assert all(len(s) == 1 for s in seen.values())
    assert {s for v in seen.values() for s in v} == {"pre", "eval"}


def test_op_matches_paper_worked_rule():
    """Hand-built graph: the paper's op-12 example counts 1+1+2+3+3+2."""
    from interplay.task.graph import Graph, Node

    nodes = [
        Node(0, "count", "Mayer", "deer", const=2, role="core"),
        Node(1, "count", "Mayer", "bear", const=4, role="core"),
        Node(2, "total", "Mayer", None, inputs=[1, 0], tail="implicit_sum", role="core"),
        Node(3, "count", "Circus", "bear", inputs=[2, 0], const=1, combine="plus", tail="diff2", role="core"),
        Node(4, "count", "Circus", "deer", inputs=[1, 0], const=2, combine="times", tail="sum2", role="core"),
        Node(5, "total", "Circus", None, inputs=[4, 3], tail="implicit_sum", role="core"),
    ]
    g = Graph(nodes, [0, 1, 2, 3, 4, 5], 5, 5, None, "forward", None)
    assert g.op == 12


def test_unknown_op_rejected():
    with pytest.raises(ValueError, match="op 31"):
        tier_for(31)
