"""Graphs in plan files: a Graph as JSON data, and the checked way back.

A graph is {"inputs": [value], "consts": [value + "array"], "nodes": [node], "outputs": [id],
"updates": [[state id, value id]]}, where a value is {"shape", "dtype", "name"} and ids number the values
in order of definition: inputs, constants, then each node's outputs. A node is {"op": registry name,
"attrs": tagged attributes, "in": [id], "out": [value], "loc": "file:line" or null, "role"}. A node may only
read values defined before it, so a decoded graph is acyclic and topologically ordered by construction.

From format 2 a size may be symbolic ("N", "784*N"), and the top graph has "sizes": {"derived": [[name,
numerator, divisor]], "guards": [[relation, lhs, rhs, reason]]}; every symbol is some input's whole
dimension, or derived from earlier ones.
"""
from __future__ import annotations

import numpy as np

from graphc.ir import FORWARD, GRADIENT, REGISTRY, UPDATE, Graph, OpNode, Value, verify
from graphc.ir.ops.fused import group_problem
from graphc.ir.symbols import Dim, Guard

from .attrs import Budget, check_attrs, decode_attr, encode_attr
from .checks import (
    MAX_LIST,
    MAX_SYMBOLS,
    check_dict,
    check_dim,
    check_dtype,
    check_ident,
    check_index,
    check_int,
    check_list,
    check_opt_text,
    check_opt_value_name,
    check_sizes,
    refuse,
)
from .container import ArraySpec

ROLES = (FORWARD, GRADIENT, UPDATE)


def encode_dims(shape: tuple) -> list:
    """A shape as JSON: ints, and symbolic sizes as their canonical text."""
    return [d if type(d) is int else str(d) for d in shape]


def encode_graph(g: Graph, arrays: list[np.ndarray], where: str = "graph", top: bool = True) -> dict:
    """The JSON form of `g`; constants' arrays are appended to `arrays` and referred to by index."""
    ids: dict[Value, int] = {}

    def value(v: Value) -> dict:
        ids[v] = len(ids)
        return {"shape": encode_dims(v.shape), "dtype": str(np.dtype(v.dtype)), "name": v.name}

    def ref(v: Value, what: str) -> int:
        if v not in ids:
            refuse(f"cannot save {where}: {what} reads {v}, which is not defined before it")
        return ids[v]

    inputs = [value(v) for v in g.inputs]
    consts = []
    for v in g.consts:
        consts.append(dict(value(v), array=len(arrays)))
        arrays.append(np.asarray(v.data))
    nodes = []
    for i, n in enumerate(g.nodes):
        at = f"node {i} ({n.op.name})"

        def sub(s: Graph, at: str = at) -> dict:
            return encode_graph(s, arrays, f"{at}'s subgraph", top=False)
        attrs = {k: encode_attr(a, sub, f"{at} attr {k!r}") for k, a in n.attrs.items()}
        ins = [ref(v, at) for v in n.inputs]
        nodes.append({"op": n.op.name, "attrs": attrs, "in": ins, "out": [value(v) for v in n.outputs],
                      "loc": n.loc, "role": n.role})
    out = {"inputs": inputs, "consts": consts, "nodes": nodes,
           "outputs": [ref(v, "an output") for v in g.outputs],
           "updates": [[ref(s, "an update"), ref(v, "an update")] for s, v in g.updates]}
    if top:
        out["sizes"] = {"derived": [[name, str(num), div] for name, (num, div) in g.facts.derived.items()],
                        "guards": [[gd.relation, str(gd.lhs), str(gd.rhs), gd.reason] for gd in g.facts.guards]}
    return out


def ops_used(g: Graph) -> set[str]:
    """Names of the ops `g` uses, subgraphs included."""
    out = set()
    for n in g.nodes:
        out.add(n.op.name)
        sub = n.attrs.get("subgraph") if n.op.family == "fused" else None
        if isinstance(sub, Graph):
            out |= ops_used(sub)
    return out


class GraphDecoder:
    """Decodes the JSON form back into Graphs, checking each field; constants get their arrays later."""

    def __init__(self, specs: list[ArraySpec], declared_ops: set[str], version: int) -> None:
        self.specs = specs
        self.declared_ops = declared_ops
        self.symbolic = version >= 2          # sizes may be symbolic, and the top graph has "sizes"
        self.dims: set[str] = set()           # every symbol a shape or attribute mentions
        self.const_refs: list[tuple[Value, int]] = []   # (constant, array index), for attach()
        self.subgraphs: list[tuple[OpNode, str]] = []

    def graph(self, d: object, where: str = "the graph", fused: bool = False) -> Graph:
        """A Graph from its JSON form (not yet verified: constants have no data yet)."""
        keys = {"inputs", "consts", "nodes", "outputs", "updates"}
        check_dict(d, where, keys | ({"sizes"} if self.symbolic and not fused else set()))
        g = Graph()
        vals: list[Value] = []
        for i, e in enumerate(check_list(d["inputs"], f"{where}'s inputs")):
            v = self._value(e, f"{where}'s input {i}", "input")
            g.inputs.append(v)
            vals.append(v)
        for i, e in enumerate(check_list(d["consts"], f"{where}'s constants")):
            what = f"{where}'s constant {i}"
            check_dict(e, what, {"shape", "dtype", "name", "array"})
            v = self._value({k: e[k] for k in ("shape", "dtype", "name")}, what, "const")
            k = check_index(e["array"], what, len(self.specs))
            s = self.specs[k]
            if s.shape != v.shape or s.dtype != v.dtype:
                refuse(f"{what} is {v.dtype}{list(v.shape)} but its array {k} is {s.dtype}{list(s.shape)}")
            self.const_refs.append((v, k))
            g.consts.append(v)
            vals.append(v)
        for i, e in enumerate(check_list(d["nodes"], f"{where}'s nodes")):
            g.nodes.append(self._node(e, f"{where}'s node {i}", vals, fused))
        g.outputs = [vals[check_index(o, f"{where}'s output {i}", len(vals))]
                     for i, o in enumerate(check_list(d["outputs"], f"{where}'s outputs"))]
        seen = set()
        for i, u in enumerate(check_list(d["updates"], f"{where}'s updates")):
            what = f"{where}'s update {i}"
            if not isinstance(u, list) or len(u) != 2:
                refuse(f"{what} must be a [state, value] pair")
            s = check_index(u[0], what, len(g.inputs))
            if s in seen:
                refuse(f"{what} assigns input {s} a second time")
            seen.add(s)
            g.updates.append((vals[s], vals[check_index(u[1], what, len(vals))]))
        if self.symbolic and not fused:
            self._sizes(d["sizes"], g, where)
        elif self.dims and not fused:
            refuse(f"{where} uses symbolic sizes, which format version 1 does not have")
        return g

    def _sizes(self, d: object, g: Graph, where: str) -> None:
        """The derived symbols and guards, and the check that every symbol used is defined."""
        check_dict(d, f"{where}'s sizes", {"derived", "guards"})
        known = set(g.symbols())
        for i, e in enumerate(check_list(d["derived"], f"{where}'s derived sizes", MAX_SYMBOLS)):
            what = f"{where}'s derived size {i}"
            if not isinstance(e, list) or len(e) != 3:
                refuse(f"{what} must be [name, numerator, divisor]")
            name, num = check_ident(e[0], f"{what}'s name"), self._dim(e[1], what)
            div = check_int(e[2], f"{what}'s divisor", 1, 1 << 32)
            if name in known or len(name) > 64 or not _symbols(num) <= known:
                refuse(f"{what} is defined twice, has too long a name, or uses a size defined after it")
            known.add(name)
            g.facts.derived[name] = (num, div)
        for i, e in enumerate(check_list(d["guards"], f"{where}'s guards", MAX_LIST)):
            what = f"{where}'s guard {i}"
            if not isinstance(e, list) or len(e) != 4 or e[0] not in ("equal", "divides", "at_least"):
                refuse(f"{what} must be [equal | divides | at_least, lhs, rhs, reason]")
            lhs, rhs = self._dim(e[1], what), self._dim(e[2], what)
            if not (_symbols(lhs) | _symbols(rhs)) <= known:
                refuse(f"{what} uses a size no input or derived size defines")
            g.facts.guards.append(Guard(e[0], lhs, rhs, check_opt_text(e[3], f"{what}'s reason") or ""))
        unknown = self.dims - known
        if unknown or len(known) > MAX_SYMBOLS:
            refuse(f"{where} uses sizes {sorted(unknown)[:5]} that no input or derived size defines"
                   if unknown else f"{where} has more than {MAX_SYMBOLS} symbolic sizes")

    def _dim(self, x: object, what: str):
        d = check_dim(x if isinstance(x, str) else x, what)
        self.dims |= _symbols(d)
        return d

    def _value(self, e: object, what: str, kind: str) -> Value:
        check_dict(e, what, {"shape", "dtype", "name"})
        shape = check_sizes(e["shape"], what, self.symbolic)
        for d in shape:
            self.dims |= _symbols(d)
        return Value(shape, check_dtype(e["dtype"], what), kind, check_opt_value_name(e["name"], f"{what}'s name"))

    def _node(self, e: object, what: str, vals: list[Value], fused: bool) -> OpNode:
        check_dict(e, what, {"op", "attrs", "in", "out", "loc", "role"})
        name = e["op"]
        if not isinstance(name, str) or name not in REGISTRY:
            refuse(f"{what} uses op {str(name)[:60]!r}, which this graphc does not know")
        if name not in self.declared_ops:
            refuse(f"{what} uses op {name!r}, which the plan's op set does not list")
        op = REGISTRY[name]
        what = f"{what} ({name})"
        if fused and not op.fusable:
            refuse(f"{what} cannot be part of a fused group")
        ins = [vals[check_index(i, f"{what}'s input", len(vals))]
               for i in check_list(e["in"], f"{what}'s inputs")]
        if not isinstance(e["attrs"], dict):
            refuse(f"{what}'s attributes must be an object")
        budget = Budget()
        attrs = {}
        for k, a in e["attrs"].items():
            if len(k) > 64 or not k.isidentifier():
                refuse(f"{what} has an attribute name that is not an identifier")
            attrs[k] = decode_attr(a, lambda sub, k=k: self._subgraph(sub, name, f"{what}'s subgraph", fused),
                                   f"{what} attribute {k!r}", budget)
            self.dims |= _symbols_in(attrs[k])
        check_attrs(op, attrs, what)
        if op.arity is not None and len(ins) != op.arity:
            refuse(f"{what} has {len(ins)} operands; op {name!r} takes {op.arity}")
        if e["role"] not in ROLES:
            refuse(f"{what} has role {str(e['role'])[:20]!r}, not one of {', '.join(ROLES)}")
        node = OpNode(op, attrs, ins, [], check_opt_text(e["loc"], f"{what}'s location"), e["role"])
        outs = check_list(e["out"], f"{what}'s outputs", MAX_LIST)
        if not outs:
            refuse(f"{what} has no outputs")
        for j, o in enumerate(outs):
            v = self._value(o, f"{what}'s output {j}", "op")
            v.producer, v.index = node, j
            node.outputs.append(v)
            vals.append(v)
        if op.family == "fused":
            self.subgraphs.append((node, what))
        return node

    def _subgraph(self, d: object, opname: str, what: str, inside_fused: bool) -> Graph:
        if REGISTRY[opname].family != "fused" or inside_fused:
            refuse(f"{what}: only fused nodes hold subgraphs, and they do not nest")
        return self.graph(d, what, fused=True)

    def attach(self, arrays: list[np.ndarray]) -> None:
        """Give each constant its array (read after the whole description was checked)."""
        for v, k in self.const_refs:
            v.data = arrays[k]


def _symbols(d: object) -> set[str]:
    return set() if type(d) is int else d.symbols


def _symbols_in(x: object) -> set[str]:
    if isinstance(x, Dim):
        return x.symbols
    if isinstance(x, (tuple, list)):
        return set().union(*(_symbols_in(v) for v in x))
    return set()


def verify_loaded(g: Graph, subgraphs: list[tuple[OpNode, str]]) -> None:
    """graphc.ir.verify on the graph and each fused subgraph, plus what fused nodes need of theirs."""
    for node, what in subgraphs:
        sub: Graph = node.attrs["subgraph"]
        if [v.type for v in sub.inputs] != [v.type for v in node.inputs]:
            refuse(f"{what}'s subgraph inputs do not match the node's inputs")
        _verify(sub, f"{what}'s subgraph")
        # The generated kernels write every elementwise output at every position of one iteration shape:
        # a group of another form would make them write past the end of a smaller buffer.
        why = group_problem(sub)
        if why:
            refuse(f"{what}'s subgraph is not a fused group: {why}")
    _verify(g, "the graph")


def _verify(g: Graph, what: str) -> None:
    try:
        verify(g)
    except Exception as e:   # an op's inference may fail in any way on hostile attributes
        refuse(f"{what} is inconsistent: {_first_line(e)}")


def _first_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return (s[0][:300] if s else type(e).__name__).rstrip(".")
