"""The collectives of a plan: started without waiting where the schedule puts them, waited for where their
results are first read (see lower.py), after the ranks agreed that they run the same ones.

The agreement happens at a plan's first collective, once per process group: every rank offers a fingerprint of
the collectives the plan will start, in order, with their attributes and operand types (what must match for
the exchanges to pair up; ranks may differ elsewhere, as in the batch size of an uneven split). Ranks that
differ fail at once with both lists, instead of hanging or exchanging mismatched buffers.
"""
from __future__ import annotations

import functools
import hashlib
import threading

from graphc.ir import OpNode
from graphc.ir.ops.collective import Pending, get_world, world


class Collectives:
    """The collectives of one plan in start order; generated code calls `start(k, x)` for the k-th."""

    def __init__(self, nodes: list[OpNode]) -> None:
        self.names = [n.op.name for n in nodes]
        self.sizes = [n.attrs["size"] for n in nodes]
        self.locs = [n.loc for n in nodes]
        self._starts = [functools.partial(n.op.collective, **n.attrs) for n in nodes]
        sigs = [_signature(n) for n in nodes]
        self.key = hashlib.sha256("\n".join(sigs).encode()).hexdigest()
        self.lines = [f"{s}  @ {n.loc or 'no source location'}" for s, n in zip(sigs, nodes)]
        self._agreed = None          # the communicator the ranks last agreed in
        # One call of the plan at a time in this process: the ranks must start collectives in the same order.
        self.lock = threading.RLock()

    def start(self, k: int, x, out=None) -> Pending:
        """Start the k-th collective on operand x, its result into `out` when given (agreeing with the other
        ranks first, once per group)."""
        comm = world(self.sizes[k], self.names[k], self.locs[k])
        if comm is not self._agreed:
            comm.agree(self.key, lambda: self.lines, "a compiled plan's collectives")
            self._agreed = comm
        return self._starts[k](comm, x) if out is None else self._starts[k](comm, x, out=out)

    def capturable(self) -> bool:
        """True when the current process group's collectives can be recorded in a CUDA graph."""
        return bool(get_world().capturable)


def _signature(n: OpNode) -> str:
    """What must match across ranks: the op, its attributes, its operand's type."""
    attrs = ", ".join(f"{k}={v}" for k, v in n.attrs.items())
    x = n.inputs[0]
    return f"{n.op.name}({x.dtype}{list(x.shape)}; {attrs})"
