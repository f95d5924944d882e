"""Custom gradients (MegEngine's autodiff.Function) and the backward pass that runs them: node by node,
in reverse, on Tensors, so that a user's Python backward runs where its node is and GradManagers recording
since before see every op (second order through custom gradients)."""
from __future__ import annotations

from .ir import GRADIENT, Graph, OpDef, Value, building
from .ir.errors import GradError, TraceError
from .ir.interpret import Interpreter
from .ir.location import user_location
from .passes.util import frozen
from .state import State
from .tensors import Tensor, apply, as_tensor, cast


def _not_an_op(*_args, **_kwargs):
    raise GradError("an autodiff.Function node is run by its Python code, never as an op")


# A Function application on a tape; not in the registry (it is never compiled, saved or traced).
FUNCTION = OpDef("function", "custom", _not_an_op, _not_an_op, arity=None)


class Function:
    """A function with a gradient of its own: subclasses define forward(*inputs), whose operations are not
    recorded, and backward(*output_grads), which returns the inputs' gradients (None where there is none).
    Calling an instance records it as one node for the recording GradManagers. Eager only: a traced
    function cannot call one (its backward is Python code, not graph ops)."""

    def forward(self, *inputs):
        """The outputs for these inputs (subclasses define it)."""
        raise NotImplementedError

    def backward(self, *output_grads):
        """The gradients of the inputs given those of the outputs (subclasses define it)."""
        raise NotImplementedError

    def __call__(self, *inputs):
        if State.tracing is not None:
            raise TraceError(f"{type(self).__name__}: an autodiff.Function cannot be traced; its backward is "
                             f"Python code (at {user_location()})")
        tensors = [as_tensor(x) for x in inputs]
        tapes, State.tapes = State.tapes, []
        try:
            result = self.forward(*tensors)
        finally:
            State.tapes = tapes
        outputs = list(result) if isinstance(result, (tuple, list)) else [result]
        for tape in tapes:
            tape.record(FUNCTION, {"function": self}, tensors, outputs)
        return result


class TensorInterpreter(Interpreter):
    """Runs a graph on Tensors through `apply`, so that recording GradManagers see every op."""

    def __init__(self, device) -> None:
        super().__init__()
        self.device = device

    def constant(self, c: Value) -> Tensor:
        return Tensor(c.data, dtype=c.dtype, device=self.device)

    def run_node(self, n, args: list) -> list:
        return apply(n.op.name, args, n.attrs)


_vjps: dict[tuple, tuple[Graph, list[int]]] = {}


def _vjp_graph(op, attrs: dict, ins: list[Tensor], outs: list[Tensor]) -> tuple[Graph, list[int]]:
    """A graph from (inputs, outputs, output gradients) to the inputs' gradients, and which inputs have one."""
    key = (op.name, frozen(attrs), *((t.shape, t.dtype.str) for t in ins + outs))
    cached = _vjps.get(key)
    if cached is None:
        g = Graph()
        vi = [g.add_input(t.shape, t.dtype) for t in ins]
        vo = [g.add_input(t.shape, t.dtype) for t in outs]
        vd = [g.add_input(t.shape, t.dtype) for t in outs]
        with building(g, GRADIENT):
            grads = op.vjp(vi, vo, vd, attrs)
        have = [i for i, d in enumerate(grads) if d is not None]
        g.outputs = [grads[i] for i in have]
        cached = _vjps[key] = (g, have)
    return cached


def backward_by_nodes(tape, ys: list[int], dys: list[Tensor]) -> dict[int, Tensor]:
    """The gradient at every tape position reached from ys (given dys), computed node by node in reverse."""
    acc: dict[int, Tensor] = {}

    def add(pos: int, g: Tensor) -> None:
        like = tape.tensors[pos]
        if g.dtype != like.dtype:
            g = cast(g, like.dtype)
        acc[pos] = g if pos not in acc else acc[pos] + g
    for pos, dy in zip(ys, dys):
        add(pos, dy)
    for op, attrs, ins, outs in reversed(tape.events):
        if op is None or not any(o in acc for o in outs):
            continue
        outputs = [tape.tensors[o] for o in outs]
        douts = [acc[o] if o in acc else Tensor._wrap(t.device.xp.zeros(t.shape, t.dtype), t.device)
                 for o, t in zip(outs, outputs)]
        inputs = [tape.tensors[i] for i in ins]
        if op is FUNCTION:
            grads = attrs["function"].backward(*douts)
            grads = list(grads) if isinstance(grads, (tuple, list)) else [grads]
            if len(grads) != len(ins):
                raise GradError(f"{type(attrs['function']).__name__}.backward returned {len(grads)} gradients "
                                f"for {len(ins)} inputs")
            pairs = [(i, g) for i, g in zip(ins, grads) if g is not None]
        elif op.vjp is not None:
            g, have = _vjp_graph(op, attrs, inputs, outputs)
            env = TensorInterpreter(outputs[0].device).run(g, dict(zip(g.inputs, inputs + outputs + douts)))
            pairs = [(ins[k], env[v]) for k, v in zip(have, g.outputs)]
        else:
            continue
        for pos, grad in pairs:
            add(pos, grad)
    return acc
