"""Data-parallel helpers (MegEngine's distributed.helper): the gradient all-reduce callback that packs gradients
into flat buckets, broadcasting initial parameters, and `synchronized`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from weakref import WeakSet

import numpy as np

from ..autodiff import get_backwarding_grad_manager
from ..config import config
from ..functional.shape import concat
from ..future import Future
from ..ir import GRADIENT
from ..ir.errors import GradError
from ..ir.location import user_location
from ..state import role
from ..tensors import Tensor
from .functional import all_reduce_sum, broadcast
from .group import WORLD, Group, group_barrier, group_size, is_distributed


class AllreduceCallback:
    """A GradManager callback that all-reduces gradients across the ranks ("sum", or "mean" over the ranks).

    Gradients are packed by dtype into flat buckets of about `bucket_size` bytes (default config.bucket_bytes,
    GRAPHC_BUCKET_BYTES; MegEngine's 10 MiB), one all-reduce per bucket, so a small model pays one collective per
    step. Inside jit.trace the packing, the all-reduce and the unpacking are graph nodes: the runtime starts each
    bucket's exchange as soon as its gradients exist and waits for it before the update reads them.
    `backend` is MegEngine's and unused: the exchange goes through the process group's backend.
    """

    def __init__(self, reduce_method: str, group: Group | None = WORLD, backend: str | None = None,
                 bucket_size: int | None = None) -> None:
        method = reduce_method.lower()
        if method not in ("sum", "mean"):
            raise ValueError(f"reduce_method should be 'sum' or 'mean', got {reduce_method!r}")
        if bucket_size is not None and bucket_size < 1:
            raise ValueError(f"bucket_size must be a positive number of bytes, got {bucket_size}")
        group_size(group, "make_allreduce_cb")
        self._mean = method == "mean"
        self._group = group
        self._bucket = bucket_size
        self._marked: WeakSet = WeakSet()
        self._waiting: dict[str, list[tuple[Tensor, Future]]] = {}   # dtype -> gradients not yet reduced
        self._bytes: dict[str, int] = {}

    def __call__(self, param: Tensor, grad: Tensor) -> Future:
        """Take one gradient; its reduced value arrives once its bucket is full or the backward ends."""
        gm = get_backwarding_grad_manager()
        if gm is None:
            raise GradError(f"the all-reduce callback runs inside GradManager.backward, attached with "
                            f"gm.attach(params, callbacks=[...]) (at {user_location()})")
        if gm not in self._marked:
            gm._register_after_backward_callback(self._flush)
            self._marked.add(gm)
        fut = Future()
        key = str(grad.dtype)
        self._waiting.setdefault(key, []).append((grad, fut))
        self._bytes[key] = self._bytes.get(key, 0) + grad.size * np.dtype(grad.dtype).itemsize
        if self._bytes[key] > (config.bucket_bytes if self._bucket is None else self._bucket):
            self._pack(key)
        return fut

    def _flush(self) -> None:
        for key in sorted(self._waiting):
            self._pack(key)

    def _pack(self, key: str) -> None:
        """One all-reduce for the waiting gradients of one dtype: flattened, joined, reduced, split back."""
        items = self._waiting.pop(key, [])
        self._bytes[key] = 0
        if not items:
            return
        n = group_size(self._group, "make_allreduce_cb")
        with role(GRADIENT):
            flat = [g.reshape(-1) for g, _ in items]
            total = all_reduce_sum(flat[0] if len(flat) == 1 else concat(flat), self._group)
            start = 0
            for g, fut in items:
                part = total[start:start + g.size].reshape(g.shape)
                fut.set(part / n if self._mean else part)
                start += g.size


make_allreduce_cb = AllreduceCallback


def bcast_list_(inps: list[Tensor], group: Group | None = WORLD) -> None:
    """Give every tensor of `inps` rank 0's value, in place (initial parameters before training)."""
    for t in inps:
        t._assign(broadcast(t, group))


def synchronized(func: Callable) -> Callable:
    """Decorator: when distributed, every rank waits for the others after the call."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        ret = func(*args, **kwargs)
        if is_distributed():
            group_barrier()
        return ret
    return wrapper
