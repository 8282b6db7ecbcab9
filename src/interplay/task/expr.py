"""A small safe evaluator for trace arithmetic: ``+ - * / ( )``, integers and one-letter variables.

No ``eval``. Values are linear forms ``a*x + b`` with ``Fraction`` coefficients, so the same code
reads forward values (``a = 0``) and reverse-mode forms. Anything else — unknown letters, words,
a product of two x-forms, division by zero, absurd magnitudes or denominators — gives ``None``. Work
is linear in the length of the term (shunting-yard, no recursion, and every intermediate value has a
bounded numerator and denominator, so no single operation grows with the term).
"""

from __future__ import annotations

from fractions import Fraction

from interplay.task.linear import Lin

MAX_DIGITS = 12
MAX_MAGNITUDE = 10**15
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3}


def _tokens(term: str) -> list[str] | None:
    out: list[str] = []
    i, n = 0, len(term)
    while i < n:
        c = term[i]
        if c in " \t\n\r":
            i += 1
        elif c.isdigit() and c.isascii():
            j = i
            while j < n and term[j].isdigit() and term[j].isascii():
                j += 1
            if j - i > MAX_DIGITS:
                return None
            out.append(term[i:j])
            i = j
        elif c.isascii() and c.isalpha():
            if i + 1 < n and term[i + 1].isascii() and term[i + 1].isalpha():
                return None  # a word, not a variable
            out.append(c)
            i += 1
        elif c in "+-*/()":
            out.append(c)
            i += 1
        else:
            return None
    return out


def _apply(op: str, stack: list[Lin]) -> bool:
    if op == "neg":
        if not stack:
            return False
        stack.append(-stack.pop())
        return True
    if len(stack) < 2:
        return False
    v = stack.pop()
    u = stack.pop()
    if op == "+":
        r = u + v
    elif op == "-":
        r = u - v
    elif op == "*":
        if u.a != 0 and v.a != 0:
            return False  # not linear
        r = v.scale(u.b) if u.a == 0 else u.scale(v.b)
    else:  # "/"
        if v.a != 0 or v.b == 0:
            return False
        r = Lin(Fraction(u.a) / v.b, Fraction(u.b) / v.b)
    if abs(r.a) > MAX_MAGNITUDE or abs(r.b) > MAX_MAGNITUDE:
        return False
    if r.a.denominator > MAX_MAGNITUDE or r.b.denominator > MAX_MAGNITUDE:  # 1/3/3/3/...: tiny, huge
        return False
    stack.append(r)
    return True


def evaluate(term: str, env: dict[str, Lin]) -> Lin | None:
    """Value of ``term`` with letters looked up in ``env``; ``None`` if it does not evaluate."""
    bare = term.strip()
    if bare.isdigit() and bare.isascii() and len(bare) <= MAX_DIGITS:  # fast path: a plain number
        return Lin.const(int(bare))
    toks = _tokens(term)
    if not toks:
        return None
    values: list[Lin] = []
    ops: list[str] = []
    expect_operand = True
    for t in toks:
        if t[0].isdigit():
            if not expect_operand:
                return None
            values.append(Lin.const(int(t)))
            expect_operand = False
        elif t.isalpha():
            if not expect_operand or t not in env:
                return None
            values.append(env[t])
            expect_operand = False
        elif t == "(":
            if not expect_operand:
                return None
            ops.append(t)
        elif t == ")":
            if expect_operand:
                return None
            while ops and ops[-1] != "(":
                if not _apply(ops.pop(), values):
                    return None
            if not ops:
                return None
            ops.pop()
        else:
            if expect_operand:
                if t != "-":
                    return None
                ops.append("neg")
                continue
            while ops and ops[-1] != "(" and _PREC[ops[-1]] >= _PREC[t]:
                if not _apply(ops.pop(), values):
                    return None
            ops.append(t)
            expect_operand = True
    if expect_operand:
        return None
    while ops:
        op = ops.pop()
        if op == "(" or not _apply(op, values):
            return None
    return values[0] if len(values) == 1 else None
