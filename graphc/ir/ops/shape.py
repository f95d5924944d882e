"""Shape and indexing ops: reshape, broadcast_to, transpose, concat, getitem/setitem, gather/scatter,
repeat, tile, roll, pad."""
from __future__ import annotations

import numpy as np

from .. import attrs as A
from ..errors import DTypeError, GraphcIndexError, ShapeError
from ..graph import const, emit
from ..opdef import OpDef, register
from ..symbols import assume, prod, quotient, same
from .common import add_at, broadcast_shapes, sum_to, zeros

# ---- reshape / broadcast / transpose -----------------------------------------------------------


def _infer_reshape(types, attrs):
    (shape, d), = types
    new = tuple(attrs["shape"])
    if any(type(n) is int and n < 0 for n in new):
        raise ShapeError(f"cannot reshape a tensor of shape {shape} into shape {new}")
    try:
        same(prod(new), prod(shape), f"reshape of {shape} into {new}")
    except ShapeError:
        raise ShapeError(f"cannot reshape a tensor of shape {shape} into shape {new}") from None
    return [(new, d)]


register(OpDef("reshape", "shape", _infer_reshape, lambda xp, x, shape: xp.reshape(x, shape),
               lambda ins, outs, douts, attrs: [emit("reshape", [douts[0]], shape=ins[0].shape)],
               attrs={"shape": A.SHAPE}, view=True))


def _infer_broadcast(types, attrs):
    (shape, d), = types
    new = tuple(attrs["shape"])
    if len(new) < len(shape) or broadcast_shapes(shape, new) != new:
        raise ShapeError(f"cannot broadcast shape {shape} to {new}")
    return [(new, d)]


register(OpDef("broadcast_to", "shape", _infer_broadcast, lambda xp, x, shape: xp.broadcast_to(x, shape),
               lambda ins, outs, douts, attrs: [sum_to(douts[0], ins[0].shape)], attrs={"shape": A.SHAPE}, view=True))


def _infer_transpose(types, attrs):
    (shape, d), = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"permutation {perm} does not fit a tensor of shape {shape}")
    return [(tuple(shape[p] for p in perm), d)]


def _transpose_vjp(ins, outs, douts, attrs):
    inv = tuple(int(i) for i in np.argsort(attrs["perm"]))
    return [emit("transpose", [douts[0]], perm=inv)]


register(OpDef("transpose", "shape", _infer_transpose, lambda xp, x, perm: xp.transpose(x, perm),
               _transpose_vjp, attrs={"perm": A.INTS}, view=True))


# ---- concat -------------------------------------------------------------------------------------

def _infer_concat(types, attrs):
    axis = attrs["axis"]
    s0, d = types[0]
    for s, e in types[1:]:
        if e != d:
            raise DTypeError(f"operands have dtypes {', '.join(str(t[1]) for t in types)}")
        if len(s) != len(s0):
            raise ShapeError(f"shapes {', '.join(str(t[0]) for t in types)} differ off axis {axis}")
        for i, (a, b) in enumerate(zip(s, s0)):
            if i != axis and a != b:
                try:
                    same(a, b, f"concat of {s0} and {s} off axis {axis}")
                except ShapeError:
                    raise ShapeError(f"shapes {', '.join(str(t[0]) for t in types)} differ off axis {axis}") from None
    out = list(s0)
    out[axis] = sum(s[axis] for s, _ in types)
    return [(tuple(out), d)]


def _concat_vjp(ins, outs, douts, attrs):
    axis, grads, start = attrs["axis"], [], 0
    for x in ins:
        stop = start + x.shape[axis]
        spec = (("slice", None, None, None),) * axis + (("slice", start, stop, None),)
        grads.append(emit("getitem", [douts[0]], spec=spec))
        start = stop
    return grads


register(OpDef("concat", "shape", _infer_concat, lambda xp, *xs, axis: xp.concatenate(xs, axis=axis),
               _concat_vjp, arity=None, attrs={"axis": A.AXIS}))


# ---- getitem / setitem --------------------------------------------------------------------------
# spec: a tuple of ("int", i) | ("slice", start, stop, step) | ("none",) | ("array", k), where k names
# the k-th index operand after the tensor. Ellipsis is expanded by the front end.

def build_index(spec, arrays) -> tuple:
    """The NumPy index tuple that a spec describes."""
    out = []
    for item in spec:
        kind = item[0]
        if kind == "int":
            out.append(item[1])
        elif kind == "slice":
            out.append(slice(item[1], item[2], item[3]))
        elif kind == "none":
            out.append(None)
        else:
            out.append(arrays[item[1]])
    return tuple(out)


def _slice_length(size, start, stop, step, axis: int):
    """Elements a slice selects from an axis of `size` (symbolic sizes: guards that the bounds fit)."""
    if step == 0:
        raise GraphcIndexError("slice step cannot be zero")
    if all(type(x) is int or x is None for x in (size, start, stop, step)):
        return len(range(*slice(start, stop, step).indices(size)))
    step = 1 if step is None else step
    if step < 0:
        if start is None and stop is None:
            return size if step == -1 else _ceil_div(size, -step, axis)
        raise GraphcIndexError(f"a reversed slice with bounds of axis {axis} of symbolic size {size} is not "
                               "supported")

    def bound(b, default):
        if b is None:
            return default
        if type(b) is int and b < 0:
            assume("at_least", size, -b, f"slice of axis {axis}")
            return size + b
        if b != size:
            assume("at_least", size, b, f"slice of axis {axis}")
        return b
    lo, hi = bound(start, 0), bound(stop, size)
    if type(lo) is int and type(hi) is int:
        return max(hi - lo, 0) if step == 1 else len(range(lo, hi, step))
    if lo != hi:
        assume("at_least", hi, lo, f"slice of axis {axis}")
    return hi - lo if step == 1 else _ceil_div(hi - lo, step, axis)


def _ceil_div(n, k: int, axis: int):
    return quotient(n + (k - 1), k, f"every {k}th element of axis {axis}")


def index_shape(shape, spec, array_shapes) -> tuple:
    """The shape of x[spec] for x of `shape` (ints or symbolic sizes), as NumPy indexes: integer and array
    indices are advanced indices once any array is present; adjacent ones put their broadcast shape in place,
    separated ones put it first."""
    advanced = any(item[0] == "array" for item in spec)
    parts: list[tuple[str, object]] = []     # ("basic", [dims]) | ("adv", index shape)
    dim = 0
    for item in spec:
        kind = item[0]
        if kind == "none":
            parts.append(("basic", [1]))
            continue
        if dim >= len(shape):
            raise GraphcIndexError(f"too many indices for a tensor of shape {shape}")
        size = shape[dim]
        if kind == "int":
            i = item[1]
            if type(size) is int:
                if not -size <= i < size:
                    raise GraphcIndexError(f"index {i} is out of bounds for axis {dim} with size {size}")
            else:
                assume("at_least", size, i + 1 if i >= 0 else -i, f"index {i} of axis {dim}")
            parts.append(("adv", ()) if advanced else ("basic", []))
        elif kind == "slice":
            parts.append(("basic", [_slice_length(size, item[1], item[2], item[3], dim)]))
        else:
            parts.append(("adv", array_shapes[item[1]]))
        dim += 1
    rest = list(shape[dim:])
    if not advanced:
        return tuple(d for _, dims in parts for d in dims) + tuple(rest)
    try:
        adv = broadcast_shapes(*[a for kind, a in parts if kind == "adv"])
    except ShapeError:
        raise GraphcIndexError("index arrays of shapes " + ", ".join(str(a) for k, a in parts if k == "adv")
                               + " cannot be broadcast together") from None
    at = [i for i, (kind, _) in enumerate(parts) if kind == "adv"]
    basic = [(i, dims) for i, (kind, dims) in enumerate(parts) if kind == "basic"]
    if at == list(range(at[0], at[-1] + 1)):
        out = [d for i, dims in basic if i < at[0] for d in dims] + list(adv) + \
              [d for i, dims in basic if i > at[-1] for d in dims]
    else:
        out = list(adv) + [d for _, dims in basic for d in dims]
    return tuple(out + rest)


def _index_shape(shape, spec, array_types):
    for _, d in array_types:
        if d.kind not in "iu":
            raise DTypeError(f"index arrays must be integers, got {d}")
    return index_shape(shape, spec, [s for s, _ in array_types])


def _infer_getitem(types, attrs):
    (shape, d), *arrays = types
    return [(_index_shape(shape, attrs["spec"], arrays), d)]


def _getitem(xp, x, *arrays, spec):
    return x[build_index(spec, arrays)]


def _getitem_vjp(ins, outs, douts, attrs):
    x, *arrays = ins
    z = zeros(x.shape, douts[0].dtype)
    return [emit("setitem", [z, douts[0], *arrays], spec=attrs["spec"], accumulate=bool(arrays))] + \
        [None] * len(arrays)


register(OpDef("getitem", "index", _infer_getitem, _getitem, _getitem_vjp, arity=None, attrs={"spec": A.SPEC},
               view=True))


def _infer_setitem(types, attrs):
    (shape, d), (vs, vd), *arrays = types
    target = _index_shape(shape, attrs["spec"], arrays)
    if vd != d:
        raise DTypeError(f"value of dtype {vd} assigned into a tensor of dtype {d}")
    if broadcast_shapes(vs, target) != target:
        raise ShapeError(f"value of shape {vs} cannot be assigned to a selection of shape {target}")
    return [(shape, d)]


def _assign_last(xp, out, idx, vals) -> None:
    """out[idx] = vals where the last of repeated indices wins (as MegEngine), on every array module.

    NumPy assigns in order; CuPy's order is undefined, so there the last write to each position is
    picked explicitly.
    """
    if xp is np:
        out[idx] = vals
        return
    pos = xp.arange(out.size).reshape(out.shape)[idx]
    vals = xp.broadcast_to(vals, pos.shape).reshape(-1)
    pos = pos.reshape(-1)
    _, first_of_reversed = xp.unique(pos[::-1], return_index=True)
    keep = pos.size - 1 - first_of_reversed
    out.reshape(-1)[pos[keep]] = vals[keep]


def _setitem(xp, x, v, *arrays, spec, accumulate):
    out = x.copy()
    idx = build_index(spec, arrays)
    if accumulate:
        add_at(xp, out, idx, xp.broadcast_to(v, out[idx].shape))
    elif arrays:
        _assign_last(xp, out, idx, v)
    else:
        out[idx] = v
    return out


def _setitem_vjp(ins, outs, douts, attrs):
    x, v, *arrays = ins
    dy, spec = douts[0], attrs["spec"]
    dx = dy if attrs["accumulate"] else emit("setitem", [dy, zeros(v.shape, dy.dtype), *arrays],
                                             spec=spec, accumulate=False)
    dv = sum_to(emit("getitem", [dy, *arrays], spec=spec), v.shape)
    return [dx, dv] + [None] * len(arrays)


register(OpDef("setitem", "index", _infer_setitem, _setitem, _setitem_vjp, arity=None,
               attrs={"spec": A.SPEC, "accumulate": A.BOOL}))


# ---- gather / scatter along an axis ---------------------------------------------------------------

def _infer_gather(types, attrs):
    (shape, d), (ishape, idt) = types
    axis = attrs["axis"]
    if idt.kind not in "iu":
        raise DTypeError(f"index must be integers, got {idt}")
    if len(ishape) != len(shape) or any(type(a) is int and type(b) is int and a > b
                                        for i, (a, b) in enumerate(zip(ishape, shape)) if i != axis):
        raise ShapeError(f"index of shape {ishape} does not fit input of shape {shape} off axis {axis}")
    return [(ishape, d)]


def _along(xp, index, axis):
    grids = [xp.arange(n).reshape((1,) * i + (n,) + (1,) * (index.ndim - i - 1))
             for i, n in enumerate(index.shape)]
    grids[axis] = index
    return tuple(grids)


def _gather(xp, x, index, axis):
    return x[_along(xp, index, axis)]


def _gather_vjp(ins, outs, douts, attrs):
    x, index = ins
    dy, axis = douts[0], attrs["axis"]
    if (index.shape[axis] == 1 and type(x.shape[axis]) is int
            and index.shape[:axis] + index.shape[axis + 1:] == x.shape[:axis] + x.shape[axis + 1:]):
        # One element picked per line (a cross-entropy's label): dy lands where the position along the axis
        # equals the index. A select of that one-hot mask is elementwise, so it fuses with the ops around it;
        # a scatter-add is a kernel of its own (and on the GPU a stream of atomics).
        positions = np.arange(x.shape[axis], dtype=index.dtype).reshape([-1 if i == axis else 1
                                                                         for i in range(x.ndim)])
        hit = emit("equal", [const(positions, index.dtype), index])
        return [emit("where", [hit, dy, const(0, dy.dtype)]), None]
    z = zeros(x.shape, dy.dtype)
    return [emit("scatter", [z, index, dy], axis=axis, accumulate=True), None]


register(OpDef("gather", "index", _infer_gather, _gather, _gather_vjp, arity=2, attrs={"axis": A.AXIS}))


def _infer_scatter(types, attrs):
    (shape, d), (ishape, idt), (sshape, sd) = types
    _infer_gather(types[:2], attrs)
    if sd != d:
        raise DTypeError(f"source dtype {sd} differs from input dtype {d}")
    if len(sshape) != len(ishape) or any(type(a) is int and type(b) is int and a > b for a, b in zip(ishape, sshape)):
        raise ShapeError(f"index of shape {ishape} does not fit source of shape {sshape}")
    return [(shape, d)]


def _scatter(xp, x, index, src, axis, accumulate):
    out = x.copy()
    idx = _along(xp, index, axis)
    src = src[tuple(slice(0, n) for n in index.shape)]
    if accumulate:
        add_at(xp, out, idx, src)
    else:
        _assign_last(xp, out, idx, src)
    return out


def _scatter_vjp(ins, outs, douts, attrs):
    x, index, src = ins
    dy, axis = douts[0], attrs["axis"]
    dx = dy if attrs["accumulate"] else emit(
        "scatter", [dy, index, zeros(index.shape, dy.dtype)], axis=axis, accumulate=False)
    ds = emit("gather", [dy, index], axis=axis)
    if ds.shape != src.shape:
        pad = tuple((0, s - i) for s, i in zip(src.shape, ds.shape, strict=False))
        ds = emit("pad", [ds], pad_width=pad, value=0.0)
    return [dx, None, ds]


register(OpDef("scatter", "index", _infer_scatter, _scatter, _scatter_vjp, arity=3,
               attrs={"axis": A.AXIS, "accumulate": A.BOOL}))


# ---- repeat / tile / roll / pad ---------------------------------------------------------------------

def _infer_repeat(types, attrs):
    (shape, d), = types
    out = list(shape)
    out[attrs["axis"]] *= attrs["repeats"]
    return [(tuple(out), d)]


def _repeat_vjp(ins, outs, douts, attrs):
    x, = ins
    a, r = attrs["axis"], attrs["repeats"]
    g = emit("reshape", [douts[0]], shape=x.shape[:a] + (x.shape[a], r) + x.shape[a + 1:])
    return [emit("sum", [g], axis=(a + 1,), keepdims=False)]


register(OpDef("repeat", "shape", _infer_repeat,
               lambda xp, x, repeats, axis: xp.repeat(x, repeats, axis=axis), _repeat_vjp,
               attrs={"repeats": A.COUNT, "axis": A.AXIS}))


def _infer_tile(types, attrs):
    (shape, d), = types
    reps = attrs["reps"]
    if len(reps) != len(shape):
        raise ShapeError(f"reps {reps} must have one entry per axis of {shape}")
    return [(tuple(s * r for s, r in zip(shape, reps, strict=False)), d)]


def _tile_vjp(ins, outs, douts, attrs):
    x, = ins
    inter = tuple(v for r, s in zip(attrs["reps"], x.shape, strict=False) for v in (r, s))
    g = emit("reshape", [douts[0]], shape=inter)
    g = emit("sum", [g], axis=tuple(range(0, 2 * x.ndim, 2)), keepdims=False)
    return [g]


register(OpDef("tile", "shape", _infer_tile, lambda xp, x, reps: xp.tile(x, reps), _tile_vjp,
               attrs={"reps": A.SHAPE}))


def _infer_same(types, attrs):
    return [types[0]]


def _roll_vjp(ins, outs, douts, attrs):
    return [emit("roll", [douts[0]], shift=tuple(-s for s in attrs["shift"]), axis=attrs["axis"])]


register(OpDef("roll", "shape", _infer_same, lambda xp, x, shift, axis: xp.roll(x, shift, axis=axis),
               _roll_vjp, attrs={"shift": A.INTS, "axis": A.INTS}))


def _infer_pad(types, attrs):
    (shape, d), = types
    pw = attrs["pad_width"]
    if len(pw) != len(shape) or any(a < 0 or b < 0 for a, b in pw):
        raise ShapeError(f"pad_width {pw} does not fit a tensor of shape {shape}")
    return [(tuple(s + a + b for s, (a, b) in zip(shape, pw, strict=False)), d)]


def _pad_vjp(ins, outs, douts, attrs):
    spec = tuple(("slice", a, a + s, None)
                 for s, (a, _) in zip(ins[0].shape, attrs["pad_width"], strict=True))
    return [emit("getitem", [douts[0]], spec=spec)]


register(OpDef("pad", "shape", _infer_pad,
               lambda xp, x, pad_width, value: xp.pad(x, pad_width, constant_values=value), _pad_vjp,
               attrs={"pad_width": A.PADS, "value": A.NUMBER}))
