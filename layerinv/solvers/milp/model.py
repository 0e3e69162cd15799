"""The MILP's model: columns and sparse rows collected block by block, and the HiGHS object (with
the MILP's tolerances) that solves it."""
from __future__ import annotations

import numpy as np

from ...lp.highs import Highs
from ...network import ReLUNet

FEAS_TOL = 1e-9       # HiGHS primal / MIP feasibility tolerance we ask for
MIP_GAP = 1e-6        # relative MIP gap for the min-norm forms
INF = float("inf")


def new_solver():
    """A fresh quiet HiGHS object with the MILP's options (seeded: runs are reproducible)."""
    return Highs(random_seed=0, primal_feasibility_tolerance=FEAS_TOL, dual_feasibility_tolerance=FEAS_TOL,
                 mip_feasibility_tolerance=FEAS_TOL, mip_rel_gap=MIP_GAP, mip_abs_gap=0.0)


def subnet(layers):
    """A :class:`ReLUNet` made of ``layers`` (a slice of a net's layers, or with a row-restricted top)."""
    return ReLUNet([L.weight for L in layers], [L.bias for L in layers], [L.activation.spec() for L in layers])


class Model:
    """Columns and sparse rows ``row_lo <= A v <= row_hi`` collected block by block."""

    def __init__(self):
        self._cols = []   # (lo, hi, cost, integer) arrays
        self._rows = []   # (ri, ci, vals, lo, hi)
        self.ncol = 0
        self.nrow = 0

    def cols(self, lo, hi, cost=0.0, integer=False):
        """Add columns with bounds ``[lo, hi]`` and ``cost``; returns their indices."""
        lo = np.atleast_1d(np.asarray(lo, dtype=np.float64))
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), lo.shape).copy()
        n = lo.size
        self._cols.append((lo, hi, np.broadcast_to(np.float64(cost), (n,)).copy() if np.ndim(cost) == 0
                           else np.asarray(cost, dtype=np.float64), np.full(n, bool(integer))))
        idx = np.arange(self.ncol, self.ncol + n)
        self.ncol += n
        return idx

    def rows(self, lo, hi, *terms):
        """Add m rows; each term is ``(cols, vals)``: ``cols`` (p,) shared by all rows with ``vals``
        (m, p), or ``cols`` (m,) with ``vals`` (m,) (one entry per row)."""
        lo, hi = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (lo, hi))
        m = max(lo.size, hi.size) if min(lo.size, hi.size) > 0 else 0
        if m == 0:
            return
        lo, hi = np.broadcast_to(lo, (m,)).copy(), np.broadcast_to(hi, (m,)).copy()
        r = np.arange(self.nrow, self.nrow + m)
        ri, ci, vs = [], [], []
        for cols, vals in terms:
            cols = np.asarray(cols)
            vals = np.asarray(vals, dtype=np.float64)
            if vals.ndim == 2:
                ri.append(np.repeat(r, cols.size))
                ci.append(np.tile(cols, m))
                vs.append(vals.ravel())
            else:
                ri.append(r)
                ci.append(cols)
                vs.append(np.broadcast_to(vals, (m,)))
        self._rows.append((np.concatenate(ri), np.concatenate(ci), np.concatenate(vs), lo, hi))
        self.nrow += m

    def band(self, target, terms, slack):
        """``|y - target| <= slack`` row by row, ``y`` the sum of ``terms``: the two rows
        ``y - slack <= target`` and ``y + slack >= target``; ``slack`` holds one column per row."""
        self.rows(-INF, target, *terms, (slack, -1.0))
        self.rows(target, INF, *terms, (slack, 1.0))

    def _cat(self, k):
        return np.concatenate([c[k] for c in self._cols]) if self._cols else np.zeros(0)

    def _rcat(self, k):
        return np.concatenate([r[k] for r in self._rows]) if self._rows else np.zeros(0)

    def csc(self):
        """The constraint matrix in CSC form: ``(start, index, value)``."""
        from scipy.sparse import coo_matrix

        if self._rows:
            ri, ci, vs = self._rcat(0), self._rcat(1), self._rcat(2)
            keep = vs != 0
            A = coo_matrix((vs[keep], (ri[keep], ci[keep])), shape=(self.nrow, self.ncol)).tocsc()
        else:
            A = coo_matrix((self.nrow, self.ncol)).tocsc()
        A.sum_duplicates()
        return A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64)

    def load_into(self, solver, *, integer=True):
        """Pass this model to ``solver`` (a :class:`layerinv.lp.highs.Highs`); ``integer=False``
        solves the LP relaxation."""
        solver.load(self.ncol, self.nrow, self._cat(2), self._cat(0), self._cat(1), self._rcat(3), self._rcat(4),
                    *self.csc(), integer=self._cat(3).astype(bool) if integer else None)
