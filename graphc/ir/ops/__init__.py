"""Op definitions by family; importing this package fills the registry."""
from . import elementwise, fused, linalg, nn, reduce, shape  # noqa: F401
