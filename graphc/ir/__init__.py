"""graphc's IR: Values, OpNodes, Graphs, the op registry, dtype rules, verifier and printer."""
from . import ops  # noqa: F401  (fills the registry)
from .graph import FORWARD, GRADIENT, UPDATE, Graph, OpNode, Value, building, emit
from .opdef import REGISTRY, OpDef, get_op, register
from .verify import VerifyError, verify

__all__ = ["FORWARD", "GRADIENT", "UPDATE", "Graph", "OpNode", "Value", "building", "emit",
           "REGISTRY", "OpDef", "get_op", "register", "VerifyError", "verify"]
