"""Parsing a free-form solution trace (model output or gold text) back into a graph.

The grammar and the parsing rules are described in ``docs/task.md`` ("The verifier").

Deterministic, ``eval``-free, never raises on any string, and linear in the input length: blocks are
found with ``str.find``, each clause is scanned once, and a parent set is capped at ``MAX_PARENTS``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import NamedTuple

from interplay.task.expr import MAX_DIGITS, evaluate
from interplay.task.linear import Lin, X

MAX_PARENTS = 64  # no gold node has more; keeps transitive parent unions bounded
_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
_ASCII_LETTERS = frozenset(string.ascii_letters)
_NUMBER = re.compile(r"-?\d{1,12}(?!\d)")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (the hot path's largest cost)


class ParsedNode(NamedTuple):
    name: str
    parents: frozenset[str]
    value: Lin | None


@dataclass(slots=True)
class Parsed:
    nodes: dict[str, ParsedNode] = field(default_factory=dict)
    answer: str | None = None


def normalise_answer(s: str) -> str:
    s = s.strip()
    while s.endswith("."):
        s = s[:-1].rstrip()
    return s


def extract_answer(text: str) -> str | None:
    """``<answer> N </answer>``; else what follows an unclosed ``<answer>``; else ``Answer: N``."""
    i = text.find("<answer>")
    if i >= 0:
        j = text.find("</answer>", i)
        body = text[i + len("<answer>") : j if j >= 0 else len(text)]
        return normalise_answer(body)
    i = text.rfind("Answer:")
    if i >= 0:
        body = text[i + len("Answer:") :]
        cut = body.find("<")
        return normalise_answer(body if cut < 0 else body[:cut])
    return None


def solution_text(text: str) -> str:
    """The trace part of a full text or of a completion that starts after ``<solution>``."""
    start = text.find("<solution>")
    start = 0 if start < 0 else start + len("<solution>")
    end = len(text)
    for stop in ("</solution>", "<answer>", "Answer:"):
        j = text.find(stop, start)
        if 0 <= j < end:
            end = j
    body = text[start:end]
    k = body.find("We know")  # reverse-mode trailer: the equation, not a step
    return body if k < 0 else body[:k]


def _bounded(s: frozenset[str]) -> frozenset[str]:
    return s if len(s) <= MAX_PARENTS else frozenset(sorted(s)[:MAX_PARENTS])


def parse(text: str) -> Parsed:
    """Graph of a trace: one node per ``Define NAME as L;`` block, keyed by NAME."""
    out = Parsed(answer=extract_answer(text))
    env: dict[str, Lin] = {}  # letter -> value
    origin: dict[str, frozenset[str]] = {}  # letter -> the names it stands for
    # "Define " cannot overlap itself, so split() cuts exactly at each occurrence, left to right
    for block in solution_text(text).split("Define ")[1:]:
        _parse_block(block, env, origin, out)
    return out


def _parse_block(block: str, env: dict[str, Lin], origin: dict[str, frozenset[str]], out: Parsed) -> None:
    # "NAME as L; clause; clause ..." (or the misspelt " a "): split off the name and the letter
    i, sep = block.find(" as "), 4
    if i <= 0:
        i, sep = block.find(" a "), 3
        if i <= 0:
            return
    name = block[:i].strip()
    rest = block[i + sep :]
    semi = rest.find(";")
    if semi >= 0:
        letter, body = rest[:semi].strip().rstrip(".").strip(), rest[semi + 1 :]
    else:
        letter, body = rest.strip().rstrip(".").strip(), ""
    is_letter = letter in _ASCII_LETTERS
    if is_letter and letter in "xX":
        env[letter] = X  # the unknown of a reverse-mode problem, unless a clause binds it
    node_value: Lin | None = None
    node_parents: frozenset[str] = frozenset()
    bound = False
    for clause in body.split(";"):
        if "=" not in clause:
            continue
        parts = clause.strip().rstrip(".").split("=")
        lhs = parts[0].strip()
        if lhs[:3] == "so ":
            lhs = lhs[3:].lstrip()
        if lhs not in _ASCII_LETTERS:
            continue
        parents: frozenset[str] = frozenset()
        if origin:
            for m in _LETTER.findall(parts[1]):
                got = origin.get(m)
                if got:
                    if parents:
                        got = parents | got
                        if len(got) > MAX_PARENTS:
                            got = _bounded(got)
                    parents = got
        value = None
        for term in reversed(parts[1:]):
            bare = term.strip()
            if bare.isdigit() and bare.isascii() and len(bare) <= MAX_DIGITS:  # evaluate's fast path
                value = _new(Lin, (0, int(bare)))
                break
            value = evaluate(term, env)
            if value is not None:
                break
        if value is not None:
            env[lhs] = value
        else:
            env.pop(lhs, None)
        origin[lhs] = parents
        if lhs == letter:
            node_value, node_parents, bound = value, parents, True
    if not bound:
        if is_letter and letter in "xX":
            node_value = X
        else:
            nums = _NUMBER.findall(body)
            node_value = Lin.const(int(nums[-1])) if nums else None
    if is_letter:
        origin[letter] = frozenset((name,))
        if node_value is not None:
            env[letter] = node_value
        else:
            env.pop(letter, None)
    out.nodes[name] = _new(ParsedNode, (name, node_parents, node_value))
