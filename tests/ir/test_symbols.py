"""Symbolic sizes: the Dim algebra, guards, and shape inference with symbols for every op of the registry."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.ir import REGISTRY, Graph
from graphc.ir.errors import GraphcIndexError, ShapeError
from graphc.ir.ops.shape import index_shape
from graphc.ir.symbols import Dim, Facts, collecting, exact_quotient, parse, prod, quotient, same

N, M = Dim.symbol("N"), Dim.symbol("M")
F32, I32, BOOL = np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_)


def test_dims_are_polynomials_in_canonical_form():
    assert 784 * N == N * 784 and str(784 * N) == "784*N" and hash(784 * N) == hash(N * 784)
    assert str(N + 3) == "N + 3" and str(N - 1) == "N - 1" and str(M * N * 2) == "2*M*N"
    assert (N + 1) - N == 1 and type((N + 1) - N) is int          # a constant is an int again
    assert prod([N, 28, 28]) == 784 * N and prod([2, 3]) == 6
    assert exact_quotient(784 * N, 784) == N and exact_quotient(M * N, N) == M
    assert exact_quotient(3 * N, 2) is None and exact_quotient(N + 1, N) is None
    assert (N * 784).evaluate({"N": 5}) == 3920


@pytest.mark.parametrize("text", ["N", "784*N", "N - 1", "N + 3", "2*M*N", "3", "-N + 4"])
def test_parse_reads_back_the_canonical_text(text):
    d = parse(text)
    assert str(d) == text or (type(d) is int and str(d) == text)


@pytest.mark.parametrize("text", ["N**2", "__import__('os')", "N*", "784 * N", "N+3", "", "N/2"])
def test_parse_refuses_anything_else(text):
    with pytest.raises(ValueError):
        parse(text)


def test_a_symbol_has_no_python_value():
    with pytest.raises(TypeError, match="only known when the traced function runs"):
        range(N)
    with pytest.raises(TypeError, match="only known"):
        int(N)


def test_guards_record_what_inference_assumes():
    facts = Facts()
    with collecting(facts):
        assert same(N, 4, "add") == 4
        assert same(N, M, "concat") == N
        q = quotient(3 * N, 2, "reshape")
    assert [str(g) for g in facts.guards] == ["N == 4 (add)", "N == M (concat)", "3*N % 2 == 0 (reshape)"]
    assert facts.derived == {str(q): (3 * N, 2)}
    env = facts.bind({"N": 4, "M": 4})
    assert env[str(q)] == 6 and facts.failed(env) is None
    assert str(facts.failed(facts.bind({"N": 4, "M": 5}))) == "N == M (concat)"
    with pytest.raises(ShapeError, match="sizes 3 and 4 differ"):
        same(3, 4, "x")


# ---- indexing: the symbolic computation agrees with NumPy on static shapes ----------------------------------

items = st.one_of(st.tuples(st.just("int"), st.integers(-3, 2)),
                  st.tuples(st.just("slice"), st.one_of(st.none(), st.integers(-4, 4)),
                            st.one_of(st.none(), st.integers(-4, 4)), st.sampled_from([None, 1, 2, -1])),
                  st.tuples(st.just("none")), st.tuples(st.just("array"), st.integers(0, 1)))


@settings(max_examples=300, deadline=None)
@given(spec=st.lists(items, max_size=4), shape=st.lists(st.integers(3, 5), min_size=1, max_size=4),
       arrays=st.lists(st.lists(st.integers(1, 3), max_size=2), min_size=2, max_size=2))
def test_index_shape_matches_numpy(spec, shape, arrays):
    spec = tuple(spec)
    array_shapes = [tuple(a) for a in arrays]
    dummy = np.zeros(shape)
    index = tuple(i[1] if i[0] == "int" else slice(*i[1:]) if i[0] == "slice" else None if i[0] == "none"
                  else np.zeros(array_shapes[i[1]], np.intp) for i in spec)
    try:
        want = dummy[index].shape
    except (IndexError, ValueError):
        with pytest.raises((GraphcIndexError, ShapeError)):
            index_shape(tuple(shape), spec, array_shapes)
        return
    assert index_shape(tuple(shape), spec, array_shapes) == want


def test_index_shape_with_symbols_guards_the_bounds():
    facts = Facts()
    with collecting(facts):
        assert index_shape((N, 3), (("slice", 1, None, None),), []) == (N - 1, 3)
        assert index_shape((N, 3), (("slice", None, 5, None),), []) == (5, 3)
        assert index_shape((N, 3), (("int", -1), ("slice", None, None, None)), []) == (3,)
        assert index_shape((N, 3), (("slice", None, None, -1),), []) == (N, 3)
    assert {str(g.rhs) for g in facts.guards} == {"1", "5"}


# ---- every op infers shapes with symbols (a new op without a case here fails) ------------------------------

ELEMENTWISE_ATTRS = {"leaky_relu": {"slope": 0.1}, "clip": {"lower": 0.0, "upper": 1.0}, "astype": {"dtype": "float16"}}


def _elementwise_types(name: str) -> list[tuple]:
    """(N, 3) for the first operand, (3,) broadcast for the others, of the first dtype the op takes."""
    op = REGISTRY[name]
    if name == "where":
        return [((N, 3), BOOL), ((N, 3), F32), ((3,), F32)]
    for dt in (F32, BOOL):
        types = [((N, 3), dt)] + [((3,), dt)] * (op.arity - 1)
        try:
            op.infer(types, ELEMENTWISE_ATTRS.get(name, {}))
            return types
        except Exception:   # graphc's dtype errors: the op wants the other kind of operand
            continue
    raise AssertionError(f"{name} takes neither float32 nor bool operands")


AXES = {"axis": (0,), "keepdims": False}
# op -> (input types, attrs, expected output shapes); for ops that need a concrete size, the error they raise.
CASES = {
    "sum": ([((N, 3), F32)], AXES, [(3,)]), "mean": ([((N, 3), F32)], AXES, [(3,)]),
    "max": ([((N, 3), F32)], {"axis": (1,), "keepdims": True}, [(N, 1)]),
    "min": ([((N, 3), F32)], AXES, [(3,)]), "prod": ([((N, 3), F32)], AXES, [(3,)]),
    "argmax": ([((N, 3), F32)], {"axis": (1,), "keepdims": False}, [(N,)]),
    "argmin": ([((N, 3), F32)], AXES, [(3,)]),
    "count": ([((N, 3), F32)], {"axis": (0, 1), "dtype": "float32"}, [()]),
    "reshape": ([((N, 28, 28), F32)], {"shape": (784 * N,)}, [(784 * N,)]),
    "broadcast_to": ([((1, 3), F32)], {"shape": (N, 3)}, [(N, 3)]),
    "transpose": ([((N, 3), F32)], {"perm": (1, 0)}, [(3, N)]),
    "concat": ([((N, 3), F32), ((M, 3), F32)], {"axis": 0}, [(N + M, 3)]),
    "getitem": ([((N, 3), F32), ((M,), I32)], {"spec": (("array", 0), ("int", 1))}, [(M,)]),
    "setitem": ([((N, 3), F32), ((3,), F32)], {"spec": (("int", 0),), "accumulate": False}, [(N, 3)]),
    "gather": ([((N, 10), F32), ((N, 1), I32)], {"axis": 1}, [(N, 1)]),
    "scatter": ([((N, 10), F32), ((N, 1), I32), ((N, 1), F32)], {"axis": 1, "accumulate": True}, [(N, 10)]),
    "repeat": ([((N, 3), F32)], {"repeats": 2, "axis": 0}, [(2 * N, 3)]),
    "tile": ([((N, 3), F32)], {"reps": (2, 1)}, [(2 * N, 3)]),
    "roll": ([((N, 3), F32)], {"shift": (1,), "axis": (0,)}, [(N, 3)]),
    "pad": ([((N, 3), F32)], {"pad_width": ((1, 2), (0, 0)), "value": 0.0}, [(N + 3, 3)]),
    "matmul": ([((N, 784), F32), ((784, 512), F32)], {"transpose_a": False, "transpose_b": False}, [(N, 512)]),
    "vdot": ([((N,), F32), ((N,), F32)], {}, [()]),
    "one_hot": ([((N,), I32)], {"num_classes": 10}, [(N, 10)]),
    "uniform": ([((2,), I32)], {"shape": (N, 3), "low": 0.0, "high": 1.0}, [(N, 3)]),
    "normal": ([((2,), I32)], {"shape": (N, 3), "mean": 0.0, "std": 1.0}, [(N, 3)]),
    "permutation": ([((2,), I32)], {"n": 5, "dtype": "int32"}, [(5,)]),
    "matinv": ([((N, 3, 3), F32)], {}, [(N, 3, 3)]),
    "ctc_loss": ([((7, N, 5), F32), ((N,), I32), ((M,), I32), ((N,), I32)], {"blank": 0, "padded": False}, [(N,)]),
    "ctc_loss_grad": ([((7, N, 5), F32), ((N,), I32), ((M,), I32), ((N,), I32), ((N,), F32)],
                      {"blank": 0, "padded": False}, [(7, N, 5)]),
    "cumsum": ([((N, 3), F32)], {"axis": 0}, [(N, 3)]),
    "sort": ([((N, 3), F32)], {"axis": 0, "descending": False}, [(N, 3), (N, 3)]),
    "topk": ([((N, 10), F32)], {"k": 3, "descending": True, "kth_only": False, "no_sort": False}, [(N, 3), (N, 3)]),
    "all_reduce_sum": ([((N, 3), F32)], {"size": 2}, [(N, 3)]),
    "all_reduce_max": ([((N, 3), F32)], {"size": 2}, [(N, 3)]),
    "all_reduce_min": ([((N, 3), F32)], {"size": 2}, [(N, 3)]),
    "broadcast": ([((N, 3), F32)], {"root": 0, "size": 2}, [(N, 3)]),
    "reduce_sum": ([((N, 3), F32)], {"root": 1, "size": 2}, [(N, 3)]),
    "all_gather": ([((N, 3), F32)], {"axis": 0, "size": 2}, [(2 * N, 3)]),
    "reduce_scatter_sum": ([((2 * N, 3), F32)], {"axis": 0, "size": 2}, [(N, 3)]),
    "fused": None,   # its subgraph's outputs: covered by the runtime tests of fused groups with symbols
}


def test_every_op_has_a_symbolic_case():
    missing = [n for n, op in REGISTRY.items() if not op.elementwise and n not in CASES]
    assert not missing, f"add symbolic shape cases for {missing}"


@pytest.mark.parametrize("name", sorted(n for n, op in REGISTRY.items() if op.elementwise))
def test_elementwise_ops_keep_symbolic_shapes(name):
    op = REGISTRY[name]
    types = _elementwise_types(name)
    out, = op.infer(types, ELEMENTWISE_ATTRS.get(name, {}))
    assert out[0] == (N, 3)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c is not None))
def test_ops_infer_symbolic_shapes(name):
    types, attrs, want = CASES[name]
    facts = Facts()
    with collecting(facts):
        got = [s for s, _ in REGISTRY[name].infer(types, attrs)]
    assert got == want
    assert facts.guards == [] or name in ("getitem", "setitem")


def test_broadcasting_a_symbol_against_a_size_makes_a_guard_and_an_unfit_size_an_error():
    g = Graph()
    x, y = g.add_input((N, 3), F32), g.add_input((4, 3), F32)
    out, = g.emit("add", [x, y])
    assert out.shape == (4, 3) and [str(gd) for gd in g.facts.guards] == ["N == 4 (broadcasting (N, 3) and (4, 3))"]
    with pytest.raises(ShapeError, match="cannot reshape"):
        g.emit("reshape", [y], {"shape": (5, 4)})
    g.emit("reshape", [x], {"shape": (6, 2)})       # only N == 4 fits: the plan relies on it
    assert "12 == 3*N" in str(g.facts.guards[-1])
    # A size only some N allow (3N split in halves): a derived size and a divisibility guard.
    with collecting(g.facts):
        half = quotient(3 * N, 2, "reshape into (-1, 2)")
    pairs, = g.emit("reshape", [x], {"shape": (half, 2)})
    assert pairs.shape == (half, 2) and g.facts.derived == {str(half): (3 * N, 2)}
    assert "3*N % 2 == 0 (reshape into (-1, 2))" in [str(gd) for gd in g.facts.guards]


def test_quotient_without_a_graph_refuses_what_needs_a_guard():
    with pytest.raises(ShapeError, match="not a whole number"):
        quotient(3 * N, 2, "reshape")


def test_dims_appear_in_printed_graphs():
    g = Graph()
    x = g.add_input((N, 784), F32, "x")
    y, = g.emit("reshape", [x], {"shape": (784 * N,)})
    g.outputs = [y]
    assert "input x: float32[N, 784]" in str(g) and "float32[784*N] = reshape(x; shape=(784*N,))" in str(g)


def test_arithmetic_on_dims_agrees_with_arithmetic_on_their_values():
    env = {"N": 7, "M": 3}

    def value(d):
        return d if type(d) is int else d.evaluate(env)
    for a, b in itertools.product((N, 2 * N + 1, M * N), (3, N, M + 2)):
        assert value(a + b) == value(a) + value(b)
        assert value(a * b) == value(a) * value(b)
        assert value(a - b) == value(a) - value(b)
