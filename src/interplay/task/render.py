"""Writing a sampled graph as text: statements, question and solution trace.

The format settings of ``TaskSpec`` (names, letters, step order, trace style, question position)
change only this module's output, never which graph is drawn.

A ``plan`` trace starts with the quantities the question needs, walked breadth-first back from the
question, each with the quantities it reads::

    Plan: total_x in zoo <- owl in zoo, cat in zoo; owl in zoo <- cat in zoo; cat in zoo <- given.

Every line is a one-hop lookup by name (a total reads the items its container mentions; a stated
quantity reads what its sentence names), so the set of needed quantities is written out instead of
being worked out silently before the first ``Define``. The ``Define`` blocks follow unchanged; the
parser reads only those, so a plan, right or wrong, never changes a score.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from interplay.task.graph import Graph, Node, Reject
from interplay.task.lexicon import Context, compact
from interplay.task.linear import Lin
from interplay.task.spec import TaskSpec

PLAN_PREFIX = "Plan:"
PLAN_ARROW = "<-"
PLAN_LEAF = "given"  # a quantity stated as a constant
PLAN_UNKNOWN = "unknown"  # reverse mode: the hidden quantity
REVERSE_PREFIX = "The question is difficult, so we use equations to solve it."
UNKNOWN_TEXT = "we don't know its value yet but will find it out later"
_RANDOM_LETTERS = string.ascii_letters  # 52
_ORDERED_LETTERS = "".join(c for c in string.ascii_lowercase + string.ascii_uppercase if c not in "xX")


@dataclass(frozen=True, slots=True)
class GoldNode:
    """The verifier's view of one solution node: name, parent names (no constants), value."""

    name: str
    parents: frozenset[str]
    value: Lin


@dataclass(slots=True)
class Rendered:
    problem: str
    question: str
    trace: str  # solution without the trailing "Answer: N."
    answer: int
    names: dict[int, str]
    statements: list[tuple[int, str]]  # (node id, sentence), in problem order; -1 = reveal sentence
    step_order: list[int]
    letters: dict[int, str]
    n_temps: int
    question_first: bool = False

    @property
    def body(self) -> str:
        """The text between ``<question>`` and ``</question>``: statements and question in order."""
        if self.question_first:
            return f"{self.question} {self.problem}"
        return f"{self.problem} {self.question}"


def node_name(node: Node, ctx: Context, style: str) -> str:
    if style == "fused":
        return fused_name(ctx.total_label if node.kind == "total" else node.item, node.container)
    if style == "compact":
        cont = compact(node.container)
        if node.kind == "total":
            return f"{compact(ctx.total_label)} in {cont}"
        return f"{compact(node.item)} in {cont}"
    if node.kind == "total":
        return f"{ctx.total_label} in {node.container}"
    return f"{node.item} in {node.container}"


def fused_name(what: str, container: str) -> str:
    return f"{compact(what)}_in_{compact(container)}"


def noun_phrase(name: str) -> str:
    if name.startswith("total") or name.startswith("average"):
        return f"the {name}"
    return f"the number of {name}"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _join_list(parts: list[str]) -> str:
    if len(parts) == 2:
        return f"{parts[0]} and {parts[1]}"
    return ", ".join(parts[:-1]) + f", and {parts[-1]}"


def _rhs(node: Node, names: dict[int, str]) -> str:
    nps = [noun_phrase(names[i]) for i in node.inputs]
    if node.tail == "none":
        return str(node.const)
    if node.tail == "copy":
        tail = nps[0]
    elif node.tail == "diff2":
        tail = f"the difference between {nps[0]} and {nps[1]}"
    else:
        tail = f"the sum of {_join_list(nps)}"
    if node.combine == "plus":
        return f"{node.const} plus {tail}"
    if node.combine == "times":
        return f"{node.const} times {tail}"
    return tail


def _question(node: Node, name: str, ctx: Context, style: str) -> str:
    if node.kind == "total":
        return f"What is the {name}?"
    short = style in ("compact", "fused")
    item = compact(node.item) if short else node.item
    cont = compact(node.container) if short else node.container
    return f"How many {item} does {cont} have?"


def _statement_order(g: Graph, stmt_pos: dict[int, int]) -> list[int]:
    """A topological order of the core that follows the problem's sentence order where it can."""
    core = set(g.order)
    indeg = {i: sum(1 for j in g.nodes[i].inputs if j in core) for i in g.order}
    consumers: dict[int, list[int]] = {i: [] for i in g.order}
    for i in g.order:
        for j in g.nodes[i].inputs:
            consumers[j].append(i)
    ready = [i for i in g.order if indeg[i] == 0]
    out: list[int] = []
    while ready:
        ready.sort(key=lambda i: (stmt_pos.get(i, -1), i))
        i = ready.pop(0)
        out.append(i)
        for c in consumers[i]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    # the final node must come last: it is the only sink of the core
    return out


class _Letters:
    def __init__(self, rng: random.Random, style: str, reverse: bool) -> None:
        self.rng = rng
        self.style = style
        if style == "ordered":
            self.pool = list(_ORDERED_LETTERS)
        else:
            self.pool = [c for c in _RANDOM_LETTERS if not (reverse and c in "xX")]

    def take(self) -> str:
        if not self.pool:
            raise Reject("trace needs more letters than the alphabet has")
        if self.style == "ordered":
            return self.pool.pop(0)
        return self.pool.pop(self.rng.randrange(len(self.pool)))


def _fmt(v) -> str:
    return v.format() if isinstance(v, Lin) else str(v)


def _operand(v) -> str:
    """A value inside a substituted expression: x-forms other than bare ``x`` get parentheses."""
    if isinstance(v, Lin):
        if v.a == 0:
            return str(v.b)
        s = v.format()
        return s if s == "x" else f"({s})"
    return str(v)


class _TraceWriter:
    def __init__(self, g: Graph, names: dict[int, str], letters: _Letters, spec: TaskSpec) -> None:
        self.g = g
        self.names = names
        self.letters = letters
        self.p = spec.modulus
        self.letter_of: dict[int, str] = {}
        self.n_temps = 0

    def value(self, i: int):
        """A node's value as the trace prints it: an int, or an x-form in reverse mode."""
        form = self.g.nodes[i].form
        if form is None or form.a == 0:
            return self.g.nodes[i].value
        return form

    def _reduce(self, v):
        if self.p is None:
            return v
        return v.mod(self.p) if isinstance(v, Lin) else v % self.p

    def _add(self, u, v, sym: str):
        if isinstance(u, Lin) or isinstance(v, Lin):
            u = u if isinstance(u, Lin) else Lin.const(u)
            v = v if isinstance(v, Lin) else Lin.const(v)
            out = u + v if sym == "+" else u - v
        else:
            out = u + v if sym == "+" else u - v
        return self._reduce(out)

    def _chain(self, operands: list[tuple[str, object]], sym: str, target: str) -> tuple[list[str], object]:
        """Clauses computing ``target`` from operands (letter, value), with temporaries for k >= 3."""
        if len(operands) == 1:
            ((a, av),) = operands
            return [f"{target} = {a} = {_fmt(av)}"], av
        clauses = []
        (acc, accv) = operands[0]
        for k, (b, bv) in enumerate(operands[1:]):
            last = k == len(operands) - 2
            out_letter = target if last else self.letters.take()
            if not last:
                self.n_temps += 1
            r = self._add(accv, bv, sym)
            clauses.append(
                f"{out_letter} = {acc} {sym} {b} = {_operand(accv)} {sym} {_operand(bv)} = {_fmt(r)}"
            )
            acc, accv = out_letter, r
        return clauses, accv

    def block(self, i: int) -> str:
        node = self.g.nodes[i]
        name = self.names[i]
        if self.g.mode == "reverse" and i == self.g.hidden:
            self.letter_of[i] = "x"
            return f"Define {name} as x; {UNKNOWN_TEXT}."
        letter = self.letters.take()
        self.letter_of[i] = letter
        if node.tail == "none":
            body = [f"so {letter} = {node.const}"]
            return f"Define {name} as {letter}; " + "; ".join(body) + "."
        operands = [(self.letter_of[j], self.value(j)) for j in node.inputs]
        sym = "-" if node.tail == "diff2" else "+"
        if node.combine is None:
            clauses, _ = self._chain(operands, sym, letter)
        else:
            temp = self.letters.take()
            self.n_temps += 1
            clauses, tv = self._chain(operands, sym, temp)
            c = node.const
            if node.combine == "plus":
                r = self._add(c, tv, "+")
                clauses.append(f"{letter} = {c} + {temp} = {c} + {_operand(tv)} = {_fmt(r)}")
            else:
                if isinstance(tv, Lin):
                    r = self._reduce(tv.scale(c))
                    clauses.append(f"{letter} = {c} * {temp} = ({c}) * ({_fmt(tv)}) = {_fmt(r)}")
                else:
                    r = self._reduce(c * tv)
                    clauses.append(f"{letter} = {c} * {temp} = {c} * {tv} = {r}")
        clauses[-1] = "so " + clauses[-1]
        return f"Define {name} as {letter}; " + "; ".join(clauses) + "."

    def trailer(self) -> str:
        g = self.g
        fin = g.nodes[g.final]
        form = fin.form
        v = fin.value
        moved = self._reduce(Lin(form.a, form.b - v))
        rhs = self._reduce(v - form.b)
        a = form.a
        root = g.nodes[g.hidden].value
        return (
            f"We know {self.letter_of[g.final]} = {v}, so we have {form.format()} = {v} and we solve it "
            f"through the following steps: Simplifying the equation: {form.format()} = {v}. "
            f"Move all terms to one side: {moved.format()} = 0. Isolate the term with x: {a}*x = {rhs}. "
            f"Divide both sides by {a}: x = {rhs} / {a}. Solution: x = {root}."
        )


def plan_order(g: Graph) -> list[int]:
    """The needed quantities breadth-first from the final one (inputs in the order they are read)."""
    order, seen = [g.final], {g.final}
    k = 0
    while k < len(order):
        for j in g.nodes[order[k]].inputs:
            if j not in seen:
                seen.add(j)
                order.append(j)
        k += 1
    return order


def plan(g: Graph, names: dict[int, str]) -> str:
    """``Plan: q <- a, b; a <- given; ...`` for the quantities of ``plan_order``."""
    lines = []
    for i in plan_order(g):
        node = g.nodes[i]
        if g.mode == "reverse" and i == g.hidden:
            reads = PLAN_UNKNOWN
        elif node.inputs:
            reads = ", ".join(dict.fromkeys(names[j] for j in node.inputs))
        else:
            reads = PLAN_LEAF
        lines.append(f"{names[i]} {PLAN_ARROW} {reads}")
    return f"{PLAN_PREFIX} " + "; ".join(lines) + "."


def render(g: Graph, ctx: Context, spec: TaskSpec, rng: random.Random) -> Rendered:
    names = {n.id: node_name(n, ctx, spec.names) for n in g.nodes}
    sentences: list[tuple[int, str]] = []
    for node in g.nodes:
        if node.role == "unused" or node.kind == "total":
            continue
        if g.mode == "reverse" and node.id == g.hidden:
            text = f"{noun_phrase(names[node.id])} exists, and its number is greater than 0"
        else:
            text = f"{noun_phrase(names[node.id])} equals {_rhs(node, names)}"
        sentences.append((node.id, _cap(text)))
    if g.mode == "reverse":
        fin = g.nodes[g.final]
        sentences.append((-1, _cap(f"{noun_phrase(names[g.final])} equals {fin.value}")))
    rng.shuffle(sentences)
    problem = " ".join(f"{s}." for _, s in sentences)
    qnode = g.nodes[g.query]
    question = _question(qnode, names[g.query], ctx, spec.names)

    if spec.step_order == "statement":
        pos = {i: k for k, (i, _) in enumerate(sentences) if i >= 0}
        steps = _statement_order(g, pos)
    else:
        steps = list(g.order)
    letters = _Letters(rng, spec.letters, g.mode == "reverse")
    writer = _TraceWriter(g, names, letters, spec)
    blocks = [writer.block(i) for i in steps]
    if g.mode == "reverse":
        trace = " ".join([REVERSE_PREFIX, *blocks, writer.trailer()])
        answer = g.nodes[g.hidden].value
    else:
        trace = " ".join(blocks)
        answer = g.nodes[g.final].value
    if spec.trace == "plan":
        trace = f"{plan(g, names)} {trace}"
    return Rendered(
        problem=problem,
        question=question,
        trace=trace,
        answer=answer,
        names=names,
        statements=sentences,
        step_order=steps,
        letters=writer.letter_of,
        n_temps=writer.n_temps,
        question_first=spec.question == "first",
    )


def gold_view(g: Graph, names: dict[int, str]) -> list[GoldNode]:
    """What a perfect trace must contain: every core node, its named parents and its value."""
    out = []
    for i in g.order:
        node = g.nodes[i]
        value = node.form if node.form is not None else Lin.const(node.value)
        out.append(GoldNode(names[i], frozenset(names[j] for j in node.inputs), value))
    return out
