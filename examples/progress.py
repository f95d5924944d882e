"""A tqdm progress bar for the examples, or plain prints when tqdm is not installed."""
from __future__ import annotations


def progress(total: int, desc: str):
    """A tqdm bar, or a stand-in printing a line per postfix when tqdm is missing."""
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc=desc, leave=True)
    except ImportError:
        return _PlainProgress(total, desc)


class _PlainProgress:
    """tqdm's update/set_postfix_str/close as plain prints."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, s: str) -> None:
        print(f"{self.desc}: {self.n}/{self.total} {s}", flush=True)

    def close(self) -> None:
        pass
