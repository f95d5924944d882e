"""Op definitions by family; importing this package fills the registry."""
from . import elementwise, fused, linalg, nn, reduce, scan, shape, sort  # noqa: F401
