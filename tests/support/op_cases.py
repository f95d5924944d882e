"""Sample operands and attributes for every differentiable op in the registry (the gradient checks use them,
and the native plan runs each case's forward and gradient graph)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.ir import REGISTRY, Graph, Value, building, emit

rng = np.random.default_rng(1234)


@dataclass
class Case:
    op: str
    inputs: list                      # arrays; the float64 ones are differentiated
    attrs: dict = field(default_factory=dict)
    label: str = ""
    h: float = 1e-6                   # finite-difference step
    tol: float = 1e-5
    no_grad: tuple = ()               # float inputs that get no gradient on purpose (None)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op


def U(shape, lo=-2.0, hi=2.0):
    return np.asarray(rng.uniform(lo, hi, shape), dtype=np.float64)


def away(shape, lo=0.2, hi=2.0):
    """Uniform magnitudes in [lo, hi] with random signs (away from zero)."""
    return np.asarray(rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape), dtype=np.float64)


def distinct(n_shape, scale=0.1):
    """Values with pairwise gaps of at least `scale` (no ties for max/min)."""
    n = int(np.prod(n_shape))
    return (rng.permutation(n) * scale + rng.uniform(0, scale / 4, n) - n * scale / 2).reshape(n_shape)


def idx(a):
    return np.asarray(a, dtype=np.int32)


def _unary(op, x, **attrs):
    return Case(op, [x], attrs)


# Duplicate indices in a non-accumulating scatter/setitem are left out: the last write wins, so the
# overwritten sources have no true derivative (MegEngine still gives each source gradient 1; see
# test_gradients_frontend.py).
def _mod_operands(sa, sb):
    b = away(sb, 0.5, 2.0)
    k = rng.integers(1, 4, np.broadcast_shapes(sa, sb))
    f = rng.uniform(0.2, 0.8, k.shape)
    a = np.broadcast_to(b, k.shape) * (k + f) * rng.choice([-1.0, 1.0], k.shape)
    assert a.shape == tuple(sa)
    return a, b


def _minmax_operands(sa, sb):
    while True:
        a, b = U(sa), U(sb)
        if np.min(np.abs(np.subtract(a, b))) > 0.05:
            return a, b


BROADCAST = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((3,), (2, 3))]

CASES: list[Case] = []
# ---- elementwise, one operand -----------------------------------------------------------------------------
for op, x in [("neg", U(6)), ("abs", away((2, 3))), ("exp", U((2, 3))), ("log", U((2, 3), 0.5, 2)),
              ("log1p", U((2, 3), -0.5, 2)), ("expm1", U((2, 3))), ("sqrt", U((2, 3), 0.5, 2)),
              ("square", U((2, 3))), ("sin", U((2, 3))), ("cos", U((2, 3))), ("tan", U((2, 3), -1, 1)),
              ("tanh", U((2, 3))), ("sinh", U((2, 3))), ("cosh", U((2, 3))), ("asin", U((2, 3), -0.8, 0.8)),
              ("acos", U((2, 3), -0.8, 0.8)), ("atan", U((2, 3))), ("erf", U((2, 3))),
              ("sigmoid", U((2, 3), -4, 4)), ("softplus", U((2, 3), -4, 4)), ("logsigmoid", U((2, 3), -4, 4)),
              ("gelu", U((2, 3), -3, 3)), ("silu", U((2, 3), -3, 3)), ("relu", away((2, 3), 0.1)),
              ("asinh", U((2, 3))), ("acosh", U((2, 3), 1.2, 3)), ("atanh", U((2, 3), -0.8, 0.8)),
              ("copy", U((2, 3)))]:
    CASES.append(_unary(op, x))
# The hard activations away from their kinks at -3 and 3: each side of both, and the middle.
HARD = np.array([[-4.4, -3.3, -2.7, -0.6], [0.4, 2.6, 3.4, 5.0]])
CASES += [Case("hswish", [HARD]), Case("hsigmoid", [HARD])]
CASES += [Case("neg", [U(())], label="scalar"), Case("exp", [U(())], label="scalar")]
CASES += [
    Case("leaky_relu", [away((2, 3), 0.1)], {"slope": 0.01}),
    Case("leaky_relu", [away((2, 3), 0.1)], {"slope": 0.3}, "slope0.3"),
    Case("clip", [np.array([[-1.3, -0.7, -0.2], [0.1, 0.3, 0.9]])], {"lower": -0.5, "upper": 0.5}),
    Case("clip", [np.array([-1.3, -0.2, 0.4])], {"lower": -0.5, "upper": None}, "lower"),
    Case("clip", [np.array([-1.3, -0.2, 0.4])], {"lower": None, "upper": 0.0}, "upper"),
    Case("astype", [U((2, 3)).astype(np.float32)], {"dtype": "float64"}, "f32-f64", h=1e-2, tol=1e-4),
    Case("astype", [U((2, 3))], {"dtype": "float32"}, "f64-f32", h=1e-2, tol=1e-4),
]
# ---- elementwise, two and three operands, broadcasting included --------------------------------------------
for sa, sb in BROADCAST:
    label = f"{sa}x{sb}"
    CASES.append(Case("add", [U(sa), U(sb)], label=label))
    CASES.append(Case("sub", [U(sa), U(sb)], label=label))
    CASES.append(Case("mul", [U(sa), U(sb)], label=label))
    CASES.append(Case("div", [U(sa), away(sb, 0.5)], label=label))
    CASES.append(Case("pow", [U(sa, 0.5, 2), U(sb, -1.5, 1.5)], label=label))
    CASES.append(Case("atan2", [away(sa, 0.3), away(sb, 0.3)], label=label))
    CASES.append(Case("logaddexp", [U(sa), U(sb)], label=label))
    CASES.append(Case("maximum", list(_minmax_operands(sa, sb)), label=label))
    CASES.append(Case("minimum", list(_minmax_operands(sa, sb)), label=label))
for sa, sb in [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), ())]:
    # As MegEngine (run in a MegEngine 1.13 venv): a % b differentiates a only; b's gradient is None.
    CASES.append(Case("mod", list(_mod_operands(sa, sb)), label=f"{sa}x{sb}", no_grad=(1,)))
CASES += [
    Case("where", [U((2, 3)) > 0, U((2, 3)), U((2, 3))]),
    Case("where", [U((2, 3)) > 0, U((3,)), U((2, 1))], label="broadcast"),
    Case("where", [U((3,)) > 0, U(()), U((2, 3))], label="scalar"),
]
# ---- linear algebra ----------------------------------------------------------------------------------------
for ta in (False, True):
    for tb in (False, True):
        a = U((3, 2) if ta else (2, 3))
        b = U((4, 3) if tb else (3, 4))
        CASES.append(Case("matmul", [a, b], {"transpose_a": ta, "transpose_b": tb}, f"ta{ta:d}tb{tb:d}"))
CASES += [
    Case("matmul", [U((2, 2, 3)), U((3, 4))], {"transpose_a": False, "transpose_b": False}, "batched"),
    Case("matmul", [U((1, 2, 3)), U((4, 3, 2))], {"transpose_a": False, "transpose_b": False}, "batch-bcast"),
    Case("matmul", [U((2, 3, 2)), U((1, 4, 3))], {"transpose_a": True, "transpose_b": True}, "batch-t"),
    Case("vdot", [U(5), U(5)]),
    # Well conditioned: the identity plus a small perturbation.
    Case("matinv", [np.eye(3) + U((3, 3), -0.3, 0.3)]),
    Case("matinv", [np.eye(2) + U((2, 2, 2), -0.3, 0.3)], label="batched"),
]
# ---- sorting and scans -------------------------------------------------------------------------------------
CASES += [
    Case("sort", [distinct((3, 5))], {"axis": 1, "descending": False}),
    Case("sort", [distinct((4, 3))], {"axis": 0, "descending": True}, "axis0-descending"),
    Case("topk", [distinct((3, 6))], {"k": 2, "descending": True, "kth_only": False, "no_sort": False}),
    Case("topk", [distinct((6,))], {"k": 3, "descending": False, "kth_only": True, "no_sort": False}, "kth"),
    Case("cumsum", [U((3, 4))], {"axis": 1}),
    Case("cumsum", [U((3, 4))], {"axis": 0}, "axis0"),
]


def _ctc_case(padded: bool) -> Case:
    """Probabilities (T=5, N=2, C=4) with labels that fit: (1, 2) in 5 steps and (3, 3) in 4."""
    pred = rng.dirichlet(np.ones(4), size=(5, 2))
    label = idx([[1, 2], [3, 3]]) if padded else idx([1, 2, 3, 3])
    return Case("ctc_loss", [pred, idx([5, 4]), label, idx([2, 2])], {"blank": 0, "padded": padded},
                "padded" if padded else "")


CASES += [_ctc_case(False), _ctc_case(True)]
# ---- reductions --------------------------------------------------------------------------------------------
for axis, keep in [((0, 1, 2), False), ((1,), False), ((0, 2), True), ((2,), True)]:
    label = f"{axis}{'k' if keep else ''}"
    for op in ("sum", "mean"):
        CASES.append(Case(op, [U((2, 3, 4))], {"axis": axis, "keepdims": keep}, label))
    for op in ("max", "min"):
        CASES.append(Case(op, [distinct((2, 3, 4))], {"axis": axis, "keepdims": keep}, label))
    CASES.append(Case("prod", [away((2, 3, 4), 0.5, 1.5)], {"axis": axis, "keepdims": keep}, label))
# ---- shape and indexing ------------------------------------------------------------------------------------
S = ("slice", None, None, None)
CASES += [
    Case("reshape", [U((2, 3, 4))], {"shape": (6, 4)}),
    Case("reshape", [U(())], {"shape": (1, 1)}, "scalar"),
    Case("broadcast_to", [U((3, 1))], {"shape": (2, 3, 4)}),
    Case("broadcast_to", [U(())], {"shape": (2, 3)}, "scalar"),
    Case("transpose", [U((2, 3, 4))], {"perm": (2, 0, 1)}),
    Case("concat", [U((2, 1)), U((2, 3)), U((2, 2))], {"axis": 1}),
    Case("concat", [U((1, 3)), U((2, 3))], {"axis": 0}, "axis0"),
    Case("getitem", [U((3, 4))], {"spec": (("slice", 1, None, None), ("int", 2))}, "slice-int"),
    Case("getitem", [U((3, 4))], {"spec": (("none",), ("slice", None, None, -1), ("slice", 0, 4, 2))},
         "none-step"),
    Case("getitem", [U((3, 4)), idx([2, 0, 2, 1])], {"spec": (("array", 0),)}, "array-dups"),
    Case("getitem", [U((3, 4)), idx([0, 2]), idx([[3], [1]])], {"spec": (("array", 0), ("array", 1))},
         "2arrays"),
    Case("getitem", [U((2, 3, 4)), idx([3, 0, 3])], {"spec": (("int", 1), S, ("array", 0))}, "int-array"),
    Case("setitem", [U((3, 4)), U((2, 4))], {"spec": (("slice", 0, 2, None),), "accumulate": False}),
    Case("setitem", [U((3, 4)), U((4,))], {"spec": (("slice", 1, None, None),), "accumulate": False},
         "bcast"),
    Case("setitem", [U((3, 4)), U((2, 4)), idx([2, 0])], {"spec": (("array", 0),), "accumulate": False},
         "array"),
    Case("setitem", [U((3, 4)), U((3, 4)), idx([1, 1, 0])], {"spec": (("array", 0),), "accumulate": True},
         "accumulate"),
    Case("gather", [U((3, 4)), idx([[2, 0, 0, 1], [2, 2, 1, 0]])], {"axis": 0}),
    Case("gather", [U((2, 3, 4)), idx(rng.integers(0, 4, (2, 3, 2)))], {"axis": 2}, "axis2"),
    # One index per line (a cross-entropy's labels): the gradient is a one-hot select, not a scatter.
    Case("gather", [U((3, 5)), idx([[4], [0], [2]])], {"axis": 1}, "one-per-row"),
    Case("gather", [U((3, 4)), idx([[2, 0, 0, 1]])], {"axis": 0}, "one-per-column"),
    Case("scatter", [U((3, 4)), idx([[2, 0, 1, 1], [0, 1, 2, 0]]), U((2, 4))],
         {"axis": 0, "accumulate": False}),
    Case("scatter", [U((3, 4)), idx([[1, 2], [0, 1], [3, 0]]), U((3, 3))], {"axis": 1, "accumulate": False},
         "src-larger"),
    Case("scatter", [U((3, 4)), idx([[0, 0, 1, 1], [0, 2, 1, 1]]), U((2, 4))],
         {"axis": 0, "accumulate": True}, "accumulate"),
    Case("repeat", [U((2, 3))], {"repeats": 2, "axis": 1}),
    Case("repeat", [U((2, 3))], {"repeats": 3, "axis": 0}, "axis0"),
    Case("tile", [U((2, 1, 3))], {"reps": (2, 3, 1)}),
    Case("roll", [U((3, 4))], {"shift": (1, -2), "axis": (0, 1)}),
    Case("pad", [U((2, 3))], {"pad_width": ((1, 0), (0, 2)), "value": 0.5}),
]
# ---- collectives, in a group of this process alone (tests/distributed checks them across 2 and 3 processes) ---
CASES += [Case(f"all_reduce_{r}", [U((2, 3))], {"size": 1}) for r in ("sum", "max", "min")]
CASES += [
    Case("broadcast", [U((2, 3))], {"root": 0, "size": 1}),
    Case("reduce_sum", [U((2, 3))], {"root": 0, "size": 1}),
    Case("all_gather", [U((2, 3))], {"axis": 1, "size": 1}),
    Case("reduce_scatter_sum", [U((2, 3))], {"axis": 0, "size": 1}),
]

DIFFERENTIABLE = sorted(name for name, op in REGISTRY.items() if op.vjp is not None)


def forward_graph(case: Case) -> tuple[Graph, list[Value], Value, Value]:
    """The case as a graph: y = op(inputs) and the scalar s = sum(y * r) for a random weighting r; returns
    (graph, inputs, y, s)."""
    g = Graph()
    ins = [g.add_input(a.shape, a.dtype) for a in case.inputs]
    with building(g):
        y = g.emit(case.op, ins, case.attrs)[0]
        r = g.add_const(rng.uniform(0.5, 1.5, y.shape).astype(y.dtype))
        s = emit("sum", [emit("mul", [y, r])], axis=tuple(range(y.ndim)), keepdims=False)
    return g, ins, y, s
