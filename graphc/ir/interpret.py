"""One interpreter for graphs: nodes run one by one, in order, each overridable.

It gives a graph its reference semantics (tests' ground truth, a fused node's reference kernel) and is
the walk that constant folding, eager traces and re-recorded backward passes specialize by overriding
`constant` or `run_node`, in the manner of torch.fx's Interpreter.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .graph import Graph, OpNode, Value


class Interpreter:
    """Runs a Graph's nodes in order over an environment Value -> array (or anything run_node returns)."""

    def __init__(self, xp=np) -> None:
        self.xp = xp

    def run(self, g: Graph, feeds: Mapping[Value, object], env: dict | None = None) -> dict:
        """Run every node not already in `env`, given values for g's inputs; return the environment."""
        env = {} if env is None else env
        env.update(feeds)
        for c in g.consts:
            if c not in env:
                env[c] = self.constant(c)
        for n in g.nodes:
            if n.outputs[0] in env:
                continue
            env.update(zip(n.outputs, self.run_node(n, [env[v] for v in n.inputs])))
        return env

    def constant(self, c: Value) -> object:
        """The value a constant stands for."""
        return self.xp.asarray(c.data)

    def run_node(self, n: OpNode, args: list) -> list:
        """One node's outputs (a list) from its operands."""
        r = n.op.kernel(self.xp, *args, **n.attrs)
        return [r] if len(n.outputs) == 1 else list(r)


def evaluate(g: Graph, feeds: Mapping[Value, object], xp=np, env: dict | None = None) -> dict:
    """Run `g` on arrays of module `xp` by the reference semantics; return the environment Value -> array."""
    return Interpreter(xp).run(g, feeds, env)
