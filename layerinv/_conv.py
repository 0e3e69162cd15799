"""NumPy 2-D convolutions and the index arithmetic of their sparse matrices (no torch needed).

PyTorch's ``Conv2d`` is a cross-correlation: with a weight ``W`` of shape (C_out, C_in, kh, kw),
stride (sh, sw) and zero padding (ph, pw) it maps x of shape (C_in, H, W) to y of shape
(C_out, Ho, Wo), ``Ho = (H + 2 ph - kh) // sh + 1``::

    y[o, i, j] = sum_{c, a, b} W[o, c, a, b] * x[c, i*sh - ph + a, j*sw - pw + b]   (0 outside x)

Its adjoint is PyTorch's ``ConvTranspose2d`` holding the same array (read there as
(C_in_T, C_out_T, kh, kw)), with the output size fixed by ``output_padding``. The correlation is
computed as kh*kw matrix products on strided views, its adjoint per output phase (:class:`AdjointPlan`:
one product and shifted sums along a flat, zero-gapped axis), so memory grows with the weights and the
images, never with n_out * n_in. The same formula, read per row, gives the rows of the sparse
matrix (:func:`conv_rows`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Rows are built in chunks so that the temporary index arrays hold at most this many entries.
_CHUNK = 1 << 22


def out_size(n, k, s, p):
    """Output length of a correlation along one axis."""
    return (n + 2 * p - k) // s + 1


def correlate(x, weight, stride, padding, out_hw):
    """Cross-correlation of x (B, C_in, H, W) with weight (C_out, C_in, kh, kw) -> (B, C_out, Ho, Wo)."""
    B, C, H, W = x.shape
    _, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (Ho, Wo) = stride, padding, out_hw
    xp = np.zeros((B, H + 2 * ph, W + 2 * pw, C))
    xp[:, ph:ph + H, pw:pw + W, :] = x.transpose(0, 2, 3, 1)
    out = np.zeros((B * Ho * Wo, weight.shape[0]))
    taps = np.ascontiguousarray(weight.transpose(2, 3, 1, 0))  # (kh, kw, C_in, C_out)
    for a in range(kh):
        for b in range(kw):  # contiguous 2-D operands so that the product runs in BLAS
            patch = xp[:, a:a + (Ho - 1) * sh + 1:sh, b:b + (Wo - 1) * sw + 1:sw, :].reshape(-1, C)
            out += patch @ taps[a, b]
    return out.reshape(B, Ho, Wo, -1).transpose(0, 3, 1, 2)


def correlate_adjoint(y, weight, stride, padding, in_hw):
    """Adjoint of :func:`correlate`: y (B, C_out, Ho, Wo) -> (B, C_in, H, W) with (H, W) = in_hw (see
    :class:`AdjointPlan`, which a map keeps for its weight)."""
    return AdjointPlan(weight, stride, padding, y.shape[2:], in_hw)(y)


def _phases(k, s, p, n_y, n_x):
    """One axis of the adjoint, split by output phase: ``[(q, T, [(a, d), ...]), ...]`` for q < s.

    Output positions ``q, q + s, ...`` (T of them) receive from the taps a with ``a - p = q (mod s)``:
    output ``q + s t`` from input ``t - d``, d = (a - p - q) / s; taps whose window misses the input are
    left out."""
    out = []
    for q in range(s):
        T = len(range(q, n_x, s))
        taps = [(a, (a - p - q) // s) for a in range(k) if (a - p - q) % s == 0]
        out.append((q, T, [(a, d) for a, d in taps if max(0, -d) < min(n_y, T - d)]))
    return out


def _room(n_y, phases):
    """Length of an axis in the flat layout: n_y when no output phase is longer than the input (then a tap's
    reads outside [0, n_y) land on its own products at indices it never reads itself, which are wiped:
    :func:`_wipe`), else padded: room for every output phase, and zeros under every shifted read outside."""
    if max(T for _, T, _ in phases) <= n_y:
        return n_y
    reads = [(-d, T - 1 - d) for _, T, taps in phases for _, d in taps]
    lo = max([-r0 for r0, _ in reads] + [0])
    hi = max([r1 - (n_y - 1) for _, r1 in reads] + [0])
    return max(n_y + max(lo, hi), max(T for _, T, _ in phases))


def _wipe(d, n_y, n_q):
    """The indices of a tap's products (shift d) that its reads outside [0, n_y) reach on a gapless axis
    (``n_q == n_y``) -- ``[n_y - d, n_y)`` or ``[0, -d)``, which the tap itself never reads -- else none."""
    if n_q > n_y or d == 0:
        return None
    return (max(n_y - d, 0), n_y) if d > 0 else (0, min(-d, n_y))


class AdjointPlan:
    """:func:`correlate_adjoint` for one weight and geometry (y of shape (B, C_out, Ho, Wo) -> (B, C, H, W)):
    per output phase, one matrix product and shifted sums.

    Output phase (py, px) -- the positions ``(py + sh t, px + sw u)`` -- receives from a fixed set of taps
    (a, b), tap (a, b) from input ``(t - dy, u - dx)``. y is laid out with the rows of all images
    interleaved: a flat axis of n = Hq * B * Wq positions (row, image, column). One product per phase gives
    its taps' contributions at every position, each tap's a block of C * n values (channel, position); the
    phase is the sum of these blocks, each read at the constant shift ``dy * B * Wq + dx`` along the flat
    (channel, position) axis: a shift by rows moves by whole rows of all images, a shift along a row within
    it. A read outside an image lands off the ends (left out), or on zeros: where no phase is longer than
    the input along an axis (Hq = Ho, a stride-2 decoder's usual case), on the tap's own products at the
    indices it never reads itself, wiped to zero first; else on a gap of zero rows or columns (Hq > Ho). The taps are added in the order (a, b), each
    product with the same matrix routine as before (``C == 1``: one matrix-vector product per tap), so the
    sums are the same, in the same order, as adding the taps one by one into a padded output (bitwise, on
    the BLAS builds tried). Batches go in chunks of at most ``QUEUE`` entries of a phase's products."""

    QUEUE = 1 << 18

    def __init__(self, weight, stride, padding, y_hw, in_hw):
        Co, C, kh, kw = weight.shape
        (sh, sw), (ph, pw) = stride, padding
        (self.Ho, self.Wo), (self.H, self.W), self.stride = tuple(y_hw), tuple(in_hw), (sh, sw)
        self.C, self.Co = C, Co
        ry, rx = _phases(kh, sh, ph, self.Ho, self.H), _phases(kw, sw, pw, self.Wo, self.W)
        self.Hq, self.Wq = _room(self.Ho, ry), _room(self.Wo, rx)
        taps = weight.transpose(2, 3, 1, 0)  # (kh, kw, C, C_out)
        #: per output phase: (py, px, Ty, Tx, its taps' weights stacked (n_taps C, C_out) or None for no tap,
        #: [(dy, dx, rows to wipe, columns to wipe) per tap])
        self.phases = []
        for py, Ty, ty in ry:
            for px, Tx, tx in rx:
                if Ty and Tx:
                    w = np.ascontiguousarray(np.concatenate([taps[a, b] for a, _ in ty for b, _ in tx])) \
                        if ty and tx else None
                    self.phases.append((py, px, Ty, Tx, w, [(dy, dx, _wipe(dy, self.Ho, self.Hq), _wipe(dx, self.Wo, self.Wq))
                                                            for _, dy in ty for _, dx in tx]))
        self.rows = max([len(t) for *_, t in self.phases] + [1]) * C

    def __call__(self, y):
        B = y.shape[0]
        out = np.empty((B, self.C, self.H, self.W))
        step = max(1, self.QUEUE // (self.rows * self.Hq * self.Wq))
        for i in range(0, B, step):
            self._chunk(y[i:i + step], out[i:i + step])
        return out

    def _chunk(self, y, out):
        B, (sh, sw), C, Co, Ho, Wo, Wq = y.shape[0], self.stride, self.C, self.Co, self.Ho, self.Wo, self.Wq
        R, n = B * Wq, self.Hq * B * Wq  # a row of every image; a channel
        gaps = (self.Hq, Wq) != (Ho, Wo)
        if C == 1:  # positions first: one matrix-vector product per tap
            Y = (np.zeros if gaps else np.empty)((self.Hq, B, Wq, Co))
            Y[:Ho, :, :Wo] = y.transpose(2, 0, 3, 1)
            Y = Y.reshape(n, Co)
        else:  # channels first: one matrix product per phase
            Y = (np.zeros if gaps else np.empty)((Co, self.Hq, B, Wq))
            Y[:, :Ho, :, :Wo] = y.transpose(1, 2, 0, 3)
            Y = Y.reshape(Co, n)
            Q = np.empty((self.rows, n))
        acc = np.empty(C * n)
        for py, px, Ty, Tx, w, shifts in self.phases:
            if w is None:  # no tap reaches these positions
                out[:, :, py::sh, px::sw] = 0.0
                continue
            q = None if C == 1 else np.matmul(w, Y, out=Q[:len(w)]).reshape(-1)  # tap j: q[j C n:(j + 1) C n]
            for j, (dy, dx, wy, wx) in enumerate(shifts):  # acc[f] += tap j's q[f - dy R - dx], where in q
                o = dy * R + dx
                lo, hi = max(0, o), min(C * n, C * n + o)
                src = Y @ w[j] if C == 1 else q[j * C * n:(j + 1) * C * n]
                if wy is not None:
                    src.reshape(C, self.Hq, B, Wq)[:, wy[0]:wy[1]] = 0.0
                if wx is not None:
                    src.reshape(C, self.Hq, B, Wq)[..., wx[0]:wx[1]] = 0.0
                if j == 0:
                    if lo:
                        acc[:lo] = 0.0
                    if hi < C * n:
                        acc[hi:] = 0.0
                    acc[lo:hi] = src[lo - o:hi - o]
                else:
                    acc[lo:hi] += src[lo - o:hi - o]
            out[:, :, py::sh, px::sw] = acc.reshape(C, self.Hq, B, Wq)[:, :Ty, :, :Tx].transpose(2, 0, 1, 3)


def axis_table(n_rows, n_cols, k, s, p, transposed):
    """Column of each kernel tap, for one spatial axis: arrays (n_rows, k) of indices and validity.

    A correlation's output row o reads input column ``o*s - p + a``; its adjoint's row i (an input
    position) receives from output column ``(i + p - a) / s`` when that is an integer.
    """
    r = np.arange(n_rows)[:, None]
    a = np.arange(k)[None, :]
    if transposed:
        num = r + p - a
        col = num // s
        ok = (num % s == 0) & (col >= 0) & (col < n_cols)
    else:
        col = r * s - p + a
        ok = (col >= 0) & (col < n_cols)
    return np.where(ok, col, 0), ok


class ConvIndex:
    """The sparsity pattern of a (transposed) correlation, for building rows of its matrix.

    ``wr`` is the weight arranged as (C_rows, C_cols, kh, kw): the map's output channels first.
    """

    def __init__(self, wr, row_shape, col_shape, stride, padding, transposed):
        self.wr = wr
        self.row_shape, self.col_shape = tuple(row_shape), tuple(col_shape)
        _, kh, kw = wr.shape[1:]
        (Hr, Wr), (Hc, Wc) = row_shape[1:], col_shape[1:]
        self.ty, self.my = axis_table(Hr, Hc, kh, stride[0], padding[0], transposed)
        self.tx, self.mx = axis_table(Wr, Wc, kw, stride[1], padding[1], transposed)

    @property
    def nnz(self):
        return int(self.row_shape[0] * self.col_shape[0] * self.my.sum() * self.mx.sum())

    def rows(self, idx):
        """CSR matrix of the rows ``idx`` (flat indices into row_shape)."""
        idx = np.asarray(idx, dtype=np.int64).ravel()
        n_cols = int(np.prod(self.col_shape))
        Cc, Hc, Wc = self.col_shape
        _, _, kh, kw = self.wr.shape
        step = max(1, _CHUNK // (kh * kw * Cc))
        blocks = []
        for start in range(0, len(idx), step):
            part = idx[start:start + step]
            c, y, x = np.unravel_index(part, self.row_shape)
            ok = self.my[y][:, :, None] & self.mx[x][:, None, :]
            spatial = self.ty[y][:, :, None] * Wc + self.tx[x][:, None, :]
            r, a, b = np.nonzero(ok)
            vals = self.wr[c[r], :, a, b]                       # (n_valid, Cc)
            cols = spatial[r, a, b][:, None] + np.arange(Cc)[None, :] * (Hc * Wc)
            rows = np.broadcast_to(r[:, None], cols.shape)
            blocks.append(sp.csr_matrix((vals.ravel(), (rows.ravel(), cols.ravel())), shape=(len(part), n_cols)))
        if not blocks:
            return sp.csr_matrix((0, n_cols))
        return blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
