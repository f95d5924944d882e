"""Neural-network functions: softmax, one_hot, dropout, embedding and the losses (F.nn)."""
from __future__ import annotations

from ..ir.dtypes import float_of, int32
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..tensors import Tensor, apply, apply1, as_tensor, cast
from .elementwise import (  # noqa: F401  (F.nn re-exports the activations, as in MegEngine)
    abs,
    exp,
    gelu,
    leaky_relu,
    log,
    logsigmoid,
    relu,
    sigmoid,
    silu,
    softplus,
    where,
)
from .indexing import check_index
from .linalg import linear  # noqa: F401
from .reduction import logsumexp, max, mean, sum
from .shape import gather, pad, reshape, squeeze  # noqa: F401  (F.nn.pad as in MegEngine)


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


def one_hot(inp, num_classes: int) -> Tensor:
    """One-hot rows (float32) for integer labels."""
    labels = as_tensor(inp)
    check_index("one_hot", labels, int(num_classes), labels.ndim, negative=False)
    return apply1("one_hot", [cast(labels, int32)], num_classes=int(num_classes))


def dropout(inp, drop_prob: float, training: bool = True) -> Tensor:
    """Zero each element with probability drop_prob and scale the rest by 1/(1-drop_prob)."""
    x = as_tensor(inp)
    if not training or drop_prob == 0:
        return x
    if not 0 <= drop_prob < 1:
        raise ValueError(f"dropout: drop_prob must be in [0, 1), got {drop_prob} (at {user_location()})")
    u = apply("uniform", [], {"shape": x.shape}, device=x.device)[0]
    keep = cast(u >= float(drop_prob), x.dtype)
    return x * keep * (1.0 / (1.0 - drop_prob))


def embedding(inp, weight, padding_idx=None, max_norm=None, norm_type=None) -> Tensor:
    """Rows of weight selected by the integer tensor inp."""
    idx = cast(as_tensor(inp), int32)
    return as_tensor(weight)[idx]


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same(op: str, pred: Tensor, label: Tensor) -> None:
    if pred.shape != label.shape:
        raise ShapeError(f"{op}: pred of shape {pred.shape} and label of shape {label.shape} differ "
                         f"(at {user_location()})")


def square_loss(pred, label, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    pred, label = as_tensor(pred), as_tensor(label)
    _check_same("square_loss", pred, label)
    d = pred - label
    return _reduce(d * d, reduction)


def l1_loss(pred, label, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    pred, label = as_tensor(pred), as_tensor(label)
    _check_same("l1_loss", pred, label)
    return _reduce(abs(pred - label), reduction)


def cross_entropy(pred, label, axis: int = 1, with_logits: bool = True, label_smooth: float = 0,
                  reduction: str = "mean") -> Tensor:
    """Cross entropy of integer labels against logits (or probabilities when with_logits=False)."""
    pred, label = as_tensor(pred), cast(as_tensor(label), int32)
    pred = cast(pred, float_of(pred.dtype))
    if label.shape != pred.shape[:axis] + pred.shape[axis + 1:]:
        raise ShapeError(f"cross_entropy: label of shape {label.shape} does not fit pred of shape "
                         f"{pred.shape} "
                         f"along axis {axis} (at {user_location()})")
    num_classes = pred.shape[axis]
    idx = reshape(label, label.shape[:axis] + (1,) + label.shape[axis:])
    if with_logits:
        x = pred - max(pred, axis, keepdims=True).detach()
        down = logsumexp(x, axis, keepdims=True)
        up = gather(x, axis, idx)
        if label_smooth:
            up = up * (1 - label_smooth) + sum(x, axis, keepdims=True) * (label_smooth / num_classes)
        loss = down - up
    else:
        p = gather(pred, axis, idx)
        if label_smooth:
            p = p * (1 - label_smooth) + label_smooth / num_classes
        loss = -log(p)
    return _reduce(squeeze(loss, axis), reduction)


def binary_cross_entropy(pred, label, with_logits: bool = True, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of logits (or probabilities when with_logits=False) against 0/1 labels."""
    pred = as_tensor(pred)
    label = cast(as_tensor(label), float_of(pred.dtype))
    _check_same("binary_cross_entropy", pred, label)
    if with_logits:
        loss = -(label * logsigmoid(pred) + (1 - label) * logsigmoid(-pred))
    else:
        loss = -(label * log(pred) + (1 - label) * log(1 - pred))
    return _reduce(loss, reduction)


def hinge_loss(pred, label, norm: str = "L1", reduction: str = "mean") -> Tensor:
    """Hinge loss for labels in {-1, 1}: per sample, the sum over axis 1 of max(0, 1 - pred*label)
    (or of its square)."""
    pred, label = as_tensor(pred), as_tensor(label)
    _check_same("hinge_loss", pred, label)
    if norm not in ("L1", "L2"):
        raise ValueError(f"hinge_loss: norm must be 'L1' or 'L2', got {norm!r}")
    margin = relu(1 - pred * cast(label, pred.dtype))
    per = sum(margin if norm == "L1" else margin * margin, axis=1)
    return _reduce(per, reduction)


__all__ = ["softmax", "logsoftmax", "one_hot", "dropout", "embedding", "square_loss", "l1_loss",
           "cross_entropy", "binary_cross_entropy", "hinge_loss", "relu", "sigmoid", "leaky_relu", "gelu",
           "silu", "softplus", "logsigmoid", "linear", "where", "pad"]

