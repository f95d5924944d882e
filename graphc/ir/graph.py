"""The IR: Values (data nodes) and OpNodes (operator nodes) held in a topologically ordered Graph."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .errors import GraphcError, with_context
from .opdef import get_op
from .printing import format_graph
from .symbols import Dim, Facts, collecting, prod

Shape = tuple[int | Dim, ...]   # a dimension is an int or a symbolic size (graphc/ir/symbols.py)
_ids = itertools.count()

FORWARD, GRADIENT, UPDATE = "forward", "gradient", "update"


class Value:
    """A data node: shape, dtype, and where it comes from (an input, a constant or an op output)."""

    __slots__ = ("shape", "dtype", "producer", "index", "name", "data", "kind", "id")

    def __init__(self, shape: Shape, dtype: np.dtype, kind: str = "op", name: str | None = None,
                 data: np.ndarray | None = None) -> None:
        self.shape = shape
        self.dtype = dtype
        self.kind = kind          # "input" | "const" | "op"
        self.name = name
        self.data = data          # the array of a constant
        self.producer: OpNode | None = None
        self.index = 0
        self.id = next(_ids)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int | Dim:
        """Number of elements (symbolic when the shape is)."""
        return prod(self.shape)

    @property
    def type(self) -> tuple[Shape, np.dtype]:
        """The (shape, dtype) pair."""
        return self.shape, self.dtype

    def label(self) -> str:
        """Short printable name."""
        return self.name or f"%{self.id}"

    def __repr__(self) -> str:
        return f"<Value {self.label()} {self.dtype}{list(self.shape)} {self.kind}>"

    # Operators build new nodes in the graph under construction; vjps are written with them.
    def __add__(self, o): return _bin("add", self, o)
    def __radd__(self, o): return _bin("add", o, self)
    def __sub__(self, o): return _bin("sub", self, o)
    def __rsub__(self, o): return _bin("sub", o, self)
    def __mul__(self, o): return _bin("mul", self, o)
    def __rmul__(self, o): return _bin("mul", o, self)
    def __truediv__(self, o): return _bin("div", self, o)
    def __rtruediv__(self, o): return _bin("div", o, self)
    def __neg__(self): return emit("neg", [self])
    def __pow__(self, o): return _bin("pow", self, o)


class OpNode:
    """An operator node: an OpDef applied to input Values with plain-data attributes."""

    __slots__ = ("op", "attrs", "inputs", "outputs", "loc", "role")

    def __init__(self, op, attrs: dict, inputs: list[Value], outputs: list[Value],
                 loc: str | None, role: str) -> None:
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.outputs = outputs
        self.loc = loc
        self.role = role

    def __repr__(self) -> str:
        ins, outs = [v.label() for v in self.inputs], [v.label() for v in self.outputs]
        return f"<OpNode {self.op.name} {ins} -> {outs}>"


class Graph:
    """Op nodes in topological order, plus inputs, constants, outputs and state updates."""

    def __init__(self) -> None:
        self.nodes: list[OpNode] = []
        self.inputs: list[Value] = []
        self.consts: list[Value] = []
        self.outputs: list[Value] = []
        # State updates (input Value, new Value): parameters and optimizer state assigned by a step.
        self.updates: list[tuple[Value, Value]] = []
        # What symbolic shapes rely on: guards checked before each run, and derived symbols.
        self.facts = Facts()

    def add_input(self, shape: Shape, dtype: np.dtype, name: str | None = None) -> Value:
        """Add a runtime-provided input."""
        v = Value(tuple(shape), np.dtype(dtype), "input", name)
        self.inputs.append(v)
        return v

    def add_const(self, data: np.ndarray, name: str | None = None) -> Value:
        """Add a constant holding `data` (kept by the graph, folded and saved with it)."""
        data = np.asarray(data)
        v = Value(data.shape, data.dtype, "const", name, data)
        self.consts.append(v)
        return v

    def emit(self, opname: str, inputs: Sequence[Value], attrs: dict | None = None, *,
             loc: str | None = None, role: str = FORWARD) -> list[Value]:
        """Append `opname(inputs; attrs)`, inferring output types; errors name the op and `loc`."""
        op = get_op(opname)
        attrs = attrs or {}
        try:
            with collecting(self.facts):
                types = op.infer([v.type for v in inputs], attrs)
        except GraphcError as e:
            raise with_context(e, opname, loc) from None
        node = OpNode(op, attrs, list(inputs), [], loc, role)
        for i, (shape, dtype) in enumerate(types):
            v = Value(tuple(shape), np.dtype(dtype))
            v.producer, v.index = node, i
            node.outputs.append(v)
        self.nodes.append(node)
        return node.outputs

    def append(self, op, attrs: dict, inputs: list[Value], types: list, loc: str | None = None,
               role: str = FORWARD) -> list[Value]:
        """Append a node whose output types are already known (no inference)."""
        node = OpNode(op, attrs, inputs, [], loc, role)
        for i, (shape, dtype) in enumerate(types):
            v = Value(tuple(shape), dtype)
            v.producer, v.index = node, i
            node.outputs.append(v)
        self.nodes.append(node)
        return node.outputs

    def substitute(self, mapping: dict[Value, Value]) -> None:
        """Replace every use of each key by its value (in node inputs, outputs and updates)."""
        if not mapping:
            return

        def m(v: Value) -> Value:
            while v in mapping:
                v = mapping[v]
            return v
        for n in self.nodes:
            n.inputs = [m(v) for v in n.inputs]
        self.outputs = [m(v) for v in self.outputs]
        self.updates = [(s, m(v)) for s, v in self.updates]

    def users(self) -> dict[Value, list[OpNode]]:
        """Map each Value to the nodes reading it."""
        out: dict[Value, list[OpNode]] = {}
        for n in self.nodes:
            for v in n.inputs:
                out.setdefault(v, []).append(n)
        return out

    def roots(self) -> list[Value]:
        """The Values that must be computed: outputs and the new values of state updates."""
        return list(self.outputs) + [v for _, v in self.updates]

    def copy(self, shape: Callable[[Shape], Shape] | None = None, attr: Callable[[object], object] | None = None
             ) -> Graph:
        """A deep copy with fresh Values and nodes (constants share their arrays); `shape` and `attr`, when
        given, map every value's shape and every attribute value on the way (as specialize.specialized does)."""
        g = Graph()
        vm: dict[Value, Value] = {}
        fix = shape or (lambda s: s)
        for v in self.inputs:
            vm[v] = g.add_input(fix(v.shape), v.dtype, v.name)
        for v in self.consts:
            c = Value(v.shape, v.dtype, "const", v.name, v.data)
            g.consts.append(c)
            vm[v] = c
        for n in self.nodes:
            attrs = n.attrs if attr is None else {k: attr(a) for k, a in n.attrs.items()}
            nn = OpNode(n.op, attrs, [vm[v] for v in n.inputs], [], n.loc, n.role)
            for v in n.outputs:
                c = Value(fix(v.shape), v.dtype, "op", v.name)
                c.producer, c.index = nn, v.index
                nn.outputs.append(c)
                vm[v] = c
            g.nodes.append(nn)
        g.outputs = [vm[v] for v in self.outputs]
        g.updates = [(vm[s], vm[v]) for s, v in self.updates]
        g.facts = Facts(list(self.facts.guards), dict(self.facts.derived))
        return g

    def symbols(self) -> list[str]:
        """The free symbols of the inputs' shapes, in order of appearance (each bound from an input at a call)."""
        out: dict[str, None] = {}
        for v in self.inputs:
            for d in v.shape:
                if type(d) is not int:
                    out.update(dict.fromkeys(sorted(d.symbols)))
        return list(out)

    def __str__(self) -> str:
        return format_graph(self)

    def __repr__(self) -> str:
        roles = {}
        for n in self.nodes:
            roles[n.role] = roles.get(n.role, 0) + 1
        parts = ", ".join(f"{k} {v}" for k, v in roles.items())
        return (f"<Graph {len(self.inputs)} inputs, {len(self.nodes)} nodes{' (' + parts + ')' if parts else ''}, "
                f"{len(self.outputs)} outputs, {len(self.updates)} updates>")

    def to_networkx(self):
        """The graph as a networkx.MultiDiGraph of data and operator nodes, as the tutorial draws it (for
        analysis, or `networkx.write_graphml`)."""
        from .nxgraph import to_networkx  # networkx takes 0.2 s to import; only this method needs it
        return to_networkx(self)


# The graph under construction, for Value operators and vjp rules.
_building: list[tuple[Graph, str, str | None]] = []


class building:
    """Context manager: Value operators and `emit()` append to `graph` with this role and location."""

    def __init__(self, graph: Graph, role: str = FORWARD, loc: str | None = None) -> None:
        self.entry = (graph, role, loc)

    def __enter__(self) -> Graph:
        _building.append(self.entry)
        return self.entry[0]

    def __exit__(self, *exc) -> None:
        _building.pop()


def current_graph() -> Graph:
    """The graph that `emit()` appends to."""
    return _building[-1][0]


def emit(opname: str, inputs: Iterable[Value], **attrs) -> Value:
    """Append one single-output op to the graph under construction and return its output."""
    g, role, loc = _building[-1]
    return g.emit(opname, list(inputs), attrs, loc=loc, role=role)[0]


def const(value: object, dtype: np.dtype) -> Value:
    """A constant of the given dtype in the graph under construction."""
    return current_graph().add_const(np.asarray(value, dtype=dtype))


def _bin(opname: str, a: object, b: object) -> Value:
    if not isinstance(a, Value):
        a = const(a, b.dtype)
    if not isinstance(b, Value):
        b = const(b, a.dtype)
    return emit(opname, [a, b])
