"""Sampling a medium (two-level) problem graph, as ``docs/task.md`` describes it.

A *structure graph* links containers to item types; each link is a *count* quantity and each
container has an implicit *total* (sum of its counts). The *core* is the query and its ancestors;
every other count becomes a *distractor*. One ``random.Random`` per attempt; a failed check raises
``Reject`` and the driver retries with the next attempt number.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass, field

from interplay.task.lexicon import Context
from interplay.task.linear import Lin, X
from interplay.task.spec import TaskSpec

CONST = -1  # pseudo-node id of the constant source


class FastRandom(random.Random):
    """``random.Random`` with a multiply-based ``_randbelow`` (about 3x faster for choice/sample/
    randint; bias below 2**-45 for the small ranges used here). Deterministic for a given seed."""

    def _randbelow(self, n: int) -> int:
        return int(self.random() * n)


class Reject(Exception):
    """An attempt failed a check; the driver retries with the next attempt."""


@dataclass(slots=True)
class Node:
    id: int
    kind: str  # "count" | "total"
    container: str  # name (a layer index until the attempt is accepted)
    item: str | None  # None for totals
    inputs: list[int] = field(default_factory=list)  # parameter inputs, in statement/trace order
    const: int | None = None  # literal constant, when the definition uses one
    combine: str | None = None  # "plus" | "times" when a constant is combined with a tail
    tail: str = "none"  # none | copy | sum2 | diff2 | sumk | implicit_sum
    role: str = "unused"  # core | distractor | unused
    value: int = 0
    form: Lin | None = None  # reverse mode: value as a linear form in the hidden unknown

    @property
    def in_degree(self) -> int:
        return len(self.inputs) + (1 if self.const is not None else 0)


@dataclass(slots=True)
class Graph:
    nodes: list[Node]
    order: list[int]  # core nodes, topological (generator order)
    final: int  # last core node
    query: int  # asked node (final in forward mode, hidden in reverse)
    hidden: int | None  # reverse mode: the unknown
    mode: str
    modulus: int | None

    @property
    def op(self) -> int:
        return sum(self.nodes[i].in_degree for i in self.order)

    def distractors(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "distractor"]

    def descendants(self, root: int) -> set[int]:
        """Core nodes whose value depends on ``root`` (root excluded)."""
        out: set[int] = set()
        for i in self.order:
            if any(j == root or j in out for j in self.nodes[i].inputs):
                out.add(i)
        return out


# ---------------------------------------------------------------------------------------------
# size parameters (§3.1)


_WIDTHS = (1, 2, 3, 4, 5)


@functools.cache
def _width_weights(s: int, ip_max: int) -> tuple[float, ...]:
    """Cumulative weights of layer widths 1..5: exp(-(r - centre)^2), r = (s-1)/(ip_max-1)."""
    r = (s - 1) / (ip_max - 1)
    return tuple(itertools.accumulate(math.exp(-((r - c) ** 2)) for c in (0.1, 0.3, 0.5, 0.7, 0.9)))


def _size_params(
    rng: random.Random, tier: int, mode: str, ip_max: int
) -> tuple[int, int, int, int, int, int]:
    budget = (tier + 1) // 2
    s = budget  # force=True: instance-op target is the whole budget
    n = max(rng.randint(1, s), rng.randint(1, s))
    m = rng.randint(n, s)
    t0, t1 = rng.choices(_WIDTHS, cum_weights=_width_weights(s, ip_max), k=2)
    if s <= 5:
        if mode == "forward":
            t0, t1 = max(t0, 2), max(t1, 2)
        else:
            t0, t1 = min(t0, 3), min(t1, 3)
    w_lo, w_hi = min(t0, t1), max(t0, t1)
    e = min(rng.randint(w_lo, ip_max), rng.randint(w_lo, ip_max))
    e = min(e, w_hi * w_hi)
    return s, n, m, w_lo, w_hi, e


# ---------------------------------------------------------------------------------------------
# structure graph (§3.2)


def _structure(rng: random.Random, w_lo: int, w_hi: int, e: int) -> tuple[int, int, list[tuple[int, int]]]:
    """Return (#containers, #items, sorted container-item links)."""
    sizes = [w_lo, w_lo]  # containers, items
    p = rng.random()
    while sizes[0] < w_hi or sizes[1] < w_hi:
        growable = [k for k in (0, 1) if sizes[k] < w_hi]
        if sizes[0] * sizes[1] < e:
            sizes[rng.choice(growable)] += 1
        elif sizes[1] == e:
            break
        elif rng.random() < p:
            sizes[rng.choice(growable)] += 1
        else:
            break
    n_cont, n_item = sizes
    links: set[tuple[int, int]] = set()
    for item in range(n_item):
        links.add((rng.randrange(n_cont), item))
    empty = [c for c in range(n_cont) if all((c, i) not in links for i in range(n_item))]
    target = min(e, n_cont * n_item)
    fails = 0
    while len(links) < target:
        c = rng.choice(empty) if empty else rng.randrange(n_cont)
        link = (c, rng.randrange(n_item))
        if link in links:
            fails += 1
            if fails > 10 * e:
                raise Reject("structure: too many failed link draws")
            continue
        links.add(link)
        if empty and c in empty:
            empty.remove(c)
    if empty:
        raise Reject("structure: a container has no link")
    return n_cont, n_item, sorted(links)


# ---------------------------------------------------------------------------------------------
# the sampler


class Sampler:
    def __init__(self, rng: random.Random, spec: TaskSpec, ctx: Context, mode: str, tier: int) -> None:
        self.rng = rng
        self.spec = spec
        self.ctx = ctx
        self.mode = mode
        self.tier = tier

    # -- helpers -----------------------------------------------------------------------------
    def _pick_weighted(self, cands: list[int], feeders: set[int]) -> int:
        """Preference for totals and current feeders: weight exp(|z| * (is_total + is_feeder))."""
        z = abs(self.rng.gauss(0.0, 1.0))
        weights = [math.exp(z * ((self.nodes[c].kind == "total") + (c in feeders))) for c in cands]
        return self.rng.choices(cands, weights=weights, k=1)[0]

    def _const(self) -> int:
        return self.rng.randint(*self.spec.const_range)

    def _assign_form(self, node: Node, has_const: bool) -> None:
        """Choose the definition's form from its inputs (``docs/task.md``, "How a problem is sampled")."""
        k = len(node.inputs)
        if k == 0:
            node.const = self._const()
            node.tail = "none"
            return
        if k == 1:
            node.tail = "copy"
        elif k == 2:
            node.tail = "sum2" if self.rng.random() < 0.5 else "diff2"
        else:
            node.tail = "sumk"
        if has_const:
            if self.rng.random() < 0.5:
                node.combine = "plus"
                node.const = self._const()
            else:
                node.combine = "times"
                node.const = self.rng.randint(*self.spec.mult_range)

    # -- §3.2–3.3 ------------------------------------------------------------------------------
    def _build_params(self) -> None:
        s, n, m, w_lo, w_hi, e = _size_params(self.rng, self.tier, self.mode, self.spec.ip_max)
        self.s, self.n, self.m = s, n, m
        n_cont, n_item, links = _structure(self.rng, w_lo, w_hi, e)
        self.shape = (n_cont, n_item)
        # names are drawn only once the attempt's op is accepted (see _name); until then a node's
        # container and item hold layer indices
        self.nodes: list[Node] = []
        self.total_of: dict[int, int] = {}
        for c, i in links:
            self.nodes.append(Node(len(self.nodes), "count", c, i))
        self.n_counts = len(self.nodes)
        for c in range(n_cont):
            tid = len(self.nodes)
            self.nodes.append(Node(tid, "total", c, None, tail="implicit_sum"))
            self.total_of[c] = tid
        for node in self.nodes[: self.n_counts]:
            self.nodes[self.total_of[node.container]].inputs.append(node.id)

    def _name(self) -> None:
        n_cont, n_item = self.shape
        cgroup = self.rng.choice(self.ctx.containers)
        igroup = self.rng.choice(self.ctx.items)
        if n_cont > len(cgroup) or n_item > len(igroup):
            raise Reject("structure wider than the vocabulary")
        cont_names = self.rng.sample(cgroup, n_cont)
        item_names = self.rng.sample(igroup, n_item)
        for node in self.nodes:
            node.container = cont_names[node.container]
            if node.item is not None:
                node.item = item_names[node.item]

    # -- §3.4 necessary graph ------------------------------------------------------------------
    def _skeleton(self) -> set[int]:
        kept: set[int] = set()
        mass = 0
        untried = sorted(self.total_of.values())
        while untried:
            t = untried.pop(self.rng.randrange(len(untried)))
            add = len(self.nodes[t].inputs)
            if mass + add > self.n:
                break
            kept.add(t)
            kept.update(self.nodes[t].inputs)
            mass += add
        spare = [i for i in range(self.n_counts) if i not in kept]
        extra = min(max(self.m - mass - 1, 0), len(spare))
        kept.update(self.rng.sample(spare, extra))
        if not kept:
            kept.add(self.rng.randrange(self.n_counts))
        return kept

    def _order(self, params: set[int]) -> list[int]:
        """Backward topological ordering; may add edges into counts so all feed the last node."""
        # core edges: totals keep their structure inputs; counts start with none
        inputs = {p: list(self.nodes[p].inputs) if self.nodes[p].kind == "total" else [] for p in params}
        consumers: dict[int, set[int]] = {p: set() for p in params}
        for p, ins in inputs.items():
            for q in ins:
                consumers[q].add(p)
        placed: list[int] = []
        placed_set: set[int] = set()

        def free_and_feeders() -> tuple[list[int], set[int]]:
            free, feeders = [], set()
            for p in sorted(params - placed_set):
                cons = consumers[p]
                if cons <= placed_set:
                    free.append(p)
                if cons & placed_set:
                    feeders.add(p)
            return free, feeders

        free, _ = free_and_feeders()
        if self.mode == "reverse" and any(self.nodes[p].kind == "total" for p in free):
            pick = self.rng.choice([p for p in free if self.nodes[p].kind == "total"])
        else:
            pick = self.rng.choice(free)
        while True:
            placed.append(pick)
            placed_set.add(pick)
            if len(placed_set) == len(params):
                break
            free, feeders = free_and_feeders()
            cand = [p for p in free if p in feeders]
            is_count = self.nodes[pick].kind == "count"
            if not cand:
                if not is_count:
                    raise Reject("ordering: a total cannot take a new input")
                src = self._pick_weighted(free, feeders)
                inputs[pick].append(src)
                consumers[src].add(pick)
                cand = [src]
            elif is_count and not inputs[pick] and self.rng.random() < 0.5:
                unplaced = sorted(params - placed_set)
                src = self._pick_weighted(unplaced, feeders)
                inputs[pick].append(src)
                consumers[src].add(pick)
                free, feeders = free_and_feeders()
                cand = [p for p in free if p in feeders]
            pick = self.rng.choice(cand)
        order = placed[::-1]
        if len(order) == 2 and self.rng.random() < 0.5:
            spare = [i for i in range(self.n_counts) if i not in params]
            if spare:
                new = self.rng.choice(spare)
                params.add(new)
                if self.rng.random() < 0.5:  # a new leaf feeding the first node
                    inputs[new] = []
                    inputs[order[0]].append(new)
                    order.insert(0, new)
                else:  # a new consumer of the last node becomes the query
                    inputs[new] = [order[-1]]
                    order.append(new)
        for p in order:
            if self.nodes[p].kind == "count":
                self.nodes[p].inputs = inputs[p]
        return order

    # -- explicit dependencies (budget s) -----------------------------------------------------------
    def _dependencies(self, order: list[int]) -> None:
        pos = {p: k for k, p in enumerate(order)}
        counts = [p for p in order if self.nodes[p].kind == "count"]
        cur = {p: len(self.nodes[p].inputs) for p in counts}
        total_in = sum(len(self.nodes[p].inputs) for p in order if self.nodes[p].kind == "total")
        total_in += sum(cur.values())
        cap = {p: min(3, max(1, pos[p])) for p in counts}
        while total_in < self.s:
            open_ = [p for p in counts if cur[p] < cap[p]]
            if not open_:
                raise Reject("dependencies: no count below its cap")
            p = self.rng.choice(open_)
            cur[p] += 1
            total_in += 1
        for p in counts:
            node = self.nodes[p]
            pool = [CONST, *order[: pos[p]]]
            k = self.rng.choice((1, 2)) if cur[p] == 1 else cur[p] + 1
            k = min(k, len(pool))
            chosen = list(node.inputs)
            for q in chosen:
                if q in pool:
                    pool.remove(q)
                    k -= 1
            has_const = False
            if k > 0:
                if k == len(pool):
                    picks = pool
                else:
                    rest = [q for q in pool if q != CONST]
                    if self.rng.random() < 0.5:
                        has_const = True
                        k -= 1
                    picks = self.rng.sample(rest, k) if k > 0 else []
                for q in picks:
                    if q == CONST:
                        has_const = True
                    elif q not in chosen:
                        chosen.append(q)
            node.inputs = chosen
            self._assign_form(node, has_const)

    # -- §3.5 distractors ------------------------------------------------------------------------
    def _distractors(self, core: set[int]) -> list[int]:
        missing = [i for i in range(self.n_counts) if i not in core]
        self.rng.shuffle(missing)
        if self.spec.distractor_keep < 1.0:
            kept = [i for i in missing if self.rng.random() < self.spec.distractor_keep]
            dropped = set(missing) - set(kept)
            for t in self.total_of.values():  # a dropped link leaves the structure altogether
                self.nodes[t].inputs = [i for i in self.nodes[t].inputs if i not in dropped]
            missing = kept
        in_graph: list[int] = sorted(core, key=lambda i: self._core_pos[i])
        in_graph_set = set(in_graph)
        independent: list[int] = []
        consumers: dict[int, set[int]] = {i: set() for i in range(len(self.nodes))}
        for node in self.nodes:
            if node.kind == "total" or node.id in core:
                for q in node.inputs:
                    consumers[q].add(node.id)
        placed: list[int] = []
        for x in missing:
            node = self.nodes[x]
            if self.rng.random() < 0.5:
                pool = list(independent)
                independent.append(x)
            else:
                totals = [
                    t
                    for t in sorted(self.total_of.values())
                    if t not in in_graph_set and any(q in in_graph_set for q in self.nodes[t].inputs)
                ]
                pool = in_graph + totals
            # no candidate may depend on x (implicit edges: x -> its container's total -> readers)
            banned = _reachable(x, consumers)
            pool = [CONST] + [q for q in pool if q not in banned]
            k = 1
            while k < min(4, len(pool)) and self.rng.random() < 0.5:
                k += 1
            has_const = False
            if k == len(pool):
                picks = pool
            else:
                rest = pool[1:]
                if self.rng.random() < 0.5:
                    has_const = True
                    k -= 1
                picks = self.rng.sample(rest, k) if k > 0 else []
            chosen = []
            for q in picks:
                if q == CONST:
                    has_const = True
                elif q not in chosen:
                    chosen.append(q)
            node.inputs = chosen
            for q in chosen:
                consumers[q].add(x)
            self._assign_form(node, has_const)
            node.role = "distractor"
            in_graph.append(x)
            in_graph_set.add(x)
            placed.append(x)
        return placed

    # -- evaluation ---------------------------------------------------------------------------------
    def _evaluate(self) -> None:
        p = self.spec.modulus
        done: set[int] = set()
        # iterative DFS topological evaluation over everything stated or read
        roots = [n.id for n in self.nodes if n.role != "unused" or n.kind == "total"]
        for root in roots:
            stack = [(root, False)]
            while stack:
                i, expanded = stack.pop()
                if i in done:
                    continue
                node = self.nodes[i]
                if not expanded:
                    stack.append((i, True))
                    stack.extend((q, False) for q in node.inputs if q not in done)
                    continue
                node.value = _combine(node, [self.nodes[q].value for q in node.inputs], p)
                done.add(i)

    def sample(self, target_op: int | None = None) -> Graph:
        """One attempt. With ``target_op``, reject as soon as the core's op is known (saves time)."""
        self._build_params()
        params = self._skeleton()
        order = self._order(params)
        self._core_pos = {p: k for k, p in enumerate(order)}
        self._dependencies(order)
        if target_op is not None and sum(self.nodes[i].in_degree for i in order) != target_op:
            raise Reject("op differs from the target")
        self._name()
        for p in order:
            self.nodes[p].role = "core"
        self._distractors(set(order))
        self._evaluate()
        graph = Graph(self.nodes, order, order[-1], order[-1], None, self.mode, self.spec.modulus)
        self._check_values(graph)
        if self.mode == "reverse":
            _make_reverse(graph)
        return graph

    def _check_values(self, g: Graph) -> None:
        if self.spec.modulus is not None:
            return
        for i in g.order:
            node = self.nodes[i]
            if node.value < 0 or node.value > self.spec.max_value:
                raise Reject("core value out of range")
            if node.value == 0 and node.kind != "total":
                raise Reject("zero core count")
        for node in g.distractors():
            if node.value < 0:
                raise Reject("negative distractor")


def _reachable(start: int, consumers: dict[int, set[int]]) -> set[int]:
    seen = {start}
    stack = [start]
    while stack:
        for c in consumers[stack.pop()]:
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def _combine(node: Node, vals: list, p: int | None):
    """Value of a node from its input values (ints or ``Lin`` forms); reduced mod p if given."""
    tail = node.tail
    if not vals and tail == "implicit_sum":  # a container left with no counts
        return 0
    if tail == "none":
        out = node.const
    elif tail == "diff2":
        out = vals[0] - vals[1]
    elif tail == "copy":
        out = vals[0]
    else:  # sum2, sumk, implicit_sum
        out = vals[0]
        for v in vals[1:]:
            out = out + v
    if node.combine == "plus":
        out = node.const + out if not isinstance(out, Lin) else Lin.const(node.const) + out
    elif node.combine == "times":
        out = out * node.const if not isinstance(out, Lin) else out.scale(node.const)
    if p is not None:
        out = out.mod(p) if isinstance(out, Lin) else out % p
    return out


def _make_reverse(g: Graph) -> None:
    """Hide the latest constant-only count; propagate linear forms; check the root (§6)."""
    cands = [i for i in g.order[:-1] if g.nodes[i].kind == "count" and not g.nodes[i].inputs]
    if not cands:
        raise Reject("reverse: no constant-only count to hide")
    q = cands[-1]
    g.hidden = q
    g.query = q
    below = g.descendants(q)
    if g.final not in below:
        raise Reject("reverse: the final node does not depend on the unknown")
    p = g.modulus
    for i in g.order:
        node = g.nodes[i]
        if i == q:
            node.form = X
        elif i in below:
            vals = [g.nodes[j].form for j in node.inputs]
            node.form = _combine(node, vals, p)
        else:
            node.form = Lin.const(node.value)
    final = g.nodes[g.final].form
    a, b = final.a, final.b
    v = g.nodes[g.final].value
    hidden = g.nodes[q].value
    if p is None:
        if a == 0 or (v - b) % a != 0 or (v - b) // a != hidden:
            raise Reject("reverse: the equation does not give the hidden value")
    else:
        if math.gcd(a % p, p) != 1 or (v - b) * pow(a, -1, p) % p != hidden % p:
            raise Reject("reverse: the equation does not give the hidden value")
