"""Plans too long for one Python function: the generated lines split into functions of a bounded length.

CPython compiles a function as a whole: a 100k-line plan held about 390 MB of compiler state at once. Past
MAX_LINES, the plan's values live in one dict (the register file, r["v3_0"] for the local v3_0) instead of
local variables, and its lines go into functions of at most MAX_LINES lines, each compiled on its own
(a dict access costs some 25 ns more than a local; such a plan makes 10^4 calls or more anyway).
"""
from __future__ import annotations

import re

MAX_LINES = 4096
# The generated code's local names: arguments, results, slot buffers, symbol sizes, collective handles, the
# slot set and the BLAS scope. Its globals (constants c7, kernels f3 and kv3, ufuncs u_add ...) never match.
_LOCAL = re.compile(r"\b(a\d+|v\d+(?:f\d+)?_\d+|m\d+|h\d+|s_\w+|_b|_bt)\b")


def registers(text: str) -> str:
    """`text` with each local name x written r["x"]."""
    return _LOCAL.sub(r'r["\1"]', text)


def split(lines: list[str]) -> list[tuple[str, str]]:
    """(name, source) of functions _p0(r), _p1(r), ... running `lines` in order with registers; each source
    starts with blank lines so that its line numbers are those of the parts written one after the other
    (the start of the plan's whole source)."""
    chunks: list[list[str]] = [[]]
    for ln in lines:
        top = not ln.startswith((" ", "else", "elif"))    # a block's inner lines stay with its head
        if top and len(chunks[-1]) >= MAX_LINES:
            chunks.append([])
        chunks[-1].append(registers(ln))
    out, at = [], 1
    for k, chunk in enumerate(chunks):
        src = "\n" * (at - 1) + f"def _p{k}(r):\n" + "".join(f"    {ln}\n" for ln in chunk)
        out.append((f"_p{k}", src))
        at += len(chunk) + 1
    return out
