"""The MILP's model: columns and sparse rows collected block by block, and the HiGHS object (with
the MILP's tolerances) that solves it."""
from __future__ import annotations

import numpy as np

from ...lp.highs import Highs
from ...network import ReLUNet

FEAS_TOL = 1e-9       # HiGHS primal / MIP feasibility tolerance we ask for
MIP_GAP = 1e-6        # relative MIP gap for the min-norm forms
INF = float("inf")
#: HiGHS silently drops matrix entries with ``|a| <= small_matrix_value`` (its default 1e-9; 1e-12 is the
#: least it accepts) and rejects a model with an entry ``|a| >= large_matrix_value`` (default 1e15).
SMALL_MATRIX_VALUE = 1e-12
LARGE_MATRIX_VALUE = 1e15
_HIGHS_DEFAULT_SMALL, _HIGHS_DEFAULT_LARGE = 1e-9, 1e15
#: Rows are rescaled so their least |coefficient| exceeds this where possible: HiGHS's numerics on rows
#: of coefficients ~1e-10 (a saturated output's slope-scaled rows) gave a false "infeasible" even kept.
FIT_SMALL = 1e-9


def new_solver():
    """A fresh quiet HiGHS object with the MILP's options (seeded: runs are reproducible)."""
    return Highs(random_seed=0, primal_feasibility_tolerance=FEAS_TOL, dual_feasibility_tolerance=FEAS_TOL,
                 mip_feasibility_tolerance=FEAS_TOL, mip_rel_gap=MIP_GAP, mip_abs_gap=0.0,
                 small_matrix_value=SMALL_MATRIX_VALUE, large_matrix_value=LARGE_MATRIX_VALUE)


def fit_rows(index, value, lo, hi, small, large, fit=None):
    """Rescale rows so that HiGHS keeps every coefficient: ``(value, lo, hi, dropped)``.

    ``index`` / ``value`` (nnz,) are the rows and values of a CSC matrix's nonzeros, ``lo`` / ``hi``
    (m,) the row bounds. Each row whose nonzeros do not all lie in ``(small, large)`` in absolute value
    is multiplied, bounds included, by the power of two ``2^k`` that brings them there (exact in floating
    point: the row means the same); with ``fit`` (>= small) rows are brought above ``fit`` where their range
    allows (else as far as ``large`` allows). A row whose range ``max|a| / min|a|`` is too wide for any ``2^k`` is
    scaled below ``large`` only; HiGHS then drops its entries ``<= small``: ``dropped`` counts them (the
    model HiGHS solves is then not the model built, and its infeasibility or bounds prove nothing)."""
    m = lo.size
    a = np.abs(value)
    nz = a > 0
    amin, amax = np.full(m, INF), np.zeros(m)
    np.minimum.at(amin, index[nz], a[nz])
    np.maximum.at(amax, index[nz], a[nz])
    has = amax > 0
    amin, amax = np.where(has, amin, 1.0), np.where(has, amax, 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # least k with amin 2^k > small, greatest with amax 2^k < large (log2 is a few ulps off: settle)
        fit = small if fit is None else max(fit, small)
        k_up = np.ceil(np.clip(np.log2(fit / amin), -2100, 2100)).astype(np.int64)
        k_up += (np.ldexp(amin, k_up) <= fit).astype(np.int64)
        k_up -= (np.ldexp(amin, k_up - 1) > fit).astype(np.int64)
        k_max = np.floor(np.clip(np.log2(large / amax), -2100, 2100)).astype(np.int64)
        k_max -= (np.ldexp(amax, k_max) >= large).astype(np.int64)
        k_max += (np.ldexp(amax, k_max + 1) < large).astype(np.int64)
    k = np.where(amin <= fit, np.minimum(k_up, k_max), 0)
    k = np.where(has & (amax >= large), k_max, np.where(has, k, 0))
    value = np.ldexp(value, k[index])
    dropped = int(np.sum(nz & (np.abs(value) <= small)))
    return value, np.ldexp(lo, k), np.ldexp(hi, k), dropped


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
        self.dropped = 0  # coefficients HiGHS dropped in the last load_into (see fit_rows)

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
        solves the LP relaxation. Rows are rescaled by powers of two so that HiGHS keeps every
        coefficient (:func:`fit_rows`); :attr:`dropped` counts those it cannot keep."""
        start, index, value = self.csc()
        opts = getattr(solver, "options", {})
        self.small = opts.get("small_matrix_value", _HIGHS_DEFAULT_SMALL)
        value, lo, hi, self.dropped = fit_rows(index, value, self._rcat(3), self._rcat(4), self.small,
                                               opts.get("large_matrix_value", _HIGHS_DEFAULT_LARGE), FIT_SMALL)
        solver.load(self.ncol, self.nrow, self._cat(2), self._cat(0), self._cat(1), lo, hi, start, index, value,
                    integer=self._cat(3).astype(bool) if integer else None)

    def dropped_message(self):
        """Why no infeasibility or bound is claimed when HiGHS dropped coefficients ('' when none)."""
        if not self.dropped:
            return ""
        return (f"{self.dropped} constraint coefficients of the MILP are too small next to others in their rows "
                f"for HiGHS to keep (it drops |a| <= {self.small:g}), so the model it solved is not the "
                f"model built and its infeasibility or bounds prove nothing")
