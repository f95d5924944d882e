"""The graphc exception hierarchy: each error is also the matching built-in exception."""


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """Operand shapes do not fit the operation."""


class DTypeError(GraphcError, TypeError):
    """An operand's dtype is not accepted by the operation."""


class AxisError(GraphcError, IndexError):
    """An axis is out of range for the operand's rank."""


class GraphcIndexError(GraphcError, IndexError):
    """An index is out of range."""


class DeviceError(GraphcError, ValueError):
    """An unknown device, or operands on different devices."""


class GraphcTypeError(GraphcError, TypeError):
    """An argument of the wrong Python type."""


class GradError(GraphcError, RuntimeError):
    """Misuse of GradManager (backward outside recording, twice, nothing recorded)."""


class TraceError(GraphcError, RuntimeError):
    """Something that cannot happen inside a traced function."""


class ResourceError(GraphcError, MemoryError):
    """A plan would need more memory than its caller allows."""


class PlanFormatError(GraphcError, ValueError):
    """A plan file that is truncated, corrupted, of unknown version or otherwise refused."""


def with_context(err: GraphcError, op: str, loc: str | None) -> GraphcError:
    """Return a copy of `err` whose message names the op and the user's source line."""
    msg = str(err)
    if not msg.startswith(op + ":"):
        msg = f"{op}: {msg}"
    if loc and "(at " not in msg:
        msg = f"{msg} (at {loc})"
    return type(err)(msg)
