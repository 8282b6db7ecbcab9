"""Linear forms ``a*x + b`` in one unknown: the values of reverse-mode problems.

Forward-mode values are forms with ``a = 0``. Coefficients are ``int`` in the generator and
``Fraction`` in the parser (model output may divide). With a modulus ``p`` every comparison is mod p.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

Number = int | Fraction
_new = tuple.__new__  # NamedTuple construction without the Python-level __new__ (hot in the verifier)


class Lin(NamedTuple):
    """``a*x + b``; a tuple for speed (the verifier builds many)."""

    a: Number
    b: Number

    @staticmethod
    def const(b: Number) -> Lin:
        return _new(Lin, (0, b))

    @property
    def is_const(self) -> bool:
        return self.a == 0

    def __add__(self, other: Lin) -> Lin:
        return _new(Lin, (self.a + other.a, self.b + other.b))

    def __sub__(self, other: Lin) -> Lin:
        return _new(Lin, (self.a - other.a, self.b - other.b))

    def __neg__(self) -> Lin:
        return _new(Lin, (-self.a, -self.b))

    def scale(self, c: Number) -> Lin:
        return _new(Lin, (self.a * c, self.b * c))

    def mod(self, p: int | None) -> Lin:
        if p is None:
            return self
        return Lin(mod_number(self.a, p), mod_number(self.b, p))

    def format(self) -> str:
        """``x + 4``, ``-x``, ``4*x - 3``, ``7`` (integers only)."""
        a, b = int(self.a), int(self.b)
        if a == 0:
            return str(b)
        head = "x" if a == 1 else "-x" if a == -1 else f"{a}*x"
        if b == 0:
            return head
        return f"{head} + {b}" if b > 0 else f"{head} - {-b}"


X = Lin(1, 0)


def mod_number(v: Number, p: int) -> int | None:
    """``v`` reduced mod p; a fraction needs its denominator invertible mod p, else ``None``."""
    if isinstance(v, Fraction):
        num, den = v.numerator, v.denominator
        try:
            return num * pow(den, -1, p) % p
        except ValueError:
            return None
    return v % p


def same_value(u: Lin | None, v: Lin | None, modulus: int | None, tol: float = 1e-6) -> bool:
    """Equality of two values: mod p when modular, else within ``tol``. ``None`` never equals."""
    if u is None or v is None:
        return False
    if modulus is not None:
        ua, ub, va, vb = (mod_number(t, modulus) for t in (u.a, u.b, v.a, v.b))
        if None in (ua, ub, va, vb):
            return False
        return ua == va and ub == vb
    return abs(u.a - v.a) <= tol and abs(u.b - v.b) <= tol
