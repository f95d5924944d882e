"""Neural-network ops: one_hot, random sources (never merged by CSE) and the CTC loss."""
from __future__ import annotations

import numpy as np

from .. import attrs as A
from ..dtypes import float32, int32
from ..errors import DTypeError, ShapeError
from ..graph import emit
from ..opdef import OpDef, register
from .common import add_at


def _infer_one_hot(types, attrs):
    (shape, d), = types
    if d.kind not in "iu":
        raise DTypeError(f"labels must be integers, got {d}")
    return [(shape + (attrs["num_classes"],), int32)]


def _one_hot(xp, x, num_classes):
    if xp is np and x.size and (x.min() < 0 or x.max() >= num_classes):
        bad = x[(x < 0) | (x >= num_classes)].flat[0]
        raise IndexError(f"label {bad} is out of range for {num_classes} classes")
    return (x[..., None] == xp.arange(num_classes, dtype=x.dtype)).astype(np.int32)


register(OpDef("one_hot", "nn", _infer_one_hot, _one_hot, attrs={"num_classes": A.COUNT}))


# ---- random sources ---------------------------------------------------------------------------------------
# A random op reads a key, an int32 pair (seed, counter), and draws from a counter-based generator seeded by
# it (Philox on the CPU, CuPy's default generator on a GPU): the same key gives the same numbers, eagerly,
# traced or from a plan file. graphc.random keeps the key as a tensor and advances it after each draw,
# which a traced function turns into a state update, so replays draw fresh numbers.

def _generator(xp, key):
    seed, counter = (int(v) & 0xFFFFFFFF for v in key.tolist())
    if xp is np:
        return np.random.Generator(np.random.Philox(key=(seed << 32) | counter))
    return xp.random.default_rng((seed << 32) | counter)


def _check_key(types) -> None:
    (shape, d), = types
    if shape != (2,) or d != int32:
        raise DTypeError(f"a random key is int32[2] (seed, counter), got {d}{list(shape)}")


def _infer_random(types, attrs):
    _check_key(types)
    return [(tuple(attrs["shape"]), float32)]


def _uniform(xp, key, shape, low, high):
    u = _generator(xp, key).random(shape, dtype=np.float32)
    return (u * np.float32(high - low) + np.float32(low)).astype(np.float32)


def _normal(xp, key, shape, mean, std):
    z = _generator(xp, key).standard_normal(shape, dtype=np.float32)
    return (z * np.float32(std) + np.float32(mean)).astype(np.float32)


def _infer_permutation(types, attrs):
    _check_key(types)
    return [((attrs["n"],), np.dtype(attrs["dtype"]))]


def _permutation(xp, key, n, dtype):
    return xp.argsort(_generator(xp, key).random(n), kind="stable").astype(dtype)


_RANDOM = {"shape": A.SHAPE}
register(OpDef("uniform", "random", _infer_random, _uniform, attrs={**_RANDOM, "low": A.NUMBER, "high": A.NUMBER},
               random=True))
register(OpDef("normal", "random", _infer_random, _normal, attrs={**_RANDOM, "mean": A.NUMBER, "std": A.NUMBER},
               random=True))
register(OpDef("permutation", "random", _infer_permutation, _permutation, attrs={"n": A.COUNT, "dtype": A.DTYPE},
               random=True))


# ---- ctc_loss -------------------------------------------------------------------------------------------
# Connectionist temporal classification as MegEngine computes it: pred (T, N, C) holds probabilities,
# labels are concatenated (label_lengths says where each sample's ends) or padded rows (N, S) (attribute
# padded), and the forward recursion runs in log space with log(0) floored at log(tiny), so an impossible
# labelling gives a large finite loss, not inf. Output: each sample's negative log-likelihood (N,). The
# gradient is the exact derivative of that recursion (ctc_loss_grad runs it in reverse); no second order.

def _check_ctc(types, padded: bool):
    (ps, pd), (ls, ld), (ys, yd), (ks, kd) = types[:4]
    if pd.kind != "f":
        raise DTypeError(f"pred must be floating-point, got {pd}")
    if any(d.kind not in "iu" for d in (ld, yd, kd)):
        raise DTypeError(f"lengths and labels must be integers, got {ld}, {yd} and {kd}")
    label_ok = len(ys) == 2 and ys[0] == ps[1] if padded else len(ys) == 1
    if len(ps) != 3 or ls != ps[1:2] or ks != ps[1:2] or not label_ok:
        raise ShapeError(f"needs pred (T, N, C), pred_lengths (N,), label {'(N, S)' if padded else '(L,)'} and "
                         f"label_lengths (N,), got shapes {ps}, {ls}, {ys} and {ks}")
    return ps, pd


def _infer_ctc(types, attrs):
    ps, pd = _check_ctc(types, attrs["padded"])
    return [(ps[1:2], pd)]


class _Ctc:
    """The padded extended labels of a batch and the log-space forward recursion over them."""

    def __init__(self, xp, pred, pred_lengths, label, label_lengths, blank, padded):
        self.xp, self.dt = xp, pred.dtype
        T, N, _ = pred.shape
        lengths = label_lengths.astype(np.int64)
        longest = int(lengths.max()) if N else 0
        S = 2 * longest + 1
        j = xp.arange(longest)
        inside = j[None, :] < lengths[:, None]
        if padded:     # label (N, S): row n holds sample n's labels first
            lab = xp.where(inside, label[:, :longest], blank)
        else:          # label (L,): the samples' labels one after another
            pos = xp.clip((xp.cumsum(lengths) - lengths)[:, None] + j[None, :], 0, max(label.size - 1, 0))
            lab = xp.where(inside, label[pos] if label.size else blank, blank)
        self.ext = xp.full((N, S), blank, np.int64)
        self.ext[:, 1::2] = lab
        self.skip = xp.zeros((N, S), bool)
        self.skip[:, 2:] = self.ext[:, 2:] != self.ext[:, :-2]
        self.last = 2 * lengths                        # each sample's final extended position S_i - 1
        self.ends = pred_lengths.astype(np.int64) - 1  # each sample's final time step
        self.tiny = np.finfo(self.dt).tiny
        self.rows = xp.arange(N)[:, None]
        self.pred, self.T, self.S = pred, T, S

    def emission(self, t: int):
        """log(pred[t]) at each extended label, floored at log(tiny) (N, S)."""
        return self.xp.log(self.xp.maximum(self.pred[t][self.rows, self.ext], self.dt.type(self.tiny)))

    def lse(self, x, y):
        xp = self.xp
        hi, lo = xp.maximum(x, y), xp.minimum(x, y)
        return hi + xp.log1p(xp.exp(lo - hi))

    def step(self, prev):
        """The log-probabilities before emission at t from those at t - 1: (after one shift, after skips)."""
        one = prev.copy()
        one[:, 1:] = self.lse(prev[:, 1:], prev[:, :-1])
        two = one.copy()
        two[:, 2:] = self.xp.where(self.skip[:, 2:], self.lse(one[:, 2:], prev[:, :-2]), one[:, 2:])
        return one, two

    def alphas(self) -> list:
        xp = self.xp
        first = xp.full_like(self.emission(0), self.dt.type(np.log(self.tiny)))
        first[:, :2] = self.emission(0)[:, :2]
        out = [first]
        for t in range(1, self.T):
            out.append(self.step(out[-1])[1] + self.emission(t))
        return out

    def final(self, a):
        """log-likelihood ends: the alphas at S_i - 1 and S_i - 2 (the latter absent for an empty label)."""
        xp = self.xp
        n = xp.arange(a.shape[0])
        at_last = a[n, self.last]
        at_prev = xp.where(self.last >= 1, a[n, xp.maximum(self.last - 1, 0)], self.dt.type(-np.inf))
        return at_last, at_prev


def _ctc_loss(xp, pred, pred_lengths, label, label_lengths, blank, padded):
    c = _Ctc(xp, pred, pred_lengths, label, label_lengths, blank, padded)
    loss = xp.zeros(pred.shape[1], pred.dtype)
    for t, a in enumerate(c.alphas()):
        last, prev = c.final(a)
        loss = xp.where(c.ends == t, -c.lse(last, prev), loss)
    return loss


def _ctc_loss_grad(xp, pred, pred_lengths, label, label_lengths, dloss, blank, padded):
    c = _Ctc(xp, pred, pred_lengths, label, label_lengths, blank, padded)
    alphas = c.alphas()
    n = xp.arange(pred.shape[1])
    dlogp = xp.zeros(pred.shape, pred.dtype)
    g = xp.zeros_like(alphas[0])                 # d log-likelihood / d alpha_t
    for t in range(c.T - 1, -1, -1):
        a = alphas[t]
        last, prev = c.final(a)
        ll = c.lse(last, prev)
        ending = c.ends == t
        g[n, c.last] += xp.where(ending, xp.exp(last - ll), 0)
        g[n, xp.maximum(c.last - 1, 0)] += xp.where(ending & (c.last >= 1), xp.exp(prev - ll), 0)
        # alpha_t = before_t + log(pred_t) at the extended labels (floored: no gradient below tiny).
        live = c.pred[t][c.rows, c.ext] > c.tiny
        emitted = xp.where(live if t else live & (xp.arange(c.S)[None, :] < 2), g, 0)
        add_at(xp, dlogp[t], (c.rows.repeat(c.S, 1), c.ext), emitted)
        if t == 0:
            break
        p = alphas[t - 1]
        one, two = c.step(p)
        dp = xp.zeros_like(p)
        d_one = g.copy()
        d_one[:, 2:] = xp.where(c.skip[:, 2:], g[:, 2:] * xp.exp(one[:, 2:] - two[:, 2:]), g[:, 2:])
        dp[:, :-2] += xp.where(c.skip[:, 2:], g[:, 2:] * xp.exp(p[:, :-2] - two[:, 2:]), 0)
        dp[:, 0] += d_one[:, 0]
        dp[:, 1:] += d_one[:, 1:] * xp.exp(p[:, 1:] - one[:, 1:])
        dp[:, :-1] += d_one[:, 1:] * xp.exp(p[:, :-1] - one[:, 1:])
        g = dp
    scale = xp.where(pred > pred.dtype.type(c.tiny), 1 / xp.maximum(pred, pred.dtype.type(c.tiny)), 0)
    return (-dlogp * scale * dloss[None, :, None]).astype(pred.dtype)


def _ctc_vjp(ins, outs, douts, attrs):
    pred, pl, label, ll = ins
    return [emit("ctc_loss_grad", [pred, pl, label, ll, douts[0]], **attrs), None, None, None]


def _infer_ctc_grad(types, attrs):
    ps, pd = _check_ctc(types, attrs["padded"])
    if types[4] != (ps[1:2], pd):
        raise ShapeError(f"the loss gradient must be {pd}{list(ps[1:2])}, got {types[4][1]}{list(types[4][0])}")
    return [(ps, pd)]


_CTC = {"blank": A.COUNT, "padded": A.BOOL}
register(OpDef("ctc_loss", "nn", _infer_ctc, _ctc_loss, _ctc_vjp, arity=4, attrs=_CTC))
register(OpDef("ctc_loss_grad", "nn", _infer_ctc_grad, _ctc_loss_grad, arity=5, attrs=_CTC))
