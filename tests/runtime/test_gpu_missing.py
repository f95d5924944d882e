"""Without a usable GPU, asking for one says why and which CuPy to install, matching pyproject's extras."""
from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest

import graphc
from graphc.runtime import arrays

ROOT = Path(__file__).resolve().parents[2]


def extras() -> dict[str, str]:
    """pyproject.toml's gpu-cudaN extras: name -> requirement."""
    text = (ROOT / "pyproject.toml").read_text()
    return dict(re.findall(r'^(gpu-cuda\d+) = \["([^"]+)"\]', text, re.M))


def test_the_message_and_pyproject_name_the_same_cupy_packages():
    assert extras() == {f"gpu-cuda{major}": req for major, req in arrays.CUPY.items()}


@pytest.fixture
def no_cupy(monkeypatch):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("major", [12, 13])
def test_without_cupy_the_driver_picks_the_package(no_cupy, monkeypatch, major):
    monkeypatch.setattr(arrays, "cuda_driver_version", lambda: major)
    msg = arrays.gpu_missing()
    assert f"pip install '{arrays.CUPY[major]}'" in msg and f"CUDA {major}" in msg
    other = arrays.CUPY[13 if major == 12 else 12]
    assert other not in msg


def test_without_a_driver_both_packages_are_named(no_cupy, monkeypatch):
    monkeypatch.setattr(arrays, "cuda_driver_version", lambda: None)
    msg = arrays.gpu_missing()
    assert "no NVIDIA driver" in msg and arrays.CUPY[12] in msg and arrays.CUPY[13] in msg


@pytest.mark.skipif(graphc.is_cuda_available(), reason="this machine has a usable GPU")
def test_asking_for_the_gpu_says_what_to_install():
    with pytest.raises(graphc.DeviceError, match=r"needs a CUDA GPU with CuPy.*(pip install|CuPy is installed)"):
        graphc.Tensor([1.0], device="gpu0")
