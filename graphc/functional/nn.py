"""Neural-network functions (F.nn): softmax, one_hot, dropout, embedding, the activations and the losses."""
from __future__ import annotations

from ..ir.dtypes import float_of, int32
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..random.rng import default_rng
from ..tensors import Tensor, apply1, as_tensor, cast
from .elemwise import (  # noqa: F401
    exp,
    gelu,
    hsigmoid,
    hswish,
    leaky_relu,
    logsigmoid,
    maximum,
    minimum,
    relu,
    relu6,
    sigmoid,
    silu,
    softplus,
)
from .indexing import check_index
from .linalg import linear  # noqa: F401
from .loss import binary_cross_entropy, cross_entropy, ctc_loss, hinge_loss, l1_loss, square_loss  # noqa: F401
from .math import normalize  # noqa: F401
from .reduction import logsumexp, max, sum
from .shape import gather, pad, squeeze  # noqa: F401  (F.nn.pad as in MegEngine)

__all__ = ["binary_cross_entropy", "cross_entropy", "ctc_loss", "dropout", "embedding", "gelu", "hinge_loss",
           "hsigmoid", "hswish", "indexing_one_hot", "l1_loss", "leaky_relu", "linear", "logsigmoid", "logsoftmax",
           "logsumexp", "normalize", "one_hot", "pad", "prelu", "relu", "relu6", "sigmoid", "silu", "softmax",
           "softplus", "square_loss"]


def __dir__() -> list[str]:   # tab completion shows the API, not the helpers imported here
    return __all__


def _softmax_axis(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmax(inp, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along axis (MegEngine's default axis when None)."""
    x = as_tensor(inp)
    x = cast(x, float_of(x.dtype))
    axis = _softmax_axis(x.ndim) if axis is None else axis
    e = exp(x - max(x, axis, keepdims=True).detach())
    return e / sum(e, axis, keepdims=True)


def logsoftmax(inp, axis: int | None = None) -> Tensor:
    """x - logsumexp(x) along axis."""
    x = as_tensor(inp)
    x = cast(x, float_of(x.dtype))
    axis = _softmax_axis(x.ndim) if axis is None else axis
    return x - logsumexp(x, axis, keepdims=True)


def prelu(inp, weight) -> Tensor:
    """max(x, 0) + weight * min(x, 0), weight broadcast (one value, or one per channel of axis 1)."""
    x, w = as_tensor(inp), as_tensor(weight)
    if w.size > 1 and x.ndim > 1:
        w = w.reshape((1, w.size) + (1,) * (x.ndim - 2))
    return maximum(x, 0) + w * minimum(x, 0)


def one_hot(inp, num_classes: int) -> Tensor:
    """One-hot rows (int32) for integer labels."""
    labels = as_tensor(inp)
    check_index("one_hot", labels, int(num_classes), labels.ndim, negative=False)
    return apply1("one_hot", [cast(labels, int32)], num_classes=int(num_classes))


def indexing_one_hot(src, index, axis: int = 1, keepdims: bool = False) -> Tensor:
    """src's element at position index[...] along axis (one per line), as MegEngine's indexing_one_hot."""
    x, idx = as_tensor(src), as_tensor(index)
    axis = axis % x.ndim if x.ndim else axis
    if idx.shape != x.shape[:axis] + x.shape[axis + 1:]:
        raise ShapeError(f"indexing_one_hot: index of shape {idx.shape} does not fit src of shape {x.shape} "
                         f"along axis {axis} (at {user_location()})")
    out = gather(x, axis, idx.reshape(idx.shape[:axis] + (1,) + idx.shape[axis:]))
    return out if keepdims else squeeze(out, axis)


def dropout(inp, drop_prob: float, training: bool = True) -> Tensor:
    """Zero each element with probability drop_prob and scale the rest by 1/(1-drop_prob); the mask is drawn
    from graphc.random's global generator (reproducible under graphc.random.seed)."""
    x = as_tensor(inp)
    if not training or drop_prob == 0:
        return x
    if not 0 <= drop_prob < 1:
        raise ValueError(f"dropout: drop_prob must be in [0, 1), got {drop_prob} (at {user_location()})")
    u = default_rng()._draw("uniform", {"shape": x.shape, "low": 0.0, "high": 1.0}, x.device)
    keep = cast(u >= float(drop_prob), x.dtype)
    return x * keep * (1.0 / (1.0 - drop_prob))


def embedding(inp, weight, padding_idx=None, max_norm=None, norm_type=None) -> Tensor:
    """Rows of weight selected by the integer tensor inp."""
    idx = cast(as_tensor(inp), int32)
    return as_tensor(weight)[idx]
