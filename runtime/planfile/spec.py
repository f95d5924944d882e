"""What a plan file holds once checked: its signature (IOSpec), the PlanFile, format constants, the op-set
fingerprint, and the description `graphc info` prints."""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from graphc.ir import REGISTRY, Graph
from graphc.ir.symbols import is_static

from ..plan import Plan
from .graph_codec import encode_dims

FORMAT_VERSION = 2           # 2: symbolic sizes and their guards; version 1 files (static shapes) still load
READABLE_VERSIONS = (1, 2)
DEVICES = ("cpu", "gpu")
AUTO_METADATA = ("created", "numpy_version", "python_version", "graphc_version")
TOP_FIELDS = {"format_version", "opset", "device", "opt_level", "graph", "signature", "test_vector", "metadata",
        "arrays"}


def opset_fingerprint(names: Sequence[str] | None = None) -> str:
    """A stable fingerprint of an op set (default: this graphc's registry): sha256 of the sorted names."""
    names = sorted(REGISTRY if names is None else names)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IOSpec:
    """One entry of a plan's signature: a named input, output or state of a fixed shape and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    kind: str = "input"          # input | state | output | grad
    of: str | None = None        # for a gradient output: the state it is the gradient of

    def __str__(self) -> str:
        grad = f" (gradient of {self.of})" if self.of else ""
        return f"{self.name}: {self.dtype}{list(self.shape)}{grad}"

    @property
    def free(self) -> bool:
        """True when some dimension is symbolic (any size of it is accepted)."""
        return not is_static(self.shape)


TestVector = tuple[list[np.ndarray], list[np.ndarray]]   # (inputs, expected outputs then updated states)


@dataclass
class PlanFile:
    """A checked plan file: the graph, its signature, state arrays, metadata and (after load) a Plan."""

    graph: Graph
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    states: list[IOSpec]
    state_arrays: list[np.ndarray]
    metadata: dict
    format_version: int
    opset: str
    device: str
    opt_level: int
    test_vector: TestVector | None = None
    sizes: dict = field(default_factory=dict)
    plan: Plan | None = None

    @property
    def opset_matches(self) -> bool:
        """True when the file was written with exactly this graphc's op set."""
        return self.opset == opset_fingerprint()


def describe(pf: PlanFile) -> dict:
    """A JSON-ready description of a checked plan file (what `graphc info` prints)."""
    def io(s: IOSpec) -> dict:
        return {"name": s.name, "shape": encode_dims(s.shape), "dtype": str(s.dtype), "kind": s.kind, "of": s.of}
    ops = Counter(n.op.name for n in pf.graph.nodes)
    groups = sorted({n.attrs["size"] for n in pf.graph.nodes if n.op.collective})
    return {"format_version": pf.format_version, "opset": pf.opset, "opset_matches": pf.opset_matches,
            "device": pf.device, "opt_level": pf.opt_level, "test_vector": pf.test_vector is not None,
            "inputs": [io(s) for s in pf.inputs], "outputs": [io(s) for s in pf.outputs],
            "states": [io(s) for s in pf.states], "updates": len(pf.graph.updates),
            "nodes": len(pf.graph.nodes), "ops": dict(ops.most_common()),
            "free_sizes": pf.graph.symbols(), "guards": [str(g) for g in pf.graph.facts.guards],
            "roles": dict(Counter(n.role for n in pf.graph.nodes).most_common()),
            "group_size": groups[0] if groups else None, "sizes": pf.sizes, "metadata": pf.metadata}


def one_line(e: BaseException) -> str:
    """The first line of an error's message, shortened (what a refusal quotes)."""
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__
