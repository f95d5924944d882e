"""Finding the user's source line (the first frame outside graphc's own packages)."""
import functools
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_INTERNAL = tuple(os.path.join(_ROOT, p) + os.sep for p in ("graphc", "passes", "runtime"))
_SKIP = ("contextlib.py", "functools.py")


@functools.lru_cache(maxsize=1024)
def is_user_file(filename: str) -> bool:
    """True for a source file outside graphc's own packages (asked for each frame of each recorded op)."""
    return not filename.startswith(_INTERNAL) and not filename.endswith(_SKIP)


def user_location() -> str | None:
    """Return "file:line" of the innermost caller that is user code, or None."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if is_user_file(fn):
            return f"{fn}:{f.f_lineno}"
        f = f.f_back
    return None
