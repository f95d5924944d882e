"""From symbolic sizes to concrete ones: the symbol values a call's arrays give, and a graph at those sizes
(for code generators that bake sizes in, such as CUDA kernels, one variant per size)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .graph import Graph, Value
from .symbols import Dim, evaluate


def bind(values: Sequence[Value], shapes: Sequence[tuple[int, ...]]) -> dict[str, int]:
    """Symbol values under which `values` have `shapes`: read from dimensions that are one symbol (N) or a
    multiple of one plus a constant (784*N, N + 3); raises KeyError for a symbol none of them determines."""
    env: dict[str, int] = {}
    for v, shape in zip(values, shapes):
        for d, n in zip(v.shape, shape):
            if type(d) is int or len(d.symbols) != 1:
                continue
            name = next(iter(d.symbols))
            terms = d.terms
            coeff, const = terms.get((name,), 0), terms.get((), 0)
            if coeff and len(terms) == (2 if const else 1) and (n - const) % coeff == 0:
                env.setdefault(name, (n - const) // coeff)
    return env


def _concrete(x: object, env: Mapping[str, int]) -> object:
    if isinstance(x, Dim):
        return x.evaluate(env)
    if isinstance(x, tuple):
        return tuple(_concrete(v, env) for v in x)
    if isinstance(x, list):
        return [_concrete(v, env) for v in x]
    if isinstance(x, Graph):
        return specialized(x, env)
    return x


def specialized(g: Graph, env: Mapping[str, int]) -> Graph:
    """A copy of `g` with every symbolic size (in shapes and attributes, subgraphs included) evaluated."""
    out = g.copy(shape=lambda s: evaluate(s, env), attr=lambda a: _concrete(a, env))
    out.facts = type(out.facts)()     # every size is known: nothing left to guard or derive
    return out
