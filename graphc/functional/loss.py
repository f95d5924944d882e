"""Loss functions (MegEngine's megengine.functional.loss, also reached as F.nn.*)."""
from __future__ import annotations

from ..ir.dtypes import float_of, int32
from ..ir.errors import ShapeError
from ..ir.location import user_location
from ..tensors import Tensor, apply1, as_tensor, cast
from .elemwise import abs, log, logsigmoid, relu
from .indexing import check_index
from .reduction import _axes, logsumexp, mean, sum
from .shape import gather, reshape, squeeze

__all__ = ["binary_cross_entropy", "cross_entropy", "ctc_loss", "hinge_loss", "l1_loss", "square_loss"]


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r} (at {user_location()})")


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
    """Cross entropy of integer labels against logits (or probabilities when with_logits=False).

    With label smoothing ls, as MegEngine: logZ - ls * mean(logits) - (1 - ls) * logit of the label, where
    for probabilities logZ is 0 and the logits are log(pred)."""
    pred, label = as_tensor(pred), cast(as_tensor(label), int32)
    pred = cast(pred, float_of(pred.dtype))
    axis = _axes("cross_entropy", pred, int(axis))[0]
    if label.shape != pred.shape[:axis] + pred.shape[axis + 1:]:
        raise ShapeError(f"cross_entropy: label of shape {label.shape} does not fit pred of shape {pred.shape} "
                         f"along axis {axis} (at {user_location()})")
    idx = reshape(label, label.shape[:axis] + (1,) + label.shape[axis:])
    if with_logits:
        x = pred - pred.max(axis, keepdims=True).detach()
        logz, primary = logsumexp(x, axis, keepdims=True), gather(x, axis, idx)
    else:
        x = log(pred)
        logz, primary = None, log(gather(pred, axis, idx))
    loss = -primary if logz is None else logz - primary
    if label_smooth:
        smoothed = x.mean(axis, keepdims=True) * label_smooth + primary * (1 - label_smooth)
        loss = -smoothed if logz is None else logz - smoothed
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


def ctc_loss(pred, pred_lengths, label, label_lengths, blank: int = 0, reduction: str = "mean") -> Tensor:
    """Connectionist temporal classification loss of probabilities pred (T, N, C).

    label holds the samples' labels one after another (L,), or padded rows (N, S); label_lengths says how
    many belong to each sample and pred_lengths how many time steps. The per-sample loss is the negative
    log-likelihood; reduction "mean" averages it divided by the label lengths, as MegEngine."""
    pred = as_tensor(pred)
    pred = cast(pred, float_of(pred.dtype))
    lengths, label, label_lengths = (cast(as_tensor(t), int32) for t in (pred_lengths, label, label_lengths))
    if pred.ndim == 3:
        T, _, C = pred.shape
        check_index("ctc_loss", lengths - 1, T, 0, negative=False)
        if label.ndim == 1:   # padded rows (N, S) may hold anything past each sample's length
            check_index("ctc_loss", label, C, 0, negative=False)
        check_index("ctc_loss", label_lengths, (label.shape[-1] if label.ndim == 2 else label.size) + 1, 0,
                    negative=False)
    if not 0 <= int(blank) < (pred.shape[-1] if pred.ndim else 1):
        raise ValueError(f"ctc_loss: blank {blank} is not a class of pred of shape {pred.shape} "
                         f"(at {user_location()})")
    loss = apply1("ctc_loss", [pred, lengths, label, label_lengths], blank=int(blank), padded=label.ndim == 2)
    if reduction == "mean":
        return mean(loss / label_lengths)
    return _reduce(loss, reduction)
