"""Shape functions: reshape, flatten, transpose, swapaxes, broadcast_to, expand_dims, squeeze, concat, stack,
split, gather, scatter, repeat, tile, roll, pad, diag, meshgrid, cumsum."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir.dtypes import int32, promote
from ..ir.errors import ArgumentError, AxisError, GraphcError, ShapeError, with_context
from ..ir.location import user_location
from ..ir.ops.common import normalize_axes, normalize_axis
from ..tensors import Tensor, _ints, apply1, as_tensor, cast
from .indexing import check_index


def _fail(op: str, err: GraphcError):
    raise with_context(err, op, user_location()) from None


def reshape(inp, target_shape) -> Tensor:
    """The same elements in a new shape; one entry may be -1."""
    return as_tensor(inp).reshape(target_shape)


def flatten(inp, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes start_axis..end_axis into one."""
    x = as_tensor(inp)
    if x.ndim == 0:
        return reshape(x, (1,))
    try:
        s, e = normalize_axis(start_axis, x.ndim), normalize_axis(end_axis, x.ndim)
    except AxisError as err:
        _fail("flatten", err)
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1:])


def transpose(inp, pattern) -> Tensor:
    """Permute axes by `pattern`."""
    return as_tensor(inp).transpose(pattern)


def broadcast_to(inp, shape) -> Tensor:
    """Broadcast to a shape (NumPy rules); a None size keeps the input's size there (aligned from the end)."""
    x = as_tensor(inp)
    sizes = list(shape) if isinstance(shape, (list, tuple)) else None
    if sizes is not None and any(s is None for s in sizes):
        lead = len(sizes) - x.ndim
        if any(s is None and i < lead for i, s in enumerate(sizes)):
            _fail("broadcast_to", ShapeError(f"a None size in {tuple(sizes)} has no axis of shape {x.shape} "
                                             "to keep"))
        shape = [x.shape[i - lead] if s is None else s for i, s in enumerate(sizes)]
    shape = _ints(shape, "broadcast_to")
    return x if shape == x.shape else apply1("broadcast_to", [x], shape=shape)


def expand_dims(inp, axis) -> Tensor:
    """Insert axes of length one at the given positions of the result."""
    x = as_tensor(inp)
    axes = [axis] if isinstance(axis, int) else list(axis)
    nd = x.ndim + len(axes)
    try:
        axes = sorted(normalize_axis(a, nd) for a in axes)
    except AxisError as err:
        _fail("expand_dims", err)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(x, shape)


def squeeze(inp, axis=None) -> Tensor:
    """Remove axes of length one (all of them when axis is None)."""
    x = as_tensor(inp)
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.shape) if s == 1)
    else:
        try:
            axes = normalize_axes(axis, x.ndim)
        except AxisError as err:
            _fail("squeeze", err)
        for a in axes:
            if x.shape[a] != 1:
                _fail("squeeze", ShapeError(f"axis {a} of shape {x.shape} has length {x.shape[a]}, not 1"))
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if i not in axes))


def concat(inps: Sequence, axis: int = 0, device=None) -> Tensor:
    """Join tensors along an existing axis."""
    xs = [as_tensor(t) for t in inps]
    if not xs:
        _fail("concat", ShapeError("needs at least one tensor"))
    d = promote(*(t.dtype for t in xs))
    try:
        axis = normalize_axis(axis, xs[0].ndim)
    except AxisError as err:
        _fail("concat", err)
    return apply1("concat", [cast(t, d) for t in xs], axis=axis)


def stack(inps: Sequence, axis: int = 0, device=None) -> Tensor:
    """Join tensors along a new axis."""
    xs = [as_tensor(t) for t in inps]
    if len({t.shape for t in xs}) > 1:
        _fail("stack", ShapeError("shapes " + ", ".join(str(t.shape) for t in xs) + " differ"))
    return concat([expand_dims(t, axis) for t in xs], axis=axis)


def split(inp, nsplits_or_sections, axis: int = 0) -> tuple[Tensor, ...]:
    """Split into n near-equal parts (the first ones one longer), or at the given indices."""
    x = as_tensor(inp)
    try:
        axis = normalize_axis(axis, x.ndim)
    except AxisError as err:
        _fail("split", err)
    n = x.shape[axis]
    if isinstance(nsplits_or_sections, int):
        k = nsplits_or_sections
        if not 0 < k <= n:
            _fail("split", ShapeError(f"axis {axis} of length {n} cannot be split into {k} parts"))
        q, r = divmod(n, k)
        bounds = [i * q + min(i, r) for i in range(k + 1)]
    else:
        idx = [int(i) for i in nsplits_or_sections]
        if sorted(idx) != idx or (idx and (idx[0] < 0 or idx[-1] > n)):
            _fail("split", ShapeError(f"sections {idx} do not fit axis {axis} of length {n}"))
        bounds = [0] + idx + [n]
    pre = (slice(None),) * axis
    return tuple(x[pre + (slice(a, b),)] for a, b in zip(bounds[:-1], bounds[1:], strict=False))


def gather(inp, axis: int, index) -> Tensor:
    """out[i][j][k] = inp[index[i][j][k]][j][k] along `axis` (take_along_axis)."""
    x, idx = as_tensor(inp), as_tensor(index)
    try:
        axis = normalize_axis(axis, x.ndim)
    except AxisError as err:
        _fail("gather", err)
    check_index("gather", idx, x.shape[axis], axis)
    return apply1("gather", [x, cast(idx, int32)], axis=axis)


def scatter(inp, axis: int, index, source) -> Tensor:
    """A copy of inp with source written at index along axis."""
    x, idx = as_tensor(inp), as_tensor(index)
    src = as_tensor(source, like=x)
    try:
        axis = normalize_axis(axis, x.ndim)
    except AxisError as err:
        _fail("scatter", err)
    check_index("scatter", idx, x.shape[axis], axis)
    return apply1("scatter", [x, cast(idx, int32), cast(src, x.dtype)], axis=axis, accumulate=False)


def repeat(inp, repeats: int, axis=None) -> Tensor:
    """Repeat each element `repeats` times along axis (flattened when axis is None)."""
    x = as_tensor(inp)
    if axis is None:
        x, axis = flatten(x), 0
    try:
        axis = normalize_axis(axis, x.ndim)
    except AxisError as err:
        _fail("repeat", err)
    return apply1("repeat", [x], repeats=int(repeats), axis=axis)


def tile(inp, reps) -> Tensor:
    """Repeat the whole tensor `reps` times along each axis."""
    x = as_tensor(inp)
    reps = _ints(reps, "tile")
    nd = max(len(reps), x.ndim)
    x = reshape(x, (1,) * (nd - x.ndim) + x.shape)
    return apply1("tile", [x], reps=(1,) * (nd - len(reps)) + reps)


def roll(inp, shift, axis=None) -> Tensor:
    """Shift elements cyclically along axes (the flattened tensor when axis is None)."""
    x = as_tensor(inp)
    if axis is None:
        return reshape(roll(flatten(x), shift, 0), x.shape)
    shifts, axes = _ints(shift, "roll"), _ints(axis, "roll")
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    try:
        axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    except AxisError as err:
        _fail("roll", err)
    return apply1("roll", [x], shift=shifts, axis=axes)


_PAD_MODES = {"constant": "constant", "edge": "edge", "replicate": "edge", "reflect": "reflect"}


def pad(src, pad_width, mode: str = "constant", constant_value: float = 0.0) -> Tensor:
    """Pad each axis by a (before, after) pair: with a constant, the edge values ("edge", MegEngine's
    "REPLICATE"), or their mirror image without the edge ("reflect"); MegEngine's upper-case names too."""
    x = as_tensor(src)
    kind = _PAD_MODES.get(str(mode).lower())
    if kind is None:
        _fail("pad", ArgumentError(f"mode {mode!r} is not one of constant, edge (replicate), reflect"))
    pw = tuple((int(a), int(b)) for a, b in pad_width)
    if len(pw) != x.ndim:
        _fail("pad", ShapeError(f"pad_width {pw} needs one (before, after) pair per axis of shape {x.shape}"))
    if kind == "constant":
        return apply1("pad", [x], pad_width=pw, value=float(constant_value))
    # Edge and reflect padding are concatenations of slices of the input (their gradients are the slices'):
    # axis by axis, the edge repeated or the values next to it in reverse order.
    for axis, (a, b) in enumerate(pw):
        n = x.shape[axis]
        if kind == "reflect" and (a >= n or b >= n):
            _fail("pad", ShapeError(f"reflect padding {(a, b)} of axis {axis} must be less than its size {n}"))
        pre = (slice(None),) * axis
        if kind == "edge":
            parts = [broadcast_to(x[pre + (slice(0, 1),)], x.shape[:axis] + (a,) + x.shape[axis + 1:]), x,
                     broadcast_to(x[pre + (slice(n - 1, n),)], x.shape[:axis] + (b,) + x.shape[axis + 1:])]
        else:
            stop = n - 2 - b if n - 2 - b >= 0 else None   # a negative stop would count from the end
            parts = [x[pre + (slice(a, 0, -1),)], x, x[pre + (slice(n - 2, stop, -1),)]]
        parts = [p for p in parts if p.shape[axis]]
        x = concat(parts, axis) if len(parts) > 1 else x
    return x


def swapaxes(inp, axis1: int, axis2: int) -> Tensor:
    """The tensor with two axes exchanged (a transpose)."""
    x = as_tensor(inp)
    try:
        a, b = normalize_axis(axis1, x.ndim), normalize_axis(axis2, x.ndim)
    except AxisError as err:
        _fail("swapaxes", err)
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return x.transpose(perm)


def cumsum(inp, axis: int) -> Tensor:
    """Inclusive cumulative sum along axis (bool counts as int32)."""
    x = as_tensor(inp)
    try:
        axis = normalize_axis(axis, x.ndim)
    except AxisError as err:
        _fail("cumsum", err)
    return apply1("cumsum", [x], axis=axis)


def diag(inp, k: int = 0) -> Tensor:
    """A vector's diagonal matrix (its values on the k-th diagonal), or a matrix's k-th diagonal as a vector.

    A composite: the positions are known from the shapes, so the diagonal is an indexing with constant
    index arrays (a setitem into zeros for a vector); their gradients are the indexing's."""
    x = as_tensor(inp)
    k = int(k)
    if x.ndim == 1:
        n = x.shape[0] + abs(k)
        i = np.arange(x.shape[0], dtype=np.int32)
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        z = Tensor(np.zeros((n, n), x.dtype), device=x.device)
        return z._with_item((rows, cols), x)
    if x.ndim != 2:
        _fail("diag", ShapeError(f"needs a vector or a matrix, got shape {x.shape}"))
    rows, cols = x.shape
    length = max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))
    i = np.arange(length, dtype=np.int32)
    return x[(i, i + k) if k >= 0 else (i - k, i)]


def meshgrid(*inputs, indexing: str = "xy") -> list[Tensor]:
    """Coordinate grids from 1-d tensors ("xy": the first two axes swapped, as NumPy's meshgrid)."""
    xs = [as_tensor(t) for t in (inputs[0] if len(inputs) == 1 and isinstance(inputs[0], (list, tuple))
                                 else inputs)]
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r} (at {user_location()})")
    shape = [t.size for t in xs]
    if indexing == "xy" and len(xs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(xs):
        j = (1 - i if i < 2 else i) if indexing == "xy" and len(xs) > 1 else i
        view = [1] * len(xs)
        view[j] = t.size
        out.append(broadcast_to(t.reshape(view), tuple(shape)))
    return out
