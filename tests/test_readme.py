"""The README's Python blocks run as written: in order, in one session (as a reader pastes them), in a fresh
interpreter and an empty folder; a `print(...)  # Name(...)` line prints the repr its comment shows."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)


def promised_prints(blocks: list[str]) -> list[str]:
    """The reprs `print(...)   # Parameter(0.13, ...)` lines promise (other comments describe, not show)."""
    return [m.group(1) for b in blocks for m in re.finditer(r"^print\(.*\)\s+#\s*(\w+\(.*\))\s*$", b, re.M)]


def test_the_readme_has_python_blocks_with_promised_output():
    blocks = python_blocks()
    assert len(blocks) >= 3 and promised_prints(blocks)


@pytest.mark.skipif(shutil.which("dot") is None, reason="the README draws pictures: graphviz's `dot` is needed")
def test_every_readme_python_block_runs_as_written(tmp_path):
    blocks = python_blocks()
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks))
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    for text in promised_prints(blocks):
        assert text in lines, (text, r.stdout[-2000:])
    for name in ("forward.svg", "plan.svg", "step.gcplan"):      # what the blocks say they write
        assert (tmp_path / name).stat().st_size > 0
