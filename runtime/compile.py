"""From a Graph to a runnable Plan: the optimization pipeline on a copy, then lowering."""
from __future__ import annotations

from graphc.ir import Graph
from graphc.passes.pipeline import optimize

from .gcpause import paused_gc
from .lower import lower
from .plan import Plan, Signature


def compile_graph(g: Graph, opt_level: int = 3, device: str = "cpu", signature: Signature | None = None,
                  replay: bool = False, max_memory: int | None = None) -> Plan:
    """Optimize a copy of `g` at `opt_level` (0..3) and lower it to a Plan for `device` ("cpu" or "gpu").

    `signature` says which inputs are states and which outputs gradients (default: all arguments and
    outputs); `replay` lets a GPU plan replay whole calls as one CUDA graph; a plan whose calls would
    hold more than `max_memory` bytes is refused (ResourceError)."""
    sig = signature or Signature.of(g)
    with paused_gc():
        opt = g.copy()
        optimize(opt, opt_level, device=device)
        _keep_names(g, opt)
        return lower(opt, device, sig, replay, max_memory)


def _keep_names(g: Graph, opt: Graph) -> None:
    """Results that passes replaced (a fused kernel's output for `loss`) keep their names in the plan's graph."""
    for old, new in zip(g.roots(), opt.roots()):
        if old.name is not None and new.name is None and new.kind == "op":
            new.name = old.name
