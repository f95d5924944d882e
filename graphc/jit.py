"""jit.trace: a Python function (a whole training step included) becomes one Graph, compiled once to a Plan
and replayed on later calls with the same input signature.

Python control flow runs at trace time: branches and loop counts are fixed by the first call with a given
signature, and values read with item()/numpy() inside a symbolic trace are an error. A tensor argument used as
a shape, size or bound is read while tracing; its value is checked before each replay (another value
retraces). trace(checked=True) runs the function on every call and checks it against the trace, as MegEngine
does (graphc/trace_check.py).
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import time
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from . import viz
from .config import config
from .device import get_device
from .eager import run_eager
from .ir import GRADIENT, Graph, Value
from .ir.errors import TraceError
from .ir.interpret import evaluate
from .ir.location import user_location
from .passes.autodiff import grad as derive
from .runtime.arrays import to_host
from .runtime.compile import compile_graph
from .runtime.plan import Signature
from .saved_plan import dump_trace
from .state import State
from .tensors import Parameter, Tensor, _serial
from .trace_check import Checker, Recorded

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
        self.value_guards: list[tuple[Value, np.ndarray]] = []   # inputs whose values the trace baked in
        self.args: list[Value] = []                   # the argument inputs, in leaf order
        # The caller's tensor behind each argument's stand-in and back: both stand for the argument (a closure
        # or gm.attach may use the caller's object), and an argument's value may be read (then checked).
        self.twin: dict[int, Tensor] = {}
        self.arg_index: dict[int, int] = {}           # id(stand-in) -> argument position
        self.arg_data: dict[int, object] = {}         # id(stand-in) -> the argument's array (symbolic traces)
        self.stand_ins: list[Tensor] = []
        self.check: Checker | None = None             # checked mode: compares each op with the recorded trace
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
            return self._bind(t, self.graph.add_const(t.numpy(), name=t._label()))
        return self.capture(t)

    def capture(self, t: Tensor, name: str | None = None) -> Value:
        """Make `t` an input of the traced graph, read again at every replay (a state)."""
        v = self.values.get(id(t))
        if v is not None:
            return v
        v = self.graph.add_input(t.shape, t.dtype, name=name or t._label() or self.names.get(id(t))
                                 or f"state{len(self.states)}")
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
        if self.check is not None:
            self.check.nodes(self.graph, self.args, self._state_ids())
        return tensors

    def _state_ids(self) -> list[tuple[int, Value]]:
        return [(id(t), v) for t, v in self.states]

    def add_argument(self, t: Tensor, name: str) -> Tensor:
        """An input for the caller's tensor `t` and the stand-in the function receives for it."""
        v = self.graph.add_input(t.shape, t.dtype, name=t._label() or name)
        s = Tensor._wrap(None if self.symbolic else t._data, t._device, v)
        self._bind(s, v)
        self._bind(t, v)
        self.twin[id(s)], self.twin[id(t)] = t, s
        self.arg_index[id(s)] = len(self.args)
        self.args.append(v)
        self.stand_ins.append(s)
        if self.symbolic:
            self.arg_data[id(s)] = t._data
        return s

    def argument_value(self, t: Tensor):
        """The array of an argument read inside a symbolic trace (the trace checks it before each replay);
        None for a tensor the trace computes."""
        data = self.arg_data.get(id(t))
        if data is not None:
            self.value_guards.append((self.values[id(t)], np.array(to_host(data))))
        return data

    def read_value(self, t: Tensor) -> np.ndarray:
        """The value of a tensor that a shape, size, bound or mask is read from. It is baked into the graph,
        so an input's value is checked before each replay; a tensor the trace computes has none to read."""
        v = self.values.get(id(t))
        if v is not None and v.kind == "op":
            raise TraceError("a shape, size, bound or mask read from a value the traced function computes "
                             "would be fixed at its first value; compute it from Python numbers or pass it as "
                             f"an argument (at {user_location()})")
        value = t.numpy()
        if v is None and t._serial <= self.start and not self.capture_as_const:
            v = self.capture(t)
        if v is not None and v.kind == "input":
            self.value_guards.append((v, value.copy()))
        return value

    def assign(self, t: Tensor, new: Tensor) -> None:
        """`t` now holds `new`'s value; for a captured tensor this becomes a state update."""
        self.value_of(t)
        v = self.value_of(new)
        if v.type != self.values[id(t)].type and any(s is t for s, _ in self.states):
            raise TraceError(f"assigning a {v.dtype}{list(v.shape)} value to a traced state of "
                             f"{t.dtype}{list(t.shape)} changes its type (at {user_location()})")
        self.values[id(t)] = v
        twin = self.twin.get(id(t))
        if twin is not None:     # an argument: its stand-in and the caller's tensor both take the value
            self.values[id(twin)] = v
        if not self.symbolic:
            t._data = new._data
            if twin is not None:
                twin._data = new._data

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
                p = self.twin.get(id(p), p) if id(p) not in self.arg_index else p   # .grad on the stand-in
                t = Tensor._wrap(self.arrays.get(g), p._device, g)
                self._bind(t, g)
                self.grads[id(p)] = p
                out.append((p, t))
        if self.check is not None:
            self.check.nodes(self.graph, self.args, self._state_ids())
        return out

    def finish(self, out_leaves: list[Tensor]) -> None:
        """Checked mode: compare the end of the trace (outputs, state updates) with the recorded one."""
        updates = [(v, self.values[id(t)]) for t, v in self.states if self.values[id(t)] is not v]
        self.check.finish(self.graph, self.args, self._state_ids(), [self.value_of(t) for t in out_leaves],
                          updates)


class _Compiled:
    """One traced signature: its graph, plan and how to feed and unpack it."""

    def __init__(self, tr: Trace, n_args: int, structure, out_leaves: list[Tensor], devices,
                 opt_level: int) -> None:
        g = tr.graph
        g.outputs = [tr.value_of(t) for t in out_leaves]
        self.n_out = len(out_leaves)
        # Arguments the function assigned (x[...] = v, x += 1): the caller's tensors take the new values.
        self.arg_updates = [k for k, s in enumerate(tr.stand_ins) if tr.values[id(s)] is not tr.args[k]]
        g.outputs += [tr.values[id(tr.stand_ins[k])] for k in self.arg_updates]
        self.grad_params = [p for p in tr.grads.values() if p.grad is not None and p.grad._sym is not None]
        # Where each gradient goes: an argument's to the tensor passed at that position in the call.
        self.grad_args = [tr.arg_index.get(id(p)) for p in self.grad_params]
        g.outputs += [tr.value_of(p.grad) for p in self.grad_params]
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
        position = {v: i for i, v in enumerate(g.inputs)}
        self.value_guards = [(position[v], value) for v, value in tr.value_guards if v in position]
        self.checks = bool(self.guards or self.value_guards)
        self.n_args = n_args
        self.devices = devices
        dev = devices[0] if devices else get_device(None)
        # On the GPU the whole step replays as one CUDA graph (unless config.cuda_graph is off).
        sig = Signature.of(g, n_args, len(self.grad_params))
        self.plan = compile_graph(g, opt_level, dev.kind, sig, replay=True)
        self.device = dev

    @functools.cached_property
    def recorded(self) -> Recorded:
        """The trace as checked mode compares new runs with it."""
        return Recorded(self.graph, self.n_args, self.n_out, [id(t) for t in self.states])

    def stale(self, leaves: list[Tensor]) -> str | None:
        """Why this trace no longer matches the Python state or the argument values it baked in (None: replay
        it)."""
        for guard in self.guards:
            why = guard()
            if why:
                return why
        for i, value in self.value_guards:
            t = leaves[i] if i < len(leaves) else self.states[i - len(leaves)]
            if not np.array_equal(np.asarray(to_host(t._data)), value):
                return f"the value of input {i}, read as a shape, size or bound while tracing, changed"
        return None

    def run(self, leaves) -> object:
        """Replay the plan on new inputs, rebind the states to their new values, return the outputs."""
        r = self.plan.run([t._data for t in leaves], [t._data for t in self.states])
        dev = self.device
        wrap = Tensor._wrap
        if self.grad_params:
            for p, k, a in zip(self.grad_params, self.grad_args, r.grads):
                (p if k is None else leaves[k]).grad = wrap(a, dev)
        for t, a in zip(self.states, r.states):
            t._data = a
        for k, a in zip(self.arg_updates, r.outputs[self.n_out:]):
            leaves[k]._data = a
        if self.single:
            return wrap(r.outputs[0], dev)
        return _unflatten(self.structure, [wrap(a, dev) for a in r.outputs[:self.n_out]])


def _eager_results(tr: Trace, out_spec, out_leaves: list[Tensor]):
    """A symbolic=False trace's own results (its eager run computed them), detached from the trace; an
    argument's gradient goes to the caller's tensor."""
    for p in tr.grads.values():
        if p.grad is not None:
            target = tr.twin[id(p)] if id(p) in tr.arg_index else p
            target.grad = Tensor._wrap(p.grad._data, p.grad._device)
    return _unflatten(out_spec, [Tensor._wrap(t._data, t._device) for t in out_leaves])


@contextlib.contextmanager
def exclude_from_trace() -> Iterator[None]:
    """Code inside runs eagerly and is not recorded (MegEngine's exclude_from_trace). A replayed trace does
    not run it again (its results, where the traced code uses them, are constants of the trace); the tensors
    it reads must have values, so a symbolic trace's computed tensors cannot enter it."""
    tr, State.tracing = State.tracing, None
    try:
        yield
    finally:
        State.tracing = tr


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
                 capture_as_const: bool = False, opt_level: int = 3, symbolic_shape: bool = False,
                 checked: bool | None = None, profiling: bool = False) -> None:
        self.__wrapped__ = function
        self.symbolic = symbolic
        self.capture_as_const = capture_as_const
        self.opt_level = opt_level
        # MegEngine's keyword; graphc compiles a plan per input shape, retracing when one changes.
        self.symbolic_shape = symbolic_shape
        # Checked mode (MegEngine's behaviour): run the function on every call and compare it with the trace.
        self.checked = config.trace_checked if checked is None else checked
        self.profiling = profiling
        self._profile = {"traces": 0, "calls": 0, "seconds": 0.0}
        self._plain = not (self.checked or profiling)   # calls may take the replay fast path
        self._cache: dict[tuple, _Compiled] = {}
        self._last: _Compiled | None = None
        self._last_sig: tuple | None = None   # (structure, tensor types) of the last traced call
        self.traces = 0
        if function is not None:
            functools.update_wrapper(self, function)

    def __call__(self, *args, **kwargs):
        if self.__wrapped__ is None:  # used as @trace(symbolic=...)
            self.__init__(args[0], symbolic=self.symbolic, capture_as_const=self.capture_as_const,
                          opt_level=self.opt_level, symbolic_shape=self.symbolic_shape, checked=self.checked,
                          profiling=self.profiling)
            return self
        if State.tracing is not None:  # a traced function called inside another trace is inlined
            return self.__wrapped__(*args, **kwargs)
        if not kwargs and self._plain and all(type(a) in _TENSOR_TYPES for a in args):  # the common case, cheap
            compiled = self._cache.get(tuple((a._data.shape, a._data.dtype, a._device.name) for a in args))
            if compiled is not None and not (compiled.checks and self._stale(compiled, args)):
                self._last = compiled
                return compiled.run(args)
        if not self.profiling:
            return self._call(args, kwargs)
        t0 = time.perf_counter()
        try:
            return self._call(args, kwargs)
        finally:
            self._profile["calls"] += 1
            self._profile["seconds"] += time.perf_counter() - t0

    def _call(self, args: tuple, kwargs: dict):
        if not kwargs and all(type(a) in _TENSOR_TYPES for a in args):
            key = tuple((a._data.shape, a._data.dtype, a._device.name) for a in args)
            leaves = list(args)
            spec = ("tuple", (("tuple", (("T",),) * len(args)), ("dict", ())))
        else:
            leaves = []
            spec = _flatten((args, kwargs), leaves)
            key = (spec, tuple((t._data.shape, t._data.dtype, t._device.name) for t in leaves))
        compiled = self._cache.get(key)
        if compiled is not None and compiled.checks and self._stale(compiled, leaves):
            compiled = None
        if compiled is None:
            sig = (spec, [(t._data.shape, t._data.dtype, t._device.name) for t in leaves])
            self._log_retrace(sig)
            self._last_sig = sig
            return self._trace(key, spec, leaves)
        self._last = compiled
        if self.checked:
            return self._checked_call(compiled, spec, leaves)
        return compiled.run(leaves)

    def _stale(self, compiled: _Compiled, leaves: list[Tensor]) -> bool:
        """Run the trace's guards; a stale trace is dropped (and logged) so the call retraces."""
        why = compiled.stale(leaves)
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

    def _record(self, spec, leaves: list[Tensor], check: Checker | None = None) -> tuple[Trace, object, list]:
        """Run the function on symbolic (or, symbolic=False or checking, eager) stand-ins of the leaves,
        recording a Trace; returns it, the result's structure and the result's tensors."""
        symbolic = self.symbolic and check is None
        tr = Trace(symbolic, self.capture_as_const, _captured_names(self.__wrapped__))
        tr.check = check
        names = _arg_names(self.__wrapped__, len(leaves))
        sym_leaves = [tr.add_argument(t, name) for t, name in zip(leaves, names)]
        sym_args, sym_kwargs = _unflatten(spec, sym_leaves)
        State.tracing = tr
        try:
            result = self.__wrapped__(*sym_args, **sym_kwargs)
            out_leaves: list[Tensor] = []
            out_spec = _flatten(result, out_leaves)
            if check is not None:
                tr.finish(out_leaves)
        finally:
            State.tracing = None
        return tr, out_spec, out_leaves

    def _trace(self, key, spec, leaves: list[Tensor]):
        tr, out_spec, out_leaves = self._record(spec, leaves)
        compiled = _Compiled(tr, len(leaves), out_spec, out_leaves, [t.device for t in leaves], self.opt_level)
        self._cache[key] = compiled
        self._last = compiled
        self.traces += 1
        self._profile["traces"] += 1
        if not self.symbolic:  # the eager run already applied the step
            return _eager_results(tr, out_spec, out_leaves)
        return compiled.run(leaves)

    def _checked_call(self, compiled: _Compiled, spec, leaves: list[Tensor]):
        """Checked mode: run the function again, eagerly (values can be read, side effects happen, as with
        MegEngine), comparing each op with the recorded trace; its results are the eager run's."""
        tr, out_spec, out_leaves = self._record(spec, leaves, Checker(compiled.recorded))
        return _eager_results(tr, out_spec, out_leaves)

    def get_profile(self) -> dict:
        """With profiling=True: how often the function was traced and called, and the time its calls took."""
        if not self.profiling:
            raise TraceError("get_profile() needs trace(..., profiling=True)")
        p = dict(self._profile)
        if self._last is not None:
            p["plan"] = dict(self._last.plan.stats)
        return {"profiler": p}

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
