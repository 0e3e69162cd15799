"""NumPy 2-D convolutions and the index arithmetic of their sparse matrices (no torch needed).

PyTorch's ``Conv2d`` is a cross-correlation: with a weight ``W`` of shape (C_out, C_in, kh, kw),
stride (sh, sw) and zero padding (ph, pw) it maps x of shape (C_in, H, W) to y of shape
(C_out, Ho, Wo), ``Ho = (H + 2 ph - kh) // sh + 1``::

    y[o, i, j] = sum_{c, a, b} W[o, c, a, b] * x[c, i*sh - ph + a, j*sw - pw + b]   (0 outside x)

Its adjoint is PyTorch's ``ConvTranspose2d`` holding the same array (read there as
(C_in_T, C_out_T, kh, kw)), with the output size fixed by ``output_padding``. Both directions are
computed here as kh*kw matrix products on strided views, so memory grows with the weights and the
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
    """Adjoint of :func:`correlate`: y (B, C_out, Ho, Wo) -> (B, C_in, H, W) with (H, W) = in_hw."""
    B, _, Ho, Wo = y.shape
    _, C, kh, kw = weight.shape
    (sh, sw), (ph, pw), (H, W) = stride, padding, in_hw
    # (Ho - 1) * sh + kh <= H + 2 ph whenever Ho is the correlation's output size for an input of size H
    xp = np.zeros((B, max(H + 2 * ph, (Ho - 1) * sh + kh), max(W + 2 * pw, (Wo - 1) * sw + kw), C))
    yt = np.ascontiguousarray(y.transpose(0, 2, 3, 1)).reshape(-1, y.shape[1])
    taps = np.ascontiguousarray(weight.transpose(2, 3, 0, 1))  # (kh, kw, C_out, C_in)
    for a in range(kh):
        for b in range(kw):
            xp[:, a:a + (Ho - 1) * sh + 1:sh, b:b + (Wo - 1) * sw + 1:sw, :] += \
                (yt @ taps[a, b]).reshape(B, Ho, Wo, C)
    return xp[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2)


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
