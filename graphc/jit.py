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
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from . import viz
from .config import config
from .device import get_device
from .eager import run_eager
from .ir import GRADIENT, Graph, Value
from .ir.errors import TraceError
from .ir.interpret import evaluate
from .ir.location import user_location
from .ir.symbols import Dim, collecting, is_static
from .ir.symbols import evaluate as concrete
from .locks import Holding, state_locks
from .optimizer.optimizer import Optimizer
from .passes.autodiff import grad as derive
from .replay import replayer
from .runtime.arrays import to_host
from .runtime.compile import compile_graph
from .runtime.gcpause import paused_gc
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

    def add_argument(self, t: Tensor, name: str, shape: tuple) -> Tensor:
        """An input of `shape` (free dimensions symbolic) for the caller's tensor `t`, and the stand-in the
        function receives for it."""
        v = self.graph.add_input(shape, t.dtype, name=t._label() or name)
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
        y_vals, dy_vals = [self.value_of(y) for y in ys], [self.value_of(d) for d in dys]
        grads = derive(self.graph, y_vals, dy_vals, wrt, start=start or 0, role=GRADIENT)
        _name_gradients(self.graph.nodes[n:], y_vals, dy_vals, wrt, grads)
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
                 opt_level: int, spec: object = None) -> None:
        g = tr.graph
        self.spec = spec            # the arguments' Python structure
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
        self.n_args = n_args
        self.example_shapes: list[tuple[int, ...]] = []
        self.structure = structure
        self.single = structure == ("T",)
        self.guards = tuple(tr.guards.values())
        position = {v: i for i, v in enumerate(g.inputs)}
        self.value_guards = [(position[v], value) for v, value in tr.value_guards if v in position]
        self.checks = bool(self.guards or self.value_guards)
        self.devices = devices
        dev = devices[0] if devices else get_device(None)
        # On the GPU the whole step replays as one CUDA graph (unless config.cuda_graph is off).
        sig = Signature.of(g, n_args, len(self.grad_params))
        self.plan = compile_graph(g, opt_level, dev.kind, sig, replay=True)
        self.device = dev
        # A training step holds its captured tensors' locks exclusively, a read-only call shares them.
        self.holding = Holding(state_locks(self.states), write=bool(g.updates or self.grad_params or self.arg_updates))

    @property
    def generic(self) -> bool:
        """True when some argument's dimension is symbolic (one plan serves every size of it)."""
        return any(not is_static(v.shape) for v in self.graph.inputs[:self.n_args])

    def fits(self, spec: object, leaves: list[Tensor]) -> str | None:
        """None when this plan serves a call with these arguments, else why not (in words)."""
        if spec != self.spec or len(leaves) != self.n_args:
            return "the Python structure, the number of tensors or a non-tensor argument differs"
        free: dict[str, int] = {}
        for i, (t, v) in enumerate(zip(leaves, self.graph.inputs)):
            a = t._data
            if a.dtype != v.dtype or a.ndim != len(v.shape) or t._device is not self.devices[i]:
                return f"tensor argument {i} is {a.dtype}{list(a.shape)} on {t._device}, the plan's is {_show(v)}"
            for ax, (n, d) in enumerate(zip(a.shape, v.shape)):
                if type(d) is int and n != d:
                    return f"dimension {ax} of argument {i} is {n}, fixed at {d} in the plan"
                if type(d) is not int and len(d.symbols) == 1 and d == Dim.symbol(name := next(iter(d.symbols))):
                    if free.setdefault(name, n) != n:
                        return f"dimension {ax} of argument {i} is {n}, but {name} is {free[name]} elsewhere"
        env = self.graph.facts.bind(free)
        for i, (t, v) in enumerate(zip(leaves, self.graph.inputs)):
            if concrete(v.shape, env) != t._data.shape:
                return f"argument {i} has shape {list(t._data.shape)}, the plan expects {_show(v)}"
        failed = self.graph.facts.failed(env)
        if failed is not None:
            return f"guard {failed} fails for {', '.join(f'{k}={n}' for k, n in sorted(free.items()))}"
        return None

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
        if self.plan.device == "cpu" and not self.plan.replay:
            self.run = replayer(self, _unflatten)   # the same, generated for this signature: later calls use it
            return self.run(leaves)
        dev = self.device
        wrap = Tensor._wrap
        with self.holding:
            r = self.plan.run([t._data for t in leaves], [t._data for t in self.states])
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


def _name_gradients(new_nodes, ys: list[Value], dys: list[Value], wrt: list[Value], grads: list) -> None:
    """Name what a backward made, as the tutorial's figures do: the value differentiated (`loss` unless the
    user named it), its seed of ones (`∂loss/∂loss`) and each parameter's gradient (`∂loss/∂w`), so that
    printed graphs, pictures and plan files say what each gradient is."""
    top = "loss"
    if len(ys) == 1:
        y, dy = ys[0], dys[0]
        if y.name is None and y.kind == "op":
            y.name = "loss"
        top = y.label()
        if dy.name is None and dy.kind == "const" and bool((dy.data == 1).all()):
            dy.name = f"∂{top}/∂{top}"
    made = {v for node in new_nodes for v in node.outputs}
    for w, g in zip(wrt, grads):
        if g is not None and g in made and g.name is None:
            g.name = f"∂{top}/∂{w.label()}"


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
    return ("py", obj, type(obj))   # the type too: 1, 1.0 and True are equal keys but trace differently


_LIST_NOTE = ", and list operators are Python's (`x + x` concatenates)"


def _static_kind(obj: object) -> str | None:
    """"number" or "list"/"tuple" (one holding numbers) for arguments a user likely meant as tensors."""
    if isinstance(obj, (int, float, np.number)) and not isinstance(obj, (bool, np.bool_)):
        return "number"
    if isinstance(obj, (list, tuple)) and any(_static_kind(o) for o in obj):
        return type(obj).__name__
    return None


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
                 dynamic_axes: Mapping[str, Mapping[int, str] | Sequence[int]] | None = None,
                 checked: bool | None = None, profiling: bool = False) -> None:
        self.__wrapped__ = function
        self.symbolic = symbolic
        self.capture_as_const = capture_as_const
        self.opt_level = opt_level
        # Free dimensions: symbolic_shape makes every argument's leading dimension free (one symbol for the
        # arguments whose leading sizes agree at the first call); dynamic_axes names them per argument.
        self.symbolic_shape = symbolic_shape
        self.dynamic_axes = dict(dynamic_axes or {})
        # Checked mode (MegEngine's behaviour): run the function on every call and compare it with the trace.
        self.checked = config.trace_checked if checked is None else checked
        self.profiling = profiling
        self._profile = {"traces": 0, "calls": 0, "seconds": 0.0}
        self._plain = not (self.checked or profiling)   # calls may take the replay fast path
        self._cache: dict[tuple, _Compiled] = {}    # concrete call signature -> plan (memo)
        self._generic: list[_Compiled] = []          # plans with free dimensions, tried for a new signature
        self._last: _Compiled | None = None
        self._last_sig: tuple | None = None   # (structure, tensor types) of the last traced call
        self._warned: set[str] = set()        # arguments already warned about (Python numbers, lists)
        self._miss: str | None = None          # why no generic plan served the last new signature
        self.history: list[tuple[str, str]] = []   # (signature, why it was compiled), one per compile
        self._tracing = threading.RLock()
        if function is not None:
            functools.update_wrapper(self, function)

    @property
    def traces(self) -> int:
        """How many times the function was traced and compiled."""
        return len(self.history)

    def explain(self) -> str:
        """Each compiled signature and why it was compiled (first call, which argument changed, which guard
        failed), in the spirit of JAX's explain_cache_misses."""
        name = getattr(self.__wrapped__, "__name__", "function")
        lines = [f"{name}: {self.traces} compile{'s' if self.traces != 1 else ''}"]
        lines += [f"  {k}. {sig}: {why}" for k, (sig, why) in enumerate(self.history, 1)]
        return "\n".join(lines)

    def __call__(self, *args, **kwargs):
        if self.__wrapped__ is None:  # used as @trace(symbolic=...)
            self.__init__(args[0], symbolic=self.symbolic, capture_as_const=self.capture_as_const,
                          opt_level=self.opt_level, symbolic_shape=self.symbolic_shape,
                          dynamic_axes=self.dynamic_axes, checked=self.checked, profiling=self.profiling)
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
            self._warn_static(args, kwargs)
            leaves = []
            spec = _flatten((args, kwargs), leaves)
            key = (spec, tuple((t._data.shape, t._data.dtype, t._device.name) for t in leaves))
        compiled = self._cache.get(key)
        if compiled is not None and compiled.checks and self._stale(compiled, leaves):
            compiled = None
        if compiled is None:
            compiled = self._fit(spec, leaves)
            if compiled is not None:
                self._cache[key] = compiled
        if compiled is None:
            with self._tracing:    # one thread traces a new signature; others wait, then replay it
                compiled = self._cache.get(key)
                if compiled is None:
                    sig = (spec, [(t._data.shape, t._data.dtype, t._device.name) for t in leaves])
                    why = self._log_retrace(sig)
                    self._last_sig = sig
                    # A free dimension whose guard failed would fail the same way traced again: exact shapes.
                    exact = self._miss is not None and self._miss.startswith("guard")
                    return self._trace(key, spec, leaves, why + (", so exact shapes" if exact else ""), exact)
        self._last = compiled
        if self.checked:
            return self._checked_call(compiled, spec, leaves)
        return compiled.run(leaves)

    def _warn_static(self, args: tuple, kwargs: dict) -> None:
        """Warn once per argument given as a Python number or list: it is traced as a constant."""
        names = _arg_names(self.__wrapped__, len(args))
        for name, a in [*zip(names, args), *kwargs.items()]:
            kind = _static_kind(a)
            if kind is None or name in self._warned:
                continue
            self._warned.add(name)
            fn = getattr(self.__wrapped__, "__name__", "function")
            warnings.warn(f"{fn}: argument {name!r} is a Python {kind}, which a trace takes as a constant: the "
                          f"function is traced again for each new value{_LIST_NOTE if kind != 'number' else ''}; "
                          f"pass a Tensor (graphc.Tensor({name})) to make it an input", stacklevel=3)

    def _fit(self, spec: object, leaves: list[Tensor]) -> _Compiled | None:
        """A plan with free dimensions that serves these arguments (its guards hold), or None."""
        self._miss = None
        for c in self._generic:
            why = c.fits(spec, leaves)
            if why is None and not (c.checks and self._stale(c, leaves)):
                return c
            self._miss = why
        return None

    def _stale(self, compiled: _Compiled, leaves: list[Tensor]) -> bool:
        """Run the trace's guards; a stale trace is dropped (and logged) so the call retraces."""
        why = compiled.stale(leaves)
        if why:
            log.info("retracing %s: %s", getattr(self.__wrapped__, "__name__", "function"), why)
            self._cache = {k: c for k, c in self._cache.items() if c is not compiled}
            self._generic = [c for c in self._generic if c is not compiled]
            self._last_sig = None
            self._stale_why = why
        return bool(why)

    def _log_retrace(self, sig: tuple) -> str:
        """Log why the function is traced now; return the reason."""
        name = getattr(self.__wrapped__, "__name__", "function")
        if not self.traces:
            why = "first call"
        elif self._miss is not None:
            why = self._miss
        elif self._last_sig is None:
            why = getattr(self, "_stale_why", None) or "traced again"
        else:
            why = _why(self._last_sig, sig)
        log.info("%s %s: %s", "tracing" if not self.traces else "retracing", name, why)
        if self.traces + 1 == RETRACE_WARNING:
            warnings.warn(f"{name} was traced {RETRACE_WARNING} times; its input shapes, dtypes or "
                          "Python arguments keep changing (trace(..).explain() says why each time)", stacklevel=3)
        return why

    def _input_shapes(self, leaves: list[Tensor], names: list[str], static: bool) -> list[tuple]:
        """The arguments' shapes as the graph sees them: free dimensions become symbols."""
        shapes = [tuple(t.shape) for t in leaves]
        if static:
            return shapes
        if self.symbolic_shape:
            by_size: dict[int, str] = {}
            for i, t in enumerate(leaves):
                if t.ndim:
                    name = by_size.setdefault(t.shape[0], "N" if not by_size else f"N{len(by_size) + 1}")
                    shapes[i] = (Dim.symbol(name),) + shapes[i][1:]
        sizes: dict[str, int] = {}
        for arg, axes in self.dynamic_axes.items():
            if arg not in names:
                raise TraceError(f"dynamic_axes names {arg!r}, which is not an argument of "
                                 f"{getattr(self.__wrapped__, '__name__', 'the function')} ({', '.join(names)})")
            i = names.index(arg)
            pairs = axes.items() if isinstance(axes, Mapping) else [(ax, None) for ax in axes]
            for ax, name in pairs:
                if not -len(shapes[i]) <= ax < len(shapes[i]):
                    raise TraceError(f"dynamic_axes: argument {arg!r} has no axis {ax} (shape {leaves[i].shape})")
                name = name or f"{arg}_{ax % len(shapes[i])}"
                n = leaves[i].shape[ax]
                if sizes.setdefault(name, n) != n:
                    raise TraceError(f"dynamic_axes: {name} is {sizes[name]} and {n} in the first call")
                shapes[i] = shapes[i][:ax % len(shapes[i])] + (Dim.symbol(name),) + shapes[i][ax % len(shapes[i]) + 1:]
        return shapes

    def _record(self, spec, leaves: list[Tensor], static: bool,
                check: Checker | None = None) -> tuple[Trace, object, list]:
        """Run the function on symbolic (or, symbolic=False or checking, eager) stand-ins of the leaves,
        recording a Trace (free dimensions symbolic unless `static`); returns it, the result's structure and
        the result's tensors."""
        symbolic = self.symbolic and check is None
        tr = Trace(symbolic, self.capture_as_const, _captured_names(self.__wrapped__))
        tr.check = check
        names = _arg_names(self.__wrapped__, len(leaves))
        shapes = self._input_shapes(leaves, names, static)
        sym_leaves = [tr.add_argument(t, name, shape) for t, name, shape in zip(leaves, names, shapes)]
        sym_args, sym_kwargs = _unflatten(spec, sym_leaves)
        State.tracing = tr
        try:
            with collecting(tr.graph.facts):     # what the user's shape arithmetic relies on becomes guards
                result = self.__wrapped__(*sym_args, **sym_kwargs)
            out_leaves: list[Tensor] = []
            out_spec = _flatten(result, out_leaves)
            if check is not None:
                tr.finish(out_leaves)
        finally:
            State.tracing = None
        return tr, out_spec, out_leaves

    def _trace(self, key, spec, leaves: list[Tensor], why: str, static: bool = False):
        with paused_gc():
            tr, out_spec, out_leaves = self._record(spec, leaves, static)
            compiled = _Compiled(tr, len(leaves), out_spec, out_leaves, [t.device for t in leaves], self.opt_level,
                                 spec)
        compiled.example_shapes = [tuple(t.shape) for t in leaves]   # the sizes a saved test vector uses
        self.history.append((_signature(compiled.graph, len(leaves)), why))
        if compiled.generic:
            failed = compiled.fits(spec, leaves)
            if failed is not None and self.symbolic:   # nothing ran yet: trace again for these exact sizes
                log.info("the free dimensions do not fit this call (%s): tracing for its exact shapes", failed)
                self.history.pop()
                return self._trace(key, spec, leaves, f"{why}; {failed}, so exact shapes", True)
            if failed is None:
                self._generic.append(compiled)
        self._cache[key] = compiled
        self._last = compiled
        self._profile["traces"] += 1
        if not self.symbolic:  # the eager run already applied the step
            return _eager_results(tr, out_spec, out_leaves)
        return compiled.run(leaves)

    def _checked_call(self, compiled: _Compiled, spec, leaves: list[Tensor]):
        """Checked mode: run the function again, eagerly (values can be read, side effects happen, as with
        MegEngine), comparing each op with the recorded trace; its results are the eager run's."""
        tr, out_spec, out_leaves = self._record(spec, leaves, not compiled.generic, Checker(compiled.recorded))
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
        """Jupyter: the traced forward graph as SVG (None when graphviz's dot is missing); the gradient and
        update parts are one call away: `graphc.viz.render(fn, "step.svg", part="all")`."""
        return viz.repr_svg(self, part="forward") if self._last is not None else None

    def __repr__(self) -> str:
        name = getattr(self.__wrapped__, "__name__", "function")
        if self._last is None:
            return f"<trace {name}: not traced yet>"
        n = len({id(c) for c in [*self._cache.values(), *self._generic]})   # plans kept (one may serve many sizes)
        plan = self._last.plan
        return (f"<trace {name}: {n} signature{'s' if n != 1 else ''}, {plan.device} plan "
                f"{plan.stats['nodes']} nodes, {plan.stats['fused_groups']} fused>")

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
    """Names the function can see its tensors by (closure and globals; lists of tensors as name[i]), so
    captured parameters appear as `w` rather than `state0` in printed, rendered and saved graphs; an
    optimizer's state for parameter w is named after it (`w.momentum_buffer`)."""
    code, found = getattr(fn, "__code__", None), {}
    if code is None:
        return found
    scope = {name: c.cell_contents for name, c in zip(code.co_freevars, fn.__closure__ or ()) if _cell_filled(c)}
    scope.update({k: fn.__globals__[k] for k in code.co_names if k in fn.__globals__})
    optimizers = []
    for k, v in scope.items():
        if isinstance(v, Tensor):
            found.setdefault(id(v), k)
        elif isinstance(v, (list, tuple)):
            for i, t in enumerate(v):
                if isinstance(t, Tensor):
                    found.setdefault(id(t), f"{k}[{i}]")
        elif isinstance(v, Optimizer):
            optimizers.append(v)
    for opt in optimizers:
        for pid, state in opt._state.items():
            if pid in found:
                for key, t in state.items():
                    found.setdefault(id(t), f"{found[pid]}.{key}")
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


def _show(v: Value) -> str:
    return f"{v.dtype}{list(v.shape)}"


def _signature(g: Graph, n_args: int) -> str:
    """The arguments as a compiled graph sees them, e.g. "x: float32[N, 784], y: int32[N]"."""
    return ", ".join(f"{v.name or f'arg{i}'}: {_show(v)}" for i, v in enumerate(g.inputs[:n_args])) or "no arguments"


def _why(old: tuple, new: tuple) -> str:
    """Why a call's signature differs from the last traced one, in words."""
    (ospec, otypes), (nspec, ntypes) = old, new
    if ospec != nspec or len(otypes) != len(ntypes):
        return "the Python structure, the number of tensors or a non-tensor argument changed"
    for i, (a, b) in enumerate(zip(otypes, ntypes)):
        if a != b:
            return f"tensor argument {i} changed from {a[1]}{list(a[0])} on {a[2]} to {b[1]}{list(b[0])} on {b[2]}"
    return "the arguments changed"
