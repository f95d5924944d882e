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


class PlanFormatError(GraphcError, ValueError):
    """A plan file that is truncated, corrupted, of unknown version or otherwise refused."""


class CollectiveError(GraphcError, RuntimeError):
    """A collective could not complete: another rank failed, the ranks disagree, or the group is unusable."""


class CollectiveTimeout(CollectiveError, TimeoutError):
    """A collective waited longer than the process group's timeout for the other ranks."""


class CollectiveMismatch(CollectiveError):
    """The ranks are about to run different collectives (their traced graphs or eager calls differ)."""


class RemoteRankError(CollectiveError):
    """Another rank of the process group raised or died while this one waited for it."""


def with_context(err: GraphcError, op: str, loc: str | None) -> GraphcError:
    """Return a copy of `err` whose message names the op and the user's source line."""
    msg = str(err)
    if not msg.startswith(op + ":"):
        msg = f"{op}: {msg}"
    if loc and "(at " not in msg:
        msg = f"{msg} (at {loc})"
    return type(err)(msg)
