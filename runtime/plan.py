"""Plan: an optimized graph lowered to one generated function, and the calling convention around it.

The generated function takes the arguments then the states, and returns the outputs, then the gradients,
then the new value of each updated state. `Plan.run(args, states)` hides that layout: it returns a Result
with every state's value after the call, and on the GPU replays a traced step as one CUDA graph.
"""
from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from graphc.config import config
from graphc.ir import Graph
from graphc.ir.errors import GraphcError, GraphcIndexError, ShapeError, with_context

from .collective import Collectives

log = logging.getLogger("graphc.runtime")
_ASSIGNED = re.compile(r'\s*(?:r\[")?(v\d+(?:f\d+)?)_\d+')     # a generated line assigning a node's results


@dataclass(frozen=True)
class Signature:
    """How a plan's inputs and results are laid out."""

    n_args: int                     # inputs that are call arguments; the other inputs are states
    n_outputs: int                  # results returned to the caller; `n_grads` gradients follow them
    n_grads: int = 0
    updates: tuple[int, ...] = ()   # for each new-state result, the index of the state it replaces

    @classmethod
    def of(cls, g: Graph, n_args: int | None = None, n_grads: int = 0) -> Signature:
        """The signature of a graph whose first `n_args` inputs are arguments (default: those before the first
        input a state update assigns) and whose last `n_grads` outputs are gradients."""
        if n_args is None:
            index = {v: i for i, v in enumerate(g.inputs)}
            n_args = min((index[s] for s, _ in g.updates), default=len(g.inputs))
        pos = {v: i for i, v in enumerate(g.inputs[n_args:])}
        return cls(n_args, len(g.outputs) - n_grads, n_grads, tuple(pos[s] for s, _ in g.updates))


class Result(NamedTuple):
    """What a call gives back: outputs, gradients, and every state's array after the call (updated or not)."""

    outputs: Sequence
    grads: Sequence
    states: Sequence


class Plan:
    """A compiled graph: `run(args, states)`; calling it with all inputs gives the raw result tuple."""

    def __init__(self, graph: Graph, source: str, env: dict, device: str, stats: dict,
                 signature: Signature, replay: bool, collectives: Collectives | None = None,
                 origins: dict[str, tuple[str, str | None]] | None = None) -> None:
        self.graph = graph          # the optimized graph (fused nodes keep their subgraphs)
        self.source = source        # the generated functions' text
        self.env = env              # their globals: env["plan"] is the plan's current function (fn)
        self.numpy_fn = env["plan"]   # the generated NumPy code (fn until a native plan replaces it)
        self._runner = env["run"]   # fn split: run(args, states) -> Result
        self.device = device
        self.stats = stats          # kernel counts and buffer figures
        self.signature = signature
        self.replay = replay and device == "gpu"    # replay whole calls as a CUDA graph
        self.collectives = collectives              # what the plan exchanges with other processes
        self._step = None           # the captured StepGraph, or False once capture was refused
        self.replay_refused: str | None = None      # and why it was
        self.tier = "numpy"         # "native" once a small CPU plan runs as one C function (runtime/cpu/native.py)
        # A CPU plan is reentrant (slot buffers come from a per-call pool). On the GPU, fused kernels keep
        # reduction workspaces and a captured step keeps static buffers: calls take turns.
        self._gpu_lock = threading.Lock() if device == "gpu" else contextlib.nullcontext()
        self._origins = origins or {}   # a line of the generated code -> the op and the user's line it runs

    @property
    def fn(self) -> Callable:
        """The plan on all inputs: (args..., states...) -> the raw result tuple."""
        return self.env["plan"]

    def __call__(self, *arrays) -> tuple:
        with self._gpu_lock:
            return self.fn(*arrays)

    def run(self, args: Sequence, states: Sequence = ()) -> Result:
        """Run on `args` and `states` (arrays on the plan's device); the given arrays are not replaced.

        Safe to call from several threads at once. An index or value error of a kernel names the op and the
        user's line that made it, as in eager mode."""
        try:
            if self.device == "cpu" and not self.replay:     # reentrant: no lock
                return self._runner(args, states)
            with self._gpu_lock:
                return self._run(args, states)
        except (IndexError, ValueError) as e:
            located = self.locate(e, [*args, *states])
            if located is None:
                raise
            raise located from None

    def locate(self, e: Exception, arrays: list) -> Exception | None:
        """The error `e` of a call on `arrays` as a graphc error naming the op and the user's line that raised
        it (None: no op of the plan raised it)."""
        return self._located(e) if self.tier == "numpy" else self._relocated(arrays)

    def _relocated(self, arrays: list) -> Exception | None:
        """The native plan's error located: the NumPy code (whose lines know their ops) raises it again."""
        try:
            self.numpy_fn(*arrays)
        except (IndexError, ValueError) as e:
            return self._located(e)
        return None

    def _located(self, e: Exception) -> Exception | None:
        """`e` as a graphc error naming the op whose generated line raised it (None: not raised by one)."""
        if isinstance(e, GraphcError):
            return None
        tb, lineno = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<graphc plan>" and tb.tb_frame.f_code.co_name != "run":
                lineno = tb.tb_lineno
            tb = tb.tb_next
        lines = self.source.splitlines()
        m = _ASSIGNED.match(lines[lineno - 1]) if lineno and lineno <= len(lines) else None
        if m is None or m.group(1) not in self._origins:
            return None
        op, loc = self._origins[m.group(1)]
        err = GraphcIndexError if isinstance(e, IndexError) else ShapeError
        return with_context(err(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__), op, loc)

    def _run(self, args: Sequence, states: Sequence) -> Result:
        if self.replay and config.cuda_graph:
            step = self._captured(args, states)
            if step:
                res = step([*args, *states])
                n_out, sig = self.signature.n_outputs, self.signature
                return Result(res[:n_out], res[n_out:n_out + sig.n_grads], step.state_buffers)
        return self._runner(args, states)

    def _captured(self, args: Sequence, states: Sequence):
        """The step captured as a CUDA graph on the first call (False when capture was refused)."""
        if self._step is None and self.collectives is not None and not self.collectives.capturable():
            self.replay_refused = "its collectives go through MPI on host buffers, which a CUDA graph cannot hold"
            log.info("plan replays without a CUDA graph: %s", self.replay_refused)
            self._step = False
        if self._step is None:
            from .gpu.cuda_graph import step_graph  # CuPy is imported only where a GPU runs the plan
            sig = self.signature
            step = step_graph(self.fn, [*args, *states], sig.n_outputs + sig.n_grads,
                              [sig.n_args + k for k in sig.updates], sig.n_args)
            if not step.captured:
                log.info("plan replays without a CUDA graph: %s", step.reason)
                self.replay_refused = step.reason
                step = False
            self._step = step
        return self._step

    def __repr__(self) -> str:
        return f"<Plan {self.device} {self.stats}>"
