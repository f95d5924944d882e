"""Saved plans in the front end: `dump_trace` writes a traced function to a plan file, `load` gives back a
callable LoadedPlan that runs it without the user's code (a training step keeps and updates its state).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import BinaryIO

import numpy as np

from . import viz
from .device import Device, get_device
from .ir.errors import DTypeError, GraphcTypeError, ShapeError, TraceError
from .passes.dce import dce
from .runtime import planfile
from .runtime.arrays import to_host
from .runtime.planfile import IOSpec, PlanFile
from .runtime.planfile.checks import as_name
from .tensors import Tensor

PathOrFile = str | os.PathLike | BinaryIO


class LoadedPlan:
    """A plan loaded from a file: call it with its named inputs, positionally or by keyword.

    Returns the outputs as Tensors (one Tensor for one output, else a tuple). A training-step plan keeps
    its parameters and optimizer state inside and updates them on every call; `save` writes them back.
    """

    def __init__(self, pf: PlanFile, device: Device) -> None:
        self._pf = pf
        self.device = device
        # Own copies: a plan may update its state buffers in place, the file's arrays stay the test reference.
        self._states = [device.xp.array(a) for a in pf.state_arrays]
        self._n_user = sum(o.kind == "output" for o in pf.outputs)
        self.grads: dict[str, Tensor] = {}
        for g in (pf.graph, pf.plan.graph):   # printed graphs and pictures show the outputs' names
            _name_outputs(g, pf.outputs)
        # A training step reads and replaces its state: calls from several threads take turns (inference
        # calls run in parallel; the plan itself is reentrant).
        self._step_lock = threading.Lock() if pf.graph.updates else contextlib.nullcontext()

    # ---- description ---------------------------------------------------------------------------------
    @property
    def plan(self):
        """The compiled runtime Plan."""
        return self._pf.plan

    @property
    def graph(self):
        """The saved graph (the plan is compiled from it)."""
        return self._pf.graph

    @property
    def inputs(self) -> list[IOSpec]:
        """Names, shapes and dtypes of the inputs, in call order."""
        return list(self._pf.inputs)

    @property
    def outputs(self) -> list[IOSpec]:
        """Names, shapes and dtypes of the returned outputs."""
        return self._pf.outputs[:self._n_user]

    @property
    def state_specs(self) -> list[IOSpec]:
        """Names, shapes and dtypes of the state kept inside (parameters, optimizer state)."""
        return list(self._pf.states)

    @property
    def metadata(self) -> dict:
        """The file's metadata (graphc version, creation time, user_info, ...)."""
        return self._pf.metadata

    @property
    def is_training_step(self) -> bool:
        """True when calling the plan updates its state."""
        return bool(self._pf.graph.updates)

    def state_dict(self) -> dict[str, Tensor]:
        """The current state, by name."""
        pairs = zip(self._pf.states, self._states, strict=True)
        return {s.name: Tensor._wrap(a, self.device) for s, a in pairs}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Replace states by name: a parameter, or a training step's learning rate (`lr`, `lr1`, ...).

        Every value is checked (known name, shape, a dtype it converts to safely) before any is replaced."""
        specs = {s.name: i for i, s in enumerate(self._pf.states)}
        new = {}
        for name, value in state.items():
            if name not in specs:
                raise GraphcTypeError(f"load_state_dict: the plan has no state {name!r} (it has {sorted(specs)})")
            spec = self._pf.states[specs[name]]
            a = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
            if not np.can_cast(a.dtype, spec.dtype, "same_kind"):
                raise DTypeError(f"load_state_dict: state {name!r} is {spec.dtype}, got {a.dtype}")
            if a.shape != spec.shape:
                raise ShapeError(f"load_state_dict: state {name!r} has shape {spec.shape}, got {a.shape}")
            new[specs[name]] = a.astype(spec.dtype)
        for i, a in new.items():
            self._states[i] = self.device.xp.asarray(a)

    def _repr_svg_(self) -> str | None:
        """Jupyter: the plan's forward graph as SVG (None when graphviz's dot is missing); the other parts
        are one call away: `graphc.viz.render(plan, "plan.svg", part="all")`."""
        return viz.repr_svg(self, part="forward")

    def __repr__(self) -> str:
        ins = ", ".join(map(str, self._pf.inputs))
        outs = ", ".join(map(str, self.outputs))
        kind = "training step" if self.is_training_step else "inference"
        return f"<LoadedPlan {kind} on {self.device} ({ins}) -> ({outs})>"

    # ---- running -------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs) -> Tensor | tuple[Tensor, ...] | None:
        outs = [Tensor._wrap(a, self.device) for a in self._run(args, kwargs)]
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else tuple(outs)

    def run(self, *args, **kwargs) -> dict[str, np.ndarray]:
        """Run once and return the outputs as host arrays by name (as MegEngine's GraphInference.run)."""
        res = self._run(args, kwargs)
        return {o.name: np.asarray(to_host(a)) for o, a in zip(self.outputs, res, strict=True)}

    def _run(self, args: tuple, kwargs: dict) -> list:
        inputs = self._bind(args, kwargs)
        with self._step_lock:
            r = self._pf.plan.run(inputs, self._states)
            self._states = list(r.states)
            self.grads = {o.of: Tensor._wrap(a, self.device)
                          for o, a in zip(self._pf.outputs[self._n_user:], r.grads, strict=True)}
        return r.outputs

    def _bind(self, args: tuple, kwargs: dict) -> list:
        specs = self._pf.inputs
        names = [s.name for s in specs]
        if len(args) > len(specs):
            raise GraphcTypeError(f"the plan takes {len(specs)} inputs ({', '.join(names)}), "
                                  f"{len(args)} were given")
        given = dict(zip(names[:len(args)], args, strict=True))
        for k, v in kwargs.items():
            if k not in names:
                raise GraphcTypeError(f"the plan has no input named {k!r} (its inputs: {', '.join(names)})")
            if k in given:
                raise GraphcTypeError(f"input {k!r} given twice")
            given[k] = v
        missing = [n for n in names if n not in given]
        if missing:
            raise GraphcTypeError(f"missing plan input{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        arrays = [self._as_input(s, given[s.name]) for s in specs]
        self._check_sizes(arrays)
        return arrays

    def _check_sizes(self, arrays: list) -> None:
        """Free dimensions: one size per name across the inputs, and the guards the plan relies on."""
        free: dict[str, int] = {}
        for spec, a in zip(self._pf.inputs, arrays):
            for d, n in zip(spec.shape, a.shape):
                if type(d) is not int and str(d) in d.symbols and free.setdefault(str(d), n) != n:
                    raise ShapeError(f"plan input {spec.name!r} has {n} for its size {d}, which another input "
                                     f"gives as {free[str(d)]}")
        facts = self._pf.graph.facts
        failed = facts.failed(facts.bind(free)) if free else None
        if failed is not None:
            sizes = ", ".join(f"{k}={n}" for k, n in sorted(free.items()))
            raise ShapeError(f"the plan was traced relying on {failed}, which fails for {sizes}")

    def _as_input(self, spec: IOSpec, x: object):
        xp = self.device.xp
        if isinstance(x, Tensor):
            if x._data is None:
                raise TraceError("a loaded plan cannot be called inside a traced function")
            x = x._data
        if hasattr(x, "__cuda_array_interface__") and xp is np:
            x = x.get()
        weak = not hasattr(x, "dtype")   # Python scalars and lists take the declared dtype
        a = xp.asarray(x)
        if a.dtype != spec.dtype:
            if not weak and not np.can_cast(a.dtype, spec.dtype, "same_kind"):
                raise DTypeError(f"plan input {spec.name!r} is {spec.dtype}; {a.dtype} cannot be cast to it")
            a = a.astype(spec.dtype)
        if len(a.shape) != len(spec.shape) or any(type(d) is int and n != d for n, d in zip(a.shape, spec.shape)):
            free = " (its free dimensions take any size)" if spec.free else " (a saved plan has fixed shapes)"
            raise ShapeError(f"plan input {spec.name!r} must have shape {tuple(spec.shape)}, got {tuple(a.shape)}"
                             f"{free}")
        return a

    # ---- saving --------------------------------------------------------------------------------------
    def save(self, path: PathOrFile) -> None:
        """Write the plan with its current state (a trained step resumes from here); atomic for paths."""
        pf = self._pf
        states = [np.asarray(to_host(a)) for a in self._states]
        tv = None
        if pf.test_vector is not None:   # the old expected results belong to the old state
            tv = planfile.make_test_vector(pf.graph, pf.test_vector[0], states, plan=pf.plan)
        meta = {k: v for k, v in pf.metadata.items() if k not in planfile.AUTO_METADATA}
        planfile.save(pf.graph, path, arg_names=[s.name for s in pf.inputs],
                      output_names=[o.name for o in self.outputs],
                      grad_of=[o.of for o in pf.outputs[self._n_user:]],
                      state_names=[s.name for s in pf.states], state_arrays=states, metadata=meta,
                      test_vector=tv, device=self.device.kind, opt_level=pf.opt_level,
                      auto_metadata="created" in pf.metadata)


def _name_outputs(g, specs: list[IOSpec]) -> None:
    """Give unnamed results the names the file's signature has for them (a gradient: ∂loss/∂ its state)."""
    for spec, v in zip(specs, g.outputs, strict=True):
        if v.kind == "op" and (v.name is None or spec.kind == "output"):
            v.name = spec.name if spec.kind == "output" else v.name or f"∂loss/∂{spec.of}"


def load(path: PathOrFile, device: str | Device | None = None, verify: bool = False,
         max_memory: int | None = None) -> LoadedPlan:
    """Load a plan file (a path or a binary file object) to run on `device`.

    device: None (where the plan was saved if that device is usable here, else the CPU), "cpu", "gpu" or a
    MegEngine device name. verify=True runs the embedded test vector first. A bad file raises
    PlanFormatError; so does a plan whose calls would hold more than `max_memory` bytes at once (default
    graphc.config.config.max_plan_memory, 4 GiB; GRAPHC_MAX_PLAN_MEMORY).
    """
    dev = None
    if device is not None:
        dev = get_device({"cpu": "cpu0", "gpu": "gpu0"}.get(device, device) if isinstance(device, str)
                         else device)
    pf = planfile.load(path, dev.kind if dev else None, verify, max_memory)
    if dev is None:   # the default device when it is the chosen kind, as a live trace's Tensors show it
        dev = get_device(None)
        dev = dev if dev.kind == pf.plan.device else get_device(f"{pf.plan.device}0")
    return LoadedPlan(pf, dev)


# MegEngine's dump options about var/operator naming and graph-modification bookkeeping: graphc keeps
# names and source locations anyway, so code written for MegEngine runs unchanged; "enable_*" are
# inference-optimization hints that the pipeline decides by itself.
_MEGENGINE_NAMING_OPTIONS = frozenset({"keep_var_name", "keep_opr_name", "keep_param_name",
                                       "keep_opr_priority", "no_change_graph", "append_json"})


def dump_trace(traced, file: PathOrFile, *, arg_names: Sequence[str] | None = None,
               output_names: Sequence[str] | None = None, optimize_for_inference: bool | None = None,
               with_test_vector: bool = True, test_inputs: Sequence | Mapping | None = None,
               user_info: object = None, enable_metadata: bool = True, append: bool = False,
               strip_info_file: str | os.PathLike | None = None, input_data: Sequence | None = None,
               **megengine_options) -> None:
    """Write the most recent trace of `traced` (a jit.trace) to a plan file, as MegEngine's trace.dump.

    optimize_for_inference=True keeps only what the returned outputs need (no gradients, no state updates
    but the random generators' keys; parameters are kept as fixed state); False keeps the whole training
    step, which the loaded plan then performs on every call. The default (None) is False for a function that
    updates state or leaves gradients (a training step stays one) and True otherwise. Outputs are named
    `output_names`, else by their names in the trace (`loss`), else output0, output1, ... The test vector uses
    `test_inputs` or seeded random inputs.
    user_info must be JSON data. strip_info_file receives the JSON description `graphc info --json` prints.
    input_data is MegEngine's form of test inputs: one array, or "#rand(low, high[, shape...])", per input.
    A plan with collectives (graphc.distributed) gets no test vector: its results depend on the other ranks.
    """
    unknown = {k for k in megengine_options
               if k not in _MEGENGINE_NAMING_OPTIONS and not k.startswith("enable_")}
    if unknown:
        raise GraphcTypeError(f"dump() got unexpected options {sorted(unknown)}")
    if append:
        raise GraphcTypeError("dump(append=True) is not supported: a plan file holds exactly one plan")
    c = traced._require()
    if optimize_for_inference is None:
        optimize_for_inference = not (c.graph.updates or c.grad_params)
    # The traced graph is saved, not the optimized one: loading compiles the same graph the live function
    # compiled (so the same plan and the same numbers), the file names only ops of the stable op set (no
    # fused-kernel form that later fusion passes may change), and later optimizers improve old files.
    g = c.graph.copy()
    n_args = len(g.inputs) - len(c.states)
    states = list(g.inputs[n_args:])
    arrays = [np.asarray(to_host(t._data)) for t in c.states]
    names = _unique([as_name(v.name or "", f"state{i}") for i, v in enumerate(states)])
    grad_of: list[str] = []
    if optimize_for_inference:
        # Only the random generators' keys keep advancing, so the plan draws fresh numbers on every call.
        keys = {n.inputs[0] for n in g.nodes if n.op.random}
        g.outputs, g.updates = g.outputs[:c.n_out], [(s, v) for s, v in g.updates if s in keys]
        dce(g)
        used = {v for n in g.nodes for v in n.inputs} | set(g.outputs)
        keep = [i for i, v in enumerate(states) if v in used]
        states, arrays, names = [states[i] for i in keep], [arrays[i] for i in keep], [names[i] for i in keep]
        g.inputs = g.inputs[:n_args] + states
    else:
        # Gradients left in .grad become outputs named after their state (kept in LoadedPlan.grads).
        pos = {id(t): i for i, t in enumerate(c.states)}
        if all(id(p) in pos for p in c.grad_params):
            grad_of = [names[pos[id(p)]] for p in c.grad_params]
    args = list(arg_names) if arg_names is not None else _unique([as_name(v.name or "", f"arg{i}") for i, v in
                                                                  enumerate(g.inputs[:n_args])])
    if output_names is None:
        output_names = _unique([_output_name(v, i) if i < c.n_out else f"grad{i - c.n_out}"
                                for i, v in enumerate(g.outputs[:len(g.outputs) - len(grad_of)])])
    tv = None
    if input_data is not None:
        test_inputs = _megengine_input_data(g.inputs[:n_args], input_data)
    if with_test_vector and not planfile.has_random_ops(g) and not planfile.has_collectives(g):
        ins = _test_inputs(g.inputs[:n_args], args, test_inputs, c.example_shapes)
        tv = planfile.make_test_vector(g, ins, arrays, traced.opt_level)
    meta = {}
    if enable_metadata:
        meta = {"function": getattr(traced.__wrapped__, "__qualname__", "function"),
                "optimized_for_inference": bool(optimize_for_inference)}
        if user_info is not None:
            meta["user_info"] = user_info
    planfile.save(g, file, arg_names=args, output_names=list(output_names), grad_of=grad_of,
                  state_names=names, state_arrays=arrays, metadata=meta, test_vector=tv, device=c.device.kind,
                  opt_level=traced.opt_level, auto_metadata=enable_metadata)
    if strip_info_file is not None and isinstance(file, (str, os.PathLike)):
        with open(strip_info_file, "w") as f:
            json.dump(planfile.describe(planfile.read(file)), f, indent=2, sort_keys=True)


def _output_name(v, i: int) -> str:
    """A result's name in the trace (`loss`) when it is an identifier, else output<i>."""
    return v.name if v.kind == "op" and v.name and v.name.isidentifier() else f"output{i}"


_RAND = re.compile(r"#rand\(\s*([^,()]+)\s*,\s*([^,()]+)\s*((?:,\s*\d+\s*)*)\)")


def _megengine_input_data(values: list, input_data: Sequence) -> list[np.ndarray]:
    """Test inputs from MegEngine's dump(input_data=...): per input, an array or "#rand(low, high[, shape])"
    (uniform values of the input's shape; a shape given must be the input's)."""
    items = [input_data] if isinstance(input_data, str) else list(input_data)
    if len(items) != len(values):
        raise GraphcTypeError(f"input_data has {len(items)} entries for {len(values)} inputs")
    rng = np.random.default_rng(0)
    out = []
    for v, item in zip(values, items, strict=True):
        if not isinstance(item, str):
            out.append(np.asarray(item))
            continue
        m = _RAND.fullmatch(item.strip())
        if m is None:
            raise GraphcTypeError(f"input_data entry {item!r}: graphc takes arrays or \"#rand(low, high[, shape])\"")
        shape = tuple(int(d) for d in m.group(3).split(",") if d.strip()) or v.shape
        if int(np.prod(shape)) != v.size:
            raise ShapeError(f"input_data entry {item!r} has shape {shape}, the input has {v.shape}")
        out.append(rng.uniform(float(m.group(1)), float(m.group(2)), v.shape).astype(v.dtype))
    return out


def _unique(names: list[str]) -> list[str]:
    """Names made unique by a suffix (a traced function's leaves may repeat a parameter name)."""
    seen: set[str] = set()
    out = []
    for n in names:
        m, k = n, 1
        while m in seen:
            m, k = f"{n}_{k}", k + 1
        seen.add(m)
        out.append(m)
    return out


def _test_inputs(values: list, names: list[str], given: Sequence | Mapping | None,
                 shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """The test vector's inputs: given ones cast to the signature, else seeded random ones of `shapes` (the
    traced call's: a plan with free dimensions is checked at the sizes it was traced for)."""
    if given is not None:
        seq = [given[n] for n in names] if isinstance(given, Mapping) else list(given)
        if len(seq) != len(values):
            raise GraphcTypeError(f"test_inputs has {len(seq)} arrays for {len(values)} inputs")
        out = []
        for v, a in zip(values, seq, strict=True):
            a = np.asarray(to_host(a._data if isinstance(a, Tensor) else a)).astype(v.dtype)
            if len(a.shape) != len(v.shape) or any(type(d) is int and n != d for n, d in zip(a.shape, v.shape)):
                raise ShapeError(f"a test input has shape {a.shape}, the plan's input has {list(v.shape)}")
            out.append(a)
        return out
    rng = np.random.default_rng(0)
    out = []
    for v, shape in zip(values, shapes):   # integers are 0, a valid index or label for any op; floats cover both signs
        if v.dtype.kind == "f":
            out.append(rng.uniform(-1, 1, shape).astype(v.dtype))
        else:
            out.append(np.zeros(shape, v.dtype))
    return out
