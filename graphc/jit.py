"""jit.trace: a Python function (a whole training step included) becomes one Graph, compiled once to a Plan
and replayed on later calls with the same input signature.

Python control flow runs at trace time: branches and loop counts are fixed by the first call with a given
signature, and values read with item()/numpy() inside a symbolic trace are an error.
"""
from __future__ import annotations

import functools
import inspect
import logging
import threading
import warnings
from collections.abc import Callable

import numpy as np

from . import viz
from .device import get_device
from .eager import run_eager
from .ir import GRADIENT, Graph, Value
from .ir.errors import TraceError
from .ir.interpret import evaluate
from .ir.location import user_location
from .locks import Holding, state_locks
from .passes.autodiff import grad as derive
from .runtime.compile import compile_graph
from .runtime.plan import Signature
from .saved_plan import dump_trace
from .state import State
from .tensors import Parameter, Tensor, _serial

log = logging.getLogger("graphc.jit")
RETRACE_WARNING = 8
_TENSOR_TYPES = (Tensor, Parameter)


class Trace:
    """The graph under construction while a traced function runs."""

    def __init__(self, symbolic: bool, capture_as_const: bool, names: dict[int, str] | None = None) -> None:
        self.graph = Graph()
        self.names = names or {}                      # id(tensor) -> the user's name for a captured tensor
        self.symbolic = symbolic
        self.capture_as_const = capture_as_const
        self.values: dict[int, Value] = {}            # id(tensor) -> its current Value
        self.keep: list[Tensor] = []                  # keeps those ids valid
        self.states: list[tuple[Tensor, Value]] = []  # tensors captured from outside, as inputs
        self.arrays: dict[Value, object] = {}         # eager values (symbolic=False only)
        self.grads: dict[int, Tensor] = {}            # params given gradients by backward
        self.guards: dict[object, Callable[[], str | None]] = {}  # run before each replay; a reason retraces
        self.start = next(_serial)

    def position(self) -> int:
        """Index of the next node (a GradManager's recording start)."""
        return len(self.graph.nodes)

    def _bind(self, t: Tensor, v: Value) -> Value:
        self.values[id(t)] = v
        self.keep.append(t)
        if not self.symbolic and t._data is not None:
            self.arrays[v] = t._data
        return v

    def value_of(self, t: Tensor) -> Value:
        """The Value standing for `t`: a constant when made during the trace, else a captured input."""
        v = self.values.get(id(t))
        if v is not None:
            return v
        if t._data is None:
            raise TraceError(f"a tensor of another trace was used here (at {user_location()})")
        if t._serial > self.start or self.capture_as_const:
            return self._bind(t, self.graph.add_const(t.numpy()))
        return self.capture(t)

    def capture(self, t: Tensor, name: str | None = None) -> Value:
        """Make `t` an input of the traced graph, read again at every replay (a state)."""
        v = self.values.get(id(t))
        if v is not None:
            return v
        v = self.graph.add_input(t.shape, t.dtype, name=name or self.names.get(id(t), f"state{len(self.states)}"))
        self.states.append((t, v))
        return self._bind(t, v)

    def apply(self, op, inputs, attrs: dict, device=None) -> list[Tensor]:
        """Record an op application; also compute it when not symbolic."""
        vals = [self.value_of(t) for t in inputs]
        outs = self.graph.emit(op.name, vals, attrs, loc=user_location(), role=State.role)
        dev = inputs[0]._device if inputs else get_device(device)
        if self.symbolic:
            datas = [None] * len(outs)
        else:
            datas = run_eager(op, [t._data for t in inputs], attrs, dev.xp)
        tensors = [Tensor._wrap(d, dev, v) for d, v in zip(datas, outs)]
        for t, v in zip(tensors, outs):
            self._bind(t, v)
        return tensors

    def assign(self, t: Tensor, new: Tensor) -> None:
        """`t` now holds `new`'s value; for a captured tensor this becomes a state update."""
        self.value_of(t)
        v = self.value_of(new)
        if v.type != self.values[id(t)].type and any(s is t for s, _ in self.states):
            raise TraceError(f"assigning a {v.dtype}{list(v.shape)} value to a traced state of "
                             f"{t.dtype}{list(t.shape)} changes its type (at {user_location()})")
        self.values[id(t)] = v
        if not self.symbolic:
            t._data = new._data

    def backward(self, gm, ys: list[Tensor], dys: list[Tensor], start: int | None) -> list[tuple[Tensor, Tensor]]:
        """Insert gradient nodes for a GradManager.backward inside the trace."""
        params = gm.attached_tensors()
        wrt = [self.value_of(p) for p in params]
        n = len(self.graph.nodes)
        grads = derive(self.graph, [self.value_of(y) for y in ys], [self.value_of(d) for d in dys], wrt,
                       start=start or 0, role=GRADIENT)
        if not self.symbolic:
            sub = Graph()
            sub.nodes = self.graph.nodes[n:]
            sub.consts = self.graph.consts
            evaluate(sub, {}, get_device(None).xp, self.arrays)
        out = []
        for p, g in zip(params, grads):
            if g is not None:
                t = Tensor._wrap(self.arrays.get(g), p._device, g)
                self._bind(t, g)
                self.grads[id(p)] = p
                out.append((p, t))
        return out


class _Compiled:
    """One traced signature: its graph, plan and how to feed and unpack it."""

    def __init__(self, tr: Trace, n_args: int, structure, out_leaves: list[Tensor], devices,
                 opt_level: int) -> None:
        g = tr.graph
        g.outputs = [tr.value_of(t) for t in out_leaves]
        self.grad_params = [p for p in tr.grads.values() if p.grad is not None and p.grad._sym is not None]
        g.outputs += [tr.value_of(p.grad) for p in self.grad_params]
        self.n_out = len(out_leaves)
        self.states = [t for t, _ in tr.states]
        for t, v in tr.states:
            cur = tr.values[id(t)]
            if cur is not v:
                g.updates.append((v, cur))
        g.inputs = g.inputs[:n_args] + [v for _, v in tr.states]
        self.graph = g
        self.structure = structure
        self.single = structure == ("T",)
        self.guards = tuple(tr.guards.values())
        self.devices = devices
        dev = devices[0] if devices else get_device(None)
        # On the GPU the whole step replays as one CUDA graph (unless config.cuda_graph is off).
        sig = Signature.of(g, n_args, len(self.grad_params))
        self.plan = compile_graph(g, opt_level, dev.kind, sig, replay=True)
        self.device = dev
        # A training step holds its captured tensors' locks exclusively, a read-only call shares them.
        self.holding = Holding(state_locks(self.states), write=bool(g.updates or self.grad_params))

    def stale(self) -> str | None:
        """Why this trace no longer matches the Python state it baked in (None: replay it)."""
        for guard in self.guards:
            why = guard()
            if why:
                return why
        return None

    def run(self, leaves) -> object:
        """Replay the plan on new inputs, rebind the states to their new values, return the outputs."""
        dev = self.device
        wrap = Tensor._wrap
        with self.holding:
            r = self.plan.run([t._data for t in leaves], [t._data for t in self.states])
            if self.grad_params:
                for p, a in zip(self.grad_params, r.grads):
                    p.grad = wrap(a, dev)
            for t, a in zip(self.states, r.states):
                t._data = a
        if self.single:
            return wrap(r.outputs[0], dev)
        return _unflatten(self.structure, [wrap(a, dev) for a in r.outputs])


def _flatten(obj, leaves: list) -> object:
    """A hashable description of obj's structure; Tensors (and arrays) are appended to leaves."""
    if isinstance(obj, Tensor):
        leaves.append(obj)
        return ("T",)
    if isinstance(obj, np.ndarray):
        leaves.append(Tensor(obj))
        return ("T",)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(_flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((k, _flatten(v, leaves)) for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0]))))
    try:
        hash(obj)
    except TypeError:
        raise TraceError(f"traced function argument {obj!r} is neither a Tensor nor hashable") from None
    return ("py", obj)


def _unflatten(spec, leaves: list) -> object:
    it = iter(leaves)

    def build(s):
        kind = s[0]
        if kind == "T":
            return next(it)
        if kind in ("list", "tuple"):
            items = [build(x) for x in s[1]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return {k: build(v) for k, v in s[1]}
        return s[1]
    return build(spec)


class trace:
    """Compile `fn` (MegEngine's jit.trace): traced on the first call per signature, replayed afterwards."""

    def __init__(self, function: Callable | None = None, *, symbolic: bool = True,
                 capture_as_const: bool = False, opt_level: int = 3) -> None:
        self.__wrapped__ = function
        self.symbolic = symbolic
        self.capture_as_const = capture_as_const
        self.opt_level = opt_level
        self._cache: dict[tuple, _Compiled] = {}
        self._last: _Compiled | None = None
        self._last_sig: tuple | None = None   # (structure, tensor types) of the last traced call
        self.traces = 0
        self._tracing = threading.RLock()
        if function is not None:
            functools.update_wrapper(self, function)

    def __call__(self, *args, **kwargs):
        if self.__wrapped__ is None:  # used as @trace(symbolic=...)
            self.__init__(args[0], symbolic=self.symbolic, capture_as_const=self.capture_as_const,
                          opt_level=self.opt_level)
            return self
        if State.tracing is not None:  # a traced function called inside another trace is inlined
            return self.__wrapped__(*args, **kwargs)
        if not kwargs and all(type(a) in _TENSOR_TYPES for a in args):  # the common case, kept cheap
            key = tuple((a._data.shape, a._data.dtype, a._device.name) for a in args)
            compiled = self._cache.get(key)
            if compiled is not None and not (compiled.guards and self._stale(compiled)):
                self._last = compiled
                return compiled.run(args)
            leaves = list(args)
            spec = ("tuple", (("tuple", (("T",),) * len(args)), ("dict", ())))
        else:
            leaves = []
            spec = _flatten((args, kwargs), leaves)
            key = (spec, tuple((t._data.shape, t._data.dtype, t._device.name) for t in leaves))
        compiled = self._cache.get(key)
        if compiled is not None and compiled.guards and self._stale(compiled):
            compiled = None
        if compiled is None:
            with self._tracing:    # one thread traces a new signature; others wait, then replay it
                compiled = self._cache.get(key)
                if compiled is None:
                    sig = (spec, [(t._data.shape, t._data.dtype, t._device.name) for t in leaves])
                    self._log_retrace(sig)
                    self._last_sig = sig
                    return self._trace(key, spec, leaves, args, kwargs)
        self._last = compiled
        return compiled.run(leaves)

    def _stale(self, compiled: _Compiled) -> bool:
        """Run the trace's guards; a stale trace is dropped (and logged) so the call retraces."""
        why = compiled.stale()
        if why:
            log.info("retracing %s: %s", getattr(self.__wrapped__, "__name__", "function"), why)
            self._cache = {k: c for k, c in self._cache.items() if c is not compiled}
            self._last_sig = None
        return bool(why)

    def _log_retrace(self, sig: tuple) -> None:
        name = getattr(self.__wrapped__, "__name__", "function")
        if self._last_sig is None:
            log.info("tracing %s%s", name, " for the first time" if not self.traces else " again")
        else:
            log.info("retracing %s: %s", name, _why(self._last_sig, sig))
        if self.traces + 1 == RETRACE_WARNING:
            warnings.warn(f"{name} was traced {RETRACE_WARNING} times; its input shapes, dtypes or "
                          "Python arguments keep changing", stacklevel=3)

    def _trace(self, key, spec, leaves: list[Tensor], args, kwargs):
        tr = Trace(self.symbolic, self.capture_as_const, _captured_names(self.__wrapped__))
        names = _arg_names(self.__wrapped__, len(leaves))
        sym_leaves = []
        for t, name in zip(leaves, names):
            v = tr.graph.add_input(t.shape, t.dtype, name=name)
            s = Tensor._wrap(None if self.symbolic else t._data, t._device, v)
            tr._bind(s, v)
            sym_leaves.append(s)
        sym_args, sym_kwargs = _unflatten(spec, sym_leaves)
        State.tracing = tr
        try:
            result = self.__wrapped__(*sym_args, **sym_kwargs)
        finally:
            State.tracing = None
        out_leaves: list[Tensor] = []
        out_spec = _flatten(result, out_leaves)
        compiled = _Compiled(tr, len(leaves), out_spec, out_leaves, [t.device for t in leaves], self.opt_level)
        self._cache[key] = compiled
        self._last = compiled
        self.traces += 1
        if not self.symbolic:  # the eager run already applied the step
            for p in compiled.grad_params:
                p.grad = Tensor._wrap(p.grad._data, p.grad._device)
            return _unflatten(out_spec, [Tensor._wrap(t._data, t._device) for t in out_leaves])
        return compiled.run(leaves)

    def dump(self, file, **kwargs) -> None:
        """Write the most recent trace to a plan file (MegEngine's trace.dump; see saved_plan.dump_trace)."""
        dump_trace(self, file, **kwargs)

    def _repr_svg_(self) -> str | None:
        """Jupyter: the traced graph as SVG (None when graphviz's dot is missing)."""
        return viz.repr_svg(self) if self._last is not None else None

    @property
    def graph(self) -> Graph:
        """The traced (unoptimized) graph of the most recent signature."""
        return self._require().graph

    @property
    def plan(self):
        """The compiled plan of the most recent signature."""
        return self._require().plan

    def _require(self) -> _Compiled:
        if self._last is None:
            raise TraceError("the function has not been traced yet: call it once first")
        return self._last


def _captured_names(fn: Callable) -> dict[int, str]:
    """Names the function can see its tensors by (closure and globals; lists of tensors as name[i]),
    so captured parameters appear as `w` rather than `state0` in printed, rendered and saved graphs."""
    code, found = getattr(fn, "__code__", None), {}
    if code is None:
        return found
    scope = {name: c.cell_contents for name, c in zip(code.co_freevars, fn.__closure__ or ()) if _cell_filled(c)}
    scope.update({k: fn.__globals__[k] for k in code.co_names if k in fn.__globals__})
    for k, v in scope.items():
        if isinstance(v, Tensor):
            found.setdefault(id(v), k)
        elif isinstance(v, (list, tuple)):
            for i, t in enumerate(v):
                if isinstance(t, Tensor):
                    found.setdefault(id(t), f"{k}[{i}]")
    return found


def _cell_filled(cell) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:   # a closure variable not assigned yet
        return False
    return True


def _arg_names(fn: Callable, n: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg{i}" for i in range(n)]


def _why(old: tuple, new: tuple) -> str:
    """Why a call's signature differs from the last traced one, in words."""
    (ospec, otypes), (nspec, ntypes) = old, new
    if ospec != nspec or len(otypes) != len(ntypes):
        return "the Python structure, the number of tensors or a non-tensor argument changed"
    for i, (a, b) in enumerate(zip(otypes, ntypes)):
        if a != b:
            return f"tensor argument {i} changed from {a[1]}{list(a[0])} on {a[2]} to {b[1]}{list(b[0])} on {b[2]}"
    return "the arguments changed"
