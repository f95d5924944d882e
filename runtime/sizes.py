"""Sizes known only when a plan runs: binding symbols from the arguments, attributes as generated code,
and buffers sized per call (kept while the sizes stay the same)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from graphc.ir import Graph
from graphc.ir.errors import ShapeError
from graphc.ir.symbols import Dim

PREFIX = "s_"     # generated code names a symbol N as s_N, clear of the plan's own names


def has_dims(x: object) -> bool:
    """True when an attribute value holds a symbolic dimension anywhere."""
    if isinstance(x, Dim):
        return True
    return isinstance(x, (tuple, list)) and any(has_dims(v) for v in x)


def source(x: object) -> str:
    """Python source computing an attribute value from the plan's symbol variables."""
    if isinstance(x, Dim):
        return "(" + re.sub(r"[A-Za-z_]\w*", lambda m: PREFIX + m.group(0), repr(x)) + ")"
    if isinstance(x, tuple):
        return "(" + "".join(source(v) + ", " for v in x) + ")"
    if isinstance(x, list):
        return "[" + ", ".join(source(v) for v in x) + "]"
    return repr(x)


def binding_sources(g: Graph) -> dict[str, tuple[int, int]]:
    """For each free symbol of g's inputs, the (input, axis) it is read from (the first plain occurrence)."""
    out: dict[str, tuple[int, int]] = {}
    for i, v in enumerate(g.inputs):
        for ax, d in enumerate(v.shape):
            if isinstance(d, Dim) and len(d.symbols) == 1:
                name = next(iter(d.symbols))
                if d == Dim.symbol(name):
                    out.setdefault(name, (i, ax))
    missing = set(g.symbols()) - out.keys()
    if missing:
        raise ShapeError(f"symbols {sorted(missing)} appear in the inputs' shapes only inside expressions; each free "
                         "symbol must be some input's whole dimension")
    return out


def binding_lines(g: Graph, arg_names: Sequence[str]) -> list[str]:
    """Generated lines giving every symbol its value: free ones from the arguments' shapes, then derived ones."""
    lines = [f"{PREFIX}{name} = {arg_names[i]}.shape[{ax}]" for name, (i, ax) in binding_sources(g).items()]
    for name, (num, div) in g.facts.derived.items():
        lines.append(f"{PREFIX}{name} = {source(num)} // {div}")
    return lines


class SlotBuffers:
    """One set of a plan's slot buffers (one set per call in flight): those of static shape made at once,
    those whose shape has free sizes made for a call's sizes and kept while the sizes stay."""

    def __init__(self, xp, slots: Sequence[tuple[tuple, object]]) -> None:
        self.xp = xp
        self.held: dict[int, object] = {k: xp.empty(shape, dtype) for k, (shape, dtype) in enumerate(slots)
                                         if not has_dims(shape)}
        self.static = tuple(self.held.values())

    def get(self, slot: int, shape: tuple[int, ...], dtype) -> object:
        """The buffer of `slot` with this shape."""
        b = self.held.get(slot)
        if b is None or b.shape != shape:
            b = self.held[slot] = self.xp.empty(shape, dtype)
        return b
