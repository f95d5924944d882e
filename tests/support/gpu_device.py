"""What the GPU test modules share: CuPy (a module without it is skipped) and the marks that skip its
tests where CuPy sees no device."""
from __future__ import annotations

import pytest


def cupy_and_marks():
    """CuPy and the module's `pytestmark` list (marker `gpu`, skipped without a CUDA device)."""
    cupy = pytest.importorskip("cupy")
    try:
        have_device = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:           # no driver, or no device
        have_device = False
    return cupy, [pytest.mark.gpu, pytest.mark.skipif(not have_device, reason="no CUDA device visible to CuPy")]
