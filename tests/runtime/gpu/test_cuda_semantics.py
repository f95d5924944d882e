"""Issue 15 item 13, the CUDA side: each op's CUDA C expression (runtime/gpu/expr.py, with the generated
sources' helpers) evaluated on the edge values by the host's C++ compiler, against eager graphc.

No GPU runs here: this checks what the expressions mean (C's rules for inf, NaN, signed zeros and integer
conversions hold on the device too); the device's math functions are within a few ulp like the host's. A
GPU additionally flushes float32 subnormals to zero (CuPy compiles with -ftz), eager CuPy ops included.
The generated kernels themselves are compiled with nvcc and NVRTC in test_cuda_codegen.py."""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest
from edge_values import F32, F64, case_id, cases, mismatches, node_for, operands, reference

from graphc.runtime.gpu import expr as cx

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler")

# CUDA's intrinsics as the host spells them; the half-precision helpers (inline PTX) are left out.
HOST_PRELUDE = """#include <cmath>
#include <cstring>
#define __device__
#define __forceinline__ inline
#define __align__(n) alignas(n)
using namespace std;
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, sizeof f); return f; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, sizeof d); return d; }
"""
_PTX_HELPER = re.compile(r"__device__ __forceinline__ [\w ]+ g_(h2f|f2h|round_f16)\([^)]*\) \{[^}]*\}\n")
CASES = [c for c in cases() if c[1] in (F32, F64)]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Every case's expression as `extern "C" void k<i>(operands..., out, n)`, built once."""
    body = [HOST_PRELUDE, _PTX_HELPER.sub("", cx.PREAMBLE)]
    for i, (name, dtype, attrs) in enumerate(CASES):
        arrays = operands(name, dtype)
        node = node_for(name, arrays, attrs).attrs["subgraph"].nodes[0]
        params = ", ".join(f"const {cx.storage(a.dtype)}* x{k}" for k, a in enumerate(arrays))
        e = cx.op_expr(node, [cx.load(a.dtype, f"x{k}[i]") for k, a in enumerate(arrays)])
        out = node.outputs[0].dtype
        body.append(f'extern "C" void k{i}({params}, {cx.storage(out)}* out, long n) {{\n'
                    f"  for (long i = 0; i < n; i++) out[i] = {cx.store(out, e)};\n}}\n")
    d = tmp_path_factory.mktemp("cuda_host")
    src, lib = d / "exprs.cpp", d / "exprs.so"
    src.write_text("\n".join(body))
    r = subprocess.run([CXX, "-O1", "-shared", "-fPIC", str(src), "-o", str(lib)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:3000]
    return ctypes.CDLL(str(lib))


@pytest.mark.parametrize("i, name, dtype, attrs", [pytest.param(i, *c, id=case_id(*c)) for i, c in enumerate(CASES)])
def test_cuda_expressions_match_eager_on_edge_values(library, i, name, dtype, attrs):
    arrays = [np.ascontiguousarray(a) for a in operands(name, dtype)]
    want = reference(name, arrays, attrs)
    got = np.empty_like(want)
    getattr(library, f"k{i}")(*[a.ctypes.data_as(ctypes.c_void_p) for a in arrays],
                              got.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(got.size))
    assert not mismatches(got, want, arrays, name)
