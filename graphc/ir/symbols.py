"""Symbolic dimensions: a size known only at run time (a batch of N), and the facts a graph relies on.

A dimension is an int or a `Dim`: a polynomial with integer coefficients over named symbols (`N`, `784*N`,
`N + 3`), kept in a canonical form so that equal sizes compare equal. Every symbol stands for an integer
>= 1. Symbols are free (bound from an input's shape at each call) or derived (`D = (3*N) // 2`, defined on
the graph). Shape inference that can only proceed by assuming something about the sizes (two symbols equal,
a symbol equal to a constant, a size divisible by another) records a `Guard`; a traced plan is reused only
while its guards hold.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import GraphcError, ShapeError
from .location import user_location

Monomial = tuple[str, ...]


class SymbolicSizeError(GraphcError, TypeError):
    """A symbolic size was used where its value is needed (a Python int, a comparison)."""


          # sorted symbol names, with repetition for powers; () is the constant term


class Dim:
    """A symbolic size: sum of coefficient * product-of-symbols terms (never a plain constant: that is an int)."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: Mapping[Monomial, int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c}
        self._hash = hash(frozenset(self.terms.items()))

    @staticmethod
    def symbol(name: str) -> Dim:
        """The size named `name`."""
        if not _NAME.fullmatch(name):
            raise ShapeError(f"a dimension name must be an identifier, got {name!r}")
        return Dim({(name,): 1})

    @property
    def symbols(self) -> set[str]:
        """The names it depends on."""
        return {s for m in self.terms for s in m}

    def evaluate(self, env: Mapping[str, int]) -> int:
        """Its value when each symbol has the value `env` gives."""
        total = 0
        for m, c in self.terms.items():
            for s in m:
                c *= env[s]
            total += c
        return total

    # ---- arithmetic (results in canonical form; a constant result is an int) -------------------------------
    def __add__(self, o: object) -> int | Dim:
        if not isinstance(o, (int, Dim)):
            return NotImplemented
        terms = dict(self.terms)
        for m, c in _terms(o).items():
            terms[m] = terms.get(m, 0) + c
        return canonical(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim({m: -c for m, c in self.terms.items()})

    def __sub__(self, o: object) -> int | Dim:
        if not isinstance(o, (int, Dim)):
            return NotImplemented
        return self + (-o)

    def __rsub__(self, o: object) -> int | Dim:
        return (-self) + o

    def __mul__(self, o: object) -> int | Dim:
        if not isinstance(o, (int, Dim)):
            return NotImplemented
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in _terms(o).items():
                m = tuple(sorted(m1 + m2))
                terms[m] = terms.get(m, 0) + c1 * c2
        return canonical(terms)

    __rmul__ = __mul__

    def __eq__(self, o: object) -> bool:
        return isinstance(o, Dim) and o.terms == self.terms

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        def term(m: Monomial, c: int) -> str:
            names = "*".join(m)
            return str(c) if not m else names if c == 1 else f"-{names}" if c == -1 else f"{c}*{names}"
        order = sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), mc[0]))
        text = " + ".join(term(m, c) for m, c in order)
        return text.replace("+ -", "- ")

    __str__ = __repr__

    # A symbolic size has no value while tracing: using it as a Python number is a mistake worth naming.
    def _unknown(self, *_) -> int:
        raise SymbolicSizeError(f"the size {self} is only known when the traced function runs (at "
                                f"{user_location()}); use it in graphc ops (reshape, zeros, ...) or give this "
                                "dimension a fixed size (trace without symbolic_shape / dynamic_axes for it)")

    __index__ = __int__ = __float__ = __lt__ = __le__ = __gt__ = __ge__ = _unknown

    def __bool__(self) -> bool:
        return True          # every symbol is >= 1, and so is every size built from them here


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _terms(x: int | Dim) -> dict[Monomial, int]:
    return x.terms if isinstance(x, Dim) else {(): x}


def canonical(terms: Mapping[Monomial, int]) -> int | Dim:
    """A Dim, or the int it is when no symbol is left."""
    terms = {m: c for m, c in terms.items() if c}
    if all(not m for m in terms):
        return terms.get((), 0)
    return Dim(terms)


def is_static(shape: Iterable) -> bool:
    """True when every dimension is an int."""
    return all(type(d) is int for d in shape)


def prod(dims: Iterable[int | Dim]) -> int | Dim:
    """The product of sizes (an int when they all are)."""
    out: int | Dim = 1
    for d in dims:
        out = out * d
    return out


def evaluate(shape: Iterable[int | Dim], env: Mapping[str, int]) -> tuple[int, ...]:
    """A concrete shape."""
    return tuple(d if type(d) is int else d.evaluate(env) for d in shape)


def exact_quotient(a: int | Dim, b: int | Dim) -> int | Dim | None:
    """a / b when it divides exactly as polynomials (784*N / 784 = N, N*M / N = M), else None."""
    if type(a) is int and type(b) is int:
        return a // b if b and a % b == 0 else None
    if type(b) is int:
        if b == 0 or any(c % b for c in _terms(a).values()):
            return None
        return canonical({m: c // b for m, c in _terms(a).items()})
    if len(b.terms) != 1:
        return a // b if a == b else None
    (mb, cb), = b.terms.items()
    out = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return canonical(out)


def parse(text: str) -> int | Dim:
    """The dimension a canonical text stands for ("784*N", "N - 1", "3"); raises ValueError otherwise."""
    if not isinstance(text, str) or len(text) > 256 or not re.fullmatch(r"[A-Za-z0-9_*+\- ]+", text):
        raise ValueError(f"not a dimension: {text!r}")
    total: int | Dim = 0
    for sign, body in re.findall(r"([+-]?)\s*([^+-]+)", text.replace(" ", "")):
        factors = body.split("*")
        term: int | Dim = -1 if sign == "-" else 1
        for f in factors:
            if f.isdigit():
                term = term * int(f)
            elif _NAME.fullmatch(f):
                term = term * Dim.symbol(f)
            else:
                raise ValueError(f"not a dimension: {text!r}")
        total = total + term
    if repr(total) != text and str(total) != text:
        raise ValueError(f"not a dimension in canonical form: {text!r} (it would be {total})")
    return total


# ---- guards -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Guard:
    """A fact about sizes the graph relies on: lhs == rhs, lhs % rhs == 0 (divides) or lhs >= rhs (at_least)."""

    relation: str                 # "equal" | "divides" | "at_least"
    lhs: int | Dim
    rhs: int | Dim
    reason: str                   # what relied on it, e.g. "add: N against 784"

    def holds(self, env: Mapping[str, int]) -> bool:
        """True when the fact holds for these symbol values."""
        a, b = (x if type(x) is int else x.evaluate(env) for x in (self.lhs, self.rhs))
        if self.relation == "equal":
            return a == b
        if self.relation == "divides":
            return b != 0 and a % b == 0
        return a >= b

    def __str__(self) -> str:
        op = {"equal": "==", "divides": "% {} == 0", "at_least": ">="}[self.relation]
        fact = f"{self.lhs} % {self.rhs} == 0" if self.relation == "divides" else f"{self.lhs} {op} {self.rhs}"
        return f"{fact} ({self.reason})"


@dataclass
class Facts:
    """What a graph's shapes rely on: guards, and derived symbols (name -> (numerator, divisor), the symbol
    being numerator // divisor), in the order they were made."""

    guards: list[Guard] = field(default_factory=list)
    derived: dict[str, tuple[int | Dim, int]] = field(default_factory=dict)

    def bind(self, free: Mapping[str, int]) -> dict[str, int]:
        """Every symbol's value from the free ones'."""
        env = dict(free)
        for name, (num, div) in self.derived.items():
            env[name] = (num if type(num) is int else num.evaluate(env)) // div
        return env

    def failed(self, env: Mapping[str, int]) -> Guard | None:
        """The first guard that does not hold, or None."""
        return next((g for g in self.guards if not g.holds(env)), None)


_collectors: list[Facts] = []


class collecting:
    """Context manager: record the guards and derived symbols shape inference makes inside the block into
    `into` (a class rather than a generator: every node a trace records enters one)."""

    __slots__ = ("into",)

    def __init__(self, into: Facts) -> None:
        self.into = into

    def __enter__(self) -> Facts:
        _collectors.append(self.into)
        return self.into

    def __exit__(self, *exc) -> None:
        _collectors.pop()


def assume(relation: str, lhs: int | Dim, rhs: int | Dim, reason: str) -> None:
    """Record that the graph relies on `lhs relation rhs` (checked before each run of its plan)."""
    g = Guard(relation, lhs, rhs, reason)
    if _collectors and g not in _collectors[-1].guards:
        _collectors[-1].guards.append(g)


def same(a: int | Dim, b: int | Dim, reason: str) -> int | Dim:
    """a, where a and b must be the same size: equal ints pass, unequal ints raise, symbols make a guard."""
    if a == b:
        return a
    if type(a) is int and type(b) is int:
        raise ShapeError(f"sizes {a} and {b} differ ({reason})")
    assume("equal", a, b, reason)
    return a if type(b) is not int else b


def quotient(a: int | Dim, b: int | Dim, reason: str) -> int | Dim:
    """a / b, which must divide: exactly as polynomials when it can, else a new derived symbol a // b with a
    guard that b divides a (an error when a constant b does not divide a constant a)."""
    if b == 0:
        raise ShapeError(f"{a} cannot be divided into parts of size 0 ({reason})")
    q = exact_quotient(a, b)
    if q is not None:
        return q
    if type(a) is int and type(b) is int:
        raise ShapeError(f"{a} is not divisible by {b} ({reason})")
    if type(b) is not int or not _collectors:
        raise ShapeError(f"the size {a} / {b} is not a whole number for every {', '.join(sorted(_names(a, b)))} "
                         f"({reason})")
    facts = _collectors[-1]
    assume("divides", a, b, reason)
    for name, definition in facts.derived.items():
        if definition == (a, b):
            return Dim.symbol(name)
    name = f"_q{len(facts.derived)}"
    facts.derived[name] = (a, b)
    return Dim.symbol(name)


def _names(*dims: int | Dim) -> set[str]:
    return {s for d in dims if type(d) is not int for s in d.symbols}
