"""GradManager: records eager computation on a tape (a Graph) and differentiates it symbolically; Function:
MegEngine's custom gradients (graphc/custom_grad.py)."""
from __future__ import annotations

import itertools
import warnings
import weakref
from collections.abc import Callable

from .custom_grad import FUNCTION, Function, TensorInterpreter, backward_by_nodes
from .functional.creation import ones_like
from .future import Future
from .ir import GRADIENT, Graph, Value
from .ir.errors import ArgumentError, GradError, GraphcTypeError
from .ir.location import user_location
from .passes.autodiff import grad as derive
from .passes.util import frozen
from .runtime.compile import compile_graph
from .state import State
from .tensors import Tensor

__all__ = ["Function", "GradManager"]


class Tape:
    """The eager computation recorded while a GradManager records, with the arrays it produced.

    Recording keeps positions only (an op, its attributes, the positions of its operands and results);
    the Graph is built when a backward program is compiled for a tape structure not seen before, so a
    training loop that repeats its step pays for bookkeeping, not graph construction."""

    def __init__(self, attached: dict[int, weakref.ref], level: int) -> None:
        self.attached = attached
        # Recording order: a manager's backward is recorded by the managers that started recording before it
        # (lower levels), never by later ones; managers entered as a group (gm | gm2) share a level.
        self.level = level
        self.vals: dict[int, int] = {}        # id(tensor) -> position of its current value
        self.tensors: list[Tensor] = []       # position -> tensor (keeps ids alive)
        self.arrays: list = []                # position -> array at record time
        self.events: list[tuple] = []         # (op, attrs, operand positions, result positions); op None: an input
        self.wrt: dict[int, int] = {}         # id(param) -> position of the value it entered the tape as
        self.sig: list = []                   # the tape's structure, the backward cache's key
        self.names: list = []                 # the user's names of the input tensors (for pictures)

    def _add(self, t: Tensor) -> int:
        pos = self.vals[id(t)] = len(self.tensors)
        self.tensors.append(t)
        self.arrays.append(t._data)
        return pos

    def _input(self, t: Tensor) -> int:
        pos = self.vals.get(id(t))
        if pos is None:
            pos = self._add(t)
            self.events.append((None, None, (), (pos,)))
            # Only the value an attached tensor had when it entered the tape is differentiated: after
            # `p[...] = v` the object holds an untracked value (MegEngine: it no longer carries grad).
            is_param = id(t) in self.attached and id(t) not in self.wrt
            if is_param:
                self.wrt[id(t)] = pos
            self.sig.append((t._data.shape, t._data.dtype.str, is_param))
            self.names.append(t._label())
        return pos

    def record(self, op, attrs: dict, inputs, outputs) -> None:
        """Append one eager op application if it reads a tracked tensor."""
        vals, att = self.vals, self.attached
        for t in inputs:
            if id(t) in vals or id(t) in att:
                break
        else:
            return
        ins = tuple([vals[id(t)] if id(t) in vals else self._input(t) for t in inputs])
        self.events.append((op, attrs, ins, tuple([self._add(t) for t in outputs])))
        self.sig.append((op.name, frozen(attrs) if attrs else (), ins))

    def rebind(self, t: Tensor, new: Tensor) -> None:
        """`t` now holds `new`'s value (a recorded __setitem__)."""
        pos = self.vals.get(id(new))
        if pos is not None:
            self.vals[id(t)] = pos
        else:
            self.vals.pop(id(t), None)

    def build(self) -> tuple[Graph, list[Value]]:
        """The recorded computation as a Graph, and the Value of each position."""
        g = Graph()
        vals: list = [None] * len(self.arrays)
        arrays = self.arrays
        names = iter(self.names)
        for op, attrs, ins, outs in self.events:
            if op is None:
                a = arrays[outs[0]]
                vals[outs[0]] = g.add_input(a.shape, a.dtype, next(names))
                continue
            vs = g.append(op, attrs, [vals[i] for i in ins], [(arrays[o].shape, arrays[o].dtype) for o in outs])
            for o, v in zip(outs, vs, strict=True):
                vals[o] = v
        return g, vals

    @property
    def graph(self) -> Graph:
        """The recorded computation as a Graph (for pictures and inspection)."""
        return self.build()[0]


class BackwardProgram:
    """A compiled gradient computation for one tape structure: which recorded arrays it reads, its plan."""

    def __init__(self, tape: Tape, ys: list[int], dy_types: list, params: list[int],
                 device: str = "cpu") -> None:
        g, vals = tape.build()
        n_fwd = len(g.nodes)
        dys = [g.add_input(s, d, name=f"dy{i}") for i, (s, d) in enumerate(dy_types)]
        wrt = [vals[tape.wrt[p]] for p in params]
        grads = derive(g, [vals[y] for y in ys], dys, wrt, role=GRADIENT)
        self.params = [i for i, gv in enumerate(grads) if gv is not None]
        bg = Graph()
        bg.nodes = g.nodes[n_fwd:]
        bg.consts = list(g.consts)
        bg.outputs = [gv for gv in grads if gv is not None]
        produced = {v for n in bg.nodes for v in n.outputs} | set(bg.consts)
        needed: dict[Value, None] = {}
        for v in [v for n in bg.nodes for v in n.inputs] + bg.outputs:
            if v not in produced:
                needed.setdefault(v)
        bg.inputs = list(needed)
        self.graph = bg
        # Where each input comes from: a tape position, or -1 - k for the k-th dy.
        pos = {v: i for i, v in enumerate(vals) if v is not None}
        self.sources = [pos[v] if v in pos else -1 - dys.index(v) for v in bg.inputs]
        self.plan = compile_graph(bg, device=device)   # the plan runs where the recorded arrays live

    def run(self, tape: Tape, dys: list) -> list:
        """Gradient arrays for the recorded arrays of `tape` and the output gradients `dys`."""
        arrays = [tape.arrays[s] if s >= 0 else dys[-1 - s] for s in self.sources]
        return self.plan.run(arrays).outputs

    def run_recorded(self, tape: Tape, dys: list[Tensor]) -> list[Tensor]:
        """The same computation op by op through the front end, so an outer GradManager records it."""
        feeds = {v: (tape.tensors[s] if s >= 0 else dys[-1 - s])
                 for v, s in zip(self.graph.inputs, self.sources, strict=True)}
        env = TensorInterpreter(dys[0].device).run(self.graph, feeds)
        return [env[v] for v in self.graph.outputs]


_programs: dict[tuple, BackwardProgram] = {}
_backwarding: list = []   # the GradManagers applying gradient callbacks now, innermost last


def get_backwarding_grad_manager() -> GradManager | None:
    """The GradManager whose backward is running its gradient callbacks (MegEngine's)."""
    return _backwarding[-1] if _backwarding else None


_levels = itertools.count()
_warned_no_gradient = False


def _warn_no_gradient() -> None:
    """As MegEngine, a backward that reaches no attached tensor leaves every .grad as it was; say so, once."""
    global _warned_no_gradient
    if not _warned_no_gradient:
        _warned_no_gradient = True
        warnings.warn(f"GradManager.backward: the loss depends on none of the attached tensors, so no gradient "
                      f"was computed (at {user_location()}); this warning is given once", stacklevel=3)


class GradManager:
    """Records computation on attached tensors and computes their gradients (MegEngine's GradManager).

    Attached tensors are held weakly: a temporary attached inside a `with` block is freed after it."""

    def __init__(self) -> None:
        self._attached: dict[int, weakref.ref] = {}
        self._callbacks: dict[int, list[Callable]] = {}
        self._after_backward_callback: list[Callable[[], None]] = []
        self._tape: Tape | None = None
        self._trace_start: int | None = None
        self._recording = False

    def __repr__(self) -> str:
        n = len(self._attached)
        return f"<GradManager {n} tensor{'s' if n != 1 else ''} attached, {'' if self._recording else 'not '}recording>"

    def attach(self, params, callbacks=None) -> GradManager:
        """Track these tensors' gradients (attaching twice is harmless); callbacks transform each grad.

        Only floating-point tensors can be attached. Attached while recording, a tensor (an intermediate
        result too) is differentiated from its value at that point on."""
        if isinstance(params, Tensor):
            params = [params]
        cbs = [] if callbacks is None else ([callbacks] if callable(callbacks) else list(callbacks))
        for p in params:
            if not isinstance(p, Tensor):
                raise GraphcTypeError(f"GradManager.attach: expected Tensors, got {type(p).__name__} "
                                      f"(at {user_location()})")
            if p.dtype.kind != "f":
                raise ArgumentError(f"GradManager.attach: only tensors of floating-point dtype can be attached, "
                                    f"got {p.dtype}{list(p.shape)} (at {user_location()})")
            key = id(p)
            if key not in self._attached:
                self._attached[key] = weakref.ref(p, self._forget(key))
            self._callbacks.setdefault(key, []).extend(cbs)
        return self

    def _forget(self, key: int) -> Callable:
        """A weakref callback that drops a freed tensor's entry (without keeping the manager alive)."""
        me = weakref.ref(self)

        def forget(_ref) -> None:
            gm = me()
            if gm is not None:
                gm._attached.pop(key, None)
                gm._callbacks.pop(key, None)
        return forget

    def attached_tensors(self) -> list[Tensor]:
        """The attached tensors (still alive), in attach order."""
        return [t for t in (r() for r in self._attached.values()) if t is not None]

    def detach(self, params=None) -> GradManager:
        """Stop tracking the given tensors (all when None)."""
        ps = self.attached_tensors() if params is None else ([params] if isinstance(params, Tensor) else params)
        for p in ps:
            self._attached.pop(id(p), None)
            self._callbacks.pop(id(p), None)
        return self

    def is_attached(self, t: Tensor) -> bool:
        """True when `t` is attached."""
        return id(t) in self._attached

    def record(self, _level: int | None = None) -> None:
        """Start recording."""
        if self._recording:
            raise GradError(f"GradManager.record: already recording (at {user_location()})")
        self._recording = True
        if State.tracing is not None:
            self._trace_start = State.tracing.position()
        else:
            self._tape = Tape(self._attached, next(_levels) if _level is None else _level)
            State.tapes.append(self._tape)

    def release(self) -> None:
        """Stop recording and drop the tape."""
        if self._tape is not None and self._tape in State.tapes:
            State.tapes.remove(self._tape)
        self._tape = None
        self._trace_start = None
        self._recording = False

    def __enter__(self) -> GradManager:
        self.record()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __or__(self, other):
        """gm | gm2: a group entered together; no member records another member's backward."""
        if isinstance(other, (GradManager, GradManagerGroup)):
            return GradManagerGroup([self]) | other
        return NotImplemented

    __ror__ = __or__

    def backward(self, y=None, dy=None) -> None:
        """Accumulate d(y)/d(param) (times dy, default ones) into each attached tensor's .grad, and stop
        recording (y None: only stop)."""
        if not self._recording:
            raise GradError("GradManager.backward: nothing is being recorded (call it inside `with gm:` or "
                            f"after gm.record(); backward ends the recording) (at {user_location()})")
        ys = [] if y is None else list(y) if isinstance(y, (list, tuple)) else [y]
        if dy is None:
            dys = [None] * len(ys)
        else:
            dys = list(dy) if isinstance(dy, (list, tuple)) else [dy]
            if len(dys) != len(ys):
                raise GradError(f"GradManager.backward: {len(ys)} ys but {len(dys)} dys "
                                f"(at {user_location()})")
        dys = [ones_like(t) if d is None else Tensor(d) if not isinstance(d, Tensor) else d
               for t, d in zip(ys, dys, strict=False)]
        for t, d in zip(ys, dys, strict=False):
            if d.shape != t.shape:
                raise GradError(f"GradManager.backward: dy of shape {d.shape} does not match y of shape "
                                f"{t.shape} (at {user_location()})")
        try:
            if not ys:
                grads = []
            elif State.tracing is not None:
                grads = State.tracing.backward(self, ys, dys, self._trace_start)
            else:
                grads = self._eager_backward(ys, dys)
        finally:
            self.release()
        # Callbacks may return Futures set by an after-backward callback (a bucketed all-reduce sees every
        # gradient before it computes any), as in MegEngine.
        if not grads and self._attached and ys:   # backward() without y only stops recording
            _warn_no_gradient()
        _backwarding.append(self)
        try:
            done = []
            for p, g in grads:
                for cb in self._callbacks.get(id(p), ()):
                    g = cb(p, g)
                done.append((p, g))
            for cb in self._after_backward_callback:
                cb()
        finally:
            _backwarding.pop()
        for p, g in done:
            g = g.get() if isinstance(g, Future) else g
            p.grad = g if p.grad is None else p.grad + g

    def _register_after_backward_callback(self, callback: Callable[[], None]) -> GradManager:
        """Run `callback` after the gradient callbacks of every backward (MegEngine's hook for bucketing)."""
        self._after_backward_callback.append(callback)
        return self

    def _eager_backward(self, ys: list[Tensor], dys: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
        tape = self._tape
        State.tapes.remove(tape)
        y_pos = [tape.vals.get(id(t)) for t in ys]
        keep = [i for i, p in enumerate(y_pos) if p is not None]
        params = [pid for pid in self._attached if pid in tape.wrt]
        if not keep or not params:
            return []
        ys_p = [y_pos[i] for i in keep]
        dys = [dys[i] for i in keep]
        outer = [t for t in State.tapes if t.level < tape.level]
        if any(e[0] is FUNCTION for e in tape.events):   # custom gradients: node by node, Python included
            inner, State.tapes = State.tapes, outer
            try:
                acc = backward_by_nodes(tape, ys_p, dys)
            finally:
                State.tapes = inner
            return [(tape.tensors[tape.wrt[p]], acc[tape.wrt[p]]) for p in params if tape.wrt[p] in acc]
        dev = dys[0].device
        key = (tuple(tape.sig), tuple(ys_p), tuple((d.shape, d.dtype.str) for d in dys),
               tuple(tape.wrt[p] for p in params), dev.kind)
        prog = _programs.get(key)
        if prog is None:
            prog = _programs[key] = BackwardProgram(tape, ys_p, [(d.shape, d.dtype) for d in dys], params,
                                                    dev.kind)
        ps = [tape.tensors[tape.wrt[params[i]]] for i in prog.params]
        if outer:  # managers recording since before this one differentiate through the gradient computation
            inner, State.tapes = State.tapes, outer
            try:
                return list(zip(ps, prog.run_recorded(tape, dys), strict=False))
            finally:
                State.tapes = inner
        arrays = prog.run(tape, [d._data for d in dys])
        return [(p, Tensor._wrap(dev.xp.asarray(g), dev)) for p, g in zip(ps, arrays, strict=False)]


class GradManagerGroup:
    """GradManagers entered together (gm | gm2): they record the same computation, each differentiates it on
    its own, and none records another's backward."""

    def __init__(self, gms: list[GradManager]) -> None:
        self._gms = list(gms)

    def __or__(self, other):
        if isinstance(other, GradManager):
            other = GradManagerGroup([other])
        if not isinstance(other, GradManagerGroup):
            return NotImplemented
        return GradManagerGroup(self._gms + other._gms)

    __ror__ = __or__

    def __enter__(self) -> GradManagerGroup:
        level = next(_levels)
        for gm in self._gms:
            gm.record(level)
        return self

    def __exit__(self, *exc) -> None:
        for gm in reversed(self._gms):
            gm.release()
