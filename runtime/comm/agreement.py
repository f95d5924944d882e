"""The report when ranks are about to run different collectives: both ranks' lists, the first difference marked."""
from __future__ import annotations

CONTEXT = 3          # lines shown before the first difference
SHOWN = 12           # lines shown per rank at most


def _signature(line: str) -> str:
    return line.split("  @ ", 1)[0]


def first_difference(a: list[str], b: list[str]) -> int:
    """Index of the first collective whose signature differs (the shorter length when one list is a prefix)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if _signature(x) != _signature(y):
            return i
    return min(len(a), len(b))


def _excerpt(lines: list[str], at: int) -> list[str]:
    lo = max(0, at - CONTEXT)
    shown = [f"  {'>' if i == at else ' '} {i}: {line}" for i, line in enumerate(lines[lo:lo + SHOWN], lo)]
    if lo:
        shown.insert(0, f"    ... {lo} before")
    if lo + SHOWN < len(lines):
        shown.append(f"    ... {len(lines) - lo - SHOWN} more")
    if at >= len(lines):
        shown.append(f"  > {at}: (nothing: this rank's list ends here)")
    return shown


def mismatch_report(rank: int, digests: list[bytes], texts: list[str], what: str) -> str:
    """Why rank `rank` stops: which ranks differ from it and, for the first of them, both lists of collectives."""
    mine = digests[rank]
    differ = [r for r, d in enumerate(digests) if d != mine]
    other = differ[0]
    a, b = texts[rank].splitlines(), texts[other].splitlines()
    at = first_difference(a, b)
    same = [r for r, d in enumerate(digests) if d == mine]
    head = (f"the ranks are about to run different collectives ({what}): rank {rank} and rank {other} differ at "
            f"collective {at} (did a rank take another branch, or trace with other shapes?); the ranks that run "
            f"what rank {rank} runs: {', '.join(map(str, same))}")
    return "\n".join([head, f"rank {rank} starts {len(a)}:", *_excerpt(a, at),
                      f"rank {other} starts {len(b)}:", *_excerpt(b, at)])
