"""Rendering DOT text to SVG, PNG or PDF files with graphviz's `dot` program."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from graphc.ir.errors import GraphcError

from .picture import to_dot

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
INSTALL = ("install it with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
           "`conda install graphviz`; graphc.viz.to_dot(...) still returns DOT text without it")


class GraphvizNotFoundError(GraphcError, RuntimeError):
    """Graphviz's `dot` program (or the `graphviz` Python package) is missing."""


def render(obj: object, path: str | os.PathLike, **options) -> Path:
    """Write `obj`'s picture to `path`: SVG, PNG, PDF or DOT by suffix; `options` go to `to_dot`."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"graphc.viz.render: cannot tell the format of {str(path)!r}; "
                         f"use one of the suffixes {', '.join(FORMATS)}")
    text = to_dot(obj, **options)
    data = text.encode() if fmt == "dot" else pipe(text, fmt)
    path.write_bytes(data)
    return path


def pipe(text: str, fmt: str) -> bytes:
    """Run `dot -T<fmt>` on DOT text and return its output."""
    try:
        import graphviz  # only rendering needs it: DOT text (to_dot) works without
    except ImportError:
        raise GraphvizNotFoundError("rendering needs the `graphviz` Python package (pip install graphviz) "
                                    "and graphviz's `dot` program; " + INSTALL) from None
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError("rendering needs graphviz's `dot` program, which is not on PATH; " + INSTALL)
    try:
        return graphviz.Source(text).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError("rendering needs graphviz's `dot` program, which could not be run; "
                                    + INSTALL) from None
    except graphviz.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip()
        raise GraphcError(f"graphviz's `dot` failed: {err or e}") from None


def repr_svg(obj: object, **options) -> str | None:
    """SVG text for Jupyter's inline display, or None (so the text form shows) when `dot` is missing."""
    try:
        return pipe(to_dot(obj, **options), "svg").decode()
    except GraphvizNotFoundError:
        return None
