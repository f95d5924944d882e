"""The optimization pipeline: one explicit ordered list of passes per level."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from graphc.ir import Graph, verify

from .cse import cse
from .dce import dce
from .fold import fold
from .fuse import fuse
from .simplify import simplify

Pass = Callable[[Graph], Graph]

LEVELS: dict[int, list[Pass]] = {
    0: [],
    1: [dce],
    2: [dce, fold, cse, simplify, fold, cse, dce],
    3: [dce, fold, cse, simplify, fold, cse, dce, fuse],
}


def passes_for(level: int) -> list[Pass]:
    """The passes run at an optimization level (0: none ... 3: everything, fusion included)."""
    if level not in LEVELS:
        raise ValueError(f"optimization level must be 0..3, got {level}")
    return LEVELS[level]


def optimize(g: Graph, level: int = 3, check: bool | None = None) -> Graph:
    """Run the level's passes in order (they may modify `g`); `check` verifies after each.

    GRAPHC_PASS_REPORT=1 prints each pass's time and node counts; GRAPHC_VERIFY=1 turns `check` on.
    """
    report = os.environ.get("GRAPHC_PASS_REPORT") == "1"
    if check is None:
        check = os.environ.get("GRAPHC_VERIFY") == "1"
    for p in passes_for(level):
        t0 = time.perf_counter()
        before = len(g.nodes)
        g = p(g)
        if report:
            print(f"[graphc] {p.__name__:9s} {before:6d} -> {len(g.nodes):6d} nodes "
                  f"{1e3 * (time.perf_counter() - t0):8.2f} ms", file=sys.stderr)
        if check:
            verify(g)
    return g
