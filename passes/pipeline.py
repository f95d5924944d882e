"""The optimization pipeline: one explicit ordered list of passes per level."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from graphc.ir import Graph, verify

Pass = Callable[[Graph], Graph]


def passes_for(level: int) -> list[Pass]:
    """The passes run at an optimization level (0: none ... 3: everything)."""
    return []


def optimize(g: Graph, level: int = 3, check: bool = False) -> Graph:
    """Run the level's passes in order (they may modify `g`); `check` verifies after each."""
    report = os.environ.get("GRAPHC_PASS_REPORT") == "1"
    for p in passes_for(level):
        t0 = time.perf_counter()
        before = len(g.nodes)
        g = p(g)
        if report:
            print(f"[graphc] {p.__module__}.{p.__name__}: {before} -> {len(g.nodes)} nodes "
                  f"in {1e3 * (time.perf_counter() - t0):.2f} ms", file=sys.stderr)
        if check:
            verify(g)
    return g
