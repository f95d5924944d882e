"""The optimization pipeline: one explicit ordered list of passes per level."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from graphc.config import config
from graphc.ir import Graph, verify

from .cse import cse
from .dce import dce
from .fold import fold
from .fuse import fuse
from .schedule import schedule
from .simplify import simplify, simplify_keep_sums

Pass = Callable[[Graph], None]   # every pass changes its graph in place

LEVELS: dict[int, list[Pass]] = {
    0: [],
    1: [dce, schedule],
    2: [dce, fold, cse, simplify, fold, cse, dce, schedule],
    3: [dce, fold, cse, simplify, fold, cse, dce, fuse, schedule],
}


# Passes replaced on a device: on the GPU a sum of products is best left to the fused reduction kernel.
DEVICE_VARIANTS: dict[str, dict[Pass, Pass]] = {"gpu": {simplify: simplify_keep_sums}}


def passes_for(level: int, device: str = "cpu") -> list[Pass]:
    """The passes run at an optimization level (0: none ... 3: everything, fusion included) for a device."""
    if level not in LEVELS:
        raise ValueError(f"optimization level must be 0..3, got {level}")
    variants = DEVICE_VARIANTS.get(device, {})
    return [variants.get(p, p) for p in LEVELS[level]]


def optimize(g: Graph, level: int = 3, check: bool | None = None, device: str = "cpu") -> None:
    """Run the level's passes for `device` on `g`, in place; `check` verifies the graph after each.

    config.pass_report (GRAPHC_PASS_REPORT=1) prints each pass's time and node counts; `check` defaults to
    config.verify (GRAPHC_VERIFY=1).
    """
    check = config.verify if check is None else check
    for p in passes_for(level, device):
        t0 = time.perf_counter()
        before = len(g.nodes)
        p(g)
        if config.pass_report:
            print(f"[graphc] {p.__name__:9s} {before:6d} -> {len(g.nodes):6d} nodes "
                  f"{1e3 * (time.perf_counter() - t0):8.2f} ms", file=sys.stderr)
        if check:
            verify(g)
