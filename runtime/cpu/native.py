"""Small plans as one native call: every node of a plan in one generated C function (a CPython extension).

A training step on small tensors spends its time between kernels: a NumPy call costs about a microsecond
whatever its size, and the line fit's step makes thirteen. Here the whole plan (fused groups, reductions,
matrix products, views, the state updates) becomes loops in one C function that takes the plan's input
arrays and returns its result arrays, the same tuple the generated Python returns, with no Python in between.
Inputs are checked against the plan's shapes (free dimensions bound from them, the plan's size guards
checked); a call whose sizes make the work large returns None, and the caller runs the NumPy plan. Plans
with an op this generator has no C form for keep the NumPy plan.

Every value is contiguous (a transpose or a broadcast is written out); sums, means and products of
matrices accumulate in double (integers in int64); elementwise arithmetic is done in the values' own type
without contraction into fused multiply-adds, as NumPy does it.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import re
import sysconfig
import threading
from collections.abc import Sequence

import numpy as np

from graphc.config import config
from graphc.ir import Graph, OpNode, Value
from graphc.ir.ops.fused import iteration_shape
from graphc.ir.symbols import Dim, prod

from ..sizes import PREFIX, binding_sources
from .c_kernel import C_HELPERS, Unsupported, compiler, load_library

log = logging.getLogger("graphc.runtime")
MAX_WORK = 1 << 15      # elements a call touches (a matrix product: its multiply-adds); beyond, vector loops win

_MEM = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int32_t",
        np.dtype(np.int64): "int64_t", np.dtype(np.bool_): "npy_bool"}
_NPY = {np.dtype(np.float32): "NPY_FLOAT32", np.dtype(np.float64): "NPY_FLOAT64", np.dtype(np.int32): "NPY_INT32",
        np.dtype(np.int64): "NPY_INT64", np.dtype(np.bool_): "NPY_BOOL"}
_COPIES = {"broadcast_to", "transpose"}   # views NumPy makes; here written out


def _mem(dt: np.dtype) -> str:
    try:
        return _MEM[dt]
    except KeyError:
        raise Unsupported(f"dtype {dt} (the native plan takes float32, float64, int32, int64 and bool)") from None


def _reg(dt: np.dtype) -> str:
    """The C type a value has in registers: bools as int (0 or 1)."""
    return "int" if dt == np.bool_ else _mem(dt)


def _acc(node: OpNode) -> str:
    """The accumulator type of a reduction: double for float sums and means, int64 for integer sums, else the
    result's own type (max, min and float products keep NumPy's overflow and NaN behaviour)."""
    out = node.outputs[0].dtype
    if node.op.reduction.ufunc == "add":
        return "double" if out.kind == "f" else "int64_t"
    return _reg(out)


def size(x: int | Dim) -> str:
    """C source of a size: symbols are the function's s_<name> variables."""
    if type(x) is int:
        return str(x) if abs(x) < 1 << 31 else f"{x}LL"
    return "(" + re.sub(r"[A-Za-z_]\w*", lambda m: PREFIX + m.group(0), repr(x)) + ")"


def literal(x: object, dt: np.dtype) -> str:
    """A C constant of dtype dt (floats exactly, as hexadecimal)."""
    if dt.kind == "b":
        return "1" if x else "0"
    if dt.kind in "iu":
        x = int(x)
        if x == np.iinfo(dt).min:
            return f"INT{dt.itemsize * 8}_MIN"
        return f"(({_mem(dt)}){x}LL)"
    x = float(x)
    if x != x:
        return f"(({_mem(dt)})NAN)"
    if x in (float("inf"), float("-inf")):
        return f"(({_mem(dt)}){'-' if x < 0 else ''}INFINITY)"
    return f"(({_mem(dt)}){x.hex()})"


def _strides(shape: Sequence) -> list:
    """Contiguous strides, in elements."""
    out, step = [], 1
    for d in reversed(shape):
        out.append(step)
        step = step * d
    return out[::-1]


def _is_one(d) -> bool:
    return type(d) is int and d == 1


def _read(shape: Sequence, to: Sequence) -> list:
    """Strides reading a contiguous value of `shape` at the positions of an iteration over `to` (broadcast)."""
    pad = len(to) - len(shape)
    st = _strides(shape)
    return [0 if k < pad or (_is_one(shape[k - pad]) and not _is_one(to[k])) else st[k - pad] for k in range(len(to))]


def _nest(extents: Sequence, strides: list[list]) -> tuple[list, list[list]]:
    """Loop extents and per-operand strides with unit extents dropped and adjacent contiguous axes merged."""
    dims: list = []
    cols: list[list] = [[] for _ in strides]
    for k, n in enumerate(extents):
        if _is_one(n):
            continue
        st = [s[k] for s in strides]
        if dims and all(c[-1] == s * n for c, s in zip(cols, st)):
            dims[-1] = dims[-1] * n
            for c, s in zip(cols, st):
                c[-1] = s
            continue
        dims.append(n)
        for c, s in zip(cols, st):
            c.append(s)
    return dims, cols


def _index(strides: list) -> str:
    terms = [f"i{k}" if s == 1 else f"i{k}*{size(s)}" for k, s in enumerate(strides, 1) if s != 0]
    return " + ".join(terms) or "0"


class _Writer:
    """The C function's parts: constants at file scope, scratch buffers, the body's lines."""

    def __init__(self) -> None:
        self.consts: list[str] = []
        self.body: list[str] = []
        self.ptr: dict[Value, str] = {}
        self.scratch: list[tuple[str, int | Dim, str]] = []   # (name, elements, C type)
        self.work: int | Dim = 0
        self.tmp = 0

    def new(self, prefix: str) -> str:
        self.tmp += 1
        return f"{prefix}{self.tmp}"

    def const(self, c: Value) -> str:
        """A constant: a literal when it has one element, else an array at file scope."""
        flat = np.asarray(c.data).reshape(-1)
        if flat.size == 1:
            return literal(flat[0], c.dtype)
        name = self.new("c")
        items = ", ".join(literal(x, c.dtype) for x in flat) or "0"
        self.consts.append(f"static const {_mem(c.dtype)} {name}[{max(flat.size, 1)}] = {{{items}}};")
        return name

    def store(self, v: Value) -> str:
        """Where a computed value lives (its result array's data or a scratch buffer), allocated on first use."""
        if v not in self.ptr:
            name = self.new("b")
            self.scratch.append((name, prod(v.shape), _mem(v.dtype)))
            self.ptr[v] = name
        return self.ptr[v]

    def operand(self, v: Value) -> str:
        """The pointer to an operand's elements (a constant's array, or a literal broadcast by stride 0)."""
        if v in self.ptr:
            return self.ptr[v]
        if v.kind == "const":
            flat = np.asarray(v.data).reshape(-1)
            name = self.const(v)
            if flat.size == 1:   # one element: a one-element array at file scope
                arr = self.new("c")
                self.consts.append(f"static const {_mem(v.dtype)} {arr}[1] = {{{name}}};")
                name = arr
            self.ptr[v] = name
            return name
        raise Unsupported(f"value {v.label()} is read before it is computed")

    # -- loops ---------------------------------------------------------------------------------------------
    def loops(self, extents: Sequence, strides: list[list], inner: list[str], simd: bool = False) -> list[str]:
        """A loop nest over `extents` whose body is `inner`, with idx<k> the index of operand k."""
        dims, cols = _nest(extents, strides)
        lines = ["{"] + [f"{'  ' * d}for (ptrdiff_t i{d} = 0; i{d} < {size(n)}; i{d}++) {{"
                         for d, n in enumerate(dims, 1)]
        pad = "  " * (len(dims) + 1)
        lines += [f"{pad}const ptrdiff_t idx{k} = {_index(c)};" for k, c in enumerate(cols)]
        lines += [pad + ln for ln in inner]
        lines += [f"{'  ' * d}}}" for d in reversed(range(len(dims) + 1))]
        self.work = self.work + prod(extents)
        return lines

    def group(self, shape: tuple, ins: list[Value], outer_ins: list[Value], consts: list[Value],
              nodes: list[OpNode], outs: list[Value], outer_outs: list[Value]) -> None:
        """Loops computing `nodes` elementwise over `shape`: operands read with broadcasting, elementwise
        results stored, reductions accumulated (the fused group's form; a single op is a group of one)."""
        names: dict[Value, str] = {}
        strides: list[list] = []
        inner: list[str] = []
        for v, outer in zip(ins, outer_ins):
            if outer.kind == "const" and outer.data.size == 1 and outer not in self.ptr:
                names[v] = literal(outer.data.reshape(-1)[0], outer.dtype)
                continue
            strides.append(_read(v.shape, shape))
            names[v] = self.new("a")
            inner.append(f"const {_reg(v.dtype)} {names[v]} = {self.operand(outer)}[idx{len(strides) - 1}];")
        for c in consts:
            flat = np.asarray(c.data).reshape(-1)
            if flat.size == 1:
                names[c] = literal(flat[0], c.dtype)
            else:
                strides.append(_read(c.shape, shape))
                names[c] = self.new("a")
                inner.append(f"const {_reg(c.dtype)} {names[c]} = {self.const(c)}[idx{len(strides) - 1}];")
        target = dict(zip(outs, outer_outs))
        before, after = [], []
        for n in nodes:
            out = n.outputs[0]
            if n.op.reduction is not None:
                self._accumulate(n, shape, names[n.inputs[0]], target[out], strides, inner, before, after)
                continue
            expr = _expression(n, [names[v] for v in n.inputs])
            names[out] = self.new("t")
            inner.append(f"const {_reg(out.dtype)} {names[out]} = {expr};")
            if out in target:
                strides.append(_read(out.shape, shape))
                store = f"({names[out]} != 0)" if out.dtype == np.bool_ else names[out]
                inner.append(f"{self.store(target[out])}[idx{len(strides) - 1}] = {store};")
        self.body += before + self.loops(shape, strides, inner) + after

    def _accumulate(self, n: OpNode, shape: tuple, value: str, out: Value, strides: list[list], inner: list[str],
                    before: list[str], after: list[str]) -> None:
        """A reduction inside a group's loop: an accumulator per result element, set to the identity before
        the loop, combined per element, and written (divided by the count for a mean) after it."""
        x = n.inputs[0]
        if tuple(x.shape) != tuple(shape):
            raise Unsupported(f"{n.op.name} of a {list(x.shape)} value inside a loop over {list(shape)}")
        red = n.op.reduction
        axes = {a % len(shape) for a in n.attrs["axis"]} if shape else set()
        kept = tuple(1 if k in axes else d for k, d in enumerate(shape))
        acc, ty, m = self.new("acc"), _acc(n), prod(kept)
        self.scratch.append((acc, m, ty))
        ident = literal(red.identity_value(np.dtype(np.float64) if ty == "double" else out.dtype),
                        np.dtype(np.float64) if ty == "double" else out.dtype)
        before.append(f"for (ptrdiff_t j = 0; j < {size(m)}; j++) {acc}[j] = {ident};")
        strides.append([0 if k in axes else s for k, s in enumerate(_strides(kept))])
        slot, v = f"{acc}[idx{len(strides) - 1}]", f"(({ty}){value})"
        inner.append({"add": f"{slot} += {v};", "multiply": f"{slot} *= {v};",
                      "maximum": f"if (!({slot} >= {v}) && {slot} == {slot}) {slot} = {v};",
                      "minimum": f"if (!({slot} <= {v}) && {slot} == {slot}) {slot} = {v};"}[red.ufunc])
        count = prod([shape[a] for a in axes])
        res = f"{acc}[j] / (double){size(count)}" if red.mean else f"{acc}[j]"
        dst = self.store(out)
        conv = f"({res}) != 0" if out.dtype == np.bool_ else f"({_mem(out.dtype)})({res})"
        after.append(f"for (ptrdiff_t j = 0; j < {size(m)}; j++) {dst}[j] = {conv};")

    # -- nodes ---------------------------------------------------------------------------------------------
    def node(self, n: OpNode) -> None:
        name = n.op.name
        if n.op.family == "fused":
            sub: Graph = n.attrs["subgraph"]
            self.group(tuple(iteration_shape(sub)), sub.inputs, n.inputs, sub.consts, sub.nodes, sub.outputs,
                       n.outputs)
        elif n.op.elementwise or n.op.reduction is not None:   # a group of one
            shape = n.inputs[0].shape if n.op.reduction is not None else n.outputs[0].shape
            self.group(tuple(shape), n.inputs, n.inputs, [], [n], n.outputs, n.outputs)
        elif name == "reshape":
            self.ptr[n.outputs[0]] = self.operand(n.inputs[0])
        elif name in _COPIES:
            self._copy(n)
        elif name == "vdot":
            self._vdot(n)
        elif name == "matmul":
            self._matmul(n)
        elif name == "count":
            x, out = n.inputs[0], n.outputs[0]
            number = prod([x.shape[a % len(x.shape)] for a in n.attrs["axis"]])
            self.body.append(f"{self.store(out)}[0] = ({_mem(out.dtype)}){size(number)};")
        elif name == "concat":
            self._concat(n)
        elif name in ("getitem", "setitem"):
            self._index(n)
        elif name == "gather":
            self._gather(n)
        elif name == "one_hot":
            self._one_hot(n)
        elif name in ("argmax", "argmin"):
            self._arg(n)
        else:
            raise Unsupported(f"op {name} has no native form")

    def _copy(self, n: OpNode) -> None:
        """broadcast_to and transpose, written out."""
        x, out = n.inputs[0], n.outputs[0]
        if n.op.name == "transpose":
            st = _strides(x.shape)
            src = [st[p] for p in n.attrs["perm"]]
        else:
            src = _read(x.shape, out.shape)
        self.body += self.loops(out.shape, [src, _strides(out.shape)],
                                [f"{self.store(out)}[idx1] = {self.operand(x)}[idx0];"])

    def _vdot(self, n: OpNode) -> None:
        a, b = n.inputs
        out = n.outputs[0]
        ty = "double" if out.dtype.kind == "f" else "int64_t"
        acc = self.new("s")
        self.body.append(f"{ty} {acc} = 0;")
        self.body += self.loops(a.shape, [[1], [1]], [f"{acc} += ({ty}){self.operand(a)}[idx0] * "
                                                      f"({ty}){self.operand(b)}[idx1];"])
        self.body.append(f"{self.store(out)}[0] = ({_mem(out.dtype)}){acc};")

    def _matmul(self, n: OpNode) -> None:
        """Batched (broadcast) matrix products, a dot product per result element."""
        a, b = n.inputs
        out = n.outputs[0]
        batch, (m, nn) = out.shape[:-2], out.shape[-2:]
        k = a.shape[-2] if n.attrs["transpose_a"] else a.shape[-1]

        def operand(v: Value, transposed: bool) -> tuple[list, int | Dim, int | Dim]:
            st = _strides(v.shape)
            rows, cols = st[-2:]
            if transposed:
                rows, cols = cols, rows
            pad = len(batch) - (len(v.shape) - 2)
            lead = [0 if j < pad or _is_one(v.shape[j - pad]) and not _is_one(batch[j]) else st[j - pad]
                    for j in range(len(batch))]
            return lead, rows, cols

        la, ra, ca = operand(a, n.attrs["transpose_a"])
        lb, rb, cb = operand(b, n.attrs["transpose_b"])
        ty = "double" if out.dtype.kind == "f" else "int64_t"
        inner = [f"{ty} s = 0;",
                 f"for (ptrdiff_t q = 0; q < {size(k)}; q++) s += ({ty}){self.operand(a)}[idx0 + q*{size(ca)}] * "
                 f"({ty}){self.operand(b)}[idx1 + q*{size(rb)}];",
                 f"{self.store(out)}[idx2] = ({_mem(out.dtype)})s;"]
        self.body += self.loops((*batch, m, nn), [la + [ra, 0], lb + [0, cb], _strides(out.shape)], inner)
        self.work = self.work + prod((*batch, m, nn, k))

    def _concat(self, n: OpNode) -> None:
        out = n.outputs[0]
        axis = n.attrs["axis"] % len(out.shape)
        st = _strides(out.shape)
        offset: int | Dim = 0
        for x in n.inputs:
            dst = f"({self.store(out)} + {size(offset * st[axis])})"
            self.body += self.loops(x.shape, [_strides(x.shape), st], [f"{dst}[idx1] = {self.operand(x)}[idx0];"])
            offset = offset + x.shape[axis]

    def _index(self, n: OpNode) -> None:
        """getitem and setitem with basic indices (ints, slices, new axes): a strided view of x, read out or
        written into a copy of x (added to it with accumulate)."""
        x = n.inputs[0]
        view_shape, base, view = _basic_view(x.shape, n.attrs["spec"], n.op.name)
        src = self.operand(x)
        if n.op.name == "getitem":
            out = n.outputs[0]
            self.body += self.loops(out.shape, [view, _strides(out.shape)],
                                    [f"{self.store(out)}[idx1] = {src}[{size(base)} + idx0];"])
            return
        value, out = n.inputs[1], n.outputs[0]
        dst = self.store(out)
        self.body += self.loops(x.shape, [_strides(x.shape)] * 2, [f"{dst}[idx1] = {src}[idx0];"])
        op = "+=" if n.attrs["accumulate"] else "="
        self.body += self.loops(view_shape, [view, _read(value.shape, view_shape)],
                                [f"{dst}[{size(base)} + idx0] {op} {self.operand(value)}[idx1];"])

    def _gather(self, n: OpNode) -> None:
        """out[..., i, ...] = x[..., index[..., i, ...], ...] along the axis, an index out of range an
        IndexError as NumPy's (negative indices count from the end)."""
        x, index = n.inputs
        out = n.outputs[0]
        axis = n.attrs["axis"] % len(x.shape)
        if any(a != b and not (type(a) is int and type(b) is int) for k, (a, b) in enumerate(zip(index.shape, x.shape))
               if k != axis):   # the index's extent must be known to fit x's (infer checks known sizes)
            raise Unsupported(f"gather of index {index.shape} from {x.shape}")
        st = _strides(x.shape)
        src = [0 if k == axis else s for k, s in enumerate(st)]
        extent = size(x.shape[axis])
        self.body += self.loops(index.shape, [src, _strides(index.shape)], [
            f"int64_t j = (int64_t){self.operand(index)}[idx1];",
            f"if (j < 0) j += {extent};",
            f"if (j < 0 || j >= {extent}) {{ PyErr_Format(PyExc_IndexError, \"gather: index %lld is out of "
            f"bounds for axis {axis} with size %lld\", (long long){self.operand(index)}[idx1], "
            f"(long long){extent}); goto done; }}",
            f"{self.store(out)}[idx1] = {self.operand(x)}[idx0 + j*{size(st[axis])}];"])

    def _one_hot(self, n: OpNode) -> None:
        x, out = n.inputs[0], n.outputs[0]
        classes = n.attrs["num_classes"]
        dst = self.store(out)
        self.body += self.loops(x.shape, [_strides(x.shape)], [
            f"const int64_t c = (int64_t){self.operand(x)}[idx0];",
            f"if (c < 0 || c >= {classes}) {{ PyErr_Format(PyExc_IndexError, \"label %lld is out of range for "
            f"{classes} classes\", (long long)c); goto done; }}",
            f"for (ptrdiff_t q = 0; q < {classes}; q++) {dst}[idx0*{classes} + q] = q == c;"])

    def _arg(self, n: OpNode) -> None:
        """argmax / argmin over one axis or all of them: the first extreme, the first NaN if any (NumPy's)."""
        x, out = n.inputs[0], n.outputs[0]
        axes = sorted({a % len(x.shape) for a in n.attrs["axis"]}) if x.shape else []
        if len(axes) == len(x.shape):
            shape, along = (prod(x.shape),), 0
        elif len(axes) == 1:
            shape, along = x.shape, axes[0]
        else:
            raise Unsupported(f"{n.op.name} over axes {axes}")
        st = _strides(shape)
        kept = [0 if k == along else s for k, s in enumerate(st)]
        outer = [1 if k == along else d for k, d in enumerate(shape)]
        better = ">" if n.op.name == "argmax" else "<"
        src, m = self.operand(x), shape[along] if shape else 1
        self.body += self.loops(outer, [kept, _strides(outer)], [
            "ptrdiff_t best = 0;",
            f"for (ptrdiff_t q = 1; q < {size(m)}; q++) {{",
            f"  const {_reg(x.dtype)} v = {src}[idx0 + q*{size(st[along]) if shape else 0}], "
            f"b = {src}[idx0 + best*{size(st[along]) if shape else 0}];",
            "  if (b != b) break;",
            f"  if (v {better} b || v != v) best = q;",
            "}",
            f"{self.store(out)}[idx1] = (int32_t)best;"])


def _basic_view(shape: tuple, spec: tuple, op: str) -> tuple[list, int | Dim, list]:
    """The shape, the offset and the strides of x[spec] for basic indices as a view of contiguous x."""
    st = _strides(shape)
    dims, strides, base, dim = [], [], 0, 0
    for item in spec:
        kind = item[0]
        if kind == "none":
            dims.append(1)
            strides.append(0)
            continue
        n = shape[dim]
        if kind == "int":
            i = item[1]
            base = base + (i if i >= 0 else n + i) * st[dim]
        elif kind == "slice":
            start, stop, step = item[1:]
            if type(n) is int:
                lo, hi, step = slice(start, stop, step).indices(n)
                dims.append(len(range(lo, hi, step)))
            elif start is None and stop is None and step in (None, 1):
                lo, step = 0, 1
                dims.append(n)
            else:
                raise Unsupported(f"{op}: a bounded slice of an axis of free size {n}")
            base = base + lo * st[dim]
            strides.append(step * st[dim])
        else:
            raise Unsupported(f"{op} with index arrays")
        dim += 1
    return dims + list(shape[dim:]), base, strides + st[dim:]


def _expression(n: OpNode, args: list[str]) -> str:
    """The C expression of an elementwise node over its operands' register names."""
    if n.op.c_expr is None:
        raise Unsupported(f"op {n.op.name} has no C expression")
    operand = n.inputs[-1].dtype
    integral = operand.kind in "iub"
    if integral and n.op.name in ("floor_div", "mod"):
        raise Unsupported(f"integer {n.op.name}: C traps on a zero divisor where NumPy gives 0")
    out = n.outputs[0].dtype
    tmpl = n.op.c_expr.template(integral, n.attrs)
    tmpl = re.sub(r"\bT_OUT\b", "_Bool" if out == np.bool_ else _reg(out), tmpl)
    tmpl = re.sub(r"\bT\b", _reg(operand), tmpl.replace("g_ipow<T>", "g_ipow"))
    attrs = {k: literal(v, np.dtype(np.float64)) for k, v in n.attrs.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return tmpl.format(*args, **attrs)


# ---- the extension module ------------------------------------------------------------------------------

PREAMBLE = r"""#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <tgmath.h>

@HELPERS@
static int64_t g_ipow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : (b == -1 ? ((e & 1) ? -1 : 1) : 0);
  int64_t r = 1;
  while (e) { if (e & 1) r *= b; b *= b; e >>= 1; }
  return r;
}

/* The array for input `name`: o itself when it is a C-contiguous aligned array of the type, else a copy
   (a safe cast); NULL with TypeError when neither. */
static PyArrayObject* take(PyObject* o, int type, int ndim, const char* name, const char* spec) {
  PyArrayObject* a;
  if (PyArray_CheckExact(o) && PyArray_TYPE((PyArrayObject*)o) == type && PyArray_ISCARRAY_RO((PyArrayObject*)o)) {
    Py_INCREF(o);
    a = (PyArrayObject*)o;
  } else {
    a = (PyArrayObject*)PyArray_FROMANY(o, type, 0, 0, NPY_ARRAY_IN_ARRAY);
    if (a == NULL) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "plan input '%s' must be %s, got %R", name, spec, (PyObject*)Py_TYPE(o));
      return NULL;
    }
  }
  if (PyArray_NDIM(a) != ndim) {
    PyErr_Format(PyExc_ValueError, "plan input '%s' must be %s, got %d dimensions", name, spec, PyArray_NDIM(a));
    Py_DECREF(a);
    return NULL;
  }
  return a;
}

static int wrong_shape(PyArrayObject* a, const char* name, const char* spec) {
  PyObject* shape = PyObject_GetAttrString((PyObject*)a, "shape");
  if (shape != NULL) {
    PyErr_Format(PyExc_ValueError, "plan input '%s' must be %s, got shape %R", name, spec, shape);
    Py_DECREF(shape);
  }
  return -1;
}
"""


def _spec(v: Value) -> str:
    return f"{v.dtype}{list(v.shape)}".replace("'", "")


def _cstr(text: str) -> str:
    """A C string literal of text (printable ASCII; others escaped)."""
    out = []
    for ch in text:
        out.append(ch if 32 <= ord(ch) < 127 and ch not in '"\\?' else "".join(f"\\{b:03o}" for b in ch.encode()))
    return '"' + "".join(out) + '"'


def source(g: Graph, name: str) -> tuple[str, list[Value]]:
    """The C source of an extension module `name` whose function plan(*inputs) computes g, and the constants
    it returns as results (set_consts takes their arrays); raises Unsupported when some op or dtype has no
    native form or the work is large."""
    w = _Writer()
    for i, v in enumerate(g.inputs):
        w.ptr[v] = f"x{i}"
        _mem(v.dtype)
    roots = list(g.outputs) + [v for _, v in g.updates]
    results: dict[Value, int] = {}          # computed root -> its result array
    for v in roots:
        if v.kind == "op" and v not in results:
            results[v] = len(results)
    views = {n.outputs[0] for n in g.nodes if n.op.name == "reshape"}
    for v, j in results.items():
        if v not in views:
            w.ptr[v] = f"o{j}"
    for n in g.nodes:
        w.node(n)
    if type(w.work) is int and w.work > MAX_WORK:
        raise Unsupported(f"{w.work} elements of work per call (the native plan takes up to {MAX_WORK})")

    lines = ["static PyObject* run(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {",
             f"  PyArrayObject* in[{max(len(g.inputs), 1)}] = {{0}};",
             f"  PyArrayObject* out[{max(len(results), 1)}] = {{0}};",
             "  PyObject* result = NULL;",
             "  char* scratch = NULL;",
             f"  if (nargs != {len(g.inputs)}) {{",
             f'    PyErr_Format(PyExc_TypeError, "the plan takes {len(g.inputs)} arrays, got %zd", nargs);',
             "    return NULL;", "  }"]
    for i, v in enumerate(g.inputs):
        lines.append(f"  if (!(in[{i}] = take(args[{i}], {_NPY[v.dtype]}, {len(v.shape)}, "
                     f"{_cstr(v.label())}, {_cstr(_spec(v))}))) goto done;")
    for sym, (i, ax) in binding_sources(g).items():
        lines.append(f"  const ptrdiff_t {PREFIX}{sym} = PyArray_DIM(in[{i}], {ax});")
    for sym, (num, div) in g.facts.derived.items():
        lines.append(f"  const ptrdiff_t {PREFIX}{sym} = {size(num)} / {div};")
    for i, v in enumerate(g.inputs):
        for ax, d in enumerate(v.shape):
            lines.append(f"  if (PyArray_DIM(in[{i}], {ax}) != {size(d)}) "
                         f"{{ wrong_shape(in[{i}], {_cstr(v.label())}, {_cstr(_spec(v))}); goto done; }}")
    for gd in g.facts.guards:
        a, b = size(gd.lhs), size(gd.rhs)
        test = {"equal": f"{a} == {b}", "divides": f"{b} != 0 && {a} % {b} == 0", "at_least": f"{a} >= {b}"}
        lines.append(f"  if (!({test[gd.relation]})) {{ PyErr_SetString(PyExc_ValueError, "
                     f"{_cstr('the sizes of the plan inputs break its guard ' + str(gd))}); goto done; }}")
    if type(w.work) is not int:    # large sizes run the NumPy plan (its vector loops and threads)
        lines.append(f"  if ({size(w.work)} > {MAX_WORK}) {{ Py_INCREF(Py_None); result = Py_None; goto done; }}")
    for v, j in results.items():
        dims = ", ".join(size(d) for d in v.shape) or "0"
        lines += [f"  {{ npy_intp dims[] = {{{dims}}};",
                  f"    if (!(out[{j}] = (PyArrayObject*)PyArray_SimpleNew({len(v.shape)}, dims, {_NPY[v.dtype]})))"
                  " goto done; }"]
    offsets, total = [], 0
    for buf, count, ty in w.scratch:
        offsets.append((buf, total, ty))
        total = total + count * 8      # every scratch element gets 8 bytes: aligned for any type
    lines += [f"  scratch = (char*)malloc((size_t){size(total)} + 8);",
              "  if (scratch == NULL) { PyErr_NoMemory(); goto done; }"]
    for i, v in enumerate(g.inputs):
        lines.append(f"  {_mem(v.dtype)}* x{i} = ({_mem(v.dtype)}*)PyArray_DATA(in[{i}]);")
    for v, j in results.items():
        lines.append(f"  {_mem(v.dtype)}* o{j} = ({_mem(v.dtype)}*)PyArray_DATA(out[{j}]);")
    for buf, off, ty in offsets:
        lines.append(f"  {ty}* {buf} = ({ty}*)(scratch + {size(off)});")
    lines += ["  " + ln for ln in w.body]
    for v, j in results.items():
        if v in views:   # a root that is a reshape of another value: its own copy
            lines.append(f"  memcpy(o{j}, {w.ptr[v]}, (size_t){size(prod(v.shape))} * sizeof({_mem(v.dtype)}));")
    index = {v: i for i, v in enumerate(g.inputs)}
    consts = [v for v in dict.fromkeys(roots) if v.kind == "const"]
    first: dict[Value, int] = {}
    lines += [f"  result = PyTuple_New({len(roots)});", "  if (result == NULL) goto done;"]
    for r, v in enumerate(roots):
        if v in first:     # the same value again: the same array
            lines.append(f"  Py_INCREF(PyTuple_GET_ITEM(result, {first[v]})); "
                         f"PyTuple_SET_ITEM(result, {r}, PyTuple_GET_ITEM(result, {first[v]}));")
            continue
        first[v] = r
        if v.kind == "const":   # a fresh copy of the constant (the caller may write to its results)
            lines.append(f"  {{ PyObject* k = PyArray_NewCopy((PyArrayObject*)PyTuple_GET_ITEM(consts, "
                         f"{consts.index(v)}), NPY_CORDER);")
            lines.append(f"    if (k == NULL) {{ Py_CLEAR(result); goto done; }} PyTuple_SET_ITEM(result, {r}, k); }}")
        else:
            obj = f"(PyObject*)out[{results[v]}]" if v in results else f"(PyObject*)in[{index[v]}]"
            lines.append(f"  Py_INCREF({obj}); PyTuple_SET_ITEM(result, {r}, {obj});")
    lines += ["done:", "  free(scratch);",
              f"  for (int k = 0; k < {len(g.inputs)}; k++) Py_XDECREF(in[k]);",
              f"  for (int k = 0; k < {len(results)}; k++) Py_XDECREF(out[k]);",
              "  return result;", "}"]
    module = [
        "static PyObject* set_consts(PyObject* self, PyObject* arg) {",
        "  Py_XSETREF(consts, Py_NewRef(arg));",
        "  Py_RETURN_NONE;",
        "}",
        "static PyMethodDef methods[] = {",
        '  {"plan", (PyCFunction)(void(*)(void))run, METH_FASTCALL, "the plan on its inputs"},',
        '  {"set_consts", set_consts, METH_O, "the constants the plan returns as results"},',
        "  {NULL, NULL, 0, NULL}};",
        f'static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "{name}", NULL, -1, methods}};',
        f"PyMODINIT_FUNC PyInit_{name}(void) {{",
        "  import_array();",
        "  return PyModule_Create(&module);",
        "}"]
    head = ["static PyObject* consts;   /* the constants the plan returns as results, as arrays */"]
    return "\n".join([PREAMBLE.replace("@HELPERS@", C_HELPERS), *w.consts, *head, *lines, *module]) + "\n", consts


# ---- building and tiering --------------------------------------------------------------------------------

def build(g: Graph):
    """The plan function of g compiled to native code: plan(*inputs) -> the result tuple (None when the call's
    sizes make the work large); raises Unsupported when it cannot be built."""
    cc = compiler()
    if cc is None:
        raise Unsupported("no C compiler")
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        raise Unsupported(f"no Python headers in {include} (the python3-dev package)")
    body, consts = source(g, "graphc_native")
    flags = ["-O2", "-fwrapv", "-ffp-contract=off", "-fno-math-errno", f"-I{include}", f"-I{np.get_include()}"]
    key = hashlib.sha256("\0".join([body, cc, *flags, np.__version__,
                                    sysconfig.get_config_var("EXT_SUFFIX") or ""]).encode()).hexdigest()[:20]
    name = f"graphc_native_{key}"

    def load(path: str):
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))
        loader.exec_module(module)
        return module
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    module = load_library(body.replace("graphc_native", name), flags, name + suffix, load)
    module.set_consts(tuple(np.array(c.data, order="C") for c in consts))   # (ascontiguousarray makes 0-d 1-d)
    return module.plan


class Tiered:
    """A small CPU plan's function: the generated NumPy code for its first calls, then (from its
    config.native_after-th call) the native plan when one can be built, else the NumPy code for good.

    It sits where the plan's callers look its function up (plan.env["plan"]) and replaces itself there, so
    the calls after that pay nothing for it. Compiling takes a fraction of a second once (then the kernel cache
    serves it), so functions called a few times never pay it.
    """

    def __init__(self, plan, g: Graph) -> None:
        self.plan, self.env, self.g = plan, plan.env, g
        self.python = plan.numpy_fn
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, *arrays):
        self.calls += 1
        if self.calls >= config.native_after > 0:
            self.promote()
        return self.env["plan"](*arrays) if self.env["plan"] is not self else self.python(*arrays)

    def promote(self) -> None:
        """Install the native plan (or, when it cannot be built, the NumPy code) for the calls to come."""
        with self.lock:
            if self.env["plan"] is not self:
                return
            fn = self.python
            try:
                fn = build(self.g)
                if self.g.symbols():      # large sizes come back as None: the NumPy code runs them
                    fn = _or_else(fn, self.python)
                self.plan.tier = "native"
            except Unsupported as e:
                log.debug("plan stays on NumPy: %s", e)
            self.env["plan"] = fn


def _or_else(native, python):
    def plan(*arrays):
        r = native(*arrays)
        return python(*arrays) if r is None else r
    return plan
