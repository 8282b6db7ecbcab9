"""Parser and process verifier: round trip, error categories, fuzzing with random and mutated traces."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from interplay.task.expr import evaluate
from interplay.task.generate import stream
from interplay.task.linear import Lin, X
from interplay.task.parse import extract_answer, parse
from interplay.task.render import GoldNode
from interplay.task.spec import TaskSpec
from interplay.task.verify import score

# The paper's worked op-12 example, in our vocabulary.
GOLD_TEXT = (
    "<question> ... </question> <solution> Define adult deer in Mayer Aquarium as m; so m = 2. "
    "Define adult bear in Mayer Aquarium as M; so M = 4. Define total number of adult animals in Mayer "
    "Aquarium as k; so k = M + m = 4 + 2 = 6. Define adult bear in Jefferson Circus as i; n = k - m = "
    "6 - 2 = 4; so i = 1 + n = 1 + 4 = 5. Define adult deer in Jefferson Circus as s; t = M + m = 4 + 2 "
    "= 6; so s = 2 * t = 2 * 6 = 12. Define total number of adult animals in Jefferson Circus as c; so "
    "c = s + i = 12 + 5 = 17. </solution> <answer> 17 </answer>"
)
DM, BM, TM = (
    "adult deer in Mayer Aquarium",
    "adult bear in Mayer Aquarium",
    "total number of adult animals in Mayer Aquarium",
)
BJ, DJ, TJ = (
    "adult bear in Jefferson Circus",
    "adult deer in Jefferson Circus",
    "total number of adult animals in Jefferson Circus",
)
GOLD = [
    GoldNode(DM, frozenset(), Lin.const(2)),
    GoldNode(BM, frozenset(), Lin.const(4)),
    GoldNode(TM, frozenset({BM, DM}), Lin.const(6)),
    GoldNode(BJ, frozenset({TM, DM}), Lin.const(5)),
    GoldNode(DJ, frozenset({BM, DM}), Lin.const(12)),
    GoldNode(TJ, frozenset({DJ, BJ}), Lin.const(17)),
]


def test_worked_example_verifies():
    s = score(GOLD_TEXT, GOLD, 17)
    assert s.verified and s.process_acc == 1.0 and s.category == "correct"


def test_dependency_mismatch_like_the_paper():
    """`t = M + M` instead of `t = M + m`: dependency mismatch there, value mismatches downstream."""
    bad = (
        GOLD_TEXT.replace("t = M + m = 4 + 2 = 6", "t = M + M = 4 + 4 = 8")
        .replace("so s = 2 * t = 2 * 6 = 12", "so s = 2 * t = 2 * 8 = 16")
        .replace("c = s + i = 12 + 5 = 17", "c = s + i = 16 + 5 = 21")
        .replace("<answer> 17", "<answer> 21")
    )
    s = score(bad, GOLD, 17)
    assert s.n_dependency == 1 and s.n_value == 2 and not s.answer_correct
    assert s.process_acc == 4 / 6 and not s.verified and s.category == "dependency"


def test_missing_extra_value_answer():
    no_block = GOLD_TEXT.replace("Define adult bear in Mayer Aquarium as M; so M = 4. ", "")
    s = score(no_block, GOLD, 17)
    assert s.n_missing == 1 and not s.verified
    extra = GOLD_TEXT.replace("</solution>", "Define adult fox in Nowhere as q; so q = 3. </solution>")
    s = score(extra, GOLD, 17)
    assert s.n_extra == 1 and s.process_acc == 1.0 and s.verified and not s.strict_official
    wrong_value = GOLD_TEXT.replace("so m = 2.", "so m = 3.")
    assert score(wrong_value, GOLD, 17).n_value >= 1
    assert not score(GOLD_TEXT.replace("<answer> 17", "<answer> 18"), GOLD, 17).verified
    assert score(GOLD_TEXT, GOLD, 17).process_reward_official == 1.0
    assert 0.0 <= score(no_block, GOLD, 17).process_reward_official < 1.0


def test_answer_extraction_order():
    assert extract_answer("x <answer> 12 </answer>") == "12"
    assert extract_answer("x <answer> 12.") == "12"
    assert extract_answer("so c = 5. Answer: 7.") == "7"
    assert extract_answer("nothing here") is None


def test_expression_evaluator():
    env = {"a": Lin.const(3), "x": X}
    assert evaluate("2 * (a + 4) - 1", env) == Lin.const(13)
    assert evaluate("(4) * (x + 2)", env) == Lin(4, 8)
    assert evaluate("-x + 5", env) == Lin(-1, 5)
    assert evaluate("x * x", env) is None  # not linear
    assert evaluate("4 / 0", env) is None
    assert evaluate("2 +", env) is None
    assert evaluate("b + 1", env) is None  # unknown letter
    assert evaluate("two + 1", env) is None
    assert evaluate("9" * 40, env) is None
    assert evaluate("((((1))))", env) == Lin.const(1)


def test_division_chains_stay_bounded():
    """Each intermediate value keeps a bounded denominator: a long chain of divisions stops being a
    number once 3**n passes the bound, instead of growing a fraction with the length of the text."""
    from fractions import Fraction

    from interplay.task.expr import MAX_MAGNITUDE

    n_ok = next(n for n in range(100) if 3 ** (n + 1) > MAX_MAGNITUDE)
    assert evaluate("1" + "/3" * n_ok, {}) == Lin.const(Fraction(1, 3**n_ok))
    assert evaluate("1" + "/3" * (n_ok + 1), {}) is None
    assert evaluate("x" + "/3" * (n_ok + 1), {"x": X}) is None  # the x coefficient too
    long = "<solution> Define total as t; so t = 1" + "/3" * 200_000 + ". </solution>"
    assert score(long, [GoldNode("total", frozenset(), Lin.const(1))], 1).n_value == 1


def test_reverse_trace_compares_forms():
    spec = TaskSpec(master_seed=11)
    ex = next(stream(spec, "pre", "zoo", "reverse", 8))
    assert score(ex.text, ex.gold, ex.rendered.answer).verified
    # replacing the unknown's letter in a descendant breaks the forms downstream
    parsed = parse(ex.text)
    hidden_name = ex.rendered.names[ex.graph.hidden]
    assert parsed.nodes[hidden_name].value == X


def test_modular_values_compare_mod_p():
    gold = [GoldNode("a", frozenset(), Lin.const(7))]
    assert score("Define a as q; so q = 30.", gold, 7, modulus=23).n_value == 0
    assert score("Define a as q; so q = 30.", gold, 7, modulus=None).n_value == 1


EXAMPLES = [
    ex
    for op, mode in itertools.product((3, 9, 15), ("forward", "reverse"))
    for ex in itertools.islice(stream(TaskSpec(master_seed=5), "pre", "school", mode, op), 2)
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text_never_raises(text):
    s = score(text, GOLD, 17)
    assert 0.0 <= s.process_acc <= 1.0


@settings(max_examples=300, deadline=None)
@given(
    k=st.integers(0, len(EXAMPLES) - 1),
    cuts=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 40), st.text(max_size=8)), max_size=6),
)
def test_mutated_traces_never_raise(k, cuts):
    ex = EXAMPLES[k]
    text = ex.text
    for pos, length, insert in cuts:
        pos %= len(text) + 1
        text = text[:pos] + insert + text[pos + length :]
    s = score(text, ex.gold, ex.rendered.answer)
    assert 0.0 <= s.process_acc <= 1.0
    assert s.n_missing + s.n_perfect + s.n_dependency <= s.n_gold + s.n_value
    if text == ex.text:
        assert s.verified


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(EXAMPLES) - 1), st.data())
def test_letter_swap_is_caught(k, data):
    """Renaming one operand letter to another defined letter must not verify."""
    ex = EXAMPLES[k]
    letters = [v for v in ex.rendered.letters.values() if v != "x"]
    if len(letters) < 2:
        return
    a, b = data.draw(st.permutations(letters))[:2]
    text = ex.text.replace(f"= {a} +", f"= {b} +", 1)
    if text == ex.text:
        return
    assert not score(text, ex.gold, ex.rendered.answer).verified


def test_pathological_inputs():
    assert score("Define " * 20_000, GOLD, 17).n_missing == 6
    assert score("(" * 50_000 + "1", GOLD, 17).process_acc == 0.0
    long_ok = GOLD_TEXT.replace("</solution>", "Define z as q; so q = 1. " * 2000 + "</solution>")
    assert score(long_ok, GOLD, 17).verified


def test_node_report_names_each_quantity_and_what_is_wrong():
    from interplay.task.verify import node_report

    spec = TaskSpec(master_seed=3, modulus=23, const_range=(0, 22), names="compact", letters="ordered")
    ex = next(stream(spec, "eval", "zoo", "forward", 4))
    r = ex.rendered
    assert all(status == "ok" for _, status, _ in node_report(ex.text, ex.gold, 23))
    first = ex.gold[0]
    broken = ex.text.replace(f"Define {first.name} as", "Define nothing_here as", 1)
    report = {name: (status, detail) for name, status, detail in node_report(broken, ex.gold, 23)}
    assert report[first.name][0] == "missing" and report["nothing_here"][0] == "extra"
    s = score(broken, ex.gold, r.answer, 23)
    counts = [st for st, _ in report.values()]
    assert counts.count("missing") == s.n_missing and counts.count("extra") == s.n_extra
    assert counts.count("dependency") == s.n_dependency and counts.count("value") == s.n_value
    assert node_report("garbage <solution> Define", ex.gold, 23)[0][1] == "missing"  # never raises
