"""The graphc exception hierarchy: each error is also the built-in exception MegEngine raises for the same
mistake (its C++ core raises RuntimeError for shape, axis, dtype and device errors, so those are
RuntimeErrors too), and `except graphc.GraphcError` catches all of them.

Tracebacks name the classes as `graphc.ShapeError` (they are exported there); GraphcTypeError prints as
the plain `TypeError` MegEngine's tutorial shows."""


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError, RuntimeError):
    """Operand shapes do not fit the operation."""


class DTypeError(GraphcError, TypeError, RuntimeError):
    """An operand's dtype is not accepted by the operation."""


class AxisError(GraphcError, IndexError, RuntimeError):
    """An axis is out of range for the operand's rank."""


class GraphcIndexError(GraphcError, IndexError):
    """An index is out of range."""


class DeviceError(GraphcError, ValueError, RuntimeError):
    """An unknown device, or operands on different devices."""


class GraphcTypeError(GraphcError, TypeError):
    """An argument of the wrong Python type."""


class ArgumentError(GraphcError, ValueError, AssertionError):
    """An argument value refused where MegEngine asserts (the same axis twice, attaching an integer tensor,
    no bound given to clip): a ValueError, and an AssertionError as MegEngine's."""


class GradError(GraphcError, RuntimeError):
    """Misuse of GradManager (backward outside recording, twice, nothing recorded)."""


class TraceError(GraphcError, RuntimeError):
    """Something that cannot happen inside a traced function, or a checked trace that no longer matches."""


class ResourceError(GraphcError, MemoryError):
    """A plan would need more memory than its caller allows."""


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


for _cls in (GraphcError, ShapeError, DTypeError, AxisError, GraphcIndexError, DeviceError, ArgumentError,
             GradError, TraceError, PlanFormatError, CollectiveError, CollectiveTimeout, CollectiveMismatch,
             RemoteRankError):
    _cls.__module__ = "graphc"
# Python prints an exception as `module.qualname: message` unless the module is builtins.
GraphcTypeError.__module__, GraphcTypeError.__qualname__ = "builtins", "TypeError"


def with_context(err: GraphcError, op: str, loc: str | None) -> GraphcError:
    """Return a copy of `err` whose message names the op and the user's source line."""
    msg = str(err)
    if not msg.startswith(op + ":"):
        msg = f"{op}: {msg}"
    if loc and "(at " not in msg:
        msg = f"{msg} (at {loc})"
    return type(err)(msg)
