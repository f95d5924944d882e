"""Shared by the plan-file tests: small traced models, and taking plan files apart and putting them back."""
from __future__ import annotations

import hashlib
import json
import struct

import numpy as np

import graphc.functional as F
import graphc.optimizer as optim
from graphc import Parameter, Tensor
from graphc.autodiff import GradManager
from graphc.jit import trace
from graphc.runtime.planfile.container import MAGIC, PREAMBLE


def mlp_step(seed: int = 0, optimizer: str = "adam", symbolic_shape: bool = False):
    """A traced MLP training step (loss, logits), its parameters, and two batches of inputs."""
    rng = np.random.default_rng(seed)
    w1 = Parameter(rng.standard_normal((4, 8)).astype("float32"))
    b1 = Parameter(np.zeros(8, "float32"))
    w2 = Parameter(rng.standard_normal((8, 3)).astype("float32"))
    params = [w1, b1, w2]
    gm = GradManager().attach(params)
    opt = optim.Adam(params, lr=0.01) if optimizer == "adam" else optim.SGD(params, lr=0.05, momentum=0.9)

    @trace(symbolic_shape=symbolic_shape)
    def step(x, label):
        with gm:
            h = F.relu(F.matmul(x, w1) + b1)
            logits = F.matmul(h, w2)
            loss = F.nn.cross_entropy(logits, label)
            gm.backward(loss)
            opt.step().clear_grad()
        return loss, logits

    batches = [(Tensor(rng.standard_normal((5, 4)).astype("float32")), Tensor(rng.integers(0, 3, 5)))
               for _ in range(2)]
    return step, params, batches


def mlp_predict(seed: int = 1, symbolic_shape: bool = False):
    """A traced inference function with captured parameters, and an input."""
    rng = np.random.default_rng(seed)
    w = Parameter(rng.standard_normal((4, 3)).astype("float32"))
    b = Parameter(rng.standard_normal(3).astype("float32"))

    @trace(symbolic_shape=symbolic_shape)
    def predict(x):
        y = F.tanh(F.matmul(x, w) + b)
        return F.clip(y, -0.5, 0.75) * 2.0

    return predict, Tensor(rng.standard_normal((2, 4)).astype("float32"))


def unpack(blob: bytes) -> tuple[dict, bytes]:
    """(header as JSON data, array bytes) of a plan file."""
    assert blob[:8] == MAGIC
    (n,) = struct.unpack("<Q", blob[8:16])
    return json.loads(blob[PREAMBLE:PREAMBLE + n]), blob[PREAMBLE + n:]


def pack(header: dict, data: bytes) -> bytes:
    """A plan file from a header and array bytes, with a correct header checksum (arrays' as given)."""
    text = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(text)) + hashlib.sha256(text).digest() + text + data


def rehash_arrays(header: dict, data: bytes) -> None:
    """Recompute the array checksums in `header` for `data` (after an array was edited on purpose)."""
    for e in header["arrays"]:
        e["sha256"] = hashlib.sha256(data[e["offset"]:e["offset"] + e["nbytes"]]).hexdigest()
