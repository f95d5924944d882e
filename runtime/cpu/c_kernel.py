"""Fused groups compiled to C: one vectorized loop per group, built with the system C compiler.

NumPy ufuncs run one op per pass; a C loop keeps every intermediate in registers and calls glibc's
vector math (libmvec: expf, tanhf, ... on 8 lanes); each op's C expression is its OpDef's `c_expr`.
Groups this generator cannot express (integer dtypes, general broadcasting, reductions other than sums,
sums over other than all or the leading axes) and machines without a compiler use the NumPy chunked
kernel instead (runtime/cpu/chunked.py). Libraries are cached on disk by source hash, in a directory only
this user may write to, each beside the sha256 of its bytes, which is checked before it is loaded.
config.cpu_backend = "numpy" (GRAPHC_CPU_BACKEND=numpy) turns this backend off.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import stat
import subprocess
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from graphc.config import config
from graphc.ir import OpNode, Value
from graphc.ir.errors import GraphcError, ShapeError
from graphc.ir.ops.fused import group_problem
from graphc.ir.symbols import is_static, prod

from ..files import atomic_write, private_dir, temporary_dir, trusted
from ..group import FusedGroup
from .recycle import Recycler
from .threads import run_split

log = logging.getLogger("graphc.runtime")

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.bool_): "_Bool"}
_VECTOR_MATH = ("exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos",
                "atan", "erf", "pow", "atan2")
_TWO_ARGS = {"pow", "atan2"}
ALIGN = 64
Lib = TypeVar("Lib")   # what a library loader makes of a compiled file (a ctypes.CDLL, an extension module)


class Unsupported(GraphcError):
    """This group cannot be compiled to C (the caller uses the NumPy kernel)."""


def compiler() -> str | None:
    """The C compiler to use (config.cc, else gcc or cc on PATH), or None (also when the backend is off)."""
    if config.cpu_backend == "numpy":
        return None
    for cand in (config.cc, "gcc", "cc"):
        if cand and shutil.which(cand):
            return cand
    return None


@functools.lru_cache(maxsize=1)
def _flags() -> tuple[str, ...]:
    """Optimization for this machine's CPU (its vector width: AVX-512 where it has it), where the compiler
    knows it; the kernel cache keys entries by the CPU too (_cpu_id), so a cache shared between machines
    never hands a machine code for another's instructions."""
    base = ["-O3", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"]
    cc = compiler()
    if cc and subprocess.run([cc, "-march=native", "-x", "c", "-E", "-"], input="", capture_output=True,
                             text=True).returncode == 0:
        base.append("-march=native")
    return tuple(base)


@functools.lru_cache(maxsize=1)
def _cpu_id() -> str:
    """The CPU's model and instruction-set flags (from /proc/cpuinfo), as part of the kernel cache's key."""
    try:
        with open("/proc/cpuinfo") as f:
            info = [ln for ln in f.read().splitlines() if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        info = []
    return "\n".join(info) or platform.machine()


def _warn_once(what: str, message: str) -> None:
    """One warning per kind of trouble per process (a model has many kernels)."""
    if what not in _warned:
        _warned.add(what)
        warnings.warn(f"graphc: {message}", RuntimeWarning, stacklevel=4)


_warned: set[str] = set()


@functools.lru_cache(maxsize=256)
def _build(src: str, single: bool) -> ctypes.CDLL:
    """The fused loop's library (see load_library)."""
    cc = compiler()
    flags = list(_flags()) + (["-fsingle-precision-constant"] if single else [])
    key = hashlib.sha256("\0".join([src, cc, *flags, _cpu_id()]).encode()).hexdigest()[:24]
    return load_library(src, flags, f"fused-{key}.so", ctypes.CDLL)


def load_library(src: str, flags: list[str], filename: str, loader: Callable[[str], Lib]) -> Lib:
    """loader(path) of the library compiled from C source `src` with `flags`: from the kernel cache when its
    entry `filename` is intact (the sha256 recorded beside it matches), else compiled now in a private
    temporary directory and stored in the cache (the caller names the entry by a hash of everything that
    goes into it). The cache is used only when it is this user's and nobody else may write to it;
    otherwise, or when it cannot be written, libraries are compiled in every process (one warning)."""
    cc = compiler()
    cache = _cache_dir()
    path = os.path.join(cache, filename) if cache else None
    lib = _load_cached(path, loader) if path else None
    if lib is not None:
        return lib
    try:
        build, lock = temporary_dir("graphc-build-")
    except OSError as e:
        _warn_once("build", f"no directory to compile kernels in ({e}); fused groups run as NumPy loops")
        raise Unsupported(f"cannot compile: {e}") from None
    try:
        data = _compile(src, cc, flags, build)
        try:
            lib = loader(os.path.join(build, "k.so"))
        except (OSError, ImportError) as e:
            raise Unsupported(f"the compiled kernel cannot be loaded: {e}") from None
        if path:
            try:
                atomic_write(path, [data], 0o600)
                atomic_write(path + ".sha256", [hashlib.sha256(data).hexdigest().encode()], 0o600)
            except OSError as e:
                _warn_once("store", f"compiled kernels are not cached ({e}); every process compiles them again")
        return lib
    finally:
        shutil.rmtree(build, ignore_errors=True)
        if lock is not None:
            os.close(lock)


def _cache_dir() -> str | None:
    """The kernel cache (config.cache_dir, created 0700), or None when it may not be trusted or created."""
    try:
        return private_dir(config.cache_dir)
    except OSError as e:
        _warn_once("cache", f"not using the kernel cache ({e}); every process compiles its kernels again")
        return None


def _compile(src: str, cc: str, flags: list[str], build: str) -> bytes:
    """The shared library of `src` built in the private directory `build`, as bytes."""
    c, out = os.path.join(build, "k.c"), os.path.join(build, "k.so")
    with open(c, "w") as f:
        f.write(src)
    for libs in (["-lmvec", "-lm"], ["-lm"]):  # libmvec is glibc's; elsewhere plain libm
        try:
            r = subprocess.run([cc, *flags, "-shared", "-fPIC", c, "-o", out, *libs], capture_output=True,
                               text=True, timeout=config.cc_timeout)
        except subprocess.TimeoutExpired:
            _warn_once("timeout", f"the C compiler {cc} did not finish in {config.cc_timeout:g} s; the fused "
                                  "groups it was building run as NumPy loops")
            raise Unsupported("the C compiler timed out") from None
        if r.returncode == 0:
            with open(out, "rb") as f:
                return f.read()
    raise Unsupported(f"C compiler failed: {r.stderr.strip()[:500]}")


def _load_cached(path: str, loader: Callable[[str], Lib]) -> Lib | None:
    """loader(path) of the cached library at `path` when it and its recorded sha256 are this user's, writable by nobody
    else, and match; None otherwise (the caller compiles it again and replaces the entry)."""
    try:
        with open(path + ".sha256", "rb", opener=_no_follow) as f:
            if trusted(os.fstat(f.fileno())):
                return None
            digest = f.read(64).decode("ascii", "replace")
    except OSError:
        return None
    try:
        fd = _no_follow(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if trusted(st) or not stat.S_ISREG(st.st_mode):
            return None
        h = hashlib.sha256()
        for block in iter(lambda: os.read(fd, 1 << 20), b""):
            h.update(block)
        if h.hexdigest() != digest:
            log.info("kernel cache entry %s is corrupt; compiling it again", path)
            return None
        # By name: dlopen of /proc/self/fd/N would return the library an earlier kernel loaded under that
        # name. The file cannot change in between: only this user may write to its directory.
        return loader(path)
    except (OSError, ImportError) as e:      # not a loadable library after all
        log.info("kernel %s cannot be loaded (%s)", path, e)
        return None
    finally:
        os.close(fd)


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


# Helpers the ops' C expressions call (graphc/ir/ops/elementwise.py), for float and double operands; written
# without branches so that loops calling them still vectorize.
C_HELPERS = r"""
#define G_FLOORDIV(T, NAME, FMOD, FLOOR, COPYSIGN)                                  \
  static inline T NAME(T a, T b) {      /* NumPy's floor_divide (npy_divmod) */     \
    T mod = FMOD(a, b), q = a / b;                                                 \
    T div = (a - mod) / b;                                                         \
    div = (mod != 0 && (b < 0) != (mod < 0)) ? div - 1 : div;                      \
    T f = FLOOR(div);                                                              \
    f = div - f > (T)0.5 ? f + 1 : f;                                              \
    return b == 0 ? q : div == 0 ? COPYSIGN((T)0, q) : f;                          \
  }
G_FLOORDIV(float, g_floordivf, fmodf, floorf, copysignf)
G_FLOORDIV(double, g_floordivd, (fmod), (floor), (copysign))
#define g_floordiv(a, b) _Generic((a) + (b), float: g_floordivf, default: g_floordivd)(a, b)
"""


def _header(ct: str) -> str:
    suffix = "f" if ct == "float" else ""
    # Parenthesized names: tgmath.h defines the double-precision names as macros.
    decls = " ".join(f"GV {ct} ({fn}{suffix})({ct}{', ' + ct if fn in _TWO_ARGS else ''});" for fn in _VECTOR_MATH)
    return ("#include <tgmath.h>\n#include <stddef.h>\n"
            '#define GV __attribute__((__simd__("notinbranch")))\n'
            f"{decls}\n{C_HELPERS}typedef {ct} T;\n")


class CFusedKernel:
    """A fused node compiled to a C loop; same calling convention as FusedCPUKernel."""

    def __init__(self, node: OpNode) -> None:
        if compiler() is None:
            raise Unsupported("no C compiler")
        why = group_problem(node.attrs["subgraph"])
        if why:
            raise Unsupported(why)
        grp = self.group = FusedGroup.of(node)
        sub = self.sub = grp.sub
        self.name, self.shape = grp.name, grp.shape
        if not is_static(self.shape[1:]):   # the loop's blocks are compile-time constants; only n is a parameter
            raise Unsupported(f"iteration shape {self.shape} is symbolic past its leading axis")
        floats = {v.dtype for n in sub.nodes for v in n.inputs + n.outputs if v.dtype.kind == "f"}
        if len(floats) != 1 or any(v.dtype not in _CTYPE for n in sub.nodes for v in n.inputs + n.outputs):
            raise Unsupported("needs one float dtype (float32 or float64) and bools")
        self.dtype = floats.pop()
        self.src, self.n_acc = self._generate()
        lib = _build(self.src, self.dtype == np.float32)
        self.fn = lib.kernel
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_ssize_t]
        self.fn.restype = None
        # Threads pay off once the loop's time dwarfs handing work to the pool (about 0.1 ms here): plain
        # arithmetic is memory-bound (a 2^20-element update ran slower on two threads than on one),
        # while a vector-math call costs about as much as eight plain ops per element.
        self.parallel_min = (config.parallel_min << 3) // (1 + 8 * self.math_calls)
        # Per call only arrays change: what each input and output is, worked out once.
        self._ins = [(self._block(v), v.dtype) for v in sub.inputs]
        self._outs = [(v.dtype, grp.reduction_of(v), self.slots.get(v)) for v in sub.outputs]
        self._fresh = [Recycler() for _ in sub.outputs]   # results returned, reused once dropped

    def _block(self, v: Value) -> int:
        """How input v is read at flat position i: 0 a scalar, -1 at i, B > 0 a trailing block (i % B)."""
        if v.size == 1:
            return 0
        if v.shape == self.shape:
            return -1
        shape = tuple(d for d in v.shape)
        while shape and shape[0] == 1:
            shape = shape[1:]
        if shape == self.shape[len(self.shape) - len(shape):] and is_static(shape):
            return int(np.prod(shape, dtype=np.int64))
        raise Unsupported(f"input of shape {v.shape} broadcasts in a way the C loop does not handle")

    def _generate(self) -> tuple[str, int]:
        sub = self.sub
        ct = _CTYPE[self.dtype]
        names: dict[Value, str] = {}
        lines = ["void kernel(void** ins, void** outs, double* accs, ptrdiff_t start, ptrdiff_t stop) {"]
        for k, v in enumerate(sub.inputs):
            lines.append(f"  const {_CTYPE[v.dtype]}* restrict x{k} = (const {_CTYPE[v.dtype]}*)ins[{k}];")
        out_index = {v: k for k, v in enumerate(sub.outputs)}
        for v, k in out_index.items():
            if v.producer.op.reduction is None:
                lines.append(f"  {_CTYPE[v.dtype]}* restrict o{k} = ({_CTYPE[v.dtype]}*)outs[{k}];")
        # Accumulators, in double: a full reduction has one (acc{a}); a reduction over the leading axes
        # has one per element of the remaining block (c{a}[...], the bias gradient's column sums).
        blocks = [self._block(v) for v in sub.inputs]
        sizes = set(blocks) - {0, -1}
        self.slots: dict[Value, tuple[int, int]] = {}     # reduction result -> (offset in accs, width)
        full, cols = [], []
        for n in sub.nodes:
            if n.op.reduction is None:
                continue
            if n.op.reduction.ufunc != "add":
                raise Unsupported(f"reduction {n.op.name} (only sums and means accumulate in the C loop)")
            axes = tuple(sorted(n.attrs["axis"]))
            width = prod(self.shape[len(axes):])
            if axes != tuple(range(len(axes))):
                raise Unsupported("only reductions over all axes or over the leading axes")
            (full if width == 1 and len(axes) == len(self.shape) else cols).append(n)
            if n in cols:
                sizes.add(width)
            self.slots[n.outputs[0]] = (sum(w for _, w in self.slots.values()), width)
        nested = len(sizes) == 1
        if cols and not nested:
            raise Unsupported("a reduction over leading axes beside another broadcast block size")
        acc_of = {n: f"acc{a}" for a, n in enumerate(full)}
        acc_of.update({n: f"c{a}[b0 + j]" for a, n in enumerate(cols)})
        lines += [f"  double acc{a} = 0;" for a in range(len(full))]
        lines += [f"  double* restrict c{a} = accs + {self.slots[n.outputs[0]][0]};" for a, n in enumerate(cols)]
        red = "".join(f" reduction(+:acc{a})" for a in range(len(full)))
        if nested:
            # One broadcast block (a bias row): loop over whole blocks so that the inner loop reads it
            # contiguously and vectorizes (i % B in the loop would not).
            size = sizes.pop()
            lines += ["  for (ptrdiff_t i0 = start; i0 < stop; ) {",
                      f"    const ptrdiff_t b0 = i0 % {size}, n = {size} - b0 < stop - i0 ? {size} - b0 : stop - i0;",
                      f"    #pragma omp simd{red}",
                      "    for (ptrdiff_t j = 0; j < n; j++) {",
                      "    const ptrdiff_t i = i0 + j;"]
            at = {0: "0", -1: "i", size: "b0 + j"}
        else:
            lines += [f"  #pragma omp simd{red}", "  for (ptrdiff_t i = start; i < stop; i++) {"]
            at = {b: "0" if b == 0 else "i" if b == -1 else f"i % {b}" for b in blocks}
        for k, (v, b) in enumerate(zip(sub.inputs, blocks)):
            lines.append(f"    {_register(v.dtype)} in{k} = x{k}[{at[b]}];")
            names[v] = f"in{k}"
        for c in sub.consts:
            if c.dtype not in _CTYPE:
                raise Unsupported(f"constant of dtype {c.dtype}")
            names[c] = f"(({_CTYPE[c.dtype]}){_literal(c.data.reshape(()).item())})"
        self.math_calls = 0
        for j, n in enumerate(sub.nodes):
            out = n.outputs[0]
            args = [names[v] for v in n.inputs]
            if n.op.reduction is not None:
                lines.append(f"    {acc_of[n]} += (double)({args[0]});")
                continue
            if n.op.c_expr is None:
                raise Unsupported(f"op {n.op.name} has no C expression")
            tmpl = n.op.c_expr.template(False, n.attrs)
            self.math_calls += sum(f"{fn}(" in tmpl for fn in _VECTOR_MATH)
            attrs = {k: _literal(v) for k, v in n.attrs.items() if isinstance(v, (int, float))}
            expr = tmpl.replace("T_OUT", _CTYPE[out.dtype]).format(*args, **attrs)
            lines.append(f"    {_register(out.dtype)} t{j} = {expr};")
            names[out] = f"t{j}"
            if out in out_index:
                lines.append(f"    o{out_index[out]}[i] = t{j};")
        lines.append("  }")
        if nested:
            lines += ["    i0 += n;", "  }"]
        lines += [f"  accs[{self.slots[n.outputs[0]][0]}] = acc{a};" for a, n in enumerate(full)]
        lines.append("}")
        return _header(ct) + "\n".join(lines) + "\n", sum(w for _, w in self.slots.values())

    def _run(self, ins, outs, start: int, stop: int) -> np.ndarray:
        acc = np.zeros(max(self.n_acc, 1), np.float64)
        self.fn(ins, outs, acc.ctypes.data, start, stop)
        return acc

    def __call__(self, *arrays, out: dict | None = None):
        """Run the group; `out` may give contiguous arrays to write elementwise outputs into.

        The loop trusts every pointer it is given, so each buffer's size is checked here first."""
        if len(arrays) != len(self._ins):
            raise ShapeError(f"fused kernel {self.name}: {len(arrays)} arrays given for {len(self._ins)} inputs")
        keep = [np.ascontiguousarray(a, dtype=dtype) for a, (_, dtype) in zip(arrays, self._ins)]
        shape = self.group.shape_for(keep)
        n = int(np.prod(shape, dtype=np.int64))
        for k, (a, (block, _)) in enumerate(zip(keep, self._ins)):
            size = 1 if block == 0 else n if block == -1 else block    # what the loop reads of it
            if a.size != size:
                raise ShapeError(f"fused kernel {self.name}: input {k} has {a.size} elements, the loop reads {size}")
        ins = (ctypes.c_void_p * max(len(keep), 1))(*[a.ctypes.data for a in keep])
        results: list = []
        for o, (dtype, red, _) in enumerate(self._outs):
            given = out.get(o) if out else None
            if given is not None and (type(given) is not np.ndarray or given.shape != shape or given.dtype != dtype
                                      or not given.flags.c_contiguous or not given.flags.writeable):
                raise ShapeError(f"fused kernel {self.name}: output {o} must be a writable contiguous "
                                 f"{dtype}{list(shape)} array")
            results.append(None if red is not None else given if given is not None
                           else self._fresh[o].empty(shape, dtype))
        outs = (ctypes.c_void_p * max(len(results), 1))(*[0 if r is None else r.ctypes.data for r in results])
        if n >= self.parallel_min:
            total = sum(run_split(lambda w, lo, hi: self._run(ins, outs, lo, hi), n, ALIGN))
        else:
            total = self._run(ins, outs, 0, n)
        for o, (dtype, red, slot) in enumerate(self._outs):
            if results[o] is None:
                at, width = slot
                s = total[at:at + width]
                s = s / (n // width) if red.op.reduction.mean else s
                results[o] = np.asarray(s, dtype=dtype).reshape(self.group.reduced(shape, red))
        return results[0] if len(results) == 1 else tuple(results)


def _register(dtype: np.dtype) -> str:
    """The C type holding a value in the loop: bools as int, since a one-byte lane among 32-bit float
    lanes stops gcc from vectorizing the loop (memory keeps _Bool)."""
    return "int" if dtype == np.bool_ else _CTYPE[dtype]


def _literal(x: float) -> str:
    if isinstance(x, bool):
        return "1" if x else "0"
    if x != x:
        return "NAN"
    if x in (float("inf"), float("-inf")):
        return "INFINITY" if x > 0 else "-INFINITY"
    return repr(float(x))
