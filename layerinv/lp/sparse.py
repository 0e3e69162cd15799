"""The one-layer problem of a layer above ``linear_maps.DENSE_LIMIT`` entries, kept sparse.

A convolutional layer's matrix has ``n_out x n_in`` entries but only ``weights x positions``
nonzeros; :func:`layerinv.lp.system.build_system` keeps its rows as a CSR matrix
(``LinearMap.to_sparse``) and the kernels of :mod:`layerinv.lp.kernels` hand such a system here
for the two steps that need the dense rows:

* :func:`fast_point`: least squares on the equation rows, by a sparse factorisation of the normal
  equations (SuperLU with symmetric pivoting: its pivots are the squared Cholesky pivots, so the
  rank test is the dense kernel's) with one step of iterative refinement; when forming the normal
  matrix would cost more than :data:`NORMAL_LIMIT`, by LSQR within the time left (its point is
  verified like any other, but a unique input is then not claimed).
* :func:`linf_lp`, :func:`l1_lp`: the same LPs (rows, columns and dual candidates) as
  ``kernels.highs_linf`` / ``kernels.highs_l1``, assembled in CSC form and passed to HiGHS through
  the project's wrapper (:class:`layerinv.lp.highs.Highs`, its status map, the simplex iteration
  budget :func:`layerinv.lp.highs.iteration_budget`).

Nothing is trusted: the kernels recompute the objective and violations at the returned point
(sparse products) and the dual bound from the multipliers (:func:`layerinv.lp.system.dual_bound`,
rigorous for sparse rows as for dense ones).

Memory grows with the nonzeros: the LP holds each nonzero of the layer's rows at most twice (ℓ∞
equation rows appear with both signs) plus O(rows + columns); a layer whose map has more than
:data:`SPARSE_NNZ_LIMIT` nonzeros is not attempted (:func:`too_large`).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .highs import Highs, HighsSolution, iteration_budget

__all__ = ["fast_point", "linf_lp", "l1_lp", "too_large", "max_abs_entry", "NORMAL_LIMIT", "SPARSE_NNZ_LIMIT"]

#: Largest cost (sum over equation rows of their squared nonzero counts: the work of forming the
#: normal matrix, and a bound on its nonzeros) for which the least squares are solved directly.
NORMAL_LIMIT = 1 << 25
#: Largest number of nonzeros of a layer's map for which the sparse layer LP is attempted
#: (about 0.4 GB for the rows, 0.8 GB in HiGHS); larger layers stop the layer-wise pass, inconclusive.
SPARSE_NNZ_LIMIT = 1 << 24
#: LPs with more nonzeros go to HiGHS's interior point (no crossover): on the DCGAN output layer (12,288 x
#: 65,536, 6.1M LP nonzeros) it solved the exact LP in 205 s where dual simplex had not finished in 300 s.
IPM_NNZ = 1 << 20
_RELAXED_TOL = 1e-7  # HiGHS's default feasibility tolerance: the retry after an error
_COND = 1e-10  # the dense kernel's rank test (lstsq): pivots below this fraction of the largest


def too_large(layer):
    """A sentence why ``layer``'s sparse LP is not attempted, or ``""``."""
    nnz = int(layer.linear.nnz)
    if nnz > SPARSE_NNZ_LIMIT:
        return (f"its map has {nnz:,} nonzeros, more than lp.sparse.SPARSE_NNZ_LIMIT = {SPARSE_NNZ_LIMIT:,} "
                f"(the sparse layer LP would need several GB)")
    return ""


def max_abs_entry(linear):
    """``max |A_jk|`` of a linear map, read off its stored parameters (no matrix is built)."""
    for name in ("matrix", "weight", "values"):
        v = getattr(linear, name, None)
        if v is not None:
            v = v.data if sp.issparse(v) else v
            return float(np.max(np.abs(v), initial=0.0))
    return 1.0  # a gather (Upsample): every entry is 0 or 1


def fast_point(system, time_limit=None):
    """Least squares on the sparse equation rows. Returns ``(h, r, unique)`` (``r = c_E - M_E h``),
    or ``(None, None, False)`` when the rows cannot pin h (fewer rows than columns, rank deficient)
    or no point was found."""
    M, c = system.M_E.tocsr(), system.c_E
    m, n = M.shape
    if m < n or n == 0:
        return None, None, False
    cost = float(np.sum(np.diff(M.indptr).astype(np.float64) ** 2))
    if cost <= NORMAL_LIMIT:
        out = _normal_equations(M, c)
        if out is not None:
            return out[0], out[1], True
        return None, None, False
    return _lsqr(M, c, time_limit)


def _normal_equations(M, c):
    from scipy.sparse.linalg import splu

    N = (M.T @ M).tocsc()
    try:
        lu = splu(N, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except (RuntimeError, ValueError):  # exactly singular
        return None
    if not np.array_equal(lu.perm_r, lu.perm_c):  # an off-diagonal pivot: not the Cholesky pivots
        return None
    d = np.abs(lu.U.diagonal())  # symmetric elimination of an SPD matrix: the squared Cholesky pivots
    if d.size == 0 or not np.all(np.isfinite(d)) or d.min() < _COND * d.max():
        return None
    h = lu.solve(M.T @ c)
    r = c - M @ h
    h = h + lu.solve(M.T @ r)
    r = c - M @ h
    if not np.all(np.isfinite(h)):
        return None
    return h, r


def _lsqr(M, c, time_limit):
    from scipy.sparse.linalg import lsqr

    t0 = time.perf_counter()
    M @ np.ones(M.shape[1])
    per = max(3.0 * (time.perf_counter() - t0), 1e-6)  # one iteration: a product with M and one with M^T
    steps = 10 * M.shape[1] if time_limit is None else int(max(min(10 * M.shape[1], 0.5 * time_limit / per), 1))
    h = lsqr(M, c, atol=1e-15, btol=1e-15, conlim=1e12, iter_lim=steps)[0]
    if not np.all(np.isfinite(h)):
        return None, None, False
    return h, c - M @ h, False  # a unique input is not claimed: LSQR does not show the rank


# ---------------------------------------------------------------------------------- the LPs
def _h_lower(system):
    n = system.n_in
    return np.zeros(n) if system.nonneg else np.full(n, -np.inf)


def _rest(time_limit, t0):
    return None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 1e-3)


def _solve(A, cost, col_lo, col_hi, row_lo, row_hi, time_limit, feas_tol):
    """Pass ``min cost.v s.t. row_lo <= A v <= row_hi, col_lo <= v <= col_hi`` (A sparse) to HiGHS's dual
    simplex within :func:`iteration_budget` iterations and ``time_limit`` seconds (its interior point
    without crossover above :data:`IPM_NNZ` nonzeros); never raises.

    HiGHS's dual simplex can stop with an error at feasibility tolerance 1e-9 on these LPs (measured on a
    4096 x 4096 convolution) and solve them at its default 1e-7: then the LP is run again at
    :data:`_RELAXED_TOL` within the time left. Returns ``(solution, the tolerance it was solved at)``."""
    t0 = time.perf_counter()
    try:
        A = sp.csc_matrix(A)
        A.sort_indices()
        m, n = A.shape
        sol = None
        for tol in dict.fromkeys((float(feas_tol), max(float(feas_tol), _RELAXED_TOL))):
            rest = None if time_limit is None else time_limit - (time.perf_counter() - t0)
            if rest is not None and rest <= 0:
                break
            method = ({"solver": "ipm", "run_crossover": "off"} if A.nnz > IPM_NNZ
                      else {"solver": "simplex", "simplex_strategy": 1})
            solver = Highs(**method, primal_feasibility_tolerance=tol, dual_feasibility_tolerance=tol,
                           simplex_iteration_limit=int(iteration_budget(m, n)))
            solver.load(n, m, np.asarray(cost, dtype=np.float64), np.asarray(col_lo, dtype=np.float64),
                        np.asarray(col_hi, dtype=np.float64), np.asarray(row_lo, dtype=np.float64),
                        np.asarray(row_hi, dtype=np.float64), A.indptr.astype(np.int32),
                        A.indices.astype(np.int32), A.data.astype(np.float64))
            sol = solver.run(rest)
            if sol.status != "failed":
                if tol != feas_tol:
                    sol.raw += f" (at feasibility tolerance {tol:g}, after an error at {feas_tol:g})"
                return sol, tol
        return sol, float(feas_tol)
    except Exception as exc:  # never let a solver traceback reach the user
        return HighsSolution(None, None, "failed", f"HiGHS failed: {type(exc).__name__}: {exc}"), float(feas_tol)


def linf_lp(system, t_upper=None, time_limit=None, feas_tol=1e-9):
    """``kernels.highs_linf`` on sparse rows: ``min t`` s.t. ``|M_E h - c_E| <= t``, ``M_I h - c_I <= t``
    (the same rows in the same order). Returns ``(h, highs_solution, (y_E, y_I) candidates, the HiGHS
    feasibility tolerance it was solved at)``."""
    t0 = time.perf_counter()  # assembling the LP counts against time_limit
    ME, MI = sp.csr_matrix(system.M_E), sp.csr_matrix(system.M_I)
    nE, nI, n = ME.shape[0], MI.shape[0], system.n_in
    A = sp.hstack([sp.vstack([ME, -ME, MI]), sp.csr_matrix(-np.ones((2 * nE + nI, 1)))], format="csc")
    b = np.concatenate([system.c_E, -system.c_E, system.c_I])
    cost = np.zeros(n + 1)
    if t_upper is None:
        cost[n] = 1.0
    lo = np.concatenate([_h_lower(system), [0.0]])
    hi = np.concatenate([np.full(n, np.inf), [np.inf if t_upper is None else t_upper]])
    sol, tol = _solve(A, cost, lo, hi, np.full(b.size, -np.inf), b, _rest(time_limit, t0), feas_tol)
    cands = []
    if sol.y is not None:
        for s in (1.0, -1.0):
            lam = np.maximum(s * sol.y, 0.0)
            cands.append((lam[:nE] - lam[nE:2 * nE], lam[2 * nE:]))
    return (None if sol.x is None else sol.x[:n]), sol, cands, tol


def l1_lp(system, budget=None, time_limit=None, feas_tol=1e-9):
    """``kernels.highs_l1`` on sparse rows: ``min sum(p + q) + sum(s)`` s.t. ``M_E h - p + q = c_E``,
    ``M_I h - s <= c_I`` (p, q, s >= 0); with ``budget``: feasibility of ``sum <= budget``.
    Returns ``(h, highs_solution, (y_E, y_I) candidates, tolerance)`` as :func:`linf_lp`."""
    t0 = time.perf_counter()  # assembling the LP counts against time_limit
    ME, MI = sp.csr_matrix(system.M_E), sp.csr_matrix(system.M_I)
    nE, nI, n = ME.shape[0], MI.shape[0], system.n_in
    eye_E, eye_I = sp.identity(nE, format="csr"), sp.identity(nI, format="csr")
    blocks = [[ME, -eye_E, eye_E, None], [MI, None, None, -eye_I]]
    upper = np.concatenate([system.c_E, system.c_I])
    lower = np.concatenate([system.c_E, np.full(nI, -np.inf)])
    cost = np.concatenate([np.zeros(n), np.ones(2 * nE + nI)])
    if budget is not None:
        blocks.append([None, sp.csr_matrix(np.ones((1, nE))), sp.csr_matrix(np.ones((1, nE))),
                       sp.csr_matrix(np.ones((1, nI)))])
        upper = np.append(upper, budget)
        lower = np.append(lower, -np.inf)
        cost = np.zeros(n + 2 * nE + nI)
    A = _bmat(blocks, [n, nE, nE, nI])
    lo = np.concatenate([_h_lower(system), np.zeros(2 * nE + nI)])
    hi = np.full(n + 2 * nE + nI, np.inf)
    sol, tol = _solve(A, cost, lo, hi, lower, upper, _rest(time_limit, t0), feas_tol)
    cands = []
    if sol.y is not None:
        for s in (1.0, -1.0):
            y = s * sol.y[:nE + nI]
            cands.append((-y[:nE], -y[nE:]))
            cands.append((y[:nE], y[nE:]))
    return (None if sol.x is None else sol.x[:n]), sol, cands, tol


def _bmat(blocks, widths):
    """``scipy.sparse.bmat`` that tolerates empty row blocks and columns (a layer without inequality rows)."""
    rows = []
    for row in blocks:
        height = next(b.shape[0] for b in row if b is not None)
        rows.append(sp.hstack([sp.csr_matrix((height, w)) if b is None else b for b, w in zip(row, widths)],
                              format="csr"))
    return sp.vstack(rows, format="csc")
