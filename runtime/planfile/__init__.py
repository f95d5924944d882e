"""Plan files: a checked container (container.py), the graph's JSON codec (graph_codec.py), attribute
encoding (attrs.py), primitive checks and limits (checks.py), and saving, loading and test vectors (files.py)."""
from .files import (
    AUTO_METADATA,
    DEVICES,
    FORMAT_VERSION,
    IOSpec,
    PlanFile,
    TestVector,
    check_test_vector,
    compile_plan,
    describe,
    has_random_ops,
    load,
    make_test_vector,
    opset_fingerprint,
    read,
    run_plan,
    save,
)

__all__ = ["AUTO_METADATA", "DEVICES", "FORMAT_VERSION", "IOSpec", "PlanFile", "TestVector", "save", "read", "load",
           "compile_plan", "describe", "make_test_vector", "check_test_vector", "run_plan", "has_random_ops",
           "opset_fingerprint"]
