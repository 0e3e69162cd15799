"""Which layers of a net are pinned at a point: their active rows have full column rank.

A layer's input is pinned by its output only when the rows of its map that are active at the point (ReLU
units with positive pre-activation; every row of other activations) have full column rank. auto's route
for convolutional decoders (:mod:`layerinv.solvers.regions`) reports this per layer; the test runs once per
answer, so it must cost little next to the descent itself.

The test (the same everywhere: :func:`layerinv.lp.kernels.full_rank`'s) is a Cholesky factorisation of the
Gram matrix ``R^T R`` of the active rows R: it fails, or its smallest pivot is below ``sqrt(_COND)`` of its
largest, exactly when R is called rank deficient. For a dense map the rows themselves go to ``full_rank``.
For a sparse map (convolutions) the Gram matrix is built by a :class:`GramPlan`:

* rows with the same column support (a convolution's rows at neighbouring output positions share their
  input patch) form a group; a group's rows restricted to its support are one small dense block W_g;
* for a row mask m, ``R^T R = sum_g S_g^T W_g^T diag(m_g) W_g S_g`` (S_g: the group's support) is one
  batched matrix product, summed into the Gram matrix's lower band by ``np.bincount``;
* the inputs are numbered in a bandwidth-reducing order (the natural one, channels last, or reverse
  Cuthill-McKee, whichever is narrowest): a convolution couples only nearby pixels, so the Gram matrix is
  banded and its Cholesky factorisation (LAPACK ``dpbtrf``) costs ``n b^2`` instead of ``n^3 / 3``.

A symmetric permutation of the Gram matrix is a reordering of R's columns: it does not change R's rank.
On the shipped MNIST conv decoder's middle layer (1,568 inputs, ~1,800 active rows of 3,136) this takes
~30 ms against ~150 ms for the sparse product and the dense factorisation.
"""
from __future__ import annotations

import weakref

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from scipy.sparse.csgraph import reverse_cuthill_mckee

from ..linear_maps import DENSE_LIMIT, Dense
from .._checks import as_float_array
from ..lp.kernels import full_rank, pivots_ok

__all__ = ["pinned_layers", "GramPlan", "gram_plan"]

#: Sparse maps with at most this many nonzeros keep their CSR matrix / Gram plan (~12 / ~40 bytes each).
SPARSE_CACHE = 1 << 22
#: The rank of a sparse layer's active rows is decided when the layer has at most this many inputs.
RANK_INPUTS = 4096
#: A :class:`GramPlan` is used when its padded blocks hold at most this many times the map's nonzeros
#: (grouping rows by support pays only when many rows share one).
PAD_LIMIT = 3
#: Most entries of the per-group Gram blocks (g x s x s) a plan may hold (its scatter indices ~ half of them).
GRAM_ENTRIES = 1 << 24
#: The band of the Gram matrix is factored as a band when ``b + 1 <= n / BAND_RATIO``, else as a dense matrix.
BAND_RATIO = 4
_PLANS = weakref.WeakKeyDictionary()
_SPARSE = weakref.WeakKeyDictionary()


def pinned_layers(G, z):
    """For every layer of ``G`` at its input z (shape (k,)): ``(active, pinned, why)``, a list of tuples
    (int, bool, str), bottom layer first. ``pinned`` is whether the layer's active rows have full column
    rank (see the module docstring); it is False, with the reason in ``why``, when there are fewer active
    rows than inputs, and also when a sparse layer has more than ``RANK_INPUTS`` inputs (not decided)."""
    out, h = [], as_float_array(z, "z", shape=(G.k,))
    for L in G.layers:
        u = L.affine(h)
        active = u > 0 if L.activation.has_inactive_region else np.ones(L.n_out, dtype=bool)
        n_act = int(np.count_nonzero(active))
        if n_act < L.n_in:
            out.append((n_act, False, f"{n_act} active rows < {L.n_in} inputs"))
        elif isinstance(L.linear, Dense) and n_act * L.n_in <= DENSE_LIMIT:
            ok = full_rank(np.asarray(L.linear.rows(np.flatnonzero(active), dense=True)))
            out.append((n_act, ok, _why(ok)))
        elif L.n_in <= RANK_INPUTS:
            plan = gram_plan(L.linear)
            if plan is not None:
                ok = plan.full_rank(active)
            else:  # rows without shared supports: the Gram matrix of the sparse rows, dense
                R = _sparse_rows(L.linear, np.flatnonzero(active))
                ok = gram_full_rank((R.T @ R).toarray())
            out.append((n_act, ok, _why(ok)))
        else:
            out.append((n_act, False, f"{n_act} active rows >= {L.n_in} inputs; rank not checked (layer too large)"))
        h = L.activation(u)
    return out


def _why(ok):
    return "active rows have full column rank" if ok else "active rows rank deficient"


def gram_full_rank(gram, lower=False):
    """:func:`layerinv.lp.kernels.full_rank`'s Cholesky test on a Gram matrix ``R^T R`` (shape (n, n); only
    the triangle named by ``lower`` is read)."""
    chol, info = lapack.dpotrf(gram, lower=int(lower), clean=0)
    return info == 0 and pivots_ok(np.diag(chol))


def _sparse_rows(linear, idx):
    """``linear``'s rows idx as CSR, sliced from the whole sparse matrix, kept (per map, while the map lives)
    when it has at most ``SPARSE_CACHE`` nonzeros: building conv rows costs more than the rank test."""
    A = _SPARSE.get(linear)
    if A is None:
        nnz = getattr(linear, "nnz", None)
        if nnz is None or nnz > SPARSE_CACHE:
            return linear.rows(idx, dense=False)
        A = _SPARSE[linear] = linear.to_sparse().tocsr()
    return A[idx]


def gram_plan(linear):
    """The :class:`GramPlan` of a sparse map, built once and kept while the map lives; None when the map has
    more than ``SPARSE_CACHE`` nonzeros or its rows share too few supports for the plan to pay."""
    if linear in _PLANS:
        return _PLANS[linear]
    nnz = getattr(linear, "nnz", None)
    plan = None
    if nnz is not None and nnz <= SPARSE_CACHE:
        plan = GramPlan.build(linear.to_sparse(), getattr(linear, "in_shape", None))
    _PLANS[linear] = plan
    return plan


class GramPlan:
    """``R^T R`` for any subset R of a sparse matrix A's rows, and the Cholesky rank test on it.

    Attributes: ``m``, ``n`` (rows and columns of A), ``rowid`` (g, r): the rows of each group (``A.shape[0]`` pads),
    ``blocks`` (g, r, s): each group's rows on its support, ``order``: the inputs' new numbering (``order[j]``
    is the new position of column j), ``bandwidth`` (in that order), and the scatter indices of the lower
    triangle of each group's s x s block into band (or dense) storage.
    """

    def __init__(self, n, rowid, blocks, cols, order, bandwidth, m):
        self.m, self.n, self.rowid, self.blocks, self.order, self.bandwidth = m, n, rowid, blocks, order, bandwidth
        self.banded = (bandwidth + 1) * BAND_RATIO <= n
        valid = cols >= 0
        new = np.where(valid, order[np.maximum(cols, 0)], 0)
        I, J = new[:, :, None], new[:, None, :]
        lower = (I >= J) & valid[:, :, None] & valid[:, None, :]
        flat = (I - J) * n + J if self.banded else I * n + J  # band storage: ab[i - j, j] = Gram[i, j]
        self.sel = np.flatnonzero(lower.ravel())
        self.flat = flat.ravel()[self.sel]
        self.size = (bandwidth + 1) * n if self.banded else n * n

    @classmethod
    def build(cls, A, in_shape=None):
        """The plan of sparse matrix A (shape (m, n)); None when grouping its rows by support does not pay
        (padded blocks above ``PAD_LIMIT`` times its nonzeros, or group Gram blocks above ``GRAM_ENTRIES``)."""
        A = sp.csr_matrix(A, dtype=np.float64, copy=True)
        A.sum_duplicates()
        A.sort_indices()
        A.eliminate_zeros()
        m, n = A.shape
        if A.nnz == 0:
            return None
        groups = {}
        for i in range(m):
            key = A.indices[A.indptr[i]:A.indptr[i + 1]].tobytes()
            if key:
                groups.setdefault(key, []).append(i)
        rows = list(groups.values())
        g, r = len(rows), max(map(len, rows))
        s = max(A.indptr[grp[0] + 1] - A.indptr[grp[0]] for grp in rows)
        if g * r * s > PAD_LIMIT * A.nnz or g * s * s > GRAM_ENTRIES:
            return None
        rowid = np.full((g, r), m, dtype=np.int64)
        cols = np.full((g, s), -1, dtype=np.int64)
        blocks = np.zeros((g, r, s))
        for q, grp in enumerate(rows):
            sup = A.indices[A.indptr[grp[0]]:A.indptr[grp[0] + 1]]
            rowid[q, :len(grp)] = grp
            cols[q, :len(sup)] = sup
            blocks[q, :len(grp), :len(sup)] = np.stack([A.data[A.indptr[i]:A.indptr[i + 1]] for i in grp])
        order, bandwidth = _band_order(cols, n, in_shape)
        return cls(n, rowid, blocks, cols, order, bandwidth, m)

    def _mask(self, active):
        a = np.asarray(active)
        if a.shape != (self.m,) or a.dtype != bool:
            raise ValueError(f"active must be a boolean array of shape ({self.m},), one entry per row of the map; "
                             f"got dtype {a.dtype} and shape {a.shape}.")
        return a.astype(np.float64)

    def gram(self, active):
        """The lower triangle of ``R^T R`` for the rows where ``active`` (bool, shape (m,)) is True, in the
        plan's order: band storage (b + 1, n) (``[i - j, j]`` holds entry (i, j)) or dense (n, n)."""
        w = np.append(self._mask(active), 0.0)[self.rowid]  # (g, r)
        Gq = np.matmul((self.blocks * w[:, :, None]).transpose(0, 2, 1), self.blocks)  # (g, s, s)
        out = np.bincount(self.flat, weights=Gq.ravel()[self.sel], minlength=self.size)
        return out.reshape(-1, self.n)

    def full_rank(self, active):
        """Whether the rows where ``active`` is True have full column rank (the Cholesky test)."""
        if np.count_nonzero(self._mask(active)) < self.n:
            return False
        gram = self.gram(active)
        if not self.banded:
            return gram_full_rank(gram, lower=True)
        chol, info = lapack.dpbtrf(gram, lower=1)
        return info == 0 and pivots_ok(chol[0])


def _band_order(cols, n, in_shape):
    """A numbering of A's n columns that keeps each group's support (rows of ``cols``, -1 pads) close
    together: the natural one, channels last (when ``in_shape`` is (C, H, W)) or reverse Cuthill-McKee on the
    Gram matrix's pattern, whichever gives the narrowest band. Returns ``(order, bandwidth)``."""
    valid = cols >= 0
    cands = [np.arange(n)]
    if in_shape is not None and len(in_shape) == 3 and int(np.prod(in_shape)) == n:
        C, H, W = in_shape
        cands.append(np.arange(n).reshape(H, W, C).transpose(2, 0, 1).ravel())  # (c, y, x) -> y*W*C + x*C + c
    g, s = cols.shape
    ii = np.repeat(cols, s, axis=1).ravel()
    jj = np.tile(cols, (1, s)).ravel()
    ok = (ii >= 0) & (jj >= 0)
    pattern = sp.csr_matrix((np.ones(int(ok.sum())), (ii[ok], jj[ok])), shape=(n, n))
    perm = reverse_cuthill_mckee(pattern, symmetric_mode=True)
    rcm = np.empty(n, dtype=np.int64)
    rcm[perm] = np.arange(n)
    cands.append(rcm)
    best = None
    for order in cands:
        new = np.where(valid, order[np.maximum(cols, 0)], 0)
        hi = np.where(valid, new, -1).max(axis=1)
        lo = np.where(valid, new, n).min(axis=1)
        b = int(np.max(hi - lo))
        if best is None or b < best[1]:
            best = (order, b)
    return best
