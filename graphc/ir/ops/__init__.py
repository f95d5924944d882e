"""Op definitions by family; importing this package fills the registry."""
from . import collective, elementwise, fused, linalg, nn, reduce, scan, shape, sort  # noqa: F401
