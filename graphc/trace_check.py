"""Checked replay, MegEngine's trace behaviour as an option (trace(checked=True) or GRAPHC_TRACE_CHECKED=1).

graphc replays a traced function's compiled plan without running its Python code. MegEngine instead runs the
function on every call and checks that it issues the same ops as the recorded trace. In checked mode graphc
does the same: the function is traced again on every call and each op is compared, as it is applied, with the
op at the same position of the recorded graph; the first difference raises a TraceError. Its message is
MegEngine's ("trace error because operator mismatch", ...); its cause names the op's position, both ops and
both source lines. A function that passes is safe to replay.
"""
from __future__ import annotations

from .ir import Graph, Value
from .ir.errors import TraceError
from .passes.util import frozen


def _describe_inputs(args: list[Value], states: list[tuple[int, Value]]) -> dict[Value, tuple]:
    out: dict[Value, tuple] = {v: ("arg", k) for k, v in enumerate(args)}
    out.update({v: ("state", tid) for tid, v in states})
    return out


def _describe(v: Value, fixed: dict[Value, tuple], position: dict) -> tuple:
    """What a value is, independent of the Value objects: an argument, a state, a constant or an op's output."""
    d = fixed.get(v)
    if d is not None:
        return d
    if v.kind == "const":
        return ("const", v.dtype.str, v.shape, v.data.tobytes())
    return ("op", *position[v])


def _kind(d: tuple) -> str:
    return "internal" if d[0] == "op" else "external"


class Recorded:
    """The recorded trace, as the checker compares against it."""

    def __init__(self, g: Graph, n_args: int, n_out: int, state_ids: list[int]) -> None:
        self.nodes = g.nodes
        self.fixed = _describe_inputs(g.inputs[:n_args], list(zip(state_ids, g.inputs[n_args:])))
        self.position = {v: (i, j) for i, n in enumerate(g.nodes) for j, v in enumerate(n.outputs)}
        self.outputs = [self.describe(v) for v in g.outputs[:n_out]]
        self.updates = {self.describe(s): self.describe(v) for s, v in g.updates}

    def describe(self, v: Value) -> tuple:
        return _describe(v, self.fixed, self.position)


class Checker:
    """Compares a new trace of the function, op by op, with a Recorded one."""

    def __init__(self, recorded: Recorded) -> None:
        self.rec = recorded
        self.checked = 0
        self.position: dict[Value, tuple[int, int]] = {}

    def nodes(self, g: Graph, args: list[Value], states: list[tuple[int, Value]]) -> None:
        """Compare the nodes appended since the last call."""
        fixed = _describe_inputs(args, states)
        for i in range(self.checked, len(g.nodes)):
            n = g.nodes[i]
            if i >= len(self.rec.nodes):
                self._fail("too many instructions", f"the function applies {n.op.name} (at {n.loc}) after the "
                           f"{len(self.rec.nodes)} ops the trace recorded")
            r = self.rec.nodes[i]
            if n.op is not r.op or frozen(n.attrs) != frozen(r.attrs) or len(n.inputs) != len(r.inputs):
                self._fail("operator mismatch", self._ops(i, n, r))
            for k, (a, b) in enumerate(zip(n.inputs, r.inputs)):
                new, old = _describe(a, fixed, self.position), self.rec.describe(b)
                if new != old:
                    self._fail(self._input_reason(new, old), f"operand {k} of " + self._ops(i, n, r))
            self.position.update({v: (i, j) for j, v in enumerate(n.outputs)})
        self.checked = len(g.nodes)

    def finish(self, g: Graph, args: list[Value], states: list[tuple[int, Value]], outputs: list[Value],
               updates: list[tuple[Value, Value]]) -> None:
        """Compare the end of the trace: all ops applied, the same outputs and state updates."""
        self.nodes(g, args, states)
        if self.checked < len(self.rec.nodes):
            r = self.rec.nodes[self.checked]
            self._fail("mismature end", f"the function returned after {self.checked} ops; the trace recorded "
                       f"{len(self.rec.nodes)}, the next being {r.op.name} (at {r.loc})")
        fixed = _describe_inputs(args, states)
        outs = [_describe(v, fixed, self.position) for v in outputs]
        if outs != self.rec.outputs:
            self._fail("data unreadable", "the function returns other values than the recorded trace did")
        upd = {_describe(s, fixed, self.position): _describe(v, fixed, self.position) for s, v in updates}
        if upd != self.rec.updates:
            self._fail("state update mismatch", "the function assigns its states other values than the "
                       "recorded trace did")

    @staticmethod
    def _input_reason(new: tuple, old: tuple) -> str:
        if _kind(new) != _kind(old):
            return f"expect {_kind(old)} node, got {_kind(new)}"
        if new[0] == "const" or old[0] == "const":
            return "tensors not equals"
        return "input id mismatch"

    @staticmethod
    def _ops(i: int, n, r) -> str:
        return f"op {i}: the function applies {n.op.name} (at {n.loc}), the trace recorded {r.op.name} (at {r.loc})"

    @staticmethod
    def _fail(reason: str, detail: str):
        raise TraceError(f"trace error because {reason}") from TraceError(f"checked trace: {detail}")
