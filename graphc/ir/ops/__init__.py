"""Op definitions by family; importing this package fills the registry."""
from . import elementwise, linalg, nn, reduce, shape  # noqa: F401
