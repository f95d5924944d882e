"""Op definitions by family; importing this package fills the registry."""
from . import collective, elementwise, fused, linalg, nn, reduce, shape  # noqa: F401
