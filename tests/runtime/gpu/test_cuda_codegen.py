"""The CUDA code generator on a machine without a GPU: structure of the sources, index arithmetic,
and compilation of every generated kernel with nvcc -arch=sm_90 and with NVRTC (CuPy's compiler).

Compilation tests skip when nvcc (or the NVRTC library) is missing. Many kernels are compiled as
one translation unit (each in its own namespace) to keep the run short; on failure each kernel is
compiled alone so the message names the op and dtype that broke.
"""
from __future__ import annotations

import bisect
import re

import numpy as np
import pytest
from cuda_compilers import nvcc_compile, nvcc_path, nvrtc_available, nvrtc_compile
from fused_builders import F16, F32, F64, chain8, cuda_ops, fused_node, mse, op_cases, softmax_rows

from graphc.ir import emit
from graphc.runtime.gpu import codegen as cg
from graphc.runtime.gpu import expr as cx
from graphc.runtime.gpu.schedule import schedule

needs_nvcc = pytest.mark.skipif(nvcc_path() is None, reason="nvcc not found")
needs_nvrtc = pytest.mark.skipif(not nvrtc_available(), reason="NVRTC library not found "
                                 "(pip install nvidia-cuda-nvrtc)")


def _bundle(sources: list[str]) -> tuple[str, list[int]]:
    """Many generated sources as one translation unit (one preamble, each body in a namespace),
    and the first line of each body, so that compiler errors can be traced back to their kernel."""
    text, starts = cx.PREAMBLE, []
    for i, s in enumerate(sources):
        starts.append(text.count("\n") + 2)
        text += f"namespace n{i} {{\n{s.replace(cx.PREAMBLE, '')}\n}}\n"
    return text, starts


def _compile_all(labelled: list[tuple[str, str]], compile_fn) -> None:
    code, starts = _bundle([s for _, s in labelled])
    res = compile_fn(code)
    if res.ok:
        return
    bad = sorted({bisect.bisect_right(starts, int(m)) - 1
                  for m in re.findall(r"\.cu\((\d+)\): error", res.log)})
    if not bad:
        pytest.fail(f"the generated kernels do not compile:\n{res.log[:3000]}")
    details = [f"--- {labelled[i][0]}\n{compile_fn(labelled[i][1]).log[:1500]}" for i in bad[:4]]
    pytest.fail(f"{len(bad)} generated kernels do not compile: {[labelled[i][0] for i in bad]}\n"
                + "\n".join(details))


def _kernels(node, opts: cg.Options | None = None):
    return cg.generate(node, opts or cg.Options())


def _src(node, **kw):
    ks = _kernels(node)
    assert len(ks) == 1, [k.kind for k in ks]
    return ks[0]


# ---- every op with a template, every dtype it accepts ---------------------------------------------

def _op_sources() -> list[tuple[str, str]]:
    out = []
    for _, label, node in op_cases():
        for k in _kernels(node):
            out.append((label, k.code))
    for _, label, node in op_cases(shape=(64, 33)):      # odd inner size: scalar tail of the vector loop
        node.attrs["name"] += "_2d"
        for k in _kernels(node):
            out.append((label + "-64x33", k.code))
    return out


def test_every_templated_op_has_cases():
    labels = {name for name, _, _ in op_cases()}
    assert labels == set(cuda_ops()), set(cuda_ops()) - labels


@needs_nvcc
def test_every_op_and_dtype_compiles_with_nvcc():
    _compile_all(_op_sources(), nvcc_compile)


@needs_nvrtc
def test_every_op_and_dtype_compiles_with_nvrtc():
    _compile_all(_op_sources(), nvrtc_compile)


# ---- representative fused groups ----------------------------------------------------------------

def _groups() -> list[tuple[str, object]]:
    out = [
        ("chain8-f32", fused_node(chain8, [((1 << 20,), F32)])),
        ("chain8-f16", fused_node(chain8, [((1 << 20,), F16)])),
        ("chain8-f64", fused_node(chain8, [((1 << 20,), F64)])),
        ("bias-relu", fused_node(lambda x, b: emit("relu", [x + b]), [((256, 512), F32), ((512,), F32)])),
        ("scalar-0d", fused_node(lambda x, s: x * s + 1.0, [((1000,), F32), ((), F32)])),
        ("col-bcast", fused_node(lambda x, c: x - c, [((256, 512), F16), ((256, 1), F16)])),
        ("outer", fused_node(lambda a, b: a * b, [((300, 1), F32), ((1, 200), F32)])),
        ("mse-f32", fused_node(mse, [((1 << 20,), F32), ((1 << 20,), F32)])),
        ("mse-f16", fused_node(mse, [((4096, 3), F16), ((4096, 3), F16)])),
        ("mse-odd", fused_node(mse, [((1001,), F64), ((1001,), F64)])),
        ("softmax", fused_node(softmax_rows, [((256, 10), F32)])),
        ("rowsum-long", fused_node(lambda x: emit("sum", [x * x], axis=(1,), keepdims=False),
                                   [((64, 4096), F32)])),
        ("colsum", fused_node(lambda x, b: emit("sum", [x + b], axis=(0,), keepdims=True),
                              [((256, 512), F32), ((512,), F32)])),
        ("middle-max", fused_node(lambda x: emit("max", [x], axis=(1,), keepdims=False), [((4, 50, 6), F32)])),
        ("min-prod", fused_node(lambda x: [emit("min", [x], axis=(0, 2), keepdims=True),
                                           emit("prod", [x], axis=(0, 2), keepdims=True)], [((4, 5, 6), F64)])),
        ("mean-var", fused_node(lambda x: [emit("sum", [x], axis=(1,), keepdims=False),
                                           emit("sum", [x * x], axis=(1,), keepdims=False)], [((32, 100), F16)])),
        ("cmp-where", fused_node(lambda a, b: [emit("greater", [a, b]),
                                               emit("where", [emit("greater", [a, b]), a, b])],
                                 [((1000,), F32), ((1000,), F32)])),
        ("cast-chain", fused_node(lambda x: emit("astype", [emit("astype", [x * 2.0], dtype="float16")],
                                                 dtype="float32"), [((1000,), F32)])),
        ("bool-sum", fused_node(lambda a: emit("sum", [emit("greater", [a, a * 0.5])], axis=(0,),
                                               keepdims=False), [((1000,), F32)])),
        ("passthrough", fused_node(lambda a, b: [a, a + b], [((100,), F32), ((100,), F32)])),
    ]
    for label, node in out:
        node.attrs["name"] = re.sub(r"\W", "_", label)
    return out


@needs_nvcc
def test_representative_groups_compile_with_nvcc():
    _compile_all([(n, k.code) for n, node in _groups() for k in _kernels(node)], nvcc_compile)


@needs_nvrtc
def test_representative_groups_compile_with_nvrtc():
    _compile_all([(n, k.code) for n, node in _groups() for k in _kernels(node)], nvrtc_compile)


def _training_step_groups() -> list[tuple[str, object]]:
    """The fused nodes of the traced line-fit and MLP steps as the GPU pipeline optimizes them."""
    from steps import line_fit_run, mlp_run

    from graphc.passes.pipeline import optimize
    out = []
    for label, run in (("linefit", line_fit_run), ("mlp", mlp_run)):
        step = run("cpu0", steps=1)[0]
        g = step.graph.copy()
        optimize(g, 3, device="gpu")
        out += [(f"{label}-{n.attrs['name']}", n) for n in g.nodes if n.op.name == "fused"]
    return out


@needs_nvcc
def test_training_step_groups_compile_with_nvcc():
    groups = _training_step_groups()
    # The line fit's loss and both gradients come from one kernel: three sums over the same pass.
    linefit = [schedule(n.attrs["subgraph"]) for label, n in groups if label.startswith("linefit")]
    assert any(len(st) == 1 and [r.op.name for r in st[0].reductions] == ["sum"] * 3 for st in linefit)
    _compile_all([(n, k.code) for n, node in groups for k in _kernels(node)], nvcc_compile)


@needs_nvcc
def test_strided_and_unaligned_variants_compile():
    node = fused_node(lambda a, b: emit("tanh", [a]) * b, [((128, 64), F32), ((128, 64), F32)])
    st = schedule(node.attrs["subgraph"])[0]
    variants = [
        [cg.leaf_layout((128, 64), (128, 64), (1, 128)), cg.leaf_layout((128, 64), (128, 64))],   # transposed
        [cg.leaf_layout((128, 64), (128, 64), None, aligned=False), cg.leaf_layout((128, 64), (128, 64))],
        [cg.leaf_layout((128, 64), (128, 64), (128, 2)), cg.leaf_layout((128, 64), (128, 64))],   # sliced
    ]
    srcs = [(f"v{i}", cg.elementwise_source(st, lay, f"k{i}").code) for i, lay in enumerate(variants)]
    _compile_all(srcs, nvcc_compile)
    assert "g_vec<float, 1>" in srcs[1][1]                   # unaligned: no vector loads at all
    assert "g_vec<float, 4>" in srcs[0][1] and "g_off0" in srcs[0][1]   # strided operand loads per lane


# ---- what the sources look like ------------------------------------------------------------------

@needs_nvcc
def test_chain_f32_uses_float4_loads_and_grid_stride_loop():
    k = _src(fused_node(chain8, [((1 << 26,), F32)]))
    assert k.kind == "elementwise" and k.vec == 4
    assert "g_vec<float, 4>" in k.code and "gridDim.x" in k.code
    assert "double" not in k.code.split("extern")[1]          # no accidental double math
    r = nvcc_compile(k.code, ptx=True, extra=("-Xptxas", "-v"))
    assert r.ok, r.log
    assert len(re.findall(r"ld\.global\.nc\.v4\.f32", r.ptx)) == 1      # one float4 load per thread per step
    assert "st.global.v4.f32" in r.ptx
    assert "0 bytes stack frame" in r.log


@needs_nvcc
def test_half_and_double_use_16_byte_accesses():
    for dt, vec, pat in ((F16, 8, r"ld\.global\.nc\.v4\.(u32|b32)"), (F64, 2, r"ld\.global\.nc\.v2\.f64")):
        k = _src(fused_node(chain8, [((1 << 20,), dt)]))
        assert k.vec == vec
        r = nvcc_compile(k.code, ptx=True)
        assert r.ok, r.log
        assert re.search(pat, r.ptx), f"{dt}: no 16-byte loads"


def test_half_computes_in_float_and_rounds_on_store():
    k = _src(fused_node(chain8, [((1000,), F16)]))
    assert "g_h2f(" in k.code and "g_f2h(" in k.code
    assert "const float t0" in k.code


def test_float_literals_get_f_suffix_in_float_kernels_only():
    gelu = [((100,), F32)]
    k32 = _src(fused_node(lambda x: emit("gelu", [x]), gelu)).code
    k64 = _src(fused_node(lambda x: emit("gelu", [x]), [((100,), F64)])).code
    assert "0.7071067811865476f" in k32 and "0.7071067811865476f" not in k64


def test_broadcast_operand_indexes_by_constant_divisors():
    k = _src(fused_node(lambda x, b: x + b, [((256, 512), F32), ((512,), F32)]))
    assert "% 512" in k.code and "g_off1" in k.code
    assert k.vec == 4 and "k * 1" in k.code                    # lanes of a vector share the row


def test_scalar_operand_is_loaded_once():
    k = _src(fused_node(lambda x, s: x * s, [((1000,), F32), ((), F32)]))
    assert "const float s1 = p1[0];" in k.code


def test_misaligned_operand_falls_back_to_scalar_loads():
    node = fused_node(lambda a: a + 1.0, [((1000,), F32)])
    st = schedule(node.attrs["subgraph"])[0]
    k = cg.elementwise_source(st, [cg.leaf_layout((1000,), (1000,), None, aligned=False)], "k")
    assert k.vec == 1


def test_comparison_writes_bool_and_where_selects():
    k = _src(fused_node(lambda a, b: [emit("less", [a, b]), emit("where", [emit("less", [a, b]), a, b])],
                        [((100,), F32), ((100,), F32)]))
    assert "bool* __restrict__ q0" in k.code and "float* __restrict__ q1" in k.code


def test_astype_to_half_rounds_in_registers():
    k = _src(fused_node(lambda x: emit("astype", [emit("astype", [x], dtype="float16")], dtype="float32"),
                        [((100,), F32)]))
    assert "g_round_f16(" in k.code


def test_scalar_constants_are_inlined_as_literals():
    k = _src(fused_node(lambda x: x * 1.5 + 0.5, [((100,), F32)]))
    assert "(1.5f)" in k.code and "(0.5f)" in k.code


# ---- reductions -----------------------------------------------------------------------------------

def test_full_reduction_is_one_kernel_with_last_block_finish():
    k = _src(fused_node(mse, [((1 << 20,), F32), ((1 << 20,), F32)]))
    assert k.kind == "full" and k.vec == 4 and k.partials == [F32]
    for s in ("__shfl_down_sync", "atomicAdd(ticket", "*ticket = 0u", "__threadfence", "/ (float)(1048576)"):
        assert s in k.code, s


def test_reduction_strategies_follow_the_axes():
    kinds = {n: [k.kind for k in _kernels(node)] for n, node in _groups()}
    assert kinds["rowsum-long"] == ["row_block"]
    assert kinds["colsum"] == ["col"]
    assert kinds["middle-max"] == ["col"]
    assert kinds["softmax"] == ["row_warp", "row_warp", "elementwise"]
    assert kinds["mean-var"] == ["row_warp"]                     # two sums share one pass
    assert kinds["min-prod"] == ["row_warp"]                     # innermost axis reduced


def test_half_sum_accumulates_in_float():
    k = _src(fused_node(lambda x: emit("sum", [x], axis=(0,), keepdims=False), [((5000,), F16)]))
    assert "float acc0" in k.code and "unsigned short* __restrict__ q0" in k.code


def test_max_propagates_nan():
    k = _src(fused_node(lambda x: emit("max", [x], axis=(0,), keepdims=False), [((100,), F32)]))
    assert "a != a" in k.code and "__int_as_float(0x7f800000)" in k.code


# ---- scheduling -----------------------------------------------------------------------------------

def test_schedule_groups_outputs_by_shape():
    node = fused_node(lambda a, b: [a * 2.0, a + b], [((512,), F32), ((4, 512), F32)])
    stages = schedule(node.attrs["subgraph"])
    assert [(s.kind, s.domain) for s in stages] == [("elementwise", (512,)), ("elementwise", (4, 512))]


def test_schedule_rejects_ops_without_cuda_form():
    from graphc.runtime.gpu.expr import Unsupported
    node = fused_node(lambda a, b: emit("matmul", [a, b], transpose_a=False, transpose_b=False) + 1.0,
                      [((4, 4), F32), ((4, 4), F32)])
    with pytest.raises(Unsupported):
        schedule(node.attrs["subgraph"])


# ---- index arithmetic, checked in Python ----------------------------------------------------------

def _py_offset_fn(c_src: str):
    """Run a generated offset function (div/mod by constants) as Python."""
    body = []
    for line in c_src.splitlines()[1:-1]:
        line = line.strip().rstrip(";")
        line = re.sub(r"^(const )?(long long|int) ", "", line)
        line = re.sub(r"\(\s*(long long|int)\s*\)", "", line)
        for part in line.split(";"):
            part = part.strip().replace("/=", "//=")
            if part:
                body.append("    " + part)
    ns: dict = {}
    exec("def f(i):\n" + "\n".join(body) + "\n", ns)
    return ns["f"]


@pytest.mark.parametrize("shape,domain,strides", [
    ((512,), (256, 512), None), ((256, 1), (256, 512), None), ((1, 5, 1), (3, 5, 7), None),
    ((3, 5, 7), (3, 5, 7), (35, 1, 5)), ((6, 4), (6, 4), (1, 6)), ((4, 6), (2, 4, 6), (12, 2)),
])
def test_offsets_match_numpy_broadcasting(shape, domain, strides):
    lay = cg.leaf_layout(shape, domain, strides)
    assert lay.kind == "strided"
    sizes, sts = cg._collapse(list(domain), [list(lay.strides)])
    f = _py_offset_fn(cg._offset_fn("g", "int", sizes, sts[0]))
    base = np.arange(int(np.prod(shape))).reshape(shape) if strides is None else \
        np.lib.stride_tricks.as_strided(np.arange(10_000), shape, [s * 8 for s in strides])
    want = np.broadcast_to(base, domain).reshape(-1)
    flat = np.arange(10_000) if strides is not None else base.reshape(-1)
    got = np.array([flat[f(i)] for i in range(int(np.prod(domain)))])
    np.testing.assert_array_equal(got, want)


def test_literals_are_exact():
    assert cx.literal(0.1, F32) == "(0.10000000149011612f)"
    assert cx.literal(float("inf"), F64) == "__longlong_as_double(0x7ff0000000000000LL)"
    assert cx.literal(-(2 ** 31), np.int32) == "(-2147483647-1)"
    assert cx.literal(True, np.bool_) == "true"


@needs_nvcc
def test_groups_with_symbolic_sizes_generate_per_size():
    """A fused group over a batch of N rows: specialized to each size a call brings, then generated."""
    from graphc.ir.specialize import bind, specialized
    from graphc.ir.symbols import Dim
    n = Dim.symbol("N")
    node = fused_node(lambda x, b: [emit("relu", [x + b]), emit("sum", [x * x], axis=(0,), keepdims=False)],
                      [((n, 512), F32), ((512,), F32)], "sized")
    sub = node.attrs["subgraph"]
    sources = []
    for rows in (1, 1000):
        env = bind(sub.inputs, [(rows, 512), (512,)])
        assert env == {"N": rows}
        concrete = specialized(sub, env)
        assert concrete.outputs[0].shape == (rows, 512)
        sources += [(f"rows{rows}", s.code) for s in cg.generate(fused_node_of(concrete, node, f"sized{rows}"))]
    _compile_all(sources, nvcc_compile)


def fused_node_of(sub, like, name: str):
    """A fused node holding `sub`, otherwise like `like`."""
    from graphc.ir import OpNode
    return OpNode(like.op, {"name": name, "subgraph": sub}, [], [], like.loc, like.role)
