"""Plan files: the checked container (container.py), the graph's JSON codec (graph_codec.py), attribute
encoding (attrs.py), primitive checks and limits (checks.py), what a checked file holds (spec.py), and
saving, loading and test vectors (save.py, load.py, test_vector.py)."""
from .load import compile_plan, load, read
from .save import save
from .spec import AUTO_METADATA, DEVICES, FORMAT_VERSION, IOSpec, PlanFile, TestVector, describe, opset_fingerprint
from .test_vector import check_test_vector, has_collectives, has_random_ops, make_test_vector, run_plan

__all__ = ["AUTO_METADATA", "DEVICES", "FORMAT_VERSION", "IOSpec", "PlanFile", "TestVector", "save", "read", "load",
           "compile_plan", "describe", "make_test_vector", "check_test_vector", "run_plan", "has_random_ops",
           "has_collectives", "opset_fingerprint"]
